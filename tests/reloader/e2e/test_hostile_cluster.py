"""The controller against a hostile API server: errors, deletions and scope changes mid-flight.

Each test runs the real ``shipshape-controller`` against the API test server
with the e2e settings (1 s debounce, 1 s resync, short backoffs) and checks
what a user would see: restarts, journal records, ``/readyz`` and metrics.
"""

from __future__ import annotations

import itertools
import signal
import time
from typing import Any

import pytest

from records import kinds as k
from tests.kubeapi import KubeApiServer
from tests.kubeapi.cluster import Cluster
from tests.reloader.e2e.harness import (
    NS,
    applied_hash,
    configmap,
    controller,
    deployment,
    restarts,
    set_data,
    wait_for,
)
from tests.reloader.e2e.test_controller import replay_check
from tests.reloader.e2e.test_workloads import AUTO, cluster_rbac, container, workload

pytestmark = pytest.mark.slow

SCOPE_ENV = {"CONFIGMAP_LABEL_SELECTOR": ""}  # every ConfigMap: annotations decide


def pair(kube: KubeApiServer, env: str = "test") -> tuple[str, str]:
    cm, dep = f"helloworld-config-{env}", f"helloworld-{env}"
    kube.create(configmap(cm, {"MESSAGE": f"hello {env}"}, env))
    kube.create(deployment(dep, env))
    return cm, dep


def team_workload(kube: KubeApiServer, ns: str, name: str = "api") -> None:
    """A ConfigMap and a Deployment with ``auto`` that reads it, in ``ns``."""
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{name}-config", "namespace": ns},
            "data": {"MODE": "one"},
        }
    )
    kube.apply(
        workload(
            "Deployment",
            name,
            ns,
            AUTO,
            {"containers": [container(envFrom=[{"configMapRef": {"name": f"{name}-config"}}])]},
        )
    )


def adopted_in(kube: KubeApiServer, ns: str, name: str = "api") -> str | None:
    obj = kube.get("deployments", name, ns) or {}
    return ((obj.get("metadata") or {}).get("annotations") or {}).get("shipshape.io/config-hash")


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def settle(ctl) -> None:
    """Wait until both watches relisted after the last record (nothing more to decide)."""
    ctl.quiesce(ctl.records()[-1].seq)


# ------------------------------------------------------------------ RBAC and scope


def test_a_patch_forbidden_in_one_namespace_stays_reported_after_a_success_in_another(
    cluster: Cluster, kube: KubeApiServer
) -> None:
    cluster_rbac(kube)
    for ns in ("team-a", "team-b"):
        team_workload(kube, ns)
    # A long resync: the forbidden restart is not tried again during the test.
    env = {**SCOPE_ENV, "WATCH_NAMESPACES": "team-a,team-b", "RESYNC_SECONDS": "120"}
    ctl = controller(cluster, env=env).start()
    for ns in ("team-a", "team-b"):
        wait_for(lambda ns=ns: adopted_in(kube, ns), f"the adoption in {ns}")
    kube.deny(verb="patch", resource="deployments", namespace="team-b")
    kube.patch("configmaps", "api-config", {"data": {"MODE": "two"}}, namespace="team-b")
    failed = ctl.wait_record(
        lambda r: r.kind == k.RESTART_FAILED and r.namespace == "team-b", "the forbidden restart"
    )
    assert failed.data["error"]["reason"] == "forbidden"
    wait_for(lambda: not ctl.ready(), "/readyz 503 for the forbidden patch")

    kube.patch("configmaps", "api-config", {"data": {"MODE": "two"}}, namespace="team-a")
    ctl.wait_record(
        lambda r: r.kind == k.RESTART_PATCHED and r.namespace == "team-a", "team-a's restart"
    )
    # The success was reported to health before its record was journaled.
    status, body = ctl.get_json("/readyz")
    assert status == 503, "team-a's success says nothing of team-b's RoleBinding"
    assert [r for r in body["reasons"] if "team-b" in r and r.startswith("patch forbidden:")]
    assert len(kube.revisions("api", "team-a")) == 2
    assert len(kube.revisions("api", "team-b")) == 1
    assert ctl.stop() == 0


