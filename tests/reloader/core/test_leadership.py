"""The decision core under leader election: journaling terms, and acting only on a fresh cache."""

from __future__ import annotations

from records import kinds as k
from reloader.core import (
    AdoptRefused,
    ConfigMapSeen,
    DeploymentSeen,
    EventType,
    LeaderObserved,
    LeadershipChanged,
    Listed,
    PatchSucceeded,
    Policy,
    Resource,
    initial_state,
    pending_restarts,
)
from reloader.core.replay import check
from tests.reloader.core.scenario import NS, V1, V2, V3, Run, cm, deploy, h, journal_of, started

LEASE = "helloworld-controller-leader"


def acquired(epoch: int = 4, **detail) -> LeadershipChanged:
    return LeadershipChanged(True, lease=LEASE, epoch=epoch, await_relist=True, detail=detail)


def relist(run: Run, resource: Resource, at: float) -> list:
    return run.feed(Listed(resource, "500", 1, initial=False, reason=k.RELIST_LEADER), at)


def standby(data=V1, applied=V1) -> Run:
    return Run.start(
        [cm("helloworld-config-test", data, rv="10")],
        [deploy("helloworld-test", h(applied))],
        policy=Policy(debounce_seconds=1.0),
        acting=False,
    )


def test_an_elected_term_is_journaled_from_acquired_to_released():
    run = standby()
    run.feed(acquired(4, previous_holder="helloworld-controller-1", acquire_latency_seconds=3.2))
    (record,) = run.records(k.LEADER_ACQUIRED)
    assert record.object == f"lease/{LEASE}"
    assert record.data == {
        "epoch": 4,
        "previous_holder": "helloworld-controller-1",
        "acquire_latency_seconds": 3.2,
        "await_relist": True,
    }
    run.feed(LeadershipChanged(False, lease=LEASE, epoch=4, reason="released"), at=5.0)
    (released,) = run.records(k.LEADER_RELEASED)
    assert released.data == {"epoch": 4, "reason": "released"}
    assert run.records(k.LEADER_LOST) == []


def test_a_lost_term_is_journaled_with_its_reason():
    run = standby()
    run.feed(acquired(2))
    run.feed(
        LeadershipChanged(
            False, lease=LEASE, epoch=2, reason="renew-deadline", detail={"seconds": 2.01}
        ),
        at=3.0,
    )
    (lost,) = run.records(k.LEADER_LOST)
    assert lost.data == {"epoch": 2, "reason": "renew-deadline", "seconds": 2.01}


def test_the_sole_actor_journals_no_leader_records():
    run = standby()
    run.feed(LeadershipChanged(True), at=1.0)
    assert not [kind for kind in run.kinds() if kind.startswith("leader.")]


def test_a_standby_journals_the_holder_it_observes():
    run = standby()
    run.feed(LeaderObserved(LEASE, "helloworld-controller-1", 7), at=1.0)
    (record,) = run.records(k.LEADER_OBSERVED)
    assert (record.object, record.data) == (
        f"lease/{LEASE}",
        {"holder": "helloworld-controller-1", "epoch": 7},
    )


def test_a_new_leader_decides_nothing_until_both_resources_were_listed_again():
    run = standby(data=V2, applied=V1)  # drift the old leader had not fixed
    mark = run.mark()
    run.feed(acquired(), at=5.0)
    assert run.state.leading and not run.state.acting
    assert run.patches(mark) == [] and pending_restarts(run.state) == 0
    relist(run, Resource.CONFIGMAPS, at=5.1)
    assert run.patches(mark) == [], "deployments not listed again yet"
    relist(run, Resource.DEPLOYMENTS, at=5.2)
    assert run.state.acting
    (patch,) = run.patches(mark)
    assert patch.deployment == "helloworld-test" and patch.data_hash == h(V2)
    scheduled = run.records(k.DEBOUNCE_SCHEDULED, mark)
    assert [r.data["reason"] for r in scheduled] == ["catch-up"]


