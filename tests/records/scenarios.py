"""Scripted runs of the decision core that together write every kind it writes.

``test_golden`` compares the records these runs produce with the records the
core produced before its payloads became typed (``golden_records.json``), so a
change to the catalogue or to the core that alters a stored record shows up as
a difference in kind, key or JSON value.
"""

from __future__ import annotations

from dataclasses import replace

from reloader.core import (
    AdoptRefused,
    ConfigMapSeen,
    DeploymentSeen,
    EventType,
    Failure,
    FlushDeadline,
    LeaderObserved,
    LeadershipChanged,
    Listed,
    PatchFailed,
    PatchFenced,
    PatchRefused,
    PatchSucceeded,
    Policy,
    Resource,
    RolloutStatus,
    ShutdownRequested,
    WatchFailed,
)
from tests.reloader.core.scenario import (
    FORBIDDEN,
    UNAVAILABLE,
    V1,
    V2,
    V3,
    Run,
    cm,
    deploy,
    envfrom,
    h,
    rolled,
    source,
    workload,
)

CONFLICT = Failure("conflict", retriable=True, status=409, message="the object has been modified")
TIMEOUT = Failure("timeout", retriable=True, message="read timed out")
LEASE = "helloworld-controller-leader"
CM = "helloworld-config-test"
DEPLOY = "helloworld-test"


def _started(data=V1, applied=V1, acting=True, **policy) -> Run:
    return Run.start(
        [cm(CM, data, rv="10"), cm("orphan-config-prod", V1, rv="3")],
        [deploy(DEPLOY, h(applied) if applied is not None else None)],
        policy=Policy(**{"debounce_seconds": 1.0, **policy}),
        acting=acting,
    )


def _answer(run: Run, event_type, *args, at: float | None = None, **kwargs) -> None:
    patch = run.patches()[-1]
    run.feed(event_type(patch.deployment, patch.correlation_id, *args, **kwargs), at)


def change_patch_rollout() -> Run:
    """A change, two coalesced edits, a patch, a completed and a timed-out rollout."""
    run = _started(rollout_timeout_seconds=50.0)
    run.feed(WatchFailed(Resource.CONFIGMAPS, "connection reset", None, 1.25), at=2.0)
    run.feed(Listed(Resource.CONFIGMAPS, "120", 2, initial=False, reason="expired", modified=1))
    run.change(cm(CM, V2, rv="11"), at=10.0)
    run.change(cm(CM, V3, rv="12"), at=10.3)
    run.change(cm(CM, V2, rv="13"), at=10.6)
    run.run_until(12.0)
    _answer(run, PatchSucceeded, 2, at=12.5)
    view = deploy(DEPLOY, h(V2), rv="20", generation=2)
    run.feed(DeploymentSeen(EventType.MODIFIED, view), at=14.0)
    run.change(cm(CM, V3, rv="14"), at=20.0)
    run.run_until(22.0)
    _answer(run, PatchSucceeded, 3, at=22.1)
    stuck = RolloutStatus(3, 3, 1, 2, 1, 0, progress_deadline_exceeded=True)
    run.feed(DeploymentSeen(EventType.MODIFIED, replace(view, rollout=stuck)), at=30.0)
    run.change(cm(CM, V1, rv="15"), at=40.0)
    run.run_until(42.0)
    _answer(run, PatchSucceeded, 4, at=42.1)
    run.run_until(200.0)
    run.feed(DeploymentSeen(EventType.DELETED, rolled(view, 4, "90")), at=201.0)
    run.change(cm(CM, V2, rv="16"), at=202.0)
    run.run_until(205.0)
    return run


def retries_and_failures() -> Run:
    """Retry with backoff, a fenced patch, a lost answer, a forbidden patch."""
    run = _started(retry_base_seconds=2.0, retry_max_attempts=3)
    run.change(cm(CM, V2, rv="11"), at=10.0)
    run.tick(11.0)
    _answer(run, PatchFailed, UNAVAILABLE, 0.25)
    run.run_until(14.0)
    _answer(run, PatchFenced)
    run.run_until(17.0)
    _answer(run, PatchFailed, TIMEOUT, 0.0, at=17.5)
    run.feed(DeploymentSeen(EventType.MODIFIED, deploy(DEPLOY, h(V2), rv="40", generation=2)))
    run.run_until(30.0)
    run.change(cm(CM, V3, rv="12"), at=40.0)
    run.run_until(42.0)
    _answer(run, PatchFailed, FORBIDDEN, 0.3)
    run.change(cm(CM, V1, rv="13"), at=50.0)
    run.run_until(52.0)
    _answer(run, PatchFailed, UNAVAILABLE, 0.5)
    run.feed(DeploymentSeen(EventType.DELETED, deploy(DEPLOY, h(V2), rv="41")), at=52.5)
    run.run_until(60.0)
    return run


