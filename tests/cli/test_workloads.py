"""``tail`` and ``replay`` by workload (``--workload KIND/NAME``) and by ``--namespace``."""

from __future__ import annotations

import json
import uuid

import pytest

from journal import Journal
from tests.cli.helpers import one_error_line
from tests.journal.builders import Controller, at

CM = "db-config"


@pytest.fixture
def journal(tmp_path):
    """statefulset/db and deployment/db in shipshape, daemonset/agent in another namespace."""
    path = tmp_path / "journal.db"
    with Journal.open(path, actor="helloworld-controller-0") as writer:
        here, there = Controller(writer), Controller(writer, namespace="other")
        here.started(0)
        here.acquired(1, epoch=1)
        there.epoch = 1
        corr = str(uuid.uuid4())
        here.observed(100, CM, "v2", corr=corr)
        for workload in ("statefulset/db", "db"):
            here.planned(105, workload, CM, "v2", corr)
            here.patched(105.5, workload, CM, "v2", corr)
            here.rollout(125, workload, corr)
        there.restart_chain(200, "agent-config", "daemonset/agent", "a2")
    return path


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_tail_by_workload_kind_in_any_case(run, journal):
    outcome = run("tail", "--workload", "StatefulSet/db", "-n", "100", "-o", "json",
                  "--journal", journal)  # fmt: skip
    assert outcome.code == 0, outcome.err
    records = _json_lines(outcome.out)
    assert [r["kind"] for r in records] == ["restart.planned", "restart.patched",
                                            "rollout.completed"]  # fmt: skip
    assert {r["object"] for r in records} == {"statefulset/db"}


def test_tail_by_namespace(run, journal):
    records = _json_lines(
        run("tail", "--namespace", "other", "-n", "100", "-o", "json", "--journal", journal).out
    )
    assert len(records) == 5  # the daemonset's change chain
    assert {r["namespace"] for r in records} == {"other"}


def test_replay_by_workload(run, journal):
    outcome = run("replay", "-o", "json", "--workload", "DEPLOYMENT/db", "--journal", journal)
    assert outcome.code == 0, outcome.err
    document = json.loads(outcome.out)
    assert [(r["deployment"], "workload" in r) for r in document["restarts"]] == [("db", False)]
    assert list(document["workloads"]) == ["shipshape/deployment/db"]
    assert document["events"] == 14  # every record replayed, one workload reported


def test_replay_by_namespace(run, journal):
    document = json.loads(
        run("replay", "-o", "json", "--namespace", "other", "--journal", journal).out
    )
    assert list(document["workloads"]) == ["other/daemonset/agent"]
    (restart,) = document["restarts"]
    assert (restart["namespace"], restart["workload"]) == ("other", "daemonset/agent")


def test_replay_text_has_a_section_per_workload(run, journal):
    out = run("replay", "--journal", journal).out
    assert "\nWorkloads: 3\n" in out
    assert "  shipshape/statefulset/db: restarts 1 (patched 1), applied " in out
    assert "  other/daemonset/agent: restarts 1 (patched 1)" in out
    assert " statefulset/db <- configmap/db-config: patched" in out


@pytest.mark.parametrize("command", ["tail", "replay"])
@pytest.mark.parametrize("value", ["db", "pod/db", "deployment/", "deployment/a/b", "/db"])
def test_a_bad_workload_is_one_line_and_exit_2(run, journal, command, value):
    outcome = run(command, "--workload", value, "--journal", journal)
    assert outcome.code == 2
    line = one_error_line(outcome)
    assert "--workload" in line
    assert "deployment, statefulset, daemonset" in line


@pytest.mark.parametrize(
    "value", ["pod/db", "configmaps/db-config", "configmap/", "/db", "configmap/a/b", ""]
)
def test_a_bad_object_is_one_line_and_exit_2(run, journal, value):
    # A typo in --object would match nothing and look like an empty journal.
    outcome = run("tail", "--object", value, "--journal", journal)
    assert outcome.code == 2
    assert outcome.out == ""
    line = one_error_line(outcome)
    assert "--object" in line
    if value:
        assert f"{value!r}" in line
        assert "configmap, secret, deployment, statefulset, daemonset, lease" in line


