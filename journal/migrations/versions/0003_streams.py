"""Streams: shipped records keep their source's chain; records are append-only on PostgreSQL.

Adds ``cluster``, ``stream`` and ``stream_seq`` (``shipshape-journal ship``),
seq unique per stream (a unique index), and on PostgreSQL the trigger that refuses UPDATEs of
records (SQLite has had one since 0001).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the stream columns, their constraint and indexes, and PostgreSQL's guard."""
    # Added in place on both engines (no batch copy, which would drop
    # SQLite's no-update trigger).
    op.add_column("journal_records", sa.Column("cluster", sa.String(length=253), nullable=True))
    op.add_column("journal_records", sa.Column("stream", sa.String(length=300), nullable=True))
    op.add_column("journal_records", sa.Column("stream_seq", sa.BigInteger(), nullable=True))
    op.create_index(
        "ix_journal_records_stream_stream_seq",
        "journal_records",
        ["stream", "stream_seq"],
        unique=True,
    )
    op.create_index("ix_journal_records_cluster", "journal_records", ["cluster"], unique=False)
    op.create_index(
        "ix_journal_records_stream_seq_order", "journal_records", ["stream", "seq"], unique=False
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION journal_records_refuse_update() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'journal records are append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER journal_records_no_update BEFORE UPDATE ON journal_records "
            "FOR EACH ROW EXECUTE FUNCTION journal_records_refuse_update()"
        )


def downgrade() -> None:
    """Drop the stream columns (shipped records lose their stream identity)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS journal_records_no_update ON journal_records")
        op.execute("DROP FUNCTION IF EXISTS journal_records_refuse_update()")
    op.drop_index("ix_journal_records_stream_seq_order", table_name="journal_records")
    op.drop_index("ix_journal_records_cluster", table_name="journal_records")
    op.drop_index("ix_journal_records_stream_stream_seq", table_name="journal_records")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite drops columns by copying the table: put the guard back after.
        op.execute("DROP TRIGGER IF EXISTS journal_records_no_update")
        with op.batch_alter_table("journal_records", schema=None) as batch_op:
            batch_op.drop_column("stream_seq")
            batch_op.drop_column("stream")
            batch_op.drop_column("cluster")
        op.execute(
            "CREATE TRIGGER journal_records_no_update BEFORE UPDATE ON journal_records "
            "BEGIN SELECT RAISE(ABORT, 'journal records are append-only'); END"
        )
        return
    op.drop_column("journal_records", "stream_seq")
    op.drop_column("journal_records", "stream")
    op.drop_column("journal_records", "cluster")
