"""Reloader's exclude lists: a Reloader manifest that excludes a source restarts nothing for it."""

from __future__ import annotations

from reloader.core import workload_view
from reloader.core.optin import Workload, parse_optin
from reloader.core.workloads import optin_facts, optin_from_facts, references_moved
from tests.reloader.core.test_reloader_compat import (
    AUTO,
    CM_RELOAD,
    NS,
    POD_SPEC,
    SEARCH,
    SECRET_RELOAD,
    restarts,
)

CM_EXCLUDE = "configmaps.exclude.reloader.stakater.com/reload"
SECRET_EXCLUDE = "secrets.exclude.reloader.stakater.com/reload"


def test_an_excluded_source_restarts_nothing_under_auto_or_search() -> None:
    excluded = {AUTO: "true", CM_EXCLUDE: "env-cm, vol-cm", SECRET_EXCLUDE: "vol-s"}
    assert not restarts(excluded, ("ConfigMap", "env-cm"))
    assert not restarts(excluded, ("ConfigMap", "vol-cm"))
    assert not restarts(excluded, ("Secret", "vol-s"))
    assert restarts(excluded, ("ConfigMap", "proj-cm"))
    assert restarts(excluded, ("Secret", "proj-s"))
    # Exact names, per kind: no pattern, no prefix, no other kind.
    assert restarts({AUTO: "true", CM_EXCLUDE: "vol-.*,vol"}, ("ConfigMap", "vol-cm"))
    assert restarts({AUTO: "true", CM_EXCLUDE: "vol-s"}, ("Secret", "vol-s"))
    match = {"reloader.stakater.com/match": "true"}
    searched = {SEARCH: "true", CM_EXCLUDE: "vol-cm"}
    assert not restarts(searched, ("ConfigMap", "vol-cm"), source_annotations=match)
    assert restarts(searched, ("ConfigMap", "proj-cm"), source_annotations=match)


def test_an_exclude_list_beats_a_reload_list_as_in_reloader() -> None:
    listed = {CM_RELOAD: "app-.*", CM_EXCLUDE: "app-secret-ish", SECRET_RELOAD: "app-secret-ish"}
    assert not restarts(listed, ("ConfigMap", "app-secret-ish"))
    assert restarts(listed, ("ConfigMap", "app-config"))
    assert restarts(listed, ("Secret", "app-secret-ish"))


def test_an_exclude_list_is_read_on_the_workloads_metadata_only() -> None:
    """Reloader reads it there even when the rest comes from the pod template."""
    template = {AUTO: "true"}
    assert not restarts({CM_EXCLUDE: "vol-cm"}, ("ConfigMap", "vol-cm"), template=template)
    on_template = {**template, CM_EXCLUDE: "vol-cm"}
    assert restarts({}, ("ConfigMap", "vol-cm"), template=on_template)
    workload = Workload("Deployment", NS, "web", {}, {}, on_template, POD_SPEC)
    (warning,) = parse_optin(workload).warnings
    assert (warning.annotation, warning.value) == (CM_EXCLUDE, "vol-cm")
    assert "metadata only" in warning.problem


def test_an_exclude_list_is_journaled_and_replayed() -> None:
    annotations = {CM_RELOAD: "app-.*", AUTO: "true", CM_EXCLUDE: "app-x, vol-cm"}
    view = workload_view(Workload("Deployment", NS, "web", {}, annotations, {}, POD_SPEC), None)
    facts = optin_facts(view)
    assert facts is not None
    assert facts["configmap"]["exclude"] == ["app-x", "vol-cm"]
    assert "vol-cm" not in facts["configmap"]["references"]
    rebuilt, _ = optin_from_facts(facts, "deployment", NS, "web", None)
    assert rebuilt is not None
    # The list is journaled as written; the exclusion stays its own fact.
    assert facts["configmap"]["reload"] == ["app-.*"]
    assert [p.pattern for p in rebuilt.kinds["ConfigMap"].reload] == facts["configmap"]["reload"]
    assert not rebuilt.kinds["ConfigMap"].lists("app-x")
    assert rebuilt.kinds["ConfigMap"].lists("app-y")
    assert rebuilt.references == view.optin.references
    # Changing the list is a change of rules, not a pod template edit.
    before = optin_facts(
        workload_view(Workload("Deployment", NS, "web", {}, {AUTO: "true"}, {}, POD_SPEC), None)
    )
    assert not references_moved(before, facts)
