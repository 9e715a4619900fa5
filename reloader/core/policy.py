"""The tunables of the decision core, as one immutable value."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Policy:
    """How the core debounces, retries, paces and verifies restarts.

    Attributes:
        debounce_seconds: Changes to one ConfigMap within this many seconds of
            the first change coalesce into one restart, fired this many seconds
            after that first change.
        retry_max_attempts: Patch attempts per restart before it is recorded as
            failed and left to the periodic resync.
        retry_base_seconds: The backoff before the second attempt; it doubles
            with every further attempt.
        retry_max_seconds: The ceiling of one backoff.
        restart_rate_per_second: The global pace of restart patches (token
            bucket refill rate).
        restart_burst: How many restart patches may go out at once before the
            pace applies (token bucket size).
        max_concurrent_rollouts: Restarts patched but not yet rolled out (or
            timed out) at any one time; further restarts wait their turn.
        rollout_timeout_seconds: How long a rollout may take before it is
            recorded as ``rollout.timeout``.
        resync_seconds: The period of the level-triggered resync, which compares
            every Deployment's applied hash with its ConfigMap's and restarts
            whatever drifted (for instance after retries were exhausted).
        watch_secrets: Whether Secrets count as sources (``WATCH_SECRETS``);
            when false a Secret event changes nothing.
        workload_kinds: The workload resources listed (``deployments``,
            ``statefulsets``, ``daemonsets``); the first sync waits for each.
        label_rule_namespace: The namespace where the runbook's ``app``/``env``
            label rule selects Deployments (``NAMESPACE``); elsewhere only the
            opt-in annotations do, as under stakater/Reloader. None: every
            namespace, as controllers before this setting decided (their
            journals replay so).
        conflict_backoff: Whether a refused conditional patch that is not the
            restart's first attempt waits a backoff before it goes out again
            (someone keeps writing the workload). False: every refusal goes
            out again at once, as controllers before this setting decided
            (their journals replay so).
        ordered_correlation_ids: Whether an observation's correlation id
            leads with its resourceVersion (a UUIDv8 that sorts by it, see
            :func:`reloader.core.hashing.ordered_id`), so that the journal's
            index of them is appended to. False: the UUID5 that controllers
            before this setting derived (their journals replay so).
    """

    debounce_seconds: float = 5.0
    retry_max_attempts: int = 5
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 60.0
    restart_rate_per_second: float = 10.0
    restart_burst: int = 20
    max_concurrent_rollouts: int = 10
    rollout_timeout_seconds: float = 600.0
    resync_seconds: float = 300.0
    watch_secrets: bool = False
    workload_kinds: tuple[str, ...] = ("deployments",)
    label_rule_namespace: str | None = None
    conflict_backoff: bool = False
    ordered_correlation_ids: bool = False

    def __post_init__(self) -> None:
        """Reject values that would make the core misbehave (programming errors)."""
        object.__setattr__(self, "workload_kinds", tuple(self.workload_kinds))
        if self.debounce_seconds < 0:
            raise ValueError("debounce_seconds must not be negative")
        if self.retry_max_attempts < 1:
            raise ValueError("retry_max_attempts must be at least 1")
        if self.retry_base_seconds <= 0 or self.retry_max_seconds < self.retry_base_seconds:
            raise ValueError("retry_base_seconds must be positive and at most retry_max_seconds")
        if self.restart_rate_per_second <= 0 or self.restart_burst < 1:
            raise ValueError("restart_rate_per_second must be positive and restart_burst >= 1")
        if self.max_concurrent_rollouts < 1:
            raise ValueError("max_concurrent_rollouts must be at least 1")
        if self.rollout_timeout_seconds <= 0 or self.resync_seconds <= 0:
            raise ValueError("rollout_timeout_seconds and resync_seconds must be positive")

    def as_dict(self) -> dict[str, Any]:
        """Return the policy as a JSON-ready mapping (journaled at start-up).

        The workload settings and the behaviours added since (the label
        rule's namespace, conflict backoff, ordered correlation ids) are left
        out while they keep their defaults, so that a policy journals what it
        always did.
        """
        values = asdict(self)
        if not self.watch_secrets:
            del values["watch_secrets"]
        if self.label_rule_namespace is None:
            del values["label_rule_namespace"]
        if not self.conflict_backoff:
            del values["conflict_backoff"]
        if not self.ordered_correlation_ids:
            del values["ordered_correlation_ids"]
        if self.workload_kinds == ("deployments",):
            del values["workload_kinds"]
        else:
            values["workload_kinds"] = list(self.workload_kinds)
        return values

    @property
    def resources(self) -> frozenset[str]:
        """The resources whose first list the first sync waits for."""
        found = {"configmaps", *self.workload_kinds}
        if self.watch_secrets:
            found.add("secrets")
        return frozenset(found)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Policy:
        """Build a policy from :meth:`as_dict` output, ignoring unknown keys."""
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})
