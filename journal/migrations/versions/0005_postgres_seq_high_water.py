"""Keep the largest seq ever stored on PostgreSQL too, as SQLite's ``sqlite_sequence`` does.

A hash chain cannot show records removed from its end: every link that is
left is intact. SQLite journals hold the evidence in the same file
(``AUTOINCREMENT``, revision 0002): the largest seq ever stored, which
``verify`` compares with the last record, and which writers count on from,
so that a seq is never handed out twice. A PostgreSQL journal had nothing
of the kind: a cut at its end went unseen, and the next append reused the
seqs cut, hiding the cut for good.

This revision gives PostgreSQL the same counter:

* ``journal_seq_high_water``, one row, raised by a statement-level trigger
  after every INSERT into ``journal_records``, in the inserting transaction
  (a rolled-back append leaves it as it was, unlike a sequence's ``nextval``);
* another trigger refuses to lower it or delete the row, as the records'
  own trigger refuses an UPDATE;
* ``journal_seq_high_water()`` reads it. The trigger's function and this one
  run with their owner's rights (the role that ran ``db upgrade``), search
  path pinned, so writers and readers need no grant on the table: a
  least-privilege setup keeps working after the upgrade.

The counter starts at the largest seq present. The table is the engine's
bookkeeping, like ``sqlite_sequence``, so it is not among the models.
SQLite needs no change.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the counter, its triggers and its reader (PostgreSQL only)."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    # The functions run as their owner with this search path only: the
    # schema the journal is in, then pg_temp last (so that nobody's
    # temporary table can stand in for ours).
    schema = bind.dialect.identifier_preparer.quote(
        bind.exec_driver_sql("SELECT current_schema()").scalar()
    )
    definer = f"SECURITY DEFINER SET search_path = {schema}, pg_temp"
    op.execute(
        "CREATE TABLE journal_seq_high_water ("
        "only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row), "
        "seq BIGINT NOT NULL)"
    )
    op.execute(
        "INSERT INTO journal_seq_high_water (seq) SELECT coalesce(max(seq), 0) FROM journal_records"
    )
    # The only value in these two is the schema, quoted by the dialect.
    op.execute(
        "CREATE FUNCTION journal_seq_raise() RETURNS trigger "  # noqa: S608
        f"LANGUAGE plpgsql {definer} AS $$ BEGIN "
        "UPDATE journal_seq_high_water SET seq = greatest(seq, (SELECT max(seq) FROM inserted)); "
        "RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER journal_records_seq_high_water AFTER INSERT ON journal_records "
        "REFERENCING NEW TABLE AS inserted "
        "FOR EACH STATEMENT EXECUTE FUNCTION journal_seq_raise()"
    )
    op.execute(
        "CREATE FUNCTION journal_seq_refuse_lower() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN "
        "IF TG_OP = 'DELETE' OR NEW.seq < OLD.seq THEN "
        "RAISE EXCEPTION 'the journal''s seq high-water mark only rises'; END IF; "
        "RETURN NEW; END $$"
    )
    op.execute(
        "CREATE TRIGGER journal_seq_only_rises BEFORE UPDATE OR DELETE ON journal_seq_high_water "
        "FOR EACH ROW EXECUTE FUNCTION journal_seq_refuse_lower()"
    )
    op.execute(
        "CREATE FUNCTION journal_seq_high_water() RETURNS bigint "  # noqa: S608
        f"LANGUAGE sql STABLE {definer} AS $$ SELECT seq FROM journal_seq_high_water $$"
    )


def downgrade() -> None:
    """Drop the counter, its triggers and its reader (PostgreSQL only)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS journal_seq_high_water()")
    op.execute("DROP TRIGGER IF EXISTS journal_records_seq_high_water ON journal_records")
    op.execute("DROP TABLE IF EXISTS journal_seq_high_water")  # its own trigger goes with it
    op.execute("DROP FUNCTION IF EXISTS journal_seq_refuse_lower()")
    op.execute("DROP FUNCTION IF EXISTS journal_seq_raise()")
