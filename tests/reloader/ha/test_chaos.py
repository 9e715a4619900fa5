"""Chaos tests: real ``shipshape-controller`` replicas electing a leader through a Lease.

Each replica is a subprocess with its own journal and its own API client, so
faults can target one replica's requests. Lease 3 s, renew deadline 2 s,
retry period 1 s (whole seconds are required). The tests assert counts (one
restart per change, one acting leader at a time, checked by replaying every
replica's journal merged) and only the failover-time contracts, each with a
margin for a loaded machine.
"""

from __future__ import annotations

import random
import signal
import time

import pytest

from tests.reloader.e2e.harness import NS, ReadOnly, restarts, set_data, wait_for
from tests.reloader.ha.cluster import (
    LEASE_SECONDS,
    RENEW_SECONDS,
    RETRY_SECONDS,
    adopted,
    anomalies,
    kill,
    leadz,
    pairs,
    wait_serving,
)

pytestmark = pytest.mark.slow

# Slack for a loaded 2-core machine on top of each failover contract.
MARGIN = 1.0
STORM = ("overlapping_leaders", "restart_without_change")


def config_hashes(kube, deployment: str) -> list[str]:
    """The config hash of every restart of a Deployment (its pod-template revisions)."""
    return [
        revision.annotations.get("shipshape.io/config-hash", "")
        for revision in kube.revisions(deployment, NS)[1:]
    ]


def observed(replica, value_hash: str) -> bool:
    return any(
        r.data.get("data_hash") == value_hash for r in replica.records({"configmap.observed"})
    )


def not_leader_skips(replica) -> int:
    """How many windows ``replica`` closed as a standby (``debounce.skipped``, ``not-leader``)."""
    skipped = replica.records({"debounce.skipped"})
    return len([r for r in skipped if r.data.get("reason") == "not-leader"])


def settled(replica) -> bool:
    """The leader caught up since its last acquisition, and nothing is pending on it."""
    records = replica.records()
    acquired = [r.seq for r in records if r.kind == "leader.acquired"]
    if not acquired:
        return False
    relisted = {
        r.data.get("resource")
        for r in records
        if r.seq > acquired[-1]
        and r.kind in ("watch.started", "watch.relisted")
        and r.data.get("reason") == "leader"
    }
    return relisted >= {"configmaps", "deployments"} and (
        replica.metric("configmap_reload_pending_restarts") == 0
    )


def wait_settled(replica, timeout: float = 20.0) -> None:
    wait_for(lambda: settled(replica), f"{replica.name} to settle", timeout, interval=0.1)


def start_group(kube, replicas, count=2, envs=("test",), **env):
    made = pairs(kube, envs)
    group = replicas(count, **env)
    group.start()
    leader = group.wait_agreed_leader()
    wait_for(lambda: adopted(kube, [dep for _, dep in made]), "the adoption of every Deployment")
    return group, leader, made


def hash_of(value: str) -> str:
    from reloader.core import data_hash

    return data_hash({"MESSAGE": value}, None)


