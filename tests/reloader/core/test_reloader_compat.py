"""A manifest written for stakater/Reloader restarts exactly when Reloader would restart it.

Each case is a workload's annotations (on its metadata and its pod template),
its pod spec and one ConfigMap or Secret, with the answer Reloader gives for a
change of that source's data (read from Reloader's rules: where it looks for
its annotations, how it reads their values, what it takes for a reference).
Both of the controller's paths must give it: the opt-in rules
(:func:`reloader.core.optin.dependencies`) and the decision core's
(:func:`reloader.core.queries.depends` on the views the adapter builds).
"""

from __future__ import annotations

from typing import Any

import pytest

from reloader.core import Policy, source_view, workload_view
from reloader.core.optin import Source, Workload, dependencies, parse_optin, source_flags
from reloader.core.queries import depends

NS = "shop"
AUTO = "reloader.stakater.com/auto"
CM_AUTO = "configmap.reloader.stakater.com/auto"
SECRET_AUTO = "secret.reloader.stakater.com/auto"
CM_RELOAD = "configmap.reloader.stakater.com/reload"
SECRET_RELOAD = "secret.reloader.stakater.com/reload"
SEARCH = "reloader.stakater.com/search"
MATCH = "reloader.stakater.com/match"
IGNORE = "reloader.stakater.com/ignore"


def container(name: str = "app", **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox", **fields}


# The pod spec most cases use: each way of referencing a source, once.
POD_SPEC: dict[str, Any] = {
    "initContainers": [
        container(
            "init",
            env=[{"name": "T", "valueFrom": {"secretKeyRef": {"name": "init-s", "key": "t"}}}],
            envFrom=[{"configMapRef": {"name": "init-cm"}}],
        )
    ],
    "containers": [
        container(
            env=[
                {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "env-cm", "key": "a"}}},
                {
                    "name": "B",
                    "valueFrom": {
                        "secretKeyRef": {"name": "optional-s", "key": "b", "optional": True}
                    },
                },
            ],
            envFrom=[{"secretRef": {"name": "from-s"}}],
            volumeMounts=[
                {"name": "conf", "mountPath": "/conf"},
                {"name": "tls", "mountPath": "/tls"},
                {"name": "all", "mountPath": "/all"},
            ],
        )
    ],
    "volumes": [
        {"name": "conf", "configMap": {"name": "vol-cm"}},
        {"name": "tls", "secret": {"secretName": "vol-s"}},
        {
            "name": "all",
            "projected": {
                "sources": [{"configMap": {"name": "proj-cm"}}, {"secret": {"name": "proj-s"}}]
            },
        },
    ],
}
REFERENCED = [
    ("ConfigMap", "env-cm"),
    ("ConfigMap", "init-cm"),
    ("ConfigMap", "vol-cm"),
    ("ConfigMap", "proj-cm"),
    ("Secret", "init-s"),
    ("Secret", "optional-s"),
    ("Secret", "from-s"),
    ("Secret", "vol-s"),
    ("Secret", "proj-s"),
]


def restarts(
    annotations: dict[str, str],
    source: tuple[str, str],
    *,
    template: dict[str, str] | None = None,
    source_annotations: dict[str, str] | None = None,
    pod_spec: dict[str, Any] | None = None,
    kind: str = "Deployment",
) -> bool:
    """Whether a change of ``source`` restarts the workload, asked of both paths."""
    workload = Workload(
        kind=kind,
        namespace=NS,
        name="web",
        labels={},
        annotations=annotations,
        template_annotations=template or {},
        pod_spec=POD_SPEC if pod_spec is None else pod_spec,
    )
    meta = Source(source[0], NS, source[1], {}, source_annotations or {})
    by_rules = bool(dependencies(workload, [meta]).sources)
    by_core = depends(
        workload_view(workload, None), source_view(meta, "0" * 64), Policy(watch_secrets=True)
    )
    assert by_rules == by_core, "the opt-in rules and the decision core disagree"
    return by_rules


# ---------------------------------------------------------------- auto


