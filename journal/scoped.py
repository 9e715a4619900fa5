"""A verifiable SQLite copy of some of a journal's chains (``export dr-drill`` of a cluster).

A central journal (PostgreSQL, ``shipshape-journal ship``) holds its own chain
and one chain per shipped stream. ``export dr-drill --cluster/--actor/--namespace``
judges one cluster's (or one replica's) drill from it: the evidence is a
SQLite file holding, whole, every chain with at least one matching record,
so that it verifies on its own (a chain cut by a filter would not), and the
drill is judged from that file alone. Without a filter it holds every chain.
With a shipped stream it also holds the central journal's own chain, whose
``journal.shipped`` records vouch for the streams' ``cluster`` and ``stream``
labels (outside the records' hashes): verifying the file checks them.

The copy keeps every column (seq, hashes, ``cluster``, ``stream``,
``stream_seq``) and is made as of one moment: records committed after the
copy started (a seq above the head read first) are left out.
"""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, insert, or_, select

from journal.filters import Filters
from journal.models import records
from journal.snapshot import Snapshot, snapshot
from journal.store import Journal

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement

_BATCH = 1000
_ALL = tuple(records.c)


def chains_matching(journal: Journal, scope: Filters) -> ColumnElement[bool] | None:
    """Return the condition selecting every chain holding a record that ``scope`` matches.

    ``None``: the scope selects nothing to narrow (no filter).
    """
    where = scope.conditions(records)
    if not where:
        return None
    with journal.transaction() as connection:
        rows = connection.execute(select(records.c.stream).where(*where).distinct()).all()
    streams = [row[0] for row in rows if row[0] is not None]
    chosen = [records.c.stream.in_(streams)] if streams else []
    if streams or any(row[0] is None for row in rows):
        # The own chain too: its journal.shipped records vouch for the streams' labels.
        chosen.append(records.c.stream.is_(None))
    return or_(*chosen) if chosen else records.c.seq < 0


def scoped_snapshot(journal: Journal, out: str | Path, scope: Filters | None) -> Snapshot:
    """Write the chains ``scope`` touches (all without one) to a new SQLite file ``out``.

    Raises:
        JournalValueError: ``out`` exists or its directory is missing.
        JournalError: Reading or writing failed (nothing is left at ``out``).
    """
    condition = chains_matching(journal, scope) if scope is not None else None
    if condition is None and journal.location.is_sqlite:
        return snapshot(journal, out)
    target = Path(out).expanduser().absolute()
    staging = target.with_name(f".{target.name}.{uuid.uuid4().hex}.staging.db")
    try:
        with journal.transaction() as connection:
            head = connection.execute(select(func.max(records.c.seq))).scalar() or 0
        with Journal.open(staging, actor="export") as copy:
            after = 0
            while True:
                query = select(*_ALL).where(records.c.seq > after, records.c.seq <= head)
                if condition is not None:
                    query = query.where(condition)
                with journal.transaction() as connection:
                    rows = connection.execute(query.order_by(records.c.seq).limit(_BATCH)).all()
                if not rows:
                    break
                with copy.transaction(write=True) as connection:
                    connection.execute(
                        insert(records),
                        [dict(zip((c.name for c in _ALL), row, strict=True)) for row in rows],
                    )
                after = rows[-1][0]
            return snapshot(copy, target)
    finally:
        for leftover in (staging, Path(f"{staging}-wal"), Path(f"{staging}-shm")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
