"""Leadership under a hostile world: the Lease edited or deleted by hand, renewals that race
the deadline, three replicas paused one after the other.

Each test counts rollouts per change, replays every replica's journal merged
(no two leaders at once, no duplicate rollout) and checks that ``/leadz`` and
the leadership metrics agree on every replica.
"""

from __future__ import annotations

import json
import signal
import time

import pytest

from tests.reloader.e2e.harness import NS, restarts, set_data, wait_for
from tests.reloader.ha.cluster import LEASE, anomalies, leadz
from tests.reloader.ha.test_chaos import STORM, hash_of, start_group, wait_settled

pytestmark = pytest.mark.slow

DUPLICATES = (*STORM, "duplicate_rollout")


def revision_hashes(kube, dep: str) -> list[str]:
    return [r.annotations.get("shipshape.io/config-hash", "") for r in kube.revisions(dep, NS)[1:]]


def views_agree(group) -> bool:
    """Every running replica's ``/leadz`` names one leader, which alone reports leader_state 1."""
    leader = group.agreed_leader()
    if leader is None:
        return False
    for replica in group.running:
        state = replica.metric("configmap_reload_leader_state")
        if state != (1 if replica is leader else 0):
            return False
    return True


def wait_agreement(group, timeout: float = 15.0):
    wait_for(lambda: views_agree(group), "/leadz and the metrics to agree", timeout)
    return group.agreed_leader()


def test_a_lease_deleted_by_hand_mid_term_keeps_one_leader_and_one_rollout(kube, cluster, replicas):
    group, leader, [(cm, dep)] = start_group(kube, replicas)
    epoch = leadz(leader)["epoch"]
    cluster.kubectl("-n", NS, "delete", "lease", LEASE)
    digest = hash_of("after the deletion")
    set_data(kube, cm, {"MESSAGE": "after the deletion"})
    wait_for(lambda: restarts(kube, dep) == 1, "the restart", timeout=15)
    wait_for(lambda: group.lease() != {}, "the Lease to be created again", timeout=10)
    now = wait_agreement(group)
    wait_settled(now)
    assert revision_hashes(kube, dep) == [digest]
    assert leadz(now)["epoch"] >= epoch
    assert group.lease()["spec"]["holderIdentity"] == now.name
    report = group.replay()
    assert anomalies(report, *DUPLICATES) == []
    epochs = [t["epoch"] for t in report["leader_terms"]]
    assert epochs == sorted(epochs) and len(set(epochs)) == len(epochs), epochs


def test_a_lease_handed_to_a_stranger_by_hand_is_waited_out_then_taken_in_a_new_term(
    kube, cluster, replicas
):
    group, leader, [(cm, dep)] = start_group(kube, replicas)
    epoch = leadz(leader)["epoch"]
    edited_wall = time.time()
    cluster.kubectl(
        "-n",
        NS,
        "patch",
        "lease",
        LEASE,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"holderIdentity": "a-stranger"}}),
    )
    wait_for(lambda: not leadz(leader)["is_leader"], "the leader to step down", timeout=5)
    # /leadz tells the elector's view at once; the loss reaches the journal
    # through the reconcile loop, a step and a commit later.
    wait_for(lambda: leader.records({"leader.lost"}), "the leader to journal its loss", timeout=5)
    [lost] = leader.records({"leader.lost"})
    assert lost.data["reason"] in ("taken-over", "lease-changed")
    digest = hash_of("while a stranger holds it")
    set_data(kube, cm, {"MESSAGE": "while a stranger holds it"})
    now = wait_agreement(group, timeout=20)
    wait_for(lambda: restarts(kube, dep) == 1, "the restart by the next leader", timeout=15)
    wait_settled(now)
    assert leadz(now)["epoch"] > epoch
    assert revision_hashes(kube, dep) == [digest]
    [acquired] = [
        r for r in now.records({"leader.acquired"}) if r.data["epoch"] == leadz(now)["epoch"]
    ]
    assert acquired.data["previous_holder"] == "a-stranger"
    # Nobody patched while the stranger held the Lease.
    patches = [
        r
        for r in kube.requests(verb="patch", resource="deployments")
        if r.at >= edited_wall and r.status == 200
    ]
    assert len(patches) == 1 and patches[0].client == now.client
    report = group.replay()
    assert anomalies(report, *DUPLICATES) == []


def test_renewals_slower_than_the_deadline_never_let_two_replicas_act(kube, replicas):
    group, leader, [(cm, dep)] = start_group(kube, replicas)
    # Every Lease write of the leader takes longer than the renew deadline's margin.
    kube.add_latency(1.6, seconds=8.0, verb="update", resource="leases", client=leader.client)
    values = [f"racing {i}" for i in range(3)]
    for value in values:
        set_data(kube, cm, {"MESSAGE": value})
        wait_for(
            lambda v=value: revision_hashes(kube, dep)[-1:] == [hash_of(v)],
            f"the restart for {value}",
            timeout=20,
        )
    now = wait_agreement(group, timeout=20)
    wait_settled(now)
    assert revision_hashes(kube, dep) == [hash_of(v) for v in values]
    report = group.replay()
    assert anomalies(report, *DUPLICATES) == []
    for replica in group:
        transitions = replica.metric("configmap_reload_leader_transitions_total")
        journaled = replica.records({"leader.acquired", "leader.lost", "leader.released"})
        assert transitions == len(journaled), replica.name


def test_three_replicas_whose_leaders_are_paused_in_turn_roll_each_change_once(kube, replicas):
    group, first, [(cm, dep)] = start_group(kube, replicas, count=3)
    first.process.send_signal(signal.SIGSTOP)
    paused = [first]
    try:
        set_data(kube, cm, {"MESSAGE": "one"})
        second = group.wait_leader(exclude=paused, timeout=15)
        wait_for(lambda: restarts(kube, dep) == 1, "the first restart", timeout=15)
        second.process.send_signal(signal.SIGSTOP)
        paused.append(second)
        set_data(kube, cm, {"MESSAGE": "two"})
        third = group.wait_leader(exclude=paused, timeout=15)
        wait_for(lambda: restarts(kube, dep) == 2, "the second restart", timeout=15)
    finally:
        for replica in paused:
            replica.process.send_signal(signal.SIGCONT)
    now = wait_agreement(group, timeout=20)
    assert now is third
    wait_settled(third)
    set_data(kube, cm, {"MESSAGE": "three"})
    wait_for(lambda: restarts(kube, dep) == 3, "the third restart", timeout=15)
    time.sleep(1.0)
    assert revision_hashes(kube, dep) == [hash_of(v) for v in ("one", "two", "three")]
    report = group.replay()
    assert anomalies(report, *DUPLICATES) == []
    epochs = [t["epoch"] for t in report["leader_terms"]]
    assert epochs == sorted(epochs), epochs