def test_a_listed_namespace_created_later_is_followed(
    cluster: Cluster, kube: KubeApiServer
) -> None:
    cluster_rbac(kube)
    team_workload(kube, "team-a")
    env = {**SCOPE_ENV, "WATCH_NAMESPACES": "team-a,team-late"}
    ctl = controller(cluster, env=env).start()
    kube.apply(namespace("team-late"))
    team_workload(kube, "team-late")
    wait_for(lambda: adopted_in(kube, "team-late"), "the adoption in the new namespace")
    kube.patch("configmaps", "api-config", {"data": {"MODE": "two"}}, namespace="team-late")
    ctl.wait_record(
        lambda r: r.kind == k.RESTART_PATCHED and r.namespace == "team-late", "the restart"
    )
    settle(ctl)
    assert len(kube.revisions("api", "team-late")) == 2
    assert len(kube.revisions("api", "team-a")) == 1
    assert ctl.stop() == 0


def test_every_namespace_including_one_created_while_running(
    cluster: Cluster, kube: KubeApiServer
) -> None:
    cluster_rbac(kube)
    names = [f"ns-{i}" for i in range(6)]
    for ns in names:
        kube.apply(namespace(ns))
        team_workload(kube, ns)
    ctl = controller(cluster, env={**SCOPE_ENV, "WATCH_NAMESPACES": "*"}).start()
    for ns in names:
        wait_for(lambda ns=ns: adopted_in(kube, ns), f"the adoption in {ns}")
    kube.apply(namespace("ns-new"))
    team_workload(kube, "ns-new")
    wait_for(lambda: adopted_in(kube, "ns-new"), "the adoption in ns-new")
    every = [*names, "ns-new"]
    for ns in every:
        kube.patch("configmaps", "api-config", {"data": {"MODE": "two"}}, namespace=ns)
    wait_for(
        lambda: all(len(kube.revisions("api", ns)) == 2 for ns in every),
        "one restart in every namespace",
        timeout=30,
    )
    settle(ctl)
    assert {ns: len(kube.revisions("api", ns)) for ns in every} == dict.fromkeys(every, 2)
    assert ctl.stop() == 0


def test_a_kind_it_may_not_list_is_named_by_readyz_until_the_role_allows_it(kube, cluster) -> None:
    """Every decision waits for the first list of every kind; a forbidden one says so."""
    cm, dep = pair(kube)
    denial = kube.deny(verb=["list", "watch"], resource="daemonsets")
    ctl = controller(cluster).start(ready=False)
    ctl.wait_started()

    def forbidden_reason() -> str | None:
        _, body = ctl.get_json("/readyz")
        reasons = (body or {}).get("reasons") or []
        return next((r for r in reasons if r.startswith("watch forbidden:")), None)

    reason = wait_for(forbidden_reason, "/readyz naming the forbidden list")
    assert "daemonsets" in reason and "cannot list" in reason, reason
    status, health = ctl.get_json("/healthz")
    assert status == 200, "a restarted pod has the same Role"
    assert health["permissions"]["ok"] is False
    assert "daemonsets" in health["permissions"]["forbidden"]["watch"]
    assert health["watches"]["daemonsets"] == {"up": False}

    kube.remove_fault(denial)
    ctl.wait_ready()
    assert ctl.get_json("/healthz")[1]["permissions"] == {"ok": True, "forbidden": {}}
    wait_for(lambda: applied_hash(kube, dep), "adopted")
    set_data(kube, cm, {"MESSAGE": "changed"})
    patched = ctl.wait_record(lambda r: r.kind == k.RESTART_PATCHED, "the restart")
    ctl.quiesce(patched.seq)
    assert restarts(kube, dep) == 1
    assert ctl.stop() == 0


# ------------------------------------------------------------ deletions mid-flight


def test_a_configmap_deleted_inside_its_window_restarts_nothing(kube, cluster) -> None:
    cm, dep = pair(kube)
    ctl = controller(cluster, env={"DEBOUNCE_SECONDS": "2"}).start()
    wait_for(lambda: applied_hash(kube, dep), "adopted")
    set_data(kube, cm, {"MESSAGE": "changed"})
    ctl.wait_record(lambda r: r.kind == k.DEBOUNCE_SCHEDULED, "the window")
    kube.delete("configmaps", cm, NS)
    time.sleep(2.5)  # the window's end
    settle(ctl)
    assert restarts(kube, dep) == 0
    assert ctl.records({k.RESTART_PLANNED}) == []
    assert ctl.stop() == 0


