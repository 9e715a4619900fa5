"""Split brain: a leader paused (SIGSTOP: a long GC pause, a frozen VM) wakes up after its Lease.

While it sleeps its Lease runs out and a standby takes over in a new epoch.
When it wakes (SIGCONT) everything it had in flight goes on as if no time had
passed: a patch held on the way, an answer it never read, a debounce window
that came due. The conditional writes (every patch depends on the
resourceVersion it was decided on) and the fencing check before every patch
keep each change to one rollout, and the merged journals tell what happened.
"""

from __future__ import annotations

import signal
import time

import pytest

from tests.reloader.e2e.harness import NS, restarts, set_data, wait_for
from tests.reloader.ha.cluster import LEASE_SECONDS, anomalies, leadz
from tests.reloader.ha.test_chaos import STORM, hash_of, observed, start_group, wait_settled

pytestmark = pytest.mark.slow

DUPLICATES = (*STORM, "duplicate_rollout")


def revision_hashes(kube, dep: str) -> list[str]:
    return [r.annotations.get("shipshape.io/config-hash", "") for r in kube.revisions(dep, NS)[1:]]


def planned(replica, digest: str) -> bool:
    return any(r.data.get("data_hash") == digest for r in replica.records({"restart.planned"}))


def pause(replica) -> None:
    replica.process.send_signal(signal.SIGSTOP)


def resume(replica) -> None:
    replica.process.send_signal(signal.SIGCONT)


def wake_as_standby(replica, leader) -> None:
    """Wait until ``/leadz`` and the leader-state gauge both say ``replica`` follows ``leader``."""
    wait_for(
        lambda: (
            (leadz(replica) or {}).get("leader") == leader.name
            and not (leadz(replica) or {}).get("is_leader")
            and replica.metric("configmap_reload_leader_state") == 0
        ),
        f"{replica.name} to wake as a standby naming {leader.name}",
        timeout=15,
    )
    assert leader.metric("configmap_reload_leader_state") == 1


def test_a_paused_leader_whose_patch_is_held_on_the_way_is_refused_when_it_lands(kube, replicas):
    group, old, [(cm, dep)] = start_group(kube, replicas)
    [standby] = [r for r in group if r is not old]
    epoch = leadz(old)["epoch"]
    # The old leader's patches reach the API server late (as if it were paused
    # between the fencing check and the send): long after its Lease ran out.
    hold = LEASE_SECONDS + 5.0
    held = kube.add_latency(hold, verb="patch", resource="deployments", client=old.client)
    digest = hash_of("sent before the pause")
    set_data(kube, cm, {"MESSAGE": "sent before the pause"})
    wait_for(lambda: planned(old, digest), "the old leader to plan the restart", timeout=15)
    # Journaled before it is sent: pause only once the patch is on its way.
    wait_for(lambda: held.hits == 1, "the old leader's patch to reach the server", timeout=15)
    pause(old)
    paused_at = time.monotonic()
    try:
        assert group.wait_leader(exclude=[old], timeout=15) is standby
        wait_for(lambda: restarts(kube, dep) == 1, "the new leader's catch-up", timeout=15)
        # The held patch is served now: decided on the version before the
        # catch-up, it must be refused.
        wait_for(
            lambda: time.monotonic() - paused_at > hold + 1.0, "the held patch", timeout=hold + 5
        )
    finally:
        resume(old)
    wake_as_standby(old, standby)
    wait_settled(standby)
    assert revision_hashes(kube, dep) == [digest]
    assert [r.actor for r in kube.revisions(dep, NS)[1:]] == [standby.client]
    served = [r.status for r in kube.requests(client=old.client, verb="patch")]
    assert served[-1] == 409, served
    wait_for(
        lambda: old.records({"leader.lost"}) != [], "the old leader to journal its loss", timeout=10
    )
    [lost] = old.records({"leader.lost"})
    assert lost.data["epoch"] == epoch
    # The refusal it reads on waking is journaled as what it is.
    superseded = old.wait_record(
        lambda r: r.kind == "restart.superseded", "the refusal to be journaled", timeout=10
    )
    assert superseded.data["reason"] == "already-applied"
    assert old.records({"restart.patched"}) == []
    report = group.replay()
    assert anomalies(report, *DUPLICATES) == []
    assert leadz(standby)["epoch"] > epoch


