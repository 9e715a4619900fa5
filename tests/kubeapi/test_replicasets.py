"""A Deployment's ReplicaSets, kept as the real deployment controller keeps them, read by
the real kubectl: `rollout history`, `rollout undo`, `get replicasets`."""

from __future__ import annotations

import re

import yaml

from tests.kubeapi import KubeApiServer
from tests.kubeapi.helpers import assert_undo_refusals
from tests.kubeapi.pytest_plugin import Kubectl

REVISION = "deployment.kubernetes.io/revision"


def _deployment(name: str, image: str = "nginx:1.27", *, history: int | None = None) -> str:
    limit = f"\n  revisionHistoryLimit: {history}" if history is not None else ""
    return f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, labels: {{app: {name}}}}}
spec:
  replicas: 3{limit}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}, tier: web}}}}
    spec: {{containers: [{{name: main, image: "{image}"}}]}}
"""


def _replicasets(server: KubeApiServer, ns: str) -> dict[str, dict]:
    """The namespace's ReplicaSets by revision."""
    return {
        int(rs["metadata"]["annotations"][REVISION]): rs
        for rs in server.list("replicasets", namespace=ns)
    }


def _annotations(server: KubeApiServer, ns: str, number: int) -> dict[str, str]:
    """The annotations of the ReplicaSet at revision `number` ({} while there is none)."""
    rs = _replicasets(server, ns).get(number)
    return rs["metadata"]["annotations"] if rs else {}


def _settled(server: KubeApiServer, name: str, ns: str, replicas: int = 3) -> dict[int, dict]:
    """Wait until the rollout is complete and every ReplicaSet has its final replicas."""
    server.wait_for_rollout(name, ns)

    def settled() -> dict[int, dict] | None:
        sets = _replicasets(server, ns)
        newest = max(sets)
        for number, rs in sets.items():
            want = replicas if number == newest else 0
            status = rs.get("status") or {}
            if rs["spec"]["replicas"] != want or status.get("replicas") != want:
                return None
        return sets

    return server.wait_for(settled, 10, "ReplicaSets scaled")


def _history(kubectl: Kubectl, ns: str, name: str) -> list[str]:
    out = kubectl("-n", ns, "rollout", "history", f"deployment/{name}").stdout
    title, header, *rows = out.strip().splitlines()
    assert title.strip() == f"deployment.apps/{name}" and header.split() == [
        "REVISION",
        "CHANGE-CAUSE",
    ]
    return [re.sub(r"\s+", " ", line.strip()) for line in rows]