def test_lists_made_for_other_reasons_do_not_count_as_fresh():
    run = standby(data=V2, applied=V1)
    run.feed(acquired(), at=5.0)
    for resource in (Resource.CONFIGMAPS, Resource.DEPLOYMENTS):
        run.feed(Listed(resource, "400", 1, initial=False, reason="resync"), at=5.1)
    assert not run.state.acting and run.patches() == []


def test_what_the_old_leader_patched_last_is_not_restarted_again():
    """The old leader's final patch reaches the new leader's cache only through the relist."""
    run = standby(data=V1, applied=V1)
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.run_until(11.5)  # the standby's own window fired: not the leader
    assert run.records(k.DEBOUNCE_SKIPPED)[-1].data["reason"] == "not-leader"
    mark = run.mark()
    run.feed(acquired(), at=12.0)
    relist(run, Resource.CONFIGMAPS, at=12.1)
    # The relist shows the Deployment already rolled to V2 by the old leader.
    run.feed(
        DeploymentSeen(
            EventType.MODIFIED, deploy("helloworld-test", h(V2), rv="12", generation=2), "relist"
        ),
        at=12.2,
    )
    relist(run, Resource.DEPLOYMENTS, at=12.2)
    assert run.state.acting
    run.run_until(60.0)
    assert run.patches(mark) == []


def test_a_change_seen_during_the_failover_restarts_once_in_its_own_chain():
    run = standby(data=V1, applied=V1)
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    chain = run.records(k.DEBOUNCE_SCHEDULED)[-1].correlation_id
    run.feed(acquired(), at=10.5)
    run.run_until(11.5)  # the window fires while the cache is not yet known fresh
    assert run.patches() == []
    relist(run, Resource.CONFIGMAPS, at=11.6)
    relist(run, Resource.DEPLOYMENTS, at=11.7)
    (patch,) = run.patches()
    assert patch.correlation_id == chain, "the catch-up continues the change's chain"
    run.feed(PatchSucceeded(patch.deployment, patch.correlation_id, 2), at=11.8)
    run.run_until(100.0)
    assert len(run.patches()) == 1


def test_losing_leadership_before_the_relists_came_in_leaves_nothing_behind():
    run = standby(data=V2, applied=V1)
    run.feed(acquired(), at=5.0)
    run.feed(LeadershipChanged(False, lease=LEASE, epoch=4, reason="renew-deadline"), at=6.0)
    assert not run.state.leading and run.state.awaiting == frozenset()
    relist(run, Resource.CONFIGMAPS, at=6.1)
    relist(run, Resource.DEPLOYMENTS, at=6.2)
    assert not run.state.acting and run.patches() == []
    assert run.records(k.RESTART_FAILED) == []


def test_a_second_acquisition_message_changes_nothing():
    run = standby(data=V2, applied=V1)
    run.feed(acquired(), at=5.0)
    relist(run, Resource.CONFIGMAPS, at=5.1)
    relist(run, Resource.DEPLOYMENTS, at=5.2)
    run.feed(acquired(), at=5.3)
    assert run.state.acting and len(run.patches()) == 1


def test_an_elected_run_replays_with_no_difference():
    run = standby(data=V1, applied=V1)
    run.feed(LeaderObserved(LEASE, "helloworld-controller-1", 3), at=1.0)
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.feed(acquired(4), at=10.5)
    run.run_until(11.5)
    relist(run, Resource.CONFIGMAPS, at=11.6)
    relist(run, Resource.DEPLOYMENTS, at=11.7)
    patch = run.patches()[-1]
    run.feed(PatchSucceeded(patch.deployment, patch.correlation_id, 2), at=11.8)
    run.feed(LeadershipChanged(False, lease=LEASE, epoch=4, reason="renew-deadline"), at=20.0)
    run.change(cm("helloworld-config-test", V1, rv="12"), at=21.0)
    run.run_until(30.0)
    assert list(check(journal_of(run, leader_election=True))) == []
    # Replayed as if it had acted without waiting, the catch-up comes at a different time.
    records = [
        r
        if r.kind != k.LEADER_ACQUIRED
        else type(r)(**{**r.__dict__, "data": {**r.data, "await_relist": False}})
        for r in journal_of(run, leader_election=True)
    ]
    assert list(check(records)) != []


