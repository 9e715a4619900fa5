"""DR-drill evidence: report, snapshot and manifest, judged from the snapshot."""

from __future__ import annotations

import json

import pytest

from journal import (
    Filters,
    Journal,
    JournalValueError,
    NoDrillError,
    Record,
    export_dr_drill,
    kinds,
    verify,
)
from journal.drill import parse_date
from journal.ship import ship
from journal.snapshot import file_sha256
from tests.journal.builders import Controller, at, data_hash, failover_drill
from tests.journal.signing_helpers import execute

TEST_CM, PROD_CM = "helloworld-config-test", "helloworld-config-prod"


def _before_the_drill(controller: Controller) -> None:
    controller.started(0)
    controller.acquired(1, epoch=1)
    controller.observed(2, TEST_CM, "test-v1", event="ADDED")
    controller.observed(3, PROD_CM, "prod-v1", event="ADDED")
    controller.skipped(3.1, TEST_CM, "adopted")
    controller.skipped(3.2, PROD_CM, "adopted")


def test_a_completed_drill(controller, writer, tmp_path):
    _before_the_drill(controller)
    start = controller.note(100, "etcd restore drill", drill="start", scenario="etcd-restore")
    controller.started(400)  # the controller comes back on the rebuilt cluster
    controller.acquired(401, epoch=2)
    controller.observed(402, TEST_CM, "test-v1", event="ADDED")
    controller.observed(403, PROD_CM, "prod-v1", event="ADDED")
    end = controller.note(700, "service restored", drill="end")
    controller.note(800, "after the drill")

    result = export_dr_drill(writer, tmp_path / "evidence")
    assert result.completed
    assert result.reasons == []
    assert result.report.name == "dr-drill-20261126.md"
    report = result.report.read_text()
    assert "Status: COMPLETED" in report.splitlines()
    assert "10m00s" in report  # RTO: 700 s - 100 s
    assert f"| {PROD_CM} | {data_hash('prod-v1')[:16]} (seq 4)" in report
    assert "etcd restore drill" in report and "after the drill" not in report

    manifest = json.loads(result.manifest.read_text())
    assert manifest["status"] == "COMPLETED"
    assert manifest["drill"]["start"]["seq"] == start.seq
    assert manifest["drill"]["end"]["seq"] == end.seq
    assert manifest["drill"]["scenario"] == "etcd-restore"
    assert manifest["rto"] == {"seconds": 600.0, "target_seconds": 900, "met": True}
    assert [row["result"] for row in manifest["rpo"]["configmaps"]] == ["ok", "ok"]
    assert manifest["journal"]["seq_range"] == [1, 13]
    assert manifest["journal"]["head_hash"] == writer.head()[1]
    assert manifest["journal"]["schema_revision"] == writer.revision
    assert manifest["verify"]["ok"] is True
    assert manifest["snapshot"]["sha256"] == file_sha256(result.snapshot.path)
    assert manifest["report"]["sha256"] == file_sha256(result.report)
    assert sorted(p.name for p in (tmp_path / "evidence").iterdir()) == [
        "dr-drill-20261126.journal.db",
        "dr-drill-20261126.manifest.json",
        "dr-drill-20261126.md",
        "dr-drill-20261126.timeline.html",
    ]


def test_a_failed_drill_lists_every_reason(controller, writer, tmp_path):
    _before_the_drill(controller)
    controller.note(100, "drill", drill="start")
    controller.observed(1200, TEST_CM, "test-v0", event="ADDED")  # an old value came back
    end = controller.note(1300, "done", drill="end")
    result = export_dr_drill(writer, tmp_path, date="20260209")
    assert not result.completed
    assert result.report.name == "dr-drill-20260209.md"
    assert result.reasons == [
        "RTO 20m00s exceeds the 15m00s target",
        f"RPO: configmap/{PROD_CM} was not observed again before the end mark",
        f"RPO: configmap/{TEST_CM} came back with data hash "
        f"{data_hash('test-v0')[:16]}, not {data_hash('test-v1')[:16]}",
    ]
    report = result.report.read_text()
    assert "Status: FAILED" in report
    assert all(reason in report for reason in result.reasons)
    manifest = json.loads(result.manifest.read_text())
    assert manifest["drill"]["end"]["seq"] == end.seq
    assert {row["configmap"]: row["result"] for row in manifest["rpo"]["configmaps"]} == {
        PROD_CM: "missing",
        TEST_CM: "different",
    }


