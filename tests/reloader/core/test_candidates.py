"""Narrowing what a change is checked against decides exactly as scanning everything."""

from __future__ import annotations

import itertools

from reloader.core import (
    ConfigMapSeen,
    DeploymentSeen,
    EventType,
    Policy,
    desired_hash,
    initial_state,
    step,
)
from reloader.core.model import CONFIGMAP, DEPLOYMENT, SECRET
from reloader.core.pmap import PMap
from reloader.core.queries import candidate_sources, depends, desired_in
from reloader.core.reconcile.scratch import Scratch
from tests.reloader.core.scenario import NS, envfrom, source, workload

SOURCES = [
    source("ConfigMap", "app-config", {"A": "1"}),
    source(
        "ConfigMap", "app-extra", {"B": "2"}, annotations={"reloader.stakater.com/match": "true"}
    ),
    source("ConfigMap", "labelled", {"C": "3"}, labels={"app": "web", "env": "prod"}),
    source(
        "ConfigMap", "ignored", {"D": "4"}, annotations={"reloader.stakater.com/ignore": "true"}
    ),
    source("ConfigMap", "unrelated", {"E": "5"}),
    source("Secret", "db", {"password": "x"}),
    source("Secret", "db-extra", {"password": "y"}),
]
ANNOTATIONS = [
    {},
    {"reloader.stakater.com/auto": "true"},
    {"configmap.reloader.stakater.com/auto": "true"},
    {"secret.reloader.stakater.com/auto": "true"},
    {"reloader.stakater.com/search": "true"},
    {"configmap.reloader.stakater.com/reload": "app-.*"},
    {"secret.reloader.stakater.com/reload": "db-extra"},
    {"shipshape.io/auto": "false", "reloader.stakater.com/auto": "true"},
]
POD_SPECS = [
    {},
    envfrom(("configMap", "app-config")),
    envfrom(("configMap", "app-config"), ("configMap", "app-extra"), ("secret", "db")),
    envfrom(("configMap", "missing"), ("secret", "db-extra"), ("configMap", "ignored")),
]
LABELS = [None, {"app": "web", "env": "prod"}]


def key(view) -> tuple[str, str, str]:
    return (view.namespace, view.kind, view.name)


def test_candidates_hold_every_source_that_counts() -> None:
    keys = [key(s) for s in SOURCES]
    for secrets, notes, pod_spec, labels, kind in itertools.product(
        (False, True), ANNOTATIONS, POD_SPECS, LABELS, ("Deployment", "StatefulSet")
    ):
        policy = Policy(watch_secrets=secrets)
        view = workload(kind, "web", notes, pod_spec=pod_spec, labels=labels)
        counting = {key(s) for s in SOURCES if depends(view, s, policy)}
        narrowed = set(candidate_sources(view, NS, keys))
        assert counting <= narrowed, (notes, pod_spec, labels, kind)
        configmaps = PMap({key(s): s for s in SOURCES})
        deployments = {key(view): view}
        assert desired_in(configmaps, deployments, key(view), policy, keys) == desired_in(
            configmaps, deployments, key(view), policy, None
        )


def test_only_references_are_tried_without_labels_or_patterns() -> None:
    view = workload(
        "Deployment",
        "web",
        {"reloader.stakater.com/auto": "true"},
        pod_spec=envfrom(("configMap", "app-config"), ("secret", "db")),
    )
    everything = [(NS, CONFIGMAP, f"cm-{i}") for i in range(100)]
    assert sorted(candidate_sources(view, NS, everything)) == [
        (NS, CONFIGMAP, "app-config"),
        (NS, SECRET, "db"),
    ]
    assert list(candidate_sources(workload("Deployment", "x", {}), NS, everything)) == []


def test_desired_hash_on_a_state_of_persistent_maps() -> None:
    state = initial_state(Policy(), NS)
    assert state.configmaps == {} and isinstance(state.configmaps, PMap)
    assert desired_hash(state, (NS, DEPLOYMENT, "web")) is None


def test_a_source_is_checked_against_the_workloads_that_may_depend_on_it() -> None:
    """``referrers`` and ``broad_index`` follow workloads as they come, change and go."""
    policy = Policy(watch_secrets=True)
    state = initial_state(policy, NS)
    for view in SOURCES:
        state, _ = step(state, ConfigMapSeen(EventType.ADDED, view, "list"), 0.0)
    shapes = list(itertools.product(ANNOTATIONS, POD_SPECS, LABELS))
    for i, (notes, pod_spec, labels) in enumerate(shapes):
        view = workload("Deployment", f"w{i}", notes, pod_spec=pod_spec, labels=labels)
        state, _ = step(state, DeploymentSeen(EventType.ADDED, view, "list"), 0.0)
    # Change some (another shape), delete others.
    for i, (notes, pod_spec, labels) in enumerate(shapes):
        if i % 3 == 0:
            other = shapes[(i * 7 + 1) % len(shapes)]
            view = workload("Deployment", f"w{i}", other[0], pod_spec=other[1], labels=other[2])
            state, _ = step(state, DeploymentSeen(EventType.MODIFIED, view, "watch"), 0.0)
        elif i % 3 == 1:
            view = workload("Deployment", f"w{i}", notes, pod_spec=pod_spec, labels=labels)
            state, _ = step(state, DeploymentSeen(EventType.DELETED, view, "watch"), 0.0)
    scratch = Scratch(state, 0.0)
    for source_view in SOURCES:
        wanted = sorted(k for k, w in state.deployments.items() if depends(w, source_view, policy))
        assert scratch.targets_of(key(source_view)) == wanted, source_view.name
    assert any(scratch.targets_of(key(s)) for s in SOURCES), "some source has targets"
    deleted = {(NS, DEPLOYMENT, f"w{i}") for i in range(1, len(shapes), 3)}
    linked = set().union(*state.referrers.values(), *state.broad_index.values())
    assert linked <= set(state.deployments) and not linked & deleted
