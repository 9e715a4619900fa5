"""Benchmark: where the CPU of one unrelated ConfigMap change goes, stage by stage.

The cluster-scale benchmark tells the controller's CPU per watch event, split
by thread. This one runs the same path in one thread, with nothing else
running, so that each stage can be told apart:

* **watch**: a watch event's line read (``json.loads``), turned into the
  core's view (hashes, never values) and handed to the loop's queue, through
  :class:`~reloader.kube.watch.ListWatcher`'s own handler (with the default
  hooks, which count nothing);
* **core**: the decision core's steps (``step_many``) over them, 14 events a
  step as in the cluster-scale storm;
* **loop**: the reconcile loop's steps and commits (the core, the records
  through the outbox, the journal's entries made of them, the metrics) into
  an appender that keeps nothing;
* **journal**: the same steps and commits into a journal, new and grown to
  ``GROWN`` records (what a record costs grows with the journal's indexes),
  less the loop's: the records' validation, canonical text, hash chain and
  inserts, and the commits (two records per change, ``configmap.observed``
  and ``debounce.skipped``, one commit per step); and of that, the system
  time (the WAL's writes and syncs);
* **floor**: what the same work costs with every layer of ours taken away,
  the least any controller in Python pays that reads these events and keeps
  two durable records of each change: ``json.loads`` of the watch lines
  alone, and the very rows the new journal got, inserted again with the
  bare ``sqlite3`` module into a new journal (same schema, indexes and
  pragmas), one ``BEGIN IMMEDIATE`` ... ``COMMIT`` per step, with nothing
  validated, encoded or hashed;
* **wake-up**: what the machine charges a thread for waking. A step of the
  loop with nothing to do (a ``Tick``, and its commit) costs a few
  microseconds back to back; after a sleep, the same step costs many times
  that on a shared virtual machine (cold caches, a vCPU woken from halt):
  the live controller pays this once per wake-up of each of its threads,
  which is why the cluster-scale benchmark counts wake-ups.

The state is the cluster-scale benchmark's: 50 namespaces, 5,000 ConfigMaps,
1,000 Secrets, 1,000 workloads that opt in, listed and synced. Each figure
is this thread's CPU (user and system) per change, the median of ``ROUNDS``
rounds. A live controller pays more for the same work (its threads take
turns on one CPU and each wakes to cold caches); the split is what this is
for. Run with ``make bench``; prints its figures and never fails for slowness.
"""

from __future__ import annotations

import gc
import itertools
import json
import os
import queue
import random
import shutil
import sqlite3
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from kubernetes import client
from prometheus_client import CollectorRegistry

from journal import Journal
from reloader.core import (
    ConfigMapSeen,
    DeploymentSeen,
    Event,
    EventType,
    LeadershipChanged,
    Listed,
    Resource,
    Tick,
    initial_state,
    step_many,
)
from reloader.kube.views import configmap_view, deployment_view, secret_view
from reloader.kube.watch import ListWatcher, WatchOptions
from reloader.runtime.health import Health
from reloader.runtime.journal_writer import JournalWriter
from reloader.runtime.leadership import SoleActor
from reloader.runtime.loop import ReconcileLoop
from reloader.runtime.metrics import ControllerMetrics
from reloader.runtime.settings import load_settings
from tests.bench.bench_cluster_scale import (
    CONFIGMAPS_PER_NS,
    NAMESPACES,
    WORKLOADS_PER_NS,
    namespace_objects,
)
from tests.bench.bench_correlation_ids import grow_journal
from tests.bench.figures import thread_usage
from tests.reloader.e2e.test_workloads import configmap

SCALE = float(os.environ.get("SHIPSHAPE_BENCH_SCALE", "1"))
GROWN = max(10_000, round(300_000 * SCALE))
CHANGES = 5600
STEP = 14  # events a step and a commit: the cluster-scale storm's
ROUNDS = 3
WAKEUPS = 100  # idle steps a round, back to back and after a sleep
WAKEUP_SLEEP = 0.05  # a sleep as short as a quiet watch window
RESOURCES = ("configmaps", "deployments", "statefulsets", "daemonsets", "secrets")
_COLUMNS = (
    "seq", "id", "ts", "kind", "namespace", "object", "correlation_id",
    "actor", "leader_epoch", "data", "prev_hash", "hash",
)  # fmt: skip
_INSERT = (
    f"INSERT INTO journal_records ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _COLUMNS)})"
)


