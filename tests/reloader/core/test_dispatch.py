"""Dispatch and pacing: rollout slots, the rate limit, retries and what a queued restart applies."""

from __future__ import annotations

import pytest

from records import kinds as k
from reloader.core import (
    DeploymentSeen,
    EventType,
    PatchFailed,
    PatchFenced,
    Policy,
    next_deadline,
)
from tests.reloader.core.scenario import (
    UNAVAILABLE,
    V1,
    V2,
    V3,
    Run,
    cm,
    deploy,
    envfrom,
    fleet,
    h,
    source,
    started,
    succeed,
    workload,
)


def fail(run: Run, deployment: str, jitter: float = 0.0) -> None:
    """Answer the newest patch of ``deployment`` with a retriable failure."""
    patch = [p for p in run.patches() if p.deployment == deployment][-1]
    run.feed(PatchFailed(patch.deployment, patch.correlation_id, UNAVAILABLE, jitter))


def test_a_restart_waiting_in_backoff_leaves_its_rollout_slot_to_others():
    run = fleet(2, max_concurrent_rollouts=1, retry_base_seconds=30.0, retry_max_seconds=30.0)
    run.change(cm("cfg-000", V2, env="e000", rv="9"), at=10.0)
    run.tick(11.0)
    fail(run, "app-000")  # its next attempt is 15 s away
    run.change(cm("cfg-001", V2, env="e001", rv="9"), at=12.0)
    run.tick(13.0)
    assert [p.deployment for p in run.patches()] == ["app-000", "app-001"]


def test_a_restart_waiting_for_a_token_beside_one_in_backoff_wakes_the_runtime_for_the_token():
    run = fleet(
        2,
        max_concurrent_rollouts=1,
        restart_rate_per_second=0.1,
        restart_burst=1,
        retry_base_seconds=30.0,
        retry_max_seconds=30.0,
    )
    run.change(cm("cfg-000", V2, env="e000", rv="9"), at=10.0)
    run.tick(11.0)
    fail(run, "app-000")  # in backoff until 26
    run.change(cm("cfg-001", V2, env="e001", rv="9"), at=12.0)
    run.tick(13.0)  # app-001 is queued: the next token comes at 21
    assert next_deadline(run.state, run.now) == pytest.approx(21.0)
    run.run_until(21.0)
    assert [p.deployment for p in run.patches()] == ["app-000", "app-001"]


def test_a_retry_waits_for_a_token_of_the_rate_limit():
    run = fleet(2, restart_rate_per_second=0.1, restart_burst=2, retry_base_seconds=1.0)
    for i in range(2):
        run.change(cm(f"cfg-{i:03d}", V2, env=f"e{i:03d}", rv="9"), at=10.0)
    run.tick(11.0)  # both patches take the two tokens
    fail(run, "app-000")  # backoff 0.5 s, but the next token comes at 21
    run.run_until(20.9)
    assert len(run.patches()) == 2
    assert next_deadline(run.state, run.now) == pytest.approx(21.0)
    run.run_until(21.0)
    assert [(p.deployment, p.attempt) for p in run.patches()][-1] == ("app-000", 2)


def test_a_fenced_patch_goes_out_again_only_after_a_base_backoff():
    run = started(retry_base_seconds=2.0)
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.tick(11.0)
    patch = run.patches()[-1]
    run.feed(PatchFenced(patch.deployment, patch.correlation_id))
    [retry] = run.records(k.RESTART_RETRY)
    assert retry.data["delay_seconds"] == 2.0 and retry.data["next_attempt"] == 1
    assert next_deadline(run.state, run.now) == pytest.approx(13.0)
    run.run_until(12.99)
    assert len(run.patches()) == 1
    run.run_until(13.0)
    assert [p.attempt for p in run.patches()] == [1, 1]


def test_a_queued_restart_whose_hash_the_cluster_shows_is_not_sent_even_with_a_newer_change_open():
    """The newer change has its own window: the queued restart must not roll the
    workload with a hash it already carries (and the newer window restarts it once)."""
    run = Run.start(
        [cm("helloworld-config-test", V1)],
        [deploy("helloworld-test", h(V1)), deploy("helloworld-test-b", h(V1), env="test")],
        policy=Policy(debounce_seconds=1.0, restart_rate_per_second=2.0, restart_burst=1),
    )
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.tick(11.0)  # helloworld-test goes; helloworld-test-b waits for the token due at 11.5
    [waiting] = run.state.queue
    assert (waiting.deployment[2], waiting.data_hash) == ("helloworld-test-b", h(V2))
    run.change(cm("helloworld-config-test", V3, rv="12"), at=11.2)  # a window due at 12.2
    # Somebody else rolled helloworld-test-b to V2 meanwhile.
    rolled_b = deploy("helloworld-test-b", h(V2), env="test", rv="5", generation=2)
    run.feed(DeploymentSeen(EventType.MODIFIED, rolled_b), at=11.3)
    [skipped] = [r for r in run.records(k.DEBOUNCE_SKIPPED) if "deployment" in r.data]
    assert (skipped.data["deployment"], skipped.data["reason"]) == (
        "helloworld-test-b",
        "unchanged",
    )
    run.run_until(13.0)
    sent = [(p.deployment, p.data_hash) for p in run.patches()]
    assert sent == [("helloworld-test", h(V2)), ("helloworld-test-b", h(V3))]


def test_a_queued_restart_past_its_own_debounce_but_held_by_the_cap_sets_no_deadline_in_the_past():
    """Held by the rollout cap, it waits for a slot, not a timer: a deadline in the
    past would have the runtime tick without pause."""
    shared = source("ConfigMap", "shared", V1)
    spec = envfrom(("configMap", "shared"))
    auto = {"reloader.stakater.com/auto": "true"}
    slow = {**auto, "shipshape.io/debounce": "30s"}
    run = Run.start(
        [shared],
        [
            workload("Deployment", "fast", auto, applied=shared.data_hash, pod_spec=spec),
            workload("Deployment", "slow", slow, applied=shared.data_hash, pod_spec=spec),
        ],
        policy=Policy(debounce_seconds=1.0, max_concurrent_rollouts=1),
    )
    run.change(source("ConfigMap", "shared", V2, rv="2"), at=10.0)
    run.tick(11.0)
    succeed(run)  # fast rolls out (and holds the only slot)
    run.tick(40.0)  # slow's own debounce is over, but no slot is free
    run.tick(41.0)
    assert [p.deployment for p in run.patches()] == ["fast"]
    deadline = next_deadline(run.state, run.now)
    assert deadline is not None and deadline > run.now
