"""The decision core, driven by literal event sequences on a fake clock."""

from __future__ import annotations

from dataclasses import replace

import pytest

from records import kinds as k
from reloader.core import (
    AdoptFailed,
    AdoptRefused,
    ConfigMapSeen,
    DeploymentSeen,
    EventType,
    Failure,
    FlushDeadline,
    LeadershipChanged,
    Listed,
    PatchFailed,
    PatchFenced,
    PatchRefused,
    PatchSucceeded,
    Policy,
    Resource,
    ShutdownRequested,
    Tick,
    WatchFailed,
    applied_hash,
    backoff_delay,
    desired_hash,
    flush_complete,
    initial_state,
    next_deadline,
    pending_restarts,
    step,
)
from tests.reloader.core.scenario import (
    FORBIDDEN,
    NS,
    UNAVAILABLE,
    V1,
    V2,
    V3,
    Run,
    cm,
    deploy,
    fleet,
    h,
    rolled,
    started,
    succeed,
)

# --------------------------------------------------------------------- start-up


def test_start_with_everything_in_sync_restarts_nothing():
    run = started()
    assert run.patches() == [] and run.adoptions() == []
    skipped = run.records(k.DEBOUNCE_SKIPPED)
    assert [(r.object, r.data["reason"]) for r in skipped] == [
        ("configmap/helloworld-config-test", "unchanged")
    ]
    assert k.WATCH_STARTED in run.kinds()
    assert pending_restarts(run.state) == 0
    # Nothing left to do but the periodic resync.
    assert next_deadline(run.state, run.now) == run.state.policy.resync_seconds


def test_start_records_every_observation_before_any_decision():
    run = started()
    kinds = run.kinds()
    assert kinds.index(k.CONFIGMAP_OBSERVED) < kinds.index(k.DEBOUNCE_SKIPPED)
    observed = run.records(k.CONFIGMAP_OBSERVED)[0]
    assert observed.data["event_type"] == "ADDED" and observed.data["source"] == "list"
    assert observed.data["keys"] == ["MESSAGE"] and observed.data["changed_keys"] == ["MESSAGE"]
    assert observed.data["data_hash"] == h(V1)
    assert observed.data["target"] == {"app": "helloworld", "env": "test"}


def test_a_deployment_seen_for_the_first_time_is_adopted_not_restarted():
    run = started(applied=None)
    assert run.patches() == []
    [adopt] = run.adoptions()
    assert adopt.deployment == "helloworld-test" and adopt.data_hash == h(V1)
    [skip] = run.records(k.DEBOUNCE_SKIPPED)
    assert skip.data == {"reason": "adopted", "data_hash": h(V1), "deployment": "helloworld-test"}
    assert applied_hash(run.state, "helloworld-test") == h(V1)


def test_a_change_made_while_no_controller_ran_restarts_once_at_start():
    run = started(data=V2, applied=V1)
    [patch] = run.patches()
    assert patch.data_hash == h(V2) and patch.attempt == 1
    scheduled = run.records(k.DEBOUNCE_SCHEDULED)[0]
    assert scheduled.data["reason"] == "catch-up" and scheduled.data["due_in_seconds"] == 0
    planned = run.records(k.RESTART_PLANNED)[0]
    assert planned.correlation_id == patch.correlation_id == scheduled.correlation_id
    assert planned.data["previous_hash"] == h(V1)
    # The planned record comes before the patch in the action order.
    assert run.actions.index(planned) < run.actions.index(patch)
    succeed(run)
    # A relist at the same data does nothing more.
    mark = run.mark()
    run.feed(ConfigMapSeen(EventType.MODIFIED, cm("helloworld-config-test", V2, rv="10"), "relist"))
    run.feed(Listed(Resource.CONFIGMAPS, "200", 1, initial=False, reason="expired"), at=5.0)
    assert run.patches(mark) == []


def test_nothing_is_decided_before_both_lists_are_in():
    run = Run(initial_state(Policy(debounce_seconds=1.0), NS, acting=True))
    run.feed(ConfigMapSeen(EventType.ADDED, cm("helloworld-config-test", V2), "list"))
    run.feed(Listed(Resource.CONFIGMAPS, "1", 1, initial=True))
    run.feed(ConfigMapSeen(EventType.MODIFIED, cm("helloworld-config-test", V3, rv="2")))
    assert run.patches() == [] and run.records(k.DEBOUNCE_SCHEDULED) == []
    run.feed(DeploymentSeen(EventType.ADDED, deploy("helloworld-test", h(V1)), "list"))
    run.feed(Listed(Resource.DEPLOYMENTS, "3", 1, initial=True))
    [patch] = run.patches()
    assert patch.data_hash == h(V3)


def test_a_configmap_whose_deployment_does_not_exist_is_skipped_as_no_target():
    run = Run.start([cm("helloworld-config-test", V1)], [])
    [skip] = run.records(k.DEBOUNCE_SKIPPED)
    assert skip.data["reason"] == "no-target"
    run.change(cm("helloworld-config-test", V2, rv="2"), at=1.0)
    run.run_until(3.0)
    assert [r.data["reason"] for r in run.records(k.DEBOUNCE_SKIPPED)] == ["no-target", "no-target"]
    assert run.patches() == []


