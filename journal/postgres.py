"""What is particular to a PostgreSQL journal.

- URLs: ``postgresql://`` means psycopg 3 (``postgresql+psycopg://``), the
  driver of the ``[postgres]`` extra; without it, one line says how to install it.
- Sessions: ``lock_timeout`` is the busy timeout, readers' sessions are
  read-only (``default_transaction_read_only``), and transactions are READ
  COMMITTED even where the database's default is stricter (the append lock
  is taken first, then the head read: it must see the last writer's commit).
- Migrations: a writer that finds the schema behind takes another advisory
  lock and looks again, so one writer creates or migrates it and the others
  find it done.
- Appends: every writer's append takes one transaction-scoped advisory lock
  before reading the head, so the journal's own records form one chain with
  gap-free seqs in commit order (docs/journal.md says why one chain rather
  than one per writer). The lock goes with the transaction: a writer killed
  mid-append holds nothing and leaves nothing.
- Errors: SQLSTATEs become :mod:`journal.errors` exceptions with one line,
  and the ones worth another try (lock timeout, deadlock, serialization
  failure) are recognised by :func:`is_retryable`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.engine import URL

from journal.errors import (
    JournalBusyError,
    JournalError,
    JournalNotFoundError,
    JournalWriteError,
    NotAJournalError,
)
from telemetry.redaction import redact

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

#: What to run when psycopg is missing.
INSTALL_HINT = "pip install 'shipshape[postgres]'"
#: The driver ``postgresql://`` URLs get.
DRIVER = "psycopg"
#: Every journal transaction's isolation level, whatever the server's default.
ISOLATION_LEVEL = "READ COMMITTED"
#: The advisory lock key serialising appends to the journal's own chain
#: (any constant; "shipshape" in ASCII, folded into a signed 64-bit integer).
APPEND_LOCK_KEY = int.from_bytes(b"shipshap", "big") - (1 << 63)
#: The advisory lock key serialising writers that create or migrate the schema.
SCHEMA_LOCK_KEY = APPEND_LOCK_KEY + 1

# SQLSTATEs worth retrying: serialization_failure, deadlock_detected,
# lock_not_available (lock_timeout), unique_violation (a racing writer
# without the lock), query_canceled is not (a statement_timeout).
_RETRYABLE = frozenset({"40001", "40P01", "55P03", "23505"})
_BUSY = frozenset({"40001", "40P01", "55P03"})
# SQLSTATEs of a connection the server ended: admin_shutdown (a restart, a
# failover), crash_shutdown, cannot_connect_now (starting up),
# idle_session_timeout; and class 08.
_LOST = frozenset({"57P01", "57P02", "57P03", "57P05"})

#: Seconds a follower (``ship -f``, ``tail -f``) keeps trying to get through
#: to a server it lost the connection to (a restart, a failover) before the
#: error goes up.
RECONNECT_SECONDS = 60.0
#: The first pause before trying again, and the longest.
RECONNECT_PAUSE = 0.25
RECONNECT_PAUSE_MAX = 5.0


def normalise_url(url: URL) -> URL:
    """Give a ``postgresql://`` URL the psycopg 3 driver (SQLAlchemy's default is psycopg2)."""
    if url.drivername == "postgresql":
        return url.set(drivername=f"postgresql+{DRIVER}")
    return url


def missing_driver(display: str, error: ImportError) -> JournalError:
    """Return the one-line error for a PostgreSQL journal without its driver."""
    name = getattr(error, "name", None) or "the PostgreSQL driver"
    return JournalError(
        f"journal {display} needs the PostgreSQL driver ({name} is not installed): {INSTALL_HINT}"
    )


