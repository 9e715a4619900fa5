"""Narrowing a workload's sources to its references decides exactly as scanning them all."""

from __future__ import annotations

import itertools

from reloader.core import Policy, desired_hash, initial_state
from reloader.core.model import CONFIGMAP, DEPLOYMENT, SECRET
from reloader.core.pmap import PMap
from reloader.core.queries import candidate_sources, depends, desired_in
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