def test_a_change_nothing_depends_on_is_decided_at_once_without_a_window():
    run = Run.start([cm("helloworld-config-test", V1)], [], policy=Policy(debounce_seconds=5.0))
    mark = run.mark()
    run.change(cm("helloworld-config-test", V2, rv="2"), at=1.0)
    observed, skipped = run.records(since=mark)
    assert (observed.kind, skipped.kind) == (k.CONFIGMAP_OBSERVED, k.DEBOUNCE_SKIPPED)
    assert skipped.data == {"reason": "no-target", "data_hash": h(V2)}
    assert observed.correlation_id == skipped.correlation_id
    # No window is left open: no timer, nothing pending.
    assert pending_restarts(run.state) == 0
    assert next_deadline(run.state, run.now) == run.state.next_resync_at
    run.run_until(10.0)
    assert run.kinds(mark) == [k.CONFIGMAP_OBSERVED, k.DEBOUNCE_SKIPPED]


def test_a_workload_that_starts_to_depend_on_an_undecided_change_catches_up_on_its_chain():
    run = Run.start([cm("helloworld-config-test", V1)], [], policy=Policy(debounce_seconds=5.0))
    run.change(cm("helloworld-config-test", V2, rv="2"), at=1.0)
    [_, skipped] = run.records(k.DEBOUNCE_SKIPPED)
    mark = run.mark()
    run.feed(DeploymentSeen(EventType.ADDED, deploy("helloworld-test", h(V1))), at=2.0)
    [patch] = run.patches(mark)
    assert patch.data_hash == h(V2)
    # The restart continues the change's chain of records.
    assert patch.correlation_id == skipped.correlation_id
    [scheduled] = run.records(k.DEBOUNCE_SCHEDULED, mark)
    assert scheduled.data["reason"] == "catch-up"


def test_a_change_with_a_target_still_waits_for_its_window():
    run = started(debounce_seconds=5.0)
    mark = run.mark()
    run.change(cm("helloworld-config-test", V2, rv="11"), at=1.0)
    assert run.kinds(mark) == [k.CONFIGMAP_OBSERVED, k.DEBOUNCE_SCHEDULED]
    assert next_deadline(run.state, run.now) == 6.0


def test_a_configmap_without_env_label_has_no_target():
    run = Run.start([cm("odd", V1, app="helloworld", env="")], [deploy("helloworld-test", None)])
    assert run.records(k.CONFIGMAP_OBSERVED)[0].data["target"] is None
    assert run.adoptions() == [] and run.patches() == []


# ------------------------------------------------------------------- debounce


def test_one_change_restarts_once_debounce_seconds_after_it():
    run = started()
    mark = run.mark()
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    assert run.kinds(mark) == [k.CONFIGMAP_OBSERVED, k.DEBOUNCE_SCHEDULED]
    assert next_deadline(run.state, run.now) == 11.0
    assert pending_restarts(run.state) == 1
    run.tick(10.999)
    assert run.patches(mark) == []
    run.tick(11.0)
    [patch] = run.patches(mark)
    assert patch.data_hash == h(V2) and patch.configmap == "helloworld-config-test"
    succeed(run, at=11.05)
    [patched] = run.records(k.RESTART_PATCHED, mark)
    assert patched.data["latency_seconds"] == pytest.approx(1.05)
    assert pending_restarts(run.state) == 0
    # The rollout is followed to its end through the Deployment's status.
    view = deploy("helloworld-test", h(V2), rv="30", generation=2)
    run.feed(DeploymentSeen(EventType.MODIFIED, rolled(view, 2, "30", done=False)), at=11.5)
    assert run.records(k.ROLLOUT_COMPLETED, mark) == []
    run.feed(DeploymentSeen(EventType.MODIFIED, rolled(view, 2, "31")), at=12.0)
    [done] = run.records(k.ROLLOUT_COMPLETED, mark)
    assert done.data["seconds"] == pytest.approx(0.95)
    chain = {r.correlation_id for r in run.records(since=mark) if r.kind != k.DEPLOYMENT_OBSERVED}
    assert len(chain) == 1
    assert run.kinds(mark) == [
        k.CONFIGMAP_OBSERVED,
        k.DEBOUNCE_SCHEDULED,
        k.RESTART_PLANNED,
        k.RESTART_PATCHED,
        k.DEPLOYMENT_OBSERVED,
        k.ROLLOUT_COMPLETED,
    ]


def test_five_changes_in_half_a_second_coalesce_into_one_restart_of_the_last_data():
    run = started()
    mark = run.mark()
    for i in range(5):
        run.change(
            cm("helloworld-config-test", {"MESSAGE": f"v{i}"}, rv=str(20 + i)), at=10.0 + i * 0.1
        )
    # Each change is observed under the window's correlation id; nothing else yet.
    assert (
        run.kinds(mark) == [k.CONFIGMAP_OBSERVED, k.DEBOUNCE_SCHEDULED] + [k.CONFIGMAP_OBSERVED] * 4
    )
    run.run_until(20.0)
    [patch] = run.patches(mark)
    assert patch.data_hash == h({"MESSAGE": "v4"})
    # One summary when the window fires, one debounce after the *first* change.
    [coalesced] = run.records(k.DEBOUNCE_COALESCED, mark)
    assert coalesced.data["changes"] == 5 and coalesced.data["window_seconds"] == 1.0
    assert run.kinds(mark)[-2:] == [k.DEBOUNCE_COALESCED, k.RESTART_PLANNED]
    assert {r.correlation_id for r in run.records(since=mark)} == {patch.correlation_id}


def test_the_window_fires_one_debounce_after_the_first_change():
    run = started()
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.change(cm("helloworld-config-test", V3, rv="12"), at=10.9)
    run.tick(11.0)
    assert [p.data_hash for p in run.patches()] == [h(V3)]


