"""A central journal's shipped rows held to its own ``journal.shipped`` records.

A shipped row's ``cluster`` and ``stream`` columns are not covered by its hash
(the source's, which knows neither), so a chain walk alone cannot tell a row
relabelled in the database. ``ship`` states, in the central journal's own
chain and in the transaction that copies the rows, what it copied: the
stream, its cluster, the stream seq range and the hash of the last record
copied (:class:`records.JournalShipped`). :func:`check_labels` holds every
shipped row to those statements:

- a row inside a stated range must carry the stated cluster;
- the row at a stated range's end must have the stated hash, which ties the
  stream's name to its contents (the stream's chain, verified on its own,
  vouches for the records before it), and must be there at all;
- a row no statement covers fails, unless it was shipped before the stream's
  first statement: a stream an older ``ship`` began. Such rows, and whole
  streams without any statement, are not vouched for; they must still carry
  the cluster their stream's name begins with (``CLUSTER/ID``), and the
  streams without any statement are counted so that ``verify`` can say so.

Because the statements are records of the own chain, a forger who rewrites
labels must rewrite them too, which breaks the own chain's hashes and, when
it is signed, its checkpoints (``verify --public-key``).
"""

from __future__ import annotations

import json
from bisect import bisect_right
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from journal.filters import Filters
from journal.models import records
from records import JournalShipped, kinds

if TYPE_CHECKING:
    from journal.store import Journal


@dataclass(frozen=True)
class LabelCheck:
    """The outcome of :func:`check_labels`.

    Attributes:
        bad_seq: The (central) seq of the first offending record, or ``None``.
        reason: Why, in one line, when ``bad_seq`` is set.
        unrecorded: Shipped streams holding records no ``journal.shipped``
            record covers (shipped by an older version, before the stream's
            first statement): those records' labels are not vouched for.
        absent: ``(stream, cluster)`` of each stream the statements name
            and the journal holds no record of, in a copy (a scoped export
            leaves other clusters' streams out); in a live journal that fails.
    """

    bad_seq: int | None = None
    reason: str | None = None
    unrecorded: int = 0
    absent: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class _Statement:
    """One ``journal.shipped`` record: where it is, and what it says was shipped."""

    seq: int
    first: int
    last: int
    cluster: str
    last_hash: str


@dataclass
class _Run:
    """Consecutive offending rows of one stream, reported as one range."""

    bad_seq: int
    first: int
    last: int
    found: str
    expected: str


#: What a row no statement covers is expected to carry: never a cluster name.
_UNCOVERED = "/"


def check_labels(journal: Journal) -> LabelCheck:
    """Hold every shipped row to the journal's ``journal.shipped`` records.

    Rows appended after the head is read here (a ship committing meanwhile)
    are left for the next verify: each is committed with its statement.
    """
    with journal.transaction() as connection:
        through = connection.execute(select(func.max(records.c.seq))).scalar() or 0
    streams = journal.shipped_streams(through=through)
    stated: dict[str, list[_Statement]] = {}
    for seq, data in journal.scan(
        Filters(kinds=(kinds.JOURNAL_SHIPPED,), stream=""), columns=(records.c.seq, records.c.data)
    ):
        if seq > through:
            break
        payload = _payload(data)
        if payload is None:
            return LabelCheck(seq, "a journal.shipped record is malformed (record edited)")
        stream, statement = payload
        stated.setdefault(stream, []).append(replace(statement, seq=seq))
    # Streams stated and not held at all: deleted, in the live journal. A copy
    # (``export dr-drill --cluster`` evidence) holds the own chain whole and
    # only its scope's streams: there they are reported, not failed.
    absent = sorted(set(stated) - set(streams))
    if absent and journal.is_live():
        return _deleted(absent, stated)
    unrecorded = 0
    for stream in streams:
        statements = sorted(stated.get(stream, ()), key=lambda item: item.first)
        finding, unstated = _check_stream(journal, stream, statements, through)
        if finding is not None:
            return finding
        unrecorded += unstated
    return LabelCheck(
        unrecorded=unrecorded, absent=tuple((name, stated[name][0].cluster) for name in absent)
    )


def _deleted(absent: list[str], stated: dict[str, list[_Statement]]) -> LabelCheck:
    """The finding for streams a live journal's statements name and it holds none of."""
    stream = absent[0]
    statements = stated[stream]
    first, last = min(s.first for s in statements), max(s.last for s in statements)
    more = f" (and {len(absent) - 1} more stream(s) so)" if len(absent) > 1 else ""
    return LabelCheck(
        statements[0].seq,
        f"stream {stream} (cluster {statements[0].cluster}): the journal.shipped records "
        f"from seq {statements[0].seq} say stream seq {first}..{last} was shipped, and none "
        f"of its records is here (deleted){more}",
    )


