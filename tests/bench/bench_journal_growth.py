"""Benchmark: how fast the journal grows while nothing changes (issue 16, "Journal growth").

Two measurements, printed, never asserted:

1. The controller at cluster scale (the populate of ``bench_cluster_scale``:
   50 namespaces, 5,000 ConfigMaps, 1,000 Secrets and 1,000 workloads at
   ``SHIPSHAPE_BENCH_SCALE=1``), ``WATCH_NAMESPACES=*``, ``WATCH_SECRETS=true``,
   an empty selector, leader election on and signed checkpoints, with a short
   ``RESYNC_SECONDS`` (``SHIPSHAPE_BENCH_RESYNC``, 20 s by default) and a 5 s
   watch timeout so several relists happen. After the initial sync and
   adoption have settled, the journal's bytes (a consistent copy through
   SQLite's backup API: database and WAL, as after a checkpoint) and its
   records by kind are counted over ``SHIPSHAPE_BENCH_CYCLES`` relist cycles
   (3 by default), then extrapolated to a day at ``RESYNC_SECONDS=300``
   (goal: at most 50 MB a day).
2. Bytes per record of the replay benchmark's synthetic journal
   (``bench_journal._generate``), split by SQLite's ``dbstat`` into the table
   and each index.

Run with ``.venv/bin/python -m pytest tests/bench/bench_journal_growth.py -s
-o python_files="bench_*.py"``.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from journal import Journal
from journal.replay import state_at
from journal.timefmt import utc_now
from tests.bench.bench_cluster_scale import NAMESPACES, SCALE, WORKLOADS_PER_NS, populate
from tests.bench.bench_journal import _generate
from tests.journal.signing_helpers import write_key_pair
from tests.kubeapi import KubeApiServer
from tests.reloader.e2e import harness
from tests.reloader.e2e.harness import wait_for
from tests.reloader.e2e.test_workloads import cluster_rbac

RESYNC = float(os.environ.get("SHIPSHAPE_BENCH_RESYNC", "20"))
CYCLES = int(os.environ.get("SHIPSHAPE_BENCH_CYCLES", "3"))
DAY_RESYNC = 300.0
GOAL_BYTES_PER_DAY = 50e6
SYNTHETIC_RECORDS = 100_000
#: Kinds a relist writes (their count follows the number of relists, not time).
RELIST_KINDS = frozenset({"watch.started", "watch.relisted", "journal.checkpoint"})


def journal_bytes(path: Path, copy: Path) -> int:
    """The journal's size as a database holding every committed record (database + WAL).

    A copy made with SQLite's online backup API holds exactly the committed
    pages, as the file would after a checkpoint; the live files are left alone.
    """
    copy.unlink(missing_ok=True)
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    target = sqlite3.connect(copy)
    try:
        source.backup(target)
        page_size = target.execute("PRAGMA page_size").fetchone()[0]
        pages = target.execute("PRAGMA page_count").fetchone()[0]
        free = target.execute("PRAGMA freelist_count").fetchone()[0]
        return (pages - free) * page_size
    finally:
        target.close()
        source.close()


def space_by_object(path: Path) -> tuple[int, list[tuple[str, int]]]:
    """The records' row count and the bytes of their table and each of its indexes (dbstat)."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = connection.execute("SELECT count(*) FROM journal_records").fetchone()[0]
        names = [
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE tbl_name = 'journal_records' "
                "AND type IN ('table', 'index')"
            )
        ]
        sizes = []
        for name in names:
            (size,) = connection.execute(
                "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name = ?", (name,)
            ).fetchone()
            sizes.append((name, size))
        return rows, sorted(sizes, key=lambda item: -item[1])
    finally:
        connection.close()


def print_space(title: str, path: Path) -> None:
    rows, sizes = space_by_object(path)
    total = sum(size for _, size in sizes)
    print(f"  {title}: {rows:,} records, {total / max(rows, 1):.0f} bytes/record")
    for name, size in sizes:
        print(
            f"    {name:<40} {size / 1e6:8.2f} MB  {size / max(rows, 1):6.0f} B/record"
            f"  {100 * size / max(total, 1):5.1f} %"
        )


def relists(controller: Any, after_seq: int) -> int:
    """How many ConfigMap relists the controller journaled after ``after_seq``."""
    return sum(
        1
        for r in controller.records({"watch.relisted"}, after_seq)
        if r.data.get("resource") == "configmaps"
    )


def last_seq(controller: Any) -> int:
    records = controller.records()
    return records[-1].seq if records else 0


