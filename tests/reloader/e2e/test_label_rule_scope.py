"""The label rule stays in the controller's namespace when it watches others too.

With ``WATCH_NAMESPACES=shipshape,team-a`` and every ConfigMap selected, a
Deployment and a ConfigMap labelled ``app``/``env`` alike are paired in
``shipshape`` (the runbook's rule) and left alone in ``team-a``, where only
annotations opt in, as under stakater/Reloader.
"""

from __future__ import annotations

from records import kinds as k
from tests.reloader.e2e.harness import NS, configmap, controller, deployment, wait_for
from tests.reloader.e2e.test_workloads import cluster_rbac

TEAM = "team-a"


def in_namespace(obj: dict, namespace: str) -> dict:
    obj["metadata"]["namespace"] = namespace
    return obj


def annotations(kube, name: str, namespace: str) -> dict:
    return (kube.get("deployments", name, namespace) or {})["metadata"].get("annotations") or {}


def test_labels_select_deployments_in_the_controllers_namespace_only(kube, cluster) -> None:
    cluster_rbac(kube)
    for namespace in (NS, TEAM):
        kube.apply(in_namespace(configmap("shop-config", {"MODE": "one"}, app="shop"), namespace))
        kube.apply(in_namespace(deployment("shop-test", app="shop"), namespace))
    env = {"WATCH_NAMESPACES": f"{NS},{TEAM}", "CONFIGMAP_LABEL_SELECTOR": ""}
    ctl = controller(cluster, env=env).start()
    wait_for(
        lambda: annotations(kube, "shop-test", NS).get("shipshape.io/config-hash"),
        "the Deployment in the controller's namespace adopted",
    )
    for namespace in (NS, TEAM):
        kube.patch("configmaps", "shop-config", {"data": {"MODE": "two"}}, namespace=namespace)
    ctl.wait_record(
        lambda r: r.kind == k.ROLLOUT_COMPLETED and r.namespace == NS,
        "the restart in the controller's namespace",
        timeout=30,
    )
    ctl.quiesce(ctl.records()[-1].seq)
    assert len(kube.revisions("shop-test", NS)) == 2
    assert len(kube.revisions("shop-test", TEAM)) == 1, "another team's Deployment restarted"
    assert not any(key.startswith("shipshape.io/") for key in annotations(kube, "shop-test", TEAM))
    [observed] = [r for r in ctl.records({k.DEPLOYMENT_OBSERVED}) if r.namespace == TEAM]
    assert observed.data["target"] is None
    skipped = [
        r.data["reason"]
        for r in ctl.records({k.DEBOUNCE_SKIPPED})
        if r.namespace == TEAM and r.object == "configmap/shop-config"
    ]
    assert skipped and set(skipped) == {"no-target"}
    [started] = ctl.records({k.CONTROLLER_STARTED})
    assert started.data["policy"]["label_rule_namespace"] == NS
