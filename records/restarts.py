"""Payloads of the decisions and their outcomes: debounce windows, restarts, rollouts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from records import kinds
from records.payload import ABSENT, Absent, Payload, register

#: ``error`` of restart outcomes: ``{"reason", "status", "message"}``.
Error = Mapping[str, Any]

# The restart and rollout payloads name the source they are for twice.
# ``configmap``, the stable name readers rely on, holds a ConfigMap's name
# (``NAME``), or ``secret/NAME`` for a Secret (names cannot hold a slash, so
# the prefix is unambiguous). ``source``, written since Secrets became
# sources, holds the record object of the source, ``configmap/NAME`` or
# ``secret/NAME``; older records lack it (:func:`source_object` reads both).


def source_object(configmap: str | None, source: str | Absent | None = ABSENT) -> str | None:
    """The source a restart record is for, as ``configmap/NAME`` or ``secret/NAME``.

    ``source`` when the record has it; else derived from ``configmap`` (an
    older record): a value with a slash is ``KIND/NAME`` already, a bare one
    a ConfigMap's name. None when the record names neither.
    """
    if isinstance(source, str) and source:
        return source
    if not isinstance(configmap, str) or not configmap:
        return None
    return configmap if "/" in configmap else f"configmap/{configmap}"


@register
@dataclass(frozen=True)
class DebounceScheduled(Payload):
    """A window opened on a ConfigMap; it fires in ``due_in_seconds``."""

    KIND = kinds.DEBOUNCE_SCHEDULED

    data_hash: str
    reason: str
    due_in_seconds: float
    targets: Sequence[str]
    #: When the window fires (ISO 8601): written by earlier writers (and the
    #: journal tests' builders) instead of ``due_in_seconds``; read by the picture.
    fire_at: str | Absent = ABSENT


@register
@dataclass(frozen=True)
class DebounceCoalesced(Payload):
    """Changes merged: ``changes`` in one window, or this change ``into`` a queued restart."""

    KIND = kinds.DEBOUNCE_COALESCED

    data_hash: str | None
    changes: int | Absent = ABSENT
    window_seconds: float | Absent = ABSENT
    deployment: str | Absent = ABSENT
    into: str | Absent = ABSENT


@register
@dataclass(frozen=True)
class DebounceSkipped(Payload):
    """A window (or a start-up check) decided nothing, for ``reason`` (``kinds.SKIP_*``)."""

    KIND = kinds.DEBOUNCE_SKIPPED

    reason: str
    data_hash: str | None
    deployment: str | Absent = ABSENT


@register
@dataclass(frozen=True)
class RestartPlanned(Payload):
    """An attempt's intent, durable before its patch is sent."""

    KIND = kinds.RESTART_PLANNED

    configmap: str
    data_hash: str
    previous_hash: str | None
    attempt: int
    flushed: bool
    supersedes: str | None
    resource_version: str
    source: str | Absent = ABSENT


@register
@dataclass(frozen=True)
class RestartPatched(Payload):
    """The patch landed (its answer, or the watch showing the hash: ``confirmed_by``)."""

    KIND = kinds.RESTART_PATCHED

    configmap: str
    data_hash: str
    attempt: int
    generation: int | None
    flushed: bool
    latency_seconds: float
    confirmed_by: str | Absent = ABSENT
    source: str | Absent = ABSENT


@register
@dataclass(frozen=True)
class RestartRetry(Payload):
    """An attempt failed and ``next_attempt`` follows after ``delay_seconds``.

    ``reread`` (``applied_hash``, ``resource_version``, ``generation``) is the
    Deployment as read again after a refused conditional patch.
    """

    KIND = kinds.RESTART_RETRY

    configmap: str
    data_hash: str | None
    attempt: int
    next_attempt: int
    delay_seconds: float
    jitter: float | None
    error: Error
    reread: Mapping[str, Any] | Absent = ABSENT
    source: str | Absent = ABSENT


@register
@dataclass(frozen=True)
class RestartFailed(Payload):
    """The restart is given up; the periodic resync tries again later."""

    KIND = kinds.RESTART_FAILED

    configmap: str
    data_hash: str | None
    attempt: int
    reason: str
    error: Error
    next_resync_in_seconds: float | Absent | None = ABSENT
    source: str | Absent = ABSENT


@register
@dataclass(frozen=True)
class RestartDropped(Payload):
    """Shutdown ended the restart (``shutdown`` or ``shutdown-deadline``)."""

    KIND = kinds.RESTART_DROPPED

    configmap: str
    data_hash: str | None
    attempt: int
    reason: str
    error: Error | Absent = ABSENT
    source: str | Absent = ABSENT


@register
@dataclass(frozen=True)
class RestartFlushed(Payload):
    """Shutdown fired a window early."""

    KIND = kinds.RESTART_FLUSHED

    data_hash: str
    due_in_seconds: float
    acting: bool


@register
@dataclass(frozen=True)
class RestartSuperseded(Payload):
    """A refused conditional patch whose hash (or a newer desired one) is applied already."""

    KIND = kinds.RESTART_SUPERSEDED

    configmap: str
    data_hash: str | None
    planned_hash: str | None
    applied_hash: str
    reason: str
    attempt: int
    resource_version: str
    generation: int | None
    error: Error
    source: str | Absent = ABSENT


@register
@dataclass(frozen=True)
class RolloutCompleted(Payload):
    """The rollout a restart started is complete."""

    KIND = kinds.ROLLOUT_COMPLETED

    configmap: str
    generation: int | None
    seconds: float
    replicas: int
    source: str | Absent = ABSENT


@register
@dataclass(frozen=True)
class RolloutTimeout(Payload):
    """The rollout did not complete: ``deadline`` (ours) or ``progress-deadline-exceeded``."""

    KIND = kinds.ROLLOUT_TIMEOUT

    configmap: str
    generation: int | None
    seconds: float
    reason: str
    replicas: int | Absent = ABSENT
    source: str | Absent = ABSENT


@register
@dataclass(frozen=True)
class RolloutSkipped(Payload):
    """A patched restart whose rollout is not followed: ``on-delete`` (the workload's
    ``updateStrategy`` is ``OnDelete``, so a pod takes the new template only once it
    is deleted, by whoever runs it)."""

    KIND = kinds.ROLLOUT_SKIPPED

    configmap: str
    generation: int | None
    reason: str
    source: str | Absent = ABSENT