def exhausted_retries() -> Run:
    run = _started(retry_base_seconds=1.0, retry_max_attempts=2)
    run.change(cm(CM, V2, rv="11"), at=10.0)
    run.tick(11.0)
    _answer(run, PatchFailed, UNAVAILABLE, 0.1)
    run.run_until(20.0)
    _answer(run, PatchFailed, UNAVAILABLE, 0.1)
    run.run_until(30.0)
    return run


def refused_patches() -> Run:
    """Superseded (already applied, newer applied), re-decided, not found."""
    run = _started(retry_max_attempts=2)
    run.change(cm(CM, V2, rv="11"), at=10.0)
    run.tick(11.0)
    _answer(run, PatchRefused, CONFLICT, applied_hash=h(V2), resource_version="77", generation=2)
    run.feed(DeploymentSeen(EventType.MODIFIED, deploy(DEPLOY, h(V2), rv="78", generation=2)))
    run.change(cm(CM, V3, rv="12"), at=20.0)
    run.tick(21.0)
    run.change(cm(CM, V1, rv="13"), at=21.5)
    _answer(run, PatchRefused, CONFLICT, applied_hash=h(V1), generation=3, at=21.6)
    run.feed(DeploymentSeen(EventType.MODIFIED, deploy(DEPLOY, h(V1), rv="79", generation=3)))
    run.run_until(30.0)
    run.change(cm(CM, V2, rv="14"), at=40.0)
    run.tick(41.0)
    refused = dict(applied_hash=h(V1), resource_version="80")
    _answer(run, PatchRefused, CONFLICT, **refused, at=41.1)
    _answer(run, PatchRefused, CONFLICT, **refused, at=41.2)
    run.run_until(60.0)
    run.change(cm(CM, V3, rv="15"), at=70.0)
    run.tick(71.0)
    _answer(run, PatchRefused, CONFLICT, found=False, at=71.1)
    return run


def adoption() -> Run:
    run = Run.start([cm(CM, V1, rv="10")], [deploy(DEPLOY, None, rv="5")])
    run.feed(AdoptRefused(DEPLOY, True, None, "6"), at=1.0)
    run.feed(DeploymentSeen(EventType.ADDED, deploy("helloworld-other", None, env="test")), at=2.0)
    run.change(cm(CM, V2, rv="11"), at=10.0)
    run.change(cm(CM, V1, rv="12"), at=10.3)
    run.run_until(12.0)
    return run


def shutdown_flush() -> Run:
    """A flushed window, a flushed backoff dropped on failure, the flush deadline."""
    run = _started(retry_base_seconds=30.0, retry_max_seconds=30.0)
    run.feed(DeploymentSeen(EventType.ADDED, deploy("helloworld-prod", h(V1), env="prod")))
    run.change(cm("helloworld-config-prod", V2, env="prod", rv="3"), at=5.0)
    run.run_until(7.0)
    _answer(run, PatchFailed, UNAVAILABLE, 0.0)
    run.change(cm(CM, V2, rv="11"), at=10.0)
    run.feed(ShutdownRequested("SIGTERM"), at=10.3)
    _answer(run, PatchFailed, UNAVAILABLE, 0.0, at=10.4)
    run.feed(FlushDeadline(), at=30.0)
    return run


def leadership() -> Run:
    run = _started(data=V2, applied=V1, acting=False)
    run.feed(LeaderObserved(LEASE, "helloworld-controller-1", 7), at=1.0)
    run.feed(
        LeadershipChanged(
            True,
            lease=LEASE,
            epoch=8,
            await_relist=True,
            detail={"previous_holder": "helloworld-controller-1", "acquire_latency_seconds": 3.2},
        ),
        at=2.0,
    )
    run.feed(Listed(Resource.CONFIGMAPS, "500", 2, initial=False, reason="leader"), at=2.1)
    run.feed(Listed(Resource.DEPLOYMENTS, "501", 1, initial=False, reason="leader"), at=2.2)
    run.change(cm(CM, V3, rv="12"), at=3.0)
    run.feed(
        LeadershipChanged(
            False, lease=LEASE, epoch=8, reason="renew-deadline", detail={"seconds": 2.01}
        ),
        at=3.5,
    )
    run.run_until(6.0)
    run.feed(LeadershipChanged(True, lease=LEASE, epoch=9, detail={"previous_holder": None}))
    run.run_until(9.0)
    run.feed(
        LeadershipChanged(
            False, lease=LEASE, epoch=9, reason="released", detail={"lease_cleared": True}
        ),
        at=10.0,
    )
    return run


