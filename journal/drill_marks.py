"""Drill marks: the ``operator.note`` records that start and end a DR drill.

A mark is placed among the records it is compared with by seq when they are
of its own chain (one journal's, or one stream's of a central journal, whose
seqs follow the order of shipping), by time otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from journal.timefmt import format_ts
from records import OperatorNote

if TYPE_CHECKING:
    from journal.record import Record


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
