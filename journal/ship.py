"""Shipping an embedded journal into a central one (``shipshape-journal ship``).

Every record of the source's own chain is copied as it is (id, ts, kind, ...,
``prev_hash``, ``hash``) into the destination, tagged with the cluster and
a *stream*: the source's chain. ``stream_seq`` keeps the source's seq, the
seq its hash covers, so ``verify`` walks each stream on its own and the copy
verifies there. The destination gives each shipped record its next ``seq``
(the cursor of ``tail``), so the central journal still reads in one order.

- Idempotent: a stream resumes after the highest ``stream_seq`` the
  destination holds, and (stream, stream_seq) is unique there.
- Resumable: each batch commits in one transaction, so a killed ``ship``
  leaves whole batches; the next run goes on from the last one.
- A stream is found again by its contents, not a name: the source must hold
  the destination's last record of the stream, with the same hash, or the
  record chained to it (a vacuum's tombstone, when the vacuum removed it), so
  a source vacuumed since still resumes, and a different journal never does.
  A new stream is named ``CLUSTER/ID`` after the id of the source's first
  record.
- Labels vouched for: the ``cluster`` and ``stream`` columns a shipped record
  is tagged with are outside its hash (the source's), so each transaction
  that copies records also appends, in the central journal's own chain, a
  ``journal.shipped`` record stating the stream, its cluster, the seq range
  copied and the last copied record's hash; ``verify`` holds the rows to it
  (:mod:`journal.shipped`).
- Never silent about a loss: when a new stream starts after a seq the
  destination never got, and a stream of the same cluster and writer ends
  before it, the records in between were vacuumed before they were shipped;
  the run reports them (:class:`ShipGap`), as nothing can bring them back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, insert, or_, select

from journal import postgres
from journal.chain import GENESIS
from journal.errors import (
    JournalChainError,
    JournalError,
    JournalValueError,
    JournalWriteError,
)
from journal.filters import Filters
from journal.high_water import next_seq_base
from journal.models import records
from journal.record import FIELDS, Entry
from journal.verify import tombstone_anchor, verify_rows
from records import JournalShipped

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from journal.store import Journal

#: Records copied per destination transaction.
BATCH_SIZE = 1000
#: Seconds between polls of the source when following.
POLL_INTERVAL = 0.2
#: The environment variable naming the cluster when ``--cluster`` is not given.
CLUSTER_VARIABLE = "CLUSTER_NAME"

#: The columns a shipped record keeps as they are (its seq becomes stream_seq).
_COPIED = FIELDS[1:]
_SOURCE_COLUMNS = (records.c.seq, *(records.c[name] for name in _COPIED))
_ATTEMPTS = 8


@dataclass
class ShipProgress:
    """Where a shipment stands.

    Attributes:
        stream: The stream's name in the destination.
        shipped: Records copied by this run.
        stream_seq: The source seq the destination now holds up to.
    """

    stream: str | None = None
    shipped: int = 0
    stream_seq: int = 0
    gap: ShipGap | None = None


@dataclass(frozen=True)
class ShipGap:
    """Records of the source that a vacuum removed before they were shipped.

    Found when a new stream begins: the destination holds a stream of the same
    cluster and writer ending at ``first_seq - 1``, and the source's own chain
    now starts after ``last_seq``. Nothing can bring them back (their hashes
    and checkpoints went with them), so the run says so.

    Attributes:
        stream: The stream the missing records would have continued.
        first_seq: The first missing source seq.
        last_seq: The last missing source seq.
        new_stream: The stream the source's records go on in.
    """

    stream: str
    first_seq: int
    last_seq: int
    new_stream: str

    def summary(self) -> str:
        """One line for the operator."""
        count = self.last_seq - self.first_seq + 1
        return (
            f"seq {self.first_seq}..{self.last_seq} ({count} records) of this journal were "
            f"vacuumed before they were shipped: stream {self.stream} ends at seq "
            f"{self.first_seq - 1} and the journal goes on as stream {self.new_stream}"
        )


def check_cluster(cluster: str | None) -> str:
    """Return the cluster name, or raise with one line when it is missing or unusable."""
    if cluster is None or not cluster.strip():
        raise JournalValueError(f"ship needs a cluster name: --cluster NAME or {CLUSTER_VARIABLE}")
    cluster = cluster.strip()
    # A control character (a newline) would split every line naming the
    # stream; text that is not UTF-8 (a byte the shell passed on) cannot be stored.
    printable = cluster.isprintable() and cluster.encode("utf-8", "replace").decode() == cluster
    if len(cluster) > 253 or "/" in cluster or not printable:
        raise JournalValueError(
            f"cluster name {cluster!a} must be at most 253 printable characters (UTF-8) without '/'"
        )
    return cluster


def _find_stream(
    source: Journal, destination: Journal, cluster: str
) -> tuple[str | None, int, str]:
    """Return (stream, last shipped source seq, its hash), or (None, 0, GENESIS) when new."""
    with destination.transaction() as connection:
        heads = connection.execute(
            select(records.c.stream, func.max(records.c.stream_seq))
            .where(records.c.cluster == cluster, records.c.stream.is_not(None))
            .group_by(records.c.stream)
        ).all()
        candidates = []
        for stream, last in heads:
            digest = connection.execute(
                select(records.c.hash).where(
                    records.c.stream == stream, records.c.stream_seq == last
                )
            ).scalar()
            candidates.append((stream, last, digest))
    with source.transaction() as connection:
        for stream, last, digest in candidates:
            # The source holds that record, or (a vacuum removed it) the next
            # one, chained to it: a tombstone chains to the head it removed.
            held = connection.execute(
                select(records.c.seq).where(
                    records.c.stream.is_(None),
                    or_(
                        and_(records.c.seq == last, records.c.hash == digest),
                        and_(records.c.seq == last + 1, records.c.prev_hash == digest),
                    ),
                )
            ).first()
            if held is not None:
                return stream, last, digest
    return None, 0, GENESIS


def _new_stream(first: Sequence[Any], source: Journal, destination: Journal, cluster: str) -> str:
    """Name the stream a source not shipped yet begins at ``first`` (its first own seq, id).

    Raises:
        JournalValueError: The destination holds the source's first record
            already, shipped under another cluster name (or as its own record).
    """
    with destination.transaction() as connection:
        _refuse_held(connection, first[1], cluster, (source, destination))
    return f"{cluster}/{first[1]}"


def _refuse_held(
    connection: Connection, record_id: str, cluster: str, journals: tuple[Journal, Journal]
) -> None:
    """Refuse to start a stream at a record the destination holds already.

    Raises:
        JournalValueError: Naming where the destination holds it.
    """
    held = connection.execute(
        select(records.c.cluster, records.c.stream).where(records.c.id == record_id)
    ).first()
    if held is None:
        return
    if held[1] is None:
        where = f"as its own record {record_id}"
    elif held[0] == cluster:
        where = (
            f"as stream {held[1]}, whose last record shipped it does not hold "
            "(an older copy of the journal, restored from a backup?)"
        )
    else:
        where = f"as stream {held[1]}: ship it with --cluster {held[0]}"
    source, destination = journals
    raise JournalValueError(
        f"{destination.location.display} already holds the records of "
        f"{source.location.display} {where}"
    )


def _begin_stream(
    source: Journal,
    destination: Journal,
    cluster: str,
    progress: ShipProgress,
    on_gap: Callable[[ShipGap], None] | None,
) -> None:
    """Name the source's new stream in ``progress``, and report records lost before it."""
    first = _first_own(source)
    if first is None:
        return  # nothing to ship yet
    progress.stream = _new_stream(first, source, destination, cluster)
    progress.gap = _vacuumed_before_shipping(first, source, destination, cluster, progress.stream)
    if progress.gap is not None and on_gap is not None:
        on_gap(progress.gap)


