"""End to end: the real ``shipshape-controller`` against the Kubernetes API test server.

DEBOUNCE_SECONDS=1, a resync every 2 s and short backoffs keep each test to a
few seconds. "Nothing more happened" is established by waiting until both
watches have relisted after the last expected event (``Controller.quiesce``):
by then a spurious restart would already have been decided.
"""

from __future__ import annotations

import copy
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from reloader.core import data_hash
from tests.reloader.e2e.harness import (
    NS,
    ReadOnly,
    applied_hash,
    configmap,
    deployment,
    restarts,
    set_data,
    wait_for,
)

pytestmark = pytest.mark.slow

DEBOUNCE = 1.0


def pair(kube, env: str, data: dict[str, str] | None = None, **deploy_kwargs) -> tuple[str, str]:
    """Create helloworld-config-ENV and helloworld-ENV; return their names."""
    cm, dep = f"helloworld-config-{env}", f"helloworld-{env}"
    kube.create(configmap(cm, data or {"MESSAGE": f"hello {env}"}, env))
    kube.create(deployment(dep, env, **deploy_kwargs))
    return cm, dep


def chain_kinds(controller, correlation_id: str) -> list[str]:
    return [r.kind for r in controller.records() if r.correlation_id == correlation_id]


def replay_check(path: Path) -> dict:
    """``shipshape-journal replay --strict --check``: no anomaly, no differing decision."""
    result = subprocess.run(
        [
            "shipshape-journal",
            "replay",
            "--journal",
            str(path),
            "--strict",
            "--check",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(result.stdout) if result.stdout.strip() else {}
    assert result.returncode == 0, (result.stderr, report.get("anomalies"), report.get("check"))
    assert report["anomalies"] == [] and report["check"]["differences"] == []
    return report


def replay_at_now(path: Path) -> dict:
    """``shipshape-journal replay --at`` now: every list digest matches the recovered hashes."""
    command = ["shipshape-journal", "replay", "--journal", str(path), "--at", "-0s"]
    result = subprocess.run(
        [*command, "--strict", "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    state = json.loads(result.stdout)
    assert state["lists"] and all(item["matches"] for item in state["lists"]), state["lists"]
    return state


def verify_journal(path: Path) -> str:
    result = subprocess.run(
        ["shipshape-journal", "verify", "--journal", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


# 1 -------------------------------------------------------------------------------------


def test_existing_configmaps_and_deployments_cause_no_restart(kube, controllers):
    pair(kube, "test")
    _, prod = pair(kube, "prod", annotations={})
    # prod was rolled out by an earlier controller: its applied hash matches.
    kube.patch(
        "deployments",
        prod,
        {
            "metadata": {
                "annotations": {
                    "shipshape.io/config-hash": data_hash({"MESSAGE": "hello prod"}, None)
                }
            }
        },
        namespace=NS,
    )
    controller = controllers().start()
    skipped = controller.wait_record(
        lambda r: r.kind == "debounce.skipped" and r.object == "configmap/helloworld-config-test",
        "the start-up verdict on test",
    )
    assert skipped.data["reason"] == "adopted"
    verdicts = {r.object: r.data["reason"] for r in controller.records({"debounce.skipped"})}
    assert verdicts == {
        "configmap/helloworld-config-test": "adopted",
        "configmap/helloworld-config-prod": "unchanged",
    }
    wait_for(
        lambda: (
            kube.get("deployments", "helloworld-test", NS)["metadata"].get("annotations") or {}
        ).get("shipshape.io/config-hash"),
        "the adoption annotation",
    )
    controller.quiesce(after_seq=skipped.seq)
    assert restarts(kube, "helloworld-test") == 0 and restarts(kube, prod) == 0
    assert controller.records({"restart.planned"}) == []
    assert controller.stop() == 0
    replay_check(controller.journal_path)


# 2 -------------------------------------------------------------------------------------


def test_one_change_restarts_once_within_the_debounce_and_is_journaled_as_one_chain(
    kube, controllers
):
    cm, dep = pair(kube, "test")
    controller = controllers().start()
    changed_at = time.monotonic()
    set_data(kube, cm, {"MESSAGE": "new test message"})
    wait_for(lambda: restarts(kube, dep) == 1, "the restart", timeout=10, interval=0.01)
    latency = time.monotonic() - changed_at
    assert latency <= DEBOUNCE + 1.0, f"restart after {latency:.2f} s"
    done = controller.wait_record(lambda r: r.kind == "rollout.completed", "the rollout's end")
    controller.quiesce(after_seq=done.seq)
    assert restarts(kube, dep) == 1
    chain = chain_kinds(controller, done.correlation_id)
    assert chain == [
        "configmap.observed",
        "debounce.scheduled",
        "restart.planned",
        "restart.patched",
        "rollout.completed",
    ]
    [revision] = kube.revisions(dep, NS)[1:]
    assert revision.annotations["shipshape.io/config-hash"] == data_hash(
        {"MESSAGE": "new test message"}, None
    )
    annotations = kube.get("deployments", dep, NS)["metadata"]["annotations"]
    assert annotations["shipshape.io/correlation-id"] == done.correlation_id
    events = [e for e in kube.list("events", namespace=NS) if e["involvedObject"]["name"] == dep]
    assert [e["reason"] for e in events] == ["ConfigMapChanged"]
    assert controller.metric("configmap_reload_restarts_total", {"deployment": dep}) == 1
    assert controller.metric("configmap_reload_change_to_patch_seconds_count") == 1
    assert controller.stop() == 0
    assert verify_journal(controller.journal_path).startswith("OK:")
    report = replay_check(controller.journal_path)
    assert report["restart_latency_seconds"]["p50"] <= DEBOUNCE + 1.0
    # Replay judges the restart SLO by the debounce this controller ran with.
    assert report["thresholds"]["debounce_seconds"] == DEBOUNCE
    assert report["thresholds"]["slo_seconds"] == DEBOUNCE + 30
    # The values never reach the journal, only key names and the hash.
    assert b"new test message" not in controller.journal_path.read_bytes()
    # The relists journaled only their digests; the hashes recovered match them.
    state = replay_at_now(controller.journal_path)
    assert {item["object"]: item["data_hash"] for item in state["sources"]} == {
        f"configmap/{cm}": data_hash({"MESSAGE": "new test message"}, None)
    }
    [workload] = state["workloads"]
    assert workload["object"] == f"deployment/{dep}"
    assert workload["applied_hash"] == data_hash({"MESSAGE": "new test message"}, None)


# 3 -------------------------------------------------------------------------------------


def test_five_changes_in_half_a_second_restart_once(kube, controllers):
    cm, dep = pair(kube, "test")
    controller = controllers().start()
    for i in range(5):
        set_data(kube, cm, {"MESSAGE": f"burst {i}"})
        time.sleep(0.1)  # pacing the burst itself, not synchronisation
    patched = controller.wait_record(lambda r: r.kind == "restart.patched", "the restart")
    controller.quiesce(after_seq=patched.seq)
    assert restarts(kube, dep) == 1
    assert patched.data["data_hash"] == data_hash({"MESSAGE": "burst 4"}, None)
    chain = [r for r in controller.records() if r.correlation_id == patched.correlation_id]
    assert [r.kind for r in chain].count("configmap.observed") == 5
    [coalesced] = [r for r in chain if r.kind == "debounce.coalesced"]
    assert coalesced.data["changes"] == 5
    assert controller.stop() == 0
    replay_check(controller.journal_path)


# 4 -------------------------------------------------------------------------------------


def test_a_change_reverted_inside_the_window_restarts_nothing(kube, controllers):
    cm, dep = pair(kube, "test", {"MESSAGE": "original"})
    controller = controllers().start()
    set_data(kube, cm, {"MESSAGE": "oops"})
    set_data(kube, cm, {"MESSAGE": "original"})
    skipped = controller.wait_record(
        lambda r: r.kind == "debounce.skipped" and r.data["reason"] == "reverted",
        "the revert verdict",
    )
    controller.quiesce(after_seq=skipped.seq)
    assert restarts(kube, dep) == 0
    assert controller.records({"restart.planned"}) == []
    assert controller.stop() == 0
    replay_check(controller.journal_path)


# 5 -------------------------------------------------------------------------------------


def test_a_change_made_while_stopped_restarts_once_on_start_and_a_plain_restart_none(
    kube, controllers
):
    cm, dep = pair(kube, "test")
    controller = controllers()
    controller.start()
    controller.wait_record(lambda r: r.kind == "debounce.skipped", "adoption")
    wait_for(
        lambda: (kube.get("deployments", dep, NS)["metadata"].get("annotations") or {}).get(
            "shipshape.io/config-hash"
        ),
        "the adoption annotation",
    )
    assert controller.stop() == 0

    set_data(kube, cm, {"MESSAGE": "changed while nobody watched"})
    controller.start()
    patched = controller.wait_record(lambda r: r.kind == "restart.patched", "the catch-up restart")
    controller.quiesce(after_seq=patched.seq)
    assert restarts(kube, dep) == 1
    scheduled = [
        r
        for r in controller.records({"debounce.scheduled"})
        if r.correlation_id == patched.correlation_id
    ]
    assert [r.data["reason"] for r in scheduled] == ["catch-up"]
    assert controller.stop() == 0

    starts = len(controller.records({"controller.started"}))
    controller.start()
    verdict = controller.wait_record(
        lambda r: (
            r.kind == "debounce.skipped"
            and len([s for s in controller.records({"controller.started"})]) > starts
            and r.seq > patched.seq
            and r.data["reason"] == "unchanged"
        ),
        "the verdict of the third start",
    )
    controller.quiesce(after_seq=verdict.seq)
    assert restarts(kube, dep) == 1
    assert controller.stop() == 0
    replay_check(controller.journal_path)


# 6 -------------------------------------------------------------------------------------


def test_patches_failing_with_503_are_retried_then_restart_once(kube, controllers):
    cm, dep = pair(kube, "test")
    controller = controllers().start()
    wait_for(lambda: applied_hash(kube, dep), "the adoption")  # its patch must not meet the fault
    kube.fail(503, count=3, verb="patch", resource="deployments", client=controller.client)
    set_data(kube, cm, {"MESSAGE": "second"})
    patched = controller.wait_record(lambda r: r.kind == "restart.patched", "the restart")
    retries = [
        r
        for r in controller.records({"restart.retry"})
        if r.correlation_id == patched.correlation_id
    ]
    assert [r.data["attempt"] for r in retries] == [1, 2, 3]
    assert all(r.data["error"]["status"] == 503 for r in retries)
    assert patched.data["attempt"] == 4
    assert controller.metric("configmap_reload_retry_total") == 3
    assert (
        controller.metric(
            "configmap_reload_errors_total", {"operation": "patch", "reason": "server-error"}
        )
        == 3
    )
    controller.quiesce(after_seq=patched.seq)
    assert restarts(kube, dep) == 1
    planned = [r.seq for r in controller.records({"restart.planned"})]
    assert len(planned) == 4, "every attempt is planned in the journal before it is sent"
    assert controller.stop() == 0
    replay_check(controller.journal_path)


# 7 -------------------------------------------------------------------------------------


def test_cut_watches_and_compacted_history_miss_nothing_and_add_nothing(kube, controllers):
    envs = [f"e{i}" for i in range(4)]
    for env in envs:
        pair(kube, env)
    controller = controllers().start()
    for round_ in range(1, 4):
        for env in envs:
            set_data(kube, f"helloworld-config-{env}", {"MESSAGE": f"round {round_}"})
        kube.compact()
        kube.cut_watches(client=controller.client, abrupt=round_ % 2 == 1)
        wait_for(
            lambda r=round_: all(restarts(kube, f"helloworld-{env}") == r for env in envs),
            f"round {round_} restarts",
            timeout=15,
        )
    # The patch lands before its restart.patched record commits (group commit): wait for it.
    wait_for(
        lambda: len(controller.records({"restart.patched"})) >= 3 * len(envs),
        "every restart journaled",
    )
    last = max(r.seq for r in controller.records({"restart.patched"}))
    controller.quiesce(after_seq=last)
    assert {env: restarts(kube, f"helloworld-{env}") for env in envs} == dict.fromkeys(envs, 3)
    relists = controller.records({"watch.relisted"})
    assert any(r.data["reason"] == "expired" for r in relists), "a 410 led to a relist"
    assert len(controller.records({"restart.patched"})) == 12
    assert controller.stop() == 0
    replay_check(controller.journal_path)


# 8 -------------------------------------------------------------------------------------


def test_sigterm_inside_the_debounce_window_flushes_the_restart_and_exits_0(kube, controllers):
    cm, dep = pair(kube, "test")
    controller = controllers(env={"DEBOUNCE_SECONDS": "30"}).start()
    # The adoption raises the Deployment's generation and its status follows:
    # let that settle, or the restart may meet a 409 and retry (extra records).
    wait_for(
        lambda: (
            applied_hash(kube, dep)
            and (d := kube.get("deployments", dep, NS))["status"].get("observedGeneration")
            == d["metadata"]["generation"]
        ),
        "the adoption's rollout status",
    )
    controller.quiesce(controller.records()[-1].seq)
    set_data(kube, cm, {"MESSAGE": "just before shutdown"})
    controller.wait_record(lambda r: r.kind == "debounce.scheduled", "the window")
    started = time.monotonic()
    assert controller.stop(signal.SIGTERM, timeout=30) == 0
    replay_check(controller.journal_path)
    assert time.monotonic() - started < 15
    assert restarts(kube, dep) == 1
    kinds = [r.kind for r in controller.records()]
    assert kinds[-5:] == [
        "controller.stopping",
        "restart.flushed",
        "restart.planned",
        "restart.patched",
        "controller.stopped",
    ]
    stopped = controller.records({"controller.stopped"})[-1]
    assert stopped.data["flushed"] == 1 and stopped.data["dropped"] == 0


# 9 -------------------------------------------------------------------------------------


def test_deleted_binary_large_and_targetless_configmaps_are_handled(kube, controllers):
    pair(kube, "gone")
    kube.create(configmap("helloworld-config-bin", {}, "bin", binary={"logo.png": "iVBORw0KGgo="}))
    kube.create(deployment("helloworld-bin", "bin"))
    big = "x" * (1024 * 1024 - 2048)
    kube.create(configmap("helloworld-config-big", {"BLOB": big}, "big"))
    kube.create(deployment("helloworld-big", "big"))
    kube.create(configmap("helloworld-config-orphan", {"MESSAGE": "nobody listens"}, "orphan"))
    controller = controllers().start()

    kube.delete("configmaps", "helloworld-config-gone", NS)
    kube.patch(
        "configmaps",
        "helloworld-config-bin",
        {"binaryData": {"logo.png": "AAAAAAAA"}},
        namespace=NS,
    )
    set_data(kube, "helloworld-config-big", {"BLOB": big.replace("x", "y", 1)})
    set_data(kube, "helloworld-config-orphan", {"MESSAGE": "still nobody"})

    wait_for(
        lambda: restarts(kube, "helloworld-bin") == 1 and restarts(kube, "helloworld-big") == 1,
        "binary and large restarts",
        timeout=15,
    )
    # The patch lands before its restart.patched record commits (group commit): wait for it.
    wait_for(lambda: len(controller.records({"restart.patched"})) >= 2, "both restarts journaled")
    last = max(r.seq for r in controller.records({"restart.patched"}))
    controller.quiesce(after_seq=last)
    assert restarts(kube, "helloworld-gone") == 0
    deleted = [
        r for r in controller.records({"configmap.observed"}) if r.data["event_type"] == "DELETED"
    ]
    assert [r.object for r in deleted] == ["configmap/helloworld-config-gone"]
    orphan = [
        r.data["reason"]
        for r in controller.records({"debounce.skipped"})
        if r.object == "configmap/helloworld-config-orphan"
    ]
    assert orphan == ["no-target", "no-target"]  # at start-up and after the change
    assert controller.running
    assert controller.stop() == 0
    replay_check(controller.journal_path)
    assert controller.journal_path.stat().st_size < 512 * 1024, "the 1 MiB value is not journaled"


def test_three_hundred_configmaps_and_deployments(kube, controllers):
    envs = [f"n{i:03d}" for i in range(300)]
    for env in envs:
        pair(kube, env)
    controller = controllers(
        env={
            "RESTART_RATE_PER_SECOND": "1000",
            "RESTART_BURST": "1000",
            "MAX_CONCURRENT_ROLLOUTS": "1000",
            "RESYNC_SECONDS": "5",
        }
    ).start()
    controller.wait_record(
        lambda r: r.kind == "debounce.skipped" and r.object == "configmap/helloworld-config-n299",
        "start-up verdicts",
    )
    for env in envs:
        set_data(kube, f"helloworld-config-{env}", {"MESSAGE": "fleet-wide change"})
    # Waiting on the journal keeps this process from competing with the server for the GIL.
    wait_for(
        lambda: len(controller.records({"restart.patched"})) >= 300,
        "300 restarts",
        timeout=60,
        interval=0.5,
    )
    last = max(r.seq for r in controller.records({"restart.patched"}))
    controller.quiesce(after_seq=last, timeout=30)
    assert all(restarts(kube, f"helloworld-{env}") == 1 for env in envs)
    assert len(controller.records({"restart.patched"})) == 300
    assert controller.stop() == 0
    replay_check(controller.journal_path)


def test_a_forbidden_patch_is_journaled_and_retried_by_the_resync_once_allowed(kube, controllers):
    cm, dep = pair(kube, "test")
    controller = controllers().start()
    wait_for(lambda: applied_hash(kube, dep), "the adoption")
    denial = kube.deny(verb="patch", resource="deployments", client=controller.client)
    set_data(kube, cm, {"MESSAGE": "rbac says no"})
    failed = controller.wait_record(lambda r: r.kind == "restart.failed", "the forbidden patch")
    assert failed.data["reason"] == "forbidden" and failed.data["error"]["status"] == 403
    assert controller.records({"restart.retry"}) == [], "403 is not retried with backoff"
    assert (
        controller.metric(
            "configmap_reload_errors_total", {"operation": "patch", "reason": "forbidden"}
        )
        >= 1
    )
    assert restarts(kube, dep) == 0 and controller.running
    kube.remove_fault(denial)
    patched = controller.wait_record(
        lambda r: r.kind == "restart.patched", "the restart after the fix"
    )
    assert patched.correlation_id == failed.correlation_id, "the resync continues the same chain"
    controller.quiesce(after_seq=patched.seq)
    assert restarts(kube, dep) == 1
    assert controller.stop() == 0
    replay_check(controller.journal_path)


def test_the_shipped_role_without_patch_is_reported_and_the_restart_follows_its_repair(
    kube, controllers
):
    """The controller runs on the shipped Role (ServiceAccount helloworld-controller): with
    ``patch`` on deployments removed, RBAC answers 403; restored, the change rolls out."""
    cm, dep = pair(kube, "test")
    controller = controllers().start()
    wait_for(lambda: applied_hash(kube, dep), "the adoption")
    assert (
        kube.clients.get("controller").user
        == "system:serviceaccount:shipshape:helloworld-controller"
    )
    role = kube.get("roles", "helloworld-controller", NS)
    broken = copy.deepcopy(role)
    [deployments] = [r for r in broken["rules"] if "deployments" in r["resources"]]
    deployments["verbs"].remove("patch")
    kube.apply(broken)

    set_data(kube, cm, {"MESSAGE": "the role lost patch"})
    failed = controller.wait_record(lambda r: r.kind == "restart.failed", "the forbidden patch")
    assert failed.data["reason"] == "forbidden" and failed.data["error"]["status"] == 403
    assert "cannot patch resource" in failed.data["error"]["message"]
    forbidden = {"operation": "patch", "reason": "forbidden"}
    assert controller.metric("configmap_reload_errors_total", forbidden) >= 1
    status, health = controller.get_json("/healthz")
    assert status == 200, "a pod restart would not fix a Role: liveness stays green"
    assert health["permissions"]["ok"] is False
    assert "cannot patch resource" in health["permissions"]["forbidden"]["patch"]
    status, ready = controller.get_json("/readyz")
    assert status == 503 and any("patch forbidden" in reason for reason in ready["reasons"])
    assert restarts(kube, dep) == 0 and controller.running

    kube.apply(role)
    patched = controller.wait_record(
        lambda r: r.kind == "restart.patched", "the restart once the Role is repaired"
    )
    assert patched.correlation_id == failed.correlation_id
    controller.quiesce(after_seq=patched.seq)
    assert restarts(kube, dep) == 1
    status, health = controller.get_json("/healthz")
    assert status == 200 and health["permissions"] == {"ok": True, "forbidden": {}}
    controller.wait_ready()
    assert controller.stop() == 0
    replay_check(controller.journal_path)


# 10 ------------------------------------------------------------------------------------


def test_a_read_only_journal_stops_patches_until_it_is_writable_again(kube, controllers):
    cm, dep = pair(kube, "test")
    controller = controllers().start()
    journal = controller.journal_path
    wait_for(lambda: applied_hash(kube, dep), "the adoption")
    with ReadOnly(journal):
        set_data(kube, cm, {"MESSAGE": "written while the journal is read-only"})
        wait_for(
            lambda: controller.metric("configmap_reload_journal_errors_total") >= 1,
            "a journal error",
        )
        status, ready = controller.get_json("/readyz")
        assert status == 503 and any("journal" in reason for reason in ready["reasons"])
        status, health = controller.get_json("/healthz")
        assert status == 200 and health["journal"]["ok"] is False
        # observed + scheduled + planned waiting: the restart is decided but may not
        # be sent before its plan is durable.
        wait_for(
            lambda: controller.metric("configmap_reload_journal_backlog") >= 3,
            "the planned restart",
        )
        assert restarts(kube, dep) == 0
        assert controller.metric("configmap_reload_restarts_total", {"deployment": dep}) == 0
    wait_for(lambda: restarts(kube, dep) == 1, "the restart after recovery", timeout=15)
    controller.wait_record(lambda r: r.kind == "restart.patched", "the patch's record")
    controller.wait_ready()
    records = controller.records()
    planned = next(r for r in records if r.kind == "restart.planned")
    patched = next(r for r in records if r.kind == "restart.patched")
    assert planned.seq < patched.seq
    assert planned.ts < patched.ts
    observed = [
        r for r in records if r.kind == "configmap.observed" and r.data["event_type"] == "MODIFIED"
    ]
    assert observed, "records decided during the outage were appended after it"
    assert controller.stop() == 0
    replay_check(controller.journal_path)
    verify_journal(journal)


# 13 ------------------------------------------------------------------------------------


def test_the_configmap_watch_asks_for_the_selector_and_reports_when_it_is_down(kube, controllers):
    pair(kube, "test")
    controller = controllers().start()
    lists = kube.requests(client=controller.client, verb="list", resource="configmaps")
    assert lists and all("labelSelector=app%3Dhelloworld" in r.path for r in lists)
    up = {"resource": "configmaps"}
    assert controller.metric("configmap_reload_watch_up", up) == 1
    fault = kube.fail(503, verb=("list", "watch"), resource="configmaps", client=controller.client)
    kube.cut_watches(client=controller.client, resource="configmaps")
    # The alert on configmap_reload_watch_up == 0 depends on this.
    wait_for(lambda: controller.metric("configmap_reload_watch_up", up) == 0, "the watch down")
    status, health = controller.get_json("/healthz")
    assert status == 200 and health["watches"]["configmaps"] == {"up": False}
    kube.remove_fault(fault)
    wait_for(lambda: controller.metric("configmap_reload_watch_up", up) == 1, "the watch up")
    assert controller.stop() == 0