@pytest.mark.parametrize("ref", REFERENCED)
@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "DaemonSet"])
def test_auto_restarts_for_every_kind_of_reference(ref: tuple[str, str], kind: str) -> None:
    """Env, envFrom, volumes, projected sources, init containers, optional references."""
    assert restarts({AUTO: "true"}, ref, kind=kind)
    assert not restarts({AUTO: "false"}, ref, kind=kind)
    assert not restarts({}, ref, kind=kind)


def test_auto_never_restarts_for_a_source_the_pod_spec_does_not_reference() -> None:
    assert not restarts({AUTO: "true"}, ("ConfigMap", "unused-cm"))
    assert not restarts({AUTO: "true"}, ("Secret", "unused-s"))
    # A ConfigMap and a Secret of the same name are two sources.
    assert not restarts({AUTO: "true"}, ("Secret", "env-cm"))
    assert not restarts({AUTO: "true"}, ("ConfigMap", "from-s"))


def test_typed_auto_restarts_for_its_kind_only() -> None:
    assert restarts({CM_AUTO: "true"}, ("ConfigMap", "vol-cm"))
    assert not restarts({CM_AUTO: "true"}, ("Secret", "vol-s"))
    assert restarts({SECRET_AUTO: "true"}, ("Secret", "vol-s"))
    assert not restarts({SECRET_AUTO: "true"}, ("ConfigMap", "vol-cm"))


def test_auto_false_cancels_neither_a_typed_auto_nor_a_list() -> None:
    """Reloader's test is ``auto || typed auto``, and a list is read before either."""
    assert restarts({AUTO: "false", CM_AUTO: "true"}, ("ConfigMap", "vol-cm"))
    assert restarts({AUTO: "true", CM_AUTO: "false"}, ("ConfigMap", "vol-cm"))
    assert restarts({AUTO: "false", CM_RELOAD: "unused-cm"}, ("ConfigMap", "unused-cm"))


@pytest.mark.parametrize("value", ["true", "True", "TRUE", "t", "T", "1"])
def test_auto_reads_go_parsebool_true(value: str) -> None:
    assert restarts({AUTO: value}, ("ConfigMap", "vol-cm"))
    assert restarts({SECRET_AUTO: value}, ("Secret", "vol-s"))


@pytest.mark.parametrize("value", ["false", "0", "f", "yes", "on", " true", "", "enabled"])
def test_auto_takes_anything_else_as_false(value: str) -> None:
    assert not restarts({AUTO: value}, ("ConfigMap", "vol-cm"))


# ---------------------------------------------------------------- where they are read


def test_the_pod_templates_annotations_count_when_the_workload_has_none() -> None:
    assert restarts({}, ("ConfigMap", "vol-cm"), template={AUTO: "true"})
    assert restarts({}, ("Secret", "unused-s"), template={SECRET_RELOAD: "unused-s"})
    assert restarts({"team": "a"}, ("ConfigMap", "vol-cm"), template={CM_AUTO: "true"})


def test_one_key_on_the_workload_hides_the_templates_for_that_kind_only() -> None:
    """Reloader swaps to the template when the workload carries none of: the kind's list,
    ``auto``, the kind's typed ``auto``, ``search``; present with any value, even empty."""
    template = {AUTO: "true"}
    for hiding in ({CM_RELOAD: "other"}, {AUTO: ""}, {CM_AUTO: "false"}, {SEARCH: "false"}):
        assert not restarts(hiding, ("ConfigMap", "vol-cm"), template=template), hiding
    # The Secret kind's keys do not hide the template for ConfigMaps ...
    for other in ({SECRET_RELOAD: "x"}, {SECRET_AUTO: "false"}):
        assert restarts(other, ("ConfigMap", "vol-cm"), template=template), other
    # ... and the ConfigMap kind's do not for Secrets.
    assert restarts({CM_RELOAD: "other"}, ("Secret", "vol-s"), template=template)
    # Annotations Reloader does not look at do not hide the template either.
    assert restarts({MATCH: "true", IGNORE: "true"}, ("ConfigMap", "vol-cm"), template=template)


