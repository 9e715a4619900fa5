"""DR-drill evidence never claims more than the marks and records show."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta

from journal import export_dr_drill, kinds, vacuum
from journal.snapshot import file_sha256
from tests.journal.builders import Controller, at

CM = "helloworld-config-test"


def _before(controller: Controller) -> None:
    controller.started(0)
    controller.acquired(1, epoch=1)
    controller.observed(2, CM, "v1", event="ADDED")


def test_an_end_mark_dated_before_its_start_fails_the_drill_without_an_rto(
    controller, writer, tmp_path
):
    """A clock stepped back between the marks: no negative RTO, no "--since" error; FAILED."""
    _before(controller)
    start = controller.note(1000, "restore", drill="start")
    controller.observed(1001, CM, "v1", event="ADDED")
    end = controller.note(500, "restored", drill="end")  # written by a clock 500 s behind
    result = export_dr_drill(writer, tmp_path / "evidence")
    assert result.status == "FAILED"
    assert result.reasons == [
        f"the end mark (seq {end.seq}, 2026-11-26T10:08:20.000000Z) is dated before the start "
        f"mark (seq {start.seq}, 2026-11-26T10:16:40.000000Z): their clocks disagree, "
        "RTO not measured"
    ]
    manifest = json.loads(result.manifest.read_text())
    assert manifest["rto"] == {"seconds": None, "target_seconds": 900, "met": False}
    assert manifest["drill"]["end"]["seq"] == end.seq
    report = result.report.read_text()
    assert "- Not measurable: the end mark is dated before the start mark." in report
    assert "Status: FAILED" in report.splitlines()


def test_an_end_mark_of_another_scenario_does_not_end_the_drill(controller, writer, tmp_path):
    """Two overlapping drills: the latest one is ended by its own scenario's end mark."""
    _before(controller)
    controller.note(100, "etcd restore", drill="start", scenario="etcd-restore")
    controller.note(200, "node loss", drill="start", scenario="node-loss")
    controller.observed(250, CM, "v1", event="ADDED")
    controller.note(300, "etcd restored", drill="end", scenario="etcd-restore")
    own = controller.note(900, "nodes back", drill="end", scenario="node-loss")
    result = export_dr_drill(writer, tmp_path / "evidence")
    manifest = json.loads(result.manifest.read_text())
    assert manifest["drill"]["end"]["seq"] == own.seq
    assert manifest["rto"]["seconds"] == 700.0
    assert result.completed, result.reasons


def test_an_end_mark_of_another_scenario_alone_leaves_the_drill_unended(
    controller, writer, tmp_path
):
    _before(controller)
    start = controller.note(200, "node loss", drill="start", scenario="node-loss")
    controller.observed(250, CM, "v1", event="ADDED")
    controller.note(300, "etcd restored", drill="end", scenario="etcd-restore")
    result = export_dr_drill(writer, tmp_path / "evidence")
    assert result.reasons == [f"the drill started at seq {start.seq} has no end mark"]
    assert json.loads(result.manifest.read_text())["rto"]["seconds"] is None


def test_an_end_mark_without_a_scenario_still_ends_a_named_drill(controller, writer, tmp_path):
    """The runbook's end mark names no scenario: it ends the drill, as before."""
    _before(controller)
    controller.note(100, "restore", drill="start", scenario="control-plane-restore")
    controller.observed(250, CM, "v1", event="ADDED")
    end = controller.note(400, "restored", drill="end")
    result = export_dr_drill(writer, tmp_path / "evidence")
    assert result.completed, result.reasons
    assert json.loads(result.manifest.read_text())["drill"]["end"]["seq"] == end.seq


def test_the_manifest_hashes_are_the_files_and_catch_a_later_edit(controller, writer, tmp_path):
    """Every file the manifest names hashes as recorded; an edit of the snapshot does not."""
    _before(controller)
    controller.note(100, "restore", drill="start")
    controller.observed(250, CM, "v1", event="ADDED")
    controller.note(400, "restored", drill="end")
    result = export_dr_drill(writer, tmp_path / "evidence")
    manifest = json.loads(result.manifest.read_text())
    directory = result.manifest.parent
    for entry in (manifest["snapshot"], manifest["report"], manifest["timeline"]):
        assert file_sha256(directory / entry["file"]) == entry["sha256"], entry["file"]
    snapshot = directory / manifest["snapshot"]["file"]
    assert snapshot.stat().st_size == manifest["snapshot"]["bytes"]
    with sqlite3.connect(snapshot) as connection:
        connection.execute("DROP TRIGGER journal_records_no_update")
        connection.execute("UPDATE journal_records SET data = '{}' WHERE seq = 1")
    assert file_sha256(snapshot) != manifest["snapshot"]["sha256"]


def _vacuumed_before_the_drill(controller: Controller, writer) -> int:
    """ConfigMaps observed, then removed by a vacuum before the drill; the tombstone's seq."""
    controller.started(0)
    controller.acquired(1, epoch=1)
    controller.observed(2, CM, "v1", event="ADDED")
    controller.observed(3, "helloworld-config-prod", "p1", event="ADDED")
    controller.note(50, "a note the vacuum keeps")
    vacuum(writer, timedelta(seconds=10), now=at(60))
    (tombstone,) = writer.last(1)
    assert tombstone.kind == kinds.JOURNAL_VACUUMED
    return tombstone.seq


