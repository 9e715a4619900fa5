"""Clients, RBAC denials and injected faults: who is calling and what goes wrong for them."""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import REASONS

FAULT_KINDS = ("error", "latency", "deny", "partition", "lose")
PARTITION_MODES = ("drop", "hang")


@dataclass(frozen=True)
class Client:
    """A caller, told apart by its bearer token.

    Attributes:
        name: The client's name (`admin`, `controller-0`); faults match on it.
        token: Its bearer token.
        user: The user name the server reports (e.g. in 403 messages).
        admin: Whether it may use the `/_kubeapi` admin API.
        groups: The groups RBAC sees (`system:masters`: allowed everything;
            `system:authenticated` and a ServiceAccount's groups are added by rbac.py).
        service_account: `NS/NAME` when it acts as a ServiceAccount (it then
            authenticates only while that ServiceAccount exists).
    """

    name: str
    token: str
    user: str
    admin: bool = False
    groups: tuple[str, ...] = ()
    service_account: str = ""


class Clients:
    """The known clients and their tokens."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_name: dict[str, Client] = {}
        self._by_token: dict[str, Client] = {}

    def add(
        self,
        name: str,
        user: str | None = None,
        admin: bool = False,
        *,
        groups: Iterable[str] | None = None,
        service_account: str | None = None,
    ) -> Client:
        """Return the client of that name, registering it with a fresh token if new.

        A client is in `system:masters` (allowed everything, as the admin and
        every client before RBAC was) unless `groups` or `service_account`
        (`NS/NAME`: user `system:serviceaccount:NS:NAME`) say otherwise.

        Raises:
            ValueError: A malformed `service_account`, or one that differs from
                the existing client's.
        """
        if service_account is not None:
            namespace, sep, sa_name = service_account.partition("/")
            if not sep or not namespace or not sa_name or "/" in sa_name:
                raise ValueError(f"service account must be NAMESPACE/NAME, not {service_account!r}")
            user = f"system:serviceaccount:{namespace}:{sa_name}"
            groups = ()
        with self._lock:
            existing = self._by_name.get(name)
            if existing is not None:
                if service_account is not None and existing.service_account != service_account:
                    raise ValueError(f"client {name!r} exists with another identity")
                return existing
            client = Client(
                name,
                secrets.token_urlsafe(24),
                user or name,
                admin,
                tuple(groups) if groups is not None else ("system:masters",),
                service_account or "",
            )
            self._by_name[name] = client
            self._by_token[client.token] = client
            return client

    def by_token(self, token: str) -> Client | None:
        """Return the client holding a token, or None."""
        return self._by_token.get(token)

    def get(self, name: str) -> Client | None:
        """Return a client by name, or None."""
        return self._by_name.get(name)

    def all(self) -> list[Client]:
        """Return every client."""
        with self._lock:
            return list(self._by_name.values())


def _names(value: str | Iterable[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    return tuple(value)


@dataclass
class FaultRule:
    """One injected fault and what it matches.

    A `None` matcher matches anything. `resource` matches the plural
    (`deployments`), the qualified name (`deployments.apps`) or a subresource
    (`deployments/status`); a plain resource also matches its subresources.

    Attributes:
        id: The rule's id (to remove it).
        kind: `error` (answer with `status`), `latency` (delay the request by
            `latency` seconds, then serve it), `deny` (RBAC 403, until removed) or
            `partition` (the client's connections are dropped or hang) or `lose`
            (serve the request, then close the connection without its response).
        status: The HTTP status an `error` rule answers with.
        verbs: RBAC verbs matched (`get`, `list`, `watch`, `create`, `update`,
            `patch`, `delete`, `deletecollection`).
        resources: Resources matched.
        clients: Client names matched.
        namespaces: Namespaces matched.
        names: Object names matched.
        remaining: How many more requests it applies to (None: unlimited).
        until: When it expires (monotonic seconds; None: never).
        latency: Seconds of delay (latency rules).
        message: The Status message of an error (a default names the fault).
        retry_after: Seconds for `Retry-After` and `details.retryAfterSeconds`.
        mode: For partitions, `drop` (close the connection at once) or `hang`
            (hold requests until the partition ends, then close them).
        hits: How many requests it has applied to.
    """

    id: int
    kind: str
    status: int | None = None
    verbs: tuple[str, ...] | None = None
    resources: tuple[str, ...] | None = None
    clients: tuple[str, ...] | None = None
    namespaces: tuple[str, ...] | None = None
    names: tuple[str, ...] | None = None
    remaining: int | None = None
    until: float | None = None
    latency: float = 0.0
    message: str | None = None
    retry_after: int | None = None
    mode: str = "drop"
    hits: int = 0

    def matches(self, attrs: RequestAttributes, now: float) -> bool:
        """Return whether the rule applies to a request now."""
        if _spent(self, now):
            return False
        wanted = (
            (self.clients, attrs.client),
            (self.verbs, attrs.verb),
            (self.namespaces, attrs.namespace),
            (self.names, attrs.name),
        )
        if any(allowed is not None and value not in allowed for allowed, value in wanted):
            return False
        return self.resources is None or any(_resource_matches(r, attrs) for r in self.resources)

    def to_json(self) -> dict[str, Any]:
        """Return the rule as JSON (what the admin API shows)."""
        data = asdict(self)
        if self.until is not None:
            data["until"] = None
            data["expiresInSeconds"] = max(0.0, round(self.until - time.monotonic(), 3))
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in data.items()}


def _resource_matches(wanted: str, attrs: RequestAttributes) -> bool:
    if not attrs.resource:
        return False
    base, _, sub = wanted.partition("/")
    if base not in (attrs.resource, attrs.resource_key):
        return False
    return not sub or sub == attrs.subresource


@dataclass(frozen=True)
class RequestAttributes:
    """What a request is, for matching faults and denials.

    Attributes:
        client: The client's name (`""` when unauthenticated).
        verb: The RBAC verb (`get`, `list`, `watch`, ...; `get` for discovery).
        resource: The plural (`""` for non-resource paths such as `/apis`).
        resource_key: `plural.group`.
        subresource: `status`, `scale` or `""`.
        namespace: The namespace (`""` when none).
        name: The object name (`""` for collections).
        group: The API group.
    """

    client: str
    verb: str
    resource: str = ""
    resource_key: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    group: str = ""


@dataclass
class Faults:
    """The active fault rules; thread-safe."""

    _rules: list[FaultRule] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(
        self,
        kind: str,
        *,
        status: int | None = None,
        verb: str | Iterable[str] | None = None,
        resource: str | Iterable[str] | None = None,
        client: str | Iterable[str] | None = None,
        namespace: str | Iterable[str] | None = None,
        name: str | Iterable[str] | None = None,
        count: int | None = None,
        seconds: float | None = None,
        latency: float = 0.0,
        message: str | None = None,
        retry_after: int | None = None,
        mode: str = "drop",
    ) -> FaultRule:
        """Add a rule (see `FaultRule`); `count` and `seconds` bound it, None: unbounded.

        Raises:
            ValueError: An unknown kind, status or mode, or a negative bound.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(FAULT_KINDS)}, not {kind!r}")
        if kind == "error" and (status is None or not 400 <= status <= 599):
            raise ValueError(f"an error fault needs an HTTP status 400-599, not {status!r}")
        if mode not in PARTITION_MODES:
            raise ValueError(f"partition mode must be one of {', '.join(PARTITION_MODES)}")
        if count is not None and count < 1:
            raise ValueError("count must be at least 1")
        if seconds is not None and seconds <= 0:
            raise ValueError("seconds must be positive")
        if latency < 0:
            raise ValueError("latency must not be negative")
        with self._lock:
            rule = FaultRule(
                id=next(self._ids),
                kind=kind,
                status=status,
                verbs=_names(verb),
                resources=_names(resource),
                clients=_names(client),
                namespaces=_names(namespace),
                names=_names(name),
                remaining=count,
                until=time.monotonic() + seconds if seconds is not None else None,
                latency=latency,
                message=message,
                retry_after=retry_after,
                mode=mode,
            )
            self._rules.append(rule)
            return rule

    def remove(self, rule_id: int) -> bool:
        """Remove one rule; return whether it existed."""
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.id != rule_id]
            return len(self._rules) != before

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules = []

    def rules(self) -> list[FaultRule]:
        """Return the live rules (expired ones are dropped)."""
        now = time.monotonic()
        with self._lock:
            self._rules = [r for r in self._rules if not _spent(r, now)]
            return list(self._rules)

    def take(self, attrs: RequestAttributes) -> list[FaultRule]:
        """Return (and count) the rules that apply to a request, in the order added."""
        now = time.monotonic()
        taken = []
        with self._lock:
            for rule in self._rules:
                if rule.matches(attrs, now):
                    rule.hits += 1
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    taken.append(rule)
            self._rules = [r for r in self._rules if not _spent(r, now)]
        return taken

    def partition_for(self, client: str) -> FaultRule | None:
        """Return the live partition of a client, or None."""
        now = time.monotonic()
        with self._lock:
            for rule in self._rules:
                if (
                    rule.kind == "partition"
                    and not _spent(rule, now)
                    and (rule.clients is None or client in rule.clients)
                ):
                    return rule
        return None


def _spent(rule: FaultRule, now: float) -> bool:
    return (rule.until is not None and now >= rule.until) or (
        rule.remaining is not None and rule.remaining <= 0
    )


def default_message(status: int) -> str:
    """Return the message an injected error carries when none is given."""
    return f"injected fault: {REASONS.get(status, 'error')} ({status})"
