"""The controller's settings, read from the environment and validated at start-up.

Every variable is read here, through :mod:`telemetry.config`, and documented in
``docs/reference/configuration.md`` (section "Controller"). A bad value raises
:class:`telemetry.config.ConfigError` whose one-line message names the variable;
``main`` prints it and exits 2 before anything else happens.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from reloader.core import Policy
from reloader.core.secrets import SecretHashKey
from telemetry import buildinfo
from telemetry.config import ConfigError, env_bool, env_float, env_host, env_int, env_str
from telemetry.files import NOT_REGULAR, TOO_LARGE, SmallFileError, read_small_file
from telemetry.logs import LOG_LEVELS, parse_log_level

DEFAULT_JOURNAL_URL = "sqlite:///shipshape-journal.db"

# The largest SECRET_HASH_KEY_FILE read (a key is 32 bytes or a little more).
MAX_SECRET_HASH_KEY_BYTES = 65536

# WATCH_NAMESPACES's value for every namespace (cluster scope).
ALL_NAMESPACES = "*"

# RFC 1123 label (namespaces) and subdomain (object names such as the Lease).
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)

# One term of a label selector: key, !key, key=value, key==value, key!=value,
# key in (a,b), key notin (a,b), key>N, key<N. Keys may carry a DNS prefix
# ("example.com/x"); lengths are checked apart (_check_term).
_KEY = r"(?:[a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
# The blanks the API server's selector lexer skips: no other white space
# (a vertical tab or a no-break space passes Python's \s, not the server).
_BLANK = r"[ \t\r\n]"
_SELECTOR_TERM = re.compile(
    rf"^{_BLANK}*(?:!?{_BLANK}*(?P<key>{_KEY})"
    rf"|(?P<key_eq>{_KEY}){_BLANK}*(?:==?|!=){_BLANK}*(?P<value>{_VALUE})"
    rf"|(?P<key_cmp>{_KEY}){_BLANK}*[<>]{_BLANK}*(?P<number>[0-9]+)"
    rf"|(?P<key_set>{_KEY}){_BLANK}+(?:in|notin){_BLANK}*\("
    rf"(?P<values>{_BLANK}*{_VALUE}(?:{_BLANK}*,{_BLANK}*{_VALUE})*{_BLANK}*)\)){_BLANK}*$"
)
# Kubernetes' limit on a key's name and on a value (a key's prefix is a DNS
# subdomain, up to 253 characters: _DNS_SUBDOMAIN).
_MAX_LABEL_NAME = 63


@dataclass(frozen=True)
class LeaderElectionSettings:
    """Lease timings and identity for leader election (used by the HA elector).

    Attributes:
        enabled: Whether replicas elect a leader through a Lease. When false
            this replica acts alone and must be the only one running.
        lease_name: The ``coordination.k8s.io/v1`` Lease's name.
        lease_duration_seconds: How long a standby waits after the Lease last
            changed before it takes over.
        renew_deadline_seconds: How long the leader keeps acting without a
            successful renewal.
        retry_period_seconds: The interval between renewal (or acquisition) attempts.
    """

    enabled: bool
    lease_name: str
    lease_duration_seconds: int
    renew_deadline_seconds: int
    retry_period_seconds: int


@dataclass(frozen=True)
class Settings:
    """Everything the controller is configured with (see the configuration reference)."""

    kubeconfig: str | None
    namespace: str
    configmap_label_selector: str
    watch_namespaces: tuple[str, ...]
    watch_secrets: bool
    secret_hash_key: SecretHashKey | None
    debounce_seconds: float
    watch_timeout_seconds: int
    leader_election: LeaderElectionSettings
    pod_name: str
    http_host: str
    http_port: int
    journal_url: str
    journal_signing_key_file: str | None
    log_level: str
    resync_seconds: float
    retry_max_attempts: int
    retry_base_seconds: float
    retry_max_seconds: float
    restart_rate_per_second: float
    restart_burst: int
    max_concurrent_rollouts: int
    rollout_timeout_seconds: float
    shutdown_timeout_seconds: float

    @property
    def cluster_scope(self) -> bool:
        """Whether every namespace is watched (``WATCH_NAMESPACES=*``)."""
        return self.watch_namespaces == (ALL_NAMESPACES,)

    def policy(self) -> Policy:
        """Return the decision core's policy for these settings."""
        return Policy(
            debounce_seconds=self.debounce_seconds,
            retry_max_attempts=self.retry_max_attempts,
            retry_base_seconds=self.retry_base_seconds,
            retry_max_seconds=self.retry_max_seconds,
            restart_rate_per_second=self.restart_rate_per_second,
            restart_burst=self.restart_burst,
            max_concurrent_rollouts=self.max_concurrent_rollouts,
            rollout_timeout_seconds=self.rollout_timeout_seconds,
            resync_seconds=self.resync_seconds,
            watch_secrets=self.watch_secrets,
            workload_kinds=self.workload_kinds,
            label_rule_namespace=self.namespace,
            conflict_backoff=True,
            ordered_correlation_ids=True,
        )

    @property
    def workload_kinds(self) -> tuple[str, ...]:
        """The workload resources watched: Deployments, StatefulSets and DaemonSets.

        The same in every scope: the shipped namespaced Role grants all three
        in the controller's own namespace, the cluster variants' ClusterRole
        everywhere.
        """
        return ("deployments", "statefulsets", "daemonsets")

    def summary(self) -> dict[str, object]:
        """Return the settings worth journaling at start-up (no credentials, no paths to them)."""
        return {
            "namespace": self.namespace,
            "configmap_label_selector": self.configmap_label_selector,
            "watch_namespaces": list(self.watch_namespaces),
            "watch_secrets": self.watch_secrets,
            "watch_timeout_seconds": self.watch_timeout_seconds,
            "leader_election": self.leader_election.enabled,
            "lease_name": self.leader_election.lease_name,
            "http_port": self.http_port,
            "shutdown_timeout_seconds": self.shutdown_timeout_seconds,
            # Top level as well as in the policy: replay judges the restart SLO
            # (DEBOUNCE_SECONDS + 30 s) by this field.
            "debounce_seconds": self.debounce_seconds,
            "policy": self.policy().as_dict(),
        }


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Read and validate every controller setting from ``environ``.

    Raises:
        ConfigError: The first invalid value, naming its variable.
    """
    namespace = env_str(environ, "NAMESPACE", "shipshape")
    if not _DNS_LABEL.match(namespace):
        raise ConfigError("NAMESPACE", namespace, "must be a DNS label (lower case, digits, '-')")
    selector = env_str(environ, "CONFIGMAP_LABEL_SELECTOR", "app=helloworld")
    if "CONFIGMAP_LABEL_SELECTOR" in environ and not environ["CONFIGMAP_LABEL_SELECTOR"].strip():
        selector = ""  # set and empty: every ConfigMap
    if selector:
        _check_selector(selector)
    watch_secrets = env_bool(environ, "WATCH_SECRETS", False)
    key_file = env_str(environ, "SECRET_HASH_KEY_FILE", "")
    retry_base = env_float(environ, "RETRY_BASE_SECONDS", 1.0, minimum=0.01, maximum=3600)
    retry_max = env_float(environ, "RETRY_MAX_SECONDS", 60.0, minimum=0.01, maximum=3600)
    if retry_max < retry_base:
        raise _conflict(
            environ,
            ("RETRY_MAX_SECONDS", retry_max, "must be at least"),
            ("RETRY_BASE_SECONDS", retry_base, "must not exceed"),
        )
    log_level = env_str(environ, "LOG_LEVEL", "INFO")
    parse_log_level(log_level)
    buildinfo.commit(environ)  # refused here rather than at the first scrape
    return Settings(
        kubeconfig=env_str(environ, "KUBECONFIG", "") or None,
        namespace=namespace,
        configmap_label_selector=selector,
        watch_namespaces=_watch_namespaces(environ, namespace),
        watch_secrets=watch_secrets,
        secret_hash_key=_secret_hash_key(key_file) if watch_secrets else None,
        debounce_seconds=env_float(environ, "DEBOUNCE_SECONDS", 5.0, minimum=0, maximum=3600),
        watch_timeout_seconds=env_int(
            environ, "WATCH_TIMEOUT_SECONDS", 30, minimum=1, maximum=3600
        ),
        leader_election=_leader_election(environ),
        pod_name=_pod_name(environ),
        http_host=env_host(environ, "HTTP_HOST", "0.0.0.0"),  # noqa: S104 - probes come from the node
        http_port=env_int(environ, "HTTP_PORT", 8080, minimum=0, maximum=65535),
        journal_url=env_str(environ, "JOURNAL_URL", DEFAULT_JOURNAL_URL),
        # Read (and checked) by main before the journal opens; only the path here.
        journal_signing_key_file=env_str(environ, "JOURNAL_SIGNING_KEY_FILE", "") or None,
        log_level=log_level.strip().upper(),
        resync_seconds=env_float(environ, "RESYNC_SECONDS", 300.0, minimum=1, maximum=86400),
        retry_max_attempts=env_int(environ, "RETRY_MAX_ATTEMPTS", 5, minimum=1, maximum=100),
        retry_base_seconds=retry_base,
        retry_max_seconds=retry_max,
        restart_rate_per_second=env_float(
            environ, "RESTART_RATE_PER_SECOND", 10.0, minimum=0.01, maximum=10000
        ),
        restart_burst=env_int(environ, "RESTART_BURST", 20, minimum=1, maximum=100000),
        max_concurrent_rollouts=env_int(
            environ, "MAX_CONCURRENT_ROLLOUTS", 10, minimum=1, maximum=100000
        ),
        rollout_timeout_seconds=env_float(
            environ, "ROLLOUT_TIMEOUT_SECONDS", 600.0, minimum=1, maximum=86400
        ),
        shutdown_timeout_seconds=env_float(
            environ, "SHUTDOWN_TIMEOUT_SECONDS", 20.0, minimum=1, maximum=300
        ),
    )


def _watch_namespaces(environ: Mapping[str, str], namespace: str) -> tuple[str, ...]:
    raw = env_str(environ, "WATCH_NAMESPACES", namespace)
    items = [item.strip() for item in raw.split(",")]
    if items == [ALL_NAMESPACES]:
        return (ALL_NAMESPACES,)
    for item in items:
        if not _DNS_LABEL.match(item):
            raise ConfigError(
                "WATCH_NAMESPACES",
                raw,
                f"must be * or comma-separated namespaces, each a DNS label ({item!r} is not)",
            )
    return tuple(sorted(set(items)))


def _secret_hash_key(path: str) -> SecretHashKey:
    """Read the HMAC key of Secret hashes; errors name the file, never its bytes."""
    if not path:
        raise ConfigError(
            "SECRET_HASH_KEY_FILE",
            None,
            "must name a file of at least 32 bytes when WATCH_SECRETS is true",
        )
    try:
        key = read_small_file(path, MAX_SECRET_HASH_KEY_BYTES)
    except SmallFileError as error:
        problem = {
            NOT_REGULAR: "must be a regular file",
            TOO_LARGE: f"must hold at most {MAX_SECRET_HASH_KEY_BYTES} bytes",
        }.get(error.reason, f"cannot be read: {error.detail}")
        raise ConfigError("SECRET_HASH_KEY_FILE", path, problem) from None
    try:
        return SecretHashKey(key)
    except ValueError as error:
        raise ConfigError("SECRET_HASH_KEY_FILE", path, str(error)) from None


def _leader_election(environ: Mapping[str, str]) -> LeaderElectionSettings:
    lease_name = env_str(environ, "LEADER_ELECTION_LEASE_NAME", "helloworld-controller-leader")
    if not _DNS_SUBDOMAIN.match(lease_name):
        raise ConfigError(
            "LEADER_ELECTION_LEASE_NAME",
            lease_name,
            "must be a DNS subdomain (lower case, digits, '-', '.')",
        )
    lease = env_int(environ, "LEADER_ELECTION_LEASE_DURATION_SECONDS", 15, minimum=1, maximum=3600)
    renew = env_int(environ, "LEADER_ELECTION_RENEW_DEADLINE_SECONDS", 10, minimum=1, maximum=3600)
    retry = env_int(environ, "LEADER_ELECTION_RETRY_PERIOD_SECONDS", 2, minimum=1, maximum=3600)
    if not lease > renew:
        raise _conflict(
            environ,
            ("LEADER_ELECTION_LEASE_DURATION_SECONDS", lease, "must be greater than"),
            ("LEADER_ELECTION_RENEW_DEADLINE_SECONDS", renew, "must be less than"),
        )
    # client-go's rule (JitterFactor 1.2): renewal attempts must fit in the deadline.
    if not renew * 10 > retry * 12:
        raise _conflict(
            environ,
            ("LEADER_ELECTION_RENEW_DEADLINE_SECONDS", renew, "must be greater than 1.2 x"),
            ("LEADER_ELECTION_RETRY_PERIOD_SECONDS", retry, "times 1.2 must be less than"),
        )
    return LeaderElectionSettings(
        enabled=env_bool(environ, "LEADER_ELECTION_ENABLED", True),
        lease_name=lease_name,
        lease_duration_seconds=lease,
        renew_deadline_seconds=renew,
        retry_period_seconds=retry,
    )


def _conflict(
    environ: Mapping[str, str],
    first: tuple[str, float, str],
    second: tuple[str, float, str],
) -> ConfigError:
    """The error of two variables whose values do not fit together.

    Each side is (variable, value, the rule as said from that side). The line
    leads with ``first`` as ``NAME=value``, or with ``second`` when only that
    one is set, and gives the other's value, saying when it is the default:
    ``invalid RETRY_BASE_SECONDS=100: must not exceed RETRY_MAX_SECONDS (60,
    the default)``, never a variable the user did not set on its own.
    """
    if not environ.get(first[0], "").strip() and environ.get(second[0], "").strip():
        first, second = second, first
    (name, value, rule), (other, other_value, _) = first, second
    defaulted = "" if environ.get(other, "").strip() else ", the default"
    return ConfigError(
        name, _number(value), f"{rule} {other} ({_number(other_value)}{defaulted})", inline=True
    )


def _number(value: float) -> str:
    """``60`` for 60.0, ``0.5`` for 0.5: a value as the user would write it."""
    return str(int(value)) if value == int(value) else str(value)


def _pod_name(environ: Mapping[str, str]) -> str:
    name = env_str(environ, "POD_NAME", "") or socket.gethostname()
    if not name or len(name) > 253 or not name.isprintable() or any(c.isspace() for c in name):
        raise ConfigError(
            "POD_NAME", name, "must be a non-empty name without blanks or control characters"
        )
    return name


def _check_selector(selector: str) -> None:
    depth = 0
    term: list[str] = []
    terms: list[str] = []
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append("".join(term))
            term = []
        else:
            term.append(char)
    terms.append("".join(term))
    if depth != 0 or not all(_check_term(t) for t in terms):
        raise ConfigError(
            "CONFIGMAP_LABEL_SELECTOR",
            selector,
            "must be a Kubernetes label selector such as app=helloworld",
        )


def _check_term(term: str) -> bool:
    """Whether one term of a selector is one the API server accepts, lengths included."""
    match = _SELECTOR_TERM.match(term)
    if match is None:
        return False
    key = next(k for k in (match["key"], match["key_eq"], match["key_cmp"], match["key_set"]) if k)
    prefix, _, name = key.rpartition("/")
    values = [match["value"] or "", match["number"] or ""]
    values += [v.strip() for v in (match["values"] or "").split(",")]
    return (
        len(name) <= _MAX_LABEL_NAME
        and (not prefix or _DNS_SUBDOMAIN.match(prefix) is not None)  # a..b/x is not
        and all(len(value) <= _MAX_LABEL_NAME for value in values)
        # key>N and key<N compare 64-bit integers.
        and (not match["number"] or int(match["number"]) < 2**63)
    )


__all__ = [
    "ALL_NAMESPACES",
    "LOG_LEVELS",
    "LeaderElectionSettings",
    "Settings",
    "load_settings",
]
