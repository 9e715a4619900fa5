"""The journal: open, append durably, read by cursor.

:class:`Journal` is the object the controller and the CLI hold. A writer
creates the file when missing, migrates it to the schema head and appends
records each in its own ``BEGIN IMMEDIATE`` transaction, returning only after
SQLite has committed (and, with ``synchronous=FULL``, synced) it. A reader
opens the file read-only and streams records page by page, each page in its
own short read transaction, so it never pins the WAL and never holds more than
one page in memory.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from journal import postgres as postgres_module
from journal.appending import Prepared, Row, chain, prepare
from journal.chain import GENESIS
from journal.database import (
    DEFAULT_BUSY_TIMEOUT,
    Location,
    check_sqlite_file,
    open_engine,
    resolve,
    translate,
)
from journal.errors import (
    JournalError,
    JournalOutputError,
    JournalValueError,
    JournalWriteError,
)
from journal.high_water import head_of
from journal.models import records
from journal.reading import (
    _COLUMN_NAMES,
    PAGE_SIZE,
    RECORD_COLUMNS,
    JournalReading,
    row_to_record,
)
from journal.record import Entry, Record
from journal.schema import check_readable, known_revision, needs_upgrade, read_state, upgrade

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine


# The head to chain from: the seq high-water mark (SQLite's AUTOINCREMENT
# counter, which never goes down, even when every record has been removed)
# and the hash of the last of the journal's own records still present (records
# shipped from another journal keep their own chains).
_HEAD_SQL = (
    "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'journal_records'), 0), "
    "coalesce((SELECT max(seq) FROM journal_records), 0)), "
    "(SELECT hash FROM journal_records WHERE stream IS NULL ORDER BY seq DESC LIMIT 1)"
)
_INSERT_SQL = (
    "INSERT INTO journal_records (seq, id, ts, kind, namespace, object, correlation_id, "
    "actor, leader_epoch, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_APPEND_ATTEMPTS = 3


#: SQLite's extended codes of a failed write or sync: during ``VACUUM INTO``,
#: of the copy (the journal itself is only read).
_COPY_WRITE_ERRORS = frozenset({sqlite3.SQLITE_IOERR_WRITE, sqlite3.SQLITE_IOERR_FSYNC})


class Journal(JournalReading):
    """An open journal: a writer (``append``) or a read-only reader.

    Use :meth:`open`; close with :meth:`close` or a ``with`` block. One
    connection is held for the journal's lifetime and guarded by a lock, so a
    Journal may be shared by threads.
    """

    def __init__(
        self,
        location: Location,
        engine: Engine,
        connection: Connection,
        *,
        readonly: bool,
        actor: str | None,
        busy_timeout: float,
        revision: str,
    ) -> None:
        """Wrap an opened connection; use :meth:`Journal.open` instead."""
        self._location = location
        self._engine = engine
        self._connection: Connection | None = connection
        self._readonly = readonly
        self._actor = actor
        self._busy_timeout = busy_timeout
        self._revision = revision
        self._lock = threading.RLock()
        #: The schema revision of the journal this one is an upgraded copy of
        #: (:func:`journal.older.open_reader`), or None.
        self.upgraded_from: str | None = None
        self._on_close: Callable[[], None] | None = None
        #: An append whose commit was sent and whose answer was lost with the
        #: connection (PostgreSQL): its entries and rows, until it is known
        #: whether it went through (:meth:`_settle_in_doubt`).
        self._in_doubt: tuple[list[Prepared], list[Row]] | None = None

    # -- opening and closing ------------------------------------------------

    @classmethod
    def open(
        cls,
        url: str | Path,
        *,
        actor: str | None = None,
        readonly: bool = False,
        create: bool = True,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    ) -> Journal:
        """Open a journal as a writer (the default) or a reader.

        Args:
            url: A SQLAlchemy URL (``sqlite:///path/journal.db``) or a file path.
            actor: The writer's identity (pod name, or ``cli:USER``); required
                for writers, stored in every record they append.
            readonly: Open for reading only: never create, never migrate, never write.
            create: For writers: create the file when it is missing (otherwise
                a missing file is an error, as for readers).
            busy_timeout: Seconds to wait for another connection's lock.

        Raises:
            JournalNotFoundError: Missing file (for readers, or ``create=False``),
                a directory, or a missing parent directory.
            NotAJournalError: Not a SQLite database, or another application's.
            JournalSchemaError: The schema is newer than this program (or, for
                readers, older: run ``db upgrade``).
            JournalBusyError: Locked by another writer past the busy timeout.
            JournalError: Any other database error, with one line.
        """
        location = resolve(url)
        if not readonly and (not isinstance(actor, str) or not actor.strip()):
            raise JournalValueError("a journal writer needs an actor (its identity)")
        if not readonly and len(actor) > 253:  # type: ignore[arg-type]
            raise JournalValueError("actor is longer than 253 characters")
        _check_busy_timeout(busy_timeout)
        if location.is_sqlite:
            check_sqlite_file(location, must_exist=readonly or not create)
        engine = open_engine(location, readonly=readonly, busy_timeout=busy_timeout)
        connection = None
        try:
            connection = engine.connect()
            revision = cls._prepare_schema(connection, location, readonly=readonly)
        except BaseException as error:
            if connection is not None:
                connection.close()
            engine.dispose()
            if isinstance(error, DBAPIError):
                raise translate(error, location, writing=False, busy_timeout=busy_timeout) from None
            raise
        return cls(
            location,
            engine,
            connection,
            readonly=readonly,
            actor=actor,
            busy_timeout=busy_timeout,
            revision=revision,
        )

    @staticmethod
    def _prepare_schema(connection: Connection, location: Location, *, readonly: bool) -> str:
        if readonly:
            with connection.begin():
                state = read_state(connection)
            check_readable(state, location.display)
            assert state.revision is not None
            return state.revision
        with connection.begin():
            # Inside BEGIN IMMEDIATE: a second writer opening the same new
            # file waits here and then finds the schema already at head.
            state = read_state(connection)
            if needs_upgrade(state, location.display) and connection.dialect.name == "postgresql":
                # No BEGIN IMMEDIATE there: wait for a writer migrating it, then look again.
                postgres_module.lock_schema(connection)
                state = read_state(connection)
            if needs_upgrade(state, location.display):
                upgrade(connection)
                state = read_state(connection)
        check_readable(state, location.display)
        assert state.revision is not None
        return state.revision

    def close(self) -> None:
        """Close the connection; the journal cannot be used afterwards."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
                self._engine.dispose()
                if self._on_close is not None:
                    self._on_close()

    def stand_in_for(self, original: Location, revision: str, on_close: Callable[[], None]) -> None:
        """Make this reader of a copy stand in for ``original`` (its schema at ``revision``).

        Messages name the original; :attr:`upgraded_from` tells the older
        revision; ``on_close`` runs once the connection is closed (it removes
        the copy).
        """
        self._location = Location(self._location.url, self._location.path, original.display)
        self.upgraded_from = revision
        self._on_close = on_close

    def __enter__(self) -> Journal:
        """Return the journal itself for a ``with`` block."""
        return self

    def __exit__(self, *_exc: object) -> None:
        """Close the journal at the end of a ``with`` block."""
        self.close()

    # -- properties -----------------------------------------------------------

    @property
    def location(self) -> Location:
        """Where the journal is (URL, file path, display name)."""
        return self._location

    @property
    def readonly(self) -> bool:
        """Tell whether this journal was opened read-only."""
        return self._readonly

    @property
    def actor(self) -> str | None:
        """The writer's identity stored in appended records (``None`` for readers)."""
        return self._actor

    @property
    def revision(self) -> str:
        """The journal's schema revision."""
        return self._revision

    @property
    def busy_timeout(self) -> float:
        """Seconds a statement waits for another connection's lock."""
        return self._busy_timeout

    # -- transactions ---------------------------------------------------------

    @contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[Connection]:
        """Run a block in one transaction on the journal's connection.

        Writers' transactions are ``BEGIN IMMEDIATE``; readers' plain ``BEGIN``.
        Database errors leave the block as :mod:`journal.errors` exceptions;
        the transaction is rolled back on any error.

        Raises:
            JournalError: The journal is closed, or ``write`` on a reader, or a
                database error (a :class:`JournalWriteError` when ``write``).
        """
        if write and self._readonly:
            raise JournalWriteError(f"journal {self._location.display} is open read-only")
        with self._lock:
            connection = self._connection
            if connection is None:
                raise JournalError(f"journal {self._location.display} is closed")
            try:
                with connection.begin():
                    yield connection
            except DBAPIError as error:
                raise self._translate(error, writing=write) from None

    def vacuum_into(self, path: Path) -> None:
        """Copy the SQLite database into a new file at ``path`` (``VACUUM INTO``).

        The copy reflects one read transaction: consistent while writers append.

        Raises:
            JournalOutputError: The copy's disk is full (or a file size limit is reached).
            JournalError: Any other failure, naming the journal.
        """
        if not self._location.is_sqlite:
            raise JournalValueError("VACUUM INTO needs a SQLite journal")
        with self._lock:
            if self._connection is None:
                raise JournalError(f"journal {self._location.display} is closed")
            driver = self._connection.connection.driver_connection
            try:
                # query_only forbids VACUUM INTO even though the journal itself
                # is not written; the read-only open (mode=ro) still protects it.
                if self._readonly:
                    driver.execute("PRAGMA query_only = OFF")
                try:
                    driver.execute("VACUUM INTO ?", (str(path),))
                finally:
                    if self._readonly:
                        driver.execute("PRAGMA query_only = ON")
            except sqlite3.Error as error:
                code = getattr(error, "sqlite_errorcode", 0)
                if code & 0xFF == sqlite3.SQLITE_FULL or code in _COPY_WRITE_ERRORS:
                    # The journal is only read: what failed is the copy's
                    # disk (full, or a file size limit), not the journal.
                    reason = str(error).strip() or "database or disk is full"
                    raise JournalOutputError(f"cannot write {path}: {reason}", reason) from None
                raise self._translate(error, writing=False) from None

    def _translate(self, error: BaseException, *, writing: bool) -> JournalError:
        translated = translate(
            error, self._location, writing=writing, busy_timeout=self._busy_timeout
        )
        if writing and not isinstance(translated, JournalWriteError):
            return JournalWriteError(str(translated))
        return translated

    # -- appending ------------------------------------------------------------

    def append(
        self,
        kind: str,
        *,
        namespace: str | None = None,
        object: str | None = None,
        correlation_id: str | None = None,
        leader_epoch: int | None = None,
        data: dict[str, Any] | None = None,
        ts: datetime | None = None,
    ) -> Record:
        """Append one record and return it once it is committed durably.

        Args:
            kind: A kind of :mod:`records.kinds` (or a later well-formed one).
            namespace: The namespace the record is about.
            object: ``configmap/NAME``, ``deployment/NAME`` or ``lease/NAME``.
            correlation_id: Shared by a change's whole chain of records.
            leader_epoch: The Lease's ``leaseTransitions`` when written as leader.
            data: Kind-specific JSON object (never ConfigMap values).
            ts: When it happened (aware); defaults to now, UTC.

        Returns:
            The committed record, as :meth:`read` will return it.

        Raises:
            JournalValueError: An invalid field; nothing is written.
            JournalWriteError: The write failed (read-only file, disk full,
                locked past the busy timeout: :class:`JournalBusyError`);
                nothing is written and the chain is intact.
        """
        entry = Entry(
            kind=kind,
            namespace=namespace,
            object=object,
            correlation_id=correlation_id,
            leader_epoch=leader_epoch,
            data={} if data is None else data,
            ts=ts,
        )
        return self.append_many((entry,))[0]

    def append_many(self, entries: Iterable[Entry]) -> list[Record]:
        """Append several records in one transaction: all of them or none.

        Same guarantees and errors as :meth:`append`; one commit (one sync)
        for the whole batch.
        """
        return [row_to_record(row) for row in self._append_rows(entries)]

    def write_many(self, entries: Iterable[Entry]) -> int:
        """Append as :meth:`append_many` does; return how many records were appended.

        For a writer that never reads its records back (the controller's
        outbox): it is spared parsing each record's data and time back into
        a :class:`Record`.
        """
        return len(self._append_rows(entries))

    def _append_rows(self, entries: Iterable[Entry]) -> list[Row]:
        prepared = [prepare(entry) for entry in entries]
        if not prepared:
            return []
        return self._append_rows_prepared(prepared)

    def _append_rows_prepared(self, prepared: list[Prepared]) -> list[Row]:
        if self._location.is_sqlite:
            return self._append_sqlite(prepared)
        is_postgres = self._engine.dialect.name == "postgresql"
        attempts = postgres_module.APPEND_ATTEMPTS if is_postgres else _APPEND_ATTEMPTS
        reopened = False
        for attempt in range(attempts):
            settled = self._settle_in_doubt(prepared) if is_postgres else None
            if settled is not None:
                return settled
            rows: list[Row] | None = None
            try:
                with self.transaction(write=True) as connection:
                    if is_postgres:
                        # One writer at a time past this point (journal/postgres.py).
                        postgres_module.lock_chain(connection)
                    rows = self._insert_rows(connection, prepared, None)
                return rows
            except JournalWriteError as error:
                lost = is_postgres and postgres_module.is_connection_lost(error)
                if lost and rows is not None:
                    # The connection went during the commit: it may have gone
                    # through. Tried again blindly, the records would be there twice.
                    self._in_doubt = (prepared, rows)
                # Another writer took the same seq first (a database without
                # BEGIN IMMEDIATE), PostgreSQL reported a lock timeout, deadlock
                # or serialization failure, or the connection was lost (a server
                # restart; it opens again at the next use): read the head again.
                retry = (
                    (lost and not reopened)
                    or isinstance(error.__context__, IntegrityError)
                    or (is_postgres and postgres_module.is_retryable(error))
                )
                reopened = reopened or lost  # once: a server still away fails the next at once
                if retry and attempt + 1 < attempts:
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _settle_in_doubt(self, prepared: list[Prepared]) -> list[Row] | None:
        """Find out whether the append in doubt went through; return its rows if it is this one.

        An append whose commit's answer was lost is looked up by its first
        record's id. Committed, and ``prepared`` begins with its entries (the
        controller's outbox tries the same records again): those are not
        appended twice, the rest are appended. Not committed: ``None``, and
        the append goes on as usual.

        Raises:
            JournalWriteError: The journal cannot be reached to tell (nothing
                of ``prepared`` was written; the next append asks again).
        """
        if self._in_doubt is None:
            return None
        doubted, rows = self._in_doubt
        try:
            with self.transaction() as connection:
                found = connection.execute(
                    select(records.c.seq).where(records.c.id == rows[0][1])
                ).first()
        except JournalError as error:
            raise JournalWriteError(
                f"{error} (whether the last append went through is checked at the next one)"
            ) from error
        self._in_doubt = None
        if found is None or prepared[: len(doubted)] != doubted:
            return None
        rest = prepared[len(doubted) :]
        return rows + (self._append_rows_prepared(rest) if rest else [])

    def insert_chained(
        self,
        connection: Connection,
        entries: Iterable[Entry],
        *,
        head: tuple[int, str] | None = None,
    ) -> list[Record]:
        """Validate, chain and insert entries inside the caller's write transaction.

        Args:
            connection: The write transaction's connection.
            entries: The records to append, as for :meth:`append_many`.
            head: ``(seq, hash)`` to chain from (``vacuum`` passes the head it
                read before removing records); by default the journal's head.

        Raises:
            JournalValueError: An invalid field; nothing is inserted.
        """
        prepared = [prepare(entry) for entry in entries]
        return [row_to_record(row) for row in self._insert_rows(connection, prepared, head)]

    def _insert_rows(
        self, connection: Connection, prepared: list[Prepared], head: tuple[int, str] | None
    ) -> list[Row]:
        head_seq, head_hash = self._chain_head(connection) if head is None else head
        rows = chain(prepared, head_seq, head_hash, self._writer())
        connection.execute(
            insert(records), [dict(zip(_COLUMN_NAMES, row, strict=True)) for row in rows]
        )
        return rows

    def _writer(self) -> str:
        """The actor every appended record carries (a writer always has one)."""
        assert self._actor is not None
        return self._actor

    def _append_sqlite(self, prepared: list[Prepared]) -> list[Row]:
        """Append on SQLite through the driver connection SQLAlchemy opened.

        Same connection, same ``BEGIN IMMEDIATE`` and pragmas as every other
        write, without SQLAlchemy's per-statement work: the durable commit
        is then nearly all an append costs.
        """
        if self._readonly:
            raise JournalWriteError(f"journal {self._location.display} is open read-only")
        with self._lock:
            if self._connection is None:
                raise JournalError(f"journal {self._location.display} is closed")
            driver = self._connection.connection.driver_connection
            try:
                driver.execute("BEGIN IMMEDIATE")
                try:
                    head_seq, head_hash = driver.execute(_HEAD_SQL).fetchone()
                    head_hash = GENESIS if head_hash is None else head_hash
                    rows = chain(prepared, head_seq, head_hash, self._writer())
                    driver.executemany(_INSERT_SQL, rows)
                    driver.execute("COMMIT")
                except BaseException:
                    if driver.in_transaction:
                        driver.execute("ROLLBACK")
                    raise
            except sqlite3.Error as error:
                raise self._translate(error, writing=True) from None
        return rows

    # -- reading --------------------------------------------------------------

    def _chain_head(self, connection: Connection) -> tuple[int, str]:
        """Return the seq to count on from and the hash to chain to.

        The seq is the high-water mark (:mod:`journal.high_water`), so a seq
        is never handed out twice in the life of a journal, even after every
        record is gone.
        """
        if not self._location.is_sqlite:
            return head_of(connection, counting_on=True)
        head_seq, head_hash = connection.exec_driver_sql(_HEAD_SQL).one()
        return head_seq, GENESIS if head_hash is None else head_hash

    @staticmethod
    def _head(connection: Connection) -> tuple[int, str]:
        return head_of(connection)


def current_revision(url: str | Path, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> str:
    """Return the schema revision of the journal at ``url``, head or older.

    Readers refuse a journal that needs ``db upgrade``; this only reads its
    revision, so that ``db current`` can say how far behind it is. It never
    creates, migrates or writes.

    Raises:
        Whatever ``Journal.open(url, readonly=True)`` raises, except for an
        older revision.
    """
    location = resolve(url)
    _check_busy_timeout(busy_timeout)
    if location.is_sqlite:
        check_sqlite_file(location, must_exist=True)
    engine = open_engine(location, readonly=True, busy_timeout=busy_timeout)
    try:
        with engine.connect() as connection, connection.begin():
            state = read_state(connection)
    except DBAPIError as error:
        raise translate(error, location, writing=False, busy_timeout=busy_timeout) from None
    finally:
        engine.dispose()
    return known_revision(state, location.display)


def _check_busy_timeout(seconds: float) -> None:
    if not 0 <= seconds < math.inf:  # refuses nan too
        raise JournalValueError("busy timeout must be a finite number of seconds, at least 0")


# Re-exported: readers import the page size and the row decoder from here.
__all__ = ["PAGE_SIZE", "RECORD_COLUMNS", "Journal", "current_revision", "row_to_record"]
