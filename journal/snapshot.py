"""Consistent snapshots of a journal (``backup``, ``export dr-drill``).

``VACUUM INTO`` copies the database as of one read transaction, so a writer
may keep appending while the copy is made; the copy holds every record
committed before it started and nothing half-written. The copy is written
under a temporary name, switched to a self-contained rollback-journal file
(no ``-wal``/``-shm`` companions, so its SHA-256 is stable), synced, then
renamed into place: a failed backup leaves no file behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from journal.errors import JournalError, JournalOutputError, JournalValueError

if TYPE_CHECKING:
    from journal.store import Journal


@dataclass(frozen=True)
class Snapshot:
    """A snapshot file written by :func:`snapshot`.

    Attributes:
        path: Where it was written.
        bytes: Its size.
        sha256: Hex SHA-256 of the file.
    """

    path: Path
    bytes: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        """Return the snapshot's facts as a JSON object."""
        return {"path": str(self.path), "bytes": self.bytes, "sha256": self.sha256}


def file_sha256(path: Path) -> str:
    """Return the hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def snapshot(journal: Journal, out: str | Path) -> Snapshot:
    """Write a consistent copy of a SQLite journal to ``out`` with ``VACUUM INTO``.

    Raises:
        JournalValueError: ``out`` exists, its directory is missing, or the
            journal is not a SQLite file.
        JournalError: The copy failed (nothing is left at ``out``).
    """
    if not journal.location.is_sqlite:
        raise JournalValueError("snapshots (VACUUM INTO) need a SQLite journal")
    target = Path(out).expanduser().absolute()
    try:
        if target.exists():
            raise JournalValueError(f"{target} already exists; choose another file")
        if not target.parent.is_dir():
            what = "is not a directory" if target.parent.exists() else "does not exist"
            raise JournalValueError(f"cannot write {target}: {target.parent} {what}")
    except OSError as error:  # no search permission on the way, a name too long
        raise JournalOutputError(f"cannot write {target}: {error.strerror or error}") from None
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        # Create the (empty) copy first, so that a directory we cannot write
        # in is named as such, not as SQLite's "cannot open" of the journal.
        os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as error:
        raise JournalError(
            f"cannot write in the output directory {target.parent}: {error.strerror or error}"
        ) from None
    try:
        try:
            journal.vacuum_into(temporary)
        except JournalOutputError as error:  # the copy's disk: name the copy, not the journal
            raise JournalOutputError(
                f"cannot write {target}: {error.reason}", error.reason
            ) from None
        connection = sqlite3.connect(temporary, isolation_level=None)
        try:
            connection.execute("PRAGMA journal_mode = DELETE")
        finally:
            connection.close()
        with temporary.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, target)
        _fsync_dir(target.parent)
    except OSError as error:
        reason = error.strerror or str(error)
        raise JournalOutputError(f"cannot write {target}: {reason}", reason) from None
    except sqlite3.Error as error:
        raise JournalError(f"snapshot to {target} failed: {error}") from None
    finally:
        for leftover in (temporary, Path(f"{temporary}-journal")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
    return Snapshot(path=target, bytes=target.stat().st_size, sha256=file_sha256(target))
