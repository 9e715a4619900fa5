"""Benchmark: cluster scope at scale, on the API test server.

50 namespaces, 5,000 ConfigMaps, 1,000 Secrets and 1,000 workloads (Deployments,
StatefulSets and DaemonSets in turn) that opt in with
``reloader.stakater.com/auto`` and reference two ConfigMaps and one Secret each;
the other ConfigMaps are unrelated. The controller runs with
``WATCH_NAMESPACES=*``, ``WATCH_SECRETS=true``, an empty selector and
the shipped watch timeout (30 s), not the end-to-end tests' 5 s: a watch
that ends every 5 s reconnects six times as often, with a TLS handshake each
time, which is not what a deployed controller pays.

Figures (goals from issue 16):

* the initial sync: from the process start to every workload adopted;
* the steady RSS (goal under 200 MiB);
* the controller's CPU per watch event while 100 unrelated objects change
  every second (goal at most 150 us), twice: first with nothing else
  changing (every event is one the controller only journals), then with 40
  referenced ConfigMaps changed among them (40 restarts, each with its
  patch, Event and rollout to follow); each time all its CPU over the noise
  divided by the events, and the marginal figure, less its idle pace
  measured for 10 s before the noise, and split by thread (the controller
  names its threads for the OS: ``reconciler``, ``watch-configmaps``,
  ``patch``, ...); from the two, what one restart costs;
* change-to-patch p95 for referenced ConfigMaps during that noise (goal at
  most ``DEBOUNCE_SECONDS`` + 0.5 s), from the update's return here to the
  ``restart.patched`` record's timestamp, both on this machine's wall clock.

Once synced, the controller is pinned to one CPU (as in a pod with a one-CPU
limit) and this process, the API server and the load, to the others.

``SHIPSHAPE_BENCH_SCOPE=list`` names the namespaces in ``WATCH_NAMESPACES``
instead of ``*``: a list and watch per namespace and resource (the price of
namespaced permissions), under the same ClusterRoleBinding.

``SHIPSHAPE_BENCH_JOURNAL=N`` starts the controller on a journal already
holding N records (the two records of as many unrelated changes, as the noise
writes them): what a record costs grows with the journal's indexes, and a
controller that has run for days writes onto a grown one (300,000 records
are about 200 MB).

``SHIPSHAPE_BENCH_SCALE`` (default 1) scales every count down on a busy
machine (0.2: 10 namespaces, 1,000 ConfigMaps, ...); the figures say which
scale ran. Run with ``make bench``; prints its figures and never fails for
slowness.
"""

from __future__ import annotations

import base64
import contextlib
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.bench.bench_controller_storm import cpu_seconds
from tests.bench.bench_correlation_ids import grow_journal
from tests.bench.figures import paced, percentile, stat_cpu
from tests.kubeapi import KubeApiServer
from tests.reloader.e2e import harness
from tests.reloader.e2e.harness import wait_for
from tests.reloader.e2e.test_workloads import cluster_rbac, configmap, container, workload

SCALE = float(os.environ.get("SHIPSHAPE_BENCH_SCALE", "1"))
#: ``*`` (cluster scope, one stream per resource) or ``list``: the namespaces
#: named in WATCH_NAMESPACES, a stream per namespace and resource.
SCOPE = os.environ.get("SHIPSHAPE_BENCH_SCOPE", "*")
#: Records in the controller's journal before it starts (0: a new journal).
GROWN_JOURNAL = int(os.environ.get("SHIPSHAPE_BENCH_JOURNAL", "0"))
NAMESPACES = max(1, round(50 * SCALE))
CONFIGMAPS_PER_NS = 100
SECRETS_PER_NS = 20
WORKLOADS_PER_NS = 20
DEBOUNCE = 1.0
NOISE_PER_SECOND = 100
NOISE_SECONDS = 20.0
IDLE_SECONDS = 10.0
#: Long enough for the last change's patch and rollout (debounce 1 s, rollout steps 0.2 s).
AFTER_NOISE_SECONDS = 3.0
CHANGES = 40
KINDS = ("Deployment", "StatefulSet", "DaemonSet")


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def metric_sum(controller: Any, name: str) -> float:
    """The sum of a sample over all its label sets on the controller's ``/metrics``."""
    from prometheus_client.parser import text_string_to_metric_families

    _status, text = controller.get("/metrics")
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    )


def _per_thread(pid: int, read: Callable[[Path], float]) -> dict[str, float]:
    """``read`` of each thread of ``pid`` (its ``/proc`` task directory), summed by the
    thread's OS name (a pool's threads, ``patch_0``, ``patch_1``..., as one)."""
    out: dict[str, float] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            task = Path(f"/proc/{pid}/task/{tid}")
            name = (task / "comm").read_text().strip().rstrip("0123456789").rstrip("_")
            out[name] = out.get(name, 0.0) + read(task)
    return out


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread of ``pid``, by the thread's OS name."""
    return _per_thread(pid, lambda task: sum(stat_cpu(task / "stat")))


