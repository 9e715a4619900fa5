"""Partial indexes: index only the records that have the value the index looks up.

Most records of a controller's journal have no ``correlation_id`` (relists,
watch and leadership records) and, outside a central journal, none has a
``cluster`` or ``stream``; every such record still cost an index entry
(``tests/bench/bench_journal_growth.py`` prints the bytes per index).
Every query on these columns compares them with a value (``=``, ``IN``, a
prefix range), which implies ``IS NOT NULL``, so SQLite and PostgreSQL use
the partial indexes as they used the full ones (checked with EXPLAIN QUERY
PLAN in ``tests/journal/test_schema.py``). The unique index on
``(stream, stream_seq)`` keeps its meaning: NULLs never conflicted. The
``(stream, seq)`` index stays whole: the head of a journal's own chain is
found through ``stream IS NULL``.

Records are not touched, so an upgraded journal verifies as before.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "journal_records"
#: name, columns, unique, the column that must be non-NULL to be indexed
PARTIAL = (
    ("ix_journal_records_correlation_id", ["correlation_id"], False, "correlation_id"),
    ("ix_journal_records_object", ["object"], False, "object"),
    ("ix_journal_records_cluster", ["cluster"], False, "cluster"),
    ("ix_journal_records_stream_stream_seq", ["stream", "stream_seq"], True, "stream"),
)


def upgrade() -> None:
    """Rebuild four indexes as partial ones (in place on both engines)."""
    for name, columns, unique, column in PARTIAL:
        op.drop_index(name, table_name=TABLE)
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(
            name, TABLE, columns, unique=unique, sqlite_where=where, postgresql_where=where
        )


def downgrade() -> None:
    """Back to full indexes."""
    for name, columns, unique, _column in PARTIAL:
        op.drop_index(name, table_name=TABLE)
        op.create_index(name, TABLE, columns, unique=unique)
