"""Retention: removing old records while the rest stays verifiable.

``vacuum`` removes the longest prefix of the journal whose records are all
older than the cutoff (a younger record stops it, so the kept records stay one
contiguous seq range even if a clock stepped back) and, in the same
transaction, appends a ``journal.vacuumed`` tombstone, chained to the head as
it was before the removal: seq keeps rising even when every record goes. The tombstone names the
last removed seq and its hash: the first kept record's ``prev_hash``. Verify
anchors the chain there, and because the tombstone is itself chained, a later
edit of it is caught like any other. When the removed records held signed
checkpoints, the tombstone keeps the last of them (``last_removed_checkpoint``:
its seq, hash and signed data), which ``verify --public-key`` checks again.
It also keeps the state as of the last removed record (``state``: every
ConfigMap's and Secret's data hash and every workload's applied hash, with the
seq and ts of the record each comes from), so ``replay --at`` still answers
for objects unchanged since before the cutoff.

A central journal (one holding streams shipped by ``shipshape-journal ship``)
is refused: removing a prefix by seq would cut every stream at a different
point of its source's chain, and a tombstone of the central's own chain cannot
anchor them (nothing may be added to a shipped chain).

Before removing anything, vacuum walks the records it is about to remove and
the first one it keeps with the checks of :mod:`journal.verify` (seq
continuity, prev_hash links, each record's hash), page by page in its own
transaction: a tombstone must never vouch for a range that did not verify, so
a broken range is refused and nothing is removed. Signed checkpoints are not
checked here (vacuum has no public keys); the tombstone keeps the last one.

Retention belongs to the embedded journals, before or after they are shipped;
the central journal keeps what it was given, and every stream stays verifiable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select

from journal.checkpoints import removed_checkpoint_evidence
from journal.errors import JournalChainError, JournalError, JournalValueError
from journal.high_water import next_seq_base
from journal.models import records
from journal.postgres import lock_chain
from journal.record import Entry, Record
from journal.replay.state import state_through
from journal.timefmt import format_ts, is_canonical_ts, utc_now
from journal.verify import verify_through
from records import ABSENT, JournalVacuumed

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from journal.store import Journal


@dataclass(frozen=True)
class VacuumResult:
    """What :func:`vacuum` removed.

    Attributes:
        cutoff: Records older than this were eligible.
        removed: How many records were removed (0: nothing to do, no tombstone).
        first_removed_seq: The first removed seq, if any.
        last_removed_seq: The last removed seq, if any.
        tombstone: The ``journal.vacuumed`` record appended, if any.
    """

    cutoff: datetime
    removed: int
    first_removed_seq: int | None = None
    last_removed_seq: int | None = None
    tombstone: Record | None = None

    def summary(self) -> str:
        """Return the one line ``vacuum`` prints."""
        if not self.removed:
            return f"nothing to remove: no records older than {format_ts(self.cutoff)}"
        assert self.tombstone is not None
        return (
            f"removed {self.removed} records (seq {self.first_removed_seq}.."
            f"{self.last_removed_seq}) older than {format_ts(self.cutoff)}; "
            f"tombstone at seq {self.tombstone.seq}"
        )


def vacuum(journal: Journal, older_than: timedelta, *, now: datetime | None = None) -> VacuumResult:
    """Remove records older than ``older_than`` and leave a tombstone.

    Args:
        journal: A writer.
        older_than: Keep everything younger than this (positive).
        now: The reference moment (default: the current time).

    Raises:
        JournalValueError: For a zero or negative ``older_than``.
        JournalChainError: The records to remove (or their link to the first
            kept one) do not verify: nothing is removed.
        JournalError: A central journal (shipped streams): nothing is removed.
        JournalWriteError: When the write fails; then nothing is removed.
    """
    if older_than <= timedelta(0):
        raise JournalValueError("--older-than must be a positive duration")
    try:
        cutoff = (now or utc_now()) - older_than
    except OverflowError:
        raise JournalValueError(
            f"--older-than {older_than.days}d reaches back before year 1, the first a "
            "journal can hold: no record is that old"
        ) from None
    cutoff_text = format_ts(cutoff)
    if not is_canonical_ts(cutoff_text):  # compared as text with the stored ts
        raise JournalValueError(f"vacuum cutoff {cutoff_text!r} is not a journal timestamp")
    with journal.transaction(write=True) as connection:
        _refuse_shipped(journal, connection)
        first = connection.execute(select(func.min(records.c.seq))).scalar()
        if first is None:
            return VacuumResult(cutoff=cutoff, removed=0)
        first_young = connection.execute(
            select(func.min(records.c.seq)).where(records.c.ts >= cutoff_text)
        ).scalar()
        if first_young is None:
            last_removed = connection.execute(select(func.max(records.c.seq))).scalar()
        else:
            last_removed = first_young - 1
        if last_removed < first:
            return VacuumResult(cutoff=cutoff, removed=0)
        # The tombstone vouches for what it removes: refuse a range that does
        # not verify (or does not link to the first kept record).
        checked = verify_through(connection, last_removed)
        if not checked.ok:
            raise JournalChainError(
                f"vacuum refuses {journal.location.display}: the records it would remove "
                f"(seq {first}..{last_removed}) do not verify: seq {checked.bad_seq}: "
                f"{checked.reason}; nothing was removed"
            )
        # Chain the tombstone to the head as it is before the removal: when
        # every record goes, the tombstone still follows the last seq (never
        # seq 1 again) and names the hash it follows. On PostgreSQL, appends
        # wait from here to the commit (the append lock), as they wait for
        # each other: the head read is the one the tombstone follows.
        if connection.dialect.name == "postgresql":
            lock_chain(connection)
            _refuse_shipped(journal, connection)  # a ship may have committed since
        # After the largest seq ever stored: a cut at the end stays a gap.
        head_seq = next_seq_base(connection)
        head_hash = connection.execute(
            select(records.c.hash).order_by(records.c.seq.desc()).limit(1)
        ).scalar_one()
        row = connection.execute(
            select(records.c.hash, records.c.ts).where(records.c.seq == last_removed)
        ).one()
        evidence = removed_checkpoint_evidence(connection, last_removed)
        # Objects unchanged since before the cutoff keep their hash (replay --at).
        state = state_through(connection, last_removed)
        removed = connection.execute(delete(records).where(records.c.seq <= last_removed)).rowcount
        payload = JournalVacuumed(
            cutoff=cutoff_text,
            removed_records=removed,
            first_removed_seq=first,
            last_removed_seq=last_removed,
            last_removed_hash=row[0],
            last_removed_ts=row[1],
            # The removed part stays vouched for by its last signature.
            last_removed_checkpoint=ABSENT if evidence is None else evidence,
            state=state,
        )
        (tombstone,) = journal.insert_chained(
            connection,
            [Entry(kind=payload.KIND, data=payload.to_data())],
            head=(head_seq, head_hash),
        )
    return VacuumResult(
        cutoff=cutoff,
        removed=removed,
        first_removed_seq=first,
        last_removed_seq=last_removed,
        tombstone=tombstone,
    )


def _refuse_shipped(journal: Journal, connection: Connection) -> None:
    """Raise when the journal holds streams shipped from other journals (a central one)."""
    shipped = connection.execute(
        select(records.c.stream).where(records.c.stream.is_not(None)).limit(1)
    ).first()
    if shipped is not None:
        raise JournalError(
            f"vacuum refuses {journal.location.display}: it holds streams shipped from "
            "other journals, whose chains a vacuum would cut; vacuum the embedded "
            "journals instead (ship resumes after a vacuum)"
        )