# 1 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [2, 3])
def test_exactly_one_leader_the_others_ready_503_and_naming_it(kube, replicas, count):
    group, leader, [(cm, dep)] = start_group(kube, replicas, count)
    standbys = [r for r in group if r is not leader]
    epoch = leadz(leader)["epoch"]
    assert leader.get("/readyz")[0] == 200
    assert leader.metric("configmap_reload_leader_state") == 1
    for standby in standbys:
        status, body = standby.get_json("/readyz")
        assert status == 503 and "not the leader" in body["reasons"]
        assert leadz(standby) == {
            "identity": standby.name,
            "leader": leader.name,
            "is_leader": False,
            "epoch": epoch,
        }
        assert standby.metric("configmap_reload_leader_state") == 0
    for replica in group:
        status, health = replica.get_json("/healthz")
        assert status == 200, "standbys are live, only not ready"
        assert health["loops"]["elector"]["ok"] is True
    spec = group.lease()["spec"]
    assert (spec["holderIdentity"], spec["leaseTransitions"]) == (leader.name, epoch)
    wait_for(
        lambda: group.lease()["spec"]["renewTime"] != spec["renewTime"], "a renewal", timeout=5
    )

    set_data(kube, cm, {"MESSAGE": "one change"})
    wait_for(lambda: restarts(kube, dep) == 1, "the restart", timeout=10)
    wait_settled(leader)
    for standby in standbys:
        wait_for(lambda s=standby: observed(s, hash_of("one change")), "the standby's view")
        assert standby.metric("configmap_reload_pending_restarts") == 0
    assert restarts(kube, dep) == 1
    assert {r.actor for r in kube.revisions(dep, NS)[1:]} == {leader.client}
    for standby in standbys:
        # The standby's own window closes as the leader's does; its record
        # needs no patch, so it is committed with the next group (250 ms).
        wait_for(
            lambda s=standby: not_leader_skips(s) > 0, "the standby's window to close", timeout=5
        )
        assert kube.requests(client=standby.client, verb="patch") == []
        assert kube.requests(client=standby.client, verb="update") == []
        assert standby.records({"restart.planned", "restart.patched"}) == []
        [seen] = standby.records({"leader.observed"})
        assert seen.data == {"holder": leader.name, "epoch": epoch}
        reasons = {r.data["reason"] for r in standby.records({"debounce.skipped"})}
        assert reasons == {"not-leader"}
    leader_actions = leader.records({"restart.planned", "restart.patched"})
    assert leader_actions and {r.leader_epoch for r in leader_actions} == {epoch}
    assert group.leaders() == [leader]
    report = group.replay("--strict")
    assert report["anomalies"] == []
    assert [(t["actor"], t["epoch"]) for t in report["leader_terms"]] == [(leader.name, epoch)]
    # Every replica journaled the change's watch event: one clock (this
    # machine's), so the nearest of their records are well within a second.
    offsets = report["clock_offsets"]
    assert len(offsets) == count * (count - 1) // 2
    assert all(abs(offset["nearest_seconds"]) < 1.0 for offset in offsets), offsets
    assert group.check() == []


# 2 -------------------------------------------------------------------------------------


def test_sigkill_the_leader_a_standby_leads_in_time_and_the_last_change_restarts_once(
    kube, replicas
):
    # DEBOUNCE_SECONDS=2: the contract "a change during a failover restarts within
    # DEBOUNCE_SECONDS + lease duration" assumes the debounce is not much shorter
    # than the retry period's jitter (the defaults: 5 s and 2 s).
    debounce = 2.0
    group, leader, [(cm, dep)] = start_group(kube, replicas, DEBOUNCE_SECONDS=str(debounce))
    [standby] = [r for r in group if r is not leader]
    epoch = leadz(leader)["epoch"]

    set_data(kube, cm, {"MESSAGE": "just before the kill"})
    changed_at = time.monotonic()
    wait_for(lambda: observed(leader, hash_of("just before the kill")), "the leader to see it")
    killed_at = kill(leader)
    assert group.wait_leader(timeout=15) is standby
    took_over = time.monotonic() - killed_at
    assert took_over <= LEASE_SECONDS + 2 * RETRY_SECONDS + MARGIN, f"{took_over:.2f} s"
    wait_for(lambda: restarts(kube, dep) == 1, "the restart", timeout=15, interval=0.01)
    latency = time.monotonic() - changed_at
    assert latency <= debounce + LEASE_SECONDS + MARGIN, f"restarted {latency:.2f} s later"
    wait_settled(standby)
    assert restarts(kube, dep) == 1
    assert [r.actor for r in kube.revisions(dep, NS)[1:]] == [standby.client]
    assert leadz(standby)["epoch"] == epoch + 1
    report = group.replay()
    assert anomalies(report, *STORM) == []
    assert [(t["actor"], t["epoch"], t["end_reason"]) for t in report["leader_terms"]] == [
        (leader.name, epoch, "superseded"),
        (standby.name, epoch + 1, None),
    ]
    assert group.check() == []


