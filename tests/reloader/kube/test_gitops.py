"""The GitOps story: a GitOps tool applies server-side, Shipshape restarts, the tool re-applies.

Flux (always) and Argo CD (optionally) apply manifests with server-side apply
under a field manager of their own. Shipshape's restart is a merge patch under
the stable field manager `shipshape-controller`, so the API server records the
restart annotations as Shipshape's fields. The GitOps tool's next apply of the
unchanged manifest then neither removes them (it never applied them), nor
conflicts with them, nor rolls the pods again.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime

import yaml

from reloader.core import PatchRestart
from reloader.kube.restarts import COMPONENT, DeploymentPatcher
from reloader.kube.views import CONFIG_HASH, RESTARTED_AT
from tests.kubeapi import KubeApiServer
from tests.kubeapi.pytest_plugin import Kubectl


def _rendered_deployment(kubectl: Kubectl) -> str:
    """Return the helloworld Deployment as `kubectl kustomize k8s/base` renders it."""
    rendered = subprocess.run(
        ["kubectl", "kustomize", "k8s/base"],
        env=kubectl.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (deployment,) = [
        doc for doc in yaml.safe_load_all(rendered) if doc and doc["kind"] == "Deployment"
    ]
    deployment["metadata"].pop("namespace", None)
    return yaml.safe_dump(deployment)


def _apply(kubectl: Kubectl, ns: str, manifest: str, check: bool = True):
    return kubectl(
        "-n", ns, "apply", "--server-side", "--field-manager=gitops", "-f", "-",
        input=manifest, check=check,
    )  # fmt: skip


def _owned(deployment: dict, manager: str) -> dict:
    for entry in deployment["metadata"]["managedFields"]:
        if entry["manager"] == manager:
            return entry
    raise AssertionError(f"no managedFields entry of {manager}")


def test_gitops_apply_restart_reapply(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns = kubeapi_namespace
    manifest = _rendered_deployment(kubectl)
    name = yaml.safe_load(manifest)["metadata"]["name"]

    # (1) The GitOps tool applies the manifest.
    _apply(kubectl, ns, manifest)
    kubeapi_server.wait_for_rollout(name, ns)
    assert len(kubeapi_server.revisions(name, ns)) == 1

    # (2) A ConfigMap changed: the controller restarts the Deployment, as it does.
    patcher = DeploymentPatcher(kubeapi_server.api_client("controller-0"), ns, "controller-0")
    action = PatchRestart(name, "helloworld-config", "corr-1", "a" * 64, 1)
    restarted = patcher.restart(action, datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    template_annotations = restarted["spec"]["template"]["metadata"]["annotations"]
    assert template_annotations[RESTARTED_AT] == "2026-01-02T03:04:05Z"
    assert template_annotations[CONFIG_HASH] == "a" * 64
    after_restart = kubeapi_server.wait_for_rollout(name, ns)
    assert len(kubeapi_server.revisions(name, ns)) == 2
    generation = after_restart["metadata"]["generation"]

    # The API server records the restart annotations as the controller's fields.
    entry = _owned(after_restart, COMPONENT)
    assert (entry["operation"], entry["apiVersion"]) == ("Update", "apps/v1")
    fields = entry["fieldsV1"]
    assert set(fields["f:spec"]["f:template"]["f:metadata"]["f:annotations"]) >= {
        f"f:{RESTARTED_AT}", f"f:{CONFIG_HASH}"}  # fmt: skip
    assert f"f:{CONFIG_HASH}" in fields["f:metadata"]["f:annotations"]
    gitops = json.dumps(_owned(after_restart, "gitops")["fieldsV1"])
    assert "shipshape.io" not in gitops

    # (3) The GitOps tool applies the same manifest again: no conflict, nothing changes.
    again = _apply(kubectl, ns, manifest)
    assert again.returncode == 0
    live = kubeapi_server.get("deployments", name, ns)
    assert live["metadata"]["resourceVersion"] == after_restart["metadata"]["resourceVersion"]
    assert live["metadata"]["generation"] == generation
    assert live["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT] == (
        "2026-01-02T03:04:05Z"
    )
    assert live["metadata"]["annotations"][CONFIG_HASH] == "a" * 64
    assert len(kubeapi_server.revisions(name, ns)) == 2  # no second rollout

    # A new commit (an image bump) rolls the pods, and still leaves our annotations.
    bumped = manifest.replace("@sha256:", "-bumped@sha256:")
    assert bumped != manifest
    _apply(kubectl, ns, bumped)
    live = kubeapi_server.get("deployments", name, ns)
    assert len(kubeapi_server.revisions(name, ns)) == 3
    assert live["spec"]["template"]["metadata"]["annotations"][CONFIG_HASH] == "a" * 64

    # Were the restart annotations committed to Git, the tool would fight the
    # controller: the server refuses, naming the controller's field.
    fighting = yaml.safe_load(bumped)
    fighting["spec"]["template"]["metadata"].setdefault("annotations", {})[RESTARTED_AT] = "x"
    refused = _apply(kubectl, ns, yaml.safe_dump(fighting), check=False)
    assert refused.returncode == 1
    assert (
        f'conflict with "{COMPONENT}" using apps/v1: '
        f".spec.template.metadata.annotations.{RESTARTED_AT}" in refused.stderr
    )
