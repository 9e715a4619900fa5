"""A central PostgreSQL journal whose server restarts (a failover, an upgrade) under its writers.

These tests stop and start a server of their own (not the session's, which
other tests share), so a restart here disturbs nothing else.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from journal import Entry, Journal, JournalError, JournalValueError, kinds, vacuum, verify
from journal.postgres import APPEND_LOCK_KEY
from journal.ship import ShipGap, ship
from tests.journal.builders import at
from tests.journal.helpers import ROOT
from tests.journal.postgres import (
    PostgresServer,
    _as_server_user,
    server_bindir,
    start_server,
    stop_server,
)


@pytest.fixture(scope="module")
def own_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server these tests may restart."""
    server = start_server(server_bindir())
    try:
        yield server
    finally:
        stop_server(server)


def _pg_ctl(server: PostgresServer, *args: str) -> None:
    data = server.directory / "data"
    subprocess.run(
        _as_server_user([str(server.bindir / "pg_ctl"), "-D", str(data), *args]),
        capture_output=True,
        check=True,
        timeout=120,
        cwd=server.directory,
    )


def stop(server: PostgresServer) -> None:
    """Stop the server as a failover would: every connection is ended (fast shutdown)."""
    _pg_ctl(server, "-m", "fast", "-w", "stop")


def start(server: PostgresServer) -> None:
    """Start the server again on its port."""
    options = (
        f"-c listen_addresses=127.0.0.1 -p {server.port} "
        f"-c unix_socket_directories={server.directory} -c fsync=on"
    )
    _pg_ctl(server, "-l", str(server.directory / "server.log"), "-o", options, "-w", "start")


def _fill(path: Path, n: int) -> None:
    with Journal.open(path, actor="helloworld-controller-0") as journal:
        for number in range(n):
            journal.append(
                kinds.CONFIGMAP_OBSERVED,
                namespace="shipshape",
                object="configmap/helloworld-config",
                data={"n": number},
            )


def _shipped(server: PostgresServer, database: str) -> tuple[int, int]:
    try:
        rows = server.sql(
            "SELECT count(*), count(DISTINCT stream_seq) FROM journal_records "
            "WHERE stream IS NOT NULL",
            database,
        )
    except Exception:  # the server is down, or the table not made yet
        return (-1, -1)
    return rows[0]  # type: ignore[return-value]


def _wait_for(server: PostgresServer, database: str, count: int, process) -> None:
    deadline = time.monotonic() + 120
    while _shipped(server, database)[0] != count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, _shipped(server, database)
        time.sleep(0.1)