def test_a_change_reverted_inside_the_window_restarts_nothing():
    run = started()
    mark = run.mark()
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.change(cm("helloworld-config-test", V1, rv="12"), at=10.4)
    run.run_until(20.0)
    assert run.patches(mark) == []
    [skip] = run.records(k.DEBOUNCE_SKIPPED, mark)
    assert skip.data["reason"] == "reverted"
    assert pending_restarts(run.state) == 0


def test_an_update_that_keeps_the_data_is_skipped_as_unchanged():
    run = started()
    mark = run.mark()
    run.change(cm("helloworld-config-test", V1, rv="11"), at=10.0)
    assert [r.data["reason"] for r in run.records(k.DEBOUNCE_SKIPPED, mark)] == ["unchanged"]
    assert run.state.windows == {}


def test_a_change_after_the_window_fired_opens_a_new_window_and_restarts_again():
    run = started()
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.tick(11.0)
    succeed(run, at=11.1)
    run.change(cm("helloworld-config-test", V3, rv="12"), at=11.2)
    run.run_until(13.0)
    patches = run.patches()
    assert [p.data_hash for p in patches] == [h(V2), h(V3)]
    assert patches[0].correlation_id != patches[1].correlation_id


def test_a_second_change_while_the_first_patch_is_in_flight_waits_for_it():
    run = started()
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.tick(11.0)
    run.change(cm("helloworld-config-test", V3, rv="12"), at=11.1)
    run.tick(12.1)
    assert len(run.patches()) == 1, "one patch per Deployment at a time"
    succeed(run, at=12.2)
    assert [p.data_hash for p in run.patches()] == [h(V2), h(V3)]


def test_due_timers_fire_before_the_event_that_arrives_after_them():
    run = started()
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    # The loop woke late: a change at 11.5 arrives before any tick at 11.0.
    run.change(cm("helloworld-config-test", V3, rv="12"), at=11.5)
    assert [p.data_hash for p in run.patches()] == [h(V2)]
    assert len(run.records(k.DEBOUNCE_SCHEDULED)) == 2


def test_a_late_tick_fires_a_window_once():
    run = started()
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.tick(15.0)
    run.tick(16.0)
    assert len(run.patches()) == 1


def test_a_configmap_deleted_inside_its_window_restarts_nothing():
    run = started()
    mark = run.mark()
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.feed(ConfigMapSeen(EventType.DELETED, cm("helloworld-config-test", V2, rv="12")), at=10.5)
    run.run_until(20.0)
    assert run.patches(mark) == []
    [skip] = run.records(k.DEBOUNCE_SKIPPED, mark)
    assert skip.data["reason"] == "deleted"
    observed = run.records(k.CONFIGMAP_OBSERVED, mark)[-1]
    assert observed.data["event_type"] == "DELETED" and observed.data["changed_keys"] == []
    assert desired_hash(run.state, "helloworld-test") is None


def test_a_deleted_and_recreated_configmap_with_the_same_data_restarts_nothing():
    run = started()
    run.feed(ConfigMapSeen(EventType.DELETED, cm("helloworld-config-test", V1, rv="11")), at=10.0)
    run.feed(ConfigMapSeen(EventType.ADDED, cm("helloworld-config-test", V1, rv="12")), at=11.0)
    run.run_until(20.0)
    assert run.patches() == []
    assert run.records(k.DEBOUNCE_SKIPPED)[-1].data["reason"] == "unchanged"


def test_changed_keys_name_the_keys_not_the_values():
    run = started(data={"A": "1", "B": "2"}, applied={"A": "1", "B": "2"})
    mark = run.mark()
    run.change(cm("helloworld-config-test", {"A": "1", "B": "secret-3", "C": "x"}, rv="11"), at=1.0)
    observed = run.records(k.CONFIGMAP_OBSERVED, mark)[0]
    assert observed.data["changed_keys"] == ["B", "C"]
    assert "secret-3" not in repr(run.actions)


def test_binary_data_changes_are_changes():
    run = started()
    mark = run.mark()
    run.change(cm("helloworld-config-test", V1, rv="11", binary={"logo": "AAEC"}), at=1.0)
    run.run_until(5.0)
    assert len(run.patches(mark)) == 1


# --------------------------------------------------------------------- retries


def test_failed_patches_are_retried_with_backoff_then_succeed():
    run = started(retry_base_seconds=1.0, retry_max_seconds=8.0)
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.tick(11.0)
    jitters = [0.0, 0.5, 0.99]
    t = 11.0
    for attempt, jitter in enumerate(jitters, start=1):
        patch = run.patches()[-1]
        assert patch.attempt == attempt
        run.feed(PatchFailed(patch.deployment, patch.correlation_id, UNAVAILABLE, jitter), at=t)
        delay = backoff_delay(run.state.policy, attempt, jitter)
        assert next_deadline(run.state, run.now) == pytest.approx(t + delay)
        run.tick(t + delay - 0.001)
        assert len(run.patches()) == attempt
        t += delay
        run.tick(t)
    succeed(run, at=t)
    retries = run.records(k.RESTART_RETRY)
    assert [r.data["attempt"] for r in retries] == [1, 2, 3]
    assert [r.data["jitter"] for r in retries] == jitters
    assert [r.data["delay_seconds"] for r in retries] == [0.5, 1.5, pytest.approx(3.98)]
    assert retries[0].data["error"] == {
        "reason": "server-error",
        "status": 503,
        "message": "Service Unavailable",
    }
    assert len(run.records(k.RESTART_PLANNED)) == 4, "every attempt is planned before it is sent"
    assert [p.attempt for p in run.patches()] == [1, 2, 3, 4]
    [patched] = run.records(k.RESTART_PATCHED)
    assert patched.data["attempt"] == 4
    assert len({r.correlation_id for r in run.records() if r.kind.startswith("restart.")}) == 1


