"""Verification of the hash chain: edits, deletions and reordering.

Walking the records in seq order, each record must

1. follow the previous one without a gap (seq + 1),
2. carry the previous record's hash as its ``prev_hash`` (``GENESIS`` for seq 1),
3. hash to its own ``hash`` (:mod:`journal.chain`).

The only accepted gap is the one retention leaves at the start: the latest
``journal.vacuumed`` tombstone names the last removed seq and its hash, and
the first kept record must continue exactly from there. The walk stops at the
first bad seq and says why.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from journal.chain import GENESIS, canonical_json, record_hash_of_text
from journal.filters import Filters
from journal.high_water import recorded_high_water
from journal.models import records
from journal.record import FIELDS
from journal.shipped import check_labels
from journal.timefmt import is_canonical_ts
from records import JournalVacuumed, kinds

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from journal.store import Journal


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of :func:`verify`.

    Attributes:
        ok: Whether the whole chain verified.
        records: Records checked (up to the bad one when not ``ok``).
        head_seq: Seq of the last good record (0 when none).
        head_hash: Hash of the last good record (``GENESIS`` when none).
        first_seq: The lowest seq in the journal, or ``None`` when empty.
        vacuumed_through: Last seq removed by retention, if any.
        bad_seq: The first bad seq, when not ``ok``.
        reason: Why that seq is bad, when not ``ok``.
        streams: Shipped streams walked besides the journal's own chain
            (a central journal's; 0 for an embedded one).
        unlabelled_streams: Of ``streams``, those whose labels (cluster,
            stream) no ``journal.shipped`` record vouches for: shipped by an
            older version (:mod:`journal.shipped`).
        own_records: Of ``records``, the journal's own chain's (whose head
            ``head_hash`` is), when it holds streams too.
        absent_streams: ``(stream, cluster)`` of the streams the own chain
            says were shipped and this copy does not hold (a scoped export).
    """

    ok: bool
    records: int
    head_seq: int
    head_hash: str
    first_seq: int | None = None
    vacuumed_through: int | None = None
    bad_seq: int | None = None
    reason: str | None = None
    streams: int = 0
    own_records: int | None = None
    unlabelled_streams: int = 0
    absent_streams: tuple[tuple[str, str], ...] = ()

    def summary(self) -> str:
        """Return the one-line verdict ``verify`` prints.

        A central journal's also says which chain the head is of: its own
        (the genesis hash while it has no record of its own), not a stream's.
        """
        if self.ok:
            line = f"OK: {self.records} records, head {self.head_hash}"
            if self.streams:
                own = self.own_records or 0
                line += (
                    f" (own chain: {_count(own, 'record')}; "
                    f"{_count(self.streams, 'shipped stream')}: "
                    f"{_count(self.records - own, 'record')})"
                )
            return line
        return f"FAILED: seq {self.bad_seq}: {self.reason}"

    def shipped_lines(self) -> str | None:
        """The lines about shipped streams: labels nothing vouches for, streams not held."""
        if not self.ok:
            return None
        lines = []
        if self.unlabelled_streams:
            lines.append(
                f"labels not covered: the cluster and stream labels of "
                f"{_count(self.unlabelled_streams, 'shipped stream')} (shipped by an older "
                "version, without journal.shipped records) are not vouched for"
            )
        if self.absent_streams:
            clusters = sorted({cluster for _stream, cluster in self.absent_streams})
            lines.append(
                f"not in this copy: {_count(len(self.absent_streams), 'shipped stream')} "
                f"of cluster(s) {', '.join(clusters)} that the own chain says were shipped "
                "(an export scoped to other clusters leaves them out; the live journal "
                "must hold them)"
            )
        return "\n".join(lines) or None

    def to_json(self) -> dict[str, Any]:
        """Return the result as a JSON object (for manifests and ``-o json``)."""
        return {
            "ok": self.ok,
            "records": self.records,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "first_seq": self.first_seq,
            "vacuumed_through": self.vacuumed_through,
            "bad_seq": self.bad_seq,
            "reason": self.reason,
        }


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def tombstone_anchor(journal: Journal, stream: str | None = None) -> tuple[int, str] | None:
    """Return (last removed seq, its hash) from the latest tombstone of a chain, if any.

    ``stream``: a shipped stream's name, ``""`` for the journal's own chain,
    ``None`` for every record (an embedded journal holds only its own).

    A journal's vacuum removes the records before its latest tombstone, but a
    shipped stream keeps every record shipped, so its kept part starts where
    the source stood at the first shipment: after the tombstone naming the seq
    just before the stream's first record, which a later vacuum of the source
    (shipped too) does not replace. That one is the anchor when there is one.
    """
    filters = Filters(kinds=(kinds.JOURNAL_VACUUMED,), stream=stream)
    latest = journal.last(1, filters)
    if not stream or not latest:
        return _anchor(latest[0].data) if latest else None
    with journal.transaction() as connection:
        first = connection.execute(
            select(func.min(records.c.stream_seq)).where(records.c.stream == stream)
        ).scalar()
    for row in journal.scan(filters, columns=(records.c.seq, records.c.data)):
        anchor = _anchor(_json(row[1]))
        if anchor is not None and first is not None and anchor[0] == first - 1:
            return anchor
    return _anchor(latest[0].data)


