"""Schema and migrations: Alembic to head, no drift, refusing what is not ours."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from journal import (
    Journal,
    JournalBusyError,
    JournalNotFoundError,
    JournalSchemaError,
    NotAJournalError,
    kinds,
    verify,
)
from journal.models import Base
from journal.schema import HEAD, MIGRATIONS_DIR, REVISIONS, VERSION_TABLE, script_revisions
from tests.journal.helpers import alembic

ROOT = Path(__file__).resolve().parents[2]


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {row[0] for row in rows}


def test_upgrading_an_empty_database_reaches_head_without_drift(journal_path, open_journal):
    journal = open_journal(journal_path, actor="test")
    assert journal.revision == HEAD
    engine = create_engine(f"sqlite:///{journal_path}")
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"version_table": VERSION_TABLE, "compare_type": True}
            )
            assert context.get_current_revision() == HEAD
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_known_revisions_are_the_migration_scripts():
    # Readers judge revisions without loading Alembic, from this list.
    assert script_revisions() == REVISIONS


def test_migrations_are_found_next_to_the_package_not_the_working_directory():
    assert Path(__file__).resolve().parents[2] / "journal" / "migrations" == MIGRATIONS_DIR
    assert (MIGRATIONS_DIR / "env.py").is_file()


def test_writer_opens_from_another_working_directory(tmp_path):
    # The controller opens its journal from wherever it was started.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = (
        "from journal import Journal, kinds\n"
        "j = Journal.open('j.db', actor='a')\n"
        "print(j.append(kinds.OPERATOR_NOTE, data={'text': 'x'}).seq, j.revision)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", HEAD]
    assert (elsewhere / "j.db").exists()


def test_alembic_command_line_uses_the_root_alembic_ini(tmp_path):
    target = tmp_path / "cli.db"
    alembic(target, "upgrade", "head")
    with Journal.open(target, readonly=True) as journal:
        assert journal.revision == HEAD
    alembic(target, "check")  # models and migrations agree


def test_writer_sets_wal_full_sync_and_busy_timeout(journal_path, open_journal):
    journal = open_journal(journal_path, actor="test", busy_timeout=2.5)
    with journal.transaction() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 2500


def test_reader_is_query_only(journal_path, open_journal):
    open_journal(journal_path, actor="test").close()
    reader = open_journal(journal_path, readonly=True)
    with reader.transaction() as connection:
        assert connection.exec_driver_sql("PRAGMA query_only").scalar() == 1


def test_updates_of_records_are_refused_by_the_database(writer, journal_path):
    writer.append(kinds.OPERATOR_NOTE, data={"text": "keep me"})
    with sqlite3.connect(journal_path) as connection, pytest.raises(sqlite3.IntegrityError):
        connection.execute("UPDATE journal_records SET data = '{}' WHERE seq = 1")


def test_newer_schema_is_refused_by_writers_and_readers(writer, journal_path):
    writer.append(kinds.OPERATOR_NOTE, data={"text": "before"})
    writer.close()
    with sqlite3.connect(journal_path) as connection:
        connection.execute(f"UPDATE {VERSION_TABLE} SET version_num = '0099'")
    before = journal_path.read_bytes()
    for options in ({"actor": "test"}, {"readonly": True}):
        with pytest.raises(JournalSchemaError, match="newer than this program") as raised:
            Journal.open(journal_path, **options)
        assert "0099" in str(raised.value)
        assert "\n" not in str(raised.value)
    assert journal_path.read_bytes() == before


def test_reader_never_creates_a_journal(journal_path):
    with pytest.raises(JournalNotFoundError, match="does not exist"):
        Journal.open(journal_path, readonly=True)
    assert not journal_path.exists()


def test_writer_without_create_does_not_create(journal_path):
    with pytest.raises(JournalNotFoundError):
        Journal.open(journal_path, actor="test", create=False)
    assert not journal_path.exists()


def test_writer_needs_the_directory_to_exist(tmp_path):
    with pytest.raises(JournalNotFoundError, match=r"directory .* does not exist"):
        Journal.open(tmp_path / "missing" / "j.db", actor="test")


def test_a_directory_is_not_a_journal(tmp_path):
    for options in ({"actor": "test"}, {"readonly": True}):
        with pytest.raises(JournalNotFoundError, match="is a directory"):
            Journal.open(tmp_path, **options)


def test_a_file_that_is_not_sqlite_is_refused_and_untouched(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("dear diary, today the controller restarted twice\n" * 20)
    before = path.read_bytes()
    for options in ({"actor": "test"}, {"readonly": True}):
        with pytest.raises(NotAJournalError, match="not a SQLite database"):
            Journal.open(path, **options)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]


def test_another_applications_database_is_refused_and_untouched(tmp_path):
    path = tmp_path / "grafana.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE dashboard (id INTEGER PRIMARY KEY, title TEXT)")
        connection.execute("INSERT INTO dashboard (title) VALUES ('helloworld')")
    for options in ({"actor": "test"}, {"readonly": True}):
        with pytest.raises(NotAJournalError, match=r"another application.*dashboard"):
            Journal.open(path, **options)
    assert _tables(path) == {"dashboard"}


def test_an_empty_file_becomes_a_journal_for_writers_only(tmp_path):
    path = tmp_path / "empty.db"
    path.touch()
    with pytest.raises(NotAJournalError, match="empty database"):
        Journal.open(path, readonly=True)
    with Journal.open(path, actor="test") as journal:
        assert journal.head()[0] == 0
    with Journal.open(path, readonly=True) as journal:
        assert verify(journal).ok


def test_two_writers_creating_the_same_journal_at_once(tmp_path):
    path = tmp_path / "race.db"
    code = (
        "import sys\n"
        "from journal import Journal, kinds\n"
        "with Journal.open(sys.argv[1], actor=sys.argv[2]) as j:\n"
        "    for i in range(100):\n"
        "        j.append(kinds.OPERATOR_NOTE, data={'i': i})\n"
    )
    workers = [
        subprocess.Popen([sys.executable, "-c", code, str(path), f"writer-{n}"]) for n in range(2)
    ]
    try:
        assert [worker.wait(timeout=60) for worker in workers] == [0, 0]
    finally:
        for worker in workers:
            worker.kill()
    with Journal.open(path, readonly=True) as journal:
        result = verify(journal)
        assert result.ok, result.summary()
        assert result.records == 200
        actors = [record.actor for record in journal.read()]
    assert sorted(set(actors)) == ["writer-0", "writer-1"]


def test_a_writer_waits_for_a_lock_held_while_the_new_journal_is_not_yet_in_wal_mode(tmp_path):
    # SQLite refuses the switch to WAL at once, without its busy handler, while
    # another connection holds the write lock on a file still in rollback mode:
    # the race two writers creating one journal can lose. The writer must wait.
    path = tmp_path / "held.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, holder.execute, ("ROLLBACK",))
    release.start()
    try:
        with Journal.open(path, actor="test", busy_timeout=5) as journal:
            journal.append(kinds.OPERATOR_NOTE, data={"after": "the lock"})
            assert journal.head()[0] == 1
    finally:
        release.join()
        holder.close()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_writer_still_gives_up_on_a_lock_held_past_the_busy_timeout(tmp_path):
    path = tmp_path / "held.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(JournalBusyError, match=r"held\.db is locked .*0\.2 s busy timeout"):
            Journal.open(path, actor="test", busy_timeout=0.2)
    finally:
        holder.close()


def _table_sql(path: Path) -> str:
    with sqlite3.connect(path) as connection:
        row = connection.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'journal_records'"
        ).fetchone()
        return row[0]


def test_upgrading_a_0001_journal_in_place_keeps_it_verifiable(tmp_path, open_journal):
    # A journal written before revision 0002 (no AUTOINCREMENT) is upgraded by
    # the next writer: every record is kept as it was, the chain still
    # verifies, and from then on seq never goes back.
    target = tmp_path / "old.db"
    writer = open_journal(target, actor="old")
    for number in range(5):
        writer.append(kinds.OPERATOR_NOTE, data={"text": f"note {number}"})
    writer.close()
    alembic(target, "downgrade", "0001")
    assert "AUTOINCREMENT" not in _table_sql(target)
    # The columns of revision 0001: later revisions add columns beside them.
    columns = (
        "seq, id, ts, kind, namespace, object, correlation_id, actor, leader_epoch, data, "
        "prev_hash, hash"
    )
    with sqlite3.connect(target) as connection:
        before = connection.execute(
            f"SELECT {columns} FROM journal_records ORDER BY seq"
        ).fetchall()

    upgraded = open_journal(target, actor="new")
    assert upgraded.revision == HEAD  # upgraded by the writer, past 0002
    assert "AUTOINCREMENT" in _table_sql(target)
    with sqlite3.connect(target) as connection:
        after = connection.execute(f"SELECT {columns} FROM journal_records ORDER BY seq")
        assert after.fetchall() == before
        # The append-only guard survives the table's rebuild.
        with pytest.raises(sqlite3.IntegrityError):
            connection.execute("UPDATE journal_records SET data = '{}' WHERE seq = 1")
    assert verify(upgraded).ok
    with sqlite3.connect(target) as connection:
        connection.execute("DELETE FROM journal_records WHERE seq = 5")
    # The high-water mark counts the removed record: seq 5 is not handed out again.
    assert upgraded.append(kinds.OPERATOR_NOTE, data={"text": "after"}).seq == 6


def _index_sql(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        )
        return dict(rows.fetchall())


PARTIAL = {
    "ix_journal_records_correlation_id": "correlation_id IS NOT NULL",
    "ix_journal_records_object": "object IS NOT NULL",
    "ix_journal_records_cluster": "cluster IS NOT NULL",
    "ix_journal_records_stream_stream_seq": "stream IS NOT NULL",
}


def test_upgrading_a_signed_vacuumed_0003_journal_to_partial_indexes_keeps_it_verifiable(
    tmp_path, open_journal
):
    from datetime import timedelta

    from journal import vacuum
    from journal.audit import verify_signed
    from journal.checkpoints import write_checkpoint
    from journal.signing import load_public_key, load_signing_key
    from tests.journal.signing_helpers import write_key_pair

    private, public = write_key_pair(tmp_path)
    signer = load_signing_key(private)
    target = tmp_path / "old.db"
    writer = open_journal(target, actor="old")
    for number in range(6):
        writer.append(
            kinds.CONFIGMAP_OBSERVED,
            namespace="shipshape",
            object=f"configmap/c{number}",
            correlation_id=f"corr-{number}" if number % 2 else None,
            data={"event_type": "ADDED", "data_hash": f"{number:064x}"},
        )
        write_checkpoint(writer, signer)
    vacuum(writer, timedelta(seconds=1), now=writer.last(1)[0].ts + timedelta(seconds=2))
    writer.append(kinds.OPERATOR_NOTE, data={"text": "after the vacuum"})
    write_checkpoint(writer, signer)
    writer.close()
    alembic(target, "downgrade", "0003")
    assert not any("WHERE" in sql for sql in _index_sql(target).values())
    with sqlite3.connect(target) as connection:
        before = connection.execute("SELECT * FROM journal_records ORDER BY seq").fetchall()

    upgraded = open_journal(target, actor="new")
    assert upgraded.revision == HEAD
    indexes = _index_sql(target)
    for name, where in PARTIAL.items():
        assert indexes[name].endswith(f"WHERE {where}"), indexes[name]
    with sqlite3.connect(target) as connection:
        assert connection.execute("SELECT * FROM journal_records ORDER BY seq").fetchall() == before
        with pytest.raises(sqlite3.IntegrityError):
            connection.execute(
                "UPDATE journal_records SET data = '{}' WHERE seq = ?", (before[0][0],)
            )
    result = verify_signed(upgraded, [load_public_key(public)], require_signed=True)
    assert result.ok, result.summary()
    # A shipped stream's seq stays unique under the partial index.
    with sqlite3.connect(target) as connection:
        row = "(?, 'i' || ?, 'ts', 'k', 'a', '{}', 'p', 'h', 'c', 's', 1)"
        sql = (
            "INSERT INTO journal_records (seq, id, ts, kind, actor, data, prev_hash, hash, "
            f"cluster, stream, stream_seq) VALUES {row}"
        )
        connection.execute(sql, (100, 100))
        with pytest.raises(sqlite3.IntegrityError):
            connection.execute(sql, (101, 101))


@pytest.mark.parametrize(
    ("query", "index"),
    [
        ("SELECT seq FROM journal_records WHERE cluster = 'c'", "ix_journal_records_cluster"),
        (
            "SELECT stream, max(stream_seq) FROM journal_records "
            "WHERE cluster = 'c' AND stream IS NOT NULL GROUP BY stream",
            "ix_journal_records_",
        ),
        (
            "SELECT seq FROM journal_records WHERE stream = 's' AND stream_seq = 3",
            "ix_journal_records_stream_stream_seq",
        ),
        (
            "SELECT seq FROM journal_records WHERE correlation_id >= 'ab' "
            "AND correlation_id < 'ac' ORDER BY seq",
            "ix_journal_records_correlation_id",
        ),
        (
            "SELECT seq FROM journal_records WHERE object IN ('configmap/x', 'deployment/x')",
            "ix_journal_records_object",
        ),
        (
            "SELECT seq FROM journal_records WHERE object = 'configmap/x'",
            "ix_journal_records_object",
        ),
        (
            "SELECT seq FROM journal_records WHERE stream IS NULL ORDER BY seq DESC LIMIT 1",
            "",  # the rowid or the whole (stream, seq) index: never a scan of a partial one
        ),
    ],
)
def test_the_readers_queries_still_use_the_partial_indexes(writer, journal_path, query, index):
    writer.append(kinds.OPERATOR_NOTE, data={"text": "x"})
    with sqlite3.connect(journal_path) as connection:
        connection.execute("ANALYZE")
        plan = " ".join(row[-1] for row in connection.execute(f"EXPLAIN QUERY PLAN {query}"))
    if index:
        assert f"USING INDEX {index}" in plan or f"USING COVERING INDEX {index}" in plan, plan
    for name in PARTIAL:
        if name not in index or not index:
            assert f"SCAN journal_records USING INDEX {name}" not in plan, plan
