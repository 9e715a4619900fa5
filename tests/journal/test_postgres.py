"""The journal on a real PostgreSQL server (tests/journal/postgres.py starts it)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

from journal import Entry, Journal, JournalError, JournalWriteError, kinds, verify
from journal.database import resolve
from journal.models import Base
from journal.postgres import INSTALL_HINT
from journal.schema import HEAD, VERSION_TABLE, is_modelled
from tests.journal.helpers import ROOT, alembic


def test_migrations_reach_head_on_postgresql_without_drift(postgres_url, open_journal):
    journal = open_journal(postgres_url, actor="test")
    assert journal.revision == HEAD
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={
                    "version_table": VERSION_TABLE,
                    "compare_type": True,
                    "include_name": is_modelled,
                },
            )
            assert context.get_current_revision() == HEAD
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_a_postgresql_journal_appends_reads_and_verifies(postgres_url, open_journal):
    writer = open_journal(postgres_url, actor="replica-0")
    written = [writer.append(kinds.OPERATOR_NOTE, data={"text": str(n)}) for n in range(5)]
    reader = open_journal(postgres_url, readonly=True)
    assert list(reader.read()) == written
    assert [record.seq for record in written] == [1, 2, 3, 4, 5]
    assert verify(reader).ok


def test_plain_postgresql_urls_use_psycopg_3():
    location = resolve("postgresql://user:pw@db.example:5432/journal")
    assert location.url.startswith("postgresql+psycopg://")
    assert "pw" not in location.display


def test_readers_cannot_write_and_updates_are_refused(postgres_url, postgres_server, open_journal):
    writer = open_journal(postgres_url, actor="replica-0")
    writer.append(kinds.OPERATOR_NOTE, data={"text": "keep me"})
    reader = open_journal(postgres_url, readonly=True)
    with pytest.raises(JournalError), reader.transaction() as connection:
        connection.execute(text("DELETE FROM journal_records"))
    database = postgres_url.rsplit("/", 1)[1]
    with pytest.raises(Exception, match="append-only"):
        postgres_server.sql("UPDATE journal_records SET actor = 'mallory'", database)
    assert [r.actor for r in reader.read()] == ["replica-0"]


def test_concurrent_writers_share_one_verifiable_chain(postgres_url, start_writer, open_journal):
    open_journal(postgres_url, actor="setup").close()  # migrate once, up front
    writers = [start_writer(postgres_url, 40, f"replica-{n}") for n in range(4)]
    acked: list[int] = []
    for process in writers:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        acked += [int(line) for line in out.split()]
    reader = open_journal(postgres_url, readonly=True)
    result = verify(reader)
    assert result.ok, result.summary()
    assert sorted(acked) == list(range(1, 161))
    assert result.records == 160
    # Every writer's records interleave in the one chain.
    assert {record.actor for record in reader.read()} == {f"replica-{n}" for n in range(4)}


def test_sigkilled_writer_loses_and_duplicates_nothing(postgres_url, start_writer, open_journal):
    open_journal(postgres_url, actor="setup").close()
    victim = start_writer(postgres_url, 0, "victim")
    survivor = start_writer(postgres_url, 0, "survivor")
    acked: dict[str, list[int]] = {"victim": [], "survivor": []}
    assert victim.stdout is not None and survivor.stdout is not None
    while len(acked["victim"]) < 30:
        acked["victim"].append(int(victim.stdout.readline()))
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    acked["victim"] += [int(line) for line in victim.stdout.read().split()]
    # The survivor goes on appending past the victim's death.
    while len(acked["survivor"]) < 30:
        acked["survivor"].append(int(survivor.stdout.readline()))
    survivor.send_signal(signal.SIGKILL)
    survivor.wait(timeout=30)
    acked["survivor"] += [int(line) for line in survivor.stdout.read().split()]
    reader = open_journal(postgres_url, readonly=True)
    result = verify(reader)
    assert result.ok, result.summary()
    stored = list(reader.read())
    by_seq = {record.seq: record for record in stored}
    assert len(by_seq) == len(stored) == len({record.id for record in stored})
    for actor, seqs in acked.items():
        assert all(by_seq[seq].actor == actor for seq in seqs)
    # Nothing beyond what was committed: seqs are 1..N without a hole.
    assert sorted(by_seq) == list(range(1, len(stored) + 1))


def test_a_locked_chain_is_retried_then_reported_as_busy(postgres_url, postgres_server):
    import psycopg

    from journal.postgres import APPEND_LOCK_KEY

    Journal.open(postgres_url, actor="setup").close()
    database = postgres_url.rsplit("/", 1)[1]
    with psycopg.connect(postgres_server.dsn(database)) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK_KEY,))
        with Journal.open(postgres_url, actor="w", busy_timeout=0.05) as journal:
            with pytest.raises(JournalWriteError, match="locked by another connection") as info:
                journal.append(kinds.OPERATOR_NOTE, data={"text": "x"})
            assert postgres_server.password not in str(info.value)
        holder.rollback()
    with Journal.open(postgres_url, actor="w") as journal:
        assert journal.append(kinds.OPERATOR_NOTE, data={"text": "x"}).seq == 1


def _cli(*args: str, block_driver: bool = False) -> subprocess.CompletedProcess[str]:
    code = "import sys\n"
    if block_driver:
        code += "sys.modules['psycopg'] = None\n"
    code += "from cli.main import main\nsys.exit(main(sys.argv[1:]))\n"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_without_psycopg_one_line_says_how_to_install_it():
    url = "postgresql://journal:hunter2-secret@127.0.0.1:5432/journal"
    result = _cli("verify", "--journal", url, block_driver=True)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert INSTALL_HINT in lines[0]
    assert "hunter2-secret" not in result.stderr + result.stdout


def test_a_server_that_is_down_is_one_line_without_the_password():
    with __import__("socket").socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql+psycopg://journal:hunter2-secret@127.0.0.1:{port}/journal"
    result = _cli("tail", "--journal", url)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "cannot connect to journal" in lines[0]
    assert "hunter2-secret" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    "userinfo",
    ["shipshape:wrong secret-pw", ":wrong-secret-pw", "shipshape:wrong/secret-pw"],
    ids=["space", "no-user", "slash"],
)
def test_a_password_spelt_unusually_is_never_shown(postgres_server, userinfo):
    url = f"postgresql://{userinfo}@127.0.0.1:{postgres_server.port}/postgres"
    result = _cli("tail", "--journal", url)
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert "password authentication failed" in line
    assert "secret" not in line
    assert "[REDACTED]" in line


def test_a_wrong_password_is_one_line_without_it(postgres_server):
    url = postgres_server.url().replace(postgres_server.password, "wrong-secret-pw")
    result = _cli("tail", "--journal", url)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "password authentication failed" in lines[0]
    assert "wrong-secret-pw" not in result.stderr + result.stdout


def test_writers_opening_a_new_database_at_once_create_it_once(postgres_url, postgres_server):
    import psycopg

    database = postgres_url.rsplit("/", 1)[1]
    argv = [sys.executable, "-m", "cli.main", "note", "--journal", postgres_url]
    with psycopg.connect(postgres_server.dsn(database)) as creator:
        # Another writer, still creating the schema: whoever creates it too waits for it.
        creator.execute("CREATE TABLE journal_alembic_version (version_num varchar(32))")
        notes = [
            subprocess.Popen(
                [*argv, "--busy-timeout", "120", f"writer {n}"],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for n in range(4)
        ]
        try:
            waiting = (
                "SELECT count(*) FROM pg_stat_activity "
                f"WHERE datname = '{database}' AND wait_event_type = 'Lock'"
            )
            while postgres_server.sql(waiting)[0][0] < len(notes):
                assert all(note.poll() is None for note in notes)
                time.sleep(0.05)
            creator.rollback()  # gone: the four writers find an empty database at once
            results = [note.communicate(timeout=300) for note in notes]
        finally:
            for note in notes:
                if note.poll() is None:
                    note.kill()
                    note.communicate()
    assert [note.returncode for note in notes] == [0] * 4, results
    with Journal.open(postgres_url, readonly=True) as reader:
        result = verify(reader)
    assert result.ok, result.summary()
    assert result.records == 4


def test_vacuum_chains_its_tombstone_after_an_append_in_flight(postgres_url, postgres_server):
    import threading
    from datetime import timedelta

    from journal import Entry, vacuum
    from journal.postgres import lock_chain
    from tests.journal.builders import at

    with Journal.open(postgres_url, actor="replica-0") as writer:
        writer.append_many(
            [Entry(kind=kinds.WATCH_RELISTED, data={"n": n}, ts=at(n)) for n in range(5)]
        )
    database = postgres_url.rsplit("/", 1)[1]
    waiting = (
        "SELECT count(*) FROM pg_stat_activity "
        f"WHERE datname = '{database}' AND wait_event_type = 'Lock'"
    )
    outcome: list[object] = []
    with (
        Journal.open(postgres_url, actor="replica-0") as controller,
        Journal.open(postgres_url, actor="cli:ops", busy_timeout=120) as operator,
    ):
        with controller.transaction(write=True) as connection:
            # The controller's append, not committed yet, when vacuum starts.
            lock_chain(connection)
            controller.insert_chained(connection, [Entry(kind=kinds.WATCH_RELISTED, ts=at(9))])

            def run() -> None:
                try:
                    outcome.append(vacuum(operator, timedelta(seconds=1)))
                except JournalError as error:
                    outcome.append(error)

            thread = threading.Thread(target=run)
            thread.start()
            while postgres_server.sql(waiting)[0][0] < 1:
                assert thread.is_alive(), outcome
                time.sleep(0.05)
        thread.join(timeout=120)
    (result,) = outcome
    assert not isinstance(result, JournalError), result
    assert (result.removed, result.tombstone.seq) == (5, 7)  # the append is seq 6, kept
    with Journal.open(postgres_url, readonly=True) as reader:
        checked = verify(reader)
    assert checked.ok, checked.summary()


def _high_water(postgres_server, postgres_url) -> int:
    database = postgres_url.rsplit("/", 1)[1]
    [(seq,)] = postgres_server.sql("SELECT journal_seq_high_water()", database)
    return seq


def test_a_cut_at_the_end_fails_verify_and_is_never_numbered_over(
    postgres_url, postgres_server, open_journal
):
    writer = open_journal(postgres_url, actor="replica-0")
    for n in range(5):
        writer.append(kinds.OPERATOR_NOTE, data={"text": str(n)})
    assert _high_water(postgres_server, postgres_url) == 5
    database = postgres_url.rsplit("/", 1)[1]
    postgres_server.sql("DELETE FROM journal_records WHERE seq > 3", database)
    reader = open_journal(postgres_url, readonly=True)
    cut = verify(reader)
    assert not cut.ok and cut.bad_seq == 4
    assert cut.reason.startswith("record(s) 4..5 missing: the journal's seq counter")
    assert "journal_seq_high_water" in cut.reason
    # The next append counts on from the mark: the cut stays a gap verify names.
    assert writer.append(kinds.OPERATOR_NOTE, data={"text": "after"}).seq == 6
    after = verify(reader)
    assert not after.ok and after.bad_seq == 4


def test_the_high_water_mark_only_rises_and_only_with_commits(
    postgres_url, postgres_server, open_journal
):
    writer = open_journal(postgres_url, actor="replica-0")
    writer.append_many([Entry(kind=kinds.OPERATOR_NOTE, data={"text": str(n)}) for n in range(3)])
    assert _high_water(postgres_server, postgres_url) == 3, "one statement, its largest seq"
    database = postgres_url.rsplit("/", 1)[1]
    for statement in (
        "UPDATE journal_seq_high_water SET seq = 1",
        "DELETE FROM journal_seq_high_water",
    ):
        with pytest.raises(Exception, match="high-water mark only rises"):
            postgres_server.sql(statement, database)
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as connection:
            connection.execute(
                text(
                    "INSERT INTO journal_records "
                    "(seq, id, ts, kind, actor, data, prev_hash, hash) "
                    "SELECT seq + 10, gen_random_uuid()::text, ts, kind, actor, data, "
                    "prev_hash, hash FROM journal_records WHERE seq = 3"
                )
            )
            connection.rollback()  # an append that never commits raises nothing
    finally:
        engine.dispose()
    assert _high_water(postgres_server, postgres_url) == 3
    assert writer.append(kinds.OPERATOR_NOTE, data={"text": "next"}).seq == 4
    assert verify(open_journal(postgres_url, readonly=True)).ok


def test_a_least_privileged_writer_raises_the_mark_without_a_grant_on_it(
    postgres_url, postgres_server, open_journal
):
    """The documented roles keep working after the upgrade: the trigger and the
    reader run with their owner's rights."""
    open_journal(postgres_url, actor="owner").append(kinds.OPERATOR_NOTE, data={"text": "0"})
    database = postgres_url.rsplit("/", 1)[1]
    role = f"writer_{database}"
    postgres_server.sql(f"CREATE ROLE {role} LOGIN PASSWORD 'writer-secret'")
    postgres_server.sql(f"GRANT USAGE ON SCHEMA public TO {role}", database)
    postgres_server.sql(
        f"GRANT SELECT ON journal_records, journal_alembic_version TO {role}", database
    )
    postgres_server.sql(f"GRANT INSERT ON journal_records TO {role}", database)
    url = f"postgresql+psycopg://{role}:writer-secret@127.0.0.1:{postgres_server.port}/{database}"
    writer = open_journal(url, actor="replica-0")
    assert writer.append(kinds.OPERATOR_NOTE, data={"text": "1"}).seq == 2
    assert _high_water(postgres_server, postgres_url) == 2
    with pytest.raises(JournalError), writer.transaction(write=True) as connection:
        connection.execute(text("UPDATE journal_seq_high_water SET seq = 99"))
    assert verify(open_journal(url, readonly=True)).ok


def test_upgrading_a_0004_postgresql_journal_starts_the_mark_at_its_last_seq(
    postgres_url, postgres_server, open_journal
):
    writer = open_journal(postgres_url, actor="replica-0")
    for n in range(4):
        writer.append(kinds.OPERATOR_NOTE, data={"text": str(n)})
    writer.close()
    alembic(postgres_url, "downgrade", "0004")
    database = postgres_url.rsplit("/", 1)[1]
    tables = "SELECT count(*) FROM pg_tables WHERE tablename = 'journal_seq_high_water'"
    assert postgres_server.sql(tables, database) == [(0,)]
    postgres_server.sql("DELETE FROM journal_records WHERE seq = 4", database)
    upgraded = open_journal(postgres_url, actor="replica-0")  # writers upgrade
    assert upgraded.revision == HEAD
    assert _high_water(postgres_server, postgres_url) == 3, "what the journal holds at upgrade"
    assert upgraded.append(kinds.OPERATOR_NOTE, data={"text": "after"}).seq == 4
    assert verify(open_journal(postgres_url, readonly=True)).ok
