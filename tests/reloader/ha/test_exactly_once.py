"""Exactly once across a crash mid-patch: SIGKILL between ``restart.planned`` and the answer.

The API holds every Deployment PATCH for a second or two (the test server's
latency fault), so a controller killed right after journaling
``restart.planned`` leaves its patch in flight. The restarted process lists the
Deployment before that patch lands, sees the old applied hash and plans the
same restart again. Every write is conditional on the state it was decided on,
so of the two patches at most one lands; the other is refused, the controller
re-reads the Deployment, finds the hash applied and journals
``restart.superseded`` instead of rolling a second time.
"""

from __future__ import annotations

import signal

import pytest

from tests.reloader.e2e.harness import NS, applied_hash, set_data, wait_for
from tests.reloader.ha.cluster import LEASE, adopted, kill, leadz, pairs, wait_serving

pytestmark = pytest.mark.slow

KILLS = 8
# Longer than a restarted controller takes to list on a loaded machine, so
# that it decides before the killed process's patch lands (the race itself).
PATCH_LATENCY = 2.0


def hash_of(value: str) -> str:
    from reloader.core import data_hash

    return data_hash({"MESSAGE": value}, None)


def rolled_hashes(kube, deployment: str) -> list[str]:
    """The config hash of every rollout of a Deployment (its pod-template revisions)."""
    return [
        revision.annotations.get("shipshape.io/config-hash", "")
        for revision in kube.revisions(deployment, NS)[1:]
    ]


def settled_on(controller, kube, dep: str, digest: str, started_seq: int) -> bool:
    """The restarted process has decided on ``digest`` and nothing is pending or in flight."""
    if applied_hash(kube, dep) != digest:
        return False
    if controller.metric("configmap_reload_pending_restarts") != 0:
        return False
    after = [r for r in controller.records() if r.seq > started_seq]
    planned = [
        r for r in after if r.kind == "restart.planned" and r.data.get("data_hash") == digest
    ]
    answered = [
        r
        for r in after
        if r.kind in ("restart.patched", "restart.superseded", "restart.failed")
        and r.data.get("data_hash") == digest
    ]
    return not planned or bool(answered)


def test_sigkill_between_planned_and_the_patch_answer_rolls_each_change_once(kube, replicas):
    [(cm, dep)] = pairs(kube, ["test"])
    group = replicas(1, LEADER_ELECTION_ENABLED="false", RESYNC_SECONDS="30")
    [controller] = group.all
    group.start()
    wait_for(lambda: adopted(kube, [dep]), "the adoption", timeout=20)
    kube.add_latency(PATCH_LATENCY, verb="patch", resource="deployments")

    values = [f"change {i}" for i in range(KILLS)]
    kills = 0
    for value in values:
        digest = hash_of(value)
        set_data(kube, cm, {"MESSAGE": value})
        controller.wait_record(
            lambda r, d=digest: r.kind == "restart.planned" and r.data.get("data_hash") == d,
            "restart.planned",
            timeout=20,
        )
        # The patch is on its way and held by the API: kill before its answer.
        assert applied_hash(kube, dep) != digest, "the patch answered before the kill"
        kill(controller, signal.SIGKILL)
        kills += 1
        started_seq = max((r.seq for r in controller.records()), default=0)
        controller.start(ready=False)
        wait_serving(controller)
        wait_for(
            lambda d=digest, s=started_seq: settled_on(controller, kube, dep, d, s),
            "the restarted controller to settle on the change",
            timeout=30,
            interval=0.1,
        )

    hashes = rolled_hashes(kube, dep)
    wanted = [hash_of(value) for value in values]
    # A restart answered by re-reading the Deployment (superseded) settles
    # before the watch event of the patch that landed is journaled: wait for it.
    controller.wait_record(
        lambda r: r.kind == "deployment.observed" and r.data.get("applied_hash") == wanted[-1],
        "deployment.observed of the last change",
        timeout=20,
    )
    records = controller.records()
    patched = [
        r for r in records if r.kind == "restart.patched" and r.data.get("confirmed_by") != "watch"
    ]
    superseded = [r for r in records if r.kind == "restart.superseded"]
    planned = [r for r in records if r.kind == "restart.planned"]
    # The applied hashes the controller watched the Deployment go through, in order.
    applied_seen: list[str] = []
    for r in records:
        digest = r.data.get("applied_hash") if r.kind == "deployment.observed" else None
        if digest in wanted and applied_seen[-1:] != [digest]:
            applied_seen.append(digest)
    print(
        f"\nexactly-once chaos: kills={kills} changes={len(values)} "
        f"rollouts={len(hashes)} distinct={len(set(hashes))} "
        f"duplicates={len(hashes) - len(set(hashes))} planned={len(planned)} "
        f"patched={len(patched)} superseded={len(superseded)}"
    )
    assert kills >= 8
    assert hashes == wanted, "every change rolls out exactly once, in order"
    # The journal agrees: each hash was applied once, never patched twice.
    assert applied_seen == wanted
    for digest in wanted:
        assert len([r for r in patched if r.data["data_hash"] == digest]) <= 1
    for record in superseded:
        assert record.data["applied_hash"] == record.data["planned_hash"]
        assert record.data["reason"] == "already-applied"
        assert any(
            p.correlation_id == record.correlation_id and p.kind == "restart.planned"
            for p in planned
        )
    assert superseded, "no restarted process planned before the old patch landed"


def test_a_lease_deleted_while_every_replica_was_down_does_not_start_its_terms_again(
    kube, replicas
):
    """The Lease counts terms; created anew it counts from 0. Replicas started after
    that must not lead term 0 a second time: the merged journals would show two
    leaders of one term (a split brain that never was). They number on from the
    highest term their journals name."""
    group = replicas(2)
    group.start()
    first = group.wait_agreed_leader()
    epoch = leadz(first)["epoch"]
    for replica in group:
        assert replica.stop() == 0
    kube.delete("leases", LEASE, NS)
    group.start()
    second = group.wait_agreed_leader()
    assert leadz(second)["epoch"] == epoch + 1
    assert group.lease()["spec"]["leaseTransitions"] == epoch + 1
    for replica in group:
        assert replica.stop() == 0
    report = group.replay("--strict")
    assert report["anomalies"] == []
    assert [(t["actor"], t["epoch"]) for t in report["leader_terms"]] == [
        (first.name, epoch),
        (second.name, epoch + 1),
    ]