def test_each_template_gets_a_replicaset_that_rollout_history_lists(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns, server = kubeapi_namespace, kubeapi_server
    kubectl("-n", ns, "apply", "-f", "-", input=_deployment("web"))
    [first] = _settled(server, "web", ns).values()
    deployment = server.get("deployments", "web", ns)
    digest = first["metadata"]["labels"]["pod-template-hash"]
    assert first["metadata"]["name"] == f"web-{digest}"
    assert first["metadata"]["labels"] == {"app": "web", "tier": "web", "pod-template-hash": digest}
    assert first["spec"]["selector"] == {"matchLabels": {"app": "web", "pod-template-hash": digest}}
    assert first["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] == digest
    [owner] = first["metadata"]["ownerReferences"]
    assert owner == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "web",
        "uid": deployment["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    annotations = first["metadata"]["annotations"]
    assert annotations[REVISION] == "1"
    assert annotations["deployment.kubernetes.io/desired-replicas"] == "3"
    assert annotations["deployment.kubernetes.io/max-replicas"] == "4"  # 3 + 25% rounded up
    assert "kubectl.kubernetes.io/last-applied-configuration" not in annotations
    assert first["status"] == {
        "replicas": 3,
        "fullyLabeledReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
        "observedGeneration": first["metadata"]["generation"],
    }
    assert deployment["metadata"]["annotations"][REVISION] == "1"

    kubectl("-n", ns, "set", "image", "deployment/web", "main=nginx:1.28")
    # As documented: annotate the change cause after the change (it goes to the current one).
    kubectl("-n", ns, "annotate", "deployment/web", "kubernetes.io/change-cause=new image")
    server.wait_for(
        lambda: "kubernetes.io/change-cause" in _annotations(server, ns, 2),
        10,
        "the change cause copied",
    )
    sets = _settled(server, "web", ns)
    assert sorted(sets) == [1, 2]
    assert sets[2]["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    assert server.get("deployments", "web", ns)["metadata"]["annotations"][REVISION] == "2"
    assert _history(kubectl, ns, "web") == ["1 <none>", "2 new image"]
    detail = kubectl("-n", ns, "rollout", "history", "deployment/web", "--revision=1").stdout
    assert detail.startswith("deployment.apps/web with revision #1\nPod Template:\n")
    assert re.search(r"\n\s+Image:\s+nginx:1\.27\n", detail)
    assert re.search(rf"pod-template-hash={digest}", detail)
    missing = kubectl("-n", ns, "rollout", "history", "deployment/web", "--revision=7", check=False)
    assert missing.returncode == 1
    assert "unable to find the specified revision" in missing.stderr

    table = kubectl("-n", ns, "get", "rs", "-l", "app=web", "-o", "name").stdout.split()
    assert sorted(table) == sorted(
        f"replicaset.apps/{rs['metadata']['name']}" for rs in sets.values()
    )


def test_rollout_undo_moves_the_old_replicaset_to_a_new_revision(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns, server = kubeapi_namespace, kubeapi_server
    kubectl("-n", ns, "apply", "-f", "-", input=_deployment("web"))
    _settled(server, "web", ns)
    kubectl("-n", ns, "set", "image", "deployment/web", "main=nginx:1.28")
    first_two = _settled(server, "web", ns)
    names = {n: rs["metadata"]["name"] for n, rs in first_two.items()}

    undo = kubectl("-n", ns, "rollout", "undo", "deployment/web")
    assert undo.stdout.strip() == "deployment.apps/web rolled back"
    sets = _settled(server, "web", ns)
    # The template of revision 1 came back: its ReplicaSet is reused, now revision 3.
    assert sorted(sets) == [2, 3]
    assert sets[3]["metadata"]["name"] == names[1]
    assert sets[3]["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
    assert sets[3]["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    deployment = server.get("deployments", "web", ns)
    assert deployment["metadata"]["annotations"][REVISION] == "3"
    assert "pod-template-hash" not in deployment["spec"]["template"]["metadata"]["labels"]
    assert _history(kubectl, ns, "web") == ["2 <none>", "3 <none>"]

    to = kubectl("-n", ns, "rollout", "undo", "deployment/web", "--to-revision=2")
    assert to.stdout.strip() == "deployment.apps/web rolled back"
    sets = _settled(server, "web", ns)
    assert sorted(sets) == [3, 4] and sets[4]["metadata"]["name"] == names[2]
    assert_undo_refusals(kubectl, ns, "deployment/web", current=4)


def test_revision_history_limit_deletes_the_oldest_idle_replicasets(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns, server = kubeapi_namespace, kubeapi_server
    kubectl("-n", ns, "apply", "-f", "-", input=_deployment("web", history=2))
    _settled(server, "web", ns)
    for tag in ("1.28", "1.29", "1.30"):
        kubectl("-n", ns, "set", "image", "deployment/web", f"main=nginx:{tag}")
        _settled(server, "web", ns)
    # The current one and the two newest old ones are kept.
    assert sorted(_replicasets(server, ns)) == [2, 3, 4]
    assert _history(kubectl, ns, "web") == ["2 <none>", "3 <none>", "4 <none>"]
    kubectl("-n", ns, "patch", "deployment/web", "-p", '{"spec":{"revisionHistoryLimit":0}}')
    server.wait_for(lambda: sorted(_replicasets(server, ns)) == [4], 10, "history of one")


def test_scaling_a_restart_storm_check_and_deletion(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    """Scaling keeps the ReplicaSet, a restart adds one, deleting the Deployment removes them."""
    ns, server = kubeapi_namespace, kubeapi_server
    kubectl("-n", ns, "apply", "-f", "-", input=_deployment("web"))
    [rs] = _settled(server, "web", ns).values()
    kubectl("-n", ns, "scale", "deployment/web", "--replicas=5")
    server.wait_for_rollout("web", ns)
    scaled = server.wait_for(
        lambda: (
            (server.get("replicasets", rs["metadata"]["name"], ns) or {})
            .get("status", {})
            .get("readyReplicas")
            == 5
            and server.get("replicasets", rs["metadata"]["name"], ns)
        ),
        10,
        "the ReplicaSet scaled",
    )
    assert scaled["spec"]["replicas"] == 5
    assert scaled["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "5"
    assert scaled["metadata"]["annotations"][REVISION] == "1"
    assert len(server.list("replicasets", namespace=ns)) == 1

    watch = kubectl.popen("-n", ns, "get", "rs", "--watch", "-o", "name")
    try:
        kubectl("-n", ns, "rollout", "restart", "deployment/web")
        sets = _settled(server, "web", ns, replicas=5)
    finally:
        watch.terminate()
        out, _ = watch.communicate(timeout=10)
    assert sorted(sets) == [1, 2]
    # The watch saw the new ReplicaSet appear (ADDED) as a real watch would.
    assert f"replicaset.apps/{sets[2]['metadata']['name']}" in out.split()
    assert _history(kubectl, ns, "web") == ["1 <none>", "2 <none>"]

    kubectl("-n", ns, "delete", "deployment/web")
    server.wait_for(lambda: not server.list("replicasets", namespace=ns), 10, "ReplicaSets gone")


def test_replicasets_are_rbac_checked_like_any_resource(
    kubeapi_server: KubeApiServer, kubeapi_namespace: str, kubectl_for
):
    ns, server = kubeapi_namespace, kubeapi_server
    deployment = yaml.safe_load(_deployment("web"))
    deployment["metadata"]["namespace"] = ns
    server.apply(deployment)
    server.wait_for(lambda: server.list("replicasets", namespace=ns), 10, "a ReplicaSet")
    server.apply(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "reader", "namespace": ns},
        }
    )
    reader = kubectl_for(server, f"reader-{ns}", ns, service_account=f"{ns}/reader")
    denied = reader("get", "rs", check=False)
    assert denied.returncode == 1
    assert (
        f'User "system:serviceaccount:{ns}:reader" cannot list resource "replicasets" '
        f'in API group "apps" in the namespace "{ns}"' in denied.stderr
    )
    history = reader("rollout", "history", "deployment/web", check=False)
    assert history.returncode == 1 and "forbidden" in history.stderr


def test_recreate_empties_the_old_replicaset_first_and_a_paused_one_waits(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns, server = kubeapi_namespace, kubeapi_server
    recreate = yaml.safe_load(_deployment("web"))
    recreate["spec"]["strategy"] = {"type": "Recreate"}
    kubectl("-n", ns, "apply", "-f", "-", input=yaml.safe_dump(recreate))
    _settled(server, "web", ns)
    slow = '{"metadata":{"annotations":{"kubeapi.test/rollout-seconds":"never"}}}'
    kubectl("-n", ns, "patch", "deployment/web", "-p", slow)
    kubectl("-n", ns, "set", "image", "deployment/web", "main=nginx:1.28")
    sets = server.wait_for(
        lambda: len(_replicasets(server, ns)) == 2 and _replicasets(server, ns), 10, "two"
    )
    assert (sets[1]["spec"]["replicas"], sets[2]["spec"]["replicas"]) == (0, 3)
    assert sets[2]["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] == "3"

    kubectl("-n", ns, "rollout", "pause", "deployment/web")
    kubectl("-n", ns, "set", "image", "deployment/web", "main=nginx:1.29")
    server.wait_for(
        lambda: (
            server.get("deployments", "web", ns)["status"]["observedGeneration"]
            == server.get("deployments", "web", ns)["metadata"]["generation"]
        ),
        10,
        "the paused change observed",
    )
    assert sorted(_replicasets(server, ns)) == [1, 2]  # no ReplicaSet while paused
    assert server.get("deployments", "web", ns)["metadata"]["annotations"][REVISION] == "2"
    kubectl("-n", ns, "rollout", "resume", "deployment/web")
    server.wait_for(lambda: sorted(_replicasets(server, ns)) == [1, 2, 3], 10, "the third")
    assert server.get("deployments", "web", ns)["metadata"]["annotations"][REVISION] == "3"


def test_get_replicasets_shows_the_real_columns(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns, server = kubeapi_namespace, kubeapi_server
    kubectl("-n", ns, "apply", "-f", "-", input=_deployment("web"))
    [rs] = _settled(server, "web", ns).values()
    name, digest = rs["metadata"]["name"], rs["metadata"]["labels"]["pod-template-hash"]
    header, row = kubectl("-n", ns, "get", "rs").stdout.splitlines()
    assert header.split() == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
    assert row.split()[:4] == [name, "3", "3", "3"]
    header, row = kubectl("-n", ns, "get", "rs", "-o", "wide").stdout.splitlines()
    assert header.split() == [
        "NAME",
        "DESIRED",
        "CURRENT",
        "READY",
        "AGE",
        "CONTAINERS",
        "IMAGES",
        "SELECTOR",
    ]
    cells = row.split()
    assert cells[:4] == [name, "3", "3", "3"]
    assert cells[5:] == ["main", "nginx:1.27", f"app=web,pod-template-hash={digest}"]