def _voluntary_switches(task: Path) -> float:
    for line in (task / "status").read_text().splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            return float(line.split()[1])
    return 0.0


def thread_wakeups(pid: int) -> dict[str, float]:
    """Voluntary context switches per thread of ``pid`` (by OS name): how often each slept.

    Each is a wake-up later, and on a shared virtual machine a thread that
    wakes starts from cold caches: its first work costs many times what it
    costs warm (``bench_hot_path``'s wake-up figures).
    """
    return _per_thread(pid, _voluntary_switches)


def system_seconds(pid: int) -> float:
    """The system (kernel) CPU seconds of process ``pid``, every thread's."""
    return stat_cpu(f"/proc/{pid}/stat")[1]


def watch_events(controller: Any) -> float:
    """Every watch event the controller counted, over all resources and types."""
    return metric_sum(controller, "configmap_reload_watch_events_total")


def settle(controller: Any, quiet: float = 2.0, timeout: float = 180.0) -> float:
    """Wait until no watch event has come for ``quiet`` seconds; return how long it took."""
    began = time.monotonic()
    seen, since = watch_events(controller), time.monotonic()
    while time.monotonic() - since < quiet:
        assert time.monotonic() - began < timeout, "the watches never went quiet"
        time.sleep(0.25)
        now = watch_events(controller)
        if now != seen:
            seen, since = now, time.monotonic()
    return time.monotonic() - began


def journal_commits(controller: Any) -> float:
    """How many appends (one transaction, one sync each) the controller made."""
    return metric_sum(controller, "configmap_reload_journal_append_seconds_count")


@dataclass(frozen=True)
class Usage:
    """The controller's counters at one moment (or, subtracted, over a phase)."""

    seconds: float  # monotonic
    cpu: float
    system: float
    threads: dict[str, float]
    wakeups: dict[str, float]
    events: float
    commits: float

    @classmethod
    def of(cls, controller: Any, *, start: bool) -> Usage:
        """Read them; ``start`` for a phase's start, else its end.

        The counters come from ``/metrics``, whose every scrape costs the
        controller CPU (a sample per workload): they are read before the CPU
        at a phase's start and after it at its end, so that no scrape of
        ours is counted as the phase's work.
        """
        pid = controller.process.pid
        counters = (watch_events(controller), journal_commits(controller)) if start else None
        cpu = (
            time.monotonic(),
            cpu_seconds(pid),
            system_seconds(pid),
            thread_cpu(pid),
            thread_wakeups(pid),
        )
        if counters is None:
            counters = (watch_events(controller), journal_commits(controller))
        return cls(*cpu, *counters)

    def since(self, before: Usage) -> Usage:
        return Usage(
            self.seconds - before.seconds,
            self.cpu - before.cpu,
            self.system - before.system,
            {name: cpu - before.threads.get(name, 0.0) for name, cpu in self.threads.items()},
            {name: n - before.wakeups.get(name, 0.0) for name, n in self.wakeups.items()},
            self.events - before.events,
            self.commits - before.commits,
        )

    def per_event_us(self, seconds: float) -> float:
        return seconds / self.events * 1e6 if self.events else float("nan")

    def report(self, title: str, idle_rate: float) -> None:
        """Print this phase's CPU per watch event, its marginal figure and its split."""
        print(
            f"  CPU per watch event, {title}: {self.per_event_us(self.cpu):.0f} us "
            f"({self.events:.0f} events, {self.cpu:.2f} s CPU in {self.seconds:.1f} s; "
            "goal <= 150 us)"
        )
        marginal = self.per_event_us(self.cpu - idle_rate * self.seconds)
        print(
            f"    marginal (less the idle pace) {marginal:.0f} us; system time "
            f"{self.per_event_us(self.system):.0f} us (syscalls: the journal's WAL writes "
            "and syncs, socket reads and writes)"
        )
        split = ", ".join(
            f"{name} {self.per_event_us(cpu):.0f}"
            for name, cpu in sorted(self.threads.items(), key=lambda item: -item[1])
            if cpu > 0
        )
        print(f"    per thread, us per watch event: {split}")
        wakeups = ", ".join(
            f"{name} {n / self.seconds:.0f}"
            for name, n in sorted(self.wakeups.items(), key=lambda item: -item[1])
            if n / self.seconds >= 0.5
        )
        print(f"    wake-ups a second, per thread: {wakeups}")
        print(
            f"    journal commits: {self.commits:.0f} ({self.commits / self.seconds:.1f} a "
            f"second, {self.events / max(self.commits, 1):.1f} events each)"
        )


