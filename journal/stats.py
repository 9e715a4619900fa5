"""Facts about a journal for ``stats``: size, range, kinds, actors, retention."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, text

from journal.chain import GENESIS
from journal.filters import Filters
from journal.models import records
from records import kinds

if TYPE_CHECKING:
    from journal.store import Journal


def stats(journal: Journal) -> dict[str, Any]:
    """Return the journal's statistics as a JSON object.

    Keys: ``journal``, ``schema_revision``, ``records``, ``first_seq``,
    ``last_seq``, ``first_ts``, ``last_ts``, ``head_hash``, ``kinds`` (count per
    kind), ``actors`` (count per actor), ``last_vacuum`` (the latest tombstone's
    data or ``null``) and, for SQLite, ``file`` (bytes of the database and its
    WAL, page size and count, free pages, journal mode).
    """
    with journal.transaction() as connection:
        count, first_seq, last_seq = connection.execute(
            select(func.count(), func.min(records.c.seq), func.max(records.c.seq))
        ).one()
        first_ts = last_ts = None
        head_hash = GENESIS
        if count:
            first_ts = connection.execute(
                select(records.c.ts).where(records.c.seq == first_seq)
            ).scalar()
            last_ts, head_hash = connection.execute(
                select(records.c.ts, records.c.hash).where(records.c.seq == last_seq)
            ).one()
        by_kind = dict(
            connection.execute(
                select(records.c.kind, func.count())
                .group_by(records.c.kind)
                .order_by(records.c.kind)
            ).all()
        )
        by_actor = dict(
            connection.execute(
                select(records.c.actor, func.count())
                .group_by(records.c.actor)
                .order_by(records.c.actor)
            ).all()
        )
        pragmas: dict[str, Any] = {}
        if journal.location.is_sqlite:
            for name in ("page_size", "page_count", "freelist_count", "journal_mode"):
                pragmas[name] = connection.execute(text(f"PRAGMA {name}")).scalar()
    tombstone = journal.last(1, Filters(kinds=(kinds.JOURNAL_VACUUMED,)))
    result: dict[str, Any] = {
        "journal": journal.location.display,
        "schema_revision": journal.revision,
        "records": count,
        "first_seq": first_seq,
        "last_seq": last_seq,
        "first_ts": first_ts,
        "last_ts": last_ts,
        "head_hash": head_hash,
        "kinds": by_kind,
        "actors": by_actor,
        "last_vacuum": ({"seq": tombstone[0].seq, **tombstone[0].data} if tombstone else None),
    }
    path = journal.location.path
    if path is not None:
        wal = path.with_name(path.name + "-wal")
        result["file"] = {
            "path": str(path),
            "bytes": path.stat().st_size if path.exists() else 0,
            "wal_bytes": wal.stat().st_size if wal.exists() else 0,
            **pragmas,
        }
    return result
