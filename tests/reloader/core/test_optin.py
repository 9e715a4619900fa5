"""The opt-in rules: which ConfigMaps and Secrets a workload restarts for (reloader.core.optin)."""

from __future__ import annotations

from typing import Any

import pytest

from reloader.core.optin import (
    AnnotationWarning,
    ObjectRef,
    Source,
    Workload,
    dependencies,
    parse_duration,
    parse_optin,
    reasons,
    references,
    source_flags,
    source_from_object,
    workload_from_object,
)

POD_SPEC: dict[str, Any] = {
    "initContainers": [
        {"name": "init", "env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "init-s"}}}]}
    ],
    "containers": [
        {
            "name": "app",
            "env": [
                {"name": "PLAIN", "value": "x"},
                {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "env-cm", "key": "b"}}},
                {"name": "F", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            ],
            "envFrom": [{"configMapRef": {"name": "from-cm"}}, {"secretRef": {"name": "from-s"}}],
        }
    ],
    "volumes": [
        {"name": "v1", "configMap": {"name": "vol-cm"}},
        {"name": "v2", "secret": {"secretName": "vol-s"}},
        {"name": "v3", "emptyDir": {}},
        {
            "name": "v4",
            "projected": {
                "sources": [
                    {"configMap": {"name": "proj-cm"}},
                    {"secret": {"name": "proj-s"}},
                    {"serviceAccountToken": {"path": "t"}},
                ]
            },
        },
    ],
}


def workload(
    annotations: dict[str, str] | None = None,
    *,
    kind: str = "Deployment",
    labels: dict[str, str] | None = None,
    template_annotations: dict[str, str] | None = None,
    pod_spec: dict[str, Any] | None = None,
) -> Workload:
    return Workload(
        kind=kind,
        namespace="shop",
        name="web",
        labels=labels or {},
        annotations=annotations or {},
        template_annotations=template_annotations or {},
        pod_spec=POD_SPEC if pod_spec is None else pod_spec,
    )


def cm(name: str, annotations: dict[str, str] | None = None, **labels: str) -> Source:
    return Source("ConfigMap", "shop", name, labels, annotations or {})


def secret(name: str, annotations: dict[str, str] | None = None) -> Source:
    return Source("Secret", "shop", name, {}, annotations or {})


ALL_SOURCES = [
    cm("env-cm"),
    cm("from-cm"),
    cm("vol-cm"),
    cm("proj-cm"),
    cm("unused-cm"),
    secret("init-s"),
    secret("from-s"),
    secret("vol-s"),
    secret("proj-s"),
    secret("unused-s"),
]


def names(w: Workload, sources: list[Source] = ALL_SOURCES) -> list[str]:
    return [f"{d.source.kind}/{d.source.name}" for d in dependencies(w, sources).sources]


def test_references_cover_env_envfrom_volumes_projected_and_init_containers() -> None:
    assert references(POD_SPEC) == {
        ("ConfigMap", "env-cm"),
        ("ConfigMap", "from-cm"),
        ("ConfigMap", "vol-cm"),
        ("ConfigMap", "proj-cm"),
        ("Secret", "init-s"),
        ("Secret", "from-s"),
        ("Secret", "vol-s"),
        ("Secret", "proj-s"),
    }
    assert references({}) == frozenset()


def test_nothing_without_annotations() -> None:
    assert names(workload()) == []
    assert not parse_optin(workload()).opted_in


@pytest.mark.parametrize("key", ["reloader.stakater.com/auto", "shipshape.io/auto"])
def test_auto_follows_every_reference_of_both_kinds(key: str) -> None:
    assert names(workload({key: "true"})) == [
        "ConfigMap/env-cm",
        "ConfigMap/from-cm",
        "ConfigMap/proj-cm",
        "ConfigMap/vol-cm",
        "Secret/from-s",
        "Secret/init-s",
        "Secret/proj-s",
        "Secret/vol-s",
    ]


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("configmap.reloader.stakater.com/auto", "ConfigMap"),
        ("shipshape.io/configmap-auto", "ConfigMap"),
        ("secret.reloader.stakater.com/auto", "Secret"),
        ("shipshape.io/secret-auto", "Secret"),
    ],
)
def test_typed_auto_follows_one_kind(key: str, kind: str) -> None:
    found = names(workload({key: "true"}))
    assert len(found) == 4
    assert all(name.startswith(f"{kind}/") for name in found)


