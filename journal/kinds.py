"""The stable kind strings of journal records (contract section 2).

Kinds are dotted names, ``<area>.<event>``. These strings are a contract: new
kinds may be added, none may be renamed. A filter on an area (``restart``)
matches every kind of that area (``restart.planned``, ``restart.patched``, ...).
"""

from __future__ import annotations

import re

CONTROLLER_STARTED = "controller.started"
CONTROLLER_STOPPED = "controller.stopped"

WATCH_STARTED = "watch.started"
WATCH_ERROR = "watch.error"
WATCH_RELISTED = "watch.relisted"

CONFIGMAP_OBSERVED = "configmap.observed"

DEBOUNCE_SCHEDULED = "debounce.scheduled"
DEBOUNCE_COALESCED = "debounce.coalesced"
DEBOUNCE_SKIPPED = "debounce.skipped"

RESTART_PLANNED = "restart.planned"
RESTART_PATCHED = "restart.patched"
RESTART_RETRY = "restart.retry"
RESTART_FAILED = "restart.failed"
RESTART_DROPPED = "restart.dropped"
RESTART_FLUSHED = "restart.flushed"
#: A planned restart settled without a roll: its conditional patch found the
#: hash already applied (data: ``reason``, ``applied_hash``, ``planned_hash``).
RESTART_SUPERSEDED = "restart.superseded"

ROLLOUT_COMPLETED = "rollout.completed"
ROLLOUT_TIMEOUT = "rollout.timeout"

LEADER_ACQUIRED = "leader.acquired"
LEADER_LOST = "leader.lost"
LEADER_RELEASED = "leader.released"
LEADER_OBSERVED = "leader.observed"

#: Written by the controller (``reloader.core.kinds`` adds it to the contract's
#: list); replay reads the applied hash it reports as evidence.
DEPLOYMENT_OBSERVED = "deployment.observed"

OPERATOR_NOTE = "operator.note"
JOURNAL_VACUUMED = "journal.vacuumed"
#: A signed statement of the chain's head (journal.checkpoints, journal.signing).
JOURNAL_CHECKPOINT = "journal.checkpoint"

#: Every kind the contract names, in the contract's order.
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

#: Kinds added after the contract's list (the contract allows new kinds): the
#: controller's ``controller.stopping``, ``deployment.observed`` and
#: ``restart.superseded``, and the signing writer's ``journal.checkpoint``. A new
#: kind a writer appends belongs here, so that ``tail --kind`` accepts it.
ADDED: tuple[str, ...] = (
    "controller.stopping",
    "deployment.observed",
    RESTART_SUPERSEDED,
    JOURNAL_CHECKPOINT,
)

#: Every kind this program knows: the contract's, then the added ones.
KNOWN: tuple[str, ...] = ALL + ADDED

#: The areas (the part before the dot) of the contract's kinds.
AREAS: tuple[str, ...] = tuple(dict.fromkeys(kind.split(".", 1)[0] for kind in ALL))

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