def _first_own(source: Journal) -> Sequence[Any] | None:
    """The source's first record of its own chain: (seq, id), or ``None``."""
    columns = (records.c.seq, records.c.id)
    return next(iter(source.scan(Filters(stream=""), limit=1, columns=columns)), None)


#: How many of the source's first records name the writers a gap is matched by.
_WRITER_SAMPLE = 100


def _vacuumed_before_shipping(
    first: Sequence[Any], source: Journal, destination: Journal, cluster: str, new_stream: str
) -> ShipGap | None:
    """The records a vacuum removed between a stream's end and ``new_stream``'s start.

    A stream of ``cluster`` counts when it ends before the source's first
    seq and its last record was written by one of the source's writers (its
    first records' actors): another replica's journal, shipped under the
    same cluster, has another writer. A journal started anew (seq 1) leaves
    no gap.
    """
    if first[0] <= 1:
        return None
    writers = {
        row[1]
        for row in source.scan(
            Filters(stream=""), limit=_WRITER_SAMPLE, columns=(records.c.seq, records.c.actor)
        )
    }
    with destination.transaction() as connection:
        ends = connection.execute(
            select(records.c.stream, func.max(records.c.stream_seq))
            .where(
                records.c.cluster == cluster,
                records.c.stream.is_not(None),
                records.c.stream != new_stream,
            )
            .group_by(records.c.stream)
        ).all()
        best: tuple[str, int] | None = None
        for stream, last in ends:
            if last >= first[0] - 1 or (best is not None and last <= best[1]):
                continue
            actor = connection.execute(
                select(records.c.actor).where(
                    records.c.stream == stream, records.c.stream_seq == last
                )
            ).scalar()
            if actor in writers:
                best = (stream, last)
    if best is None:
        return None
    return ShipGap(
        stream=best[0], first_seq=best[1] + 1, last_seq=first[0] - 1, new_stream=new_stream
    )