def test_a_workload_replaced_inside_its_window_is_adopted_not_rolled(kube, cluster) -> None:
    cm, dep = pair(kube)
    ctl = controller(cluster, env={"DEBOUNCE_SECONDS": "2"}).start()
    wait_for(lambda: applied_hash(kube, dep), "adopted")
    set_data(kube, cm, {"MESSAGE": "changed"})
    ctl.wait_record(lambda r: r.kind == k.DEBOUNCE_SCHEDULED, "the window")
    old_uid = kube.get("deployments", dep, NS)["metadata"]["uid"]
    kube.delete("deployments", dep, NS)
    kube.create(deployment(dep, "test"))
    time.sleep(2.5)
    settle(ctl)
    new = kube.get("deployments", dep, NS)
    assert new["metadata"]["uid"] != old_uid
    # Its pods started with the new data: adopted, not rolled.
    assert new["spec"]["template"]["metadata"].get("annotations") is None, new
    assert applied_hash(kube, dep) is not None
    assert ctl.stop() == 0


def test_a_workload_deleted_mid_patch_fails_that_restart_once(kube, cluster) -> None:
    cm, dep = pair(kube)
    ctl = controller(cluster).start()
    wait_for(lambda: applied_hash(kube, dep), "adopted")
    kube.add_latency(1.5, verb="patch", resource="deployments", client=ctl.client, count=1)
    set_data(kube, cm, {"MESSAGE": "changed"})
    ctl.wait_record(lambda r: r.kind == k.RESTART_PLANNED, "planned")
    kube.delete("deployments", dep, NS)
    failed = ctl.wait_record(lambda r: r.kind == k.RESTART_FAILED, "the failed restart")
    assert failed.data["error"]["reason"] == "not-found"
    settle(ctl)
    assert len(ctl.records({k.RESTART_PLANNED})) == 1, "no retry for a deleted workload"
    assert kube.get("deployments", dep, NS) is None
    assert ctl.stop() == 0


def test_a_workload_replaced_mid_patch_is_not_rolled(kube, cluster) -> None:
    cm, dep = pair(kube)
    ctl = controller(cluster).start()
    wait_for(lambda: applied_hash(kube, dep), "adopted")
    kube.add_latency(1.5, verb="patch", resource="deployments", client=ctl.client, count=1)
    set_data(kube, cm, {"MESSAGE": "changed"})
    planned = ctl.wait_record(lambda r: r.kind == k.RESTART_PLANNED, "planned")
    kube.delete("deployments", dep, NS)
    kube.create(deployment(dep, "test"))
    ctl.wait_record(
        lambda r: r.kind == k.RESTART_SUPERSEDED and r.correlation_id == planned.correlation_id,
        "the restart superseded",
    )
    settle(ctl)
    new = kube.get("deployments", dep, NS)
    assert new["spec"]["template"]["metadata"].get("annotations") is None, new
    assert ctl.records({k.RESTART_PATCHED}) == []
    assert ctl.stop() == 0


# --------------------------------------------------------------------- API errors


def test_a_patch_answered_422_is_failed_and_tried_again_by_the_resync(kube, cluster) -> None:
    cm, dep = pair(kube)
    ctl = controller(cluster).start()
    wait_for(lambda: applied_hash(kube, dep), "adopted")
    kube.fail(422, verb="patch", resource="deployments", client=ctl.client, seconds=3)
    set_data(kube, cm, {"MESSAGE": "changed"})
    ctl.wait_record(lambda r: r.kind == k.RESTART_FAILED, "the failed restart")
    patched = ctl.wait_record(
        lambda r: r.kind == k.RESTART_PATCHED, "the restart after the fault", timeout=30
    )
    failed = ctl.records({k.RESTART_FAILED})
    assert {r.data["error"]["reason"] for r in failed} == {"invalid"}
    assert ctl.records({"restart.retry"}) == [], "a 422 is not retried with backoff"
    ctl.quiesce(patched.seq)
    assert restarts(kube, dep) == 1
    assert ctl.stop() == 0


