"""After SIGTERM: pending work is flushed, and nothing new is started."""

from __future__ import annotations

from records import kinds as k
from reloader.core import (
    ConfigMapSeen,
    DeploymentSeen,
    EventType,
    FlushDeadline,
    LeadershipChanged,
    Listed,
    PatchSucceeded,
    Resource,
    ShutdownRequested,
    flush_complete,
)
from tests.reloader.core.scenario import V1, V2, V3, Run, cm, deploy, h, started


def test_a_deployment_drifting_after_sigterm_is_not_caught_up_nor_resynced():
    run = started(resync_seconds=10.0)
    run.feed(ShutdownRequested("SIGTERM"), at=1.0)
    run.feed(DeploymentSeen(EventType.MODIFIED, deploy("helloworld-test", "tampered", rv="5")))
    run.run_until(1000.0)
    run.tick(1010.0)  # past the resync that was due: a tick for any other reason
    assert run.patches() == [] and run.adoptions() == []
    assert flush_complete(run.state)


def test_a_relist_after_sigterm_starts_no_restart():
    run = started()
    run.feed(ShutdownRequested("SIGTERM"), at=1.0)
    run.feed(
        ConfigMapSeen(EventType.MODIFIED, cm("helloworld-config-test", V2, rv="20"), "relist"),
        at=2.0,
    )
    run.feed(Listed(Resource.CONFIGMAPS, "20", 1, initial=False, reason="expired", modified=1))
    run.run_until(1000.0)
    assert run.patches() == [] and run.records(k.DEBOUNCE_SCHEDULED) == []
    assert flush_complete(run.state)


def test_leadership_gained_after_sigterm_catches_nothing_up():
    run = Run.start(
        [cm("helloworld-config-test", V2)], [deploy("helloworld-test", h(V1))], acting=False
    )
    run.feed(ShutdownRequested("SIGTERM"), at=1.0)
    run.feed(LeadershipChanged(acting=True), at=2.0)
    run.run_until(1000.0)
    assert run.patches() == [] and run.adoptions() == []


def test_sigterm_does_not_send_a_patch_in_flight_again():
    """Only restarts waiting in backoff are retried at once; a patch awaiting its
    answer is settled by that answer."""
    run = started()
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.tick(11.0)
    [patch] = run.patches()
    run.feed(ShutdownRequested("SIGTERM"), at=11.5)
    assert run.patches() == [patch]
    run.feed(PatchSucceeded(patch.deployment, patch.correlation_id, 2), at=11.6)
    assert flush_complete(run.state)
    assert len(run.records(k.RESTART_PLANNED)) == 1


def test_the_flush_deadline_also_drops_a_restart_queued_behind_a_patch_in_flight():
    run = started()
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.tick(11.0)
    [patch] = run.patches()
    run.change(cm("helloworld-config-test", V3, rv="12"), at=11.5)
    run.feed(ShutdownRequested("SIGTERM"), at=12.0)  # V3 waits for the V2 patch's answer
    assert run.patches() == [patch] and len(run.state.queue) == 1
    run.feed(FlushDeadline(), at=30.0)
    dropped = run.records(k.RESTART_DROPPED)
    assert [r.data["data_hash"] for r in dropped] == [h(V3), h(V2)]
    assert flush_complete(run.state)
    run.feed(PatchSucceeded(patch.deployment, patch.correlation_id, 2), at=31.0)  # too late
    assert run.patches() == [patch]
