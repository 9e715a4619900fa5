"""Drill marks: the ``operator.note`` records that start and end a DR drill.

A mark is placed among the records it is compared with by seq when they are
of its own chain (one journal's, or one stream's of a central journal, whose
seqs follow the order of shipping), by time otherwise.

:func:`vacuumed_baseline` gives what a vacuum removed from before the start
mark: the data hashes its tombstone kept, the RPO's starting point.

:func:`clock_check` tells whether several replicas' clocks agree well
enough for their marks and observations to be placed by time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from journal.filters import Filters
from journal.merge import merged_records
from journal.replay.clocks import compare_clocks
from journal.timefmt import format_ts
from records import JournalVacuumed, OperatorNote, kinds

if TYPE_CHECKING:
    from collections.abc import Sequence

    from journal.record import Record
    from journal.store import Journal


@dataclass(frozen=True)
class Mark:
    """A drill mark (an ``operator.note`` with ``data.drill``)."""

    seq: int
    ts: datetime
    actor: str
    text: str
    scenario: str | None
    source: int = 0
    journal: str | None = None  # named only when several journals are judged
    chain: str | None = None  # a central journal's shipped stream the mark is in
    chain_seq: int | None = None  # its seq in that stream (its source's)

    def to_json(self) -> dict[str, Any]:
        """Return the mark as a JSON object."""
        document = {
            "seq": self.seq,
            "ts": format_ts(self.ts),
            "actor": self.actor,
            "text": self.text,
            "scenario": self.scenario,
        }
        if self.journal is not None:
            document["journal"] = self.journal
        return document

    def cite(self) -> str:
        """Return ``seq N`` and, with several journals, ``[JOURNAL]``."""
        return f"seq {self.seq}" + (f" [{self.journal}]" if self.journal else "")

    def precedes(self, source: int, record: Record) -> bool:
        """Tell whether the mark comes before a record (same chain: seq; else: time).

        A central journal's chains (its own, each shipped stream) are told
        apart: its seqs follow the order of shipping, not of events.
        """
        if self._same_chain(source, record):
            return self.seq < record.seq
        return self.ts < record.ts

    def follows(self, source: int, record: Record) -> bool:
        """Tell whether the mark comes after a record (same chain: seq; else: time)."""
        if self._same_chain(source, record):
            return self.seq > record.seq
        return self.ts > record.ts

    def _same_chain(self, source: int, record: Record) -> bool:
        return source == self.source and record.stream == self.chain


def mark_of(record: Any, source: int = 0, journal: str | None = None) -> Mark:
    note = OperatorNote.from_data(record.data)
    scenario, text = note.scenario, note.text
    return Mark(
        seq=record.seq,
        ts=record.ts,
        actor=record.actor,
        text=text if isinstance(text, str) else "",
        scenario=scenario if isinstance(scenario, str) else None,
        source=source,
        journal=journal,
        chain=record.stream,
        chain_seq=record.stream_seq,
    )


def vacuumed_baseline(
    journals: Sequence[Journal], start: Mark, names: Sequence[str] | None = None
) -> dict[tuple[str | None, str], dict[str, Any]]:
    """Return each ConfigMap's (and Secret's) last data hash before the start that a vacuum removed.

    A vacuum removes the records but its tombstone keeps the state as of its
    last removed record: a ConfigMap last observed in removed records still
    has to be seen again by the end mark. The latest tombstone of each chain
    counts (whenever the vacuum ran), each of its rows only if its record came
    before the start mark. Keyed as the RPO keys observations (namespace, name).
    """
    latest: dict[tuple[int, str | None], tuple[int, Record]] = {}
    for index, record in merged_records(journals, Filters(kinds=(kinds.JOURNAL_VACUUMED,))):
        removed = JournalVacuumed.from_data(record.data).last_removed_seq
        chain = (index, record.stream)
        if isinstance(removed, int) and (chain not in latest or removed > latest[chain][0]):
            latest[chain] = (removed, record)
    found = []
    for (index, stream), (_removed, record) in latest.items():
        state = JournalVacuumed.from_data(record.data).state
        for row in state if isinstance(state, list) else ():
            if not (isinstance(row, list) and len(row) == 5 and isinstance(row[1], str)):
                continue
            namespace, obj, digest, seq, ts = row
            if not obj.startswith(("configmap/", "secret/")) or not isinstance(ts, str):
                continue
            if not _before_start(start, index, stream, seq, ts):
                continue
            seen = {"seq": seq, "ts": ts, "data_hash": digest, "vacuumed_by": record.seq}
            if names is not None:
                seen["journal"] = names[index]
            found.append((ts, namespace, obj.removeprefix("configmap/"), seen))
    found.sort(key=lambda item: item[0])
    return {(namespace, name): seen for _ts, namespace, name, seen in found}


def _before_start(start: Mark, source: int, stream: str | None, seq: Any, ts: str) -> bool:
    """Tell whether a removed record (a tombstone's state row) came before the start mark.

    In the mark's own chain by seq (a shipped stream's rows carry its
    source's seqs), elsewhere by time.
    """
    limit = start.chain_seq if start.chain is not None else start.seq
    if source == start.source and stream == start.chain and isinstance(seq, int) and limit:
        return seq < limit
    return ts < format_ts(start.ts)


#: How far before the drill the replicas' clocks are compared.
CLOCK_LOOKBACK = timedelta(hours=1)


def clock_check(
    journals: Sequence[Journal], names: Sequence[str], start: Mark, end: Mark | None
) -> tuple[list[dict[str, Any]], list[str]]:
    """The replicas' clock offsets around the drill, and the reasons they fail it.

    Marks and observations in different journals are placed by their
    writers' clocks; one running ahead can move an observation made before
    the start mark to after it and have the RPO claimed met. The offsets are
    measured (:mod:`journal.replay.clocks`) from an hour before the start to
    the end mark; a ``clock_skew`` among them fails the drill.
    """
    since = min(start.ts, end.ts) if end is not None else start.ts
    until = max(start.ts, end.ts) if end is not None else None
    window = Filters(since=since - CLOCK_LOOKBACK, until=until)
    offsets, skews = compare_clocks(journals, window, names)
    reasons = [
        f"clocks: {skew['message']}; marks and observations in different journals "
        "cannot be placed around each other"
        for skew in skews
    ]
    return offsets, reasons
