"""Manifests written for stakater/Reloader, unchanged, against the API test server.

The controller runs under the cluster variant's RBAC with every ConfigMap
watched. Each workload carries Reloader's annotations as a Reloader user
writes them, and restarts exactly for the changes Reloader would restart it
for: the annotations on the pod template, an init container's reference, and
``search``/``match``/``ignore`` read as Reloader reads them (``"true"`` only).
"""

from __future__ import annotations

from records import kinds as k
from tests.kubeapi import KubeApiServer
from tests.kubeapi.cluster import Cluster
from tests.reloader.e2e.harness import controller, wait_for
from tests.reloader.e2e.test_controller import replay_check
from tests.reloader.e2e.test_workloads import (
    TEAMS,
    applied,
    cluster_rbac,
    configmap,
    container,
    patched,
    workload,
)

NS = TEAMS[0]


def test_a_reloader_users_manifests_restart_where_reloader_would(
    cluster: Cluster, kube: KubeApiServer
) -> None:
    cluster_rbac(kube)
    kube.apply(configmap("tuned", NS, {"A": "1"}, {"reloader.stakater.com/match": "true"}))
    kube.apply(configmap("init-cfg", NS, {"I": "1"}, {"reloader.stakater.com/match": "true"}))
    # "True" is no match to Reloader, which compares with "true".
    kube.apply(configmap("flags", NS, {"F": "1"}, {"reloader.stakater.com/match": "True"}))
    # ... and no ignore either: Reloader restarts for this one.
    kube.apply(configmap("loud", NS, {"L": "1"}, {"reloader.stakater.com/ignore": "True"}))
    searcher = workload(
        "Deployment",
        "searcher",
        NS,
        {},
        {
            "initContainers": [
                container(
                    name="init",
                    env=[
                        {
                            "name": "I",
                            "valueFrom": {"configMapKeyRef": {"name": "init-cfg", "key": "I"}},
                        }
                    ],
                )
            ],
            "containers": [
                container(
                    envFrom=[{"configMapRef": {"name": "flags"}}],
                    volumeMounts=[{"name": "cfg", "mountPath": "/cfg"}],
                )
            ],
            "volumes": [{"name": "cfg", "configMap": {"name": "tuned"}}],
        },
    )
    # Reloader reads the pod template's annotations when the workload has none.
    searcher["spec"]["template"]["metadata"]["annotations"] = {
        "reloader.stakater.com/search": "true"
    }
    kube.apply(searcher)
    kube.apply(
        workload(
            "StatefulSet",
            "auto",
            NS,
            {"reloader.stakater.com/auto": "true"},
            {"containers": [container(envFrom=[{"configMapRef": {"name": "loud"}}])]},
        )
    )
    ctl = controller(cluster, env={"WATCH_NAMESPACES": NS, "CONFIGMAP_LABEL_SELECTOR": ""}).start()
    wait_for(lambda: applied(kube, "deployments", "searcher", NS), "searcher adopted")
    wait_for(lambda: applied(kube, "statefulsets", "auto", NS), "auto adopted")

    kube.patch("configmaps", "flags", {"data": {"F": "2"}}, namespace=NS)
    kube.patch("configmaps", "loud", {"data": {"L": "2"}}, namespace=NS)
    ctl.wait_record(
        lambda r: r.kind == k.ROLLOUT_COMPLETED and r.object == "statefulset/auto",
        "auto restarted for loud, which Reloader does not take as ignored",
        timeout=30,
    )
    kube.patch("configmaps", "init-cfg", {"data": {"I": "2"}}, namespace=NS)
    ctl.wait_record(
        lambda r: r.kind == k.ROLLOUT_COMPLETED and r.object == "deployment/searcher",
        "searcher restarted for init-cfg, matched and referenced by an init container",
        timeout=30,
    )
    ctl.quiesce(ctl.records()[-1].seq)
    [restart] = patched(ctl, "deployment/searcher", NS)
    assert restart.data["configmap"] == "init-cfg", "flags (match: True) restarted nothing"
    assert len(patched(ctl, "statefulset/auto", NS)) == 1
    # Each "True" is reported once, as a bad value the user can correct.
    warned = {r.object: r.data["warnings"] for r in ctl.records([k.WORKLOAD_WARNING])}
    assert sorted(warned) == ["configmap/flags", "configmap/loud"]
    assert all('reads only "true"' in w for ws in warned.values() for w in ws)
    assert ctl.stop() == 0
    replay_check(ctl.journal_path)