def _per_change(work: Callable[..., object], *args: Any) -> tuple[float, float]:
    """This thread's CPU and system CPU microseconds per change for ``work(*args)``.

    From a collected heap, so that no stage pays for the garbage of the one before.
    """
    gc.collect()
    user, system = thread_usage()
    work(*args)
    user_after, system_after = thread_usage()
    cpu = user_after - user + system_after - system
    return cpu / CHANGES * 1e6, (system_after - system) / CHANGES * 1e6


def _watch(watcher: ListWatcher, lines: list[bytes]) -> None:
    for line in lines:
        watcher._handle(json.loads(line), "1")  # the watch loop's own handler


def _core(state: Any, steps: list[list[Event]]) -> None:
    for step in steps:
        state, _ = step_many(state, step, 1_000.0)


def _committed(loop: ReconcileLoop, steps: list[list[Event]]) -> None:
    for step in steps:
        loop.apply_many(step)
        loop.commit()


def _idle_steps(loop: ReconcileLoop, pause: float) -> float:
    """CPU microseconds of one step with nothing to do, each after ``pause`` seconds asleep.

    Read from the thread's CPU clock (exact to the nanosecond), not from its
    resource usage, which the kernel may keep in scheduler ticks.
    """
    spent = 0
    for _ in range(WAKEUPS):
        if pause:
            time.sleep(pause)
        began = time.thread_time_ns()
        loop.apply_many((Tick(),))
        loop.commit()
        spent += time.thread_time_ns() - began
    return spent / WAKEUPS / 1e3


def _parsed(lines: list[bytes]) -> None:
    for line in lines:
        json.loads(line)


def _stored(database: Path, batches: list[list[tuple[Any, ...]]]) -> None:
    """Insert ``batches`` of record rows into ``database``: bare sqlite3, one commit each."""
    connection = sqlite3.connect(database, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode = WAL")  # the journal's pragmas
        connection.execute("PRAGMA synchronous = FULL")
        for batch in batches:
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(_INSERT, batch)
            connection.execute("COMMIT")
    finally:
        connection.close()


def _rows_after(database: Path, seq: int) -> list[tuple[Any, ...]]:
    """The record rows after ``seq``, in order, all columns the journal writes."""
    connection = sqlite3.connect(database)
    try:
        return connection.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM journal_records WHERE seq > ? ORDER BY seq",
            (seq,),
        ).fetchall()
    finally:
        connection.close()


class _NoExecutor:
    """Patches go nowhere: the adoptions the first sync decides are not this benchmark's."""

    def restart(self, action: object) -> None: ...

    def adopt(self, action: object) -> None: ...

    def warn(self, action: object) -> None: ...


def _objects(key_file: Path) -> tuple[Any, list[Event]]:
    """The settings, and the first lists' events of the cluster-scale benchmark's objects."""
    settings = load_settings(
        {
            "WATCH_NAMESPACES": "*",
            "WATCH_SECRETS": "true",
            "SECRET_HASH_KEY_FILE": str(key_file),
            "CONFIGMAP_LABEL_SELECTOR": "",
            "DEBOUNCE_SECONDS": "1",
            "LEADER_ELECTION_ENABLED": "false",
            "POD_NAME": "bench-0",
        }
    )
    key = settings.secret_hash_key
    assert key is not None
    events: list[Event] = []
    listed: Counter[Resource] = Counter()
    versions = itertools.count(1)
    for n in range(NAMESPACES):
        for obj in namespace_objects(f"bench-{n:02d}"):
            obj["metadata"]["resourceVersion"] = str(next(versions))
            kind = obj["kind"]
            listed[Resource(f"{kind.lower()}s")] += 1
            if kind == "ConfigMap":
                events.append(ConfigMapSeen(EventType.ADDED, configmap_view(obj), "list"))
            elif kind == "Secret":
                events.append(ConfigMapSeen(EventType.ADDED, secret_view(obj, key), "list"))
            else:
                events.append(DeploymentSeen(EventType.ADDED, deployment_view(obj, kind), "list"))
    events += [Listed(r, "1", count, initial=True) for r, count in listed.items()]
    return settings, events


def _watch_lines() -> list[bytes]:
    """The watch events of ``CHANGES`` changes to ConfigMaps nothing references."""
    spare = range(2 * WORKLOADS_PER_NS, CONFIGMAPS_PER_NS)
    lines = []
    for i in range(CHANGES):
        obj = configmap(
            f"cm-{spare[i % len(spare)]:03d}", f"bench-{i % NAMESPACES:02d}", {"N": f"v{i}"}
        )
        obj["metadata"].update(
            resourceVersion=str(100_000 + i),
            uid=f"{random.getrandbits(128):032x}",
            creationTimestamp="2026-12-07T10:00:00Z",
        )
        lines.append(json.dumps({"type": "MODIFIED", "object": obj}).encode())
    return lines