def _insert_batch(
    source: Journal, destination: Journal, rows: list[Any], *, stream: str, cluster: str
) -> int:
    """Append one batch of source rows to the destination in one transaction.

    Returns how many were copied: none of those another shipper of the same
    stream copied meanwhile.
    """
    is_postgres = destination.location.url.startswith("postgresql")
    for attempt in range(_ATTEMPTS):
        try:
            with destination.transaction(write=True) as connection:
                return _insert(
                    destination,
                    connection,
                    rows,
                    stream=stream,
                    cluster=cluster,
                    lock=is_postgres,
                    source=source,
                )
        except JournalWriteError as error:
            if is_postgres and postgres.is_retryable(error) and attempt + 1 < _ATTEMPTS:
                continue
            raise
    raise AssertionError("unreachable")  # pragma: no cover


def _insert(
    destination: Journal,
    connection: Connection,
    rows: list[Any],
    *,
    stream: str,
    cluster: str,
    lock: bool,
    source: Journal | None = None,
) -> int:
    if lock:
        postgres.lock_chain(connection)
    # Under the append lock (or SQLite's write lock): what the stream holds now.
    done = connection.execute(
        select(func.max(records.c.stream_seq)).where(records.c.stream == stream)
    ).scalar()
    if done is None:
        # A new stream: another ship of the same journal under another
        # cluster name may have begun it since it was named.
        _refuse_held(connection, rows[0][1], cluster, (source or destination, destination))
    else:
        rows = [row for row in rows if row[0] > done]
    if not rows:
        return 0
    head = next_seq_base(connection)  # never a seq handed out before, even if cut since
    values = []
    for offset, row in enumerate(rows, start=1):
        value = dict(zip(_COPIED, row[1:], strict=True))
        value.update(seq=head + offset, stream=stream, stream_seq=row[0], cluster=cluster)
        values.append(value)
    connection.execute(insert(records), values)
    # In the same transaction, the central journal's own chain says what it
    # was given: the labels of these rows are then covered by a hash (and by
    # the signed checkpoints of the own chain), which theirs are not.
    statement = JournalShipped(
        stream=stream,
        cluster=cluster,
        first_stream_seq=values[0]["stream_seq"],
        last_stream_seq=values[-1]["stream_seq"],
        last_hash=values[-1]["hash"],
        records=len(values),
        actors=sorted({value["actor"] for value in values if value["actor"] is not None}),
    )
    destination.insert_chained(connection, [Entry(kind=statement.KIND, data=statement.to_data())])
    return len(values)


def _check_chain(source: Journal, rows: list[Any], after: tuple[int, str]) -> None:
    """Refuse a batch whose chain does not verify from ``after``: nothing of it is copied.

    A central journal is append-only: a broken record copied into it would
    fail its ``verify`` for good.

    Raises:
        JournalChainError: Naming the source seq and why.
    """
    # Only a new stream may start after a gap: where the source's vacuum left off.
    anchor = (lambda: tombstone_anchor(source)) if after[0] == 0 else (lambda: None)
    checked = verify_rows(rows, after=after, find_anchor=anchor)
    if not checked.ok:
        raise JournalChainError(
            f"seq {checked.bad_seq} of {source.location.display} does not verify: "
            f"{checked.reason}; nothing of seq {rows[0][0]}..{rows[-1][0]} was shipped"
        )


def _same_journal(source: Journal, destination: Journal) -> bool:
    """Tell whether two open journals are one database (a SQLite file however spelt)."""
    here, there = source.location, destination.location
    if here.path is not None and there.path is not None:
        try:
            return here.path.samefile(there.path)
        except OSError:
            return False
    return here.url == there.url