def queue_revert_delete() -> Run:
    """A change coalesced into a queued restart, a reverted and a deleted window."""
    run = Run.start(
        [cm(CM, V1, rv="10"), cm("helloworld-extra-test", V1, rv="10")],
        [deploy(DEPLOY, None)],
        policy=Policy(debounce_seconds=1.0, restart_rate_per_second=0.01, restart_burst=1),
    )
    run.feed(DeploymentSeen(EventType.MODIFIED, deploy(DEPLOY, run.adoptions()[-1].data_hash)))
    run.change(cm(CM, V2, rv="11"), at=10.0)
    run.run_until(12.0)
    _answer(run, PatchSucceeded, 2, at=12.5)
    run.change(cm(CM, V3, rv="12"), at=20.0)
    run.run_until(22.0)
    run.change(cm("helloworld-extra-test", V2, rv="13"), at=22.0)
    run.run_until(24.0)
    run.change(cm("helloworld-extra-test", V3, rv="14"), at=30.0)
    run.change(cm("helloworld-extra-test", V2, rv="15"), at=30.3)
    run.run_until(32.0)
    run.change(cm("helloworld-extra-test", V3, rv="16"), at=40.0)
    run.feed(DeploymentSeen(EventType.DELETED, deploy(DEPLOY, h(V1), rv="17")), at=40.2)
    run.feed(ConfigMapSeen(EventType.DELETED, cm("helloworld-extra-test", V3, rv="18")), at=40.5)
    run.run_until(300.0)
    return run


def lost_while_retrying() -> Run:
    run = _started(retry_base_seconds=5.0)
    run.change(cm(CM, V2, rv="11"), at=10.0)
    run.tick(11.0)
    _answer(run, PatchFailed, UNAVAILABLE, 0.0)
    run.feed(LeadershipChanged(False), at=12.0)
    run.change(cm(CM, V3, rv="12"), at=13.0)
    run.run_until(20.0)
    return run


def workloads_opting_in() -> Run:
    """A StatefulSet with a bad value, a DaemonSet missing a reference, then a change."""
    spec = envfrom(("configMap", CM), ("configMap", "absent"))
    run = Run.start(
        [cm(CM, V1, rv="10")],
        [
            workload("StatefulSet", "db", {"reloader.stakater.com/auto": "yes"}, pod_spec=spec),
            workload("DaemonSet", "agent", {"reloader.stakater.com/auto": "true"}, pod_spec=spec),
        ],
        policy=Policy(
            debounce_seconds=1.0, workload_kinds=("deployments", "statefulsets", "daemonsets")
        ),
    )
    run.change(cm(CM, V2, rv="11"), at=10.0)
    run.tick(11.0)
    return run


def sources_opting_in() -> Run:
    """Search and match, a Secret's reload list, an ignored ConfigMap, a debounce override."""
    spec = envfrom(("configMap", "web-config"), ("configMap", "web-flags"), ("secret", "web-key"))
    annotations = {
        "reloader.stakater.com/search": "true",
        "secret.reloader.stakater.com/reload": "web-key",
        "configmap.reloader.stakater.com/reload": "web-f.*",
        "shipshape.io/debounce": "3s",
    }
    match = {"reloader.stakater.com/match": "true"}
    run = Run.start(
        [
            source("ConfigMap", "web-config", V1, rv="10", annotations=match),
            source("ConfigMap", "web-flags", V1, rv="11", annotations={"shipshape.io/ignore": "1"}),
            source("Secret", "web-key", V1, rv="12"),
        ],
        [workload("Deployment", "web", annotations, pod_spec=spec)],
        policy=Policy(debounce_seconds=1.0, watch_secrets=True),
    )
    run.change(source("Secret", "web-key", V2, rv="13"), at=10.0)
    run.run_until(14.0)
    return run


def on_delete_rollout() -> Run:
    """A StatefulSet under ``updateStrategy: OnDelete``: patched, its rollout not followed."""
    spec = envfrom(("configMap", CM))
    db = workload("StatefulSet", "db", {"reloader.stakater.com/auto": "true"}, pod_spec=spec)
    run = Run.start(
        [cm(CM, V1, rv="10")],
        [replace(db, applied_hash=h(V1), rollout=replace(db.rollout, on_delete=True))],
        policy=Policy(debounce_seconds=1.0, workload_kinds=("statefulsets",)),
    )
    run.change(cm(CM, V2, rv="11"), at=10.0)
    run.run_until(12.0)
    patch = run.patches()[-1]
    _answer(run, PatchSucceeded, 2, patch.namespace, patch.kind, at=12.5)
    run.run_until(20.0)
    return run


SCENARIOS = {
    "change_patch_rollout": change_patch_rollout,
    "retries_and_failures": retries_and_failures,
    "exhausted_retries": exhausted_retries,
    "refused_patches": refused_patches,
    "adoption": adoption,
    "shutdown_flush": shutdown_flush,
    "leadership": leadership,
    "queue_revert_delete": queue_revert_delete,
    "lost_while_retrying": lost_while_retrying,
    "workloads_opting_in": workloads_opting_in,
    "sources_opting_in": sources_opting_in,
    "on_delete_rollout": on_delete_rollout,
}


def produced() -> dict[str, list[list]]:
    """Every scenario's records as ``[kind, object, correlation_id, data]``."""
    return {
        name: [[r.kind, r.object, r.correlation_id, dict(r.data)] for r in scenario().records()]
        for name, scenario in SCENARIOS.items()
    }
