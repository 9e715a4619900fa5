"""Benchmark: what a record's correlation id costs the controller's commits on a grown journal.

The journal indexes ``correlation_id`` (``tail --correlation``). An index
entry goes where its key sorts: with ids that land anywhere (the UUID5 that
controllers derived before ``Policy.ordered_correlation_ids``) every record
of a commit dirties its own page of that index, and the commit writes and
syncs each one to the WAL. That cost grows with the index. Ids that lead with
the resourceVersion (the UUIDv8 of :func:`reloader.core.hashing.ordered_id`)
are appended instead, a few pages a commit however big the journal is.

Each side gets a journal grown with its own ids to ``GROWN`` records (300,000
by default, about 200 MB: a few days of a busy cluster after the compaction
of relists), then commits of 28 records as the controller writes them during
a storm of unrelated changes (``configmap.observed`` and ``debounce.skipped``
of each change, sharing the change's id) through ``Journal.write_many``, in
paired, alternating rounds on fresh copies. Printed: CPU per record, user and
system (the WAL writes and the sync), and the bytes written per commit.

``SHIPSHAPE_BENCH_SCALE`` scales ``GROWN`` down on a busy machine. Run with
``make bench``; prints its figures and never fails for slowness.
"""

from __future__ import annotations

import os
import shutil
import statistics
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from journal import Entry, Journal, kinds
from reloader.core.hashing import correlation_id
from tests.bench.figures import thread_usage

SCALE = float(os.environ.get("SHIPSHAPE_BENCH_SCALE", "1"))
GROWN = max(10_000, round(300_000 * SCALE))
BATCH = 28  # records per commit: the cluster-scale benchmark's storm
COMMITS = 400
ROUNDS = 3
NAMESPACES, OBJECTS = 50, 5000


def _changes(ordered: bool, first_version: int) -> Iterator[list[Entry]]:
    """The two records of each unrelated change, from resourceVersion ``first_version`` on."""
    version = first_version
    ts = datetime.now(UTC)
    while True:
        version += 1
        namespace = f"bench-{version % NAMESPACES:02d}"
        name = f"cm-{version % OBJECTS:04d}"
        digest = f"{version:064x}"
        chain = correlation_id(namespace, name, str(version), digest, ordered=ordered)
        yield [
            Entry(
                kinds.CONFIGMAP_OBSERVED,
                namespace,
                f"configmap/{name}",
                chain,
                3,
                {
                    "event_type": "MODIFIED",
                    "source": "watch",
                    "resource_version": str(version),
                    "data_hash": digest,
                    "previous_hash": f"{version - 1:064x}",
                    "changed_keys": ["N"],
                    "keys": ["N"],
                    "target": None,
                },
                ts,
            ),
            Entry(
                kinds.DEBOUNCE_SKIPPED,
                namespace,
                f"configmap/{name}",
                chain,
                3,
                {"reason": "no-target", "data_hash": digest},
                ts,
            ),
        ]


def storm_batches(ordered: bool, first_version: int, size: int, count: int) -> list[list[Entry]]:
    """``count`` commits of ``size`` records: the two records of each unrelated change."""
    changes = _changes(ordered, first_version)
    return [[entry for _ in range(size // 2) for entry in next(changes)] for _ in range(count)]


def grow_journal(path: Path, records: int, *, ordered: bool = True, first_version: int = 1) -> None:
    """Fill a new journal at ``path`` with ``records`` records of an earlier run: the storm's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with Journal.open(path, actor="bench-earlier") as journal:
        for batch in storm_batches(ordered, first_version, 10_000, -(-records // 10_000)):
            written += journal.write_many(batch[: records - written])


def _thread_usage() -> tuple[float, float, int]:
    """This thread's user and system CPU seconds, and the bytes it has written (``wchar``)."""
    with open("/proc/thread-self/io", encoding="ascii") as io:
        written = next(int(line.split()[1]) for line in io if line.startswith("wchar:"))
    return (*thread_usage(), written)


def _commits(path: Path, ordered: bool) -> tuple[float, float, float]:
    """CPU per record (user, system) and bytes written per commit, of the storm's commits.

    The bytes are every ``write`` the commits made: the WAL frames, and the
    pages SQLite's automatic checkpoints copied back into the file.
    """
    batches = storm_batches(ordered, 1_000_000 + GROWN, BATCH, COMMITS)
    with Journal.open(path, actor="bench-0") as journal:
        user, system, written = _thread_usage()
        for batch in batches:
            journal.write_many(batch)
        user_after, system_after, written_after = _thread_usage()
    records = BATCH * COMMITS
    return (
        (user_after - user) / records,
        (system_after - system) / records,
        (written_after - written) / COMMITS,
    )


def test_bench_correlation_ids_on_a_grown_journal(tmp_path: Path) -> None:
    grown = {}
    for ordered in (False, True):
        grown[ordered] = tmp_path / f"grown-{'ordered' if ordered else 'uuid5'}.db"
        grow_journal(grown[ordered], GROWN, ordered=ordered, first_version=1_000_000)
    size_mib = grown[False].stat().st_size / 2**20
    cpu: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    written: dict[bool, list[float]] = {False: [], True: []}
    for round_ in range(ROUNDS):
        for ordered in (False, True):
            copy = tmp_path / f"round-{round_}-{ordered}.db"
            shutil.copyfile(grown[ordered], copy)
            user, system, per_commit = _commits(copy, ordered)
            cpu[ordered].append((user, system))
            written[ordered].append(per_commit)
            copy.unlink()
            for suffix in ("-wal", "-shm"):
                Path(f"{copy}{suffix}").unlink(missing_ok=True)

    def median(ordered: bool) -> tuple[float, float]:
        return (
            statistics.median(u for u, _ in cpu[ordered]) * 1e6,
            statistics.median(s for _, s in cpu[ordered]) * 1e6,
        )

    old_user, old_system = median(False)
    new_user, new_system = median(True)
    rounds = {
        name: [round((u + s) * 1e6, 1) for u, s in cpu[ordered]]
        for name, ordered in (("uuid5", False), ("ordered", True))
    }
    print(
        f"\n[bench] commits of {BATCH} on a journal of {GROWN:,} records ({size_mib:.0f} MiB), "
        f"{ROUNDS} paired rounds of {COMMITS} commits, median CPU per record:"
    )
    old_kib, new_kib = (statistics.median(written[o]) / 1024 for o in (False, True))
    print(
        f"  UUID5 ids: {old_user + old_system:.1f} us "
        f"(user {old_user:.1f}, system {old_system:.1f}), {old_kib:.0f} KiB written a commit"
    )
    print(
        f"  ordered ids: {new_user + new_system:.1f} us "
        f"(user {new_user:.1f}, system {new_system:.1f}), {new_kib:.0f} KiB written a commit; "
        f"{(new_user + new_system) / (old_user + old_system):.2f} x UUID5"
    )
    print(f"  rounds (us per record): {rounds}")
