"""Several replicas' journals as one time-ordered view.

Each replica of the controller keeps its own journal. Merging streams each
journal in seq order and interleaves them by timestamp (ties in the order the
journals were given), holding one page per journal in memory. Seqs stay
per-journal: a merged record is told apart by the journal it came from.

A central journal (``shipshape-journal ship``) is several journals in one:
its own chain and one shipped stream per source, copied one batch after
another, so its seq order is the order of shipping, not of events. Its
chains are merged by time too, each in its own order (the records keep the
central's seqs).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from dataclasses import replace
from itertools import repeat
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from journal.filters import Filters
from journal.models import records
from journal.store import PAGE_SIZE, RECORD_COLUMNS, row_to_record

if TYPE_CHECKING:
    from journal.record import Record
    from journal.store import Journal


def journal_rows(
    journal: Journal,
    filters: Filters,
    columns: Sequence[Any],
    *,
    ts_index: int,
    after_seq: int = 0,
    page_size: int = PAGE_SIZE,
) -> Iterator[Sequence[Any]]:
    """Stream one journal's rows for a merged view: a central journal's chains merged by time.

    ``columns[ts_index]`` must be ``ts``. An embedded journal (or a filter
    naming one chain) reads in seq order.
    """
    if filters.stream is not None or not journal.holds_streams():
        yield from journal.scan(filters, after_seq=after_seq, columns=columns, page_size=page_size)
        return
    chains = [
        journal.scan(
            replace(filters, stream=stream),
            after_seq=after_seq,
            columns=columns,
            page_size=page_size,
        )
        for stream in ["", *journal.shipped_streams(filters)]
    ]
    yield from heapq.merge(*chains, key=lambda row: row[ts_index])


def clusters(journals: Sequence[Journal], filters: Filters) -> list[str]:
    """Return the clusters whose shipped records ``filters`` select, by name."""
    found: set[str] = set()
    for journal in journals:
        if filters.cluster is not None or not journal.holds_streams():
            continue
        with journal.transaction() as connection:
            rows = connection.execute(
                select(records.c.cluster)
                .where(records.c.cluster.is_not(None), *filters.conditions(records))
                .distinct()
            ).all()
        found.update(row[0] for row in rows)
    return sorted(found)


def unknown_origins(journals: Sequence[Journal], filters: Filters) -> list[str]:
    """Name each ``cluster`` and ``actor`` filter that no record of ``journals`` carries.

    Such a filter matches nothing whatever the other filters and the time:
    a misspelt name, which would otherwise read as "nothing happened". One
    line each, naming the clusters the journals do hold (there are few, and
    the column is indexed); actors are not listed (a journal may hold many).
    """
    problems: list[str] = []
    if filters.cluster is not None and not _carried(journals, records.c.cluster, filters.cluster):
        held = clusters(journals, Filters())
        holds = f"it holds {', '.join(held)}" if held else "it holds no shipped records"
        problems.append(f"--cluster {filters.cluster}: no record was shipped from it ({holds})")
    if filters.actor is not None and not _carried(journals, records.c.actor, filters.actor):
        problems.append(f"--actor {filters.actor}: no record was written by it")
    return problems


def _carried(journals: Sequence[Journal], column: Any, value: str) -> bool:
    """Whether any record of ``journals`` has ``value`` in ``column``."""
    for journal in journals:
        with journal.transaction() as connection:
            found = connection.execute(select(records.c.seq).where(column == value).limit(1))
            if found.first() is not None:
                return True
    return False


def shared_record(journals: Sequence[Journal]) -> tuple[int, int, str] | None:
    """Find two journals holding one record: ``(index, later index, record id)``, or None.

    Ids are unique, so a record held twice is one record: the two are one
    journal, copies of one (a backup, a vacuumed copy), or a central journal
    and a journal shipped into it. Merged, its records would count twice.

    Two such journals hold ranges of one chain, each contiguous but for the
    vacuum's tombstone (a central journal: one range per shipped stream); two
    ranges that overlap hold the later one's first record. So each chain's
    first (and last) record, looked up in the other journals by the unique
    index on ``id``, finds the overlap without reading every record.
    """
    if len(journals) < 2:
        return None
    for index, journal in enumerate(journals):
        ends = _chain_ends(journal)
        if not ends:
            continue
        for other_index, other in enumerate(journals):
            if other_index == index:
                continue
            with other.transaction() as connection:
                found = connection.execute(
                    select(records.c.id).where(records.c.id.in_(ends)).limit(1)
                ).scalar()
            if found is not None:
                return min(index, other_index), max(index, other_index), found
    return None


def _chain_ends(journal: Journal) -> list[str]:
    """The ids of the first and last record of each chain of a journal (its own, each stream)."""
    chains = [records.c.stream.is_(None)]
    chains += [records.c.stream == stream for stream in journal.shipped_streams()]
    ends: list[str] = []
    with journal.transaction() as connection:
        for chain in chains:
            for order in (records.c.seq.asc(), records.c.seq.desc()):
                found = connection.execute(
                    select(records.c.id).where(chain).order_by(order).limit(1)
                ).scalar()
                if found is not None and found not in ends:
                    ends.append(found)
    return ends


def merged_rows(
    journals: Sequence[Journal],
    filters: Filters,
    columns: Sequence[Any],
    *,
    page_size: int = PAGE_SIZE,
) -> Iterator[tuple[int, Sequence[Any]]]:
    """Stream ``(journal index, row)`` merged by time; ``columns`` must be (seq, ts, ...)."""
    if len(journals) == 1:
        rows = journal_rows(journals[0], filters, columns, ts_index=1, page_size=page_size)
        yield from zip(repeat(0), rows)
        return

    def tagged(index: int, journal: Journal) -> Iterator[tuple[str, int, Sequence[Any]]]:
        for row in journal_rows(journal, filters, columns, ts_index=1, page_size=page_size):
            yield row[1], index, row

    streams = [tagged(index, journal) for index, journal in enumerate(journals)]
    for _ts, index, row in heapq.merge(*streams, key=lambda item: (item[0], item[1])):
        yield index, row


def merged_records(
    journals: Sequence[Journal], filters: Filters, after: Sequence[int] | None = None
) -> Iterator[tuple[int, Record]]:
    """Stream ``(journal index, record)`` merged by time, each after its cursor in ``after``."""
    cursors = list(after) if after is not None else [0] * len(journals)

    def tagged(index: int, journal: Journal) -> Iterator[tuple[str, int, Record]]:
        rows = journal_rows(journal, filters, RECORD_COLUMNS, ts_index=2, after_seq=cursors[index])
        for row in rows:
            yield row[2], index, row_to_record(row)

    streams = [tagged(index, journal) for index, journal in enumerate(journals)]
    for _ts, index, record in heapq.merge(*streams, key=lambda item: (item[0], item[1])):
        yield index, record


def merged_last(
    journals: Sequence[Journal], filters: Filters, n: int, after: Sequence[int] | None = None
) -> list[tuple[int, Record]]:
    """Return the last ``n`` matching records of the merged view, oldest first.

    The order is :func:`merged_records`': each journal's records in seq order
    (a central journal's shipped streams interleave in time, not in seq),
    the journals merged by time.
    """
    if n <= 0:
        return []
    cursors = list(after) if after is not None else [0] * len(journals)
    tails = [
        [(record.ts, index, record) for record in journal.last(n, filters, after_seq=cursor)]
        for index, (journal, cursor) in enumerate(zip(journals, cursors, strict=True))
    ]
    merged = list(heapq.merge(*tails, key=lambda item: (item[0], item[1])))
    return [(index, record) for _ts, index, record in merged[-n:]]
