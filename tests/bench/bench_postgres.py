"""PostgreSQL journal benchmarks (issue 18): printed figures, never a pass/fail on speed.

Run one at a time, e.g. ``pytest tests/bench/bench_postgres.py -s -k appends``.

- appends/s through ``Journal.append`` against raw psycopg doing the same
  durable commit per record (goal: at least 50 %);
- one chain vs a chain per writer: 4 concurrent writers with the advisory
  lock (one chain) and without it (what per-writer streams would cost);
- replay from PostgreSQL: records/s and peak memory over ``BENCH_PG_RECORDS``
  records (default 1,000,000; the issue's 10,000,000 with
  ``BENCH_PG_RECORDS=10000000``), generated with COPY;
- ``ship`` throughput from a SQLite journal.
"""

from __future__ import annotations

import json
import os
import resource
import threading
import time
import uuid

import psycopg

from journal import Entry, Journal, kinds, replay
from journal.postgres import APPEND_LOCK_KEY
from journal.ship import ship

APPENDS = 1000


def _raw_appends(dsn: str, count: int, *, lock: bool) -> float:
    with psycopg.connect(dsn) as connection:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS raw_records (seq bigint PRIMARY KEY, id text, "
            "ts text, kind text, data text, prev_hash text, hash text)"
        )
        connection.commit()
        started = time.perf_counter()
        for _ in range(count):
            with connection.transaction():
                if lock:
                    connection.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK_KEY,))
                head = connection.execute(
                    "SELECT coalesce(max(seq), 0) FROM raw_records"
                ).fetchone()
                connection.execute(
                    "INSERT INTO raw_records VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (head[0] + 1, str(uuid.uuid4()), "t", "k", "{}", "p", "h"),
                )
        return count / (time.perf_counter() - started)


def test_appends_against_raw_psycopg(postgres_server):
    raw = _raw_appends(postgres_server.dsn(postgres_server.create_database()), APPENDS, lock=True)
    with Journal.open(postgres_server.url(postgres_server.create_database()), actor="b") as journal:
        started = time.perf_counter()
        for n in range(APPENDS):
            journal.append(kinds.OPERATOR_NOTE, data={"text": "bench", "n": n})
        ours = APPENDS / (time.perf_counter() - started)
    print(
        f"\npostgres appends: Journal.append {ours:.0f}/s, raw psycopg {raw:.0f}/s "
        f"({100 * ours / raw:.0f} % of raw; goal >= 50 %)"
    )