def test_a_throttled_patch_waits_at_least_its_retry_after_and_journals_it():
    run = started(retry_base_seconds=1.0, retry_max_seconds=8.0)
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.tick(11.0)
    patch = run.patches()[-1]
    throttled = Failure("throttled", True, 429, "429 Too Many Requests", retry_after=7.0)
    run.feed(PatchFailed(patch.deployment, patch.correlation_id, throttled, 0.0), at=11.0)
    assert next_deadline(run.state, run.now) == pytest.approx(18.0), "not the 0.5 s backoff"
    run.tick(17.9)
    assert len(run.patches()) == 1
    run.tick(18.0)
    assert len(run.patches()) == 2
    [retry] = run.records(k.RESTART_RETRY)
    assert retry.data["delay_seconds"] == 7.0
    assert retry.data["error"]["retry_after"] == 7.0
    # Only a throttled answer's record carries it: older records are unchanged.
    assert "retry_after" not in UNAVAILABLE.as_dict()


def test_spent_retries_are_recorded_and_the_resync_tries_again_in_the_same_chain():
    run = started(retry_max_attempts=2, retry_base_seconds=1.0, resync_seconds=60.0)
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.tick(11.0)
    for _ in range(2):
        patch = run.patches()[-1]
        run.feed(PatchFailed(patch.deployment, patch.correlation_id, UNAVAILABLE, 0.0))
        run.run_until(run.now + 5)
    [failed] = run.records(k.RESTART_FAILED)
    assert failed.data["reason"] == "retries-exhausted" and failed.data["attempt"] == 2
    assert len(run.patches()) == 2 and pending_restarts(run.state) == 0
    run.run_until(59.9)
    assert len(run.patches()) == 2
    run.run_until(60.0)
    patches = run.patches()
    assert len(patches) == 3
    assert patches[-1].correlation_id == failed.correlation_id
    assert run.records(k.DEBOUNCE_SCHEDULED)[-1].data["reason"] == "resync"


def test_a_forbidden_patch_fails_at_once_without_retries():
    run = started()
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.tick(11.0)
    patch = run.patches()[-1]
    run.feed(PatchFailed(patch.deployment, patch.correlation_id, FORBIDDEN, 0.3))
    [failed] = run.records(k.RESTART_FAILED)
    assert failed.data["reason"] == "forbidden" and failed.data["error"]["status"] == 403
    assert run.records(k.RESTART_RETRY) == []


def test_a_lost_answer_is_not_a_second_restart_when_the_watch_shows_the_patch_landed():
    run = started()
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.tick(11.0)
    patch = run.patches()[-1]
    timeout = Failure("timeout", retriable=True, message="read timed out")
    run.feed(PatchFailed(patch.deployment, patch.correlation_id, timeout, 0.0), at=16.0)
    run.feed(
        DeploymentSeen(EventType.MODIFIED, deploy("helloworld-test", h(V2), rv="40", generation=2))
    )
    run.run_until(30.0)
    assert len(run.patches()) == 1
    [patched] = run.records(k.RESTART_PATCHED)
    assert patched.data["confirmed_by"] == "watch"


def test_a_stale_watch_event_after_the_patch_does_not_restart_again():
    run = started(resync_seconds=5.0)
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.tick(11.0)
    succeed(run, at=11.1, generation=2)
    # A status update from before the patch arrives after its answer.
    run.feed(
        DeploymentSeen(EventType.MODIFIED, deploy("helloworld-test", h(V1), rv="12", generation=1))
    )
    run.run_until(40.0)
    assert len(run.patches()) == 1
    assert applied_hash(run.state, "helloworld-test") == h(V2)
    # Once the watch catches up the override is gone and the cluster speaks.
    run.feed(
        DeploymentSeen(EventType.MODIFIED, deploy("helloworld-test", h(V2), rv="50", generation=2))
    )
    assert run.state.overrides == {}


def test_a_deployment_deleted_during_backoff_is_given_up():
    run = started()
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.tick(11.0)
    patch = run.patches()[-1]
    run.feed(PatchFailed(patch.deployment, patch.correlation_id, UNAVAILABLE, 0.0))
    run.feed(DeploymentSeen(EventType.DELETED, deploy("helloworld-test", h(V1), rv="13")))
    run.run_until(30.0)
    [failed] = run.records(k.RESTART_FAILED)
    assert failed.data["reason"] == "not-found"
    assert len(run.patches()) == 1


def test_answers_for_unknown_restarts_are_ignored():
    run = started()
    before = run.state
    run.feed(PatchSucceeded("helloworld-test", "nope", 3))
    run.feed(PatchFailed("helloworld-test", "nope", UNAVAILABLE))
    run.feed(PatchFenced("helloworld-test", "nope"))
    assert run.state == before