def test_a_throttled_patch_is_retried_and_restarts_once(kube, cluster) -> None:
    cm, dep = pair(kube)
    ctl = controller(cluster).start()
    wait_for(lambda: applied_hash(kube, dep), "adopted")
    kube.fail(429, verb="patch", resource="deployments", client=ctl.client, count=2)
    set_data(kube, cm, {"MESSAGE": "changed"})
    patched = ctl.wait_record(lambda r: r.kind == k.RESTART_PATCHED, "the restart", timeout=30)
    retries = ctl.records({"restart.retry"})
    assert [r.data["error"]["reason"] for r in retries] == ["throttled", "throttled"]
    ctl.quiesce(patched.seq)
    assert restarts(kube, dep) == 1
    assert ctl.stop() == 0


def test_a_patch_refused_again_and_again_backs_off_then_restarts_once(kube, cluster) -> None:
    """A workload something keeps writing: 409 after 409. The first refusal goes out
    again at once; the later ones wait the jittered backoff (at least half of 0.4 s,
    then of 0.8 s), so the attempts are not spent in milliseconds."""
    cm, dep = pair(kube)
    env = {"RETRY_BASE_SECONDS": "0.4", "RETRY_MAX_SECONDS": "2"}
    ctl = controller(cluster, env=env).start()
    wait_for(lambda: applied_hash(kube, dep), "adopted")
    kube.fail(409, verb="patch", resource="deployments", client=ctl.client, count=3)
    changed_at = time.time()
    set_data(kube, cm, {"MESSAGE": "changed"})
    patched = ctl.wait_record(lambda r: r.kind == k.RESTART_PATCHED, "the restart", timeout=30)
    retries = ctl.records({"restart.retry"})
    assert [r.data["error"]["status"] for r in retries] == [409, 409, 409]
    assert [r.data["next_attempt"] for r in retries] == [2, 3, 4]
    assert retries[0].data["delay_seconds"] == 0.0 and retries[0].data["jitter"] is None
    assert 0.2 <= retries[1].data["delay_seconds"] <= 0.4
    assert 0.4 <= retries[2].data["delay_seconds"] <= 0.8
    assert all(isinstance(r.data["jitter"], float) for r in retries[1:])
    sent = [
        r.at
        for r in kube.requests(client=ctl.client, verb="patch", resource="deployments")
        if r.at >= changed_at
    ]
    assert len(sent) == 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(sent)]
    assert gaps[1] >= 0.2 and gaps[2] >= 0.4, gaps
    ctl.quiesce(patched.seq)
    assert restarts(kube, dep) == 1
    assert ctl.stop() == 0
    replay_check(ctl.journal_path)


def test_the_api_server_unreachable_for_a_while(kube, cluster) -> None:
    cm, dep = pair(kube)
    ctl = controller(cluster).start()
    wait_for(lambda: applied_hash(kube, dep), "adopted")
    kube.partition(ctl.client, seconds=4)
    wait_for(
        lambda: ctl.metric("configmap_reload_watch_up", {"resource": "configmaps"}) == 0,
        "the watch reported down",
    )
    status, health = ctl.get_json("/healthz")
    assert status == 200, "reconnecting loops still beat"
    assert health["watches"]["configmaps"] == {"up": False}
    set_data(kube, cm, {"MESSAGE": "changed while cut off"})
    patched = ctl.wait_record(lambda r: r.kind == k.RESTART_PATCHED, "the restart", timeout=30)
    wait_for(
        lambda: ctl.metric("configmap_reload_watch_up", {"resource": "configmaps"}) == 1,
        "the watch up again",
    )
    ctl.quiesce(patched.seq)
    assert restarts(kube, dep) == 1
    assert ctl.stop() == 0


