"""The journal's tables as SQLAlchemy 2.x models.

The schema changes only through the Alembic migrations in
``journal/migrations``; a test compares these models with the migrated schema
so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Index, Integer, MetaData, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Named constraints and indexes, so batch migrations on SQLite can find them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# On SQLite the sequence number must be INTEGER PRIMARY KEY, the rowid itself;
# elsewhere it is a 64-bit integer.
SeqType = BigInteger().with_variant(Integer(), "sqlite")


def _partial(column: str) -> dict[str, Any]:
    """The dialect options of an index of the records where ``column`` is not NULL."""
    where = text(f"{column} IS NOT NULL")
    return {"sqlite_where": where, "postgresql_where": where}


class Base(DeclarativeBase):
    """Declarative base holding the journal's metadata."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class RecordRow(Base):
    """One row per journal record; the columns are the contract's fields.

    ``ts`` holds the canonical timestamp text and ``data`` the canonical JSON
    text of the payload, both exactly as the hash chain covers them.

    ``cluster``, ``stream`` and ``stream_seq`` are the central journal's
    bookkeeping (``shipshape-journal ship``), outside the hash: a record
    shipped from another journal keeps that journal's chain, so ``stream``
    names the source (``CLUSTER/FIRST_RECORD_ID``) and ``stream_seq`` its seq
    there, the seq its hash covers. The journal's own records have neither.
    """

    __tablename__ = "journal_records"
    __table_args__ = (
        # A unique index rather than a constraint: SQLite adds it in place.
        # Partial (revision 0004): only shipped records have a stream.
        Index(
            "ix_journal_records_stream_stream_seq",
            "stream",
            "stream_seq",
            unique=True,
            **_partial("stream"),
        ),
        Index("ix_journal_records_stream_seq_order", "stream", "seq"),
        # Partial: records without the value, most of them, are not indexed;
        # every lookup compares with a value, which implies IS NOT NULL.
        Index("ix_journal_records_object", "object", **_partial("object")),
        Index("ix_journal_records_correlation_id", "correlation_id", **_partial("correlation_id")),
        Index("ix_journal_records_cluster", "cluster", **_partial("cluster")),
        # SQLite keeps the largest seq ever stored (``sqlite_sequence``): writers
        # count on from it, so no seq is reused, even after every record is gone.
        {"sqlite_autoincrement": True},
    )

    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=False)
    id: Mapped[str] = mapped_column(String(36), nullable=False, unique=True)
    ts: Mapped[str] = mapped_column(String(27), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    namespace: Mapped[str | None] = mapped_column(String(253))
    object: Mapped[str | None] = mapped_column(String(320))
    correlation_id: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(253), nullable=False)
    leader_epoch: Mapped[int | None] = mapped_column(BigInteger)
    data: Mapped[str] = mapped_column(Text, nullable=False)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)
    cluster: Mapped[str | None] = mapped_column(String(253))
    stream: Mapped[str | None] = mapped_column(String(300))
    stream_seq: Mapped[int | None] = mapped_column(BigInteger)


records = RecordRow.__table__

__all__ = ["Base", "RecordRow", "records"]
