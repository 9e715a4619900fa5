"""Reading a journal of an older schema without changing it.

A reader never migrates (:meth:`journal.store.Journal.open`): the file may be
DR evidence whose SHA-256 a drill manifest records, or a backup kept for an
audit, and ``db upgrade`` would change it. So :func:`open_reader` reads a
SQLite journal whose schema is older than this program's from a copy: SQLite's
online backup into a private temporary directory, upgraded there by the same
migrations ``db upgrade`` runs (they copy every record unchanged, so the copy
verifies exactly as the original would). The original stays byte for byte as
it was; the copy is removed when the reader is closed.

Not for a PostgreSQL journal, whose owner upgrades it (``db upgrade``), nor
for a reader that follows new records (``tail -f``): a copy would never see
them. Both are refused as before, with the message naming ``db upgrade``.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import tempfile
from pathlib import Path

from journal.database import DEFAULT_BUSY_TIMEOUT, resolve
from journal.errors import JournalError, JournalSchemaError
from journal.schema import HEAD
from journal.store import Journal, current_revision

#: The actor the copy's migration runs as (it appends no record).
_UPGRADER = "cli:upgrade-copy"


def open_reader(
    url: str | Path, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT, follow: bool = False
) -> Journal:
    """Open a journal read-only; an older SQLite journal is read from an upgraded copy.

    The returned reader's messages name the original, and its
    :attr:`~journal.store.Journal.upgraded_from` tells the original's
    revision (None when the journal itself is read).

    Raises:
        Whatever ``Journal.open(url, readonly=True)`` raises; for an older
        schema only when ``follow``, for a PostgreSQL journal, or when the
        copy cannot be made (one line naming the journal).
    """
    try:
        return Journal.open(url, readonly=True, busy_timeout=busy_timeout)
    except JournalSchemaError:
        location = resolve(url)
        if follow or location.path is None:
            raise
        current_revision(url, busy_timeout=busy_timeout)  # a newer one raises
    directory = Path(tempfile.mkdtemp(prefix="shipshape-journal-"))
    copy = directory / "journal.db"
    try:
        mode = _backup(location.path, copy, location.display)
        # The revision of what was copied: a writer may have upgraded the
        # file since it was refused, then the file itself is read.
        copied = current_revision(copy, busy_timeout=busy_timeout)
        if copied == HEAD:
            shutil.rmtree(directory, ignore_errors=True)
            return Journal.open(url, readonly=True, busy_timeout=busy_timeout)
        _upgrade_copy(copy, location.display, directory)
        if mode != "wal":
            # A writer left the copy in WAL mode; the file is a copy itself
            # (``backup``, ``export dr-drill``): keep the copy telling so.
            with contextlib.closing(sqlite3.connect(copy)) as connection:
                connection.execute("PRAGMA journal_mode = DELETE")
        reader = Journal.open(copy, readonly=True, busy_timeout=busy_timeout)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    reader.stand_in_for(location, copied, lambda: shutil.rmtree(directory, ignore_errors=True))
    return reader


def _upgrade_copy(copy: Path, display: str, directory: Path) -> None:
    """Migrate the copy to the head; a failure names the journal, not the copy.

    Raises:
        JournalError: The migration failed (a full temporary directory, say).
    """
    try:
        Journal.open(copy, actor=_UPGRADER, create=False).close()  # writers migrate on open
    except JournalError as error:
        reason = str(error).replace(f"journal {copy}", "the copy").replace(str(copy), "the copy")
        raise JournalError(
            f"journal {display} has an older schema and upgrading a copy of it to read "
            f"failed (in {directory.parent}): {reason}"
        ) from None


def _backup(source: Path, target: Path, display: str) -> str:
    """Copy the SQLite database ``source`` to ``target``, consistently, opening it read-only.

    Returns the source's journal mode (``wal`` for a live journal).
    """
    try:
        origin = sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True)
        try:
            mode = str(origin.execute("PRAGMA journal_mode").fetchone()[0]).lower()
            with contextlib.closing(sqlite3.connect(target)) as copy:
                origin.backup(copy)
        finally:
            origin.close()
    except sqlite3.Error as error:
        raise JournalError(
            f"journal {display} has an older schema and copying it to read failed: {error}"
        ) from None
    return mode
