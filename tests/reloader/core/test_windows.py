"""Debounce windows: which changes of a source open one, and what may fire it."""

from __future__ import annotations

from records import kinds as k
from reloader.core import DeploymentSeen, EventType, Policy
from tests.reloader.core.scenario import Run, envfrom, source, workload

V1 = {"MESSAGE": "one"}
V2 = {"MESSAGE": "two"}
AUTO = {"reloader.stakater.com/auto": "true"}
SEARCH = {"reloader.stakater.com/search": "true"}
IGNORE = {"reloader.stakater.com/ignore": "true"}
MATCH = {"reloader.stakater.com/match": "true"}
SPEC = envfrom(("configMap", "cfg"))


def start(sources, workloads, debounce: float = 1.0) -> Run:
    return Run.start(
        sources,
        workloads,
        policy=Policy(
            debounce_seconds=debounce, workload_kinds=("deployments", "statefulsets", "daemonsets")
        ),
    )


def test_lifting_ignore_from_a_changed_configmap_restarts_its_workload_at_once():
    """The data changed while ignored; ignore removed (same data) is a change to decide on,
    not an unchanged update left to the resync."""
    c1 = source("ConfigMap", "cfg", V1, annotations=IGNORE)
    run = start([c1], [workload("Deployment", "web", AUTO, applied=c1.data_hash, pod_spec=SPEC)])
    run.change(source("ConfigMap", "cfg", V2, rv="2", annotations=IGNORE), at=10.0)
    run.run_until(20.0)
    assert run.patches() == []
    run.change(source("ConfigMap", "cfg", V2, rv="3"), at=30.0)
    run.run_until(32.0)
    [patch] = run.patches()
    assert (patch.deployment, patch.data_hash) == ("web", source("ConfigMap", "cfg", V2).data_hash)
    assert run.records(k.DEBOUNCE_SCHEDULED)[-1].data["reason"] == "change"


def test_marking_a_changed_configmap_match_restarts_a_searching_workload_at_once():
    c1 = source("ConfigMap", "cfg", V1)
    run = start([c1], [workload("Deployment", "web", SEARCH, applied=c1.data_hash, pod_spec=SPEC)])
    run.change(source("ConfigMap", "cfg", V2, rv="2"), at=10.0)
    run.run_until(20.0)
    assert run.patches() == []
    run.change(source("ConfigMap", "cfg", V2, rv="3", annotations=MATCH), at=30.0)
    run.run_until(32.0)
    assert [p.deployment for p in run.patches()] == ["web"]


def test_relabelling_a_configmap_onto_a_deployment_restarts_it_at_once():
    labels = {"app": "helloworld", "env": "test"}
    web = workload("Deployment", "web", {}, applied="old", labels=labels)
    run = start([source("ConfigMap", "cfg", V1, labels={"app": "helloworld", "env": "x"})], [web])
    assert run.patches() == [] and run.adoptions() == []
    run.change(source("ConfigMap", "cfg", V1, rv="2", labels=labels), at=10.0)
    run.run_until(12.0)
    [patch] = run.patches()
    assert (patch.deployment, patch.data_hash) == ("web", source("ConfigMap", "cfg", V1).data_hash)


def test_a_workload_event_inside_a_window_does_not_fire_it_early():
    """The window's debounce holds: a Deployment event (here its hash edited by hand)
    during the window is decided by the window when it fires."""
    c1 = source("ConfigMap", "cfg", V1)
    view = workload("Deployment", "web", AUTO, applied=c1.data_hash, pod_spec=SPEC)
    run = start([c1], [view], debounce=10.0)
    run.change(source("ConfigMap", "cfg", V2, rv="2"), at=10.0)
    tampered = workload("Deployment", "web", AUTO, applied="tampered", pod_spec=SPEC, rv="3")
    run.feed(DeploymentSeen(EventType.MODIFIED, tampered), at=12.0)
    run.run_until(19.9)
    assert run.patches() == []
    run.run_until(20.0)
    [patch] = run.patches()
    assert patch.data_hash == source("ConfigMap", "cfg", V2).data_hash
    assert patch.previous_hash == "tampered"
    assert [r.data["reason"] for r in run.records(k.DEBOUNCE_SCHEDULED)] == ["change"]