def test_object_kind_in_any_case_matches_as_recorded(run, journal):
    # Kubernetes spells kinds StatefulSet, ConfigMap: the same records as lower case.
    lower = run("tail", "--object", "statefulset/db", "--journal", journal)
    camel = run("tail", "--object", "StatefulSet/db", "--journal", journal)
    assert camel.code == 0, camel.err
    assert lower.out and camel.out == lower.out


def test_tail_takes_object_or_workload_not_both(run, journal):
    outcome = run("tail", "--workload", "deployment/db", "--object", "db", "--journal", journal)
    assert outcome.code == 2
    assert "either --object or --workload" in one_error_line(outcome)


def test_a_secret_and_a_configmap_of_one_name_are_named_apart(run, tmp_path):
    """A Secret-triggered restart names ``secret/NAME`` in tail and replay, whether its
    records carry ``source`` (written now) or only ``configmap: secret/NAME`` (older)."""
    path = tmp_path / "journal.db"
    with Journal.open(path, actor="helloworld-controller-0") as writer:
        here = Controller(writer)
        here.started(0)
        here.acquired(1, epoch=1)
        here.restart_chain(100, "api", "web", "c2")  # the ConfigMap api
        for t, source in ((200, True), (300, False)):  # the Secret api, then an older record
            corr = str(uuid.uuid4())
            writer.append(
                "configmap.observed",
                namespace="shipshape",
                object="secret/api",
                correlation_id=corr,
                ts=at(t),
                data={"event_type": "MODIFIED", "data_hash": f"hmac-sha256:{t}"},
            )
            named = {"configmap": "secret/api", "data_hash": f"hmac-sha256:{t}", "attempt": 1}
            if source:
                named["source"] = "secret/api"
            for offset, kind in ((5, "restart.planned"), (5.5, "restart.patched")):
                writer.append(
                    kind,
                    namespace="shipshape",
                    object="deployment/web",
                    correlation_id=corr,
                    leader_epoch=1,
                    ts=at(t + offset),
                    data=named,
                )
    outcome = run("replay", "--journal", path)
    assert outcome.code == 0, outcome.err
    restarts = [line for line in outcome.out.splitlines() if " deployment/web <- " in line]
    assert [line.split(" <- ")[1].split(":")[0] for line in restarts] == [
        "configmap/api",
        "secret/api",
        "secret/api",
    ]
    assert "  api: hash" in outcome.out and "  secret/api: hash" in outcome.out
    report = json.loads(run("replay", "--journal", path, "-o", "json").out)
    assert [r["configmap"] for r in report["restarts"]] == ["api", "secret/api", "secret/api"]
    assert report["configmaps"]["api"]["restarts"] == 1
    assert report["configmaps"]["secret/api"]["restarts"] == 2
    assert report["anomalies"] == [], "each restart follows its own source's change"
    tail = run("tail", "--journal", path, "--kind", "restart.planned", "-n", "10").out
    assert '"source":"secret/api"' in tail


def test_replay_by_namespace_keeps_the_controllers_terms(run, tmp_path):
    """The controller's leadership and starts are in its own namespace: a replay of
    another namespace still shows its terms as recorded (a leaderless gap included)
    and judges the SLO with the debounce it started with."""
    path = tmp_path / "journal.db"
    with Journal.open(path, actor="helloworld-controller-0") as writer:
        here, app = Controller(writer), Controller(writer, namespace="app")
        here.started(0)
        here.acquired(1, epoch=1)
        app.epoch = 1
        app.restart_chain(100, "cm", "web", "v2")
        here.lost(200)
        here.acquired(300, epoch=2)
        app.epoch = 2
        app.restart_chain(400, "cm", "web", "v3")
    document = json.loads(run("replay", "-o", "json", "--namespace", "app", "--journal", path).out)
    terms = [(t["epoch"], t["how"], t["end_reason"]) for t in document["leader_terms"]]
    assert terms == [(1, "acquired", "lost"), (2, "acquired", None)], document["leader_terms"]
    assert [a["type"] for a in document["anomalies"]] == ["leaderless_gap"]
    assert [r["namespace"] for r in document["restarts"]] == ["app", "app"]