def test_watches_closing_every_second_and_a_source_recreated_while_cut_off(kube, cluster) -> None:
    cm, dep = pair(kube)
    ctl = controller(cluster, env={"WATCH_TIMEOUT_SECONDS": "1"}).start()
    wait_for(lambda: applied_hash(kube, dep), "adopted")
    # Deleted and created again with the same data, history compacted: no change.
    kube.partition(ctl.client, seconds=2)
    kube.delete("configmaps", cm, NS)
    kube.create(configmap(cm, {"MESSAGE": "hello test"}, "test"))
    kube.compact()
    time.sleep(2.5)
    settle(ctl)
    assert restarts(kube, dep) == 0
    # Created again with other data: one restart.
    kube.partition(ctl.client, seconds=2)
    kube.delete("configmaps", cm, NS)
    kube.create(configmap(cm, {"MESSAGE": "other"}, "test"))
    kube.compact()
    wait_for(lambda: restarts(kube, dep) == 1, "one restart", timeout=20)
    settle(ctl)
    assert restarts(kube, dep) == 1
    assert ctl.stop() == 0


# ----------------------------------------------------------------------- SIGTERM


def test_sigterm_during_a_slow_patch_waits_for_its_answer(kube, cluster) -> None:
    cm, dep = pair(kube)
    ctl = controller(cluster).start()
    wait_for(lambda: applied_hash(kube, dep), "adopted")
    kube.add_latency(2, verb="patch", resource="deployments", client=ctl.client, count=1)
    set_data(kube, cm, {"MESSAGE": "changed"})
    ctl.wait_record(lambda r: r.kind == k.RESTART_PLANNED, "planned")
    assert ctl.stop(signal.SIGTERM, timeout=30) == 0
    assert restarts(kube, dep) == 1
    kinds = [r.kind for r in ctl.records()]
    assert kinds.index("controller.stopping") < kinds.index(k.RESTART_PATCHED)
    assert kinds[-1] == "controller.stopped"
    assert ctl.records({"controller.stopped"})[-1].data["dropped"] == 0


def test_sigterm_to_both_replicas_during_the_hand_over(kube, cluster) -> None:
    from tests.reloader.ha.cluster import Replicas
    from tests.reloader.ha.test_chaos import hash_of, observed, start_group

    group, leader, [(cm, dep)] = start_group(
        kube, lambda n, **env: Replicas(cluster, n, env), DEBOUNCE_SECONDS="3"
    )
    [standby] = [r for r in group.all if r is not leader]
    set_data(kube, cm, {"MESSAGE": "pending at SIGTERM"})
    wanted = hash_of("pending at SIGTERM")
    wait_for(lambda: observed(standby, wanted) and observed(leader, wanted), "both see it")
    leader.process.send_signal(signal.SIGTERM)
    wait_for(lambda: standby.records({"leader.acquired"}), "the standby to take over", timeout=10)
    standby.process.send_signal(signal.SIGTERM)
    assert leader.process.wait(30) == 0
    assert standby.process.wait(30) == 0
    assert restarts(kube, dep) == 1, "flushed by one of them, not both"
    assert group.replay("--strict")["anomalies"] == []


def test_sigterm_while_every_patch_fails_drops_the_restart_in_time(kube, cluster) -> None:
    cm, dep = pair(kube)
    ctl = controller(
        cluster, env={"DEBOUNCE_SECONDS": "30", "SHUTDOWN_TIMEOUT_SECONDS": "3"}
    ).start()
    wait_for(lambda: applied_hash(kube, dep), "adopted")
    kube.fail(503, verb="patch", resource="deployments", client=ctl.client)
    set_data(kube, cm, {"MESSAGE": "changed"})
    ctl.wait_record(lambda r: r.kind == k.DEBOUNCE_SCHEDULED, "the window")
    started = time.monotonic()
    assert ctl.stop(signal.SIGTERM, timeout=30) == 0
    assert time.monotonic() - started < 3 + 5, "within SHUTDOWN_TIMEOUT_SECONDS and slack"
    kinds = [r.kind for r in ctl.records()]
    assert kinds[-3:] == [k.RESTART_PLANNED, "restart.dropped", "controller.stopped"]
    assert restarts(kube, dep) == 0
    stopped = ctl.records({"controller.stopped"})[-1]
    assert stopped.data["dropped"] == 1, stopped.data
