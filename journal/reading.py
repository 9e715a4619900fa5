"""Reading the journal: records and raw rows, streamed page by page.

:class:`JournalReading` is the reading half of :class:`journal.store.Journal`
(a mixin: the journal holds the connection, this reads through it). Every
reader of the journal goes through one paging loop, :meth:`JournalReading.scan_pages`:
``scan`` flattens its pages into rows, ``read`` turns those rows into
:class:`~journal.record.Record` objects, and the merged, followed, verified and
shipped views (:mod:`journal.merge`, :mod:`journal.follow`, :mod:`journal.verify`,
:mod:`journal.ship`) are built on ``scan``/``scan_pages`` too. Each page is
read in its own short read transaction, so a reader never pins the WAL and
never holds more than one page in memory.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, bindparam, func, select

from journal.database import Location
from journal.errors import JournalCorruptError, JournalError, JournalValueError
from journal.filters import Filters, kinds_tuple
from journal.models import records
from journal.record import Record
from records import parse

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

#: Records fetched per read transaction when streaming.
PAGE_SIZE = 1000

# Column order of every SELECT of whole records.
_COLUMNS = (
    records.c.seq,
    records.c.id,
    records.c.ts,
    records.c.kind,
    records.c.namespace,
    records.c.object,
    records.c.correlation_id,
    records.c.actor,
    records.c.leader_epoch,
    records.c.data,
    records.c.prev_hash,
    records.c.hash,
)

_COLUMN_NAMES = tuple(column.name for column in _COLUMNS)
#: Whole records with where a shipped one came from (:class:`Record`'s last fields).
RECORD_COLUMNS = (*_COLUMNS, records.c.cluster, records.c.stream, records.c.stream_seq)


def row_to_record(row: Sequence[Any]) -> Record:
    """Build a :class:`Record` from a row of the record columns (or :data:`RECORD_COLUMNS`).

    Raises:
        JournalCorruptError: When ``ts`` or ``data`` cannot be parsed, or ``data``
            is not a JSON object (an edited journal; ``verify`` names what changed).
    """
    seq = row[0]
    try:
        ts = datetime.fromisoformat(row[2])
    except (TypeError, ValueError):
        raise JournalCorruptError(f"record seq {seq}: ts {row[2]!r} is not a timestamp") from None
    try:
        data = json.loads(row[9])
    except (TypeError, ValueError):
        raise JournalCorruptError(f"record seq {seq}: data is not valid JSON") from None
    if not isinstance(data, dict):  # every payload is an object; readers take it as one
        raise JournalCorruptError(f"record seq {seq}: data is not a JSON object")
    return Record(
        seq,
        row[1],
        ts,
        row[3],
        row[4],
        row[5],
        row[6],
        row[7],
        row[8],
        data,
        row[10],
        row[11],
        *row[12:15],
    )


class JournalReading:
    """The reading calls of a journal (mixed into :class:`journal.store.Journal`)."""

    _location: Location
    _engine: Engine
    _connection: Connection | None
    _lock: threading.RLock

    def transaction(self, *, write: bool = False) -> AbstractContextManager[Connection]:
        """One transaction on the journal's connection (:meth:`Journal.transaction`)."""
        raise NotImplementedError

    def _translate(self, error: BaseException, *, writing: bool) -> JournalError:
        raise NotImplementedError

    @staticmethod
    def _head(connection: Connection) -> tuple[int, str]:
        raise NotImplementedError

    def head(self) -> tuple[int, str]:
        """Return ``(seq, hash)`` of the last record, or ``(0, GENESIS)`` when empty."""
        with self.transaction() as connection:
            return self._head(connection)

    def first_seq(self) -> int | None:
        """Return the lowest seq still in the journal (after retention), or ``None``."""
        with self.transaction() as connection:
            return connection.execute(select(func.min(records.c.seq))).scalar()

    def holds_streams(self) -> bool:
        """Tell whether records were shipped into this journal (a central journal)."""
        with self.transaction() as connection:
            found = connection.execute(
                select(records.c.seq).where(records.c.stream.is_not(None)).limit(1)
            ).first()
        return found is not None

    def is_live(self) -> bool:
        """Tell whether writers append to this journal, rather than it being a copy of one.

        Writers keep a SQLite journal in WAL mode; ``backup`` and ``export
        dr-drill`` write their copies in rollback-journal mode. A PostgreSQL
        journal is always the live one.
        """
        if not self._location.is_sqlite:
            return True
        with self.transaction() as connection:
            mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        return str(mode).lower() == "wal"

    def shipped_streams(
        self, filters: Filters | None = None, *, through: int | None = None
    ) -> list[str]:
        """Return the names of the shipped streams holding a record ``filters`` select, sorted.

        ``through``: count only the records up to that seq (a head read
        before). None for an embedded journal, which holds only its own chain.
        """
        where = [records.c.stream.is_not(None)]
        if filters is not None:
            where.extend(filters.conditions(records))
        if through is not None:
            where.append(records.c.seq <= through)
        with self.transaction() as connection:
            rows = connection.execute(select(records.c.stream).where(*where).distinct()).all()
        return sorted(row[0] for row in rows)

    def highest_epoch(self) -> int | None:
        """Return the highest leader epoch the journal's own records name, or None.

        Terms led (the records' ``leader_epoch`` and the ``leader.*`` records'
        ``epoch``) and terms seen led by another replica (``leader.observed``).
        A controller starting on this journal numbers its terms above it, even
        when the Lease was deleted meanwhile (its count starts again at 0).
        Records a vacuum removed are not counted.
        """
        with self.transaction() as connection:
            highest = connection.execute(
                select(func.max(records.c.leader_epoch)).where(records.c.stream.is_(None))
            ).scalar()
        for record in self.read(kinds=("leader",)):
            epoch = getattr(parse(record.kind, record.data), "epoch", None)
            if (
                record.stream is None
                and type(epoch) is int
                and (highest is None or epoch > highest)
            ):
                highest = epoch
        return highest

    def count(self) -> int:
        """Return how many records the journal holds."""
        with self.transaction() as connection:
            return int(connection.execute(select(func.count()).select_from(records)).scalar())

    def read(
        self,
        after_seq: int = 0,
        *,
        kinds: Iterable[str] | None = None,
        object: str | None = None,
        correlation_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        namespace: str | None = None,
        limit: int | None = None,
        page_size: int = PAGE_SIZE,
    ) -> Iterator[Record]:
        """Stream matching records in seq order, in constant memory.

        Each page of ``page_size`` records is read in its own short
        transaction; records appended while the stream runs are included.

        Args:
            after_seq: Start after this seq (the cursor); 0 reads from the start.
            kinds: Kinds or areas (``restart`` matches every ``restart.*``).
            object: ``configmap/NAME`` exactly, or ``NAME`` for any object kind.
            correlation_id: A correlation id or a prefix of one.
            since: Only records at or after this moment (aware datetime).
            until: Only records at or before this moment (aware datetime).
            namespace: Only records of this namespace.
            limit: Stop after this many records.
            page_size: Records per read transaction.
        """
        filters = Filters(
            kinds=kinds_tuple(kinds),
            object=object,
            correlation_id=correlation_id,
            namespace=namespace,
            since=since,
            until=until,
        )
        for row in self.scan(
            filters, after_seq=after_seq, limit=limit, page_size=page_size, columns=RECORD_COLUMNS
        ):
            yield row_to_record(row)

    def last(
        self,
        n: int,
        filters: Filters | None = None,
        *,
        after_seq: int = 0,
    ) -> list[Record]:
        """Return the last ``n`` matching records (after ``after_seq``), oldest first."""
        if n <= 0:
            return []
        filters = filters or Filters()
        query = (
            select(*RECORD_COLUMNS)
            .where(records.c.seq > after_seq, *filters.conditions(records))
            .order_by(records.c.seq.desc())
            .limit(n)
        )
        with self.transaction() as connection:
            rows = connection.execute(query).all()
        return [row_to_record(row) for row in reversed(rows)]

    def scan(
        self,
        filters: Filters | None = None,
        *,
        after_seq: int = 0,
        limit: int | None = None,
        page_size: int = PAGE_SIZE,
        columns: Sequence[Any] = _COLUMNS,
        time_bounds: bool = True,
    ) -> Iterator[Sequence[Any]]:
        """Stream raw rows (``columns``, seq first) of matching records in seq order.

        The low-level form of :meth:`read` for projections that do not need
        whole :class:`Record` objects; see :meth:`scan_pages` for the arguments.
        """
        for page in self.scan_pages(
            filters,
            after_seq=after_seq,
            limit=limit,
            page_size=page_size,
            columns=columns,
            time_bounds=time_bounds,
        ):
            yield from page

    def scan_pages(
        self,
        filters: Filters | None = None,
        *,
        after_seq: int = 0,
        limit: int | None = None,
        page_size: int = PAGE_SIZE,
        columns: Sequence[Any] = _COLUMNS,
        time_bounds: bool = True,
    ) -> Iterator[Sequence[Sequence[Any]]]:
        """Stream pages (lists of raw rows) of matching records in seq order.

        Each page is read in its own short transaction. Time bounds are first
        turned into seq bounds through the ``ts`` index, so the scan starts at
        the first record in range and ends after the last one;
        ``time_bounds=False`` skips that (a follower polling from a cursor
        already past ``since``).

        Args:
            filters: Which records.
            after_seq: Start after this seq.
            limit: Stop after this many records.
            page_size: Rows per page (per read transaction).
            columns: The columns to read; the first must be ``seq``.
            time_bounds: Narrow the seq range with ``since``/``until`` first.
        """
        filters = filters or Filters()
        if page_size <= 0:
            raise JournalValueError("page_size must be positive")
        if time_bounds:
            after, upper = self._seq_bounds(filters, after_seq)
        else:
            after, upper = after_seq, None
        if upper is not None and upper <= after:
            return
        conditions = filters.conditions(records)
        if upper is not None:
            conditions.append(records.c.seq <= upper)
        query = (
            select(*columns)
            .where(records.c.seq > bindparam("after", value=0), *conditions)
            .order_by(records.c.seq)
            .limit(bindparam("size", value=1))
        )
        fetch = self._page_fetcher(query)
        remaining = limit
        while remaining is None or remaining > 0:
            size = page_size if remaining is None else min(page_size, remaining)
            rows = fetch(after, size)
            if not rows:
                return
            yield rows
            after = rows[-1][0]
            if remaining is not None:
                remaining -= len(rows)
            if len(rows) < size:
                return

    def _page_fetcher(self, query: Select[Any]) -> Callable[[int, int], Sequence[Any]]:
        """Return a function reading one page of ``query`` (binds ``after``, ``size``).

        On SQLite the statement is compiled once and each page runs as one
        statement on the driver connection (its own implicit, short read
        transaction), which is several times faster than a SQLAlchemy
        execution per page when projections stream a million records.
        """
        if not self._location.is_sqlite:

            def fetch_generic(after: int, size: int) -> Sequence[Any]:
                with self.transaction() as connection:
                    return connection.execute(query, {"after": after, "size": size}).all()

            return fetch_generic
        compiled = query.compile(
            dialect=self._engine.dialect, compile_kwargs={"render_postcompile": True}
        )
        sql, names, params = compiled.string, compiled.positiontup or [], dict(compiled.params)

        def fetch_sqlite(after: int, size: int) -> Sequence[Any]:
            params["after"], params["size"] = after, size
            with self._lock:
                if self._connection is None:
                    raise JournalError(f"journal {self._location.display} is closed")
                driver = self._connection.connection.driver_connection
                try:
                    return driver.execute(sql, [params[name] for name in names]).fetchall()
                except sqlite3.Error as error:
                    raise self._translate(error, writing=False) from None

        return fetch_sqlite

    def _seq_bounds(self, filters: Filters, after_seq: int) -> tuple[int, int | None]:
        """Narrow a scan to seqs that can match the time bounds (via the ts index)."""
        after, upper = after_seq, None
        if filters.since is None and filters.until is None:
            return after, upper
        with self.transaction() as connection:
            if filters.since is not None:
                first = connection.execute(
                    select(func.min(records.c.seq)).where(records.c.ts >= filters.since_text)
                ).scalar()
                if first is None:
                    # Nothing so late yet: later appends are all that can match.
                    first = self._head(connection)[0] + 1
                after = max(after, first - 1)
            if filters.until is not None:
                upper = connection.execute(
                    select(func.max(records.c.seq)).where(records.c.ts <= filters.until_text)
                ).scalar()
                upper = 0 if upper is None else upper
        return after, upper
