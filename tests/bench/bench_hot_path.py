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
  time (the WAL's writes and syncs).

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
import statistics
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
RESOURCES = ("configmaps", "deployments", "statefulsets", "daemonsets", "secrets")


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
        changes = [events.get_nowait() for _ in range(CHANGES)]
        steps = [changes[i : i + STEP] for i in range(0, CHANGES, STEP)]

        # The core alone; then the loop's steps and commits into an appender
        # that keeps nothing (the outbox, the entries, the metrics); then into
        # a journal, new and grown.
        loop = _loop(settings, _NoJournal(), listed)
        note("core", _per_change(_core, loop.state, steps)[0])
        loop_us = note("loop, core included", _per_change(_committed, loop, steps)[0])
        for name in ("new", "grown"):
            path = tmp_path / f"round-{round_}-{name}.db"
            if name == "grown":
                shutil.copyfile(grown, path)
            with Journal.open(path, actor="bench-0") as journal:
                loop = _loop(settings, journal, listed)
                whole, system = _per_change(_committed, loop, steps)
                note(f"journal ({name})", whole - loop_us)
                note(f"  of which system ({name})", system)

    medians = {stage: statistics.median(values) for stage, values in figures.items()}
    total = sum(medians[stage] for stage in ("watch", "loop, core included", "journal (new)"))
    print(
        f"\n[bench] one unrelated change, in one thread ({CHANGES} changes, {STEP} a step, "
        f"median of {ROUNDS} rounds; CPU us per change):"
    )
    for stage, value in medians.items():
        print(f"  {stage:26} {value:6.1f}   rounds {[round(v, 1) for v in figures[stage]]}")
    print(
        f"  total on a new journal {total:.1f} us; on a grown one ({GROWN:,} records) "
        f"{total - medians['journal (new)'] + medians['journal (grown)']:.1f} us"
    )