def _secret_observed(controller: Controller, t: float, name: str, value: str) -> None:
    controller.journal.append(
        kinds.CONFIGMAP_OBSERVED,
        namespace=controller.namespace,
        ts=at(t),
        object=f"secret/{name}",
        data={"event_type": "ADDED", "data_hash": f"hmac-sha256:{data_hash(value)}"},
    )


def test_a_secret_and_a_configmap_of_one_name_are_judged_apart(controller, writer, tmp_path):
    # With WATCH_SECRETS a Secret's observations are configmap.observed records
    # too: the Secret named like a ConfigMap is another object, not its value.
    _before_the_drill(controller)
    _secret_observed(controller, 3.5, TEST_CM, "secret-v1")
    controller.note(100, "drill", drill="start")
    _secret_observed(controller, 402, TEST_CM, "secret-v1")
    controller.observed(403, TEST_CM, "test-v1", event="ADDED")
    controller.note(700, "service restored", drill="end")

    result = export_dr_drill(writer, tmp_path)
    assert result.reasons == [
        f"RPO: configmap/{PROD_CM} was not observed again before the end mark"
    ]
    manifest = json.loads(result.manifest.read_text())
    assert {row["configmap"]: row["result"] for row in manifest["rpo"]["configmaps"]} == {
        PROD_CM: "missing",
        TEST_CM: "ok",
        f"secret/{TEST_CM}": "ok",
    }


def test_a_configmap_deleted_in_the_drill_is_reported_deleted(controller, writer, tmp_path):
    _before_the_drill(controller)
    controller.note(100, "drill", drill="start")
    controller.observed(402, TEST_CM, "test-v1", event="ADDED")
    deleted = controller.observed(403, PROD_CM, "prod-v1", event="DELETED")
    controller.note(700, "service restored", drill="end")
    result = export_dr_drill(writer, tmp_path)
    assert result.reasons == [
        f"RPO: configmap/{PROD_CM} was deleted by the end mark (seq {deleted.seq}), "
        f"not seen again with data hash {data_hash('prod-v1')[:16]}"
    ]
    assert "data hash None" not in result.report.read_text()


def test_one_name_in_two_namespaces_is_told_apart(writer, tmp_path):
    # WATCH_NAMESPACES: app-config lives in ns-a and ns-b. The evidence must
    # say which one was lost, or the operator checks the one that is fine.
    ns_a, ns_b = Controller(writer, namespace="ns-a"), Controller(writer, namespace="ns-b")
    ns_a.started(0)
    ns_a.observed(2, "app-config", "a1", event="ADDED")
    ns_b.observed(3, "app-config", "b1", event="ADDED")
    ns_a.note(100, "drill", drill="start")
    ns_a.observed(200, "app-config", "a1", event="ADDED")
    ns_a.note(300, "end", drill="end")
    result = export_dr_drill(writer, tmp_path)
    assert result.reasons == [
        "RPO: configmap/app-config (namespace ns-b) was not observed again before the end mark"
    ]
    rows = [line for line in result.report.read_text().splitlines() if line.startswith("| app")]
    assert [row.split(" | ")[0] for row in rows] == ["| app-config (ns-a)", "| app-config (ns-b)"]


def test_a_drill_without_an_end_mark_fails(controller, writer, tmp_path):
    _before_the_drill(controller)
    controller.note(100, "drill", drill="start")
    result = export_dr_drill(writer, tmp_path)
    assert not result.completed
    assert "has no end mark" in result.reasons[0]


def _recovered_drill(controller: Controller) -> Record:
    """A drill that meets its targets: start at 100 s, everything seen again; the end mark."""
    _before_the_drill(controller)
    controller.note(100, "etcd restore drill", drill="start")
    controller.observed(402, TEST_CM, "test-v1", event="ADDED")
    controller.observed(403, PROD_CM, "prod-v1", event="ADDED")
    return controller.note(700, "service restored", drill="end")


