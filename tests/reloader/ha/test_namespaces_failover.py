"""A new leader with a list of namespaces, one of which the API server refuses.

A new leader decides nothing until every watch has listed again for it (its
cache may lag behind the old leader's last patches). A namespace without its
RoleBinding never lists: the relists go on without it, so the new leader acts
in the others, as the first leader did.
"""

from __future__ import annotations

from records import kinds as k
from tests.reloader.e2e.harness import wait_for
from tests.reloader.e2e.test_namespaces_scope import namespaced_rbac
from tests.reloader.e2e.test_workloads import (
    AUTO,
    TEAMS,
    applied,
    configmap,
    container,
    rolled_once,
    workload,
)
from tests.reloader.ha.cluster import kill

REFUSED = "team-c"


def test_a_new_leader_acts_without_waiting_for_a_refused_namespace(kube, replicas):
    namespaced_rbac(kube)  # RoleBindings in team-a and team-b only
    a = TEAMS[0]
    kube.apply(configmap("web-config", a, {"MODE": "one"}))
    envfrom = [{"configMapRef": {"name": "web-config"}}]
    kube.apply(workload("Deployment", "web", a, AUTO, {"containers": [container(envFrom=envfrom)]}))
    group = replicas(2, WATCH_NAMESPACES=",".join((*TEAMS, REFUSED)), CONFIGMAP_LABEL_SELECTOR="")
    group.start()
    first = group.wait_leader()
    wait_for(lambda: applied(kube, "deployments", "web", a), "team-a's Deployment adopted")

    kill(first)
    successor = group.wait_leader(exclude=[first], timeout=30)
    relisted = successor.wait_record(
        lambda r: (
            r.kind == k.WATCH_RELISTED
            and r.data["reason"] == "leader"
            and r.data["resource"] == "configmaps"
        ),
        "the new leader's relist of ConfigMaps",
    )
    assert relisted.data["forbidden_namespaces"] == [REFUSED]
    assert REFUSED not in relisted.data["resource_version"]
    kube.patch("configmaps", "web-config", {"data": {"MODE": "two"}}, namespace=a)
    rolled_once(successor, "deployment/web", a)