def noise(kube: KubeApiServer, namespaces: list[str], changes: int) -> list[tuple[str, str, float]]:
    """Change ``NOISE_PER_SECOND`` ConfigMaps a second for ``NOISE_SECONDS``.

    Nothing references them, except ``changes`` of them spread evenly over the
    noise, which each roll one workload; returns those as (namespace,
    workload, when changed).
    """
    changed_at: list[tuple[str, str, float]] = []
    total = int(NOISE_PER_SECOND * NOISE_SECONDS)
    every = max(1, total // changes) if changes else total + 1
    for i in paced(total, NOISE_PER_SECOND):
        ns = namespaces[i % len(namespaces)]
        if i % every == 0 and len(changed_at) < changes:
            # A referenced ConfigMap: its workload must roll.
            w = (i // every) % WORKLOADS_PER_NS
            name = f"cm-{2 * w:03d}"
            kube.patch("configmaps", name, {"data": {"N": f"v{i}"}}, namespace=ns)
            changed_at.append((ns, f"{KINDS[w % 3].lower()}/w-{w:03d}", time.time()))
        else:
            # Unrelated objects: ConfigMaps nothing references.
            spare = CONFIGMAPS_PER_NS - 2 * WORKLOADS_PER_NS
            name = f"cm-{2 * WORKLOADS_PER_NS + i % spare:03d}"
            kube.patch("configmaps", name, {"data": {"N": f"v{i}"}}, namespace=ns)
    return changed_at


def secret(name: str, ns: str, value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": ns},
        "data": {"v": base64.b64encode(value.encode()).decode()},
    }


def latencies(changed_at: list[tuple[str, str, float]], patched: list[Any]) -> list[float]:
    """Seconds from each change to the first ``restart.patched`` of its workload after it."""
    found = []
    for ns, obj, at in changed_at:
        after = [
            r.ts.timestamp()
            for r in patched
            if r.namespace == ns and r.object == obj and r.ts.timestamp() >= at
        ]
        if after:
            found.append(min(after) - at)
    return found


def pin(pid: int, cpus: set[int]) -> None:
    """Run every thread of process ``pid`` on ``cpus`` (affinity is per thread)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
            os.sched_setaffinity(int(tid), cpus)


def pin_apart(pid: int) -> str:
    """Pin the controller to the last CPU and this process (API server, load) to the others.

    As in a pod with a one-CPU limit, and so that the load generator does not
    steal the controller's core; says what was done.
    """
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return "not pinned: one CPU only"
    pin(pid, {cpus[-1]})
    ours = set(cpus[:-1])
    pin(os.getpid(), ours)
    return f"controller pinned to CPU {cpus[-1]}, API server and load to CPU {sorted(ours)}"


def namespace_objects(ns: str) -> list[dict[str, Any]]:
    """One namespace's ConfigMaps, Secrets and workloads; each workload opts in with
    ``reloader.stakater.com/auto`` and references two ConfigMaps and one Secret."""
    objects = [configmap(f"cm-{c:03d}", ns, {"N": "0"}) for c in range(CONFIGMAPS_PER_NS)]
    objects += [secret(f"secret-{s:03d}", ns, f"value-{s}") for s in range(SECRETS_PER_NS)]
    for w in range(WORKLOADS_PER_NS):
        refs = [
            {"configMapRef": {"name": f"cm-{2 * w:03d}"}},
            {"configMapRef": {"name": f"cm-{2 * w + 1:03d}"}},
            {"secretRef": {"name": f"secret-{w % SECRETS_PER_NS:03d}"}},
        ]
        objects.append(
            workload(
                KINDS[w % 3],
                f"w-{w:03d}",
                ns,
                {"reloader.stakater.com/auto": "true"},
                {"containers": [container(envFrom=refs)]},
            )
        )
    return objects


def populate(kube: KubeApiServer) -> list[str]:
    namespaces = [f"bench-{i:02d}" for i in range(NAMESPACES)]
    for ns in namespaces:
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        for obj in namespace_objects(ns):
            kube.create(obj)
    return namespaces


def test_bench_cluster_scale(tmp_path: Path) -> None:
    workloads = NAMESPACES * WORKLOADS_PER_NS
    all_cpus = os.sched_getaffinity(0)
    with KubeApiServer(rollout_delay=0.2, history_size=50_000, watch_queue_size=100_000) as kube:
        local = harness.cluster(kube, tmp_path)
        cluster_rbac(kube)
        namespaces = populate(kube)
        key = tmp_path / "hash.key"
        key.write_bytes(os.urandom(32))
        controller = harness.controller(
            local,
            env={
                "WATCH_NAMESPACES": "*" if SCOPE == "*" else ",".join(namespaces),
                "WATCH_SECRETS": "true",
                "SECRET_HASH_KEY_FILE": str(key),
                "CONFIGMAP_LABEL_SELECTOR": "",
                "DEBOUNCE_SECONDS": str(DEBOUNCE),
                "RESYNC_SECONDS": "300",
                "WATCH_TIMEOUT_SECONDS": "30",
                "RESTART_RATE_PER_SECOND": "1000",
                "RESTART_BURST": "1000",
                "MAX_CONCURRENT_ROLLOUTS": "1000",
            },
        )
        if GROWN_JOURNAL:
            grow_journal(controller.journal_path, GROWN_JOURNAL)
        try:
            started = time.time()
            controller.start(timeout=600)  # /readyz: the first lists are in
            wait_for(
                lambda: (
                    len(
                        [
                            r
                            for r in controller.records({"debounce.skipped"})
                            if r.data.get("reason") == "adopted"
                        ]
                    )
                    >= workloads
                ),
                "every workload adopted",
                timeout=600,
                interval=0.5,
            )
            adopted = controller.records({"debounce.skipped"})
            sync_seconds = max(r.ts.timestamp() for r in adopted) - started
            pid = controller.process.pid
            pinned = pin_apart(pid)
            # The adoptions raise every Deployment's generation; the server's
            # rollouts then write their status and ReplicaSets for a while,
            # and the controller watches that. Idle means none of it is left.
            quiet_after = settle(controller)
            rss_synced = rss_mib(pid)
            # The controller's own pace with nothing changing (Lease renewals,
            # health, probes), so that the noise's marginal cost can be told.
            idle_before, idle_begin = cpu_seconds(pid), time.monotonic()
            time.sleep(IDLE_SECONDS)
            idle_rate = (cpu_seconds(pid) - idle_before) / (time.monotonic() - idle_begin)
            # The noise alone, then with the restarts, each counted until
            # AFTER_NOISE_SECONDS later: the last events' work, and the
            # restarts' rollouts, belong to their phase. (A wait for the
            # watches to go quiet would scrape /metrics, on the controller's CPU.)
            before = Usage.of(controller, start=True)
            noise(kube, namespaces, 0)
            time.sleep(AFTER_NOISE_SECONDS)
            unrelated = Usage.of(controller, start=False).since(before)
            before = Usage.of(controller, start=True)
            changed_at = noise(kube, namespaces, CHANGES)
            time.sleep(AFTER_NOISE_SECONDS)
            mixed = Usage.of(controller, start=False).since(before)

            # Every change patched: a workload changed twice must be patched
            # after its second change too.
            def all_patched() -> list[Any] | None:
                patched = controller.records({"restart.patched"})
                return patched if len(latencies(changed_at, patched)) == len(changed_at) else None

            records = wait_for(all_patched, "every change patched", timeout=60, interval=0.5)
            rss_steady = rss_mib(pid)
            controller.stop()
        finally:
            controller.kill()
            pin(os.getpid(), all_cpus)

    changes = latencies(changed_at, records)
    # What the restarts add: the mixed phase's CPU less what its events cost
    # at the unrelated phase's rate, per restart.
    per_restart_ms = (mixed.cpu - mixed.events * unrelated.cpu / unrelated.events) / CHANGES * 1e3
    print(
        f"\ncluster scale (SHIPSHAPE_BENCH_SCALE={SCALE}, SHIPSHAPE_BENCH_SCOPE={SCOPE}, "
        f"SHIPSHAPE_BENCH_JOURNAL={GROWN_JOURNAL}): "
        f"{NAMESPACES} namespaces, "
        f"{NAMESPACES * CONFIGMAPS_PER_NS} ConfigMaps, {NAMESPACES * SECRETS_PER_NS} Secrets, "
        f"{workloads} workloads"
    )
    print(f"  initial sync (start -> every workload adopted): {sync_seconds:.1f} s")
    print(f"  watches quiet {quiet_after:.1f} s after that (the adoptions' rollout status)")
    print(
        f"  RSS after sync {rss_synced:.0f} MiB, steady after the noise "
        f"{rss_steady:.0f} MiB (goal < 200 MiB)"
    )
    print(f"  idle pace {idle_rate * 1e3:.1f} ms CPU/s")
    unrelated.report(f"{NOISE_PER_SECOND}/s unrelated changes only", idle_rate)
    mixed.report(f"the same with {CHANGES} restarts among them", idle_rate)
    print(f"  so one restart costs about {per_restart_ms:.1f} ms of CPU")
    print(f"  {pinned}")
    print(
        f"  change -> restart.patched with {NOISE_PER_SECOND}/s unrelated changes: "
        f"p50 {statistics.median(changes):.3f} s, p95 {percentile(changes, 0.95):.3f} s "
        f"over {len(changes)} changes (goal <= {DEBOUNCE + 0.5:.1f} s)"
    )