def test_answers_from_another_chain_leave_the_restart_in_flight_alone():
    """A late answer (an earlier restart's, say) settles nothing of the restart now in flight."""
    run = started()
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.tick(11.0)
    [patch] = run.patches()
    before, records = run.state, len(run.records())
    run.feed(PatchSucceeded(patch.deployment, "earlier-chain", 3))
    run.feed(PatchFailed(patch.deployment, "earlier-chain", UNAVAILABLE))
    run.feed(PatchFenced(patch.deployment, "earlier-chain"))
    run.feed(PatchRefused(patch.deployment, "earlier-chain", CONFLICT, applied_hash=h(V2)))
    assert run.state == before and len(run.records()) == records
    succeed(run, at=12.0)
    [patched] = run.records(k.RESTART_PATCHED)
    assert patched.correlation_id == patch.correlation_id and patched.data["data_hash"] == h(V2)


# --------------------------------------------------------- relists and resyncs


def test_a_relist_after_410_restarts_only_what_changed():
    run = Run.start(
        [cm("helloworld-config-test", V1, rv="1"), cm("helloworld-config-prod", V1, rv="2")],
        [deploy("helloworld-test", h(V1)), deploy("helloworld-prod", h(V1))],
    )
    mark = run.mark()
    run.feed(
        ConfigMapSeen(EventType.MODIFIED, cm("helloworld-config-test", V2, rv="9"), "relist"),
        at=5.0,
    )
    run.feed(Listed(Resource.CONFIGMAPS, "9", 2, initial=False, reason="expired", modified=1))
    run.run_until(10.0)
    assert [p.deployment for p in run.patches(mark)] == ["helloworld-test"]
    relisted = run.records(k.WATCH_RELISTED, mark)[0]
    assert relisted.data["reason"] == "expired" and relisted.data["modified"] == 1


def test_a_relist_finding_a_configmap_gone_records_its_deletion():
    run = started()
    run.feed(ConfigMapSeen(EventType.DELETED, cm("helloworld-config-test", V1, rv="10"), "relist"))
    run.feed(Listed(Resource.CONFIGMAPS, "20", 0, initial=False, reason="expired", deleted=1))
    assert run.records(k.CONFIGMAP_OBSERVED)[-1].data["event_type"] == "DELETED"
    assert run.patches() == []


def test_the_resync_finds_drift_made_behind_the_controllers_back():
    run = started(resync_seconds=30.0)
    # Someone edits the Deployment's applied hash by hand.
    run.feed(
        DeploymentSeen(EventType.MODIFIED, deploy("helloworld-test", "tampered", rv="5")), at=3.0
    )
    [patch] = run.patches()
    assert patch.data_hash == h(V1)
    assert run.records(k.DEBOUNCE_SCHEDULED)[-1].data["reason"] == "catch-up"


def test_a_watch_error_is_journaled():
    run = started()
    run.feed(WatchFailed(Resource.CONFIGMAPS, "connection reset", None, 0.5))
    [error] = run.records(k.WATCH_ERROR)
    assert error.data == {
        "resource": "configmaps",
        "error": "connection reset",
        "status": None,
        "retry_in_seconds": 0.5,
    }


# ------------------------------------------------------------ new Deployments


def test_a_deployment_created_after_start_is_adopted():
    run = started()
    run.feed(
        DeploymentSeen(EventType.ADDED, deploy("helloworld-test-canary", None, env="test")), at=2.0
    )
    [adopt] = run.adoptions()
    assert adopt.deployment == "helloworld-test-canary" and adopt.data_hash == h(V1)
    # Its own adoption echo, and a stale event without the annotation, change nothing.
    run.feed(
        DeploymentSeen(
            EventType.MODIFIED, deploy("helloworld-test-canary", None, env="test", rv="3")
        )
    )
    run.feed(
        DeploymentSeen(
            EventType.MODIFIED, deploy("helloworld-test-canary", h(V1), env="test", rv="4")
        )
    )
    assert len(run.adoptions()) == 1 and run.patches() == []


def test_an_adoption_that_failed_is_sent_again_by_the_resync():
    run = started(applied=None, resync_seconds=10.0)
    run.feed(AdoptFailed("helloworld-test", UNAVAILABLE), at=1.0)
    # Meanwhile the ConfigMap changes: adoption keeps the hash it adopted.
    run.change(cm("helloworld-config-test", V2, rv="11"), at=2.0)
    run.run_until(10.0)
    assert [a.data_hash for a in run.adoptions()] == [h(V1), h(V1)]
    assert [p.data_hash for p in run.patches()] == [h(V2)]


def test_a_deployment_relabelled_to_another_env_follows_that_configmap():
    run = Run.start(
        [cm("helloworld-config-test", V1), cm("helloworld-config-prod", V2)],
        [deploy("helloworld-x", h(V1), env="test")],
    )
    run.feed(
        DeploymentSeen(EventType.MODIFIED, deploy("helloworld-x", h(V1), env="prod", rv="7")),
        at=1.0,
    )
    [patch] = run.patches()
    assert patch.data_hash == h(V2) and patch.configmap == "helloworld-config-prod"


def test_several_configmaps_for_one_deployment_combine_their_hashes():
    a = cm("helloworld-config-test", V1)
    b = cm("helloworld-extra-test", V2)
    run = Run.start([a, b], [deploy("helloworld-test", None)])
    [adopt] = run.adoptions()
    assert adopt.data_hash not in (h(V1), h(V2))
    run.change(cm("helloworld-extra-test", V3, rv="5"), at=1.0)
    run.run_until(5.0)
    [patch] = run.patches()
    assert patch.data_hash == desired_hash(run.state, "helloworld-test")
    assert patch.data_hash != adopt.data_hash


# ------------------------------------------------------------------- pacing


