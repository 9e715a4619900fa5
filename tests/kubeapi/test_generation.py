"""`metadata.generation` rises as the real API server raises it, and status follows.

The real strategies: a Deployment's generation rises when its spec (the pod
template's annotations included) or its own `metadata.annotations` change
(annotations are copied to its ReplicaSets); a StatefulSet's and a
DaemonSet's only when their spec changes. Labels, and any write through the
`status` subresource, never raise it. The stand-in controllers then set
`status.observedGeneration` to the new generation.

Also here, another thing the controller's watches rely on: an object that
leaves a watch's label selector is `DELETED` as that watch last saw it.
"""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.kubeapi import KubeApiServer

MERGE = "application/merge-patch+json"


def _body(kind: str, name: str) -> dict:
    spec: dict = {
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]},
        },
    }
    if kind == "StatefulSet":
        spec["serviceName"] = name
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}


def _patch(
    api: client.ApiClient, plural: str, ns: str, name: str, body: dict, *, status: bool = False
) -> dict:
    """A merge patch over HTTP with the real client; the object as answered (a dict)."""
    singular = {"deployments": "deployment", "statefulsets": "stateful_set"}.get(
        plural, "daemon_set"
    )
    method = getattr(
        client.AppsV1Api(api), f"patch_namespaced_{singular}{'_status' if status else ''}"
    )
    answered = method(name, ns, body, _content_type=MERGE)
    return api.sanitize_for_serialization(answered)


def _generation(obj: dict) -> int:
    return int(obj["metadata"]["generation"])


@pytest.mark.parametrize(
    ("kind", "annotations_bump"),
    [("Deployment", True), ("StatefulSet", False), ("DaemonSet", False)],
)
def test_generation_rises_as_the_real_strategies_raise_it(
    kind: str, annotations_bump: bool, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns = kubeapi_namespace
    plural = f"{kind.lower()}s"
    api = kubeapi_server.api_client()
    kubeapi_server.create({**_body(kind, "app"), "metadata": {"name": "app", "namespace": ns}})
    created = kubeapi_server.wait_for_rollout("app", ns, plural)
    assert _generation(created) == 1

    # The pod template's annotations are spec: +1 for every kind.
    template = {"spec": {"template": {"metadata": {"annotations": {"x/restarted": "1"}}}}}
    after_template = _patch(api, plural, ns, "app", template)
    assert _generation(after_template) == 2

    # Labels never count.
    after_labels = _patch(api, plural, ns, "app", {"metadata": {"labels": {"tier": "web"}}})
    assert _generation(after_labels) == 2

    # The object's own annotations: only a Deployment's.
    after_annotation = _patch(
        api, plural, ns, "app", {"metadata": {"annotations": {"x/config-hash": "abc"}}}
    )
    assert _generation(after_annotation) == (3 if annotations_bump else 2)

    # The same value again raises nothing.
    again = _patch(api, plural, ns, "app", {"metadata": {"annotations": {"x/config-hash": "abc"}}})
    assert _generation(again) == _generation(after_annotation)

    # The stand-in controller observes the new generation.
    settled = kubeapi_server.wait_for_rollout("app", ns, plural)
    assert settled["status"]["observedGeneration"] == _generation(after_annotation)


def test_a_status_write_never_raises_a_deployments_generation(
    kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns = kubeapi_namespace
    api = kubeapi_server.api_client()
    kubeapi_server.create(
        {**_body("Deployment", "web"), "metadata": {"name": "web", "namespace": ns}}
    )
    before = kubeapi_server.wait_for_rollout("web", ns)
    response = _patch(
        api,
        "deployments",
        ns,
        "web",
        {"metadata": {"annotations": {"x/from-status": "1"}}, "status": {"replicas": 1}},
        status=True,
    )
    assert _generation(response) == _generation(before)


def test_a_metadata_only_patch_of_a_missing_deployment_is_404(
    kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    api = kubeapi_server.api_client()
    with pytest.raises(ApiException) as error:
        _patch(
            api, "deployments", kubeapi_namespace, "absent", {"metadata": {"labels": {"a": "b"}}}
        )
    assert error.value.status == 404


def test_an_object_leaving_a_watchs_selector_is_deleted_as_it_last_matched(
    kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    """The real watch cache sends the previous object, at the change's resourceVersion."""
    ns = kubeapi_namespace
    core = client.CoreV1Api(kubeapi_server.api_client())
    kubeapi_server.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": ns, "labels": {"app": "x"}},
            "data": {"k": "1"},
        }
    )
    listed = core.list_namespaced_config_map(ns, label_selector="app=x")
    changed = kubeapi_server.patch(
        "configmaps", "a", {"metadata": {"labels": {"app": "y"}}, "data": {"k": "2"}}, namespace=ns
    )
    stream = core.list_namespaced_config_map(
        ns,
        label_selector="app=x",
        watch=True,
        resource_version=listed.metadata.resource_version,
        timeout_seconds=1,
        _preload_content=False,
    )
    events = [json.loads(line) for line in stream.data.decode().splitlines() if line.strip()]
    [deleted] = [e for e in events if e["type"] != "BOOKMARK"]
    assert deleted["type"] == "DELETED"
    assert deleted["object"]["metadata"]["labels"] == {"app": "x"}
    assert deleted["object"]["data"] == {"k": "1"}
    assert (
        deleted["object"]["metadata"]["resourceVersion"] == changed["metadata"]["resourceVersion"]
    )
