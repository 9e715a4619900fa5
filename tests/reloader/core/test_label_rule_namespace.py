"""The runbook's label rule selects Deployments in the controller's own namespace only.

Elsewhere (``WATCH_NAMESPACES`` with other namespaces, or ``*``) a Deployment
labelled ``app``/``env`` restarts only when it opted in with annotations, as
under stakater/Reloader: a cluster-scope controller must not adopt or restart
the many Deployments of other teams that happen to carry those common labels.
Journals written before the setting existed replay with the rule everywhere.
"""

from __future__ import annotations

from records import kinds as k
from reloader.core import Policy
from tests.reloader.core.scenario import NS, Run, envfrom, source, workload

V1 = {"MESSAGE": "one"}
V2 = {"MESSAGE": "two"}
LABELS = {"app": "shop", "env": "prod"}
AUTO = {"reloader.stakater.com/auto": "true"}


def run_in(namespace: str, annotations=None, *, home: str | None = NS) -> Run:
    """A labelled ConfigMap and a labelled Deployment in ``namespace``, in sync."""
    config = source("ConfigMap", "shop-config", V1, ns=namespace, labels=LABELS)
    deployment = workload(
        "Deployment",
        "shop",
        annotations or {},
        applied=config.data_hash,
        ns=namespace,
        labels=LABELS,
        pod_spec=envfrom(("configMap", "shop-config")),
    )
    policy = Policy(debounce_seconds=1.0, label_rule_namespace=home)
    return Run.start([config], [deployment], policy=policy)


def change(run: Run, namespace: str) -> None:
    run.change(source("ConfigMap", "shop-config", V2, ns=namespace, rv="2", labels=LABELS), 10.0)
    run.run_until(20.0)


def test_in_the_controllers_namespace_the_labels_select_the_deployment():
    run = run_in(NS)
    change(run, NS)
    [patch] = run.patches()
    assert (patch.namespace, patch.deployment) == (NS, "shop")


def test_in_another_namespace_labels_alone_restart_nothing_and_are_journaled_as_no_target():
    run = run_in("team-x")
    [observed] = run.records(k.DEPLOYMENT_OBSERVED)
    assert observed.data["target"] is None
    since = len(run.actions)
    change(run, "team-x")
    assert run.patches() == [] and run.adoptions() == []
    [skipped] = run.records(k.DEBOUNCE_SKIPPED, since)
    assert (skipped.namespace, skipped.data["reason"]) == ("team-x", "no-target")


def test_in_another_namespace_an_opted_in_deployment_still_restarts():
    run = run_in("team-x", AUTO)
    change(run, "team-x")
    [patch] = run.patches()
    assert (patch.namespace, patch.deployment) == ("team-x", "shop")


def test_a_policy_without_the_namespace_keeps_the_rule_everywhere_as_older_journals_decided():
    assert "label_rule_namespace" not in Policy().as_dict()
    assert Policy(label_rule_namespace=NS).as_dict()["label_rule_namespace"] == NS
    assert Policy.from_dict({"debounce_seconds": 1.0}).label_rule_namespace is None
    run = run_in("team-x", home=None)
    change(run, "team-x")
    [patch] = run.patches()
    assert (patch.namespace, patch.deployment) == ("team-x", "shop")
