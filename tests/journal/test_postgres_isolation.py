"""A central PostgreSQL database whose default isolation is stricter than READ COMMITTED.

Platform teams set ``default_transaction_isolation = serializable`` on a
database (or a role). The journal's writers take the append lock and then
read the head; they must see the commit of the writer before them.
"""

from __future__ import annotations

import sys
import time

from journal import Journal, verify


def _serializable(postgres_server, url: str) -> str:
    database = url.rsplit("/", 1)[1]
    postgres_server.sql(
        f"ALTER DATABASE \"{database}\" SET default_transaction_isolation = 'serializable'"
    )
    return database


def test_concurrent_writers_of_a_serializable_database_share_one_chain(
    postgres_url, postgres_server, start_writer
):
    _serializable(postgres_server, postgres_url)
    with Journal.open(postgres_url, actor="setup"):
        pass  # the schema, once
    writers = [start_writer(postgres_url, 40, f"replica-{n}") for n in range(3)]
    acked: list[int] = []
    for process in writers:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        acked += [int(line) for line in out.split()]
    assert sorted(acked) == list(range(1, 121))
    with Journal.open(postgres_url, readonly=True) as reader:
        result = verify(reader)
    assert result.ok and result.records == 120, result.summary()


def test_writers_creating_a_serializable_database_at_once_create_it_once(
    postgres_url, postgres_server, spawn
):
    import psycopg

    from journal.postgres import SCHEMA_LOCK_KEY

    database = _serializable(postgres_server, postgres_url)
    notes = []
    with psycopg.connect(postgres_server.dsn(database), autocommit=True) as holder:
        # All three found the database empty and wait for the schema lock: the first
        # to get it creates the schema, the others must then find it made.
        holder.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK_KEY,))
        notes = [
            spawn(sys.executable, "-m", "cli.main", "note", "--journal", postgres_url,
                  "--busy-timeout", "120", f"writer {n}")
            for n in range(3)
        ]  # fmt: skip
        waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        deadline = time.monotonic() + 120
        while holder.execute(waiting).fetchone() != (3,):
            assert all(note.poll() is None for note in notes)
            assert time.monotonic() < deadline
            time.sleep(0.05)
        holder.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK_KEY,))
    results = [note.communicate(timeout=300) for note in notes]
    assert [note.returncode for note in notes] == [0] * 3, results
    with Journal.open(postgres_url, readonly=True) as reader:
        result = verify(reader)
    assert result.ok and result.records == 3, result.summary()