def test_auto_false_does_not_cancel_the_typed_auto_nor_a_list() -> None:
    w = workload(
        {
            "reloader.stakater.com/auto": "false",
            "secret.reloader.stakater.com/auto": "true",
            "configmap.reloader.stakater.com/reload": "unused-cm",
        }
    )
    assert names(w) == [
        "ConfigMap/unused-cm",
        "Secret/from-s",
        "Secret/init-s",
        "Secret/proj-s",
        "Secret/vol-s",
    ]


def test_reload_lists_name_sources_referenced_or_not_with_whole_name_patterns() -> None:
    w = workload(
        {
            "configmap.reloader.stakater.com/reload": " unused-cm , vol-.* ,,",
            "secret.reloader.stakater.com/reload": "vol-s",
        }
    )
    assert names(w) == ["ConfigMap/unused-cm", "ConfigMap/vol-cm", "Secret/vol-s"]
    # Whole names only: "vol" matches neither vol-cm nor vol-s.
    assert names(workload({"configmap.reloader.stakater.com/reload": "vol"})) == []


def test_shipshape_wins_over_reloader_on_conflict() -> None:
    w = workload(
        {
            "reloader.stakater.com/auto": "true",
            "shipshape.io/auto": "false",
            "configmap.reloader.stakater.com/reload": "unused-cm",
            "shipshape.io/configmap-reload": "env-cm",
        }
    )
    assert names(w) == ["ConfigMap/env-cm"]
    assert reasons(parse_optin(w), cm("env-cm")) == ("reload",)


def test_search_needs_match_on_the_source_and_a_reference() -> None:
    sources = [
        cm("vol-cm", {"reloader.stakater.com/match": "true"}),
        cm("env-cm"),
        cm("unused-cm", {"reloader.stakater.com/match": "true"}),
        secret("vol-s", {"shipshape.io/match": "true"}),
        secret("from-s", {"shipshape.io/match": "false", "reloader.stakater.com/match": "true"}),
    ]
    for key in ("reloader.stakater.com/search", "shipshape.io/search"):
        assert names(workload({key: "true"}), sources) == ["ConfigMap/vol-cm", "Secret/vol-s"]


@pytest.mark.parametrize("key", ["reloader.stakater.com/ignore", "shipshape.io/ignore"])
def test_ignore_on_a_source_beats_every_rule(key: str) -> None:
    ignored = cm("vol-cm", {key: "true"}, app="web", env="prod")
    w = workload(
        {
            "reloader.stakater.com/auto": "true",
            "configmap.reloader.stakater.com/reload": "vol-cm",
            "reloader.stakater.com/search": "true",
        },
        labels={"app": "web", "env": "prod"},
    )
    assert reasons(parse_optin(w), ignored) == ()
    assert reasons(parse_optin(w), cm("vol-cm", {key: "false"})) == ("auto", "reload")


def test_the_runbook_label_rule_selects_the_deployment_with_the_same_labels() -> None:
    labelled = cm("helloworld-config-prod", app="helloworld", env="prod")
    other_env = cm("helloworld-config-test", app="helloworld", env="test")
    d = workload(labels={"app": "helloworld", "env": "prod"}, pod_spec={})
    assert names(d, [labelled, other_env]) == ["ConfigMap/helloworld-config-prod"]
    assert reasons(parse_optin(d), labelled) == ("labels",)
    # Deployments only, as today, and both labels are needed.
    sts = workload(kind="StatefulSet", labels={"app": "helloworld", "env": "prod"}, pod_spec={})
    assert names(sts, [labelled]) == []
    assert names(workload(labels={"app": "helloworld"}, pod_spec={}), [labelled]) == []