# 3 -------------------------------------------------------------------------------------


def test_sigterm_the_leader_flushes_releases_and_a_standby_leads_within_a_retry_period(
    kube, replicas
):
    group, leader, [(cm, dep)] = start_group(kube, replicas, DEBOUNCE_SECONDS="5")
    [standby] = [r for r in group if r is not leader]
    epoch = leadz(leader)["epoch"]
    set_data(kube, cm, {"MESSAGE": "pending at SIGTERM"})
    wait_for(lambda: observed(leader, hash_of("pending at SIGTERM")), "the leader to see it")
    stopped_at = kill(leader, signal.SIGTERM)
    assert group.wait_leader(exclude=[leader], timeout=10) is standby
    took_over = time.monotonic() - stopped_at
    assert took_over <= RETRY_SECONDS + 1.0 + MARGIN / 2, f"{took_over:.2f} s"
    assert leader.process.wait(30) == 0

    kinds = [r.kind for r in leader.records()]
    assert kinds[-2:] == ["leader.released", "controller.stopped"]
    assert (
        kinds.index("restart.flushed")
        < kinds.index("restart.patched")
        < kinds.index("leader.released")
    )
    [released] = leader.records({"leader.released"})
    assert released.data["lease_cleared"] is True and released.data["epoch"] == epoch
    spec = group.lease()["spec"]
    assert (spec["holderIdentity"], spec["leaseTransitions"]) == (standby.name, epoch + 1)
    wait_settled(standby)
    assert restarts(kube, dep) == 1, "flushed by the old leader, not repeated by the new"
    assert [r.actor for r in kube.revisions(dep, NS)[1:]] == [leader.client]
    report = group.replay("--strict")
    assert report["anomalies"] == []
    assert [(t["actor"], t["end_reason"]) for t in report["leader_terms"]] == [
        (leader.name, "released"),
        (standby.name, None),
    ]
    assert group.check() == []


def test_a_new_leader_whose_cache_lags_does_not_restart_what_the_old_one_flushed(kube, replicas):
    group, leader, [(cm, dep)] = start_group(kube, replicas, DEBOUNCE_SECONDS="5")
    [standby] = [r for r in group if r is not leader]
    set_data(kube, cm, {"MESSAGE": "flushed at SIGTERM"})
    for replica in group:
        wait_for(lambda r=replica: observed(r, hash_of("flushed at SIGTERM")), "both to see it")
    # The standby's view of Deployments falls 2.5 s behind: it will not see the
    # old leader's flush patch before it takes over.
    kube.add_latency(
        2.5, seconds=4.0, verb=["watch", "list"], resource="deployments", client=standby.client
    )
    kube.cut_watches(client=standby.client, resource="deployments")
    kill(leader, signal.SIGTERM)
    assert group.wait_leader(exclude=[leader], timeout=10) is standby
    assert leader.process.wait(30) == 0
    wait_for(lambda: restarts(kube, dep) == 1, "the flushed restart")
    wait_settled(standby)
    assert restarts(kube, dep) == 1, "the new leader decided from a stale cache"
    assert [r.actor for r in kube.revisions(dep, NS)[1:]] == [leader.client]
    acquired = standby.records({"leader.acquired"})[-1]
    relisted = [
        r
        for r in standby.records({"watch.relisted"})
        if r.seq > acquired.seq and r.data["reason"] == "leader"
    ]
    assert {r.data["resource"] for r in relisted} == {
        "configmaps",
        "deployments",
        "statefulsets",
        "daemonsets",
    }
    assert anomalies(group.replay(), *STORM) == []


# 4 -------------------------------------------------------------------------------------


