"""The journal's schema revision: reading it, judging it, upgrading it.

Migrations live in ``journal/migrations`` next to this module and are found
relative to the installed package, never the working directory, so a
controller or operator can open a journal from anywhere. Writers apply them
on open (:func:`ensure_schema`) inside their ``BEGIN IMMEDIATE`` transaction,
passing that connection to Alembic through ``config.attributes`` as mlflow
does; readers only check the revision, without importing Alembic.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from journal.errors import JournalCorruptError, JournalSchemaError, NotAJournalError

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection

MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")
#: Alembic's version table; its own name keeps it apart from other
#: applications' ``alembic_version`` tables in a shared database.
VERSION_TABLE = "journal_alembic_version"
RECORDS_TABLE = "journal_records"
#: The engine's bookkeeping beside the records, kept by triggers rather than
#: modelled (as SQLite's own ``sqlite_sequence`` is not): PostgreSQL's seq
#: high-water mark (revision 0005, :mod:`journal.high_water`).
BOOKKEEPING_TABLES = frozenset({"journal_seq_high_water"})


def is_modelled(name: str | None, type_: str, _parent_names: object) -> bool:
    """Alembic's ``include_name``: compare every object with the models but the bookkeeping."""
    return not (type_ == "table" and name in BOOKKEEPING_TABLES)


#: Every revision of ``journal/migrations``, oldest first (a test keeps this
#: equal to the migration scripts, so readers need not load Alembic).
REVISIONS: tuple[str, ...] = ("0001", "0002", "0003", "0004", "0005")
#: The revision this program writes and reads.
HEAD = REVISIONS[-1]


@dataclass(frozen=True)
class SchemaState:
    """What a database holds, as far as the journal is concerned.

    Attributes:
        revision: The journal schema revision, or ``None`` when unversioned.
        tables: Every table in the database.
    """

    revision: str | None
    tables: frozenset[str]

    @property
    def is_empty(self) -> bool:
        """Tell whether the database has no tables at all (a new file)."""
        return not self.tables

    @property
    def is_journal(self) -> bool:
        """Tell whether the database carries the journal's version table."""
        return VERSION_TABLE in self.tables


def read_state(connection: Connection) -> SchemaState:
    """Return the tables and journal schema revision of the connected database."""
    tables = frozenset(inspect(connection).get_table_names())
    revision = None
    if VERSION_TABLE in tables:
        rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).all()  # noqa: S608 - constant name
        revision = rows[0][0] if rows else None
    return SchemaState(revision=revision, tables=tables)


def check_readable(state: SchemaState, display: str) -> None:
    """Raise unless the database is a journal at this program's revision.

    Raises:
        NotAJournalError: No journal schema (an empty or another application's database).
        JournalSchemaError: The revision is older (run ``db upgrade``) or newer
            than this program.
        JournalCorruptError: A known revision without the records table (damaged).
    """
    _check_is_journal(state, display, allow_empty=False)
    if state.revision == HEAD and RECORDS_TABLE in state.tables:
        return
    _raise_if_damaged(state, display)
    if state.revision in REVISIONS:
        raise JournalSchemaError(
            f"journal {display} has schema revision {state.revision}, older than this "
            f"program's {HEAD}; run `shipshape-journal db upgrade`"
        )
    _raise_if_newer(state, display)
    raise _no_records_table(display)


def known_revision(state: SchemaState, display: str) -> str:
    """Return the revision of a journal at this program's head or older.

    What ``db current`` reports: unlike :func:`check_readable`, an older
    revision (a journal that needs ``db upgrade``) is an answer, not an error.

    Raises:
        NotAJournalError: No journal schema (an empty or another application's database).
        JournalSchemaError: The revision is newer than this program.
        JournalCorruptError: A known revision without the records table (damaged).
    """
    _check_is_journal(state, display, allow_empty=False)
    _raise_if_newer(state, display)
    _raise_if_damaged(state, display)
    if state.revision is None or RECORDS_TABLE not in state.tables:
        raise _no_records_table(display)
    return state.revision