def connect_args(
    *, readonly: bool, busy_timeout: float, query: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Return psycopg connection arguments for a writer or a reader.

    They take the place of the URL's own (``query``): its ``options`` (a
    platform's ``-c statement_timeout=...``) are kept ahead of the journal's,
    and its ``application_name`` and ``connect_timeout`` win over the defaults.
    """
    given = {
        key: value if isinstance(value, str) else value[-1] for key, value in (query or {}).items()
    }
    options = f"-c lock_timeout={max(1, int(busy_timeout * 1000))}"
    if readonly:
        options += " -c default_transaction_read_only=on"
    if given.get("options", "").strip():
        options = f"{given['options'].strip()} {options}"
    return {
        "options": options,
        "connect_timeout": given.get("connect_timeout", 10),
        "application_name": given.get("application_name", "shipshape-journal"),
    }


def lock_chain(connection: Connection) -> None:
    """Take the append lock for the rest of the transaction (released at commit or rollback)."""
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": APPEND_LOCK_KEY})


def lock_schema(connection: Connection) -> None:
    """Wait until no other writer is creating or migrating the schema (until the transaction ends).

    What ``BEGIN IMMEDIATE`` gives writers of a SQLite journal: two writers
    opening a new database at once would otherwise both create its tables, and
    the second would fail on the catalog's unique keys.
    """
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})


def sqlstate(error: BaseException) -> str | None:
    """Return the SQLSTATE of a psycopg error (wrapped by SQLAlchemy or not)."""
    original = getattr(error, "orig", error)
    state = getattr(original, "sqlstate", None)
    return state if isinstance(state, str) else None


def is_retryable(error: BaseException) -> bool:
    """Tell whether another attempt of the same transaction may succeed."""
    current: BaseException | None = error
    while current is not None:
        if sqlstate(current) in _RETRYABLE:
            return True
        current = current.__cause__ or current.__context__
    return False


def is_connection_lost(error: BaseException) -> bool:
    """Tell whether a PostgreSQL error is a lost (or refused) connection to the server.

    A server restarted, failed over or not reachable for a while: the
    journal's connection is opened again on its next use, so the same work
    may be tried again (when it is idempotent, or known not to have committed).
    """
    current: BaseException | None = error
    while current is not None:
        if getattr(current, "connection_invalidated", False):
            return True
        original = getattr(current, "orig", current)
        if type(original).__module__.startswith("psycopg"):
            state = sqlstate(original)
            if state in _LOST or (state or "").startswith("08"):
                return True
            if state is None and type(original).__name__ == "OperationalError":
                return True  # psycopg's "connection failed", "server closed the connection"
        current = current.__cause__ or current.__context__
    return False


def translate(
    error: BaseException, display: str, *, writing: bool, busy_timeout: float
) -> JournalError | None:
    """Return the journal error for a PostgreSQL error, or ``None`` when not one of ours."""
    original = getattr(error, "orig", error)
    if not type(original).__module__.startswith("psycopg"):
        return None
    state = sqlstate(original)
    first = str(original).strip().splitlines()[0] if str(original).strip() else "unknown error"
    message = redact(first)
    wrap = JournalWriteError if writing else JournalError
    if state in _BUSY:
        return JournalBusyError(
            f"journal {display} is locked by another connection "
            f"(still busy after the {busy_timeout:g} s busy timeout: {message})"
        )
    if state is None or state.startswith("08"):
        return JournalError(f"cannot connect to journal {display}: {message}")
    if state in _LOST:
        return (JournalWriteError if writing else JournalError)(
            f"lost the connection to journal {display} (the server ended it): {message}"
        )
    for states, kind, template in _PROBLEMS:
        if state in states:
            return (kind or wrap)(template.format(display=display, message=message))
    return wrap(f"journal {display}: {message}")


# (SQLSTATEs, error class or None for a write/read error, message).
_PROBLEMS: tuple[tuple[frozenset[str], type[JournalError] | None, str], ...] = (
    (frozenset({"3D000"}), JournalNotFoundError, "no journal at {display}: {message}"),
    (frozenset({"28P01", "28000"}), JournalError, "cannot log in to journal {display}: {message}"),
    (frozenset({"42501"}), None, "journal {display}: permission denied: {message}"),
    (frozenset({"25006"}), None, "journal {display} is read-only here: {message}"),
    (frozenset({"42P01"}), NotAJournalError, "{display} is not a Shipshape journal: {message}"),
    (
        frozenset({"57014"}),
        None,
        "journal {display}: a statement ran past the server's statement_timeout (set for the "
        "role, the database or in the URL's options): {message}",
    ),
)

#: Attempts of one append on PostgreSQL before its error is reported.
APPEND_ATTEMPTS = 8


@dataclass
class Outage:
    """A lost connection to a PostgreSQL journal, waited out for up to ``seconds``.

    The journal's connection opens again at its next use, so a caller whose
    work is safe to try again (a read, a copy that skips what is there)
    catches the error, asks :meth:`wait`, and tries again while it says so.
    """

    seconds: float = RECONNECT_SECONDS
    should_stop: Callable[[], bool] = lambda: False
    on_reconnect: Callable[[JournalError], None] | None = None
    #: When the outage began, and where the caller's work stood then.
    began: tuple[float, object] | None = None

    def wait(self, error: JournalError, progress: object) -> bool:
        """Pause before the next try; ``False`` when ``error`` is to go up instead.

        ``error`` goes up when it is not a lost connection, when ``seconds``
        passed without getting through, or when the caller is asked to stop.
        ``progress`` (a seq, cursors) tells a new outage from the same one:
        work done since starts the clock again, and ``on_reconnect`` is called
        once per outage.
        """
        if not is_connection_lost(error):
            return False
        new = self.began is None or self.began[1] != progress
        if new:
            self.began = (time.monotonic(), progress)
        assert self.began is not None
        waited = time.monotonic() - self.began[0]
        if waited >= self.seconds or self.should_stop():
            return False
        if new and self.on_reconnect is not None:
            self.on_reconnect(error)
        pause = RECONNECT_PAUSE * 2 ** min(int(waited), 6)
        _pause(min(RECONNECT_PAUSE_MAX, pause, self.seconds - waited), self.should_stop)
        return True

    def over(self) -> None:
        """The work went through: the next lost connection is a new outage."""
        self.began = None


def _pause(seconds: float, should_stop: Callable[[], bool]) -> None:
    """Sleep ``seconds``, or less when asked to stop."""
    deadline = time.monotonic() + seconds
    while not should_stop() and time.monotonic() < deadline:
        time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
