"""The chaos-drill runbook's restart-storm checks (docs/runbooks/chaos-drills.md), run with
the real kubectl against the real controller making one restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.kubeapi import KubeApiServer
from tests.kubeapi.cluster import QUICK_CONTROLLER_ENV, Cluster

pytestmark = pytest.mark.slow

NS = "shipshape"
LABELS = {"app": "helloworld", "env": "test"}


def _objects() -> list[dict]:
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "helloworld-config-test", "namespace": NS, "labels": LABELS},
        "data": {"MESSAGE": "hello test"},
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "helloworld-test", "namespace": NS, "labels": LABELS},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": LABELS},
            "template": {
                "metadata": {"labels": LABELS},
                "spec": {"containers": [{"name": "app", "image": "helloworld:1"}]},
            },
        },
    }
    return [configmap, deployment]


def test_one_restart_shows_one_new_revision_and_each_config_hash_once(
    kubeapi_private_server: KubeApiServer, tmp_path: Path
):
    kube = kubeapi_private_server
    cluster = Cluster(tmp_path, server=kube, namespace=NS).start().prepare()
    try:
        for obj in _objects():
            kube.create(obj)
        kube.wait_for_rollout("helloworld-test", NS)
        controller = cluster.controller(client="controller", env=QUICK_CONTROLLER_ENV).start()
        controller.wait_record(lambda r: r.kind == "debounce.skipped", "the start-up verdict")
        kube.patch(
            "configmaps", "helloworld-config-test", {"data": {"MESSAGE": "new"}}, namespace=NS
        )
        done = controller.wait_record(lambda r: r.kind == "rollout.completed", "the rollout")
        controller.quiesce(after_seq=done.seq)
        assert controller.stop() == 0

        # "rollout history ... shows one new revision"
        history = cluster.kubectl("-n", NS, "rollout", "history", "deployment/helloworld-test")
        rows = history.strip().splitlines()[2:]
        assert [row.split()[0] for row in rows] == ["1", "2"], history
        # "Every config hash must appear once."
        columns = (
            "NAME:.metadata.name,"
            "HASH:.spec.template.metadata.annotations.shipshape\\.io/config-hash"
        )
        table = cluster.kubectl(
            "-n",
            NS,
            "get",
            "replicasets",
            "-l",
            "app=helloworld,env=test",
            "-o",
            f"custom-columns={columns}",
        )
        header, *lines = table.strip().splitlines()
        assert header.split() == ["NAME", "HASH"]
        hashes = [line.split()[1] for line in lines]
        applied = kube.get("deployments", "helloworld-test", NS)["spec"]["template"]["metadata"][
            "annotations"
        ]["shipshape.io/config-hash"]
        # The ReplicaSet from before the controller carries no hash; the restart's one.
        assert sorted(hashes) == sorted(["<none>", applied]), table
        assert len(set(hashes)) == len(hashes)
    finally:
        cluster.stop()