def _payload(data: Any) -> tuple[str, _Statement] | None:
    """(stream, statement) of a ``journal.shipped`` record's data, or ``None`` when malformed."""
    try:
        parsed = json.loads(data)
    except (TypeError, ValueError):
        return None
    if not isinstance(parsed, dict):
        return None
    shipped = JournalShipped.from_data(parsed)
    first, last = shipped.first_stream_seq, shipped.last_stream_seq
    texts = (shipped.stream, shipped.cluster, shipped.last_hash)
    if not all(isinstance(text, str) for text in texts) or not _seq(first) or not _seq(last):
        return None
    if first > last:
        return None
    return shipped.stream, _Statement(0, first, last, shipped.cluster, shipped.last_hash)


def _seq(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _check_stream(
    journal: Journal, stream: str, statements: list[_Statement], through: int
) -> tuple[LabelCheck | None, bool]:
    """The first offence among one stream's rows (or ``None``), and whether rows were unstated."""
    clusters = sorted({statement.cluster for statement in statements})
    if len(clusters) > 1:
        return LabelCheck(
            statements[0].seq,
            f"stream {stream}: its journal.shipped records name clusters {', '.join(clusters)}",
        ), False
    starts = [statement.first for statement in statements]
    ends = {statement.last: statement for statement in statements}
    began = min((statement.seq for statement in statements), default=None)
    # Rows shipped before any statement: their stream's cluster, or the one
    # its name begins with (CLUSTER/ID) when no statement speaks of it.
    fallback = clusters[0] if clusters else stream.split("/", 1)[0]
    seen: set[int] = set()
    unstated = False
    run: _Run | None = None
    columns = (records.c.seq, records.c.stream_seq, records.c.cluster, records.c.hash)
    for seq, stream_seq, cluster, digest in journal.scan(Filters(stream=stream), columns=columns):
        if seq > through:
            break
        expected, stated = _expected(statements, starts, (seq, stream_seq), began, fallback)
        unstated = unstated or not stated
        if run is not None:
            if cluster == run.found and expected == run.expected and stream_seq == run.last + 1:
                run.last = stream_seq
                continue
            break
        ended = ends.get(stream_seq)
        if ended is not None:
            seen.add(stream_seq)
            if digest != ended.last_hash:
                return LabelCheck(
                    seq,
                    f"stream {stream}: stream seq {stream_seq} is not the record the "
                    f"journal.shipped record at seq {ended.seq} says was shipped (its hash "
                    "differs: records changed and re-chained, or moved from another stream)",
                ), unstated
        if cluster != expected:
            run = _Run(seq, stream_seq, stream_seq, str(cluster), expected)
    if run is not None:
        return LabelCheck(run.bad_seq, _offence(stream, run, statements)), unstated
    return _missing_end(stream, statements, seen), unstated


def _expected(
    statements: list[_Statement],
    starts: list[int],
    row: tuple[int, int],
    began: int | None,
    fallback: str,
) -> tuple[str, bool]:
    """The cluster a row (seq, stream seq) must carry (or :data:`_UNCOVERED`), and if stated."""
    seq, stream_seq = row
    index = bisect_right(starts, stream_seq) - 1
    if index >= 0 and stream_seq <= statements[index].last:
        return statements[index].cluster, True
    if began is not None and seq > began:
        return _UNCOVERED, True  # shipped since ship states what it ships: it must be stated
    return fallback, False


def _missing_end(stream: str, statements: list[_Statement], seen: set[int]) -> LabelCheck | None:
    """A statement whose last stream seq the stream lacks (a shipped record removed)."""
    for statement in statements:
        if statement.last not in seen:
            return LabelCheck(
                statement.seq,
                f"stream {stream}: the journal.shipped record at seq {statement.seq} says "
                f"stream seq {statement.first}..{statement.last} was shipped, but stream seq "
                f"{statement.last} is missing",
            )
    return None


def _offence(stream: str, run: _Run, statements: list[_Statement]) -> str:
    span = f"{run.first}" if run.first == run.last else f"{run.first}..{run.last}"
    where = f"stream {stream}: stream seq {span} labelled cluster {run.found}"
    if run.expected == _UNCOVERED:
        return f"{where}: no journal.shipped record covers it (labels not vouched for)"
    if statements:
        return f"{where}, but the journal.shipped records say cluster {run.expected}"
    return f"{where}, but the stream's name says cluster {run.expected}"
