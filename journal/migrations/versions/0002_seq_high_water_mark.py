"""Make seq a high-water mark on SQLite: ``AUTOINCREMENT`` on ``journal_records``.

SQLite's ``AUTOINCREMENT`` keeps the largest seq ever stored in
``sqlite_sequence``, also for explicit values and also after every record has
been deleted; writers count on from it, so a seq is never handed out twice in
the life of a journal (``vacuum``, ``backup`` and a restore of the file keep
the counter, which lives in the same database file).

The table is rebuilt in place (SQLite cannot add ``AUTOINCREMENT`` to an
existing table): every row is copied as it is, so the hash chain and
``verify`` are unchanged, and the counter starts at the largest seq present.
Other databases need no change: their writers chain from the last record and
``vacuum`` chains its tombstone to the head it read before removing records.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TRIGGER = (
    "CREATE TRIGGER journal_records_no_update BEFORE UPDATE ON journal_records "
    "BEGIN SELECT RAISE(ABORT, 'journal records are append-only'); END"
)


def _rebuild(*, autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # The batch copy drops the old table and with it the no-update trigger.
    op.execute("DROP TRIGGER IF EXISTS journal_records_no_update")
    with op.batch_alter_table(
        "journal_records",
        recreate="always",
        table_kwargs={"sqlite_autoincrement": autoincrement},
    ):
        pass
    op.execute(_TRIGGER)


def upgrade() -> None:
    """Rebuild ``journal_records`` with ``AUTOINCREMENT`` (SQLite only)."""
    _rebuild(autoincrement=True)


def downgrade() -> None:
    """Rebuild ``journal_records`` without ``AUTOINCREMENT`` (SQLite only)."""
    _rebuild(autoincrement=False)
