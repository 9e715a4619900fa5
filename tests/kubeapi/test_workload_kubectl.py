"""Everyday kubectl workflows on StatefulSets and DaemonSets, by the real kubectl:
what a real cluster answers to `rollout restart`/`status`/`pause`, switching a
StatefulSet to `OnDelete`, and the labels of their ControllerRevisions."""

from __future__ import annotations

import pytest

from tests.kubeapi import KubeApiServer
from tests.kubeapi.pytest_plugin import Kubectl

STATEFULSET = """apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  replicas: 2
  serviceName: web
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: main, image: "nginx:1.27"}]}
"""
DAEMONSET = """apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: main, image: "busybox:1.36"}]}
"""


def _failure(kubectl: Kubectl, ns: str, *args: str) -> str:
    done = kubectl("-n", ns, *args, check=False)
    assert done.returncode != 0, done.stdout
    return done.stderr.strip()


def test_statefulset_and_daemonset_revisions_carry_their_controllers_hash_labels(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    """`history.NewControllerRevision` labels a StatefulSet's with
    `controller.kubernetes.io/hash`; the DaemonSet controller's own snapshot uses
    `controller-revision-hash`."""
    ns = kubeapi_namespace
    kubectl("-n", ns, "create", "-f", "-", input=STATEFULSET + "---\n" + DAEMONSET)

    def listed(label: str) -> list[str] | None:
        names = kubectl("-n", ns, "get", "controllerrevisions", "-l", label, "-o", "name")
        return names.stdout.split() or None

    by_sts_label = kubeapi_server.wait_for(
        lambda: listed("controller.kubernetes.io/hash"), 10, "the StatefulSet's revision"
    )
    by_ds_label = kubeapi_server.wait_for(
        lambda: listed("controller-revision-hash"), 10, "the DaemonSet's revision"
    )
    sts = kubeapi_server.wait_for_rollout("web", ns, "statefulsets")
    assert by_sts_label == [f"controllerrevision.apps/{sts['status']['updateRevision']}"]
    assert [name.split("/")[1].rsplit("-", 1)[0] for name in by_ds_label] == ["agent"]


def test_switching_a_statefulset_to_ondelete_must_drop_its_rolling_update(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    """The defaulted `rollingUpdate.partition` stays under a merge patch of the type
    alone, and the real server refuses it; without it the switch goes through and
    `rollout status` is refused by kubectl."""
    ns = kubeapi_namespace
    kubectl("-n", ns, "create", "-f", "-", input=STATEFULSET)
    on_delete = '{"spec": {"updateStrategy": {"type": "OnDelete"}}}'
    error = _failure(kubectl, ns, "patch", "statefulset", "web", "--type=merge", "-p", on_delete)
    assert error == (
        'The StatefulSet "web" is invalid: spec.updateStrategy.rollingUpdate: Invalid value: '
        '{"Partition":0,"MaxUnavailable":null}: '
        "only allowed for updateStrategy 'RollingUpdate'"
    )
    dropped = '{"spec": {"updateStrategy": {"type": "OnDelete", "rollingUpdate": null}}}'
    kubectl("-n", ns, "patch", "statefulset", "web", "--type=merge", "-p", dropped)
    assert kubeapi_server.get("statefulsets", "web", ns)["spec"]["updateStrategy"] == {
        "type": "OnDelete"
    }
    error = _failure(kubectl, ns, "rollout", "status", "statefulset/web", "--timeout=5s")
    assert error == "error: rollout status is only available for RollingUpdate strategy type"


@pytest.mark.parametrize(
    ("kind", "strategy", "expected"),
    [
        (
            "statefulset",
            '{"type": "RollingUpdate", "rollingUpdate": {"partition": -1}}',
            'The StatefulSet "web" is invalid: spec.updateStrategy.rollingUpdate.partition: '
            "Invalid value: -1: must be greater than or equal to 0",
        ),
        (
            "statefulset",
            '{"type": "Canary"}',
            'The StatefulSet "web" is invalid: spec.updateStrategy: Invalid value: '
            '{"Type":"Canary","RollingUpdate":null}: must be \'RollingUpdate\' or \'OnDelete\'',
        ),
        (
            "daemonset",
            '{"type": "Canary"}',
            'The DaemonSet "agent" is invalid: spec.updateStrategy: Unsupported value: '
            '{"Type":"Canary","RollingUpdate":null}: supported values: "RollingUpdate", "OnDelete"',
        ),
    ],
)
def test_an_update_strategy_the_real_server_refuses_is_refused(
    kubectl: Kubectl, kubeapi_namespace: str, kind: str, strategy: str, expected: str
):
    ns = kubeapi_namespace
    manifest = STATEFULSET if kind == "statefulset" else DAEMONSET
    name = "web" if kind == "statefulset" else "agent"
    kubectl("-n", ns, "create", "-f", "-", input=manifest)
    patch = f'[{{"op": "replace", "path": "/spec/updateStrategy", "value": {strategy}}}]'
    assert _failure(kubectl, ns, "patch", kind, name, "--type=json", "-p", patch) == expected


def test_restart_makes_a_revision_that_rollout_status_waits_for(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    """A cheap regression check of the everyday path: restart, status, history, and
    kubectl's own refusal to pause either kind."""
    ns = kubeapi_namespace
    kubectl("-n", ns, "create", "-f", "-", input=STATEFULSET + "---\n" + DAEMONSET)
    for workload in ("statefulset/web", "daemonset/agent"):
        kubectl("-n", ns, "rollout", "status", workload, "--timeout=10s")
        kubectl("-n", ns, "rollout", "restart", workload)
        kubectl("-n", ns, "rollout", "status", workload, "--timeout=10s")
        history = kubectl("-n", ns, "rollout", "history", workload).stdout.split()
        assert history[-4:] == ["1", "<none>", "2", "<none>"], history
        kind, name = workload.split("/")
        error = _failure(kubectl, ns, "rollout", "pause", workload)
        assert error == f'error: {kind}s.apps "{name}" pausing is not supported'
    revision = kubeapi_server.revisions("web", ns, "statefulsets")[-1]
    assert "kubectl.kubernetes.io/restartedAt" in revision.annotations