def test_a_leader_cut_off_from_the_api_stops_acting_and_never_patches_with_a_stale_lease(
    kube, replicas
):
    group, leader, made = start_group(kube, replicas, envs=("test", "prod"))
    [(cm_test, dep_test), (cm_prod, dep_prod)] = made
    [standby] = [r for r in group if r is not leader]
    epoch = leadz(leader)["epoch"]
    # A change the leader sees, then the cut inside its debounce window.
    set_data(kube, cm_test, {"MESSAGE": "before the cut"})
    wait_for(lambda: observed(leader, hash_of("before the cut")), "the leader to see it")
    cut_at = time.monotonic()
    cut_wall = time.time()
    partition = 8.0
    kube.partition(leader.client, seconds=partition, mode="hang")
    wait_for(lambda: not leadz(leader)["is_leader"], "the cut-off leader to stop", timeout=5)
    stopped = time.monotonic() - cut_at
    assert stopped <= RENEW_SECONDS + MARGIN / 2, f"still acting {stopped:.2f} s after the cut"
    assert leader.get("/readyz")[0] == 503
    assert group.wait_leader(exclude=[leader], timeout=10) is standby
    # A change during the partition: only the new leader can see it.
    set_data(kube, cm_prod, {"MESSAGE": "during the cut"})
    wait_for(
        lambda: restarts(kube, dep_test) == 1 and restarts(kube, dep_prod) == 1,
        "both restarts by the new leader",
        timeout=15,
    )
    # The partition heals: the old leader becomes a standby naming the new one.
    wait_for(
        lambda: (leadz(leader) or {}).get("leader") == standby.name,
        "the old leader to see the new one",
        timeout=partition + 10,
    )
    wait_for(lambda: observed(leader, hash_of("during the cut")), "the old leader to catch up")
    wait_settled(standby)
    assert not leadz(leader)["is_leader"] and leader.metric("configmap_reload_leader_state") == 0
    assert restarts(kube, dep_test) == 1 and restarts(kube, dep_prod) == 1
    for dep in (dep_test, dep_prod):
        assert [r.actor for r in kube.revisions(dep, NS)[1:]] == [standby.client]
    late = [
        r
        for r in kube.requests(client=leader.client, verb="patch")
        if r.at >= cut_wall and r.status != 0
    ]
    assert late == [], "the old leader's patches after the cut were never served"
    [lost] = leader.records({"leader.lost"})
    assert (lost.data["epoch"], lost.data["reason"]) == (epoch, "renew-deadline")
    stale = [
        r
        for r in leader.records({"restart.planned", "restart.patched"})
        if r.leader_epoch == epoch and r.ts > lost.ts
    ]
    assert stale == []
    report = group.replay()
    assert anomalies(report, *STORM) == []
    terms = [(t["actor"], t["epoch"], t["end_reason"]) for t in report["leader_terms"]]
    assert terms == [(leader.name, epoch, "lost"), (standby.name, epoch + 1, None)]
    assert group.check() == []


def test_a_patch_decided_while_leading_is_fenced_once_the_lease_is_stale(kube, replicas):
    """The leader decides a restart, cannot journal it (so cannot send it), loses its Lease;
    when its journal recovers the held patch must not go out: the new leader owns it."""
    group, leader, [(cm, dep)] = start_group(kube, replicas)
    [standby] = [r for r in group if r is not leader]
    changed_wall = time.time()
    with ReadOnly(leader.journal_path):
        set_data(kube, cm, {"MESSAGE": "decided, then fenced"})
        wait_for(
            lambda: leader.metric("configmap_reload_journal_backlog") >= 3,
            "the planned restart held for the journal",
        )
        # Its Lease requests fail from now on (its patches would still go through).
        rule = kube.fail(500, resource="leases", client=leader.client)
        wait_for(lambda: not leadz(leader)["is_leader"], "the leader to stop", timeout=5)
        assert group.wait_leader(exclude=[leader], timeout=10) is standby
        wait_for(lambda: restarts(kube, dep) == 1, "the new leader's restart", timeout=10)
    # Writable again: the old leader's records go out, its held patch is
    # fenced and, its term being over, given up for the new leader at once.
    fenced = leader.wait_record(
        lambda r: r.kind == "restart.failed" and r.data["reason"] == "not-leader",
        "the fenced patch given up",
        timeout=15,
    )
    assert fenced.leader_epoch is None
    assert not [r for r in leader.records({"restart.retry"}) if r.seq > fenced.seq]
    kube.remove_fault(rule)
    wait_for(lambda: leadz(leader)["leader"] == standby.name, "the old leader to see the new")
    wait_settled(standby)
    assert restarts(kube, dep) == 1
    assert [r.actor for r in kube.revisions(dep, NS)[1:]] == [standby.client]
    sent = [r for r in kube.requests(client=leader.client, verb="patch") if r.at >= changed_wall]
    assert sent == [], "a patch went out on a stale lease"
    assert leader.metric("configmap_reload_pending_restarts") == 0
    assert anomalies(group.replay(), *STORM) == []
    assert group.check() == []