def test_a_standby_never_adopts_not_even_at_a_resync():
    run = Run.start(
        [cm("helloworld-config-test", V1)],
        [deploy("helloworld-test", None)],
        policy=Policy(debounce_seconds=1.0, resync_seconds=10.0),
        acting=False,
    )
    for at in (5.0, 10.0, 15.0, 25.0):  # a standby has no resync timer; events still come
        run.tick(at)
    assert run.adoptions() == [] and run.patches() == []
    assert not [r for r in run.records(k.DEBOUNCE_SKIPPED) if r.data["reason"] == "adopted"]


def test_a_standby_does_not_send_a_refused_adoption_again():
    run = Run.start([cm("helloworld-config-test", V1)], [deploy("helloworld-test", None, rv="5")])
    [adoption] = run.adoptions()
    run.feed(LeadershipChanged(False), at=1.0)
    # The answer to the adoption it sent as leader comes in after the term ended.
    assert run.feed(AdoptRefused("helloworld-test", True, None, "6"), at=1.1) == []
    assert run.adoptions() == [adoption]


def test_leadership_gained_before_the_first_lists_are_in_decides_on_the_whole_lists():
    """A second ConfigMap of the Deployment not listed yet: deciding on the first
    alone would restart it with a hash that is not its desired one."""
    first, second = cm("helloworld-config-test", V1), cm("helloworld-extra-test", V2)
    both = Run.start([first, second], [deploy("helloworld-test", None)])
    [adoption] = both.adoptions()
    run = Run(initial_state(Policy(debounce_seconds=1.0), NS, acting=False))
    run.feed(DeploymentSeen(EventType.ADDED, deploy("helloworld-test", adoption.data_hash), "list"))
    run.feed(Listed(Resource.DEPLOYMENTS, "1", 1, initial=True))
    run.feed(ConfigMapSeen(EventType.ADDED, first, "list"))
    run.feed(LeadershipChanged(acting=True), at=1.0)
    run.feed(ConfigMapSeen(EventType.ADDED, second, "list"), at=1.1)
    run.feed(Listed(Resource.CONFIGMAPS, "2", 2, initial=True), at=1.2)
    run.run_until(100.0)
    assert run.state.acting and run.state.synced
    assert run.patches() == [] and run.adoptions() == []


def test_losing_leadership_gives_up_queued_restarts_and_a_new_term_decides_afresh():
    run = started(restart_rate_per_second=0.1, restart_burst=1)
    run.feed(DeploymentSeen(EventType.ADDED, deploy("helloworld-test-b", h(V1), env="test")))
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.tick(11.0)  # helloworld-test goes; helloworld-test-b waits for a token
    assert [r.deployment[2] for r in run.state.queue] == ["helloworld-test-b"]
    run.feed(LeadershipChanged(False), at=12.0)
    assert run.state.queue == () and pending_restarts(run.state) == 1  # the patch in flight
    [failed] = run.records(k.RESTART_FAILED)
    assert (failed.object, failed.data["reason"]) == ("deployment/helloworld-test-b", "not-leader")
    run.change(cm("helloworld-config-test", V3, rv="12"), at=13.0)
    run.run_until(15.0)
    mark = run.mark()
    run.feed(LeadershipChanged(True), at=30.0)
    # The new term restarts with the data of now, not with what the old queue held.
    assert [(p.deployment, p.data_hash) for p in run.patches(mark)] == [
        ("helloworld-test-b", h(V3))
    ]
