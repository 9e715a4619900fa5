"""The controller's Prometheus metrics, registered on a registry passed in.

The names marked "contract" are fixed by the contract and the runbook and are
used by the alert rules in ``k8s/monitoring``; the others are ours and are
documented in ``docs/reference/metrics.md``. Labels are bounded: ``reason`` and
``operation`` come from small fixed sets, ``resource`` is one of the resources
watched, and ``restarts_total`` is labelled by the workloads this controller
may restart: ``deployment`` (the name the runbook's queries use, whatever the
kind), ``kind`` and ``workload_namespace``. The ``namespace`` and ``pod``
labels come from the scrape: they name the controller's own pod.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from records import RestartPatched, kinds
from telemetry import buildinfo

# Seconds from a ConfigMap change to its patch: the debounce dominates, the
# SLO allows DEBOUNCE_SECONDS + 30 s.
_LATENCY_BUCKETS = (0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 120, 300)
# One durable journal append: an fsync, normally a millisecond or two.
_APPEND_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
# Leader election: from start of candidacy to acquiring the Lease.
_ACQUIRE_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 15, 20, 30, 60, 120, 300)

# The label values known at start-up. Their series are created at 0 when the
# process starts (Prometheus' instrumentation guidance), so that ``rate()`` and
# ``increase()`` see the first event after a restart instead of a series that
# appears with it: the API operations and the reasons an API call can fail with
# (``reloader.kube.errors.classify``), plus the journal's one failure.
API_OPERATIONS = ("patch", "adopt", "read", "event", "watch", "lease")
API_REASONS = (
    "forbidden",
    "not-found",
    "conflict",
    "invalid",
    "unauthorized",
    "throttled",
    "server-error",
    "timeout",
    "connection",
    "expired",
    "unexpected",
)
ERROR_LABELS = (
    *((operation, reason) for operation in API_OPERATIONS for reason in API_REASONS),
    ("journal", "write"),
)
# The resources watched when none are named (the runbook's label rule).
RESOURCES = ("configmaps", "deployments")
WATCH_EVENT_TYPES = ("ADDED", "MODIFIED", "DELETED")
RELIST_REASONS = ("expired", "resync", kinds.RELIST_LEADER)
ROLLOUT_OUTCOMES = ("completed", "timeout")


class ControllerMetrics:
    """Every metric of the controller, bound to one registry."""

    def __init__(
        self,
        registry: CollectorRegistry,
        namespace: str = "",
        resources: Sequence[str] = RESOURCES,
    ) -> None:
        """Create and register the metrics on ``registry`` (a fresh one in tests).

        ``namespace`` is the controller's own: the workload namespace of records
        that name none. ``resources`` are those watched: their watch series
        exist from the start.
        """
        self.registry = registry
        self._namespace = namespace
        # --- contract ---------------------------------------------------------
        self.restarts = Counter(
            "configmap_reload_restarts_total",
            "Workload restarts patched because a ConfigMap or Secret they follow changed.",
            ["deployment", "kind", "workload_namespace"],
            registry=registry,
        )
        self.errors = Counter(
            "configmap_reload_errors_total",
            "Failed operations: API calls, journal appends and watches, by operation and reason.",
            ["operation", "reason"],
            registry=registry,
        )
        self.retries = Counter(
            "configmap_reload_retry_total",
            "Restart patches scheduled for another attempt after a failure.",
            registry=registry,
        )
        self.pending = Gauge(
            "configmap_reload_pending_restarts",
            "Restarts waiting: open debounce windows, queued and not yet patched restarts.",
            registry=registry,
        )
        self.dropped = Counter(
            "configmap_reload_dropped_restarts_total",
            "Pending restarts that could not be carried out before the process stopped.",
            registry=registry,
        )
        self.leader_state = Gauge(
            "configmap_reload_leader_state",
            "1 while this replica is the acting leader, 0 while it is a standby.",
            registry=registry,
        )
        self.leader_transitions = Counter(
            "configmap_reload_leader_transitions_total",
            "Times this replica gained or lost leadership.",
            registry=registry,
        )
        self.leader_acquire_latency = Histogram(
            "configmap_reload_leader_acquire_latency_seconds",
            "Seconds from starting to seek leadership to holding the Lease.",
            buckets=_ACQUIRE_BUCKETS,
            registry=registry,
        )
        # --- ours -------------------------------------------------------------
        self.watch_up = Gauge(
            "configmap_reload_watch_up",
            "1 while the list/watch of the resource is connected, 0 while it is failing.",
            ["resource"],
            registry=registry,
        )
        self.watch_events = Counter(
            "configmap_reload_watch_events_total",
            "Watch events received, by resource and event type.",
            ["resource", "type"],
            registry=registry,
        )
        self.relists = Counter(
            "configmap_reload_relists_total",
            "Full lists made after the start, by resource and reason (expired, resync).",
            ["resource", "reason"],
            registry=registry,
        )
        self.change_to_patch = Histogram(
            "configmap_reload_change_to_patch_seconds",
            "Seconds from the first observed change of a ConfigMap to its restart patch.",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.rollouts = Counter(
            "configmap_reload_rollouts_total",
            "Rollouts followed to their end, by outcome (completed, timeout).",
            ["outcome"],
            registry=registry,
        )
        self.journal_append = Histogram(
            "configmap_reload_journal_append_seconds",
            "Seconds one durable journal append took.",
            buckets=_APPEND_BUCKETS,
            registry=registry,
        )
        self.journal_errors = Counter(
            "configmap_reload_journal_errors_total",
            "Journal appends that failed (each is retried; nothing is patched meanwhile).",
            registry=registry,
        )
        self.journal_backlog = Gauge(
            "configmap_reload_journal_backlog",
            "Records waiting to be appended because the journal is failing.",
            registry=registry,
        )
        self.build_info = Gauge(
            "configmap_reload_build_info",
            "Always 1; the labels tell the controller's version and commit.",
            ["version", "commit"],
            registry=registry,
        )
        self.build_info.labels(buildinfo.VERSION, buildinfo.commit()).set(1)
        for operation, reason in ERROR_LABELS:
            self.errors.labels(operation, reason)
        for resource in resources:
            self.watch_up.labels(resource).set(0)
            for event_type in WATCH_EVENT_TYPES:
                self.watch_events.labels(resource, event_type)
            for reason in RELIST_REASONS:
                self.relists.labels(resource, reason)
        for outcome in ROLLOUT_OUTCOMES:
            self.rollouts.labels(outcome)
        self.leader_state.set(0)
        self.pending.set(0)
        self.journal_backlog.set(0)

    def know_workload(self, kind: str, name: str, namespace: str | None = None) -> None:
        """Create the workload's ``restarts_total`` at 0: a workload it may restart.

        ``kind`` is the journal's lower-case kind (``deployment``, ``statefulset``,
        ``daemonset``); ``namespace`` None or empty means the controller's own.
        """
        self._restarts_of(kind, name, namespace)

    def _restarts_of(self, kind: str, name: str, namespace: str | None) -> Any:
        """The ``restarts_total`` child of one workload (namespace None: the controller's)."""
        return self.restarts.labels(name, kind, namespace or self._namespace)

    def observe_record(
        self, kind: str, data: Mapping[str, Any], obj: str | None, namespace: str | None = None
    ) -> None:
        """Count what a journal record tells: restarts, retries, drops, rollouts.

        ``obj`` is the record's ``KIND/NAME`` and ``namespace`` its namespace
        (None: the controller's own).
        """
        if kind == kinds.RESTART_PATCHED:
            workload_kind, _, name = (obj or "").partition("/")
            self._restarts_of(workload_kind, name, namespace).inc()
            latency = RestartPatched.from_data(data).latency_seconds
            if isinstance(latency, int | float):
                self.change_to_patch.observe(latency)
        elif kind == kinds.RESTART_RETRY:
            self.retries.inc()
        elif kind == kinds.RESTART_DROPPED:
            self.dropped.inc()
        elif kind == kinds.ROLLOUT_COMPLETED:
            self.rollouts.labels("completed").inc()
        elif kind == kinds.ROLLOUT_TIMEOUT:
            self.rollouts.labels("timeout").inc()