def _anchor(data: Any) -> tuple[int, str] | None:
    """(last removed seq, its hash) of a tombstone's data, if it names both."""
    if not isinstance(data, dict):
        return None
    tombstone = JournalVacuumed.from_data(data)
    through, digest = tombstone.last_removed_seq, tombstone.last_removed_hash
    if is_seq(through) and isinstance(digest, str):
        return through, digest
    return None


def is_seq(value: object) -> bool:
    """Tell whether a value read from a record's data is a seq (JSON ``true`` is not)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


#: A shipped stream's rows: the record columns, then the seq its hashes cover.
STREAM_COLUMNS = (*(records.c[name] for name in FIELDS), records.c.stream_seq)

#: Called with each record that passed the chain checks; returns ``(bad seq,
#: reason)`` to stop the walk there (signed checkpoints, :mod:`journal.checkpoints`).
Observer = Callable[[Sequence[Any]], "tuple[int, str] | None"]


def verify(
    journal: Journal,
    *,
    observe: Observer | None = None,
    observe_stream: Callable[[str], Observer | None] | None = None,
) -> VerifyResult:
    """Walk the whole chain and return where (and why) it first breaks, if anywhere.

    Runs in constant memory with short read transactions, so it may run
    while a writer appends; records appended meanwhile are verified too.
    ``observe`` sees every good record in seq order and may fail the walk;
    ``observe_stream(name)`` gives the observer of a shipped stream's records
    (seq: the stream's own).

    A central journal (``shipshape-journal ship``) holds one chain per shipped
    stream besides its own: each is walked on its own, by the seq its hashes
    cover, and the result counts every chain's records. Then each shipped
    row's labels are held to the own chain's ``journal.shipped`` records
    (:func:`journal.shipped.check_labels`).
    """
    streams = journal.shipped_streams()
    if not streams:
        result = _verify_chain(
            journal.scan(), observe=observe, find_anchor=lambda: tombstone_anchor(journal)
        )
        return _check_end(journal, result)
    own = _verify_chain(
        journal.scan(Filters(stream="")),
        observe=observe,
        find_anchor=lambda: tombstone_anchor(journal, ""),
        interleaved=True,
    )
    if not own.ok:
        return own
    total = own.records
    for stream in streams:
        rows = (
            (row[12], *row[1:12])
            for row in journal.scan(Filters(stream=stream), columns=STREAM_COLUMNS)
        )
        watcher = observe_stream(stream) if observe_stream is not None else None
        result = _verify_chain(
            rows,
            observe=watcher,
            find_anchor=lambda stream=stream: tombstone_anchor(journal, stream),
        )
        if not result.ok:
            return replace(
                result, records=total + result.records, reason=f"stream {stream}: {result.reason}"
            )
        total += result.records
    labels = check_labels(journal)
    if labels.bad_seq is not None:
        return replace(own, ok=False, records=total, bad_seq=labels.bad_seq, reason=labels.reason)
    return _check_end(
        journal,
        replace(
            own,
            records=total,
            streams=len(streams),
            own_records=own.records,
            unlabelled_streams=labels.unrecorded,
            absent_streams=labels.absent,
        ),
    )


def _check_end(journal: Journal, result: VerifyResult) -> VerifyResult:
    """Fail a chain that verified when the database shows records removed from its end.

    A cut at the end leaves every link intact, but the database keeps the
    largest seq ever stored beside the records (:mod:`journal.high_water`:
    ``sqlite_sequence`` on SQLite, ``journal_seq_high_water`` on PostgreSQL).
    A counter above the last seq present names the records deleted behind
    the journal's back.
    """
    if not result.ok:
        return result
    with journal.transaction() as connection:
        counter = recorded_high_water(connection)
        last = connection.execute(select(func.max(records.c.seq))).scalar() or 0
    if not is_seq(counter) or counter <= last:
        return result
    missing = f"{last + 1}" if counter == last + 1 else f"{last + 1}..{counter}"
    where = "sqlite_sequence" if journal.location.is_sqlite else "journal_seq_high_water"
    return replace(
        result,
        ok=False,
        bad_seq=last + 1,
        reason=(
            f"record(s) {missing} missing: the journal's seq counter ({where}) "
            f"says seq {counter} was stored, and the last record is seq {last} "
            "(records removed from the end)"
        ),
    )


def verify_through(connection: Connection, through: int, page_size: int = 1000) -> VerifyResult:
    """Verify an embedded journal's records up to seq ``through`` and the next one's link.

    What ``vacuum`` checks, in its own transaction (``connection``), before it
    removes records 1..``through``: the same walk as :func:`verify`, paged so
    memory stays constant, so a tombstone never vouches for a range that does
    not verify. The record after ``through``, if any, must link to it.
    """
    anchor_row = connection.execute(
        select(records.c.data)
        .where(records.c.kind == kinds.JOURNAL_VACUUMED)
        .order_by(records.c.seq.desc())
        .limit(1)
    ).first()
    anchor = _anchor(_json(anchor_row[0])) if anchor_row is not None else None

    def rows() -> Iterator[Sequence[Any]]:
        after = 0
        while True:
            page = connection.execute(
                select(*(records.c[name] for name in FIELDS))
                .where(records.c.seq > after, records.c.seq <= through + 1)
                .order_by(records.c.seq)
                .limit(page_size)
            ).all()
            yield from page
            if len(page) < page_size:
                return
            after = page[-1][0]

    return _verify_chain(rows(), observe=None, find_anchor=lambda: anchor)


def verify_rows(
    rows: Iterable[Sequence[Any]],
    *,
    after: tuple[int, str] = (0, GENESIS),
    find_anchor: Callable[[], tuple[int, str] | None] = lambda: None,
) -> VerifyResult:
    """Judge rows of one chain (the record columns, seq first) continuing ``after``.

    ``after``: the (seq, hash) the first row must follow (what ``ship`` holds
    of the stream already). Each row is checked as :func:`verify` checks it:
    no gap (but one ``find_anchor``'s tombstone accounts for), its link, its
    contents against its hash.
    """
    return _verify_chain(rows, observe=None, find_anchor=find_anchor, start=after)


def _json(text: str) -> Any:
    """A stored data column parsed, or None when it is not JSON."""
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


def _verify_chain(
    rows: Iterable[Sequence[Any]],
    *,
    observe: Observer | None,
    find_anchor: Callable[[], tuple[int, str] | None],
    interleaved: bool = False,
    start: tuple[int, str] = (0, GENESIS),
) -> VerifyResult:
    """Walk one chain's rows (its hashed seq first) and judge them.

    ``interleaved``: the journal's own records among shipped ones, whose seqs
    leave gaps; the prev_hash links alone then prove nothing is missing.
    ``find_anchor``: gives the chain's latest tombstone's (last removed seq, hash),
    read only when a gap needs it.
    """
    count = 0
    prev_seq, prev_hash = start
    first_seq: int | None = None
    vacuumed: int | None = None

    def failed(seq: int, reason: str) -> VerifyResult:
        return VerifyResult(
            ok=False,
            records=count,
            head_seq=prev_seq,
            head_hash=prev_hash,
            first_seq=first_seq,
            vacuumed_through=vacuumed,
            bad_seq=seq,
            reason=reason,
        )

    for row in rows:
        seq, prev, digest = row[0], row[10], row[11]
        if first_seq is None:
            first_seq = seq
        gap = seq != prev_seq + 1 and not (interleaved and prev_seq and prev == prev_hash)
        if interleaved and not prev_seq and prev == GENESIS:
            gap = False
        if gap:
            # A gap is only allowed where retention removed records and left
            # a tombstone naming the last removed seq and hash.
            anchor = find_anchor()
            covered = anchor is not None and prev_seq <= anchor[0] < seq
            exact = anchor is not None and (anchor[0] == seq - 1 or interleaved)
            if not covered or anchor is None or not exact:
                start = anchor[0] + 1 if covered and anchor is not None else prev_seq + 1
                missing = f"{start}" if start == seq - 1 else f"{start}..{seq - 1}"
                after = (
                    f"the records vacuumed through seq {start - 1}"
                    if covered
                    else (f"seq {prev_seq}" if prev_seq else "the start of the journal")
                )
                return failed(
                    start,
                    f"record(s) {missing} missing: seq {seq} follows {after} "
                    "and no journal.vacuumed tombstone accounts for the gap",
                )
            vacuumed = anchor[0]
            if prev != anchor[1]:
                return failed(
                    seq,
                    f"prev_hash does not match the hash of seq {anchor[0]} recorded by the "
                    "journal.vacuumed tombstone",
                )
            prev_hash = anchor[1]
        elif prev != prev_hash:
            what = "GENESIS" if prev_seq == 0 else f"the hash of seq {prev_seq}"
            return failed(
                seq,
                f"prev_hash does not match {what} (a record was rewritten, replaced or reordered)",
            )
        problem = _contents_problem(row)
        if problem is not None:
            return failed(seq, problem)
        if observe is not None:
            finding = observe(row)
            if finding is not None:
                return failed(*finding)
        count += 1
        prev_seq, prev_hash = seq, digest
    return VerifyResult(
        ok=True,
        records=count,
        head_seq=prev_seq,
        head_hash=prev_hash,
        first_seq=first_seq,
        vacuumed_through=vacuumed,
    )


def _contents_problem(row: Sequence[Any]) -> str | None:
    """Return why a record's contents do not match its hash, or ``None``."""
    seq, record_id, ts, kind, namespace, obj, corr, actor, epoch, data, prev, digest = row
    if not isinstance(ts, str) or not is_canonical_ts(ts):
        return f"ts {ts!r} is not a canonical timestamp (record edited)"
    problem = _data_problem(data)
    if problem is not None:
        return problem
    try:
        expected = record_hash_of_text(
            seq=seq,
            id=record_id,
            ts=ts,
            kind=kind,
            namespace=namespace,
            object=obj,
            correlation_id=corr,
            actor=actor,
            leader_epoch=epoch,
            data_text=data,
            prev_hash=prev,
        )
    except (TypeError, ValueError) as error:
        return f"record cannot be serialised canonically ({error})"
    if expected != digest:
        return "hash does not match the record's contents (record edited)"
    return None


def _data_problem(data: Any) -> str | None:
    """Return why a stored data column is not what a writer stores, or ``None``.

    The hash covers the canonical text of the parsed data; the stored text
    must be exactly that text. Otherwise SQL readers (json_extract takes the
    first of duplicate keys, Python's json the last) read other data than the
    hash vouches for.
    """
    try:
        payload = json.loads(data)
    except (TypeError, ValueError):
        return "data is not valid JSON (record edited)"
    if not isinstance(payload, dict):  # no writer stores anything else; readers refuse it
        return "data is not a JSON object (record edited)"
    try:
        canonical = canonical_json(payload)
    except (TypeError, ValueError) as error:
        return f"record cannot be serialised canonically ({error})"
    if canonical != data:
        return (
            "data is not stored as the canonical JSON its hash covers "
            "(record edited: duplicate keys, spacing or escapes)"
        )
    return None
