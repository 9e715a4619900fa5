"""``tail`` and ``replay`` by workload (``--workload KIND/NAME``) and by ``--namespace``."""

from __future__ import annotations

import json
import uuid

import pytest

from journal import Journal
from tests.cli.helpers import one_error_line
from tests.journal.builders import Controller

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


def test_tail_takes_object_or_workload_not_both(run, journal):
    outcome = run("tail", "--workload", "deployment/db", "--object", "db", "--journal", journal)
    assert outcome.code == 2
    assert "either --object or --workload" in one_error_line(outcome)
