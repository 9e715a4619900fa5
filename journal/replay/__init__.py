"""Projections for ``replay``: rebuild what happened from the records alone.

One streaming pass over the records (one journal in seq order, or several
replicas' journals merged by time) builds:

- per ConfigMap: its data hash, last change, last restart, restart count and
  whether a change is still pending;
- every restart with its outcome, retries, rollout result and the latency
  from the change's ``configmap.observed`` to ``restart.patched``;
- latency percentiles (p50, p95, max);
- the leader terms (who led, under which epoch, from when to when);
- the anomalies, each pointing at the seq that shows it.

Anomaly types (docs/journal.md explains each with an example):

``change_without_restart``
    A ConfigMap's data changed and no restart, skip decision or failure
    followed within the restart SLO (``DEBOUNCE_SECONDS + 30 s``).
``restart_without_change``
    A restart was planned for a data hash the Deployment already had (settled
    by an earlier restart or an ``unchanged``/``adopted`` skip): a restart storm.
``planned_without_outcome``
    ``restart.planned`` never got an answer (``restart.patched``/``failed``/
    ``dropped``/``superseded``) because the controller restarted in between or
    none followed within the SLO, and the journal cannot settle it either: no
    ``deployment.observed`` of the Deployment follows it. (With one, the
    restart is ``landed`` or ``lost`` instead, see
    :func:`journal.replay.anomalies.judge_window`.)
``duplicate_rollout``
    One Deployment rolled the same data hash twice in a row (two ``patched``
    or ``landed`` restarts with no other applied hash observed between them),
    unless ``restart_without_change`` already reported the second one.
``dropped_restart``
    A ``restart.dropped`` record.
``overlapping_leaders``
    Two leaders at once: a replica acted under an epoch after another replica
    acquired a newer one (split-brain), or two acquisitions claim one epoch.
``leaderless_gap``
    No leader for longer than the threshold (default 30 s) between
    consecutive terms.
``slo_breach``
    ``configmap.observed`` to ``restart.patched`` took longer than the SLO.
``rollout_timeout``
    A ``rollout.timeout`` record: pods were patched but did not roll out.
``clock_skew``
    Merged replicas' clocks disagree: their records of the same watch events
    are more than a second apart (median), see :mod:`~journal.replay.clocks`.

The package, by concern: :mod:`~journal.replay.rows` (the columns read, and
payloads read once through the record catalogue), :mod:`~journal.replay.restarts`
(ConfigMaps and restarts), :mod:`~journal.replay.leadership` (terms),
:mod:`~journal.replay.anomalies` (recording them, and the end-of-window
judgments), :mod:`~journal.replay.projector` (the one feed loop) and
:mod:`~journal.replay.report` (the ``-o json`` document).

Times that judge "too late" are measured against the last record of the
replayed window, never the wall clock, so a replay of an old journal gives
the same answer every time. The data fields read from each kind are listed in
docs/journal.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from journal.filters import Filters
from journal.merge import merged_rows
from journal.reading import RECORD_COLUMNS, row_to_record
from journal.replay.anomalies import ANOMALY_TYPES
from journal.replay.entries import RestartEntry
from journal.replay.projector import (
    DEFAULT_DEBOUNCE_SECONDS,
    DEFAULT_LEADERLESS_GAP_SECONDS,
    SLO_MARGIN_SECONDS,
    Projector,
)
from journal.replay.report import ReplayReport, percentile
from journal.replay.rows import REPLAY_COLUMNS, REPLAY_PAGE_SIZE
from journal.replay.state import StateAt, state_at
from records import ControllerStarted, kinds

if TYPE_CHECKING:
    from journal.store import Journal

#: The controller's own records, which a replay narrowed to one namespace
#: keeps whatever their namespace (``Filters.namespace_keeps``): its leader
#: terms, its starts (the SLO's debounce) and the journal's own records.
CONTROLLER_AREAS: tuple[str, ...] = ("controller", "leader", "journal")


def replay(
    journals: Sequence[Journal],
    filters: Filters | None = None,
    *,
    debounce_seconds: float | None = None,
    leaderless_gap_seconds: float = DEFAULT_LEADERLESS_GAP_SECONDS,
    names: Sequence[str] | None = None,
    workload: str | None = None,
) -> ReplayReport:
    """Rebuild state from one or several replicas' journals in one streaming pass.

    Args:
        journals: Open journals; several (or a central journal's chains) are
            merged into one time-ordered view.
        filters: The window (``since``, ``until``) and ``correlation_id``.
        debounce_seconds: ``DEBOUNCE_SECONDS`` for the SLO; by default the
            value the latest ``controller.started`` record carries, else 5.
        leaderless_gap_seconds: Leaderless stretches longer than this are anomalies.
        names: How to name each journal in the report (default: its location);
            ``export dr-drill`` names snapshots after the journals they copy.
        workload: ``kind/name``: report only this workload's restarts, latency
            and view (every record of the window is still replayed).
    """
    filters = filters or Filters()
    merged_view = len(journals) > 1 or journals[0].holds_streams()
    projector = Projector(
        journals=list(names) if names else [journal.location.display for journal in journals],
        debounce_seconds=debounce_seconds,
        recorded_debounce=recorded_debounce(journals, filters),
        leaderless_gap_seconds=leaderless_gap_seconds,
        workload=workload,
        # Several replicas' journals. Not a central journal's chains: its
        # clusters' resourceVersions come from different API servers, so one
        # object's version in two clusters is no shared event.
        writers_apart=len(journals) > 1,
    )
    if not merged_view:
        pages = journals[0].scan_pages(filters, columns=REPLAY_COLUMNS, page_size=REPLAY_PAGE_SIZE)
        for page in pages:
            projector.feed_page(page)
    else:
        projector.feed_all(
            merged_rows(journals, filters, REPLAY_COLUMNS, page_size=REPLAY_PAGE_SIZE)
        )
    return projector.finish(filters)


def recorded_debounce(journals: Sequence[Journal], filters: Filters) -> float | None:
    """Return ``DEBOUNCE_SECONDS`` as the last ``controller.started`` before the window says.

    A window (``--since -1h``, a correlation id, a namespace) usually leaves the
    process's start out; the SLO is still the one that process ran with. On a
    central journal, the window's cluster and actor name the processes.
    ``None`` when no such record says.
    """
    bound = filters.since if filters.since is not None else filters.until
    # The processes the window is about: a central journal's cluster or replica.
    before = Filters(
        kinds=(kinds.CONTROLLER_STARTED,),
        until=bound,
        cluster=filters.cluster,
        actor=filters.actor,
    )
    latest = None
    for journal in journals:
        # A central journal's streams interleave in time: its latest by time.
        found = (
            map(row_to_record, journal.scan(before, columns=RECORD_COLUMNS))
            if journal.holds_streams()
            else journal.last(1, before)
        )
        for record in found:
            if latest is None or record.ts > latest.ts:
                latest = record
    if latest is None:
        return None
    value = ControllerStarted.from_data(latest.data).debounce_seconds
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return float(value)


__all__ = [
    "ANOMALY_TYPES",
    "CONTROLLER_AREAS",
    "DEFAULT_DEBOUNCE_SECONDS",
    "DEFAULT_LEADERLESS_GAP_SECONDS",
    "REPLAY_COLUMNS",
    "REPLAY_PAGE_SIZE",
    "SLO_MARGIN_SECONDS",
    "Projector",
    "ReplayReport",
    "RestartEntry",
    "StateAt",
    "percentile",
    "recorded_debounce",
    "replay",
    "state_at",
]
