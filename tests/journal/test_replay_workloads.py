"""Replay per workload: kinds kept apart, the ``workloads`` view, and narrowing to one."""

from __future__ import annotations

import io
import json
import uuid

from journal import replay
from tests.journal.builders import Controller, data_hash

CM = "db-config"
STS, DEPLOY = "statefulset/db", "db"  # a StatefulSet and a Deployment, both named db


def _one_change_for_both(controller: Controller) -> str:
    """One ConfigMap change restarting statefulset/db and deployment/db under one id."""
    controller.started(0)
    controller.acquired(1, epoch=1)
    controller.observed(2, CM, "v1", event="ADDED")
    controller.skipped(2.1, CM, "adopted")
    corr = str(uuid.uuid4())
    controller.observed(100, CM, "v2", corr=corr)
    controller.scheduled(100.01, CM, corr)
    controller.planned(105, STS, CM, "v2", corr)
    controller.planned(105.1, DEPLOY, CM, "v2", corr)
    controller.patched(105.5, STS, CM, "v2", corr, generation=4)
    controller.patched(105.6, DEPLOY, CM, "v2", corr, generation=9)
    controller.rollout(125, STS, corr)
    controller.rollout(126, DEPLOY, corr, ok=False)
    return corr


def test_a_statefulset_and_a_deployment_of_one_name_are_two_restarts(controller, writer):
    _one_change_for_both(controller)
    report = replay([writer])
    sts, deploy = report.restarts
    assert (sts.workload, deploy.workload) == ("statefulset/db", "deployment/db")
    assert (sts.retries, deploy.retries) == (0, 0)  # not one restart and its retry
    assert (sts.outcome, deploy.outcome) == ("patched", "patched")
    assert (sts.rollout, deploy.rollout) == ("completed", "timeout")
    # The anomaly names the workload's own kind.
    (timeout,) = report.anomalies
    assert timeout["type"] == "rollout_timeout"
    assert timeout["message"].startswith("deployment/db was patched")
    # In -o json, a StatefulSet's restart says so; a Deployment's is as before.
    sts_json, deploy_json = sts.to_json(), deploy.to_json()
    assert sts_json["workload"] == "statefulset/db"
    assert sts_json["deployment"] == "db"
    assert "workload" not in deploy_json


def test_the_workloads_view(controller, writer):
    corr = _one_change_for_both(controller)
    controller.deployment(130, DEPLOY, "v2", 9)
    report = replay([writer])
    assert list(report.workloads) == ["shipshape/deployment/db", "shipshape/statefulset/db"]
    sts = report.workloads["shipshape/statefulset/db"]
    patched_seq = report.restarts[0].outcome_seq
    assert sts == {
        "namespace": "shipshape",
        "kind": "statefulset",
        "name": "db",
        "restarts": 1,
        "retries": 0,
        "pending": 0,
        "outcomes": {"patched": 1},
        "last_restart": {
            "seq": patched_seq,
            "ts": report.restarts[0].patched_ts,
            "outcome": "patched",
            "configmap": CM,
            "data_hash": data_hash("v2"),
            "correlation_id": corr,
        },
        "applied_hash": data_hash("v2"),
        "observations": 0,
    }
    assert report.workloads["shipshape/deployment/db"]["observations"] == 1
    document = json.loads(_written(report))
    assert document["workloads"] == report.workloads
    assert list(document)[-1] == "workloads"  # added last: the other keys are unchanged


def _written(report) -> str:
    out = io.StringIO()
    report.write_json(out)
    return out.getvalue()


def test_a_hash_one_kind_has_is_no_reason_to_flag_the_other(controller, writer):
    """Settled hashes are per workload: the StatefulSet's roll does not settle the Deployment."""
    controller.started(0)
    controller.acquired(1, epoch=1)
    controller.observed(2, CM, "v1", event="ADDED")
    controller.skipped(2.1, CM, "adopted")
    first = str(uuid.uuid4())
    controller.observed(100, CM, "v2", corr=first)
    controller.planned(105, STS, CM, "v2", first)
    controller.patched(105.5, STS, CM, "v2", first)
    second = str(uuid.uuid4())
    controller.planned(110, DEPLOY, CM, "v2", second)  # the Deployment has not rolled v2 yet
    controller.patched(110.5, DEPLOY, CM, "v2", second)
    again = str(uuid.uuid4())
    controller.planned(120, STS, CM, "v2", again)  # the StatefulSet has: a storm
    controller.dropped(121, STS, CM, "v2", again)
    messages = [(a["type"], a["message"]) for a in replay([writer]).anomalies]
    assert [kind for kind, _ in messages] == ["restart_without_change", "dropped_restart"]
    assert messages[0][1].startswith("restart of statefulset/db planned for data hash")
    assert messages[1][1] == "restart of statefulset/db dropped: lost leadership"


def test_a_restart_still_in_flight_is_pending_in_its_view(controller, writer):
    controller.started(0)
    controller.acquired(1, epoch=1)
    corr = str(uuid.uuid4())
    controller.observed(100, CM, "v2", corr=corr)
    controller.planned(105, "daemonset/agent", CM, "v2", corr)
    controller.retry(106, "daemonset/agent", CM, "v2", corr)
    view = replay([writer]).workloads["shipshape/daemonset/agent"]
    assert (view["restarts"], view["retries"], view["pending"]) == (1, 1, 1)
    assert view["outcomes"] == {"pending": 1}
    assert view["last_restart"] is None


def test_replay_narrowed_to_one_workload(controller, writer):
    _one_change_for_both(controller)
    whole = replay([writer])
    narrowed = replay([writer], workload="statefulset/db")
    assert [entry.workload for entry in narrowed.restarts] == ["statefulset/db"]
    assert list(narrowed.workloads) == ["shipshape/statefulset/db"]
    assert narrowed.latency["count"] == 1
    # Everything else is the whole window's.
    assert narrowed.events == whole.events
    assert narrowed.configmaps == whole.configmaps
    assert narrowed.anomalies == whole.anomalies