def test_the_global_rate_limit_paces_a_fan_out():
    run = fleet(5, restart_rate_per_second=2.0, restart_burst=2, max_concurrent_rollouts=50)
    for i in range(5):
        run.change(cm(f"cfg-{i:03d}", V2, env=f"e{i:03d}", rv="9"), at=10.0)
    run.tick(11.0)
    assert len(run.patches()) == 2
    assert next_deadline(run.state, run.now) == pytest.approx(11.5)
    run.run_until(12.0)
    assert len(run.patches()) == 4
    run.run_until(12.5)
    assert len(run.patches()) == 5
    assert pending_restarts(run.state) == 5  # patched? not yet answered
    for patch in run.patches():
        run.feed(PatchSucceeded(patch.deployment, patch.correlation_id, 2))
    assert pending_restarts(run.state) == 0


def test_the_cap_on_concurrent_rollouts_holds_restarts_until_rollouts_finish():
    run = fleet(3, max_concurrent_rollouts=2, restart_burst=10)
    for i in range(3):
        run.change(cm(f"cfg-{i:03d}", V2, env=f"e{i:03d}", rv="9"), at=10.0)
    run.tick(11.0)
    assert [p.deployment for p in run.patches()] == ["app-000", "app-001"]
    for patch in run.patches():
        run.feed(PatchSucceeded(patch.deployment, patch.correlation_id, 2), at=11.1)
    assert len(run.patches()) == 2, "patched but still rolling out"
    view = deploy("app-000", h(V2), env="e000", generation=2, rv="20")
    run.feed(DeploymentSeen(EventType.MODIFIED, view), at=12.0)
    assert [p.deployment for p in run.patches()] == ["app-000", "app-001", "app-002"]


def test_a_rollout_that_never_finishes_times_out_and_frees_its_slot():
    run = fleet(2, max_concurrent_rollouts=1, rollout_timeout_seconds=30.0)
    run.change(cm("cfg-000", V2, env="e000", rv="9"), at=10.0)
    run.change(cm("cfg-001", V2, env="e001", rv="9"), at=10.0)
    run.tick(11.0)
    succeed(run, at=11.0)
    run.run_until(40.9)
    assert len(run.patches()) == 1
    run.run_until(41.0)
    [timeout] = run.records(k.ROLLOUT_TIMEOUT)
    assert timeout.data["reason"] == "deadline" and timeout.object == "deployment/app-000"
    assert len(run.patches()) == 2


def test_progress_deadline_exceeded_is_a_rollout_timeout():
    from reloader.core import RolloutStatus

    run = started()
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.tick(11.0)
    succeed(run, at=11.0, generation=2)
    stuck = RolloutStatus(
        generation=2,
        observed_generation=2,
        replicas=1,
        status_replicas=2,
        updated_replicas=1,
        available_replicas=0,
        progress_deadline_exceeded=True,
    )
    view = replace(deploy("helloworld-test", h(V2), rv="40"), rollout=stuck)
    run.feed(DeploymentSeen(EventType.MODIFIED, view), at=20.0)
    [timeout] = run.records(k.ROLLOUT_TIMEOUT)
    assert timeout.data["reason"] == "progress-deadline-exceeded"


def test_three_hundred_configmaps_each_restart_their_own_deployment_once():
    run = fleet(
        300, restart_rate_per_second=1000.0, restart_burst=1000, max_concurrent_rollouts=1000
    )
    assert run.patches() == [] and run.adoptions() == []
    for i in range(300):
        run.change(cm(f"cfg-{i:03d}", V2, env=f"e{i:03d}", rv="9"), at=10.0 + i * 0.001)
    run.run_until(12.0)
    patches = run.patches()
    assert sorted(p.deployment for p in patches) == [f"app-{i:03d}" for i in range(300)]


# ------------------------------------------------------------------ shutdown


def test_shutdown_inside_a_window_flushes_the_restart_at_once():
    run = started()
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    mark = run.mark()
    run.feed(ShutdownRequested("SIGTERM"), at=10.3)
    assert run.kinds(mark) == [k.CONTROLLER_STOPPING, k.RESTART_FLUSHED, k.RESTART_PLANNED]
    [patch] = run.patches(mark)
    assert patch.data_hash == h(V2)
    assert not flush_complete(run.state)
    succeed(run)
    assert flush_complete(run.state)
    [patched] = run.records(k.RESTART_PATCHED)
    assert patched.data["flushed"] is True


def test_shutdown_ignores_the_rate_limit_and_the_cap():
    run = fleet(4, restart_rate_per_second=0.1, restart_burst=1, max_concurrent_rollouts=1)
    for i in range(4):
        run.change(cm(f"cfg-{i:03d}", V2, env=f"e{i:03d}", rv="9"), at=10.0)
    run.feed(ShutdownRequested(), at=10.1)
    assert len(run.patches()) == 4


def test_shutdown_retries_a_restart_in_backoff_once_and_drops_it_if_that_fails():
    run = started(retry_base_seconds=30.0, retry_max_seconds=30.0)
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.tick(11.0)
    patch = run.patches()[-1]
    run.feed(PatchFailed(patch.deployment, patch.correlation_id, UNAVAILABLE, 0.0))
    run.feed(ShutdownRequested(), at=12.0)
    assert len(run.patches()) == 2
    patch = run.patches()[-1]
    run.feed(PatchFailed(patch.deployment, patch.correlation_id, UNAVAILABLE, 0.0))
    [dropped] = run.records(k.RESTART_DROPPED)
    assert dropped.data["reason"] == "shutdown"
    assert flush_complete(run.state)