def test_a_drill_on_a_tampered_journal_fails_and_says_why(
    controller, writer, journal_path, tmp_path
):
    _recovered_drill(controller)
    after = controller.note(800, "after the drill")
    execute(
        journal_path,
        "UPDATE journal_records SET data = ? WHERE seq = ?",
        '{"text":"edited"}',
        after.seq,
    )
    result = export_dr_drill(writer, tmp_path)
    reason = (
        f"journal verification failed: FAILED: seq {after.seq}: "
        "hash does not match the record's contents (record edited)"
    )
    assert result.status == "FAILED" and result.reasons == [reason]
    report = result.report.read_text()
    assert "Status: FAILED" in report.splitlines() and reason in report
    manifest = json.loads(result.manifest.read_text())
    assert (manifest["status"], manifest["verify"]["ok"]) == ("FAILED", False)
    assert manifest["rto"]["met"] and manifest["rpo"]["met"], "only the verification failed"


def test_a_second_end_mark_does_not_move_the_drills_end(controller, writer, tmp_path):
    end = _recovered_drill(controller)
    controller.note(1300, "restored, noted twice", drill="end")
    result = export_dr_drill(writer, tmp_path)
    assert result.completed, result.reasons
    manifest = json.loads(result.manifest.read_text())
    assert (manifest["drill"]["end"]["seq"], manifest["rto"]["seconds"]) == (end.seq, 600.0)
    report = result.report.read_text()
    assert "restored, noted twice" not in report
    # The timeline runs from the start mark to the (first) end mark, both included.
    timeline = report.split("```text\n", 1)[1].split("\n```", 1)[0].splitlines()
    assert "etcd restore drill" in timeline[0]
    assert f"#{end.seq} " in timeline[-1] and "service restored" in timeline[-1]


def test_the_latest_drill_is_exported(controller, writer, tmp_path):
    controller.note(0, "first", drill="start")
    controller.note(60, "first done", drill="end")
    latest = controller.note(86400 * 3, "second", drill="start")
    controller.note(86400 * 3 + 60, "second done", drill="end")
    result = export_dr_drill(writer, tmp_path)
    manifest = json.loads(result.manifest.read_text())
    assert manifest["drill"]["start"]["seq"] == latest.seq
    assert manifest["date"] == "20261129"


def test_no_drill_is_an_error_and_leaves_nothing(writer, controller, tmp_path):
    controller.note(0, "just a note")
    with pytest.raises(NoDrillError, match="no DR drill is marked") as caught:
        export_dr_drill(writer, tmp_path / "out")
    assert f"in journal {writer.location.display} " in str(caught.value)
    assert not (tmp_path / "out").exists(), "not even an empty directory"


def test_existing_evidence_is_never_overwritten(controller, writer, tmp_path):
    controller.note(0, "drill", drill="start")
    controller.note(60, "done", drill="end")
    out = tmp_path / "evidence"
    first = export_dr_drill(writer, out)
    before = first.report.read_bytes()
    with pytest.raises(JournalValueError, match="already exists"):
        export_dr_drill(writer, out)
    assert first.report.read_bytes() == before
    assert len(list(out.iterdir())) == 4


@pytest.mark.parametrize("text", ["2026-02-09", "202602", "20260230", "2026020x"])
def test_bad_dates_are_refused(text):
    with pytest.raises(JournalValueError, match="invalid --date"):
        parse_date(text)