# 5 -------------------------------------------------------------------------------------


def test_lease_conflicts_and_server_error_bursts_during_renewal(kube, replicas):
    # A longer renew deadline than the other tests: short bursts must cost nothing.
    group, leader, _ = start_group(
        kube,
        replicas,
        LEADER_ELECTION_LEASE_DURATION_SECONDS="5",
        LEADER_ELECTION_RENEW_DEADLINE_SECONDS="4",
    )
    [standby] = [r for r in group if r is not leader]
    epoch = leadz(leader)["epoch"]
    for status in (409, 409, 503, 500):
        rule = kube.fail(status, count=1, verb="update", resource="leases", client=leader.client)
        wait_for(lambda r=rule: r.hits == 1, f"a {status} on a renewal", timeout=5)
    renewed = group.lease()["spec"]["renewTime"]
    wait_for(lambda: group.lease()["spec"]["renewTime"] != renewed, "a renewal after the bursts")
    assert group.leaders() == [leader] and leadz(leader)["epoch"] == epoch
    assert leader.records({"leader.lost"}) == [] and standby.records({"leader.acquired"}) == []
    errors = "configmap_reload_errors_total"
    assert leader.metric(errors, {"operation": "lease", "reason": "conflict"}) == 2
    assert leader.metric(errors, {"operation": "lease", "reason": "server-error"}) == 2
    assert leader.metric("configmap_reload_leader_transitions_total") == 1

    # A burst longer than the renew deadline: leadership is lost, never shared.
    burst_at = time.monotonic()
    kube.fail(500, seconds=7.0, resource="leases", client=leader.client)
    wait_for(lambda: not leadz(leader)["is_leader"], "the leader to stop", timeout=8)
    assert time.monotonic() - burst_at <= 4 + MARGIN / 2
    assert group.wait_leader(exclude=[leader], timeout=12) is standby
    wait_for(
        lambda: leadz(leader)["leader"] == standby.name, "the old leader to see the new", timeout=12
    )
    [lost] = leader.records({"leader.lost"})
    assert lost.data["reason"] == "renew-deadline"
    assert leader.metric("configmap_reload_leader_transitions_total") == 2
    report = group.replay()
    assert anomalies(report, "overlapping_leaders") == []
    assert [(t["actor"], t["end_reason"]) for t in report["leader_terms"]] == [
        (leader.name, "lost"),
        (standby.name, None),
    ]


# 6 -------------------------------------------------------------------------------------


def test_ten_leader_kills_while_configmaps_change_restart_once_per_change(kube, replicas):
    group, leader, made = start_group(kube, replicas, envs=("test", "prod"))
    expected = {dep: 0 for _, dep in made}
    for i in range(10):
        cm, dep = made[i % 2]
        value = f"change {i}"
        set_data(kube, cm, {"MESSAGE": value})
        expected[dep] += 1
        moment = i % 3
        if moment == 1:  # the leader has seen it, its window is open
            wait_for(lambda v=value, r=leader: observed(r, hash_of(v)), "the leader to see it")
        elif moment == 2:  # the restart is done
            wait_for(lambda d=dep: restarts(kube, d) == expected[d], "the restart", timeout=10)
        kill(leader)
        if i % 2:
            # Back at once: once the Lease expires it races the standby for it.
            leader.start(ready=False)
            wait_serving(leader)
            successor = group.wait_leader(timeout=15)
        else:
            successor = group.wait_leader(exclude=[leader], timeout=15)
            leader.start(ready=False)
            wait_serving(leader)
        wait_for(lambda d=dep: restarts(kube, d) == expected[d], "the change's restart", timeout=15)
        leader = successor
    wait_settled(leader)
    for _, dep in made:
        assert restarts(kube, dep) == expected[dep] == 5
        hashes = config_hashes(kube, dep)
        assert len(set(hashes)) == len(hashes), "a hash rolled out twice: a restart storm"
    report = group.replay()
    assert anomalies(report, *STORM) == []
    epochs = [t["epoch"] for t in report["leader_terms"]]
    assert epochs == sorted(epochs) and len(set(epochs)) == len(epochs) == 11
    assert group.check() == []


