"""Several namespaces on namespaced permissions alone: a RoleBinding in each, nothing cluster-wide.

The controller runs as its ServiceAccount with ``WATCH_NAMESPACES=team-a,team-b``
under ``k8s/controller-namespaces``: its ClusterRole bound by a RoleBinding
in each of the two namespaces, and no ClusterRoleBinding, so the API test
server refuses it any cluster-wide list or watch (as a real one would).
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import yaml

from records import kinds as k
from tests.kubeapi import KubeApiServer
from tests.kubeapi.cluster import Cluster
from tests.reloader.e2e.harness import controller, wait_for
from tests.reloader.e2e.test_controller import replay_at_now, replay_check
from tests.reloader.e2e.test_workloads import (
    AUTO,
    PASSWORD,
    PASSWORD_2,
    TEAMS,
    applied,
    configmap,
    container,
    rolled_once,
    secret,
    workload,
)

ROOT = Path(__file__).resolve().parents[3]
VARIANT = ROOT / "k8s" / "controller-namespaces"
SECRETS_VARIANT = ROOT / "k8s" / "controller-namespaces-secrets"
RESOURCES = ("configmaps", "deployments", "statefulsets", "daemonsets")


def rendered(variant: Path = VARIANT) -> list[dict]:
    """Every object of a variant, as ``kubectl kustomize`` renders it."""
    text = subprocess.run(
        ["kubectl", "kustomize", str(variant)], capture_output=True, text=True, check=True
    ).stdout
    return [obj for obj in yaml.safe_load_all(text) if obj]


def namespaced_rbac(kube: KubeApiServer, variant: Path = VARIANT) -> None:
    """Create the namespaces and apply a variant's ClusterRoles and RoleBindings, nothing else."""
    for name in (*TEAMS, "team-c"):
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    objects = rendered(variant)
    rbac = [obj for obj in objects if obj["kind"] in ("ClusterRole", "RoleBinding")]
    assert not [obj for obj in objects if obj["kind"] == "ClusterRoleBinding"]
    assert {
        obj["metadata"].get("namespace") for obj in rbac if obj["kind"] == "RoleBinding"
    } >= set(TEAMS)
    for obj in rbac:
        kube.apply(obj)


def reads(kube: KubeApiServer) -> set[tuple[str, str]]:
    """The (resource, namespace) of every list, watch and get the controller made."""
    return {
        (r.resource, r.namespace)
        for r in kube.requests(client="controller")
        if r.verb in ("list", "watch", "get") and r.resource in (*RESOURCES, "secrets")
    }


def test_two_namespaces_are_watched_on_their_own_paths_under_role_bindings_alone(
    cluster: Cluster, kube: KubeApiServer
) -> None:
    namespaced_rbac(kube)
    a, b = TEAMS
    kube.apply(configmap("web-config", a, {"MODE": "one"}))
    kube.apply(configmap("agent-config", b, {"LEVEL": "info"}))
    kube.apply(configmap("other-config", "team-c", {"K": "1"}))
    envfrom = [{"configMapRef": {"name": "web-config"}}]
    kube.apply(workload("Deployment", "web", a, AUTO, {"containers": [container(envFrom=envfrom)]}))
    agent_env = [{"configMapRef": {"name": "agent-config"}}]
    kube.apply(
        workload("DaemonSet", "agent", b, AUTO, {"containers": [container(envFrom=agent_env)]})
    )
    other_env = [{"configMapRef": {"name": "other-config"}}]
    kube.apply(
        workload(
            "Deployment", "other", "team-c", AUTO, {"containers": [container(envFrom=other_env)]}
        )
    )
    ctl = controller(
        cluster, env={"WATCH_NAMESPACES": ",".join(TEAMS), "CONFIGMAP_LABEL_SELECTOR": ""}
    ).start()

    # Adopted in both namespaces: every namespace's first list came in, and the
    # new leader's relists too (it decides nothing before them).
    wait_for(lambda: applied(kube, "deployments", "web", a), "team-a's Deployment adopted")
    wait_for(lambda: applied(kube, "daemonsets", "agent", b), "team-b's DaemonSet adopted")
    kube.patch("configmaps", "web-config", {"data": {"MODE": "two"}}, namespace=a)
    rolled_once(ctl, "deployment/web", a)
    assert applied(kube, "deployments", "other", "team-c") is None, "team-c is not watched"

    # Only namespaced paths, each in a watched namespace; nothing refused.
    assert reads(kube) == {(resource, ns) for resource in RESOURCES for ns in TEAMS}
    assert not [r for r in kube.requests(client="controller") if r.status == 403]

    # The core saw one first list per resource, over both namespaces.
    started = {r.data["resource"]: r.data for r in ctl.records([k.WATCH_STARTED])}
    assert set(started) == set(RESOURCES)
    assert started["configmaps"]["count"] == 2, "team-a's and team-b's, not team-c's"
    assert started["configmaps"]["resource_version"].startswith(f"{a}=")
    for resource in RESOURCES:
        assert ctl.metric("configmap_reload_watch_up", {"resource": resource}) == 1
    _status, body = ctl.get("/healthz")
    watches = json.loads(body)["watches"]
    assert set(watches) == {f"{ns}/{resource}" for resource in RESOURCES for ns in TEAMS}
    ctl.stop()
    replay_check(ctl.journal_path)  # no difference, no anomaly
    replay_at_now(ctl.journal_path)  # every list digest holds over both namespaces