def test_one_chain_against_a_chain_per_writer(postgres_server):
    for lock in (True, False):
        database = postgres_server.create_database()
        dsn = postgres_server.dsn(database)
        _raw_appends(dsn, 1, lock=lock)
        rates: list[float] = []

        def writer(dsn: str = dsn, lock: bool = lock, rates: list[float] = rates) -> None:
            with psycopg.connect(dsn) as connection:
                started = time.perf_counter()
                for _ in range(300):
                    with connection.transaction():
                        if lock:
                            connection.execute(
                                "SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK_KEY,)
                            )
                        connection.execute(
                            "INSERT INTO raw_records VALUES "
                            "((SELECT max(seq) FROM raw_records) + 1 + "
                            "(random() * 1e12)::bigint, %s, 't', 'k', '{}', 'p', 'h')",
                            (str(uuid.uuid4()),),
                        )
                rates.append(300 / (time.perf_counter() - started))

        threads = [threading.Thread(target=writer) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        label = "one chain (advisory lock)" if lock else "chain per writer (no shared lock)"
        print(f"\n4 writers, {label}: {sum(rates):.0f} appends/s in total")


def test_replay_from_postgresql(postgres_server):
    total = int(os.environ.get("BENCH_PG_RECORDS", "1000000"))
    database = postgres_server.create_database()
    url = postgres_server.url(database)
    Journal.open(url, actor="setup").close()
    started = time.perf_counter()
    with psycopg.connect(postgres_server.dsn(database)) as connection:
        with connection.cursor().copy(
            "COPY journal_records (seq, id, ts, kind, namespace, object, correlation_id, "
            "actor, leader_epoch, data, prev_hash, hash) FROM STDIN"
        ) as copy:
            for n in range(1, total + 1):
                copy.write_row(
                    (
                        n,
                        str(uuid.UUID(int=n)),
                        f"2026-12-01T00:00:{n % 60:02d}.{n % 1000000:06d}Z",
                        "configmap.observed",
                        "shipshape",
                        f"configmap/cm-{n % 50}",
                        f"c-{n // 3}",
                        "helloworld-controller-0",
                        1,
                        json.dumps({"event_type": "MODIFIED", "data_hash": f"{n:064x}"}),
                        "0" * 64,
                        f"{n:064x}",
                    )
                )
        connection.commit()
    generated = time.perf_counter() - started
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with Journal.open(url, readonly=True) as reader:
        started = time.perf_counter()
        report = replay([reader])
        elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert report is not None
    print(
        f"\nreplay from postgres: {total} records (COPY in {generated:.1f} s), "
        f"{total / elapsed:.0f} records/s, peak RSS {peak / 1024:.0f} MiB "
        f"(+{(peak - before) / 1024:.0f} MiB during replay)"
    )


def test_ship_throughput(tmp_path, postgres_server):
    source_path = tmp_path / "source.db"
    count = 20000
    with Journal.open(source_path, actor="helloworld-controller-0") as journal:
        for start in range(0, count, 1000):
            journal.append_many(
                Entry(kind=kinds.OPERATOR_NOTE, data={"n": n}) for n in range(start, start + 1000)
            )
    url = postgres_server.url(postgres_server.create_database())
    with (
        Journal.open(source_path, readonly=True) as source,
        Journal.open(url, actor="ship") as central,
    ):
        started = time.perf_counter()
        progress = ship(source, central, cluster="bench")
        elapsed = time.perf_counter() - started
    rate = progress.shipped / elapsed
    print(f"\nship: {progress.shipped} records in {elapsed:.2f} s, {rate:.0f} records/s")


def test_ship_follow_lag(tmp_path, postgres_server):
    """Commit-to-central lag of ``ship -f`` (a real process) while a writer appends.

    The writer appends to a SQLite journal at about ``BENCH_SHIP_RATE`` records/s
    for ``BENCH_SHIP_SECONDS``; a poller sees each record arrive in the central
    journal (``max(stream_seq)`` every 5 ms). Goal (issue 18): p95 under 1 s.
    """
    import signal
    import subprocess
    import sys
    from pathlib import Path

    rate = float(os.environ.get("BENCH_SHIP_RATE", "50"))
    seconds = float(os.environ.get("BENCH_SHIP_SECONDS", "10"))
    source_path = tmp_path / "source.db"
    database = postgres_server.create_database()
    url = postgres_server.url(database)
    Journal.open(url, actor="setup").close()
    writer = Journal.open(source_path, actor="helloworld-controller-0")
    writer.append(kinds.OPERATOR_NOTE, data={"text": "first"})
    committed: dict[int, float] = {}
    arrived: dict[int, float] = {}
    follower = subprocess.Popen(
        [
            *(sys.executable, "-m", "cli.main", "ship", "--journal", str(source_path)),
            *("--to", url, "--cluster", "bench", "-f"),
        ],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    done = threading.Event()

    def poll() -> None:
        with psycopg.connect(postgres_server.dsn(database), autocommit=True) as connection:
            seen = 0
            while not done.is_set():
                head = connection.execute(
                    "SELECT coalesce(max(stream_seq), 0) FROM journal_records"
                ).fetchone()[0]
                now = time.monotonic()
                for seq in range(seen + 1, head + 1):
                    arrived[seq] = now
                seen = head
                time.sleep(0.005)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        while 1 not in arrived:  # the follower is up and has shipped the first record
            assert follower.poll() is None, follower.stderr.read() if follower.stderr else ""
            time.sleep(0.01)
        ends = time.monotonic() + seconds
        while time.monotonic() < ends:
            record = writer.append(kinds.OPERATOR_NOTE, data={"text": "bench"})
            committed[record.seq] = time.monotonic()
            time.sleep(1 / rate)
        deadline = time.monotonic() + 30
        while max(committed) not in arrived and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        done.set()
        poller.join()
        follower.send_signal(signal.SIGTERM)
        follower.wait(timeout=30)
        writer.close()
    lags = sorted(arrived[seq] - at for seq, at in committed.items() if seq in arrived)
    assert len(lags) == len(committed), "some records never reached the central journal"
    p50 = lags[len(lags) // 2]
    p95 = lags[min(len(lags) - 1, int(0.95 * len(lags)))]
    print(
        f"\nship -f lag: {len(lags)} records at ~{rate:.0f}/s, p50 {p50 * 1000:.0f} ms, "
        f"p95 {p95 * 1000:.0f} ms, max {lags[-1] * 1000:.0f} ms (goal: p95 < 1 s)"
    )
