"""Benchmark: leader failover time over 20 leader kills, SIGKILL and SIGTERM apart.

Two ``shipshape-controller`` replicas (real subprocesses, one journal and one
API client each) elect a leader on the API test server with the chaos tests'
timings: lease 3 s, renew deadline 2 s, retry period 1 s. Each round waits a
random fraction of a retry period (so kills land anywhere in the renewal
cycle), signals the leader, and measures the time until the other replica's
``/leadz`` says it leads (polled every 10 ms); the killed replica is then
started again as a standby.

Goals: SIGKILL p95 at most lease duration + 2 x retry period (5 s here);
SIGTERM p95 at most retry period + 1 s (2 s here). Run with ``make bench``;
prints its figures and never fails for slowness.
"""

from __future__ import annotations

import random
import signal
import statistics
import time
from pathlib import Path

from tests.bench.figures import percentile
from tests.kubeapi import KubeApiServer
from tests.reloader.e2e.harness import cluster, wait_for
from tests.reloader.ha.cluster import (
    LEASE_SECONDS,
    RETRY_SECONDS,
    Replicas,
    kill,
    leadz,
    pairs,
    wait_serving,
)

KILLS = 20


def failovers(tmp_path: Path, sig: signal.Signals) -> tuple[list[float], int]:
    """Kill the leader ``KILLS`` times; return the failover times and the epochs seen."""
    rng = random.Random(20261126)
    times: list[float] = []
    with KubeApiServer(rollout_delay=0.2, bookmark_interval=1.0) as kube:
        local = cluster(kube, tmp_path)
        pairs(kube, ["test"])
        group = Replicas(local, 2)
        try:
            group.start()
            for _ in range(KILLS):
                leader = group.wait_agreed_leader(timeout=30)
                [standby] = [r for r in group if r is not leader]
                time.sleep(rng.uniform(0, RETRY_SECONDS))  # where in the renewal cycle
                sent = kill(leader, sig)
                wait_for(
                    lambda s=standby: (leadz(s) or {}).get("is_leader"),
                    "the standby to lead",
                    timeout=30,
                    interval=0.01,
                )
                times.append(time.monotonic() - sent)
                leader.process.wait(30)
                leader.start(ready=False)
                wait_serving(leader)
            epochs = {t["epoch"] for t in group.replay()["leader_terms"]}
        finally:
            group.kill_all()
    return times, len(epochs)


def report(name: str, times: list[float], epochs: int, goal: float, why: str) -> None:
    p95 = percentile(times, 0.95)
    print(
        f"\nleader failover, {name}: {len(times)} kills, {epochs} leader terms; "
        f"p50 {statistics.median(times):.2f} s, p95 {p95:.2f} s, "
        f"min {min(times):.2f} s, max {max(times):.2f} s "
        f"(goal p95 <= {goal:g} s = {why}: {'met' if p95 <= goal else 'MISSED'})"
    )


def test_bench_failover_sigkill(tmp_path: Path) -> None:
    times, epochs = failovers(tmp_path, signal.SIGKILL)
    goal = LEASE_SECONDS + 2 * RETRY_SECONDS
    report("SIGKILL", times, epochs, goal, "lease + 2 x retry period")


def test_bench_failover_sigterm(tmp_path: Path) -> None:
    times, epochs = failovers(tmp_path, signal.SIGTERM)
    goal = RETRY_SECONDS + 1.0
    report("SIGTERM", times, epochs, goal, "retry period + 1 s")