def test_secrets_are_read_only_in_the_listed_namespaces(
    cluster: Cluster, kube: KubeApiServer, tmp_path: Path
) -> None:
    namespaced_rbac(kube, SECRETS_VARIANT)
    key = tmp_path / "secret-hash.key"
    key.write_bytes(b"0123456789abcdef0123456789abcdef")
    b = TEAMS[1]
    kube.apply(secret("api-secret", b, PASSWORD))
    kube.apply(secret("elsewhere", "team-c", PASSWORD))
    reload = {"secret.reloader.stakater.com/reload": "api-secret"}
    kube.apply(workload("Deployment", "api", b, reload, {"containers": [container()]}))
    ctl = controller(
        cluster,
        env={
            "WATCH_NAMESPACES": ",".join(TEAMS),
            "CONFIGMAP_LABEL_SELECTOR": "",
            "WATCH_SECRETS": "true",
            "SECRET_HASH_KEY_FILE": str(key),
        },
    ).start()
    adopted = wait_for(lambda: applied(kube, "deployments", "api", b), "the Deployment adopted")
    assert adopted.startswith("hmac-sha256:"), "a Secret's hash is keyed"
    new = base64.b64encode(PASSWORD_2.encode()).decode()
    kube.patch("secrets", "api-secret", {"data": {"password": new}}, namespace=b)
    rolled_once(ctl, "deployment/api", b)
    assert reads(kube) == {(resource, ns) for resource in (*RESOURCES, "secrets") for ns in TEAMS}
    secrets = {r.verb for r in kube.requests(client="controller") if r.resource == "secrets"}
    assert secrets == {"list", "watch"}, "Secrets are never read by name"
    assert not [r for r in kube.requests(client="controller") if r.status == 403]
    ctl.stop()
    replay_check(ctl.journal_path)


def test_a_namespace_without_its_role_binding_holds_up_no_other(
    cluster: Cluster, kube: KubeApiServer
) -> None:
    """team-c is listed in WATCH_NAMESPACES before its RoleBinding exists.

    References never cross namespaces, so the others' decisions do not wait
    for it: the first lists go on without it, say so in the journal, and
    ``/readyz`` names what is refused. Once its RoleBinding lands, team-c's
    objects come in as a later list does and are compared like any others.
    """
    namespaced_rbac(kube)  # RoleBindings in team-a and team-b only
    a, c = TEAMS[0], "team-c"
    for ns, name in ((a, "web"), (c, "other")):
        kube.apply(configmap(f"{name}-config", ns, {"MODE": "one"}))
        envfrom = [{"configMapRef": {"name": f"{name}-config"}}]
        kube.apply(
            workload("Deployment", name, ns, AUTO, {"containers": [container(envFrom=envfrom)]})
        )
    ctl = controller(
        cluster,
        env={"WATCH_NAMESPACES": ",".join((*TEAMS, c)), "CONFIGMAP_LABEL_SELECTOR": ""},
    ).start(ready=False)
    ctl.wait_started()

    wait_for(lambda: applied(kube, "deployments", "web", a), "team-a's Deployment adopted")
    kube.patch("configmaps", "web-config", {"data": {"MODE": "two"}}, namespace=a)
    rolled_once(ctl, "deployment/web", a)
    assert applied(kube, "deployments", "other", c) is None, "nothing decided in team-c"
    started = {r.data["resource"]: r.data for r in ctl.records([k.WATCH_STARTED])}
    assert set(started) == set(RESOURCES)
    for data in started.values():
        assert data["forbidden_namespaces"] == [c]
        assert c not in data["resource_version"]
    refused = [r for r in ctl.records([k.WATCH_ERROR]) if r.data.get("status") == 403]
    assert {r.data["resource"] for r in refused} == set(RESOURCES)
    status, body = ctl.get("/readyz")
    assert status == 503 and f'in the namespace \\"{c}\\"' in body, body

    binding = next(
        obj
        for obj in rendered()
        if obj["kind"] == "RoleBinding" and obj["metadata"]["namespace"] == a
    )
    binding["metadata"]["namespace"] = c
    kube.apply(binding)
    ctl.wait_ready()
    wait_for(lambda: applied(kube, "deployments", "other", c), "team-c's Deployment adopted")
    assert not [r for r in ctl.records([k.RESTART_PATCHED]) if r.namespace == c], (
        "adopted, not restarted: nothing changed while team-c was out of sight"
    )

    # Each late list reaches the journal through the reconcile loop, a step
    # and a commit after /readyz sees that resource's watch allowed again.
    def late_lists() -> list[dict]:
        found = [r.data for r in ctl.records([k.WATCH_RELISTED]) if r.data["reason"] == "start"]
        return found if {data["resource"] for data in found} >= set(RESOURCES) else []

    relisted = wait_for(late_lists, "team-c's first list of every resource journaled")
    assert {data["resource"] for data in relisted} == set(RESOURCES)
    assert all("forbidden_namespaces" not in data for data in relisted)
    kube.patch("configmaps", "other-config", {"data": {"MODE": "two"}}, namespace=c)
    rolled_once(ctl, "deployment/other", c)
    ctl.stop()
    replay_check(ctl.journal_path)
    replay_at_now(ctl.journal_path)
