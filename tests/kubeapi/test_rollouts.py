"""StatefulSets and DaemonSets roll out like Deployments: `kubectl rollout status`,
`rollout restart` and the status fields they read."""

from __future__ import annotations

import json
import time

import pytest

from tests.kubeapi import KubeApiServer
from tests.kubeapi.pytest_plugin import Kubectl


def _workload(kind: str, name: str) -> str:
    spec = f"""
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec: {{containers: [{{name: main, image: "nginx:1.27"}}]}}"""
    if kind == "StatefulSet":
        spec = f"\n  serviceName: {name}\n  replicas: 2" + spec
    return f"apiVersion: apps/v1\nkind: {kind}\nmetadata: {{name: {name}}}\nspec:{spec}\n"


def _counts(status: dict) -> tuple[int, ...]:
    """A StatefulSet's `(replicas, readyReplicas, currentReplicas, updatedReplicas)`."""
    fields = ("replicas", "readyReplicas", "currentReplicas", "updatedReplicas")
    return tuple(status.get(name, 0) for name in fields)


def _updated_since(server: KubeApiServer, name: str, ns: str, rv: str) -> list[int]:
    """The `updatedReplicas` of every StatefulSet status committed after `rv`."""
    return [
        (event.obj.get("status") or {}).get("updatedReplicas", 0)
        for event in server.events("statefulsets", ns)
        if event.name == name and event.rv > int(rv)
    ]