def test_several_rules_give_several_reasons() -> None:
    w = workload(
        {"shipshape.io/auto": "true", "shipshape.io/configmap-reload": "vol-cm"},
        labels={"app": "web", "env": "prod"},
    )
    assert reasons(parse_optin(w), cm("vol-cm", app="web", env="prod")) == (
        "auto",
        "labels",
        "reload",
    )


def test_other_namespaces_never_count() -> None:
    w = workload({"reloader.stakater.com/auto": "true"})
    elsewhere = Source("ConfigMap", "other", "vol-cm", {}, {})
    assert names(w, [elsewhere]) == []
    assert reasons(parse_optin(w), elsewhere) == ()


def test_pod_template_annotations_are_read_when_the_workload_has_none() -> None:
    w = workload(template_annotations={"reloader.stakater.com/auto": "true"})
    assert len(names(w)) == 8
    # A key concerning a kind on the workload itself hides the template's for
    # that kind (ConfigMaps here), not for the other (Secrets).
    w = workload(
        {"configmap.reloader.stakater.com/reload": "unused-cm"},
        template_annotations={"reloader.stakater.com/auto": "true"},
    )
    assert names(w) == [
        "ConfigMap/unused-cm",
        "Secret/from-s",
        "Secret/init-s",
        "Secret/proj-s",
        "Secret/vol-s",
    ]
    # ... but not for the other kind, whose keys it does not carry.
    w = workload(
        {"secret.reloader.stakater.com/reload": "unused-s"},
        template_annotations={"configmap.reloader.stakater.com/auto": "true"},
    )
    assert names(w) == [
        "ConfigMap/env-cm",
        "ConfigMap/from-cm",
        "ConfigMap/proj-cm",
        "ConfigMap/vol-cm",
        "Secret/unused-s",
    ]


@pytest.mark.parametrize("value", ["true", "True", "TRUE", "t", "T", "1"])
def test_booleans_are_go_parsebool_spellings(value: str) -> None:
    assert parse_optin(workload({"reloader.stakater.com/auto": value})).kinds["Secret"].auto


def test_unknown_values_are_reported_once_and_taken_as_false() -> None:
    w = workload(
        {
            "reloader.stakater.com/auto": "yes please",
            "reloader.stakater.com/search": "maybe",
        }
    )
    result = dependencies(w, [*ALL_SOURCES, cm("unused-cm", {"shipshape.io/ignore": "y"})])
    assert result.sources == ()
    web = ObjectRef("Deployment", "shop", "web")
    assert result.warnings == (
        AnnotationWarning(
            web, "reloader.stakater.com/auto", "yes please", "is not true or false: taken as false"
        ),
        AnnotationWarning(
            web, "reloader.stakater.com/search", "maybe", "is not true or false: taken as false"
        ),
        AnnotationWarning(
            ObjectRef("ConfigMap", "shop", "unused-cm"),
            "shipshape.io/ignore",
            "y",
            "is not true or false: taken as false",
        ),
    )
    assert result.warnings[0].message() == (
        "shop/Deployment/web: reloader.stakater.com/auto='yes please'"
        " is not true or false: taken as false"
    )


def test_reloader_annotations_shipshape_lacks_are_reported_and_change_nothing() -> None:
    """A pause period from Reloader is not implemented, nor an exclude list on the pod
    template (Reloader reads it on the workload's metadata only): the workload is told
    so, and the rules stand as without them."""
    excluded = {
        "reloader.stakater.com/auto": "true",
        "configmaps.exclude.reloader.stakater.com/reload": "env-cm",
        "secrets.exclude.reloader.stakater.com/reload": "env-s",
        "deployment.reloader.stakater.com/pause-period": "5m",
    }
    w = workload(template_annotations=excluded)
    warned = parse_optin(w).warnings
    assert [(x.annotation, x.value) for x in warned] == [
        ("configmaps.exclude.reloader.stakater.com/reload", "env-cm"),
        ("secrets.exclude.reloader.stakater.com/reload", "env-s"),
        ("deployment.reloader.stakater.com/pause-period", "5m"),
    ]
    assert all(x.problem.startswith(("is not supported: ignored", "is read on")) for x in warned)
    plain = {"reloader.stakater.com/auto": "true"}
    assert names(w) == names(workload(plain))
    assert "ConfigMap/env-cm" in names(w)
    assert parse_optin(workload(plain)).warnings == ()


