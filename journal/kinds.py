"""Deprecated: the kind strings and their helpers live in :mod:`records.kinds`.

A re-export kept while the journal's readers move to the record catalogue
(``records``); new code imports ``records.kinds``. To be deleted once no
module imports it.
"""

from __future__ import annotations

from records.kinds import (
    ALL,
    AREAS,
    CONFIGMAP_OBSERVED,
    CONTROLLER_STARTED,
    CONTROLLER_STOPPED,
    DEBOUNCE_COALESCED,
    DEBOUNCE_SCHEDULED,
    DEBOUNCE_SKIPPED,
    JOURNAL_CHECKPOINT,
    JOURNAL_VACUUMED,
    LEADER_ACQUIRED,
    LEADER_LOST,
    LEADER_OBSERVED,
    LEADER_RELEASED,
    OPERATOR_NOTE,
    RESTART_DROPPED,
    RESTART_FAILED,
    RESTART_FLUSHED,
    RESTART_PATCHED,
    RESTART_PLANNED,
    RESTART_RETRY,
    RESTART_SUPERSEDED,
    ROLLOUT_COMPLETED,
    ROLLOUT_TIMEOUT,
    WATCH_ERROR,
    WATCH_RELISTED,
    WATCH_STARTED,
    is_valid_filter,
    is_well_formed,
    matches,
)

__all__ = [
    "ALL",
    "AREAS",
    "CONFIGMAP_OBSERVED",
    "CONTROLLER_STARTED",
    "CONTROLLER_STOPPED",
    "DEBOUNCE_COALESCED",
    "DEBOUNCE_SCHEDULED",
    "DEBOUNCE_SKIPPED",
    "JOURNAL_CHECKPOINT",
    "JOURNAL_VACUUMED",
    "LEADER_ACQUIRED",
    "LEADER_LOST",
    "LEADER_OBSERVED",
    "LEADER_RELEASED",
    "OPERATOR_NOTE",
    "RESTART_DROPPED",
    "RESTART_FAILED",
    "RESTART_FLUSHED",
    "RESTART_PATCHED",
    "RESTART_PLANNED",
    "RESTART_RETRY",
    "RESTART_SUPERSEDED",
    "ROLLOUT_COMPLETED",
    "ROLLOUT_TIMEOUT",
    "WATCH_ERROR",
    "WATCH_RELISTED",
    "WATCH_STARTED",
    "is_valid_filter",
    "is_well_formed",
    "matches",
]
