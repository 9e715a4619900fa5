"""The stable kind strings of journal records (contract section 2), and their helpers.

Kinds are dotted names, ``<area>.<event>``. These strings are a contract: new
kinds may be added, none may be renamed. A filter on an area (``restart``)
matches every kind of that area (``restart.planned``, ``restart.patched``, ...).
"""

from __future__ import annotations

import re

CONTROLLER_STARTED = "controller.started"
CONTROLLER_STOPPING = "controller.stopping"
CONTROLLER_STOPPED = "controller.stopped"

WATCH_STARTED = "watch.started"
WATCH_ERROR = "watch.error"
WATCH_RELISTED = "watch.relisted"

CONFIGMAP_OBSERVED = "configmap.observed"
DEPLOYMENT_OBSERVED = "deployment.observed"

DEBOUNCE_SCHEDULED = "debounce.scheduled"
DEBOUNCE_COALESCED = "debounce.coalesced"
DEBOUNCE_SKIPPED = "debounce.skipped"

RESTART_PLANNED = "restart.planned"
RESTART_PATCHED = "restart.patched"
RESTART_RETRY = "restart.retry"
RESTART_FAILED = "restart.failed"
RESTART_DROPPED = "restart.dropped"
RESTART_FLUSHED = "restart.flushed"
#: A planned restart whose conditional patch was refused because the hash was
#: already applied (by an earlier attempt or process): it must not roll again.
RESTART_SUPERSEDED = "restart.superseded"

ROLLOUT_COMPLETED = "rollout.completed"
ROLLOUT_TIMEOUT = "rollout.timeout"
ROLLOUT_SKIPPED = "rollout.skipped"

LEADER_ACQUIRED = "leader.acquired"
LEADER_LOST = "leader.lost"
LEADER_RELEASED = "leader.released"
LEADER_OBSERVED = "leader.observed"

#: An annotation value on a workload (or a ConfigMap/Secret) that could not be
#: understood and was taken as false (or absent), once per object and problem.
WORKLOAD_WARNING = "workload.warning"
#: A workload names a ConfigMap or Secret that does not exist: nothing
#: restarts for it; journaled once until it appears.
WORKLOAD_MISSING_REFERENCE = "workload.missing-reference"

OPERATOR_NOTE = "operator.note"
JOURNAL_VACUUMED = "journal.vacuumed"
#: A signed statement of the chain's head (journal.checkpoints, journal.signing),
#: appended by the signing writer when JOURNAL_SIGNING_KEY_FILE is set.
JOURNAL_CHECKPOINT = "journal.checkpoint"
#: A central journal's own statement of what one ``ship`` transaction copied
#: into it (a stream's seq range, its cluster label and last hash), which
#: ``verify`` holds the shipped rows' labels to.
JOURNAL_SHIPPED = "journal.shipped"

#: The kinds contract section 2 names, in its order (none may be renamed).
ALL: tuple[str, ...] = (
    CONTROLLER_STARTED,
    CONTROLLER_STOPPED,
    WATCH_STARTED,
    WATCH_ERROR,
    WATCH_RELISTED,
    CONFIGMAP_OBSERVED,
    DEBOUNCE_SCHEDULED,
    DEBOUNCE_COALESCED,
    DEBOUNCE_SKIPPED,
    RESTART_PLANNED,
    RESTART_PATCHED,
    RESTART_RETRY,
    RESTART_FAILED,
    RESTART_DROPPED,
    RESTART_FLUSHED,
    ROLLOUT_COMPLETED,
    ROLLOUT_TIMEOUT,
    LEADER_ACQUIRED,
    LEADER_LOST,
    LEADER_RELEASED,
    LEADER_OBSERVED,
    OPERATOR_NOTE,
    JOURNAL_VACUUMED,
)

#: Kinds added beside :data:`ALL` (the contract allows new kinds):
#: ``controller.stopping`` marks the start of the SIGTERM flush,
#: ``deployment.observed`` records the Deployment facts a decision depends on
#: (so that ``replay --check`` can re-run the decisions from the journal alone),
#: ``restart.superseded`` settles a restart whose conditional patch was refused,
#: ``journal.checkpoint`` is the signing writer's, ``workload.warning`` and
#: ``workload.missing-reference`` report workloads' opt-in annotations,
#: ``rollout.skipped`` ends a restart whose rollout is not followed (``OnDelete``),
#: and ``journal.shipped`` is ``ship``'s statement in a central journal's own chain.
ADDED: tuple[str, ...] = (
    CONTROLLER_STOPPING,
    DEPLOYMENT_OBSERVED,
    RESTART_SUPERSEDED,
    JOURNAL_CHECKPOINT,
    WORKLOAD_WARNING,
    WORKLOAD_MISSING_REFERENCE,
    ROLLOUT_SKIPPED,
    JOURNAL_SHIPPED,
)
ADDED_KINDS = frozenset(ADDED)

#: Every kind there is: the contract's, then the added ones (``tail --kind``
#: accepts exactly these and their areas).
EVERY: tuple[str, ...] = (*ALL, *ADDED)
KNOWN = EVERY

#: The kinds the decision core (``reloader.core``) writes itself.
CORE_WRITES = frozenset(EVERY) - {
    CONTROLLER_STARTED,
    CONTROLLER_STOPPED,
    OPERATOR_NOTE,
    JOURNAL_VACUUMED,
    JOURNAL_CHECKPOINT,
    JOURNAL_SHIPPED,
}

#: The areas (the part before the dot) of the contract's kinds.
AREAS: tuple[str, ...] = tuple(dict.fromkeys(kind.split(".", 1)[0] for kind in ALL))

# -- reasons ----------------------------------------------------------------

# ``debounce.skipped`` reasons.
SKIP_UNCHANGED = "unchanged"
SKIP_ADOPTED = "adopted"
SKIP_REVERTED = "reverted"
SKIP_NO_TARGET = "no-target"
SKIP_DELETED = "deleted"
SKIP_NOT_LEADER = "not-leader"

# ``restart.superseded`` reasons.
SUPERSEDED_APPLIED = "already-applied"
SUPERSEDED_NEWER = "newer-applied"

# ``watch.relisted`` reason of the lists a new leader asks for before it acts
# (``Listed.reason`` in the core).
RELIST_LEADER = "leader"

# -- helpers ----------------------------------------------------------------

# Lower-case dotted words: "restart.planned", "journal.vacuumed". Later kinds
# follow the same shape, so an older reader still shows and filters them.
_KIND = re.compile(r"[a-z][a-z0-9_-]*(?:\.[a-z][a-z0-9_-]*)+")
_FILTER = re.compile(r"[a-z][a-z0-9_-]*(?:\.[a-z][a-z0-9_-]*)*")


def is_well_formed(kind: str) -> bool:
    """Tell whether ``kind`` has the shape of a kind (``area.event``)."""
    return _KIND.fullmatch(kind) is not None


def is_valid_filter(pattern: str) -> bool:
    """Tell whether ``pattern`` is a kind or an area usable as a ``--kind`` filter."""
    return _FILTER.fullmatch(pattern) is not None


def matches(kind: str, pattern: str) -> bool:
    """Tell whether ``kind`` matches a filter: the kind itself or its area prefix."""
    return kind == pattern or kind.startswith(pattern + ".")