def test_a_drill_over_every_replicas_journal_includes_the_takeover(tmp_path, open_journal):
    zero = Controller(open_journal(tmp_path / "pod-0.db", actor="helloworld-controller-0"))
    one = Controller(open_journal(tmp_path / "pod-1.db", actor="helloworld-controller-1"))
    start, takeover, end = failover_drill(zero, one)
    out = tmp_path / "evidence"
    result = export_dr_drill(
        [zero.journal, one.journal], out, sources=["pods/pod-0.db", "pods/pod-1.db"]
    )
    assert result.completed, result.reasons
    assert sorted(p.name for p in out.iterdir()) == [
        "dr-drill-20261126.journal-1.db",
        "dr-drill-20261126.journal-2.db",
        "dr-drill-20261126.manifest.json",
        "dr-drill-20261126.md",
        "dr-drill-20261126.timeline.html",
    ]
    manifest = json.loads(result.manifest.read_text())
    assert (manifest["drill"]["start"]["seq"], manifest["drill"]["start"]["journal"]) == (
        start.seq,
        "pods/pod-0.db",
    )
    assert (manifest["drill"]["end"]["seq"], manifest["drill"]["end"]["journal"]) == (
        end.seq,
        "pods/pod-1.db",
    )
    assert manifest["rto"]["seconds"] == 200.0
    assert manifest["takeovers"] == [
        {
            "actor": "helloworld-controller-1",
            "epoch": 2,
            "ts": "2026-11-26T10:02:40.000000Z",
            "seq": takeover.seq,
            "journal": "pods/pod-1.db",
            "seconds_after_start": 60.0,
        }
    ]
    # The standby saw the configuration again: RPO proven from its journal.
    assert [(r["result"], r["after"]["journal"]) for r in manifest["rpo"]["configmaps"]] == [
        ("ok", "pods/pod-1.db"),
        ("ok", "pods/pod-1.db"),
    ]
    # One snapshot per journal, named relative to the evidence directory.
    assert [j["source"] for j in manifest["journals"]] == ["pods/pod-0.db", "pods/pod-1.db"]
    for journal, snap, live in zip(
        manifest["journals"], result.snapshots, (zero.journal, one.journal), strict=True
    ):
        assert journal["snapshot"]["file"] == snap.path.name
        assert journal["snapshot"]["sha256"] == file_sha256(snap.path)
        assert journal["head_hash"] == live.head()[1]
        assert journal["verify"]["ok"] is True
    assert "journal" not in manifest and "snapshot" not in manifest
    assert manifest["clock_offsets"] == [], "no watch event both journaled: nothing to compare"
    report = result.report.read_text()
    assert "- Takeover: helloworld-controller-1 took the lead (epoch 2)" in report
    assert f"#{takeover.seq} (pods/pod-1.db) helloworld-controller-1[2] leader.acquired" in report
    assert f"Start mark: seq {start.seq} [pods/pod-0.db]" in report
    for text in (report, result.manifest.read_text()):
        assert ".dr-drill-" not in text and str(tmp_path) not in text


def test_replicas_whose_clocks_disagree_fail_the_drill(tmp_path, open_journal):
    """Marks and observations of different journals are placed by their clocks:
    the evidence says how well they agree, and a skew fails the drill."""
    zero = Controller(open_journal(tmp_path / "pod-0.db", actor="helloworld-controller-0"))
    one = Controller(open_journal(tmp_path / "pod-1.db", actor="helloworld-controller-1"))

    def shared_watch_events() -> None:  # replica 1's clock runs 5 s ahead
        for n in range(5):
            rv, value = str(500 + n), f"other-v{n}"
            zero.observed(10 + n, "other-config", value, rv=rv, source="watch")
            one.observed(15 + n, "other-config", value, rv=rv, source="watch")

    failover_drill(zero, one, before=shared_watch_events)
    result = export_dr_drill(
        [zero.journal, one.journal], tmp_path / "out", sources=["pod-0.db", "pod-1.db"]
    )
    assert not result.completed
    [reason] = [reason for reason in result.reasons if reason.startswith("clocks: ")]
    assert reason.startswith("clocks: helloworld-controller-1 (pod-1.db)'s records of the 5 watch")
    assert "+5.000 s or more from helloworld-controller-0 (pod-0.db)'s" in reason
    manifest = json.loads(result.manifest.read_text())
    assert manifest["clock_offsets"] == [
        {
            "writer": "helloworld-controller-1 (pod-1.db)",
            "relative_to": "helloworld-controller-0 (pod-0.db)",
            "samples": 5,
            "median_seconds": 5.0,
            "nearest_seconds": 5.0,
            "max_seconds": 5.0,
        }
    ]
    assert f"- {reason}" in result.report.read_text()


def test_the_drill_marks_are_found_in_any_replicas_journal(tmp_path, open_journal):
    zero = Controller(open_journal(tmp_path / "pod-0.db", actor="helloworld-controller-0"))
    one = Controller(open_journal(tmp_path / "pod-1.db", actor="helloworld-controller-1"))
    failover_drill(zero, one)
    # Replica 0's journal alone has no end mark: the drill is not proven.
    alone = export_dr_drill(zero.journal, tmp_path / "alone", sources=["pod-0.db"])
    assert not alone.completed
    assert "has no end mark" in alone.reasons[0]


def test_no_drill_in_several_journals_names_them_as_given(tmp_path, open_journal):
    zero = Controller(open_journal(tmp_path / "pod-0.db", actor="helloworld-controller-0"))
    one = Controller(open_journal(tmp_path / "pod-1.db", actor="helloworld-controller-1"))
    zero.note(0, "x")
    with pytest.raises(NoDrillError, match=r"in journals a\.db, b\.db \(mark one"):
        export_dr_drill([zero.journal, one.journal], tmp_path / "out", sources=["a.db", "b.db"])
    assert not (tmp_path / "out").exists()  # no empty --out left behind (issue 13)