def test_a_paused_leader_whose_patch_landed_journals_it_on_waking_without_false_alarm(
    kube, replicas
):
    group, old, [(cm, dep)] = start_group(kube, replicas)
    [standby] = [r for r in group if r is not old]
    epoch = leadz(old)["epoch"]
    hold = 1.5
    held = kube.add_latency(hold, verb="patch", resource="deployments", client=old.client)
    digest = hash_of("landed while paused")
    set_data(kube, cm, {"MESSAGE": "landed while paused"})
    wait_for(lambda: planned(old, digest), "the old leader to plan the restart", timeout=15)
    wait_for(lambda: held.hits == 1, "the old leader's patch to reach the server", timeout=15)
    pause(old)
    try:
        # The patch lands while its sender sleeps; it never reads the answer.
        wait_for(lambda: restarts(kube, dep) == 1, "the held patch to land", timeout=15)
        assert group.wait_leader(exclude=[old], timeout=15) is standby
        wait_settled(standby)
    finally:
        resume(old)
    wake_as_standby(old, standby)
    wait_for(
        lambda: any(r.data.get("data_hash") == digest for r in old.records({"restart.patched"})),
        "the old leader to journal the patch it sent",
        timeout=10,
    )
    time.sleep(1.0)
    assert revision_hashes(kube, dep) == [digest]
    assert [r.actor for r in kube.revisions(dep, NS)[1:]] == [old.client]
    assert standby.records({"restart.planned"}) == []
    report = group.replay()
    assert anomalies(report, *DUPLICATES) == [], anomalies(report)
    assert leadz(standby)["epoch"] > epoch


def paused_inside_a_window(kube, replicas):
    """A leader paused in a debounce window wakes after a standby took over and restarted."""
    group, old, [(cm, dep)] = start_group(kube, replicas, DEBOUNCE_SECONDS="2")
    [standby] = [r for r in group if r is not old]
    epoch = leadz(old)["epoch"]
    digest = hash_of("window open at the pause")
    set_data(kube, cm, {"MESSAGE": "window open at the pause"})
    wait_for(lambda: observed(old, digest), "the old leader to see the change", timeout=10)
    paused_wall = time.time()
    pause(old)
    try:
        assert group.wait_leader(exclude=[old], timeout=15) is standby
        wait_for(lambda: restarts(kube, dep) == 1, "the new leader's restart", timeout=15)
        wait_settled(standby)
    finally:
        resume(old)
    wake_as_standby(old, standby)
    lost = old.wait_record(lambda r: r.kind == "leader.lost", "the loss", timeout=10)
    assert (lost.data["epoch"], lost.data["reason"]) == (epoch, "renew-deadline")
    sent = [
        r
        for r in kube.requests(client=old.client, verb="patch")
        if r.at >= paused_wall and r.status != 0
    ]
    assert sent == [], "a patch went out on a stale lease"
    assert revision_hashes(kube, dep) == [digest]
    return group, old


def test_a_leader_paused_inside_a_debounce_window_wakes_claiming_nothing(kube, replicas):
    group, old = paused_inside_a_window(kube, replicas)
    claims = ("overlapping_leaders", "duplicate_rollout")
    assert anomalies(group.replay(), *claims) == []
    # Nothing of the old term is left pending on it: it stops at once, and
    # neither sends nor journals as its own the restart the new leader made.
    stopping = time.monotonic()
    assert old.stop() == 0
    assert time.monotonic() - stopping < 5.0
    assert old.records({"restart.patched", "restart.dropped", "restart.superseded"}) == []
    [stopped] = old.records({"controller.stopped"})
    assert stopped.data["dropped"] == 0
    assert anomalies(group.replay(), *claims, "dropped_restart") == []


def test_a_leader_paused_inside_a_debounce_window_decides_nothing_when_it_wakes(kube, replicas):
    group, old = paused_inside_a_window(kube, replicas)
    # On waking, its window is long due and its Lease long gone: the loss is
    # taken first, and the window closes as a standby's.
    old.wait_record(
        lambda r: r.kind == "debounce.skipped" and r.data.get("reason") == "not-leader",
        "the window to close as a standby's",
        timeout=10,
    )
    assert old.records({"restart.planned", "restart.retry"}) == []
    assert anomalies(group.replay()) == []
    assert group.check() == []
