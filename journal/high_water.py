"""The largest seq ever stored in a journal: where writers count on from, and what shows a cut.

A hash chain cannot show records removed from its end, so both engines keep
a counter beside the records, in the same database, that only rises:

* SQLite: ``sqlite_sequence``, which ``AUTOINCREMENT`` keeps (revision 0002);
* PostgreSQL: ``journal_seq_high_water``, raised by a trigger after every
  INSERT and read through ``journal_seq_high_water()`` (revision 0005).

Writers count on from the counter, so a seq is never handed out twice, and a
cut at the end stays a gap that ``verify`` names (:func:`recorded_high_water`
against the last seq present). Only someone who also lowers the counter
(dropping its guard first, on PostgreSQL) hides a cut; a head hash recorded
elsewhere (a DR-drill manifest, a backup's output) still shows it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select

from journal.chain import GENESIS
from journal.models import records

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

_SQLITE_HAS_COUNTER = (
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'"
)
_SQLITE_COUNTER = "SELECT seq FROM sqlite_sequence WHERE name = 'journal_records'"
_POSTGRES_COUNTER = "SELECT journal_seq_high_water()"


def recorded_high_water(connection: Connection) -> int | None:
    """The counter of the largest seq ever stored; None where the database keeps none.

    None also for a SQLite journal that never held a record (no counter row yet).
    """
    dialect = connection.dialect.name
    if dialect == "sqlite":
        if not connection.exec_driver_sql(_SQLITE_HAS_COUNTER).first():
            return None
        return connection.exec_driver_sql(_SQLITE_COUNTER).scalar()
    if dialect == "postgresql":
        return connection.exec_driver_sql(_POSTGRES_COUNTER).scalar()
    return None


def next_seq_base(connection: Connection) -> int:
    """The seq the next record counts on from: the counter, or the last seq when higher."""
    last = connection.execute(select(func.max(records.c.seq))).scalar() or 0
    counter = recorded_high_water(connection)
    return max(last, counter) if isinstance(counter, int) else last


def head_of(connection: Connection, *, counting_on: bool = False) -> tuple[int, str]:
    """``(seq, hash)`` of the journal's last record, or ``(0, GENESIS)`` when empty.

    The hash is the last of the journal's own chain (records shipped from
    other journals keep theirs). With ``counting_on`` (a writer under the
    append lock on a server database), the seq is the one to count on from
    instead: the counter's when higher, so that a cut at the end stays a gap
    that ``verify`` names rather than being numbered over. On PostgreSQL it
    comes with the last record, in one round trip. (SQLite's writers read
    the same in one statement of their own, :mod:`journal.store`.)
    """
    postgres = counting_on and connection.dialect.name == "postgresql"
    columns = [records.c.seq, records.c.hash, records.c.stream]
    if postgres:
        columns.append(func.journal_seq_high_water())
    row = connection.execute(select(*columns).order_by(records.c.seq.desc()).limit(1)).first()
    if row is None:
        return ((recorded_high_water(connection) or 0) if counting_on else 0, GENESIS)
    seq = max(row[0], row[3] or 0) if postgres else row[0]
    if row[2] is None:
        return (seq, row[1])
    # The last record was shipped from another journal (journal/ship.py):
    # seq goes on from it, the own chain from the own last record.
    own = connection.execute(
        select(records.c.hash)
        .where(records.c.stream.is_(None))
        .order_by(records.c.seq.desc())
        .limit(1)
    ).scalar()
    return (seq, GENESIS if own is None else own)
