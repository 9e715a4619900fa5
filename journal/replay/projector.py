"""The projector: one streaming pass over the records, dispatched to each concern.

:class:`Projector` owns the one feed loop (:meth:`Projector.feed_page`) that
every caller goes through (``replay`` over one journal or several merged, the
timeline page, the tests), and hands each record to the handler of its kind:
:class:`~journal.replay.restarts.Restarts` (ConfigMaps, debounce, restarts,
rollouts) or :class:`~journal.replay.leadership.Leadership` (terms). Both
report anomalies to one :class:`~journal.replay.anomalies.Anomalies`;
:meth:`Projector.finish` judges the window's end and builds the report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from itertools import groupby, islice
from operator import itemgetter
from typing import Any

from journal.filters import Filters
from journal.replay.anomalies import Anomalies, judge_window, still_pending
from journal.replay.clocks import DEFAULT_CLOCK_SKEW_SECONDS, Clocks
from journal.replay.leadership import Leadership
from journal.replay.report import ReplayReport, percentile
from journal.replay.restarts import Restarts
from journal.replay.rows import ACTOR, EPOCH, KIND, REPLAY_PAGE_SIZE, SEQ, TS, Payloads
from journal.replay.workloads import workloads_view
from records import kinds as k

#: ``DEBOUNCE_SECONDS`` when no ``controller.started`` record says otherwise.
DEFAULT_DEBOUNCE_SECONDS = 5.0
#: The restart SLO allows ``DEBOUNCE_SECONDS`` plus this (the watch timeout).
SLO_MARGIN_SECONDS = 30.0
#: A leaderless stretch longer than this is an anomaly.
DEFAULT_LEADERLESS_GAP_SECONDS = 30.0

_kind_of = itemgetter(KIND)
_source_of = itemgetter(0)


class Projector:
    """Builds the replay projections from rows fed in order (one pass).

    Feed rows of :data:`~journal.replay.rows.REPLAY_COLUMNS` with
    :meth:`feed_page` (or its wrappers :meth:`feed` and :meth:`feed_all`),
    then call :meth:`finish`. ``source`` tells replicas' journals apart in a
    merged view.
    """

    def __init__(
        self,
        *,
        journals: Sequence[str] = ("journal",),
        debounce_seconds: float | None = None,
        leaderless_gap_seconds: float = DEFAULT_LEADERLESS_GAP_SECONDS,
        workload: str | None = None,
        recorded_debounce: float | None = None,
        writers_apart: bool = False,
    ) -> None:
        """Start empty; ``debounce_seconds`` overrides what ``controller.started`` says.

        ``recorded_debounce`` is what the last ``controller.started`` before the
        window said (the window may leave it out); later ones in it replace it.

        ``workload`` (``kind/name``) narrows the report's ``restarts``,
        ``restart_latency_seconds`` and ``workloads`` to that workload; every
        record is still projected (its restarts answer ConfigMap changes).

        ``writers_apart``: the records come from several replicas' journals,
        whose clocks are compared
        (:mod:`journal.replay.clocks`).
        """
        self._journals = list(journals)
        self._workload = workload
        self._debounce_fixed = debounce_seconds
        recorded = DEFAULT_DEBOUNCE_SECONDS if recorded_debounce is None else recorded_debounce
        self._debounce = recorded if debounce_seconds is None else debounce_seconds
        self._leaderless = leaderless_gap_seconds
        self.events = 0
        self._kinds: Counter[str] = Counter()
        self._first: Sequence[Any] | None = None
        self._last: Sequence[Any] | None = None
        self._last_source = 0
        self._first_source = 0
        self._payloads = Payloads()
        self.anomalies = Anomalies(self._journals)
        self.restarts = Restarts(self._payloads, self.anomalies)
        self.restarts.slo_seconds = self.slo_seconds
        self.leadership = Leadership(self._payloads, self.anomalies, leaderless_gap_seconds)
        leadership = self.leadership
        self._handlers = {
            k.CONTROLLER_STARTED: self._controller_started,
            **self.restarts.handlers(),
            k.LEADER_ACQUIRED: leadership.acquired,
            k.LEADER_LOST: leadership.ended,
            k.LEADER_RELEASED: leadership.ended,
            k.LEADER_OBSERVED: leadership.observed,
        }
        self.clocks: Clocks | None = None
        if writers_apart:
            self.clocks = Clocks(self.anomalies, DEFAULT_CLOCK_SKEW_SECONDS)
            self._handlers[k.CONFIGMAP_OBSERVED] = _both(
                self._handlers[k.CONFIGMAP_OBSERVED], self.clocks.observed
            )

    @property
    def slo_seconds(self) -> float:
        """The restart SLO in seconds: ``DEBOUNCE_SECONDS + 30``."""
        return self._debounce + SLO_MARGIN_SECONDS

    # -- feeding ----------------------------------------------------------------

    def feed_page(self, rows: Sequence[Sequence[Any]], source: int = 0) -> None:
        """Apply a page of rows from journal ``source``, in order: the one feed loop."""
        if not rows:
            return
        if self._first is None:
            self._first, self._first_source = rows[0], source
        self._kinds.update(map(_kind_of, rows))
        handler_of = self._handlers.get
        leader_activity = self.leadership.activity
        open_terms, stale = self.leadership.open_terms, self.leadership.stale
        for row in rows:
            epoch = row[EPOCH]
            # Leader bookkeeping only matters for a stale or an unknown leader.
            if epoch is not None and (stale or row[ACTOR] not in open_terms):
                leader_activity(row, source, row[ACTOR], epoch, row[KIND])
            handler = handler_of(row[KIND])
            if handler is not None:
                handler(row, source)
        self.events += len(rows)
        self._last, self._last_source = rows[-1], source

    def feed(self, row: Sequence[Any], source: int = 0) -> None:
        """Apply one record (a row) from journal ``source``: a page of one."""
        self.feed_page((row,), source)

    def feed_all(self, rows: Iterable[tuple[int, Sequence[Any]]]) -> None:
        """Apply ``(source, row)`` pairs in order (a merged view), a run of one source at a time."""
        for source, run in groupby(rows, key=_source_of):
            while page := [row for _source, row in islice(run, REPLAY_PAGE_SIZE)]:
                self.feed_page(page, source)

    # -- controller -------------------------------------------------------------

    def _controller_started(self, row: Sequence[Any], source: int) -> None:
        debounce = self._payloads.of(row).debounce_seconds
        if self._debounce_fixed is None and isinstance(debounce, int | float) and debounce >= 0:
            self._debounce = float(debounce)
            self.restarts.slo_seconds = self.slo_seconds
        # A new process: whatever term the old one held ended by now at the
        # latest, and the intents it left open lost their answer.
        self.leadership.process_started(row, source)
        self.restarts.abandon(row, source)

    # -- result -----------------------------------------------------------------

    def finish(self, filters: Filters | None = None) -> ReplayReport:
        """Judge what is still open at the window's end and return the report."""
        filters = filters or Filters()
        end = self._last[TS] if self._last is not None else None
        slo = self.slo_seconds
        restarts, anomalies = self.restarts, self.anomalies
        judge_window(restarts, anomalies, end, slo)
        clock_offsets = self.clocks.finish(self._journals) if self.clocks is not None else None
        merged = self._journals if len(self._journals) > 1 else None
        configmaps: dict[str, dict[str, Any]] = {}
        for (namespace, name), cm in restarts.configmaps.items():
            pending = still_pending(cm, anomalies, end, slo)
            key = name if name not in configmaps else f"{namespace}/{name}"
            configmaps[key] = cm.to_json(pending, merged)
        for entry in restarts.restarts:
            entry.change = None
        kept, latencies = restarts.restarts, sorted(restarts.latencies)
        if self._workload is not None:
            kept = [entry for entry in kept if entry.workload == self._workload]
            latencies = sorted(e.latency_seconds for e in kept if e.latency_seconds is not None)
        return ReplayReport(
            journals=self._journals,
            filters=filters,
            events=self.events,
            first=self._edge(self._first, self._first_source),
            last=self._edge(self._last, self._last_source),
            kinds=dict(sorted(self._kinds.items())),
            configmaps=dict(sorted(configmaps.items())),
            restarts=kept,
            latency={
                "count": len(latencies),
                "p50": percentile(latencies, 0.50),
                "p95": percentile(latencies, 0.95),
                "max": latencies[-1] if latencies else None,
            },
            leader_terms=self.leadership.to_json(),
            anomalies=anomalies.in_order(),
            thresholds={
                "debounce_seconds": self._debounce,
                "slo_seconds": slo,
                "leaderless_gap_seconds": self._leaderless,
                **({"clock_skew_seconds": self.clocks.threshold} if self.clocks else {}),
            },
            workloads=workloads_view(kept, restarts.deployments, merged, self._workload),
            clock_offsets=clock_offsets,
        )

    def _edge(self, row: Sequence[Any] | None, source: int) -> dict[str, Any] | None:
        if row is None:
            return None
        edge = {"seq": row[SEQ], "ts": row[TS]}
        if len(self._journals) > 1:
            edge["journal"] = self._journals[source]
        return edge


def _both(first: Callable[..., None], second: Callable[..., None]) -> Callable[..., None]:
    """A handler that hands the record to ``first``, then to ``second``."""

    def handle(row: Sequence[Any], source: int) -> None:
        first(row, source)
        second(row, source)

    return handle


__all__ = [
    "DEFAULT_DEBOUNCE_SECONDS",
    "DEFAULT_LEADERLESS_GAP_SECONDS",
    "SLO_MARGIN_SECONDS",
    "Projector",
]