def test_the_workloads_own_annotations_win_over_the_templates() -> None:
    assert restarts(
        {CM_RELOAD: "unused-cm"}, ("ConfigMap", "unused-cm"), template={CM_RELOAD: "other"}
    )
    assert not restarts({CM_RELOAD: "unused-cm"}, ("ConfigMap", "other"), template={AUTO: "true"})


# ---------------------------------------------------------------- reload lists


@pytest.mark.parametrize(
    ("value", "name", "expected"),
    [
        ("a,b", "a", True),
        ("a,b", "b", True),
        (" a , b ", "b", True),  # blanks around items are trimmed
        ("a,,b,", "b", True),  # empty items match nothing
        ("a,,b,", "c", False),
        ("", "a", False),
        ("a", "ab", False),  # whole names: not a prefix ...
        ("b", "ab", False),  # ... nor a suffix
        ("app-.*", "app-config", True),  # a regular expression
        ("app-.*", "app", False),
        ("app.config", "app-config", True),  # "." is any character, as in Reloader
        ("cfg-[0-9]+", "cfg-12", True),
        ("cfg-[0-9]+", "cfg-x", False),
        ("bad[,a", "a", True),  # an item that does not compile is skipped, not the list
    ],
)
def test_reload_lists_are_whole_name_patterns(value: str, name: str, expected: bool) -> None:
    assert restarts({CM_RELOAD: value}, ("ConfigMap", name)) is expected
    assert restarts({SECRET_RELOAD: value}, ("Secret", name)) is expected


def test_a_reload_list_needs_no_reference_and_names_its_kind_only() -> None:
    assert restarts({CM_RELOAD: "unused-cm"}, ("ConfigMap", "unused-cm"))
    assert not restarts({CM_RELOAD: "unused-s"}, ("Secret", "unused-s"))
    assert not restarts({SECRET_RELOAD: "unused-cm"}, ("ConfigMap", "unused-cm"))


# ---------------------------------------------------------------- search and match


def test_search_restarts_for_referenced_sources_that_carry_match() -> None:
    match = {MATCH: "true"}
    assert restarts({SEARCH: "true"}, ("ConfigMap", "vol-cm"), source_annotations=match)
    assert restarts({SEARCH: "true"}, ("Secret", "init-s"), source_annotations=match)
    assert not restarts({SEARCH: "true"}, ("ConfigMap", "vol-cm"))
    assert not restarts({SEARCH: "true"}, ("ConfigMap", "unused-cm"), source_annotations=match)
    assert not restarts({}, ("ConfigMap", "vol-cm"), source_annotations=match)
    assert restarts(
        {}, ("ConfigMap", "vol-cm"), template={SEARCH: "true"}, source_annotations=match
    )


def test_search_and_auto_together_add_up() -> None:
    both = {AUTO: "true", SEARCH: "true"}
    assert restarts(both, ("ConfigMap", "vol-cm"))
    assert restarts(both, ("ConfigMap", "vol-cm"), source_annotations={MATCH: "true"})


@pytest.mark.parametrize("value", ["True", "TRUE", "1", "t", "T", "yes"])
def test_search_is_on_only_for_the_exact_word_true(value: str) -> None:
    """Reloader compares ``search`` with ``"true"``: ``"True"`` leaves it off."""
    assert not restarts(
        {SEARCH: value}, ("ConfigMap", "vol-cm"), source_annotations={MATCH: "true"}
    )


@pytest.mark.parametrize("value", ["True", "TRUE", "1", "t", "T", "yes"])
def test_match_is_on_only_for_the_exact_word_true(value: str) -> None:
    """Reloader compares ``match`` with ``"true"``: ``"True"`` matches nothing."""
    assert not restarts(
        {SEARCH: "true"}, ("ConfigMap", "vol-cm"), source_annotations={MATCH: value}
    )


# ---------------------------------------------------------------- ignore


def test_ignore_true_beats_every_rule() -> None:
    ignore = {IGNORE: "true"}
    everything = {AUTO: "true", CM_RELOAD: "vol-cm", SEARCH: "true"}
    assert not restarts(everything, ("ConfigMap", "vol-cm"), source_annotations=ignore)
    assert not restarts({CM_RELOAD: "vol-cm"}, ("ConfigMap", "vol-cm"), source_annotations=ignore)