def test_the_flush_deadline_drops_what_is_still_unanswered():
    run = started()
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.feed(ShutdownRequested(), at=10.5)
    run.feed(FlushDeadline(), at=30.0)
    [dropped] = run.records(k.RESTART_DROPPED)
    assert dropped.data["reason"] == "shutdown-deadline"
    assert flush_complete(run.state)


def test_shutdown_with_nothing_pending_is_complete_at_once_and_stops_deciding():
    run = started()
    run.feed(ShutdownRequested(), at=1.0)
    assert flush_complete(run.state)
    run.change(cm("helloworld-config-test", V2, rv="11"), at=2.0)
    assert run.state.windows == {} and flush_complete(run.state)
    assert next_deadline(run.state, run.now) is None


# ---------------------------------------------------------------- leadership


def test_a_standby_watches_and_journals_but_never_patches():
    run = Run.start(
        [cm("helloworld-config-test", V1)], [deploy("helloworld-test", None)], acting=False
    )
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.run_until(20.0)
    assert run.patches() == [] and run.adoptions() == []
    assert run.records(k.DEBOUNCE_SKIPPED)[-1].data["reason"] == "not-leader"


def test_taking_over_adopts_and_catches_up_without_a_restart_storm():
    run = Run.start(
        [cm("helloworld-config-test", V2), cm("helloworld-config-prod", V1)],
        [
            deploy("helloworld-test", h(V1)),
            deploy("helloworld-prod", h(V1)),
            deploy("helloworld-dev", None, env="dev"),
        ],
        acting=False,
    )
    run.feed(LeadershipChanged(acting=True), at=5.0)
    assert [p.deployment for p in run.patches()] == ["helloworld-test"]
    run.feed(LeadershipChanged(acting=True), at=6.0)
    assert len(run.patches()) == 1


def test_losing_leadership_abandons_queued_and_backoff_restarts_to_the_next_leader():
    run = started()
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.tick(11.0)
    patch = run.patches()[-1]
    run.feed(PatchFailed(patch.deployment, patch.correlation_id, UNAVAILABLE, 0.0))
    run.feed(LeadershipChanged(acting=False), at=11.2)
    [failed] = run.records(k.RESTART_FAILED)
    assert failed.data["reason"] == "not-leader"
    run.run_until(100.0)
    assert len(run.patches()) == 1


def test_a_fenced_patch_is_retried_after_a_base_backoff_without_spending_an_attempt():
    run = started(retry_base_seconds=2.0, retry_max_attempts=1)
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.tick(11.0)
    patch = run.patches()[-1]
    run.feed(PatchFenced(patch.deployment, patch.correlation_id))
    [retry] = run.records(k.RESTART_RETRY)
    assert retry.data["error"]["reason"] == "fenced"
    run.run_until(13.0)
    assert [p.attempt for p in run.patches()] == [1, 1]


# --------------------------------------------------------------- determinism


def test_the_same_events_give_the_same_decisions():
    def scenario() -> list:
        run = started()
        run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
        run.change(cm("helloworld-config-test", V3, rv="12"), at=10.2)
        run.run_until(12.0)
        patch = run.patches()[-1]
        run.feed(PatchFailed(patch.deployment, patch.correlation_id, UNAVAILABLE, 0.25))
        run.run_until(20.0)
        succeed(run)
        return run.actions

    assert scenario() == scenario()


def test_step_does_not_modify_the_state_it_was_given():
    state = started().state
    snapshot = (dict(state.configmaps), dict(state.deployments), dict(state.windows), state.queue)
    step(state, ConfigMapSeen(EventType.MODIFIED, cm("helloworld-config-test", V2, rv="11")), 10.0)
    step(state, Tick(), 20.0)
    assert snapshot == (
        dict(state.configmaps),
        dict(state.deployments),
        dict(state.windows),
        state.queue,
    )


def test_each_window_restarts_with_its_own_data_even_when_paced():
    run = started(restart_rate_per_second=0.5, restart_burst=1)
    # Use up the only token so the next restart has to wait in the queue.
    run.feed(DeploymentSeen(EventType.ADDED, deploy("helloworld-test-b", "x", env="test")), at=1.0)
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.tick(11.0)  # window 1 fires: one target goes, the other waits for a token
    waiting = [r for r in run.state.queue]
    assert len(waiting) == 1 and waiting[0].data_hash == h(V2)
    run.change(cm("helloworld-config-test", V3, rv="12"), at=11.5)  # window 2 opens
    run.run_until(12.0)  # a token: the waiting restart goes with window 1's data
    assert run.patches()[-1].data_hash == h(V2)
    for patch in run.patches():
        run.feed(PatchSucceeded(patch.deployment, patch.correlation_id, 2))
    run.run_until(20.0)
    hashes = [(p.deployment, p.data_hash) for p in run.patches()]
    assert hashes.count(("helloworld-test", h(V3))) == 1
    assert hashes.count(("helloworld-test-b", h(V3))) == 1
    windows = {r.correlation_id for r in run.records(k.DEBOUNCE_SCHEDULED)}
    assert {p.correlation_id for p in run.patches()} <= windows


def test_a_window_firing_while_its_target_still_waits_rides_on_the_queued_restart():
    run = started(restart_rate_per_second=0.1, restart_burst=1)
    run.feed(DeploymentSeen(EventType.ADDED, deploy("helloworld-test-b", "x", env="test")), at=1.0)
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.tick(11.0)
    run.change(cm("helloworld-config-test", V3, rv="12"), at=11.1)
    run.tick(12.1)  # window 2 fires while helloworld-test-b still waits for a token
    [coalesced] = [r for r in run.records(k.DEBOUNCE_COALESCED) if "into" in r.data]
    assert coalesced.data["deployment"] in ("helloworld-test", "helloworld-test-b")
    queued = {r.deployment: r.data_hash for r in run.state.queue}
    assert set(queued.values()) == {h(V3)}