def test_a_configmap_whose_observations_were_vacuumed_must_still_be_seen_again(
    controller, writer, tmp_path
):
    """The tombstone's state is the RPO's starting point: no RPO met by forgetting."""
    tombstone = _vacuumed_before_the_drill(controller, writer)
    controller.note(100, "restore", drill="start")
    seen = controller.observed(150, CM, "v1", event="ADDED")
    controller.note(200, "restored", drill="end")
    result = export_dr_drill(writer, tmp_path / "evidence")
    assert result.status == "FAILED"
    assert result.reasons == [
        "RPO: configmap/helloworld-config-prod was not observed again before the end mark"
    ]
    manifest = json.loads(result.manifest.read_text())
    rows = {row["configmap"]: row for row in manifest["rpo"]["configmaps"]}
    assert rows[CM]["result"] == "ok" and rows[CM]["after"]["seq"] == seen.seq
    assert rows[CM]["before"]["vacuumed_by"] == tombstone
    assert manifest["rpo"]["met"] is False
    report = result.report.read_text()
    assert f"vacuumed; tombstone seq {tombstone})" in report
    assert "No ConfigMap was observed before the start mark" not in report


def test_an_observation_after_the_vacuum_outranks_the_tombstone(controller, writer, tmp_path):
    _vacuumed_before_the_drill(controller, writer)
    newer = controller.observed(70, CM, "v2")
    controller.observed(75, "helloworld-config-prod", "p1")
    controller.note(100, "restore", drill="start")
    controller.observed(150, CM, "v2", event="ADDED")
    controller.observed(151, "helloworld-config-prod", "p1", event="ADDED")
    controller.note(200, "restored", drill="end")
    result = export_dr_drill(writer, tmp_path / "evidence")
    assert result.completed, result.reasons
    rows = json.loads(result.manifest.read_text())["rpo"]["configmaps"]
    before = {row["configmap"]: row["before"] for row in rows}
    assert before[CM]["seq"] == newer.seq and "vacuumed_by" not in before[CM]


def test_a_replicas_tombstone_outranks_an_older_observation_of_another_replica(
    tmp_path, open_journal
):
    """Replica B saw v2 (then vacuumed it); replica A saw only v1: the drill must bring back v2."""
    first = open_journal(tmp_path / "replica-0.db", actor="helloworld-controller-0")
    second = open_journal(tmp_path / "replica-1.db", actor="helloworld-controller-1")
    zero, one = Controller(first), Controller(second)
    zero.started(0)
    zero.acquired(1, epoch=1)
    zero.observed(5, CM, "v1", event="ADDED")
    one.started(6)
    one.observed(8, CM, "v2")
    one.note(50, "a note the vacuum keeps")
    # The tombstone is dated when the vacuum runs (now, after the marks): its rows' times count.
    vacuum(second, timedelta(seconds=1), now=at(10))
    zero.note(100, "restore", drill="start")
    zero.observed(150, CM, "v1", event="ADDED")  # the configuration came back one change behind
    zero.note(200, "restored", drill="end")
    result = export_dr_drill([first, second], tmp_path / "evidence", sources=["zero", "one"])
    assert result.status == "FAILED", "v2 was lost: the RPO is not met"
    (row,) = json.loads(result.manifest.read_text())["rpo"]["configmaps"]
    assert row["result"] == "different"
    assert (row["before"]["journal"], row["before"]["ts"]) == ("one", "2026-11-26T10:00:08.000000Z")
    assert row["before"]["vacuumed_by"] is not None


def test_a_tombstone_row_from_within_the_drill_is_no_baseline(tmp_path, open_journal):
    """A replica's vacuum removed what it saw during the drill: that is not the state before it."""
    first = open_journal(tmp_path / "replica-0.db", actor="helloworld-controller-0")
    second = open_journal(tmp_path / "replica-1.db", actor="helloworld-controller-1")
    zero, one = Controller(first), Controller(second)
    zero.started(0)
    zero.acquired(1, epoch=1)
    zero.observed(5, CM, "v1", event="ADDED")
    zero.note(100, "restore", drill="start")
    one.started(110)
    one.observed(120, CM, "transient")  # seen while the drill ran, then removed
    one.note(300, "a note the vacuum keeps")
    vacuum(second, timedelta(seconds=1), now=at(131))
    zero.observed(150, CM, "v1", event="ADDED")
    zero.note(200, "restored", drill="end")
    result = export_dr_drill([first, second], tmp_path / "evidence", sources=["zero", "one"])
    (row,) = json.loads(result.manifest.read_text())["rpo"]["configmaps"]
    assert (row["before"]["journal"], row["before"]["ts"]) == (
        "zero",
        "2026-11-26T10:00:05.000000Z",
    )
    assert result.completed, result.reasons
