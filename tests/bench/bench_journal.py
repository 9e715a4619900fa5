"""Journal benchmarks: durable appends, replay of a million records, tail -f latency.

Run with ``make bench`` (or ``make bench PYTEST_ARGS=-k journal``). Each
benchmark prints its figures and never fails for slowness; the goals from
issue 2 are printed next to the measurements:

- appends/s through ``Journal.append`` at least 50 % of raw ``sqlite3`` doing
  the same durable commit per record (same schema, same pragmas, same run);
- ``replay`` over 1,000,000 records at least 200,000 records/s, under 150 MiB;
- ``tail -f`` from commit to print: p95 under 0.5 s;
- signed appends (``JOURNAL_SIGNING_KEY_FILE``) still at least 50 % of raw
  ``sqlite3``, and the rate of ``verify --public-key`` next to plain ``verify``;
- the CPU per record of commits of 28 records as the controller writes them
  (``Journal.write_many``), next to raw ``sqlite3`` inserting ready-made rows;
- a merged replay of two replicas' journals with and without comparing their
  clocks (``clock_offsets``), in the worst case: every record a watch event
  both replicas journaled.
"""

from __future__ import annotations

import json
import queue
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from journal import Entry, Filters, Journal, kinds, replay, verify
from journal.checkpoints import CheckpointWriter, verify_signed
from journal.signing import load_public_key, load_signing_key
from tests.journal.builders import at, data_hash
from tests.journal.signing_helpers import write_key_pair
from tests.kubeapi.process import program

APPENDS_PER_ROUND = 2000
ROUNDS = 3
REPLAY_RECORDS = 1_000_000
LATENCY_SAMPLES = 200
VERIFY_RECORDS = 100_000


def _executable() -> str:
    return program("shipshape-journal")


_RAW_INSERT = (
    "INSERT INTO journal_records (seq, id, ts, kind, namespace, object, correlation_id, "
    "actor, leader_epoch, data, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
)


def _raw_connection(path: Path) -> sqlite3.Connection:
    """Raw sqlite3 on a journal's file, with the journal's pragmas."""
    connection = sqlite3.connect(path, isolation_level=None, timeout=5)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = FULL")
    return connection


def _raw_appends(path: Path, count: int) -> float:
    """Raw sqlite3: the same schema and pragmas, BEGIN IMMEDIATE + INSERT + COMMIT per record."""
    connection = _raw_connection(path)
    payload = json.dumps({"data_hash": "0" * 64, "event_type": "MODIFIED"})
    start = time.perf_counter()
    for seq in range(1, count + 1):
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(
            _RAW_INSERT,
            (
                seq,
                str(uuid.uuid4()),
                "2026-11-26T10:00:00.000000Z",
                kinds.CONFIGMAP_OBSERVED,
                "shipshape",
                "configmap/helloworld-config-test",
                None,
                "bench",
                None,
                payload,
                "0" * 64,
                f"{seq:064x}",
            ),
        )
        connection.execute("COMMIT")
    elapsed = time.perf_counter() - start
    connection.close()
    return count / elapsed


def _journal_appends(path: Path, count: int) -> float:
    with Journal.open(path, actor="bench") as journal:
        start = time.perf_counter()
        for _ in range(count):
            journal.append(
                kinds.CONFIGMAP_OBSERVED,
                namespace="shipshape",
                object="configmap/helloworld-config-test",
                data={"data_hash": "0" * 64, "event_type": "MODIFIED"},
            )
        return count / (time.perf_counter() - start)


def test_durable_appends_against_raw_sqlite(tmp_path):
    raw_rates, journal_rates = [], []
    for round_ in range(ROUNDS):
        raw_path, journal_path = tmp_path / f"raw-{round_}.db", tmp_path / f"journal-{round_}.db"
        Journal.open(raw_path, actor="schema").close()  # the same schema, created empty
        raw_rates.append(_raw_appends(raw_path, APPENDS_PER_ROUND))
        journal_rates.append(_journal_appends(journal_path, APPENDS_PER_ROUND))
    raw, ours = statistics.median(raw_rates), statistics.median(journal_rates)
    print(
        f"\n[bench] durable appends ({ROUNDS} rounds of {APPENDS_PER_ROUND}, median): "
        f"raw sqlite3 {raw:,.0f}/s, Journal.append {ours:,.0f}/s = {ours / raw:.0%} of raw "
        f"(goal >= 50%); rounds raw {[round(r) for r in raw_rates]}, "
        f"journal {[round(r) for r in journal_rates]}"
    )