# 7 -------------------------------------------------------------------------------------


def test_drill_controller_api_connectivity_loss(kube, replicas):
    """Runbook drill: every replica loses the API; nothing acts, then one change, once."""
    group, leader, [(cm, dep)] = start_group(kube, replicas)
    epoch = leadz(leader)["epoch"]
    cut_at = time.monotonic()
    kube.partition([r.client for r in group], seconds=6.0, mode="drop")
    set_data(kube, cm, {"MESSAGE": "changed while the controllers were cut off"})
    wait_for(lambda: group.leaders() == [], "every replica to stop leading", timeout=5)
    assert time.monotonic() - cut_at <= RENEW_SECONDS + MARGIN / 2
    assert restarts(kube, dep) == 0
    for replica in group:
        assert replica.metric("configmap_reload_watch_up", {"resource": "configmaps"}) == 0
    new = group.wait_leader(timeout=15)
    wait_for(lambda: restarts(kube, dep) == 1, "the restart once the API is back", timeout=10)
    wait_settled(new)
    assert restarts(kube, dep) == 1
    assert leadz(new)["epoch"] == epoch + 1
    assert [r.data["reason"] for r in leader.records({"leader.lost"})] == ["renew-deadline"]
    assert all(replica.records({"watch.error"}) for replica in group)
    # Nobody led for a few seconds: a replay with a short threshold says so, once.
    report = group.replay("--leaderless-gap", "2")
    [gap] = anomalies(report, "leaderless_gap")
    assert 2 < gap["gap_seconds"] < 10
    assert anomalies(report, *STORM) == []
    assert group.check() == []


def test_drill_pod_eviction_storm(kube, replicas):
    """Runbook drill: replicas killed and restarted over and over while ConfigMaps change."""
    group, _, made = start_group(kube, replicas, count=3, envs=("test", "prod"))
    rng = random.Random(5)
    values: dict[str, list[str]] = {dep: [] for _, dep in made}
    deadline = time.monotonic() + 12.0
    step = 0
    while time.monotonic() < deadline:
        cm, dep = made[step % 2]
        value = f"storm {step}"
        set_data(kube, cm, {"MESSAGE": value})
        values[dep].append(value)
        victim = rng.choice(group.all)
        if victim.running:
            kill(victim, rng.choice([signal.SIGKILL, signal.SIGTERM]))
            victim.process.wait(30)
        victim.start(ready=False)
        wait_serving(victim)
        step += 1
        time.sleep(rng.uniform(0.2, 0.8))  # pacing the storm itself, not synchronisation
    leader = group.wait_agreed_leader(timeout=20)
    for _, dep in made:
        final = hash_of(values[dep][-1])
        wait_for(
            lambda d=dep, f=final: config_hashes(kube, d)[-1:] == [f],
            "the last change rolled out",
            timeout=20,
        )
    wait_settled(leader)
    for _, dep in made:
        hashes = config_hashes(kube, dep)
        assert len(set(hashes)) == len(hashes), "a hash rolled out twice: a restart storm"
        assert len(hashes) <= len(values[dep]), "more restarts than changes"
    report = group.replay()
    assert anomalies(report, *STORM) == []
    assert group.check() == []