def test_a_clusters_evidence_leaves_out_what_is_shipped_while_it_is_copied(tmp_path, open_journal):
    replica = Controller(open_journal(tmp_path / "replica.db", actor="helloworld-controller-0"))
    _recovered_drill(replica)
    central = open_journal(tmp_path / "central.db", actor="central")
    shipper = open_journal(tmp_path / "central.db", actor="central")
    ship(replica.journal, central, cluster="prod-eu")
    drilled = central.head()[0]

    # A busy `ship -f`: before every read of the export, one more record arrives.
    read = central.transaction
    arrivals = iter(range(5))

    def busy(*args, **kwargs):
        if next(arrivals, None) is not None:
            replica.note(800, "after the drill")
            ship(replica.journal, shipper, cluster="prod-eu")
        return read(*args, **kwargs)

    central.transaction = busy
    result = export_dr_drill(central, tmp_path / "out", scope=Filters(cluster="prod-eu"))
    assert result.completed, result.reasons
    with Journal.open(result.snapshot.path, readonly=True) as copy:
        assert verify(copy).ok
        held = copy.head()[0]
    # The evidence is the stream as of one moment: it stops short of the records
    # shipped while the export copied, however many kept arriving.
    assert drilled <= held < central.head()[0]


def test_a_drill_of_replicas_shipped_one_after_the_other_is_judged_by_time(tmp_path, open_journal):
    """The standby's journal shipped first: its recovery is after the start mark all the same."""
    paths = [tmp_path / "replica-0.db", tmp_path / "replica-1.db"]
    first, second = (open_journal(path, actor=path.stem) for path in paths)
    leader, standby = Controller(first), Controller(second)
    leader.started(0)
    standby.started(0.5)
    leader.acquired(1, 0)
    leader.observed(2, "web-config", "v1", event="ADDED")
    standby.observed(2.1, "web-config", "v1", event="ADDED")
    first.append(kinds.OPERATOR_NOTE, ts=at(10), data={"text": "go", "drill": "start"})
    standby.acquired(60, 1)
    standby.observed(61, "web-config", "v1", event="ADDED")  # seen again, unchanged
    first.append(kinds.OPERATOR_NOTE, ts=at(70), data={"text": "done", "drill": "end"})
    central = open_journal(tmp_path / "central.db", actor="central")
    for journal in (second, first):
        ship(journal, central, cluster="prod-eu")
    result = export_dr_drill(central, tmp_path / "out", scope=Filters(cluster="prod-eu"))
    assert result.completed, result.reasons
    report = result.report.read_text(encoding="utf-8")
    timeline = report.split("## Timeline", 1)[1]
    assert timeline.index('"drill":"start"') < timeline.index("leader.acquired")


def test_a_central_drill_names_the_checkpoint_of_the_stream_that_signs_it(tmp_path, open_journal):
    from journal.checkpoints import CheckpointWriter
    from journal.signing import load_signing_key
    from tests.journal.signing_helpers import write_key_pair

    private, _public = write_key_pair(tmp_path)
    signer = load_signing_key(private)
    source = tmp_path / "replica-0.db"
    with CheckpointWriter(Journal.open(source, actor="replica-0"), signer) as writer:
        writer.append(kinds.OPERATOR_NOTE, data={"text": "go", "drill": "start"})
        writer.append(kinds.OPERATOR_NOTE, data={"text": "done", "drill": "end"})
    central = open_journal(tmp_path / "central.db", actor="central")
    central.append(kinds.OPERATOR_NOTE, data={"text": "the central's own, unsigned"})
    with Journal.open(source, readonly=True) as reader:
        stream = ship(reader, central, cluster="prod-eu").stream
    result = export_dr_drill(
        central, tmp_path / "out", scope=Filters(cluster="prod-eu"), signer=signer
    )
    signing = json.loads(result.manifest.read_text(encoding="utf-8"))["signing"]
    # The end mark is the stream's seq 2; the stream's checkpoint (its seq 3) covers it.
    assert signing["covering_checkpoint"] is not None
    assert signing["covering_checkpoint"]["covers_seq"] == 2
    assert (signing["stream"], signing["through_seq"]) == (stream, 2)
    assert f"through seq 2 of stream {stream}) is covered" in result.report.read_text("utf-8")