BATCH = 28  # records a controller commit carries at 100 watch events a second
BATCHES = 300


def _batch_entries(start: int) -> list[Entry]:
    """A commit's worth of what an unrelated ConfigMap change journals: two records each."""
    entries = []
    for n in range(start, start + BATCH // 2):
        obj, correlation = f"configmap/cm-{n % 60:03d}", str(uuid.UUID(int=n, version=5))
        digest = f"{n:064x}"
        observed = {
            "changed_keys": ["N"],
            "data_hash": digest,
            "event_type": "MODIFIED",
            "keys": ["N"],
            "previous_hash": "0" * 64,
            "resource_version": str(n),
            "source": "watch",
            "target": None,
        }
        skipped = {"data_hash": digest, "reason": "no-target"}
        for kind, data in ((kinds.CONFIGMAP_OBSERVED, observed), (kinds.DEBOUNCE_SKIPPED, skipped)):
            entries.append(
                Entry(kind, f"bench-{n % 50:02d}", obj, correlation, data=data, ts=at(n / 100))
            )
    return entries


def _raw_batches(path: Path, batches: list[list[Entry]]) -> float:
    """Raw sqlite3, same schema and pragmas: the rows ready made, one executemany per commit."""
    connection = _raw_connection(path)
    seq, rows = 0, []
    for batch in batches:
        chunk = []
        for entry in batch:
            seq += 1
            text = json.dumps(entry.data, sort_keys=True, separators=(",", ":"))
            row = (seq, str(uuid.uuid4()), "2026-11-26T10:00:00.000000Z", entry.kind)
            row += (entry.namespace, entry.object, entry.correlation_id, "bench", None, text)
            chunk.append((*row, "0" * 64, f"{seq:064x}"))
        rows.append(chunk)
    start = time.process_time()
    for chunk in rows:
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(_RAW_INSERT, chunk)
        connection.execute("COMMIT")
    cpu = time.process_time() - start
    connection.close()
    return cpu / (len(batches) * BATCH)


def _journal_batches(path: Path, batches: list[list[Entry]]) -> float:
    with Journal.open(path, actor="bench") as journal:
        start = time.process_time()
        for batch in batches:
            journal.write_many(batch)
        return (time.process_time() - start) / (len(batches) * BATCH)


def test_batched_appends_as_the_controller_writes_them(tmp_path):
    """CPU per record of the controller's commits (write_many), against raw sqlite3 executemany.

    Raw sqlite3 gets its rows ready made (no validation, canonical text,
    timestamps or hash chain), so the difference is what the journal adds
    per record. Paired, alternating rounds.
    """
    batches = [_batch_entries(b * BATCH) for b in range(BATCHES)]
    raw_cpu, journal_cpu = [], []
    for round_ in range(ROUNDS):
        raw_path, journal_path = tmp_path / f"raw-b{round_}.db", tmp_path / f"journal-b{round_}.db"
        Journal.open(raw_path, actor="schema").close()
        raw_cpu.append(_raw_batches(raw_path, batches))
        journal_cpu.append(_journal_batches(journal_path, batches))
    raw, ours = statistics.median(raw_cpu), statistics.median(journal_cpu)
    rounds_raw = [round(c * 1e6, 1) for c in raw_cpu]
    rounds_ours = [round(c * 1e6, 1) for c in journal_cpu]
    print(
        f"\n[bench] batched appends ({ROUNDS} rounds of {BATCHES} commits of {BATCH}, median "
        f"CPU per record): raw sqlite3 {raw * 1e6:.1f} us, Journal.write_many "
        f"{ours * 1e6:.1f} us ({ours / raw:.2f} x raw); rounds raw {rounds_raw}, "
        f"journal {rounds_ours}"
    )


def _signed_appends(path: Path, count: int, key: Path) -> float:
    """Journal.append through the signing writer: a checkpoint every 100 records."""
    signer = load_signing_key(key)
    with CheckpointWriter(Journal.open(path, actor="bench"), signer) as journal:
        start = time.perf_counter()
        for _ in range(count):
            journal.append(
                kinds.CONFIGMAP_OBSERVED,
                namespace="shipshape",
                object="configmap/helloworld-config-test",
                data={"data_hash": "0" * 64, "event_type": "MODIFIED"},
            )
        return count / (time.perf_counter() - start)


def _verify_rate(path: Path, public: Path) -> tuple[float, float, int]:
    """Records/s of plain verify and of verify with the public key, and the checkpoints."""
    with Journal.open(path, readonly=True) as reader:
        start = time.perf_counter()
        plain = verify(reader)
        plain_seconds = time.perf_counter() - start
        start = time.perf_counter()
        signed = verify_signed(reader, [load_public_key(public)], require_signed=True)
        signed_seconds = time.perf_counter() - start
    assert plain.ok and signed.ok, signed.summary()
    return plain.records / plain_seconds, signed.chain.records / signed_seconds, signed.checkpoints


def test_signed_appends_against_raw_sqlite_and_the_verify_rate(tmp_path):
    """Issue 20: signing keeps durable appends >= 50 % of raw sqlite3; verify with checkpoints."""
    key, public = write_key_pair(tmp_path)
    raw_rates, signed_rates = [], []
    for round_ in range(ROUNDS):
        raw_path, signed_path = tmp_path / f"raw-{round_}.db", tmp_path / f"signed-{round_}.db"
        Journal.open(raw_path, actor="schema").close()
        raw_rates.append(_raw_appends(raw_path, APPENDS_PER_ROUND))
        signed_rates.append(_signed_appends(signed_path, APPENDS_PER_ROUND, key))
    raw, ours = statistics.median(raw_rates), statistics.median(signed_rates)
    print(
        f"\n[bench] signed durable appends ({ROUNDS} rounds of {APPENDS_PER_ROUND}, median): "
        f"raw sqlite3 {raw:,.0f}/s, signing Journal.append {ours:,.0f}/s = {ours / raw:.0%} "
        f"of raw (goal >= 50%); rounds raw {[round(r) for r in raw_rates]}, "
        f"signed {[round(r) for r in signed_rates]}"
    )
    big = tmp_path / "verify.db"
    signer = load_signing_key(key)
    with CheckpointWriter(Journal.open(big, actor="bench"), signer) as journal:
        for _ in range(VERIFY_RECORDS // 500):
            journal.append_many(
                [
                    Entry(kind=kinds.CONFIGMAP_OBSERVED, data={"data_hash": "0" * 64, "n": n})
                    for n in range(100)
                ]
                * 5
            )
    plain_rate, signed_rate, checkpoints = _verify_rate(big, public)
    print(
        f"[bench] verify over {VERIFY_RECORDS:,} records with {checkpoints} checkpoints: "
        f"plain {plain_rate:,.0f} records/s, --public-key {signed_rate:,.0f} records/s "
        f"({signed_rate / plain_rate:.0%} of plain)"
    )


def _generate(path: Path, total: int) -> None:
    """A controller's journal: relists of 20 ConfigMaps, a change every 50 records.

    Per cycle of 50 records: one change chain (observed, scheduled, planned,
    patched, rollout completed), 20 relisted unchanged observations with their
    20 ``unchanged`` skips, a watch relist and 4 leader observations.
    """
    names = [f"app-{n}-config" for n in range(20)]
    with Journal.open(path, actor="helloworld-controller-0") as journal:
        batch: list[Entry] = []
        t = 0.0
        cycle = 0
        written = 0
        while written < total:
            cycle += 1
            corr = str(uuid.uuid4())
            cm = names[cycle % len(names)]
            value = data_hash(f"{cm}-{cycle}")
            chain = [
                Entry(kinds.CONFIGMAP_OBSERVED, "shipshape", f"configmap/{cm}", corr, None,
                      {"event_type": "MODIFIED", "data_hash": value, "changed_keys": ["MESSAGE"],
                       "resource_version": str(cycle)}, at(t)),
                Entry(kinds.DEBOUNCE_SCHEDULED, "shipshape", f"configmap/{cm}", corr, 1, {}, at(t)),
                Entry(kinds.RESTART_PLANNED, "shipshape", f"deployment/{cm[:-7]}", corr, 1,
                      {"configmap": cm, "data_hash": value}, at(t + 5)),
                Entry(kinds.RESTART_PATCHED, "shipshape", f"deployment/{cm[:-7]}", corr, 1,
                      {"configmap": cm, "data_hash": value}, at(t + 5.1)),
                Entry(kinds.ROLLOUT_COMPLETED, "shipshape", f"deployment/{cm[:-7]}", corr, 1, {},
                      at(t + 20)),
            ]  # fmt: skip
            batch += chain
            for other in names:
                other_value = data_hash(f"{other}-{cycle - len(names)}")
                batch.append(
                    Entry(kinds.CONFIGMAP_OBSERVED, "shipshape", f"configmap/{other}", None, None,
                          {"event_type": "MODIFIED" if other == cm else "ADDED",
                           "data_hash": value if other == cm else other_value,
                           "changed_keys": [], "resource_version": str(cycle)}, at(t + 25))
                )  # fmt: skip
                batch.append(
                    Entry(kinds.DEBOUNCE_SKIPPED, "shipshape", f"configmap/{other}", None, 1,
                          {"reason": "unchanged"}, at(t + 25))
                )  # fmt: skip
            batch.append(Entry(kinds.WATCH_RELISTED, "shipshape", None, None, None, {}, at(t + 25)))
            for n in range(4):
                batch.append(
                    Entry(kinds.LEADER_OBSERVED, "shipshape", "lease/helloworld-controller-leader",
                          None, 1, {"holder": "helloworld-controller-0", "epoch": 1},
                          at(t + 26 + n))
                )  # fmt: skip
            t += 60
            if len(batch) >= 20_000 or written + len(batch) >= total:
                batch = batch[: total - written]
                journal.append_many(batch)
                written += len(batch)
                batch = []


# Runs the CLI's main() and reports the process's peak RSS from VmHWM, which
# (unlike ru_maxrss) starts afresh at exec and so excludes the memory of the
# big benchmark process it was forked from.
_MEASURE = """
import sys
from cli.main import main
code = main(sys.argv[1:])
with open("/proc/self/status") as status:
    peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
sys.stderr.write(f"peak-kib {peak}\\n")
sys.exit(code)
"""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_measured(args: list[str]) -> tuple[float, int, float]:
    """Run ``shipshape-journal ARGS`` (stdout discarded).

    Returns:
        (wall seconds, peak RSS in KiB, CPU seconds of the process).
    """
    cpu = _children_cpu()
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
        timeout=600,
    )
    elapsed = time.perf_counter() - start
    assert result.returncode in (0, 1), result.stderr
    peak = int(result.stderr.split("peak-kib ")[-1].split()[0])
    return elapsed, peak, _children_cpu() - cpu


@pytest.fixture(scope="module")
def million(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("replay") / "million.db"
    start = time.perf_counter()
    _generate(path, REPLAY_RECORDS)
    print(
        f"\n[bench] generated {REPLAY_RECORDS:,} records with append_many in "
        f"{time.perf_counter() - start:.1f} s ({path.stat().st_size / 2**20:.0f} MiB)"
    )
    return path


def test_replay_a_million_records(million, tmp_path):
    with Journal.open(million, readonly=True) as journal:
        start, cpu = time.perf_counter(), time.process_time()
        report = replay([journal], Filters())
        library, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert report.events == REPLAY_RECORDS
    # CPU seconds next to wall seconds: on a shared machine the wall clock
    # also counts other processes' turns.
    print(
        f"\n[bench] replay() in process: {REPLAY_RECORDS / library:,.0f} records/s "
        f"({library:.2f} s, CPU {cpu:.2f} s; {len(report.restarts):,} restarts, "
        f"{len(report.anomalies)} anomalies) (goal >= 200,000/s)"
    )
    empty = tmp_path / "empty.db"
    Journal.open(empty, actor="bench").close()
    start_up, _peak, _cpu = _run_measured(["replay", "--journal", str(empty)])
    for output in ("json", "text"):
        elapsed, peak_kib, cpu = _run_measured(["replay", "-o", output, "--journal", str(million)])
        print(
            f"[bench] shipshape-journal replay -o {output}: {REPLAY_RECORDS / elapsed:,.0f} "
            f"records/s end to end ({elapsed:.2f} s, CPU {cpu:.2f} s), "
            f"{REPLAY_RECORDS / (elapsed - start_up):,.0f} records/s without the "
            f"{start_up:.2f} s start-up; peak RSS {peak_kib / 1024:.0f} MiB (goal < 150 MiB)"
        )


MERGED_RECORDS = 200_000  # per replica


def test_merged_replay_with_and_without_the_clock_comparison(tmp_path):
    """Paired, alternating rounds over the same two journals; CPU seconds."""
    from journal.merge import merged_rows
    from journal.replay import Projector
    from journal.replay.rows import REPLAY_COLUMNS, REPLAY_PAGE_SIZE

    paths = [tmp_path / f"pod-{i}.db" for i in range(2)]
    for i, path in enumerate(paths):
        with Journal.open(path, actor=f"helloworld-controller-{i}") as journal:
            for first in range(0, MERGED_RECORDS, 5000):
                journal.write_many(
                    Entry(
                        kind=kinds.CONFIGMAP_OBSERVED,
                        namespace="shipshape",
                        object=f"configmap/cm-{n % 500}",
                        data={
                            "event_type": "MODIFIED",
                            "source": "watch",
                            "resource_version": str(1000 + n),
                            "data_hash": data_hash(str(n)),
                            "changed_keys": ["K"],
                        },
                        ts=at(0.01 * n + 0.001 * i),
                    )
                    for n in range(first, first + 5000)
                )
    journals = [Journal.open(path, readonly=True) for path in paths]
    cpu: dict[bool, list[float]] = {False: [], True: []}
    try:
        for _round in range(3):
            for apart in (False, True):
                start = time.process_time()
                projector = Projector(journals=["pod-0", "pod-1"], writers_apart=apart)
                rows = merged_rows(journals, Filters(), REPLAY_COLUMNS, page_size=REPLAY_PAGE_SIZE)
                projector.feed_all(rows)
                report = projector.finish()
                cpu[apart].append(time.process_time() - start)
    finally:
        for journal in journals:
            journal.close()
    records = 2 * MERGED_RECORDS
    without, with_clocks = statistics.median(cpu[False]), statistics.median(cpu[True])
    ratios = [b / a for a, b in zip(cpu[False], cpu[True], strict=True)]
    print(
        f"\n[bench] merged replay of 2 x {MERGED_RECORDS:,} records, every one a watch event "
        f"both journaled: {records / without:,.0f} records/s without the clock comparison, "
        f"{records / with_clocks:,.0f} with it ({report.clock_offsets[0]['samples']:,} "
        f"samples kept); CPU ratio per round {', '.join(f'{r:.2f}' for r in ratios)}"
    )


def test_tail_follow_latency(tmp_path):
    path = tmp_path / "live.db"
    with Journal.open(path, actor="bench") as journal:
        follower = subprocess.Popen(
            [_executable(), "tail", "-f", "-o", "json", "--journal", str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        arrivals: queue.Queue[tuple[float, int]] = queue.Queue()

        def pump() -> None:
            assert follower.stdout is not None
            for line in follower.stdout:
                arrivals.put((time.monotonic(), json.loads(line)["seq"]))

        threading.Thread(target=pump, daemon=True).start()
        try:
            journal.append(kinds.OPERATOR_NOTE, data={"text": "warm-up"})
            arrivals.get(timeout=30)
            committed: dict[int, float] = {}
            rng = random.Random(2)
            for _ in range(LATENCY_SAMPLES):
                record = journal.append(kinds.OPERATOR_NOTE, data={"text": "tick"})
                committed[record.seq] = time.monotonic()
                time.sleep(rng.uniform(0.005, 0.05))
            delays = []
            while len(delays) < LATENCY_SAMPLES:
                seen, seq = arrivals.get(timeout=30)
                delays.append(seen - committed[seq])
        finally:
            follower.terminate()
            follower.wait(timeout=10)
    delays.sort()
    p50 = delays[len(delays) // 2]
    p95 = delays[int(len(delays) * 0.95) - 1]
    print(
        f"\n[bench] tail -f commit-to-print over {LATENCY_SAMPLES} records: "
        f"p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {delays[-1] * 1000:.0f} ms "
        "(goal p95 < 500 ms)"
    )
