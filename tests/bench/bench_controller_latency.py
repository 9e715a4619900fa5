"""Benchmark: change-to-patch latency of ``shipshape-controller`` over 200 changes.

20 ConfigMap/Deployment pairs, each changed 10 times, the changes spread over
time and each spaced beyond the debounce so every one is its own restart.
The global pace is raised to 50 restarts/s for the run (about 12/s are
sustained; at the default 10/s the queue, not the pipeline, would set the
tail). Latency is measured from the moment the ConfigMap update returns to the moment
the API server holds the Deployment's new pod template (polled every 5 ms),
and also as the controller journals it (``restart.patched`` ``latency_seconds``,
from its observation of the change). Goal: p95 at most DEBOUNCE_SECONDS + 0.5 s.

Run with ``make bench``; prints its figures and never fails for slowness.
"""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path

from tests.bench.figures import percentile
from tests.kubeapi import KubeApiServer
from tests.reloader.e2e import harness
from tests.reloader.e2e.harness import (
    NS,
    configmap,
    deployment,
    set_data,
    wait_for,
)

PAIRS = 20
ROUNDS = 10
DEBOUNCE = 1.0
SPACING = DEBOUNCE + 0.7  # per ConfigMap, so that each change is its own window


def test_bench_change_to_patch_latency(tmp_path: Path) -> None:
    with KubeApiServer(rollout_delay=0.2) as kube:
        local = harness.cluster(kube, tmp_path)
        envs = [f"l{i:02d}" for i in range(PAIRS)]
        for env in envs:
            kube.create(configmap(f"helloworld-config-{env}", {"MESSAGE": "0"}, env))
            kube.create(deployment(f"helloworld-{env}", env))
        # About 12 restarts/s are sustained here, above the default pace of 10/s:
        # the pace is raised so that the figures show the pipeline, not the limiter.
        settings = {"DEBOUNCE_SECONDS": str(DEBOUNCE), "RESYNC_SECONDS": "300"}
        controller = harness.controller(local, env={**settings, "RESTART_RATE_PER_SECOND": "50"})
        try:
            controller.start()
            wait_for(lambda: len(controller.records({"debounce.skipped"})) >= PAIRS, "adoptions")

            seen: dict[str, int] = dict.fromkeys(envs, 1)
            restarted_at: dict[tuple[str, int], float] = {}
            stop = threading.Event()

            def watch_revisions() -> None:
                while not stop.is_set():
                    now = time.monotonic()
                    for env in envs:
                        count = len(kube.revisions(f"helloworld-{env}", NS))
                        while seen[env] < count:
                            seen[env] += 1
                            restarted_at[(env, seen[env] - 1)] = now
                    time.sleep(0.005)

            poller = threading.Thread(target=watch_revisions, daemon=True)
            poller.start()
            changed_at: dict[tuple[str, int], float] = {}
            started = time.monotonic()
            for round_ in range(1, ROUNDS + 1):
                for index, env in enumerate(envs):
                    # Spread the changes of a round over its spacing.
                    due = started + (round_ - 1) * SPACING + index * SPACING / PAIRS
                    time.sleep(max(0.0, due - time.monotonic()))
                    set_data(kube, f"helloworld-config-{env}", {"MESSAGE": str(round_)})
                    changed_at[(env, round_)] = time.monotonic()
            wait_for(lambda: len(restarted_at) >= PAIRS * ROUNDS, "every restart", timeout=60)
            stop.set()
            poller.join(2)
            external = [restarted_at[key] - changed_at[key] for key in changed_at]
            journaled = [r.data["latency_seconds"] for r in controller.records({"restart.patched"})]
            controller.stop()
        finally:
            controller.kill()

    print(
        f"\ncontroller change-to-patch latency over {len(external)} changes "
        f"(DEBOUNCE_SECONDS={DEBOUNCE}):"
    )
    print(
        f"  API server view: p50 {statistics.median(external):.3f} s, "
        f"p95 {percentile(external, 0.95):.3f} s, max {max(external):.3f} s"
    )
    print(
        f"  journal (observed -> patched): p50 {statistics.median(journaled):.3f} s, "
        f"p95 {percentile(journaled, 0.95):.3f} s, max {max(journaled):.3f} s"
    )
    goal = DEBOUNCE + 0.5
    verdict = "met" if percentile(external, 0.95) <= goal else "NOT met"
    print(
        f"  goal p95 <= {goal:.1f} s: {verdict}; "
        f"restarts {len(journaled)} for {len(external)} changes"
    )
