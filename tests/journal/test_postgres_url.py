"""What a platform team puts in a central journal's URL is what its connections get."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from journal import Journal, JournalError, kinds


def _settings(journal: Journal) -> dict[str, str]:
    with journal.transaction() as connection:
        return {
            name: connection.execute(text(f"SHOW {name}")).scalar()
            for name in ("statement_timeout", "application_name", "lock_timeout")
        }


def test_the_urls_options_and_application_name_are_kept(postgres_url):
    query = "?options=-c%20statement_timeout%3D4321&application_name=ship-prod-eu"
    with Journal.open(postgres_url + query, actor="cli:ship", busy_timeout=7) as journal:
        assert _settings(journal) == {
            "statement_timeout": "4321ms",
            "application_name": "ship-prod-eu",
            "lock_timeout": "7s",  # the busy timeout still wins over the URL's
        }
    with Journal.open(postgres_url, readonly=True) as journal:
        assert _settings(journal)["application_name"] == "shipshape-journal"


def test_a_readers_url_cannot_make_it_a_writer(postgres_url):
    with Journal.open(postgres_url, actor="cli:setup"):
        pass
    query = "?options=-c%20default_transaction_read_only%3Doff"
    with Journal.open(postgres_url + query, readonly=True) as reader:
        with pytest.raises(JournalError, match="read-only"), reader.transaction() as connection:
            connection.execute(text("CREATE TABLE t (x int)"))
        assert reader.count() == 0
    with Journal.open(postgres_url + query, actor="cli:note") as writer:
        writer.append(kinds.OPERATOR_NOTE, data={"text": "still a writer"})


def test_a_journal_in_a_schema_of_its_own_named_by_the_urls_search_path(
    postgres_url, postgres_server
):
    database = postgres_url.rsplit("/", 1)[1]
    postgres_server.sql("CREATE SCHEMA central_journal", database)
    url = postgres_url + "?options=-c%20search_path%3Dcentral_journal"
    with Journal.open(url, actor="cli:note") as journal:
        journal.append(kinds.OPERATOR_NOTE, data={"text": "in its schema"})
    tables = postgres_server.sql(
        "SELECT tablename, schemaname FROM pg_tables WHERE tablename LIKE 'journal%' "
        "ORDER BY tablename",
        database,
    )
    names = ("journal_alembic_version", "journal_records", "journal_seq_high_water")
    assert tables == [(name, "central_journal") for name in names]
    # The seq high-water mark's trigger found its table there (the append above).
    [(high_water,)] = postgres_server.sql(
        "SELECT central_journal.journal_seq_high_water()", database
    )
    assert high_water == 1
    with Journal.open(url, readonly=True) as journal:
        assert [record.data["text"] for record in journal.read()] == ["in its schema"]


def test_a_statement_past_the_servers_statement_timeout_is_named_as_such(
    postgres_url, postgres_server
):
    """One line that says which setting stopped it, and nothing appended."""
    import psycopg

    from journal.postgres import APPEND_LOCK_KEY

    with Journal.open(postgres_url, actor="cli:setup"):
        pass
    database = postgres_url.rsplit("/", 1)[1]
    url = postgres_url + "?options=-c%20statement_timeout%3D300"
    with (
        psycopg.connect(postgres_server.dsn(database), autocommit=True) as holder,
        Journal.open(url, actor="cli:note", busy_timeout=30) as writer,
    ):
        # The append waits for the append lock longer than statement_timeout allows.
        holder.execute("SELECT pg_advisory_lock(%s)", (APPEND_LOCK_KEY,))
        with pytest.raises(JournalError) as raised:
            writer.append(kinds.OPERATOR_NOTE, data={"text": "never"})
        holder.execute("SELECT pg_advisory_unlock(%s)", (APPEND_LOCK_KEY,))
        assert writer.count() == 0
    message = str(raised.value)
    assert "ran past the server's statement_timeout" in message and "\n" not in message
    assert postgres_server.password not in message
