"""Create the journal's records table, its indexes and the no-update guard.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``journal_records`` and refuse UPDATEs of records on SQLite."""
    op.create_table(
        "journal_records",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("ts", sa.String(length=27), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("namespace", sa.String(length=253), nullable=True),
        sa.Column("object", sa.String(length=320), nullable=True),
        sa.Column("correlation_id", sa.String(length=64), nullable=True),
        sa.Column("actor", sa.String(length=253), nullable=False),
        sa.Column("leader_epoch", sa.BigInteger(), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_journal_records")),
        sa.UniqueConstraint("id", name=op.f("uq_journal_records_id")),
    )
    with op.batch_alter_table("journal_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_journal_records_ts"), ["ts"], unique=False)
        batch_op.create_index(batch_op.f("ix_journal_records_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_journal_records_object"), ["object"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_journal_records_correlation_id"), ["correlation_id"], unique=False
        )
    if op.get_bind().dialect.name == "sqlite":
        # Records are append-only: an UPDATE is refused outright. (Deletes stay
        # possible for retention; verify catches any made behind its back.)
        op.execute(
            "CREATE TRIGGER journal_records_no_update BEFORE UPDATE ON journal_records "
            "BEGIN SELECT RAISE(ABORT, 'journal records are append-only'); END"
        )


def downgrade() -> None:
    """Drop the records table (and with it every record)."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS journal_records_no_update")
    with op.batch_alter_table("journal_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_journal_records_correlation_id"))
        batch_op.drop_index(batch_op.f("ix_journal_records_object"))
        batch_op.drop_index(batch_op.f("ix_journal_records_kind"))
        batch_op.drop_index(batch_op.f("ix_journal_records_ts"))
    op.drop_table("journal_records")