def test_a_bad_value_is_cut_in_the_report() -> None:
    (warning,) = parse_optin(workload({"shipshape.io/auto": "x" * 500})).warnings
    assert warning.value == "x" * 64


def test_list_items_that_could_stall_the_matcher_are_reported_and_skipped() -> None:
    w = workload({"configmap.reloader.stakater.com/reload": "(a+)+, a?a?a?aaa, [, vol-cm, .*-cm"})
    optin = parse_optin(w)
    assert [(x.value, x.problem) for x in optin.warnings] == [
        ("(a+)+", "uses a group, which Shipshape does not evaluate: this item is ignored"),
        (
            "a?a?a?aaa",
            "repeats more than 2 times, which Shipshape does not evaluate: this item is ignored",
        ),
        ("[", "is not a name nor a regular expression: this item is ignored"),
    ]
    assert names(w) == [
        "ConfigMap/env-cm",
        "ConfigMap/from-cm",
        "ConfigMap/proj-cm",
        "ConfigMap/unused-cm",
        "ConfigMap/vol-cm",
    ]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("30s", 30.0), ("2m", 120.0), ("1h", 3600.0), ("1m30s", 90.0), ("0s", 0.0)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "thirty", "-5s", "5 s", "1d", "s"])
def test_bad_durations(text: str) -> None:
    assert parse_duration(text) is None


def test_debounce_override_and_bad_values() -> None:
    assert dependencies(workload({"shipshape.io/debounce": "30s"}), []).debounce_seconds == 30
    assert (
        dependencies(
            workload(template_annotations={"shipshape.io/debounce": "500ms"}), []
        ).debounce_seconds
        == 0.5
    )
    for bad in ("30", "2h", "soon"):
        result = dependencies(workload({"shipshape.io/debounce": bad}), [])
        assert result.debounce_seconds is None
        assert [w.annotation for w in result.warnings] == ["shipshape.io/debounce"]


def test_source_flags() -> None:
    assert source_flags(cm("a", {"reloader.stakater.com/ignore": "true"}))[:2] == (True, False)
    assert source_flags(cm("a", {"shipshape.io/match": "1"}))[:2] == (False, True)
    ignore, match, warnings = source_flags(
        cm("a", {"shipshape.io/match": "false", "reloader.stakater.com/match": "true"})
    )
    assert (ignore, match, warnings) == (False, False, ())


def test_from_api_objects() -> None:
    obj = {
        "metadata": {
            "name": "db",
            "namespace": "shop",
            "labels": {"app": "db"},
            "annotations": {"shipshape.io/auto": "true"},
        },
        "spec": {
            "template": {
                "metadata": {"annotations": {"shipshape.io/debounce": "1m"}},
                "spec": {"volumes": [{"name": "c", "configMap": {"name": "db-conf"}}]},
            }
        },
    }
    w = workload_from_object(obj, "StatefulSet")
    assert w.ref == ObjectRef("StatefulSet", "shop", "db")
    assert dependencies(w, [cm("db-conf")]).sources[0].reasons == ("auto",)
    assert dependencies(w, []).debounce_seconds == 60
    s = source_from_object(
        {"kind": "Secret", "metadata": {"name": "k", "namespace": "shop"}, "data": {"x": "eA=="}}
    )
    assert s == Source("Secret", "shop", "k", {}, {})
    with pytest.raises(ValueError, match="not a workload kind"):
        workload_from_object(obj, "Job")
    with pytest.raises(ValueError, match="not a ConfigMap or Secret"):
        source_from_object({"kind": "Pod"})