@pytest.mark.parametrize("value", ["True", "TRUE", "1", "t", "T", "yes", "false"])
def test_ignore_is_on_only_for_the_exact_word_true(value: str) -> None:
    """Reloader compares ``ignore`` with ``"true"``: with ``"True"`` it restarts as usual."""
    assert restarts({AUTO: "true"}, ("ConfigMap", "vol-cm"), source_annotations={IGNORE: value})
    assert restarts({CM_RELOAD: "x"}, ("ConfigMap", "x"), source_annotations={IGNORE: value})


def test_reloader_spellings_reloader_reads_as_false_are_reported() -> None:
    """Taken as false as Reloader takes them, and said so, since "True" reads like a yes."""
    (warning,) = source_flags(Source("ConfigMap", NS, "a", {}, {IGNORE: "True"}))[2]
    assert (warning.annotation, warning.value) == (IGNORE, "True")
    assert "taken as false" in warning.problem and '"true"' in warning.problem
    workload = Workload("Deployment", NS, "web", {}, {SEARCH: "1"}, {}, POD_SPEC)
    (warning,) = parse_optin(workload).warnings
    assert (warning.annotation, warning.value) == (SEARCH, "1")
    assert "taken as false" in warning.problem


def test_shipshapes_own_flags_keep_every_parsebool_spelling() -> None:
    """Only Reloader's names are read as Reloader reads them."""
    flags = source_flags(
        Source("ConfigMap", NS, "a", {}, {"shipshape.io/ignore": "True", "shipshape.io/match": "1"})
    )
    assert flags == (True, True, ())
    assert restarts(
        {"shipshape.io/search": "True"}, ("ConfigMap", "vol-cm"), source_annotations={MATCH: "true"}
    )


# ---------------------------------------------------------------- where Shipshape differs


@pytest.mark.parametrize("item", ["a|b", "x-.*|b", r"[|]a|b", "a|b|c"])
def test_a_bar_outside_a_group_is_reported_as_read_otherwise_by_reloader(item: str) -> None:
    """Reloader anchors an item as ``^item$``, so ``a|b`` also takes ``a-x`` and ``x-b``;
    Shipshape matches each choice against the whole name, and says so."""
    workload = Workload("Deployment", NS, "web", {}, {CM_RELOAD: f"{item}, z"}, {}, POD_SPEC)
    (warning,) = parse_optin(workload).warnings
    assert (warning.annotation, warning.value) == (CM_RELOAD, item)
    assert "Reloader" in warning.problem
    assert restarts({CM_RELOAD: item}, ("ConfigMap", "b"))
    assert not restarts({CM_RELOAD: item}, ("ConfigMap", "y-b"))


@pytest.mark.parametrize("item", ["[|]", r"a\|b", "[^]|]", "app-.*"])
def test_a_bar_in_a_class_or_escaped_is_no_alternation(item: str) -> None:
    workload = Workload("Deployment", NS, "web", {}, {CM_RELOAD: item}, {}, POD_SPEC)
    assert parse_optin(workload).warnings == ()


def test_a_list_is_cut_at_100_items_and_said_so() -> None:
    """Every item is tried on every candidate name of the namespace: a list of thousands,
    written by whoever may edit one workload, would stall the controller for all."""
    value = ",".join(f"cfg-{i}" for i in range(5000))
    assert restarts({CM_RELOAD: value}, ("ConfigMap", "cfg-99"))
    assert not restarts({CM_RELOAD: value}, ("ConfigMap", "cfg-100"))
    bad = ",".join(f"({i}" for i in range(5000))  # each item refused on its own
    workload = Workload("Deployment", NS, "web", {}, {CM_RELOAD: bad}, {}, POD_SPEC)
    warnings = parse_optin(workload).warnings
    assert len(warnings) == 101
    assert warnings[0].problem == "has 5000 items: the first 100 are used, the rest ignored"
    assert len(warnings[0].value) == 64