def test_ship_follow_rides_over_a_server_restart_and_copies_each_record_once(
    tmp_path, own_server, spawn
):
    database = own_server.create_database()
    url = own_server.url(database)
    source = tmp_path / "replica-0.db"
    _fill(source, 50)
    follower = spawn(
        sys.executable, "-m", "cli.main", "ship", "--journal", str(source), "--to", url,
        "--cluster", "prod-eu", "-f",
    )  # fmt: skip
    _wait_for(own_server, database, 50, follower)
    stop(own_server)
    _fill(source, 30)  # the controller goes on writing while the central journal is away
    time.sleep(1.5)
    assert follower.poll() is None, "ship -f gave up on the first lost connection"
    start(own_server)
    _fill(source, 20)
    _wait_for(own_server, database, 100, follower)
    follower.send_signal(signal.SIGTERM)
    out, err = follower.communicate(timeout=60)
    assert follower.returncode == 0, err
    assert own_server.password not in out + err
    warnings = err.splitlines()
    assert len(warnings) == 1, err
    assert warnings[0].startswith("Warning: lost the connection to journal "), err
    assert "trying again for up to" in warnings[0]
    assert _shipped(own_server, database) == (100, 100)
    verified = subprocess.run(
        [sys.executable, "-m", "cli.main", "verify", "--journal", url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert verified.returncode == 0, verified.stderr
    assert "1 shipped stream: 100 records)" in verified.stdout


def test_ship_gives_up_on_a_server_that_stays_away_with_one_line(tmp_path, own_server):
    database = own_server.create_database()
    url = own_server.url(database)
    source_path = tmp_path / "replica-0.db"
    _fill(source_path, 5)
    with (
        Journal.open(source_path, readonly=True) as source,
        Journal.open(url, actor="cli:test") as central,
    ):
        stop(own_server)
        try:
            told: list[str] = []
            began = time.monotonic()
            with pytest.raises(JournalError) as raised:
                ship(
                    source,
                    central,
                    cluster="prod-eu",
                    reconnect_seconds=1.0,
                    on_reconnect=told.append,
                )
            assert time.monotonic() - began < 30
        finally:
            start(own_server)
    message = str(raised.value)
    assert "\n" not in message and own_server.password not in message
    assert len(told) == 1


def test_two_ships_of_one_new_journal_under_two_cluster_names_at_once(
    tmp_path, postgres_url, postgres_server
):
    """The second one past the append lock is told, in one line, the cluster to use."""
    source_path = tmp_path / "replica-0.db"
    _fill(source_path, 5)
    database = postgres_url.rsplit("/", 1)[1]
    with Journal.open(postgres_url, actor="cli:setup"):
        pass  # the schema
    outcomes: dict[str, object] = {}

    def run(cluster: str) -> None:
        with (
            Journal.open(source_path, readonly=True) as source,
            Journal.open(postgres_url, actor=f"cli:{cluster}", busy_timeout=60) as central,
        ):
            try:
                outcomes[cluster] = ship(source, central, cluster=cluster).shipped
            except JournalError as error:
                outcomes[cluster] = error

    # Hold the append lock so that both name the new stream before either copies.
    with psycopg.connect(postgres_server.dsn(database), autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (APPEND_LOCK_KEY,))
        threads = [threading.Thread(target=run, args=(name,)) for name in ("prod-eu", "prod-us")]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while holder.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        ).fetchone() != (2,):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        holder.execute("SELECT pg_advisory_unlock(%s)", (APPEND_LOCK_KEY,))
    for thread in threads:
        thread.join(timeout=120)
    copied = [name for name, outcome in outcomes.items() if outcome == 5]
    refused = [outcome for outcome in outcomes.values() if isinstance(outcome, JournalError)]
    assert len(copied) == 1 and len(refused) == 1, outcomes
    assert isinstance(refused[0], JournalValueError)
    assert f"ship it with --cluster {copied[0]}" in str(refused[0])
    assert postgres_server.password not in str(refused[0])


def test_a_vacuum_of_the_source_during_a_ship_is_a_reported_gap_not_a_broken_chain(
    tmp_path, postgres_url
):
    """The source's vacuum removes records of the backlog a running ship has not reached."""
    source_path = tmp_path / "replica-0.db"
    pod = "helloworld-controller-0"
    with Journal.open(source_path, actor=pod) as writer:
        writer.append_many(
            [Entry(kind=kinds.WATCH_RELISTED, data={"n": n}, ts=at(n)) for n in range(30)]
        )
    gaps: list[ShipGap] = []

    def vacuum_after_the_first_batch(progress) -> None:
        if progress.stream_seq == 10:
            with Journal.open(source_path, actor=pod) as writer:
                vacuum(writer, timedelta(seconds=1), now=at(20.5))  # seqs 1..20 go

    with (
        Journal.open(source_path, readonly=True) as source,
        Journal.open(postgres_url, actor="cli:ship") as central,
    ):
        progress = ship(
            source,
            central,
            cluster="prod-eu",
            batch_size=10,
            on_batch=vacuum_after_the_first_batch,
            on_gap=gaps.append,
        )
    assert len(gaps) == 1 and progress.gap == gaps[0]
    assert (gaps[0].first_seq, gaps[0].last_seq) == (11, 20)
    assert progress.shipped == 10 + 11  # seqs 1..10, then 21..30 and the tombstone
    with Journal.open(postgres_url, readonly=True) as central:
        assert verify(central).ok


def test_the_first_append_after_a_server_restart_is_written(own_server):
    """A writer's connection ended by a restart opens again: the append is not lost to it."""
    url = own_server.url(own_server.create_database())
    with Journal.open(url, actor="helloworld-controller-0") as journal:
        journal.append(kinds.OPERATOR_NOTE, data={"text": "before"})
        stop(own_server)
        start(own_server)
        after = journal.append(kinds.OPERATOR_NOTE, data={"text": "after"})
        assert after.seq == 2
    with Journal.open(url, readonly=True) as journal:
        assert [record.data["text"] for record in journal.read()] == ["before", "after"]
        assert verify(journal).ok


def test_tail_follow_rides_over_a_server_restart_and_shows_each_record_once(
    tmp_path, own_server, spawn
):
    """An operator's ``tail -f`` of the central journal outlives a failover."""
    database = own_server.create_database()
    url = own_server.url(database)

    def append(count: int) -> None:
        with Journal.open(url, actor="cli:test") as writer:
            for _ in range(count):
                writer.append(kinds.OPERATOR_NOTE, data={"text": "hello"})

    append(10)
    follower = spawn(
        sys.executable, "-m", "cli.main", "tail", "--journal", url, "-f", "-o", "json",
        "--lines", "100",
    )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(follower.stdout), daemon=True)
    reader.start()

    def shown(count: int) -> None:
        deadline = time.monotonic() + 60
        while len(lines) < count:
            assert follower.poll() is None, follower.stderr.read()
            assert time.monotonic() < deadline, lines
            time.sleep(0.05)

    shown(10)
    stop(own_server)
    time.sleep(1.5)
    assert follower.poll() is None, "tail -f gave up on the first lost connection"
    start(own_server)
    append(5)
    shown(15)
    follower.send_signal(signal.SIGTERM)
    follower.wait(timeout=60)
    reader.join(timeout=10)
    err = follower.stderr.read()
    assert follower.returncode == 0, err
    seqs = [json.loads(line)["seq"] for line in lines]
    assert seqs == list(range(1, 16)), "each record once, in order"
    warnings = err.splitlines()
    assert len(warnings) == 1, err
    assert warnings[0].startswith("Warning: lost the connection to journal "), err
    assert own_server.password not in err
