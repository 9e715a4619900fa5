"""The incident as data: lanes of marks, built in the same pass as the replay.

:func:`build_timeline` streams the records once, feeding each page both to
the replay :class:`~journal.replay.Projector` (leader terms, restarts with
their outcome and latency, anomalies) and to a :class:`Collector` that keeps
what the projection does not (ConfigMap changes, debounce windows, retries,
failures, rollout moments, operator notes, drill marks, process starts).
:meth:`Collector.finish` joins both into a :class:`Timeline`: pure data that
the HTML page (:mod:`journal.picture.page`) draws; nothing here renders.

Every mark keeps the journal (its index in ``Timeline.journals``) and the
seq of the record it shows, so the picture can cite them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from journal.filters import Filters
from journal.merge import merged_rows
from journal.picture.marks import (
    _ACTOR,
    _DATA,
    _KIND,
    _NS,
    _OBJ,
    _SEQ,
    _TS,
    Lane,
    Mark,
    Timeline,
    describe_row,
    seconds,
)
from journal.picture.marks import name_of as _name
from journal.replay import (
    DEFAULT_LEADERLESS_GAP_SECONDS,
    REPLAY_COLUMNS,
    Projector,
    ReplayReport,
    recorded_debounce,
)
from records import ConfigMapObserved, OperatorNote, parse, source_object
from records import kinds as k

if TYPE_CHECKING:
    from journal.store import Journal

_PAGE_SIZE = 5000

# Kinds whose actor is a controller replica (notes are written by people).
_REPLICA_KINDS = frozenset(
    {
        k.CONTROLLER_STARTED,
        k.CONTROLLER_STOPPED,
        k.LEADER_ACQUIRED,
        k.LEADER_LOST,
        k.LEADER_RELEASED,
    }
)
_WORKLOAD_POINTS = {
    k.RESTART_RETRY: "retry",
    k.RESTART_FAILED: "failed",
    k.RESTART_DROPPED: "dropped",
    k.RESTART_FLUSHED: "flushed",
    k.ROLLOUT_TIMEOUT: "rollout_timeout",
}
# A lane's totals: restart outcomes count restarts, these count records.
_POINT_COUNTS = {
    "retry": "retries",
    "failed": "failed records",
    "dropped": "dropped records",
    "flushed": "flushed records",
    "rollout_timeout": "rollout timeouts",
}
_REPLICA_POINTS = {
    k.CONTROLLER_STARTED: "started",
    k.CONTROLLER_STOPPED: "stopped",
    k.LEADER_ACQUIRED: "acquired",
    k.LEADER_LOST: "lost",
    k.LEADER_RELEASED: "released",
}


class Collector:
    """Keeps the records the projection summarises away, from rows fed in order."""

    def __init__(self, journals: Sequence[str]) -> None:
        """Start empty for ``journals`` (display names, in ``--journal`` order)."""
        self.journals = list(journals)
        self._hashes: dict[tuple[Any, str], str | None] = {}
        self.changes: list[tuple[Sequence[Any], int]] = []
        self.debounces: list[tuple[Sequence[Any], int]] = []
        self.workload_points: list[tuple[Sequence[Any], int]] = []
        self.replica_points: list[tuple[Sequence[Any], int]] = []
        self.notes: list[tuple[Sequence[Any], int]] = []
        self.rollouts: dict[tuple[int, int], str] = {}
        self.replicas: dict[str, None] = {}
        self.first_ts: str | None = None
        self.last_ts: str | None = None

    def feed_page(self, rows: Sequence[Sequence[Any]], source: int = 0) -> None:
        """Keep what the picture needs from a page of rows of journal ``source``."""
        if not rows:
            return
        if self.first_ts is None:
            self.first_ts = rows[0][_TS]
        last = rows[-1][_TS]
        if self.last_ts is None or last > self.last_ts:
            self.last_ts = last
        for row in rows:
            self._feed(row, source)

    def tap(self, rows: Iterable[tuple[int, Sequence[Any]]]) -> Iterator[tuple[int, Sequence[Any]]]:
        """Keep what the picture needs from merged ``(source, row)`` pairs, passing them on."""
        feed = self._feed
        for source, row in rows:
            if self.first_ts is None:
                self.first_ts = row[_TS]
            self.last_ts = row[_TS]
            feed(row, source)
            yield source, row

    def _feed(self, row: Sequence[Any], source: int) -> None:
        kind = row[_KIND]
        if kind == k.CONFIGMAP_OBSERVED:
            self._observed(row, source)
        elif kind == k.DEBOUNCE_SKIPPED or kind == k.LEADER_OBSERVED:  # noqa: PLR1714
            return  # the bulk of a journal: relists and standbys' views
        elif kind == k.DEBOUNCE_SCHEDULED or kind == k.DEBOUNCE_COALESCED:  # noqa: PLR1714
            self.debounces.append((row, source))
        elif kind in _WORKLOAD_POINTS:
            self.workload_points.append((row, source))
        elif kind == k.ROLLOUT_COMPLETED:
            self.rollouts[(source, row[_SEQ])] = row[_TS]
        elif kind in _REPLICA_KINDS:
            self.replicas[row[_ACTOR]] = None
            self.replica_points.append((row, source))
        elif kind == k.OPERATOR_NOTE or kind == k.JOURNAL_VACUUMED:  # noqa: PLR1714
            self.notes.append((row, source))

    def _observed(self, row: Sequence[Any], source: int) -> None:
        text = row[_DATA]
        # The bulk of a journal: the hash is found without parsing the payload.
        new_hash = ConfigMapObserved.peek_hash(text) if isinstance(text, str) else None
        key = (row[_NS], row[_OBJ] or "?")
        hashes = self._hashes
        if key in hashes:
            changed = hashes[key] != new_hash
        else:
            changed = isinstance(text, str) and ConfigMapObserved.peek_modified(text)
        hashes[key] = new_hash
        if changed:
            self.changes.append((row, source))

    # -- the timeline ----------------------------------------------------------

    def finish(  # noqa: PLR0912, PLR0915 - one section per lane kind, read top to bottom
        self, report: ReplayReport, filters: Filters | None = None
    ) -> Timeline:
        """Join the kept records with the replay ``report`` into a :class:`Timeline`."""
        filters = filters or Filters()
        journals = self.journals
        multi = len(journals) > 1
        start, end = self._window(filters)
        source_of = {name: index for index, name in enumerate(journals)}

        def jname(source: int | None) -> str | None:
            return journals[source] if multi and source is not None else None

        def record_mark(row: Sequence[Any], source: int, category: str, label: str = "") -> Mark:
            return Mark(
                t=seconds(row[_TS]),
                end=None,
                category=category,
                label=label,
                journal=source,
                seq=row[_SEQ],
                row=row,
            )

        # Replicas: leader terms from the projection, process and lease events.
        replica_names = list(self.replicas)
        for term in report.leader_terms:
            if term["actor"] not in self.replicas:
                self.replicas[term["actor"]] = None
                replica_names.append(term["actor"])
        replicas = {
            name: Lane(key=f"replica:{name}", kind="replica", title=name)
            for name in sorted(replica_names)
        }
        intervals: list[tuple[float, float]] = []
        for term in report.leader_terms:
            t0 = seconds(term["start"])
            t1 = seconds(term["end"]) if term["end"] else end
            intervals.append((t0, t1))
            lane = replicas[term["actor"]]
            lane.counts["terms"] = lane.counts.get("terms", 0) + 1
            lane.marks.append(
                Mark(
                    t=t0,
                    end=t1,
                    category="term",
                    label=f"epoch {term['epoch']}",
                    seq=term["start_seq"],
                    detail=(
                        f"leader term of {term['actor']}, epoch {term['epoch']} ({term['how']})\n"
                        f"from {term['start']} (seq {term['start_seq']})\n"
                        f"to {term['end'] or 'the end of the window (open)'}"
                        + (f" (seq {term['end_seq']}, {term['end_reason']})" if term["end"] else "")
                    ),
                )
            )
        for row, source in self.replica_points:
            lane = replicas[row[_ACTOR]]
            category = _REPLICA_POINTS[row[_KIND]]
            lane.marks.append(record_mark(row, source, category))
        leadership = Lane(key="leadership", kind="leadership", title="leader (any replica)")
        gap_limit = report.thresholds.get("leaderless_gap_seconds", DEFAULT_LEADERLESS_GAP_SECONDS)
        for t0, t1, count in _coverage(intervals, start, end):
            if count == 1:
                continue
            if count == 0:
                long_gap = t1 - t0 > gap_limit
                category, what = "leaderless", "no leader"
                outcome = "long" if long_gap else "short"
            else:
                category, what, outcome = "overlap", f"{count} leaders at once", "overlap"
            leadership.counts[category] = leadership.counts.get(category, 0) + 1
            leadership.marks.append(
                Mark(
                    t=t0,
                    end=t1,
                    category=category,
                    outcome=outcome,
                    label=f"{what} {t1 - t0:.1f} s",
                    detail=f"{what} for {t1 - t0:.1f} s\nfrom {_iso(t0)}\nto {_iso(t1)}",
                )
            )

        # Anomalies: their own lane, leadership ones on the leadership lane too.
        anomalies = Lane(key="anomalies", kind="anomalies", title="anomalies")
        for anomaly in report.anomalies:
            source = source_of.get(anomaly.get("journal", ""), 0 if not multi else None)
            where = anomaly.get("journal") or (journals[0] if journals else "")
            mark = Mark(
                t=seconds(anomaly["ts"]),
                end=None,
                category="anomaly",
                outcome=anomaly["type"],
                label=f"{anomaly['type']} {_short(where)}#{anomaly['seq']}",
                journal=source,
                seq=anomaly["seq"],
                detail=f"{anomaly['type']} — {where} seq {anomaly['seq']}\nts {anomaly['ts']}\n"
                f"{anomaly.get('message', '')}",
            )
            anomalies.marks.append(mark)
            anomalies.counts[anomaly["type"]] = anomalies.counts.get(anomaly["type"], 0) + 1
            if anomaly["type"] in ("overlapping_leaders", "leaderless_gap"):
                leadership.marks.append(mark)

        # Notes and drill windows.
        notes = Lane(key="notes", kind="notes", title="operator notes")
        drills: list[tuple[float, float, str]] = []
        drill_start: tuple[float, str] | None = None
        for row, source in self.notes:
            category = "note" if row[_KIND] == k.OPERATOR_NOTE else "vacuum"
            note = _payload(row) if category == "note" else None
            text = _text(note.text) if isinstance(note, OperatorNote) else ""
            drill = _text(note.drill) if isinstance(note, OperatorNote) else ""
            if isinstance(note, OperatorNote) and drill in ("start", "end"):
                category = f"drill_{drill}"
                scenario = _text(note.scenario)
                if drill == "start":
                    drill_start = (seconds(row[_TS]), scenario or text or "drill")
                elif drill_start is not None:
                    drills.append((drill_start[0], seconds(row[_TS]), drill_start[1]))
                    drill_start = None
            notes.counts[category] = notes.counts.get(category, 0) + 1
            notes.marks.append(record_mark(row, source, category, label=text[:60]))
        if drill_start is not None:
            drills.append((drill_start[0], end, f"{drill_start[1]} (no end mark)"))

        # ConfigMaps: changes and debounce windows.
        configmaps: dict[tuple[Any, str], Lane] = {}

        def configmap_lane(namespace: Any, obj: str) -> Lane:
            # A ConfigMap's lane as it always was; a Secret's names it so.
            word = "secret" if obj.startswith("secret/") else "configmap"
            name = _name(obj)
            lane = configmaps.get((namespace, f"{word}/{name}"))
            if lane is None:
                title = name if not namespace else f"{namespace}/{name}"
                lane = configmaps[(namespace, f"{word}/{name}")] = Lane(
                    key=f"{word}:{title}", kind="configmap", title=f"{word}/{title}"
                )
            return lane

        for row, source in self.changes:
            lane = configmap_lane(row[_NS], row[_OBJ] or "")
            lane.counts["changes"] = lane.counts.get("changes", 0) + 1
            lane.marks.append(record_mark(row, source, "change"))
        debounce = report.thresholds.get("debounce_seconds", 5.0)
        for row, source in self.debounces:
            # A debounce record's object is its ConfigMap (no payload names it).
            obj = row[_OBJ] or ""
            if not obj.startswith(("configmap/", "secret/")):
                continue
            lane = configmap_lane(row[_NS], obj)
            mark = record_mark(row, source, "debounce")
            if row[_KIND] == k.DEBOUNCE_COALESCED:
                mark.category = "coalesced"
            else:
                scheduled = _payload(row)
                fire_at = _text(scheduled.fire_at) if scheduled is not None else ""
                try:
                    mark.end = seconds(fire_at) if fire_at else mark.t + debounce
                except ValueError:
                    mark.end = mark.t + debounce
            lane.counts[mark.category] = lane.counts.get(mark.category, 0) + 1
            lane.marks.append(mark)

        # Workloads: each restart planned -> patched -> rolled out, and the
        # retries, failures and timeouts around them.
        workloads: dict[tuple[Any, str, str], Lane] = {}

        def workload_lane(namespace: Any, workload: str) -> Lane:
            """The lane of ``kind/name`` (a bare name is a Deployment's, as before)."""
            kind, _, name = workload.rpartition("/")
            kind = kind or "deployment"
            lane = workloads.get((namespace, kind, name))
            if lane is None:
                title = name if not namespace else f"{namespace}/{name}"
                key = title if kind == "deployment" else f"{kind}:{title}"
                lane = workloads[(namespace, kind, name)] = Lane(
                    key=f"workload:{key}", kind="workload", title=f"{kind}/{title}"
                )
            return lane

        for entry in report.restarts:
            source = source_of.get(entry.journal, 0) if entry.journal else 0
            lane = workload_lane(entry.namespace, entry.workload or entry.deployment)
            t0 = seconds(entry.ts)
            patched = seconds(entry.patched_ts) if entry.patched_ts else None
            rolled = None
            if entry.rollout_seq is not None:
                rolled_ts = self.rollouts.get((source, entry.rollout_seq))
                rolled = seconds(rolled_ts) if rolled_ts else None
            counts = lane.counts
            counts["restarts"] = counts.get("restarts", 0) + 1
            counts[entry.outcome] = counts.get(entry.outcome, 0) + 1
            latency = entry.latency_seconds
            lane.marks.append(
                Mark(
                    t=t0,
                    end=patched,
                    category="restart",
                    outcome=entry.outcome,
                    label="" if latency is None else f"{latency:.1f} s",
                    journal=source,
                    seq=entry.seq,
                    rollout_end=rolled,
                    detail=_restart_detail(entry, jname(source)),
                )
            )
        for row, source in self.workload_points:
            lane = workload_lane(row[_NS], row[_OBJ] or "")
            category = _WORKLOAD_POINTS[row[_KIND]]
            counted = _POINT_COUNTS[category]
            lane.counts[counted] = lane.counts.get(counted, 0) + 1
            where = _short(jname(source) or "")
            label = f"{category} {where}#{row[_SEQ]}" if where else f"{category} #{row[_SEQ]}"
            lane.marks.append(record_mark(row, source, category, label=label))

        lanes = [leadership, *replicas.values(), notes, anomalies]
        lanes += [configmaps[key] for key in sorted(configmaps, key=_sort_key)]
        lanes += [workloads[key] for key in sorted(workloads, key=_sort_key)]
        for lane in lanes:
            lane.marks.sort(key=lambda mark: mark.t)
        return Timeline(
            journals=journals,
            start=start,
            end=end,
            lanes=lanes,
            drills=drills,
            report=report,
            bounds=(
                _clamped(filters.since) if filters.since is not None else None,
                _clamped(filters.until) if filters.until is not None else None,
            ),
        )

    def _window(self, filters: Filters) -> tuple[float, float]:
        start = (
            _clamped(filters.since)
            if filters.since is not None
            else (seconds(self.first_ts) if self.first_ts else 0.0)
        )
        end = (
            _clamped(filters.until)
            if filters.until is not None
            else (seconds(self.last_ts) if self.last_ts else start)
        )
        if end <= start:
            start, end = (start, start + 1.0) if start < _LAST_SECOND else (end - 1.0, end)
        return start, end


#: The last whole second of year 9999, the last a page can show. A float of
#: a later moment (--until 9999-12-31T23:59:59.999998Z) rounds up to year 10000.
_LAST_SECOND = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()


def _clamped(moment: datetime) -> float:
    """``moment`` in seconds since the epoch, at most :data:`_LAST_SECOND`."""
    return min(moment.timestamp(), _LAST_SECOND)


def _sort_key(key: tuple[Any, str]) -> tuple[str, str]:
    return (key[0] or "", key[1])


def _short(journal: str) -> str:
    """A journal's short name for labels: the last path segment."""
    return journal.rstrip("/").rsplit("/", 1)[-1]


def _iso(value: float) -> str:
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _payload(row: Sequence[Any]) -> Any:
    """The typed payload of a row (``None``: unknown kind, or data that is not an object)."""
    import json  # noqa: PLC0415 - only for the few records that need it

    try:
        data = json.loads(row[_DATA]) if isinstance(row[_DATA], str) else {}
    except ValueError:
        return None
    return parse(row[_KIND], data) if isinstance(data, dict) else None


def _text(value: object) -> str:
    """A payload's text field as shown (``""`` when absent or not text)."""
    return value if isinstance(value, str) else ""


def _restart_detail(entry: Any, journal: str | None) -> str:
    where = f"{journal} " if journal else ""
    lines = [
        f"restart of {entry.workload or 'deployment/' + entry.deployment} — {where}seq {entry.seq}",
        f"planned {entry.ts} by {entry.actor} "
        + (
            "(no leader election)"
            if entry.leader_epoch is None
            else f"(epoch {entry.leader_epoch})"
        ),
        f"{source_object(entry.configmap) or 'configmap/?'}, "
        f"data hash {(entry.data_hash or '?')[:16]}",
        f"outcome {entry.outcome}"
        + (f" at seq {entry.outcome_seq}" if entry.outcome_seq is not None else ""),
    ]
    if entry.patched_ts:
        lines.append(f"patched {entry.patched_ts}")
    if entry.latency_seconds is not None:
        lines.append(
            f"change to patch {entry.latency_seconds:.3f} s (change seq {entry.change_seq})"
        )
    if entry.retries:
        lines.append(f"retries {entry.retries}")
    if entry.rollout:
        lines.append(f"rollout {entry.rollout} (seq {entry.rollout_seq})")
    if entry.correlation_id:
        lines.append(f"correlation {entry.correlation_id}")
    return "\n".join(lines)


def _coverage(
    intervals: Sequence[tuple[float, float]], start: float, end: float
) -> Iterator[tuple[float, float, int]]:
    """Yield ``(from, to, leaders)`` stretches of the window, after the first term began."""
    if not intervals:
        return
    events: list[tuple[float, int]] = []
    for t0, t1 in intervals:
        events.append((max(t0, start), 1))
        events.append((min(max(t1, t0), end), -1))
    events.sort()
    count = 0
    previous = events[0][0]
    for moment, delta in events:
        if moment > previous:
            yield previous, moment, count
            previous = moment
        count += delta
    if previous < end:
        yield previous, end, count


def build_timeline(
    journals: Sequence[Journal],
    filters: Filters | None = None,
    *,
    debounce_seconds: float | None = None,
    leaderless_gap_seconds: float = DEFAULT_LEADERLESS_GAP_SECONDS,
    labels: Sequence[str] | None = None,
) -> Timeline:
    """Replay ``journals`` and collect the picture's marks in the same single pass.

    Args:
        journals: Open journals; several (or a central journal's chains) are
            merged into one time-ordered view.
        filters: The window (``since``, ``until``) and ``correlation_id``.
        debounce_seconds: As for :func:`journal.replay.replay`.
        leaderless_gap_seconds: As for :func:`journal.replay.replay`.
        labels: The journals' names on the page (default: their locations).
    """
    filters = filters or Filters()
    names = list(labels) if labels else [journal.location.display for journal in journals]
    projector = Projector(
        journals=names,
        debounce_seconds=debounce_seconds,
        leaderless_gap_seconds=leaderless_gap_seconds,
        recorded_debounce=recorded_debounce(journals, filters),
    )
    collector = Collector(names)
    if len(journals) == 1 and not journals[0].holds_streams():
        pages = journals[0].scan_pages(filters, columns=REPLAY_COLUMNS, page_size=_PAGE_SIZE)
        for page in pages:
            projector.feed_page(page)
            collector.feed_page(page)
    else:
        rows = merged_rows(journals, filters, REPLAY_COLUMNS, page_size=_PAGE_SIZE)
        projector.feed_all(collector.tap(rows))
    return collector.finish(projector.finish(filters), filters)


__all__ = ["Collector", "Lane", "Mark", "Timeline", "build_timeline", "describe_row", "seconds"]
