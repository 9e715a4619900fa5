"""tests/kubeapi/kubelet.py: the stand-in kubelet resolves a container's env as the kubelet does."""

from __future__ import annotations

import pytest

from tests.kubeapi.kubelet import PodError, resolve_env, template_hash

CONFIGMAPS = {"helloworld-config-test": {"MESSAGE": "Hello from Shipshape (test)"}}
CONTAINER = {
    "env": [
        {
            "name": "MESSAGE",
            "valueFrom": {"configMapKeyRef": {"name": "helloworld-config-test", "key": "MESSAGE"}},
        },
        {"name": "APP_ENV", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['env']"}}},
        {"name": "PORT", "value": "8080"},
    ]
}


def test_env_comes_from_values_the_configmap_and_the_pod_labels() -> None:
    env = resolve_env(CONTAINER, {"app": "helloworld", "env": "test"}, CONFIGMAPS.get)

    assert env == {"MESSAGE": "Hello from Shipshape (test)", "APP_ENV": "test", "PORT": "8080"}


@pytest.mark.parametrize(
    ("configmaps", "missing"),
    [({}, "configmap 'helloworld-config-test'"), ({"helloworld-config-test": {}}, "key 'MESSAGE'")],
)
def test_a_missing_configmap_or_key_fails_the_start(configmaps: dict, missing: str) -> None:
    with pytest.raises(PodError, match=f"MESSAGE: {missing} not found"):
        resolve_env(CONTAINER, {"env": "test"}, configmaps.get)


def test_an_optional_reference_to_a_missing_key_is_left_out() -> None:
    container = {
        "env": [
            {
                "name": "X",
                "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k", "optional": True}},
            }
        ]
    }

    assert resolve_env(container, {}, {"c": {}}.get) == {}


def test_an_unknown_source_is_refused_not_guessed() -> None:
    container = {
        "env": [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]
    }

    with pytest.raises(
        PodError, match=r"TOKEN: the stand-in kubelet cannot resolve \['secretKeyRef'\]"
    ):
        resolve_env(container, {}, CONFIGMAPS.get)


def test_the_template_hash_changes_with_the_template_only() -> None:
    template = {"metadata": {"annotations": {"a": "1"}}, "spec": {"containers": [CONTAINER]}}
    same = {"spec": {"containers": [CONTAINER]}, "metadata": {"annotations": {"a": "1"}}}
    changed = {"metadata": {"annotations": {"a": "2"}}, "spec": {"containers": [CONTAINER]}}

    assert template_hash(template) == template_hash(same) != template_hash(changed)