def _no_records_table(display: str) -> NotAJournalError:
    return NotAJournalError(f"{display} has a journal version table but no journal records table")


def _raise_if_damaged(state: SchemaState, display: str) -> None:
    """Refuse a journal whose revision is known but whose records table is gone.

    Every revision has the records table (0001 creates it), so its absence is
    damage, which no ``db upgrade`` mends: that would find the revision
    current, change nothing, and be advised again.
    """
    if state.revision in REVISIONS and RECORDS_TABLE not in state.tables:
        raise JournalCorruptError(
            f"journal {display} is damaged: it is at schema revision {state.revision} but "
            f"its records table ({RECORDS_TABLE}) is missing; restore it from a backup"
        )


def needs_upgrade(state: SchemaState, display: str) -> bool:
    """Tell whether a writer must migrate; raise if it must not touch the database.

    Raises:
        NotAJournalError: The database belongs to another application.
        JournalSchemaError: The schema is newer than this program.
        JournalCorruptError: A known revision without the records table (damaged).
    """
    _check_is_journal(state, display, allow_empty=True)
    if state.is_empty:
        return True
    _raise_if_newer(state, display)
    _raise_if_damaged(state, display)
    return state.revision != HEAD or RECORDS_TABLE not in state.tables


def _check_is_journal(state: SchemaState, display: str, *, allow_empty: bool) -> None:
    if state.is_journal:
        return
    if state.is_empty:
        if allow_empty:
            return
        raise NotAJournalError(
            f"{display} is an empty database, not a Shipshape journal "
            "(create one with `shipshape-journal db upgrade`)"
        )
    shown = ", ".join(sorted(state.tables)[:5]) + (", ..." if len(state.tables) > 5 else "")
    raise NotAJournalError(
        f"{display} is a database of another application (tables: {shown}), not a Shipshape journal"
    )


def _raise_if_newer(state: SchemaState, display: str) -> None:
    if state.revision is not None and state.revision not in REVISIONS:
        raise JournalSchemaError(
            f"journal {display} has schema revision {state.revision!r}, newer than this "
            f"program knows (up to {HEAD}); use a newer shipshape-journal"
        )


def alembic_config(connection: Connection | None = None) -> Config:
    """Return an Alembic configuration for the packaged migrations.

    Args:
        connection: An open connection the migrations run on (shared via
            ``config.attributes``); without one, ``env.py`` opens the journal itself.
    """
    from alembic.config import Config  # noqa: PLC0415 - only writers that migrate need Alembic

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(connection: Connection, revision: str = "head") -> None:
    """Apply the migrations up to ``revision`` on ``connection`` (inside its transaction).

    Raises:
        DBAPIError: The first database error of the migration. A full disk
            (``SQLITE_FULL``, an I/O error) rolls SQLite's whole transaction
            back at once, so Alembic's clean-up of a batch copy then fails
            too (``no such table: _alembic_tmp_journal_records``); that
            second error would hide the cause, so the first is raised.
    """
    from alembic import command  # noqa: PLC0415 - only writers that migrate need Alembic

    try:
        command.upgrade(alembic_config(connection), revision)
    except DBAPIError as error:
        first = _first_database_error(error)
        if first is error:
            raise
        raise first from None


def _first_database_error(error: DBAPIError) -> DBAPIError:
    """Return the earliest database error that ``error`` was raised while handling."""
    first = error
    seen = {id(error)}
    context = error.__context__
    while context is not None and id(context) not in seen:
        seen.add(id(context))
        if isinstance(context, DBAPIError):
            first = context
        context = context.__context__
    return first


def script_revisions() -> tuple[str, ...]:
    """Return the revisions of the migration scripts, oldest first (loads Alembic)."""
    from alembic.script import ScriptDirectory  # noqa: PLC0415

    script = ScriptDirectory.from_config(alembic_config())
    return tuple(reversed([rev.revision for rev in script.walk_revisions()]))