class _NoJournal:
    """An appender that keeps nothing: the outbox's own work without the journal's."""

    def write_many(self, entries: Iterable[Any]) -> int:
        return sum(1 for _ in entries)


def _loop(settings: Any, journal: Journal | _NoJournal, listed: list[Event]) -> ReconcileLoop:
    """A reconcile loop writing to ``journal``, synced with ``listed``."""
    loop = ReconcileLoop(
        initial_state(settings.policy(), settings.namespace),
        JournalWriter(journal, settings.namespace),
        executor=_NoExecutor(),
        leadership=SoleActor("bench-0"),
        metrics=ControllerMetrics(CollectorRegistry(), settings.namespace, RESOURCES),
        health=Health(),
    )
    loop.apply(LeadershipChanged(True))
    loop.apply_many(listed)
    loop.commit()
    assert loop.state.synced
    return loop


def test_bench_hot_path(tmp_path: Path) -> None:
    key_file = tmp_path / "hash.key"
    key_file.write_bytes(os.urandom(32))
    settings, listed = _objects(key_file)
    grown = tmp_path / "grown.db"
    grow_journal(grown, GROWN)
    figures: dict[str, list[float]] = {}

    def note(stage: str, value: float) -> float:
        figures.setdefault(stage, []).append(value)
        return value

    for round_ in range(ROUNDS):
        events: queue.Queue[Event] = queue.Queue()
        watcher = ListWatcher(
            Resource.CONFIGMAPS,
            client.ApiClient(),  # never called: only the handler runs
            WatchOptions(
                namespace="*", label_selector=None, timeout_seconds=30, resync_seconds=300
            ),
            events.put,
        )
        lines = _watch_lines()

        note("watch", _per_change(_watch, watcher, lines)[0])
        note("  floor: json.loads alone", _per_change(_parsed, lines)[0])
        changes = [events.get_nowait() for _ in range(CHANGES)]
        steps = [changes[i : i + STEP] for i in range(0, CHANGES, STEP)]

        # The core alone; then the loop's steps and commits into an appender
        # that keeps nothing (the outbox, the entries, the metrics); then into
        # a journal, new and grown.
        loop = _loop(settings, _NoJournal(), listed)
        note("core", _per_change(_core, loop.state, steps)[0])
        loop_us = note("loop, core included", _per_change(_committed, loop, steps)[0])
        note("idle step, back to back", _idle_steps(loop, 0.0))
        asleep = f"idle step, after {WAKEUP_SLEEP * 1e3:.0f} ms asleep"
        note(asleep, _idle_steps(loop, WAKEUP_SLEEP))
        for name in ("new", "grown"):
            path = tmp_path / f"round-{round_}-{name}.db"
            if name == "grown":
                shutil.copyfile(grown, path)
            with Journal.open(path, actor="bench-0") as journal:
                loop = _loop(settings, journal, listed)
                synced, _ = journal.head()
                whole, system = _per_change(_committed, loop, steps)
                note(f"journal ({name})", whole - loop_us)
                note(f"  of which system ({name})", system)
            if name == "new":
                rows = _rows_after(path, synced)
                per_step, rest = divmod(len(rows), len(steps))
                assert rest == 0 and per_step == 2 * STEP, (len(rows), len(steps))
                bare = tmp_path / f"round-{round_}-bare.db"
                Journal.open(bare, actor="bench-0").close()  # the schema, nothing else
                floor, floor_system = _per_change(
                    _stored, bare, [rows[i : i + per_step] for i in range(0, len(rows), per_step)]
                )
                note("  floor: same rows, bare sqlite3", floor)
                note("    of which system", floor_system)

    medians = {stage: statistics.median(values) for stage, values in figures.items()}
    total = sum(medians[stage] for stage in ("watch", "loop, core included", "journal (new)"))
    print(
        f"\n[bench] one unrelated change, in one thread ({CHANGES} changes, {STEP} a step, "
        f"median of {ROUNDS} rounds; CPU us per change, or per step for the idle steps):"
    )
    for stage, value in medians.items():
        print(f"  {stage:32} {value:6.1f}   rounds {[round(v, 1) for v in figures[stage]]}")
    print(
        f"  total on a new journal {total:.1f} us; on a grown one ({GROWN:,} records) "
        f"{total - medians['journal (new)'] + medians['journal (grown)']:.1f} us"
    )
    floor = medians["  floor: json.loads alone"] + medians["  floor: same rows, bare sqlite3"]
    print(
        f"  floor (json.loads and bare inserts alone) {floor:.1f} us: "
        f"{floor / total:.0%} of the total on a new journal"
    )