@pytest.mark.timeout(3600)
def test_bench_journal_growth_at_steady_state(tmp_path: Path) -> None:
    workloads = NAMESPACES * WORKLOADS_PER_NS
    with KubeApiServer(rollout_delay=0.2, history_size=50_000, watch_queue_size=100_000) as kube:
        local = harness.cluster(kube, tmp_path)
        cluster_rbac(kube)
        populate(kube)
        key = tmp_path / "hash.key"
        key.write_bytes(os.urandom(32))
        signing, _public = write_key_pair(tmp_path)
        controller = harness.controller(
            local,
            env={
                "WATCH_NAMESPACES": "*",
                "WATCH_SECRETS": "true",
                "SECRET_HASH_KEY_FILE": str(key),
                "CONFIGMAP_LABEL_SELECTOR": "",
                "LEADER_ELECTION_ENABLED": "true",
                "JOURNAL_SIGNING_KEY_FILE": str(signing),
                "DEBOUNCE_SECONDS": "1",
                "RESYNC_SECONDS": str(RESYNC),
                "WATCH_TIMEOUT_SECONDS": "5",
                "RESTART_RATE_PER_SECOND": "1000",
                "RESTART_BURST": "1000",
                "MAX_CONCURRENT_ROLLOUTS": "1000",
            },
        )
        copy = tmp_path / "copy.db"
        try:
            controller.start(timeout=600)
            wait_for(
                lambda: (
                    sum(
                        1
                        for r in controller.records({"debounce.skipped"})
                        if r.data.get("reason") == "adopted"
                    )
                    >= workloads
                ),
                "every workload adopted",
                timeout=600,
                interval=1.0,
            )
            # Settled: two relists after adoption (its patches seen again).
            adopted_seq = last_seq(controller)
            wait_for(
                lambda: relists(controller, adopted_seq) >= 2,
                "two relists after adoption",
                timeout=10 * RESYNC + 120,
                interval=1.0,
            )
            synced_bytes = journal_bytes(controller.journal_path, copy)
            synced_records = last_seq(controller)
            start_seq = synced_records
            start_bytes = synced_bytes
            started = time.monotonic()
            wait_for(
                lambda: relists(controller, start_seq) >= CYCLES,
                f"{CYCLES} relists",
                timeout=CYCLES * RESYNC * 3 + 120,
                interval=0.5,
            )
            elapsed = time.monotonic() - started
            end_bytes = journal_bytes(controller.journal_path, copy)
            window = controller.records(after_seq=start_seq)
            controller.stop()
        finally:
            controller.kill()
        with Journal.open(str(controller.journal_path), readonly=True) as journal:
            replay_started = time.perf_counter()
            state = state_at(journal, utc_now())
            replay_seconds = time.perf_counter() - replay_started

    by_kind = Counter(r.kind for r in window)
    count = len(window)
    grown = end_bytes - start_bytes
    per_record = grown / count if count else float("nan")
    relist_records = sum(n for kind, n in by_kind.items() if kind in RELIST_KINDS)
    timed_records = count - relist_records
    per_cycle = relist_records * per_record / CYCLES
    per_second = timed_records * per_record / elapsed
    day = per_cycle * 86_400 / DAY_RESYNC + per_second * 86_400
    objects = NAMESPACES * (100 + 20)
    print(
        f"\njournal growth at steady state (SHIPSHAPE_BENCH_SCALE={SCALE}): {objects:,} "
        f"ConfigMaps and Secrets, {workloads} workloads, RESYNC_SECONDS={RESYNC:g}, "
        "leader election and signing on"
    )
    print(
        f"  after the initial sync: {synced_records:,} records, {synced_bytes / 1e6:.2f} MB "
        f"({synced_bytes / max(synced_records, 1):.0f} bytes/record)"
    )
    print(
        f"  steady state: {CYCLES} ConfigMap relists in {elapsed:.0f} s: {count} records, "
        f"{grown:,} bytes ({per_record:.0f} bytes/record)"
    )
    for kind, n in sorted(by_kind.items()):
        print(f"    {kind:<24} {n:6d}  ({n / CYCLES:.1f} per relist cycle)")
    print(
        f"  per relist cycle: {relist_records / CYCLES:.1f} records, {per_cycle:,.0f} bytes; "
        f"other records: {timed_records / elapsed * 3600:.0f} per hour"
    )
    print(
        f"  a day at RESYNC_SECONDS={DAY_RESYNC:g}: {day / 1e6:.2f} MB "
        f"(goal <= {GOAL_BYTES_PER_DAY / 1e6:.0f} MB)"
    )
    print_space("the controller's journal", copy)
    verdicts = ", ".join(
        f"{item['resource']} {'matches' if item['matches'] else 'MISMATCH'}" for item in state.lists
    )
    print(
        f"  replay --at now: {len(state.sources)} ConfigMaps/Secrets, {len(state.workloads)} "
        f"workloads in {replay_seconds:.2f} s; last list digests: {verdicts}"
    )


def test_bench_bytes_per_record(tmp_path: Path) -> None:
    path = tmp_path / "synthetic.db"
    _generate(path, SYNTHETIC_RECORDS)
    print("\nbytes per record of the replay benchmark's journal (dbstat):")
    print_space(f"{SYNTHETIC_RECORDS:,} synthetic records", path)
