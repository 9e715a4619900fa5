"""The patch formats and selectors, on literal documents."""

from __future__ import annotations

import pytest

from tests.kubeapi.patches import PatchError, json_patch, merge_patch, strategic_merge_patch
from tests.kubeapi.selectors import (
    SelectorError,
    matches_labels,
    parse_field_selector,
    parse_label_selector,
)

POD = {
    "metadata": {"finalizers": ["a"], "labels": {"x": "1"}},
    "spec": {
        "containers": [
            {"name": "app", "image": "a:1", "ports": [{"containerPort": 80, "name": "http"}]},
            {"name": "side", "image": "s:1"},
        ],
        "volumes": [{"name": "cfg", "configMap": {"name": "c"}}],
    },
}


def test_merge_patch_follows_rfc_7386():
    target = {"a": {"b": 1, "c": 2}, "l": [1, 2]}
    assert merge_patch(target, {"a": {"b": None, "d": 3}, "l": [3]}) == {
        "a": {"c": 2, "d": 3}, "l": [3]}  # fmt: skip
    assert target == {"a": {"b": 1, "c": 2}, "l": [1, 2]}


def test_strategic_merge_keys_lists_by_name_and_port():
    patched = strategic_merge_patch(POD, {"spec": {"containers": [
        {"name": "app", "ports": [{"containerPort": 80, "protocol": "TCP"},
                                  {"containerPort": 9090}]},
        {"name": "new", "image": "n:1"},
    ]}})  # fmt: skip
    containers = patched["spec"]["containers"]
    assert [c["name"] for c in containers] == ["app", "side", "new"]
    assert containers[0]["ports"] == [
        {"containerPort": 80, "name": "http", "protocol": "TCP"},
        {"containerPort": 9090},
    ]


def test_strategic_merge_directives():
    deleted = strategic_merge_patch(POD, {"spec": {"containers": [
        {"name": "side", "$patch": "delete"}]}})  # fmt: skip
    assert [c["name"] for c in deleted["spec"]["containers"]] == ["app"]
    replaced = strategic_merge_patch(POD, {"spec": {"volumes": [
        {"$patch": "replace"}, {"name": "only", "emptyDir": {}}]}})  # fmt: skip
    assert replaced["spec"]["volumes"] == [{"name": "only", "emptyDir": {}}]
    ordered = strategic_merge_patch(POD, {"spec": {
        "$setElementOrder/containers": [{"name": "side"}, {"name": "app"}],
        "containers": [{"name": "app", "image": "a:2"}]}})  # fmt: skip
    assert [(c["name"], c["image"]) for c in ordered["spec"]["containers"]] == [
        ("side", "s:1"), ("app", "a:2")]  # fmt: skip
    retained = strategic_merge_patch(
        {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}},
        {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}},
    )
    assert retained == {"strategy": {"type": "Recreate"}}
    finalizers = strategic_merge_patch(POD, {"metadata": {
        "finalizers": ["b"], "$deleteFromPrimitiveList/finalizers": ["a"]}})  # fmt: skip
    assert finalizers["metadata"]["finalizers"] == ["b"]
    assert strategic_merge_patch(POD, {"metadata": {"labels": {"x": None}}})["metadata"][
        "labels"] == {}  # fmt: skip
    with pytest.raises(PatchError):
        strategic_merge_patch(POD, {"spec": {"containers": [{"image": "no-name"}]}})
    pdb = {"spec": {"selector": {"matchLabels": {"app": "web", "old": "x"}}}}
    patch = {"spec": {"selector": {"matchLabels": {"app": "web"}}}}
    assert strategic_merge_patch(pdb, patch, "PodDisruptionBudget") == patch
    assert strategic_merge_patch(pdb, patch, "Deployment") == pdb


def test_json_patch_operations_and_failures():
    doc = {"a": {"b": [1, 2]}, "x~y": 1, "p/q": 2}
    result = json_patch(doc, [
        {"op": "add", "path": "/a/b/-", "value": 3},
        {"op": "add", "path": "/a/b/0", "value": 0},
        {"op": "remove", "path": "/x~0y"},
        {"op": "replace", "path": "/p~1q", "value": 5},
        {"op": "copy", "from": "/a/b", "path": "/c"},
        {"op": "move", "from": "/c", "path": "/d"},
        {"op": "test", "path": "/d/3", "value": 3},
    ])  # fmt: skip
    assert result == {"a": {"b": [0, 1, 2, 3]}, "p/q": 5, "d": [0, 1, 2, 3]}
    with pytest.raises(PatchError) as err:
        json_patch(doc, [{"op": "test", "path": "/a/b/0", "value": 9}])
    assert err.value.code == 422
    with pytest.raises(PatchError) as err:
        json_patch(doc, [{"op": "replace", "path": "/missing", "value": 1}])
    assert err.value.code == 422
    with pytest.raises(PatchError) as err:
        json_patch(doc, {"op": "add"})
    assert err.value.code == 400


def test_label_selectors():
    labels = {"app": "web", "env": "prod"}
    for selector, expected in [
        ("app=web", True), ("app==web,env=prod", True), ("app!=web", False),
        ("env in (test, prod)", True), ("env notin (prod)", False), ("app", True),
        ("!canary", True), ("!app", False), ("", True),
    ]:  # fmt: skip
        assert matches_labels(parse_label_selector(selector), labels) is expected, selector
    with pytest.raises(SelectorError):
        parse_label_selector("app in web")


def test_field_selectors_name_only_supported_fields():
    assert parse_field_selector("metadata.name=x", {"metadata.name"})
    with pytest.raises(SelectorError, match=r"field label not supported: spec\.x"):
        parse_field_selector("spec.x=1", {"metadata.name"})