@pytest.mark.parametrize(
    ("kind", "done"),
    [
        ("StatefulSet", "partitioned roll out complete: 2 new pods have been updated..."),
        ("DaemonSet", 'daemon set "app" successfully rolled out'),
        ("Deployment", 'deployment "app" successfully rolled out'),
    ],
)
def test_rollout_status_and_restart_work_for_every_workload_kind(
    kind: str, done: str, kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns = kubeapi_namespace
    resource = f"{kind.lower()}s"
    kubectl("-n", ns, "apply", "-f", "-", input=_workload(kind, "app"))
    status = kubectl("-n", ns, "rollout", "status", f"{kind.lower()}/app", "--timeout=30s")
    assert status.stdout.strip().splitlines()[-1] == done
    first = kubeapi_server.get(resource, "app", ns)
    kubectl("-n", ns, "rollout", "restart", f"{kind.lower()}/app")
    restarted = kubeapi_server.get(resource, "app", ns)
    annotations = restarted["spec"]["template"]["metadata"]["annotations"]
    assert "kubectl.kubernetes.io/restartedAt" in annotations
    assert restarted["metadata"]["generation"] == first["metadata"]["generation"] + 1
    assert len(kubeapi_server.revisions("app", ns, resource)) == 2
    status = kubectl("-n", ns, "rollout", "status", f"{kind.lower()}/app", "--timeout=30s")
    assert status.stdout.strip().splitlines()[-1] == done
    rolled = kubeapi_server.wait_for_rollout("app", ns, resource)
    assert rolled["status"]["observedGeneration"] == rolled["metadata"]["generation"]


def test_a_statefulset_rollout_reports_its_revisions_while_it_runs(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns = kubeapi_namespace
    kubectl("-n", ns, "apply", "-f", "-", input=_workload("StatefulSet", "db"))
    before = kubeapi_server.wait_for_rollout("db", ns, "statefulsets")["status"]
    assert before["currentRevision"] == before["updateRevision"]
    assert (before["replicas"], before["readyReplicas"], before["updatedReplicas"]) == (2, 2, 2)
    never = {"metadata": {"annotations": {"kubeapi.test/rollout-seconds": "never"}}}
    kubeapi_server.patch("statefulsets", "db", never, namespace=ns)
    kubectl("-n", ns, "rollout", "restart", "statefulset/db")
    during = kubeapi_server.get("statefulsets", "db", ns)["status"]
    assert during["currentRevision"] == before["currentRevision"] != during["updateRevision"]
    assert during.get("updatedReplicas", 0) == 0
    waiting = kubectl("-n", ns, "rollout", "status", "statefulset/db", "--timeout=1s", check=False)
    assert waiting.returncode == 1
    assert "Waiting for partitioned roll out to finish: 0 out of 2 new pods" in waiting.stdout


def test_a_daemonset_runs_one_pod_per_simulated_node_and_waits_for_them(
    kubectl_for, kubeapi_private_server: KubeApiServer
):
    server = kubeapi_private_server
    server.rollouts.nodes = 3
    admin = kubectl_for(server, namespace="default")
    admin("apply", "-f", "-", input=_workload("DaemonSet", "agent"))
    status = server.wait_for_rollout("agent", "default", "daemonsets")["status"]
    assert status["desiredNumberScheduled"] == status["numberAvailable"] == 3
    assert status["updatedNumberScheduled"] == status["numberReady"] == 3
    assert "numberUnavailable" not in status
    server.rollout_delay = None
    admin("rollout", "restart", "daemonset/agent")
    during = server.get("daemonsets", "agent", "default")["status"]
    assert during["observedGeneration"] == 2 and "updatedNumberScheduled" not in during
    waiting = admin("rollout", "status", "daemonset/agent", "--timeout=1s", check=False)
    assert waiting.returncode == 1
    assert 'Waiting for daemon set "agent" rollout to finish: 0 out of 3 new pods' in waiting.stdout


def test_on_delete_and_partitions_keep_pods_on_the_old_template(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    # As the real controllers: OnDelete replaces no pod by itself, and a
    # StatefulSet's partition keeps the ordinals below it on the old revision.
    ns = kubeapi_namespace
    on_delete = "\n  updateStrategy: {type: OnDelete}"
    kubectl("-n", ns, "apply", "-f", "-", input=_workload("StatefulSet", "db") + on_delete)
    kubectl("-n", ns, "apply", "-f", "-", input=_workload("DaemonSet", "agent") + on_delete)
    partitioned = _workload("StatefulSet", "web").replace("replicas: 2", "replicas: 3")
    partitioned += "\n  updateStrategy: {rollingUpdate: {partition: 1}}"
    kubectl("-n", ns, "apply", "-f", "-", input=partitioned)
    for name, resource in (
        ("db", "statefulsets"),
        ("agent", "daemonsets"),
        ("web", "statefulsets"),
    ):
        kubeapi_server.wait_for_rollout(name, ns, resource)
        kubectl("-n", ns, "rollout", "restart", f"{resource[:-1]}/{name}")
    kubeapi_server.wait_for(
        lambda: kubeapi_server.get("statefulsets", "web", ns)["status"].get("updatedReplicas") == 2,
        what="the partitioned rollout",
    )
    web = kubeapi_server.get("statefulsets", "web", ns)["status"]
    assert web["currentReplicas"] == 1 and web["currentRevision"] != web["updateRevision"]
    status = kubectl("-n", ns, "rollout", "status", "statefulset/web", "--timeout=10s")
    assert status.stdout.strip().splitlines()[-1] == (
        "partitioned roll out complete: 2 new pods have been updated..."
    )
    # Well past the rollout delay, the OnDelete workloads still run the old template.
    time.sleep(1.0)
    db = kubeapi_server.get("statefulsets", "db", ns)
    assert db["status"]["observedGeneration"] == db["metadata"]["generation"] == 2
    assert db["status"].get("updatedReplicas", 0) == 0
    assert db["status"]["currentRevision"] != db["status"]["updateRevision"]
    agent = kubeapi_server.get("daemonsets", "agent", ns)["status"]
    assert agent["observedGeneration"] == 2 and "updatedNumberScheduled" not in agent


def test_a_partitioned_statefulset_counts_its_pods_by_revision(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    # As the real controller counts pods by their revision: with one revision
    # every pod is current and updated whatever the partition; a template change
    # updates the ordinals at or above the partition only; neither scaling nor a
    # partition change forgets the pods that run.
    ns = kubeapi_namespace
    manifest = _workload("StatefulSet", "web").replace("replicas: 2", "replicas: 3")
    manifest += "\n  updateStrategy: {rollingUpdate: {partition: 1}}"
    kubectl("-n", ns, "apply", "-f", "-", input=manifest)
    created = kubeapi_server.wait_for_rollout("web", ns, "statefulsets")
    first = created["status"]["updateRevision"]
    assert created["status"]["currentRevision"] == first
    assert _counts(created["status"]) == (3, 3, 3, 3)
    status = ("-n", ns, "rollout", "status", "statefulset/web", "--timeout=10s")
    assert kubectl(*status).stdout.strip().splitlines()[-1] == (
        "partitioned roll out complete: 3 new pods have been updated..."
    )

    kubectl("-n", ns, "scale", "statefulset/web", "--replicas=5")
    scaled = kubeapi_server.wait_for_rollout("web", ns, "statefulsets")
    assert _counts(scaled["status"]) == (5, 5, 5, 5)
    assert scaled["status"]["currentRevision"] == scaled["status"]["updateRevision"] == first
    rv = created["metadata"]["resourceVersion"]
    assert min(_updated_since(kubeapi_server, "web", ns, rv)) == 3

    kubectl("-n", ns, "rollout", "restart", "statefulset/web")
    restarted = kubeapi_server.wait_for_rollout("web", ns, "statefulsets")
    assert _counts(restarted["status"]) == (5, 5, 1, 4)
    second = restarted["status"]["updateRevision"]
    assert restarted["status"]["currentRevision"] == first != second
    assert kubectl(*status).stdout.strip().splitlines()[-1] == (
        "partitioned roll out complete: 4 new pods have been updated..."
    )

    unpartition = {"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}}
    kubectl("-n", ns, "patch", "statefulset/web", "-p", json.dumps(unpartition))
    done = kubeapi_server.wait_for_rollout("web", ns, "statefulsets")
    assert _counts(done["status"]) == (5, 5, 5, 5)
    assert done["status"]["currentRevision"] == done["status"]["updateRevision"] == second
    rv = restarted["metadata"]["resourceVersion"]
    assert min(_updated_since(kubeapi_server, "web", ns, rv)) == 4


def test_a_statefulset_creates_ordinals_below_its_partition_at_the_current_revision(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns = kubeapi_namespace
    manifest = (
        _workload("StatefulSet", "db") + "\n  updateStrategy: {rollingUpdate: {partition: 3}}"
    )
    kubectl("-n", ns, "apply", "-f", "-", input=manifest)
    created = kubeapi_server.wait_for_rollout("db", ns, "statefulsets")["status"]
    assert _counts(created) == (2, 2, 2, 2)  # one revision: every pod is at both
    kubectl("-n", ns, "rollout", "restart", "statefulset/db")
    # Both ordinals are below the partition: nothing to update, as kubectl says.
    status = ("-n", ns, "rollout", "status", "statefulset/db", "--timeout=10s")
    assert kubectl(*status).stdout.strip().splitlines()[-1] == (
        "partitioned roll out complete: 0 new pods have been updated..."
    )
    kubectl("-n", ns, "scale", "statefulset/db", "--replicas=4")
    kubeapi_server.wait_for(
        lambda: kubeapi_server.get("statefulsets", "db", ns)["status"].get("readyReplicas") == 4,
        what="the scaled StatefulSet",
    )
    # Ordinal 2 is made at the current revision, ordinal 3 at the update revision.
    scaled = kubeapi_server.get("statefulsets", "db", ns)["status"]
    assert _counts(scaled) == (4, 4, 3, 1)
    assert scaled["currentRevision"] != scaled["updateRevision"]


@pytest.mark.parametrize(
    ("kind", "labels_kept"), [("Deployment", False), ("StatefulSet", True), ("DaemonSet", True)]
)
def test_a_status_write_keeps_metadata_changes_but_not_spec_changes(
    kind: str,
    labels_kept: bool,
    kubectl: Kubectl,
    kubeapi_server: KubeApiServer,
    kubeapi_namespace: str,
):
    # As the workloads' status strategies: a /status write resets the spec (and
    # a Deployment's labels) to the stored ones and keeps the other metadata.
    ns = kubeapi_namespace
    resource = f"{kind.lower()}s"
    kubectl("-n", ns, "apply", "-f", "-", input=_workload(kind, "app"))
    before = kubeapi_server.wait_for_rollout("app", ns, resource)
    patch = {
        "metadata": {"annotations": {"example.com/note": "kept"}, "labels": {"tier": "web"}},
        "spec": {"minReadySeconds": 7},
    }
    patched = kubectl(
        "-n", ns, "patch", f"{kind.lower()}/app", "--subresource=status", "--type=merge",
        "-p", json.dumps(patch),
    )  # fmt: skip
    assert patched.stdout.strip() == f"{kind.lower()}.apps/app patched"
    after = kubeapi_server.get(resource, "app", ns)
    assert after["metadata"]["annotations"]["example.com/note"] == "kept"
    assert after["spec"] == before["spec"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert ("tier" in (after["metadata"].get("labels") or {})) is labels_kept