# ------------------------------------------------------------ conditional writes

CONFLICT = Failure("conflict", retriable=True, status=409, message="409 Conflict: modified")


def test_every_restart_and_adoption_is_conditional_on_the_version_it_was_decided_on():
    run = Run.start(
        [cm("helloworld-config-test", V2, rv="10"), cm("helloworld-config-prod", V1, rv="11")],
        [
            deploy("helloworld-test", h(V1), rv="41"),
            deploy("helloworld-prod", None, rv="42"),
        ],
    )
    [patch] = run.patches()
    assert (patch.resource_version, patch.previous_hash) == ("41", h(V1))
    [planned] = run.records(k.RESTART_PLANNED)
    assert planned.data["resource_version"] == "41"
    [adoption] = run.adoptions()
    assert (adoption.deployment, adoption.resource_version) == ("helloworld-prod", "42")


def test_a_refused_restart_whose_hash_is_applied_is_superseded_and_not_sent_again():
    run = started()
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.tick(11.0)
    [patch] = run.patches()
    # Another process's patch for the same change landed first.
    run.feed(
        PatchRefused(
            patch.deployment,
            patch.correlation_id,
            CONFLICT,
            applied_hash=h(V2),
            resource_version="77",
            generation=2,
        ),
        at=12.0,
    )
    [superseded] = run.records(k.RESTART_SUPERSEDED)
    assert superseded.correlation_id == patch.correlation_id
    assert superseded.object == "deployment/helloworld-test"
    assert superseded.data["reason"] == "already-applied"
    assert superseded.data["planned_hash"] == superseded.data["applied_hash"] == h(V2)
    assert superseded.data["error"]["status"] == 409
    assert pending_restarts(run.state) == 0 and applied_hash(run.state, "helloworld-test") == h(V2)
    # The cache still shows the old hash for a while: no second restart from it.
    run.feed(DeploymentSeen(EventType.MODIFIED, deploy("helloworld-test", h(V1), rv="50")))
    run.run_until(200.0)
    assert len(run.patches()) == 1
    assert run.records(k.RESTART_PATCHED) == []


def test_a_refused_restart_whose_newer_hash_is_applied_is_superseded_too():
    run = started()
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.tick(11.0)
    [patch] = run.patches()
    run.change(cm("helloworld-config-test", V3, rv="12"), at=11.5)
    run.feed(
        PatchRefused(
            patch.deployment, patch.correlation_id, CONFLICT, applied_hash=h(V3), generation=3
        ),
        at=11.6,
    )
    [superseded] = run.records(k.RESTART_SUPERSEDED)
    assert superseded.data["reason"] == "newer-applied"
    assert (superseded.data["planned_hash"], superseded.data["applied_hash"]) == (h(V2), h(V3))
    run.run_until(30.0)
    assert len(run.patches()) == 1, "the newer hash is applied: nothing to roll"


def test_a_refused_restart_on_a_changed_deployment_is_decided_again_and_sent_on_the_new_version():
    run = started(retry_max_attempts=2)
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.tick(11.0)
    [first] = run.patches()
    # Only the status changed: the hash is still the old one.
    refused = PatchRefused(
        first.deployment, first.correlation_id, CONFLICT, applied_hash=h(V1), resource_version="60"
    )
    run.feed(refused, at=11.1)
    [retry] = run.records(k.RESTART_RETRY)
    assert retry.data["reread"] == {
        "applied_hash": h(V1),
        "resource_version": "60",
        "generation": None,
    }
    assert retry.data["delay_seconds"] == 0.0 and retry.data["error"]["reason"] == "conflict"
    second = run.patches()[-1]
    assert (second.attempt, second.resource_version) == (2, "60")
    assert [r.data["attempt"] for r in run.records(k.RESTART_PLANNED)] == [1, 2]
    # Refused again with the attempts spent: failed; the resync tries later.
    run.feed(replace(refused, resource_version="61"), at=11.2)
    [failed] = run.records(k.RESTART_FAILED)
    assert failed.data["reason"] == "retries-exhausted" and len(run.patches()) == 2


def test_a_refused_restart_of_a_deleted_deployment_fails_as_not_found():
    run = started()
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.tick(11.0)
    [patch] = run.patches()
    run.feed(PatchRefused(patch.deployment, patch.correlation_id, CONFLICT, found=False))
    [failed] = run.records(k.RESTART_FAILED)
    assert failed.data["reason"] == "not-found" and failed.data["error"]["status"] == 404


def test_a_refused_adoption_is_sent_again_on_the_new_version_unless_a_hash_is_there():
    run = Run.start(
        [cm("helloworld-config-test", V1, rv="10")], [deploy("helloworld-test", None, rv="5")]
    )
    [adoption] = run.adoptions()
    assert adoption.resource_version == "5"
    again = run.feed(AdoptRefused("helloworld-test", True, None, "6"))
    assert [(a.data_hash, a.resource_version) for a in again] == [(h(V1), "6")]
    assert run.feed(AdoptRefused("helloworld-test", True, h(V2), "7")) == []
    assert run.feed(AdoptRefused("helloworld-test", False)) == []
    assert run.patches() == []
