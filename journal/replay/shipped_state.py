"""``replay --at T --cluster C``: one cluster's state from a central journal.

A central journal (``shipshape-journal ship``) holds, besides its own chain,
one shipped stream per source journal: a cluster has one per replica, and
another when a replica's journal was started anew. The cluster's state as of
T is rebuilt from its streams, merged by time as ``replay`` merges replicas'
journals (each stream in its own order), so the latest observation of an
object wins whichever replica journaled it; the central's own chain is not
read. Each list digest is checked against the objects its own stream (its
replica) recovered, as its replica computed it, so a mismatch still means a
record of that stream is missing or changed.

The seqs reported are the central journal's (those ``tail --cluster C``
shows); each shipped item also names its ``stream`` and ``stream_seq`` (its
source's seq).

A stream shipped only after its source's ``vacuum`` lacks the records that
vacuum removed: it starts from the state that vacuum's tombstone keeps
(shipped in the stream), and a moment before the end of the removed records
is refused. Vacuums of a source after it was shipped removed nothing from
the central journal, whose copies stay whole (a central journal holding
streams cannot be vacuumed itself).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from journal.errors import JournalValueError
from journal.filters import Filters
from journal.merge import clusters
from journal.models import records
from journal.reading import RECORD_COLUMNS, row_to_record
from journal.replay.state import STATE_KINDS, StateProjector, answer
from journal.timefmt import format_ts, parse_ts
from records import kinds
from records.leadership import JournalVacuumed

if TYPE_CHECKING:
    from datetime import datetime

    from journal.record import Record
    from journal.replay.state import StateAt
    from journal.store import Journal

#: Where a stream's records stand in the merge: ``(ts text, stream index, record or seed)``.
_Item = tuple[str, int, Any]


def cluster_state_at(
    journal: Journal,
    at: datetime,
    *,
    cluster: str | None,
    actor: str | None,
    namespace: str | None = None,
    workload: str | None = None,
) -> StateAt:
    """Rebuild one cluster's objects' hashes as of ``at`` from its shipped streams.

    The streams are the cluster's (``cluster``), or the ones holding a record
    ``actor`` wrote (one replica's journals); both narrow together.

    Raises:
        JournalValueError: The journal holds no shipped streams; neither
            ``cluster`` nor ``actor`` is given; the streams they select belong to
            several clusters; or ``at`` falls within records a source's vacuum
            removed before they were shipped.
    """
    display = journal.location.display
    if not journal.holds_streams():
        raise JournalValueError(
            f"--at with --cluster or --actor reads a central journal's shipped streams; "
            f"{display} holds none (a replica's journal is its own state: drop them)"
        )
    chosen = _streams(journal, Filters(cluster=cluster, actor=actor))
    chosen_clusters = sorted({name for _stream, name in chosen})
    if cluster is None and actor is None:
        everything = clusters([journal], Filters())
        raise JournalValueError(
            f"{display} holds records shipped from {len(everything)} "
            f"cluster{'s' if len(everything) != 1 else ''} ({', '.join(everything)}), each "
            "with its own state: give --at with --cluster NAME"
        )
    if len(chosen_clusters) > 1:
        raise JournalValueError(
            f"the streams selected hold records of {len(chosen_clusters)} clusters "
            f"({', '.join(chosen_clusters)}), each with its own state: "
            "give --at with --cluster NAME"
        )
    if not chosen:
        raise JournalValueError(
            f"no shipped stream of {display} holds records of both --cluster {cluster} "
            f"and --actor {actor}"
        )
    merged = StateProjector(check_lists=False)
    per_stream: dict[str, StateProjector] = {}
    read: dict[str, dict[str, Any]] = {}
    sources = []
    for index, (stream, _cluster) in enumerate(chosen):
        per_stream[stream] = StateProjector()
        seed = _seed(journal, stream, at)
        read[stream] = {
            "stream": stream,
            "records": 0,
            "through_seq": None,
            "through_stream_seq": None,
            "vacuumed": None if seed is None else seed[1],
        }
        sources.append(_stream_items(journal, stream, index, at, seed))
    for _ts, _index, item in heapq.merge(*sources, key=lambda entry: (entry[0], entry[1])):
        if isinstance(item, tuple):  # a source's tombstone: its state stands for the removed
            stream, state = item
            merged.seed(state, stream=stream)
            per_stream[stream].seed(state, stream=stream)
            continue
        merged.feed(item)
        per_stream[item.stream].feed(item)
        done = read[item.stream]
        done["records"] += 1
        done["through_seq"], done["through_stream_seq"] = item.seq, item.stream_seq
    merged.through_seq = max((done["through_seq"] or 0 for done in read.values()), default=0)
    lists = [
        projector.lists[resource]
        for _stream, projector in sorted(per_stream.items())
        for resource in sorted(projector.lists)
    ]
    state = answer(merged, lists, journal, at, namespace, workload, None)
    return replace(
        state, cluster=chosen_clusters[0], streams=[read[stream] for stream, _cluster in chosen]
    )


def _streams(journal: Journal, scope: Filters) -> list[tuple[str, str]]:
    """Return ``(stream, cluster)`` of every shipped stream with a record ``scope`` matches."""
    with journal.transaction() as connection:
        rows = connection.execute(
            select(records.c.stream, records.c.cluster)
            .where(records.c.stream.is_not(None), *scope.conditions(records))
            .distinct()
        ).all()
    return sorted((row[0], row[1]) for row in rows)


def _seed(
    journal: Journal, stream: str, at: datetime
) -> tuple[tuple[str, list[Any] | None], dict[str, Any]] | None:
    """The state a stream starts from, when its source was vacuumed before it was shipped.

    Returns ``((last removed ts, state or None), vacuumed)``, or ``None`` when
    the stream starts with its source's first record.

    Raises:
        JournalValueError: ``at`` is before the end of the records removed.
    """
    with journal.transaction() as connection:
        first = connection.execute(
            select(func.min(records.c.stream_seq)).where(records.c.stream == stream)
        ).scalar()
    if first is None or first <= 1:
        return None
    removed_before = first - 1
    tombstone = None
    for row in journal.scan(
        Filters(kinds=(kinds.JOURNAL_VACUUMED,), stream=stream), columns=RECORD_COLUMNS
    ):
        record = row_to_record(row)
        if JournalVacuumed.from_data(record.data).last_removed_seq == removed_before:
            tombstone = record
            break
    if tombstone is None:
        vacuumed = {
            "seq": None,
            "last_removed_seq": removed_before,
            "last_removed_ts": None,
            "state_kept": False,
        }
        return ("", None), vacuumed
    vacuum = JournalVacuumed.from_data(tombstone.data)
    state = vacuum.state if isinstance(vacuum.state, list) else None
    if format_ts(at) < vacuum.last_removed_ts:
        raise JournalValueError(
            f"--at {format_ts(at)} is before the end of the records vacuumed from the source "
            f"of stream {stream} before it was shipped (its seq {removed_before}, "
            f"{vacuum.last_removed_ts}): the central journal does not hold that state"
        )
    vacuumed = {
        "seq": tombstone.seq,
        "last_removed_seq": removed_before,
        "last_removed_ts": vacuum.last_removed_ts,
        "state_kept": state is not None,
    }
    return (vacuum.last_removed_ts, state), vacuumed


def _stream_items(
    journal: Journal,
    stream: str,
    index: int,
    at: datetime,
    seed: tuple[tuple[str, list[Any] | None], dict[str, Any]] | None,
) -> Iterator[_Item]:
    """One stream's merge entries: its kept state first (if any), then its records to ``at``."""
    if seed is not None:
        (ts, state), _vacuumed = seed
        if state is not None:
            yield format_ts(parse_ts(ts)), index, (stream, state)
    rows = journal.scan(Filters(kinds=STATE_KINDS, stream=stream, until=at), columns=RECORD_COLUMNS)
    for row in rows:
        record: Record = row_to_record(row)
        yield row[2], index, record
