"""Where a journal lives and how its database is opened.

A journal is named by a SQLAlchemy URL or a bare file path (a SQLite file).
SQLite files are opened in WAL mode with ``synchronous=FULL`` and a busy
timeout; writers start every transaction with ``BEGIN IMMEDIATE`` so two
writers never interleave, and readers open the file read-only so they can
never create or change it.

SQLite's own errors are turned into :mod:`journal.errors` exceptions with one
line that names the journal (:func:`translate`).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.pool import NullPool

from journal import postgres
from journal.errors import (
    JournalBusyError,
    JournalCorruptError,
    JournalError,
    JournalNotFoundError,
    JournalValueError,
    JournalWriteError,
    NotAJournalError,
)
from telemetry.redaction import REDACTED, redact

#: The environment variable naming the journal when ``--journal`` is not given.
JOURNAL_URL_VARIABLE = "JOURNAL_URL"
#: The journal used when neither ``--journal`` nor ``JOURNAL_URL`` is given.
DEFAULT_URL = "sqlite:///shipshape-journal.db"
#: Seconds a writer waits for another writer's lock before giving up.
DEFAULT_BUSY_TIMEOUT = 5.0

SQLITE_HEADER = b"SQLite format 3\x00"


@dataclass(frozen=True)
class Location:
    """A resolved journal location.

    Attributes:
        url: The SQLAlchemy URL.
        path: The SQLite file (absolute), or ``None`` for other databases.
        display: How messages name the journal (credentials redacted).
    """

    url: str
    path: Path | None
    display: str

    @property
    def is_sqlite(self) -> bool:
        """Tell whether the journal is a SQLite file."""
        return self.path is not None


def resolve(url_or_path: str | Path) -> Location:
    """Resolve ``--journal``/``JOURNAL_URL`` into a :class:`Location`.

    A value with ``://`` is a SQLAlchemy URL; anything else is a SQLite file
    path. Relative paths are taken from the working directory.

    Raises:
        JournalValueError: For an unparseable URL or an in-memory SQLite URL
            (an in-memory journal would not be durable).
    """
    text = str(url_or_path).strip()
    if not text:
        raise JournalValueError("journal location is empty")
    if "://" not in text:
        return _sqlite_file(_expanded(text))
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):  # ValueError: a port or host it cannot read
        raise JournalValueError(f"invalid journal URL {redact(text)!r}") from None
    if url.get_backend_name() == "postgresql":
        display = _display(text, url)
        url = postgres.normalise_url(url)
        return Location(url=url.render_as_string(hide_password=False), path=None, display=display)
    if url.get_backend_name() != "sqlite":
        return Location(url=text, path=None, display=_display(text, url))
    database = url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        raise JournalValueError(
            f"journal URL {text!r} names an in-memory database; a journal must be a file"
        )
    return _sqlite_file(_expanded(database))


def _sqlite_file(path: Path) -> Location:
    """The location of the SQLite file ``path``, whatever characters its name holds.

    The URL is built, not pasted: ``j.db?timeout=abc`` is a file name, and
    pasted after ``sqlite:///`` its ``?`` would start a query SQLAlchemy reads.
    """
    url = URL.create("sqlite", database=str(path)).render_as_string(hide_password=False)
    return Location(url=url, path=path, display=str(path))


def _expanded(text: str) -> Path:
    """``text`` as an absolute path, ``~`` expanded; a ``~user`` that names nobody is refused."""
    try:
        return Path(text).expanduser().absolute()
    except RuntimeError:  # pathlib's "could not determine home directory"
        raise JournalValueError(f"journal path {text!r}: no such user's home directory") from None


def _display(text: str, url: URL) -> str:
    """How messages name a database URL: as given, its password never shown.

    Redaction of the text covers the usual spellings; a password the URL
    parser still finds in the result (a space or a slash in it, no user name
    before it) is hidden by naming the URL as the parser read it instead.
    """
    shown = redact(text)
    password = url.password
    if not password or (password not in shown and quote(password, safe="") not in shown):
        return shown
    rendered = url.render_as_string(hide_password=True)
    return redact(rendered.replace(":***@", f":{REDACTED}@", 1))


def check_sqlite_file(location: Location, *, must_exist: bool) -> bool:
    """Check the SQLite file before opening it; return whether it exists.

    Raises:
        JournalNotFoundError: The path is a directory, or is missing and
            ``must_exist`` is true, or its directory is missing.
        NotAJournalError: The file is not a SQLite database.
        JournalError: The path cannot be reached (a directory without search
            permission on the way, a name too long) or the file cannot be read.
    """
    path = location.path
    assert path is not None
    try:
        is_dir, exists = path.is_dir(), path.exists()
    except OSError as error:  # no search permission on the way, a name too long
        raise JournalError(f"cannot read journal {path}: {error.strerror or error}") from None
    if is_dir:
        raise JournalNotFoundError(f"journal path {path} is a directory, not a file")
    if not exists:
        if must_exist:
            raise JournalNotFoundError(f"no journal at {path} (file does not exist)")
        if not path.parent.is_dir():
            raise JournalNotFoundError(
                f"cannot create journal {path}: directory {path.parent} does not exist"
            )
        return False
    if not path.is_file():  # a FIFO would block the open for ever
        raise NotAJournalError(f"{path} is not a regular file, so not a Shipshape journal")
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as error:
        raise JournalError(f"cannot read journal {path}: {error.strerror or error}") from None
    if header and header != SQLITE_HEADER:
        raise NotAJournalError(f"{path} is not a SQLite database, so not a Shipshape journal")
    return True


def open_engine(location: Location, *, readonly: bool, busy_timeout: float) -> Engine:
    """Create the SQLAlchemy engine for a journal, with the journal's SQLite settings.

    For SQLite: WAL, ``synchronous=FULL`` and ``BEGIN IMMEDIATE`` for writers;
    a read-only connection (``mode=ro``, ``query_only``) and plain ``BEGIN``
    for readers; the busy timeout for both. Connections are not pooled: a
    :class:`journal.store.Journal` holds its own for its lifetime.
    """
    if not location.is_sqlite:
        return _other_engine(location, readonly=readonly, busy_timeout=busy_timeout)
    path = location.path
    assert path is not None

    def connect() -> sqlite3.Connection:
        if readonly:
            uri = f"file:{quote(str(path))}?mode=ro"
            return sqlite3.connect(
                uri, uri=True, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        return sqlite3.connect(
            str(path), timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )

    engine = create_engine(location.url, creator=connect, poolclass=NullPool)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # The driver must not open transactions itself: the "begin" hook does.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            if readonly:
                cursor.execute("PRAGMA query_only = ON")
            else:
                _switch_to_wal(cursor, busy_timeout)
                cursor.execute("PRAGMA synchronous = FULL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

    return engine


def _switch_to_wal(cursor: sqlite3.Cursor, busy_timeout: float) -> None:
    """Put the database in WAL mode, waiting up to the busy timeout for other connections.

    SQLite answers ``PRAGMA journal_mode = WAL`` with ``SQLITE_BUSY`` at once,
    without calling the busy handler, when another connection holds a lock on
    the file at that moment (two writers creating the same new journal, say).
    So the switch is retried here, with a short growing pause, until the busy
    timeout has passed; then the last error goes up like any other busy error.
    """
    deadline = time.monotonic() + busy_timeout
    pause = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if _primary_code(error) != _SQLITE_BUSY or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def _other_engine(location: Location, *, readonly: bool, busy_timeout: float) -> Engine:
    """Create the engine of a journal that is not a SQLite file (PostgreSQL).

    Raises:
        JournalValueError: The URL names a database SQLAlchemy does not know,
            or one whose Python driver is not installed (with how to install it).
    """
    scheme = location.url.partition("://")[0]
    try:
        backend = make_url(location.url).get_backend_name()
        if backend == "postgresql":
            arguments = postgres.connect_args(
                readonly=readonly, busy_timeout=busy_timeout, query=make_url(location.url).query
            )
            # READ COMMITTED whatever the database's default: an append reads
            # the head after it waits for the append lock, and must see what
            # the writer before it committed (a serializable snapshot would not).
            return create_engine(
                location.url,
                poolclass=NullPool,
                connect_args=arguments,
                isolation_level=postgres.ISOLATION_LEVEL,
            )
        return create_engine(location.url, poolclass=NullPool)
    except NoSuchModuleError:
        raise JournalValueError(
            f"journal URL {location.display}: unknown database {scheme!r} "
            "(use a SQLite file path, sqlite:///PATH or postgresql+psycopg://USER@HOST/DB)"
        ) from None
    except ImportError as error:
        if (error.name or "").startswith(postgres.DRIVER):  # the [postgres] extra brings it
            raise JournalValueError(str(postgres.missing_driver(location.display, error))) from None
        raise JournalValueError(
            f"journal URL {location.display}: its driver, the Python module "
            f"{error.name or scheme!r}, is not installed"
        ) from None
    except (ArgumentError, TypeError, ValueError) as error:
        raise JournalValueError(f"invalid journal URL {location.display}: {error}") from None


# SQLite primary result codes (https://sqlite.org/rescode.html).
_SQLITE_PERM = 3
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_READONLY = 8
_SQLITE_IOERR = 10
_SQLITE_CORRUPT = 11
_SQLITE_FULL = 13
_SQLITE_CANTOPEN = 14
_SQLITE_NOTADB = 26
# An extended code: a read-only connection found a hot rollback journal.
_SQLITE_READONLY_ROLLBACK = _SQLITE_READONLY | (3 << 8)


def translate(
    error: BaseException, location: Location, *, writing: bool, busy_timeout: float
) -> JournalError:
    """Return the journal error for a database error, with a one-line message.

    Args:
        error: A SQLAlchemy ``DBAPIError`` or a ``sqlite3.Error``.
        location: The journal, named in the message.
        writing: Whether the failed operation was a write (the error is then a
            :class:`JournalWriteError`, which promises nothing was written).
        busy_timeout: The busy timeout in seconds, quoted when the journal was locked.
    """
    translated = error if isinstance(error, JournalError) else None
    if translated is None and not location.is_sqlite:
        translated = postgres.translate(
            error, location.display, writing=writing, busy_timeout=busy_timeout
        )
    if translated is not None:
        return translated
    original = error.orig if isinstance(error, DBAPIError) else error
    message = str(original).strip().splitlines()[0] if str(original).strip() else "unknown error"
    primary = _primary_code(original)
    where = location.display
    lowered = message.lower()
    if primary in (_SQLITE_BUSY, _SQLITE_LOCKED) or "database is locked" in lowered:
        return JournalBusyError(
            f"journal {where} is locked by another connection "
            f"(still busy after the {busy_timeout:g} s busy timeout)"
        )
    if primary == _SQLITE_NOTADB or "file is not a database" in lowered:
        return NotAJournalError(f"{where} is not a SQLite database, so not a Shipshape journal")
    if primary == _SQLITE_CORRUPT or "malformed" in lowered:
        return JournalCorruptError(f"journal {where} is corrupt: {message}")
    wrap = JournalWriteError if writing else JournalError
    extended = getattr(original, "sqlite_errorcode", None)
    for codes, needle, template in _WRITE_PROBLEMS:
        if primary in codes or extended in codes or (needle and needle in lowered):
            return wrap(template.format(where=where, message=message))
    return wrap(f"journal {where}: {redact(message)}")


def _primary_code(error: BaseException | None) -> int | None:
    """The primary result code of a ``sqlite3`` error (its extended code's low byte), or None."""
    code = getattr(error, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


# (primary or extended codes, text to look for, message) for problems that are write
# errors when writing and plain journal errors otherwise.
_WRITE_PROBLEMS: tuple[tuple[tuple[int, ...], str, str], ...] = (
    (
        # A writer of a file in rollback mode (a backup, an exported snapshot)
        # died mid-write: only a writer can roll its -journal file back.
        (_SQLITE_READONLY_ROLLBACK,),
        "",
        "journal {where} holds an interrupted write (its -journal file), which a reader "
        "cannot roll back: open it once as a writer (shipshape-journal db upgrade), then read it",
    ),
    (
        (_SQLITE_READONLY, _SQLITE_PERM),
        "readonly database",
        "journal {where} is read-only: {message}",
    ),
    ((_SQLITE_FULL,), "disk is full", "journal {where} is full (disk or size limit): {message}"),
    ((_SQLITE_CANTOPEN,), "", "cannot open journal {where}: {message}"),
    ((_SQLITE_IOERR,), "", "I/O error on journal {where}: {message}"),
)