def ship(
    source: Journal,
    destination: Journal,
    *,
    cluster: str,
    follow: bool = False,
    batch_size: int = BATCH_SIZE,
    poll_interval: float = POLL_INTERVAL,
    should_stop: Callable[[], bool] = lambda: False,
    on_batch: Callable[[ShipProgress], None] | None = None,
    on_gap: Callable[[ShipGap], None] | None = None,
    on_reconnect: Callable[[JournalError], None] | None = None,
    reconnect_seconds: float = postgres.RECONNECT_SECONDS,
) -> ShipProgress:
    """Copy the source's records the destination lacks; with ``follow``, keep copying.

    ``on_gap`` is called at once when the new stream begins after records a
    vacuum removed before they were shipped (:class:`ShipGap`, also left in
    the returned progress); the copy goes on.

    A lost connection to a PostgreSQL destination (a restart, a failover,
    the server out of reach) is not the end: ``on_reconnect`` is called with
    the error when an outage begins, and the run tries again, pausing a little longer each time,
    until ``reconnect_seconds`` have passed without getting through (then the
    error goes up). Nothing is copied twice: a batch whose commit went
    through before its answer was lost is found in the stream and skipped.

    Raises:
        JournalValueError: A bad cluster name or batch size.
        JournalChainError: A batch whose chain does not verify (from the
            stream's last shipped record on); nothing of it was copied.
        JournalError: Either journal's errors, with one line.
    """
    cluster = check_cluster(cluster)
    if batch_size <= 0:
        raise JournalValueError("batch size must be positive")
    if _same_journal(source, destination):
        raise JournalValueError(
            f"{source.location.display} and {destination.location.display} are the same "
            "journal: ship copies one journal into another (the central one)"
        )
    options = _Options(follow, batch_size, should_stop, on_batch, on_gap)
    if source.holds_streams():
        raise JournalValueError(
            f"{source.location.display} holds streams shipped from other journals, which "
            "ship would leave behind (it copies a journal's own chain): ship their sources"
        )
    progress = ShipProgress()
    # Where the chain of what is copied must go on from: the stream's last
    # shipped record, or (a new stream) the source's start or its tombstone.
    shipped_head: list[Any] = []
    outage = postgres.Outage(reconnect_seconds, should_stop, on_reconnect)
    vacuumed = False  # the source was vacuumed under this run (once)
    while True:
        try:
            if not shipped_head:
                progress.stream, after, last_hash = _find_stream(source, destination, cluster)
                progress.stream_seq = after
                shipped_head[:] = [after, last_hash]
            copied = _ship_pass(
                source,
                destination,
                cluster,
                progress=progress,
                shipped_head=shipped_head,
                options=options,
            )
            outage.over()
        except JournalChainError:
            # A vacuum of the source, meanwhile, removed records this run had
            # not shipped yet: as the next run would, go on as a new stream
            # and report the records lost (not a broken chain).
            resumed = bool(shipped_head) and shipped_head[0] > 0  # not a new stream
            if vacuumed or not resumed or not _vacuumed_beyond(source, progress.stream_seq):
                raise
            vacuumed = True
            progress.stream = None
            shipped_head.clear()
            continue
        except JournalError as error:
            # The server restarted or failed over (or is out of reach for a
            # while): the destination's connection opens again at its next
            # use, and a batch tried again copies only what the stream lacks.
            if not outage.wait(error, progress.stream_seq):
                raise
            continue
        if not follow or should_stop():
            return progress
        if not copied:
            time.sleep(poll_interval)


def _vacuumed_beyond(source: Journal, shipped: int) -> bool:
    """Tell whether the source's latest vacuum removed records after seq ``shipped``."""
    anchor = tombstone_anchor(source)
    return anchor is not None and anchor[0] > shipped


@dataclass(frozen=True)
class _Options:
    follow: bool
    batch_size: int
    should_stop: Callable[[], bool]
    on_batch: Callable[[ShipProgress], None] | None
    on_gap: Callable[[ShipGap], None] | None


def _ship_pass(
    source: Journal,
    destination: Journal,
    cluster: str,
    *,
    progress: ShipProgress,
    shipped_head: list[Any],
    options: _Options,
) -> int:
    """Copy what the source holds beyond ``progress``; return how many records were copied."""
    if progress.stream is None:
        _begin_stream(source, destination, cluster, progress, options.on_gap)
    copied = 0
    if progress.stream is None:
        return copied
    for page in source.scan_pages(
        Filters(stream=""),
        after_seq=progress.stream_seq,
        page_size=options.batch_size,
        columns=_SOURCE_COLUMNS,
    ):
        rows = list(page)
        _check_chain(source, rows, (shipped_head[0], shipped_head[1]))
        inserted = _insert_batch(source, destination, rows, stream=progress.stream, cluster=cluster)
        shipped_head[:] = [rows[-1][0], rows[-1][-1]]
        copied += inserted
        progress.shipped += inserted
        progress.stream_seq = page[-1][0]
        if options.on_batch is not None:
            options.on_batch(progress)
        if options.follow and options.should_stop():
            break  # asked to stop (SIGTERM): not after a whole backlog
    return copied
