"""Signed checkpoints: when writers sign the chain, and how ``verify`` checks them.

The hash chain alone catches accidents, not an attacker: whoever can write the
file can change a record and recompute every later hash. A checkpoint is a
``journal.checkpoint`` record whose data is a statement signed with an Ed25519
key the storage never sees (:mod:`journal.signing`): "seq S has hash H, and
records F..S have these hashes". Rewriting anything at or before S then needs
the private key.

Writing: :class:`CheckpointWriter` wraps a writer :class:`~journal.store.Journal`
and appends a checkpoint covering the head after at least every
:data:`EVERY_RECORDS` records, within :data:`EVERY_SECONDS` of the first
unsigned one (:meth:`CheckpointWriter.tick`) and when it closes. A checkpoint
is appended in its own write transaction, reading the head inside it, so it
always covers the record just before it, whoever wrote that.

Verifying is :mod:`journal.audit` (:func:`verify_signed`, importable from
here too): it checks every checkpoint's key, signature and listed digests as
``verify`` walks the chain.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select
from sqlalchemy.exc import IntegrityError

from journal import postgres
from journal.audit import Checkpoint, SignedVerifyResult, verify_signed
from journal.errors import JournalError, JournalWriteError
from journal.models import records
from journal.record import Entry, Record
from journal.signing import (
    DIGEST_CHARS,
    MAX_DIGESTS,
    Signer,
    sign_checkpoint,
)
from journal.timefmt import format_ts, utc_now
from records import JournalCheckpoint, JournalVacuumed, kinds

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from journal.store import Journal

log = logging.getLogger(__name__)

#: A checkpoint follows at most this many records of one writer.
EVERY_RECORDS = 100
#: ... and at most this many seconds after the first record it covers.
EVERY_SECONDS = 10.0
_ATTEMPTS = 3


# -- writing ------------------------------------------------------------------------


def write_checkpoint(
    journal: Journal, signer: Signer, *, now: datetime | None = None
) -> Record | None:
    """Append a checkpoint covering the current head; ``None`` when the head is one already.

    Raises:
        JournalWriteError: The write failed; nothing was written.
    """
    is_postgres = journal.location.url.startswith("postgresql")
    attempts = postgres.APPEND_ATTEMPTS if is_postgres else _ATTEMPTS
    for attempt in range(attempts):
        try:
            with journal.transaction(write=True) as connection:
                if is_postgres:
                    postgres.lock_chain(connection)  # as every append (journal/postgres.py)
                return _write_checkpoint(journal, connection, signer, now)
        except JournalWriteError as error:
            # A database without BEGIN IMMEDIATE: another writer took the seq.
            retry = isinstance(error.__context__, IntegrityError) or (
                is_postgres and postgres.is_retryable(error)
            )
            if retry and attempt + 1 < attempts:
                continue
            raise
    raise AssertionError("unreachable")  # pragma: no cover


def _write_checkpoint(
    journal: Journal, connection: Connection, signer: Signer, now: datetime | None
) -> Record | None:
    # The journal's own chain: records shipped into a central journal keep
    # their sources' chains and checkpoints (journal/ship.py).
    own = records.c.stream.is_(None)
    head = connection.execute(
        select(records.c.seq, records.c.hash, records.c.kind)
        .where(own)
        .order_by(records.c.seq.desc())
        .limit(1)
    ).first()
    if head is None or head[2] == kinds.JOURNAL_CHECKPOINT:
        return None
    head_seq, head_hash = head[0], head[1]
    previous = connection.execute(
        select(func.max(records.c.seq)).where(records.c.kind == kinds.JOURNAL_CHECKPOINT, own)
    ).scalar()
    # List the records since the previous checkpoint, that checkpoint included
    # (every record of those seqs: shipped ones among them are listed too).
    start = max(previous or 0, head_seq - MAX_DIGESTS + 1)
    rows = connection.execute(
        select(records.c.seq, records.c.hash)
        .where(and_(records.c.seq >= start, records.c.seq <= head_seq))
        .order_by(records.c.seq)
    ).all()
    moment = now or utc_now()
    unsigned = JournalCheckpoint(
        seq=head_seq,
        head_hash=head_hash,
        ts=format_ts(moment),
        key_id=signer.key_id,
        from_seq=rows[0][0],
        digests=[row[1][:DIGEST_CHARS] for row in rows],
        signature="",
    )
    payload = sign_checkpoint(signer, unsigned)
    entry = Entry(kind=payload.KIND, data=payload.to_data(), ts=moment)
    (record,) = journal.insert_chained(connection, [entry])
    return record


class CheckpointWriter:
    """A journal writer that signs what it appends (see the module text for when).

    Offers the writer calls the controller and the CLI use (``append``,
    ``append_many``, ``write_many``, ``close``, ``with``); :attr:`journal` is
    the wrapped writer for everything else (then call :meth:`appended`).
    """

    def __init__(
        self,
        journal: Journal,
        signer: Signer,
        *,
        every_records: int = EVERY_RECORDS,
        every_seconds: float = EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Sign ``journal``'s appends with ``signer``."""
        self._journal = journal
        self._signer = signer
        self._every_records = every_records
        self._every_seconds = every_seconds
        self._clock = clock
        self._unsigned = 0
        self._since: float | None = None
        self.last_checkpoint: Record | None = None
        self.last_error: str | None = None

    @property
    def journal(self) -> Journal:
        """The wrapped writer."""
        return self._journal

    @property
    def key_id(self) -> str:
        """The signing key's id."""
        return self._signer.key_id

    @property
    def unsigned(self) -> int:
        """Records this writer appended since its last checkpoint."""
        return self._unsigned

    def append(self, kind: str, **fields: Any) -> Record:
        """Append one record (as :meth:`Journal.append`), then checkpoint when due."""
        return self.append_many((Entry(kind=kind, **fields),))[0]

    def append_many(self, entries: Iterable[Entry]) -> list[Record]:
        """Append records in one transaction (as :meth:`Journal.append_many`), then tick.

        A failing checkpoint never fails the append (the records are durable):
        it is logged and tried again at the next tick.
        """
        result = self._journal.append_many(entries)
        self.appended(len(result))
        self.tick()
        return result

    def write_many(self, entries: Iterable[Entry]) -> int:
        """Append records as :meth:`Journal.write_many` does (returning how many), then tick."""
        count = self._journal.write_many(entries)
        self.appended(count)
        self.tick()
        return count

    def appended(self, count: int) -> None:
        """Count ``count`` records appended through :attr:`journal` directly."""
        if count > 0:
            self._unsigned += count
            if self._since is None:
                self._since = self._clock()

    def due(self) -> bool:
        """Whether a checkpoint is due now."""
        if not self._unsigned or self._since is None:
            return False
        return (
            self._unsigned >= self._every_records
            or self._clock() - self._since >= self._every_seconds
        )

    def tick(self) -> Record | None:
        """Append a checkpoint when one is due; errors are logged, not raised."""
        if not self.due():
            return None
        try:
            return self.checkpoint()
        except JournalError as error:
            self.last_error = " ".join(str(error).split())
            log.warning(
                "journal checkpoint failed; retrying at the next append",
                extra={"fields": {"unsigned": self._unsigned, "detail": self.last_error}},
            )
            return None

    def checkpoint(self) -> Record | None:
        """Append a checkpoint covering the head now (``None``: the head is one already).

        Raises:
            JournalWriteError: The write failed.
        """
        record = write_checkpoint(self._journal, self._signer)
        self._unsigned, self._since, self.last_error = 0, None, None
        if record is not None:
            self.last_checkpoint = record
        return record

    def close(self) -> None:
        """Sign what this writer appended, then close the journal.

        Raises:
            JournalWriteError: The closing checkpoint failed (the journal is closed anyway).
        """
        try:
            if self._unsigned:
                self.checkpoint()
        finally:
            self._journal.close()

    def __enter__(self) -> CheckpointWriter:
        """Return the writer for a ``with`` block."""
        return self

    def __exit__(self, *_exc: object) -> None:
        """Close (and sign) at the end of a ``with`` block."""
        self.close()


def removed_checkpoint_evidence(connection: Connection, last_removed: int) -> dict[str, Any] | None:
    """Return the latest checkpoint at or before ``last_removed`` for a vacuum tombstone.

    The tombstone keeps it (record seq, hash and signed data) so the removed
    part stays vouched for by a signature after its records are gone.
    """
    row = connection.execute(
        select(records.c.seq, records.c.hash, records.c.data)
        .where(and_(records.c.kind == kinds.JOURNAL_CHECKPOINT, records.c.seq <= last_removed))
        .order_by(records.c.seq.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    try:
        data = json.loads(row[2])
    except (TypeError, ValueError):
        return None
    return JournalVacuumed.keep_checkpoint(row[0], row[1], data)


# The verifying half lives in journal.audit; its names stay importable from here.
__all__ = [
    "EVERY_RECORDS",
    "EVERY_SECONDS",
    "MAX_DIGESTS",
    "Checkpoint",
    "CheckpointWriter",
    "SignedVerifyResult",
    "removed_checkpoint_evidence",
    "verify_signed",
    "write_checkpoint",
]
