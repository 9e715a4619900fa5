"""The reloader's pure decision core (architecture layer 4).

Frozen dataclasses for what happens (:mod:`.events`) and what to do about it
(:mod:`.actions`), and the step function that links them::

    state = initial_state(Policy(debounce_seconds=5), "shipshape", acting=True)
    state, actions = step(state, ConfigMapSeen(EventType.MODIFIED, view), now=12.5)

The core reads no clock, draws no random numbers and does no I/O; the runtime
feeds it events and carries out its actions, and ``shipshape-journal replay
--check`` feeds it the journal (:mod:`.replay`). Leader election has its
own state machine, pure in the same way (:mod:`.election`).
"""

from reloader.core.actions import Action, PatchAdopt, PatchRestart, Record, WarnWorkload
from reloader.core.backoff import backoff_delay
from reloader.core.events import (
    AdoptFailed,
    AdoptRefused,
    ConfigMapSeen,
    DeploymentSeen,
    Event,
    EventType,
    Failure,
    FlushDeadline,
    LeaderObserved,
    LeadershipChanged,
    Listed,
    PatchFailed,
    PatchFenced,
    PatchRefused,
    PatchSucceeded,
    Resource,
    ShutdownRequested,
    Tick,
    WatchFailed,
)
from reloader.core.hashing import (
    changed_keys,
    combined_hash,
    correlation_id,
    data_hash,
    key_digests,
)
from reloader.core.model import (
    ConfigMapView,
    DeploymentView,
    Key,
    RolloutStatus,
    SourceView,
    Target,
    WorkloadView,
)
from reloader.core.policy import Policy
from reloader.core.queries import (
    applied_hash,
    desired_hash,
    flush_complete,
    next_deadline,
    pending_restarts,
)
from reloader.core.reconciler import step, step_many
from reloader.core.state import State, initial_state
from reloader.core.workloads import source_view, workload_view

__all__ = [
    "Action",
    "AdoptFailed",
    "AdoptRefused",
    "ConfigMapSeen",
    "ConfigMapView",
    "DeploymentSeen",
    "DeploymentView",
    "Event",
    "EventType",
    "Failure",
    "FlushDeadline",
    "Key",
    "LeaderObserved",
    "LeadershipChanged",
    "Listed",
    "PatchAdopt",
    "PatchFailed",
    "PatchFenced",
    "PatchRefused",
    "PatchRestart",
    "PatchSucceeded",
    "Policy",
    "Record",
    "Resource",
    "RolloutStatus",
    "ShutdownRequested",
    "SourceView",
    "State",
    "Target",
    "Tick",
    "WarnWorkload",
    "WatchFailed",
    "WorkloadView",
    "applied_hash",
    "backoff_delay",
    "changed_keys",
    "combined_hash",
    "correlation_id",
    "data_hash",
    "desired_hash",
    "flush_complete",
    "initial_state",
    "key_digests",
    "next_deadline",
    "pending_restarts",
    "source_view",
    "step",
    "step_many",
    "workload_view",
]
