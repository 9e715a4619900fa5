"""``shipshape-journal ship``: embedded journals into a central PostgreSQL journal."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from journal import Entry, Journal, kinds, vacuum, verify
from journal.filters import Filters
from journal.ship import ship
from tests.journal.builders import at
from tests.journal.helpers import ROOT
from tests.journal.signing_helpers import row_hash


def _fill(path, n: int, actor: str = "helloworld-controller-0") -> list:
    with Journal.open(path, actor=actor) as journal:
        return [
            journal.append(
                kinds.CONFIGMAP_OBSERVED,
                namespace="shipshape",
                object="configmap/helloworld-config",
                data={"event_type": "MODIFIED", "n": n_},
            )
            for n_ in range(n)
        ]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env=env,
    )


def _rows(postgres_server, url: str, sql: str) -> list[tuple]:
    return postgres_server.sql(sql, url.rsplit("/", 1)[1])


def test_ship_copies_seq_hashes_and_chain_and_twice_adds_nothing(
    tmp_path, postgres_url, postgres_server, open_journal
):
    source_path = tmp_path / "replica-0.db"
    written = _fill(source_path, 25)
    source = open_journal(source_path, readonly=True)
    central = open_journal(postgres_url, actor="cli:test")
    first = ship(source, central, cluster="prod-eu", batch_size=10)
    assert first.shipped == 25
    assert first.stream == f"prod-eu/{written[0].id}"
    again = ship(source, central, cluster="prod-eu")
    assert again.shipped == 0
    rows = _rows(
        postgres_server,
        postgres_url,
        "SELECT stream_seq, id, prev_hash, hash, cluster FROM journal_records "
        "WHERE stream IS NOT NULL ORDER BY seq",
    )
    assert [(r.seq, r.id, r.prev_hash, r.hash) for r in written] == [row[:4] for row in rows]
    assert {row[4] for row in rows} == {"prod-eu"}
    result = verify(central)
    assert result.ok, result.summary()
    # and one journal.shipped record per batch of 10, in the central's own chain
    assert (result.records, result.own_records) == (25 + 3, 3)


def test_many_sources_and_own_records_each_verify_and_filter_by_cluster(
    tmp_path, postgres_url, postgres_server, open_journal
):
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    _fill(a, 7)
    _fill(b, 5, actor="other-controller-0")
    central = open_journal(postgres_url, actor="central-writer")
    for path, cluster in ((a, "prod-eu"), (b, "prod-us")):
        with Journal.open(path, readonly=True) as source:
            ship(source, central, cluster=cluster)
        central.append(kinds.OPERATOR_NOTE, data={"text": f"after {cluster}"})
    _fill(a, 3)  # more records in a source: the next ship copies just those
    with Journal.open(a, readonly=True) as source:
        assert ship(source, central, cluster="prod-eu").shipped == 3
    result = verify(central)
    assert result.ok, result.summary()
    # Besides the two notes, the own chain holds a journal.shipped record per ship.
    assert result.records == 7 + 5 + 2 + 3 + 3
    # The head is the central's own chain's, and the line says so.
    assert result.summary() == (
        f"OK: 20 records, head {central.head()[1]} "
        "(own chain: 5 records; 2 shipped streams: 15 records)"
    )
    us = list(central.scan(Filters(cluster="prod-us")))
    assert len(us) == 5
    assert {row[7] for row in central.scan(Filters(actor="other-controller-0"))} == {
        "other-controller-0"
    }
    # An edit of a shipped record is caught, in its stream.
    database = postgres_url.rsplit("/", 1)[1]
    postgres_server.sql(
        "ALTER TABLE journal_records DISABLE TRIGGER journal_records_no_update", database
    )
    postgres_server.sql(
        "UPDATE journal_records SET data = '{\"n\":99}' "
        "WHERE cluster = 'prod-us' AND stream_seq = 3",
        database,
    )
    broken = verify(central)
    assert not broken.ok
    assert broken.bad_seq == 3
    assert broken.reason.startswith("stream prod-us/")


def test_one_streams_tombstone_does_not_cover_another_streams_gap(tmp_path, open_journal):
    vacuumed, other = tmp_path / "vacuumed.db", tmp_path / "other.db"
    for path in (vacuumed, other):
        with Journal.open(path, actor="helloworld-controller-0") as journal:
            journal.append_many(
                [Entry(kind=kinds.WATCH_RELISTED, data={"n": n}, ts=at(n)) for n in range(10)]
            )
    with Journal.open(vacuumed, actor="helloworld-controller-0") as journal:
        tombstone = vacuum(journal, timedelta(seconds=1), now=at(6.5)).tombstone
    central_path = tmp_path / "central.db"
    central = open_journal(central_path, actor="central")
    for path, cluster in ((other, "prod-us"), (vacuumed, "prod-eu")):  # the tombstone last
        with Journal.open(path, readonly=True) as source:
            ship(source, central, cluster=cluster)
    assert verify(central).ok
    # Cut prod-us's first six records and hang the rest on prod-eu's tombstone.
    connection = sqlite3.connect(central_path)
    try:
        connection.execute("DROP TRIGGER IF EXISTS journal_records_no_update")
        connection.execute(
            "DELETE FROM journal_records WHERE cluster = 'prod-us' AND stream_seq <= 6"
        )
        rows = connection.execute(
            "SELECT stream_seq, id, ts, kind, namespace, object, correlation_id, actor, "
            "leader_epoch, data FROM journal_records WHERE cluster = 'prod-us' "
            "ORDER BY stream_seq"
        ).fetchall()
        prev = tombstone.data["last_removed_hash"]
        for row in rows:
            digest = row_hash(row, row[0], json.loads(row[9]), prev)
            connection.execute(
                "UPDATE journal_records SET prev_hash = ?, hash = ? "
                "WHERE cluster = 'prod-us' AND stream_seq = ?",
                (prev, digest, row[0]),
            )
            prev = digest
        connection.commit()
    finally:
        connection.close()
    result = verify(central)
    assert (result.ok, result.bad_seq) == (False, 1)
    assert result.reason.startswith("stream prod-us/")
    assert "record(s) 1..6 missing: seq 7 follows the start of the journal" in result.reason


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_stream_shipped_after_a_vacuum_still_verifies_after_the_next_vacuum(
    tmp_path, engine, request, open_journal
):
    source_path = tmp_path / "replica-0.db"
    with Journal.open(source_path, actor="helloworld-controller-0") as journal:
        journal.append_many(
            [Entry(kind=kinds.WATCH_RELISTED, data={"n": n}, ts=at(n)) for n in range(10)]
        )
        # Seqs 1..3 go; the tombstone (seq 11, written now) is shipped with 4..10.
        assert vacuum(journal, timedelta(seconds=1), now=at(3.5)).tombstone.seq == 11
    url = (
        str(tmp_path / "central.db")
        if engine == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    central = open_journal(url, actor="central")
    with Journal.open(source_path, readonly=True) as source:
        assert ship(source, central, cluster="prod-eu").shipped == 8
    with Journal.open(source_path, actor="helloworld-controller-0") as journal:
        journal.append_many(
            [Entry(kind=kinds.WATCH_RELISTED, data={"n": n}, ts=at(n)) for n in range(10, 20)]
        )
        # Seqs 4..10 go (the first tombstone, written now, is kept): a second tombstone.
        second = vacuum(journal, timedelta(seconds=1), now=at(15.5)).tombstone
        assert second.data["last_removed_seq"] == 10
    with Journal.open(source_path, readonly=True) as source:
        assert ship(source, central, cluster="prod-eu").shipped == 11
    # The stream starts at seq 4, after the first tombstone's gap, not the latest's.
    result = verify(central)
    assert result.ok, result.summary()
    assert result.records == 8 + 11 + 2  # and the two ships' journal.shipped records


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_two_shippers_of_one_journal_copy_each_record_once(tmp_path, engine, request, open_journal):
    source_path = tmp_path / "replica-0.db"
    _fill(source_path, 25)
    url = (
        str(tmp_path / "central.db")
        if engine == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    first, second = open_journal(url, actor="shipper-a"), open_journal(url, actor="shipper-b")
    source = open_journal(source_path, readonly=True)
    others = []

    def meanwhile(progress):
        # Another shipper of the same journal starts after this one's first
        # batch and copies the rest before this one goes on.
        if not others:
            others.append(ship(source, second, cluster="prod-eu", batch_size=10))

    ran = ship(source, first, cluster="prod-eu", batch_size=10, on_batch=meanwhile)
    assert (ran.shipped, others[0].shipped, ran.stream_seq) == (10, 15, 25)
    result = verify(first)
    assert result.ok, result.summary()
    # Each shipper's batches that copied records each stated it: 1 + 2.
    assert (result.records, result.own_records) == (25 + 3, 3)
    stated = [
        (r.actor, r.data["first_stream_seq"], r.data["last_stream_seq"])
        for r in first.read(kinds=(kinds.JOURNAL_SHIPPED,))
    ]
    assert stated == [("shipper-a", 1, 10), ("shipper-b", 11, 20), ("shipper-b", 21, 25)]


def _follow(spawn, source: Path, url: str, env: dict[str, str]):
    """Start ``shipshape-journal ship -f`` from ``source`` into ``url``."""
    return spawn(
        sys.executable, "-m", "cli.main", "ship", "--journal", str(source), "--to", url, "-f",
        env=env,
    )  # fmt: skip


def test_ship_resumes_after_sigkill_and_follows_new_records(
    tmp_path, postgres_url, postgres_server, spawn
):
    source_path = tmp_path / "replica-0.db"
    _fill(source_path, 3000)
    env = {"CLUSTER_NAME": "prod-eu", "PATH": "/usr/bin:/bin"}
    follower = _follow(spawn, source_path, postgres_url, env)
    # Wait until some (not necessarily all) batches are in, then kill it.
    while True:
        try:
            count = _rows(postgres_server, postgres_url, "SELECT count(*) FROM journal_records")
        except Exception:
            count = [(0,)]
        if count[0][0] > 0:
            break
        assert follower.poll() is None, follower.stderr.read() if follower.stderr else ""
        time.sleep(0.05)
    follower.send_signal(signal.SIGKILL)
    follower.wait(timeout=30)
    result = _cli("ship", "--journal", str(source_path), "--to", postgres_url, env=env)
    assert result.returncode == 0, result.stderr
    assert postgres_server.password not in result.stdout + result.stderr
    total = _rows(
        postgres_server,
        postgres_url,
        "SELECT count(*), count(DISTINCT stream_seq) FROM journal_records WHERE stream IS NOT NULL",
    )
    assert total == [(3000, 3000)]
    # Following: a record appended later reaches the central journal.
    follower = _follow(spawn, source_path, postgres_url, env)
    added = _fill(source_path, 1)[0]
    deadline = time.monotonic() + 120
    while not _rows(
        postgres_server, postgres_url, f"SELECT 1 FROM journal_records WHERE id = '{added.id}'"
    ):
        assert time.monotonic() < deadline, "the follower never shipped the new record"
        time.sleep(0.05)
    follower.send_signal(signal.SIGTERM)
    assert follower.wait(timeout=30) == 0
    out = _cli("verify", "--journal", postgres_url, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("OK: ")
    assert "1 shipped stream: 3001 records)" in out.stdout
    tailed = _cli(
        "tail", "--journal", postgres_url, "--cluster", "prod-eu", "-n", "2", "-o", "json", env=env
    )
    assert tailed.returncode == 0, tailed.stderr
    assert [json.loads(line)["id"] for line in tailed.stdout.splitlines()][-1] == added.id


def test_ship_needs_a_cluster(tmp_path, postgres_url):
    _fill(tmp_path / "j.db", 1)
    result = _cli(
        "ship",
        "--journal",
        str(tmp_path / "j.db"),
        "--to",
        postgres_url,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert "CLUSTER_NAME" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("name", ["a/b", " "])
def test_bad_cluster_names_are_refused(tmp_path, postgres_url, name):
    _fill(tmp_path / "j.db", 1)
    result = _cli(
        "ship",
        "--journal",
        str(tmp_path / "j.db"),
        "--to",
        postgres_url,
        "--cluster",
        name,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2, result.stderr


def test_a_writer_without_insert_rights_gets_one_line(tmp_path, postgres_url, postgres_server):
    _fill(tmp_path / "j.db", 3)
    database = postgres_url.rsplit("/", 1)[1]
    Journal.open(postgres_url, actor="owner").close()
    role = f"reader_{database}"
    postgres_server.sql(f"CREATE ROLE {role} LOGIN PASSWORD 'reader-secret'")
    tables = "journal_records, journal_alembic_version"
    postgres_server.sql(f"GRANT SELECT ON {tables} TO {role}", database)
    url = f"postgresql+psycopg://{role}:reader-secret@127.0.0.1:{postgres_server.port}/{database}"
    result = _cli("ship", "--journal", str(tmp_path / "j.db"), "--to", url, "--cluster", "prod-eu")
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("Error: ") and "permission denied" in line
    assert "reader-secret" not in line


def test_a_journal_shipped_under_another_cluster_name_is_refused_in_one_line(
    tmp_path, postgres_url, postgres_server
):
    source = tmp_path / "replica-0.db"
    written = _fill(source, 3)
    first = _cli("ship", "--journal", str(source), "--to", postgres_url, "--cluster", "prod-eu")
    assert first.returncode == 0, first.stderr
    again = _cli("ship", "--journal", str(source), "--to", postgres_url, "--cluster", "prod-us")
    assert again.returncode == 2
    assert again.stdout == ""
    (line,) = again.stderr.splitlines()
    assert f"stream prod-eu/{written[0].id}" in line
    assert "--cluster prod-eu" in line
    shipped = "SELECT count(*) FROM journal_records WHERE stream IS NOT NULL"
    assert _rows(postgres_server, postgres_url, shipped) == [(3,)]


def test_replay_of_a_central_journal_merges_its_streams_by_time(tmp_path, open_journal):
    """Replicas shipped one after the other replay as their journals merged do."""
    from journal import replay
    from journal.picture import build_timeline
    from tests.journal.builders import Controller

    paths = [tmp_path / "replica-0.db", tmp_path / "replica-1.db"]
    first, second = (open_journal(path, actor=path.stem) for path in paths)
    leader, standby = Controller(first), Controller(second)
    leader.started(0)
    standby.started(0.5)
    leader.acquired(1, 0)
    for t, replica in ((2, leader), (2.1, standby)):
        replica.observed(t, "web-config", "v1", event="ADDED")
    leader.restart_chain(10, "web-config", "web", "v2")
    standby.observed(10.1, "web-config", "v2")
    standby.skipped(15.2, "web-config", "not-leader")
    standby.acquired(60, 1)  # the leader is gone; the standby takes over
    standby.restart_chain(100, "web-config", "web", "v3")
    first.close()
    second.close()
    central = open_journal(tmp_path / "central.db", actor="central")
    for path in reversed(paths):  # the new leader's journal is shipped first
        with Journal.open(path, readonly=True) as source:
            ship(source, central, cluster="prod-eu")
    with Journal.open(paths[0], readonly=True) as a, Journal.open(paths[1], readonly=True) as b:
        merged = replay([a, b]).to_json()
    shipped = replay([central], Filters(cluster="prod-eu")).to_json()
    assert merged["anomalies"] == []
    assert shipped["anomalies"] == []
    # Clocks are compared across several journals, never across a central
    # journal's clusters (their resourceVersions come from different API servers).
    assert "clock_offsets" in merged and "clock_offsets" not in shipped
    assert [(t["actor"], t["epoch"], t["end_reason"]) for t in shipped["leader_terms"]] == [
        ("replica-0", 0, "superseded"),
        ("replica-1", 1, None),
    ]
    assert shipped["restart_latency_seconds"] == merged["restart_latency_seconds"]
    # The picture's own pass (replay --html) too.
    pictured = build_timeline([central], Filters(cluster="prod-eu")).report.to_json()
    assert pictured["anomalies"] == []
    assert pictured["leader_terms"] == shipped["leader_terms"]


def test_a_source_vacuumed_up_to_its_head_resumes_its_stream(tmp_path, open_journal):
    source_path = tmp_path / "replica-0.db"
    with Journal.open(source_path, actor="helloworld-controller-0") as journal:
        journal.append_many(
            [Entry(kind=kinds.WATCH_RELISTED, data={"n": n}, ts=at(n)) for n in range(3)]
        )
    central = open_journal(tmp_path / "central.db", actor="central")
    with Journal.open(source_path, readonly=True) as source:
        stream = ship(source, central, cluster="prod-eu").stream
    with Journal.open(source_path, actor="helloworld-controller-0") as journal:
        # Every record goes, the last shipped one too: the tombstone chains to it.
        assert vacuum(journal, timedelta(seconds=1), now=at(60)).tombstone.seq == 4
    with Journal.open(source_path, readonly=True) as source:
        resumed = ship(source, central, cluster="prod-eu")
    assert (resumed.stream, resumed.shipped, resumed.stream_seq) == (stream, 1, 4)
    result = verify(central)
    assert result.ok, result.summary()
    assert result.records == 4 + 2  # and the two ships' journal.shipped records


def test_a_journal_holding_shipped_streams_is_not_shipped(tmp_path):
    _fill(tmp_path / "replica-0.db", 3)
    regional, central = tmp_path / "regional.db", tmp_path / "central.db"
    for args in (
        ("ship", "--journal", tmp_path / "replica-0.db", "--to", regional, "--cluster", "eu"),
        ("note", "own", "--journal", regional),
    ):
        assert _cli(*map(str, args)).returncode == 0
    result = _cli("ship", "--journal", str(regional), "--to", str(central), "--cluster", "all")
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"Error: {regional} holds streams shipped from other journals")
    if central.exists():  # the writer may have created it: empty
        with Journal.open(central, readonly=True) as reader:
            assert reader.count() == 0


def test_replay_of_one_cluster_takes_its_own_debounce_before_the_window(tmp_path, open_journal):
    from journal import replay
    from tests.journal.builders import Controller

    central = open_journal(tmp_path / "central.db", actor="central")
    for cluster, debounce in (("prod-eu", 5), ("prod-us", 60)):  # prod-us shipped last
        path = tmp_path / f"{cluster}.db"
        with Journal.open(path, actor="helloworld-controller-0") as journal:
            controller = Controller(journal)
            controller.started(0, debounce=debounce)
            controller.acquired(1, 0)
            controller.restart_chain(100, "web-config", "web", "v2", patch_after=40)
        with Journal.open(path, readonly=True) as source:
            ship(source, central, cluster=cluster)
    window = Filters(cluster="prod-eu", since=at(50))
    report = replay([central], window).to_json()
    assert report["thresholds"]["debounce_seconds"] == 5
    assert [anomaly["type"] for anomaly in report["anomalies"]] == ["slo_breach"]


def test_a_follower_stops_between_batches_when_asked(tmp_path, open_journal):
    _fill(tmp_path / "replica-0.db", 30)
    source = open_journal(tmp_path / "replica-0.db", readonly=True)
    central = open_journal(tmp_path / "central.db", actor="central")
    stop: list[bool] = []
    progress = ship(
        source,
        central,
        cluster="prod-eu",
        follow=True,
        batch_size=10,
        should_stop=lambda: bool(stop),
        on_batch=lambda _progress: stop.append(True),  # SIGTERM during the first batch
    )
    assert (progress.shipped, progress.stream_seq) == (10, 10)
    assert ship(source, central, cluster="prod-eu").shipped == 20  # the rest, later


def test_an_older_copy_of_a_shipped_journal_is_refused_in_one_line(tmp_path, open_journal):
    source = tmp_path / "replica-0.db"
    _fill(source, 3)
    older = tmp_path / "restored.db"
    assert _cli("backup", "--journal", str(source), "--out", str(older)).returncode == 0
    _fill(source, 2)
    central = tmp_path / "central.db"
    assert (
        _cli("ship", "--journal", str(source), "--to", str(central), "--cluster", "eu").returncode
        == 0
    )
    result = _cli("ship", "--journal", str(older), "--to", str(central), "--cluster", "eu")
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert "an older copy of the journal" in line
    assert "--cluster eu" not in line
