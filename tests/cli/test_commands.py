"""The commands of ``shipshape-journal``, in-process: output, formats and exit codes."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from journal import Journal, kinds
from journal.schema import HEAD, REVISIONS
from tests.journal.builders import Controller, at, failover_drill

CM, DEPLOY = "helloworld-config-test", "helloworld-test"


@pytest.fixture
def journal(tmp_path):
    """A controller's journal: a leader, one clean restart, one lost change."""
    path = tmp_path / "journal.db"
    with Journal.open(path, actor="helloworld-controller-0") as writer:
        controller = Controller(writer)
        controller.started(0)
        controller.acquired(1, epoch=3)
        controller.observed(2, CM, "v1", event="ADDED")
        controller.skipped(2.1, CM, "adopted")
        controller.restart_chain(100, CM, DEPLOY, "v2")
        controller.observed(200, CM, "v3", corr="lost-change")
        writer.append(kinds.WATCH_RELISTED, ts=at(400))
    return path


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_tail_shows_the_last_ten_by_default(run, journal):
    outcome = run("tail", "--journal", journal)
    lines = outcome.out.splitlines()
    assert outcome.code == 0
    assert len(lines) == 10
    assert lines[-1].startswith("2026-11-26T10:06:40.000000Z #11 helloworld-controller-0 ")
    assert "watch.relisted" in lines[-1]


def test_tail_short_line(run, journal):
    line = run("tail", "-n", "1", "--kind", "restart.planned", "--journal", journal).out
    assert line.startswith(
        "2026-11-26T10:01:45.000000Z #7 helloworld-controller-0[3] restart.planned shipshape "
        "deployment/helloworld-test corr="
    )
    assert '{"configmap":"helloworld-config-test","data_hash":"' in line


def test_tail_json_is_the_contract_record(run, journal):
    (record,) = _json_lines(run("tail", "-n", "1", "-o", "json", "--journal", journal).out)
    assert list(record) == [
        "seq", "id", "ts", "kind", "namespace", "object", "correlation_id",
        "actor", "leader_epoch", "data", "prev_hash", "hash",
    ]  # fmt: skip
    assert record["ts"] == "2026-11-26T10:06:40.000000Z"


def test_tail_json_seq_is_rfc_7464(run, journal):
    out = run("tail", "-n", "3", "-o", "json-seq", "--journal", journal).out
    chunks = out.split("\x1e")
    assert chunks[0] == ""
    assert len(chunks) == 4
    for chunk in chunks[1:]:
        assert chunk.endswith("\n")
        json.loads(chunk)


def test_tail_json_pretty(run, journal):
    out = run("tail", "-n", "1", "-o", "json-pretty", "--journal", journal).out
    assert out.startswith('{\n  "seq": 11,')
    assert json.loads(out)["kind"] == "watch.relisted"


def test_tail_filters(run, journal):
    def seqs(*args):
        return [
            r["seq"]
            for r in _json_lines(run("tail", "-o", "json", *args, "--journal", journal).out)
        ]

    assert seqs("--kind", "restart") == [7, 8]
    assert seqs("--kind", "leader", "--kind", "controller") == [1, 2]
    assert seqs("--object", DEPLOY) == [7, 8, 9]
    assert seqs("--correlation", "lost-ch") == [10]
    assert seqs("--since", "2026-11-26T10:01:40Z", "--until", "2026-11-26T10:02:00Z") == [
        5,
        6,
        7,
        8,
    ]
    assert seqs("--after-cursor", "9") == [10, 11]
    assert seqs("--after-cursor", "9", "-n", "1") == [11]
    assert len(seqs("-n", "0")) == 0
    # A start point shows every record after it, not only the last ten.
    assert seqs("--since", "2026-11-26T10:00:00Z") == list(range(1, 12))


def test_tail_since_relative_to_now(run, tmp_path):
    path = tmp_path / "now.db"
    with Journal.open(path, actor="test") as writer:
        writer.append(
            kinds.OPERATOR_NOTE, data={"text": "old"}, ts=datetime.now(UTC) - timedelta(hours=1)
        )
        writer.append(kinds.OPERATOR_NOTE, data={"text": "fresh"})
    out = run("tail", "--since", "-10m", "-o", "json", "--journal", path).out
    assert [r["data"]["text"] for r in _json_lines(out)] == ["fresh"]


def test_tail_cursor_file_resumes_where_it_left_off(run, journal, tmp_path):
    cursor = tmp_path / "cursor"
    first = run("tail", "--cursor-file", cursor, "-o", "json", "--journal", journal)
    assert [r["seq"] for r in _json_lines(first.out)] == list(range(2, 12))
    assert cursor.read_text() == "11\n"
    with Journal.open(journal, actor="test") as writer:
        writer.append(kinds.OPERATOR_NOTE, data={"text": "new"})
    second = run("tail", "--cursor-file", cursor, "-o", "json", "--journal", journal)
    assert [r["seq"] for r in _json_lines(second.out)] == [12]
    assert cursor.read_text() == "12\n"
    assert run("tail", "--cursor-file", cursor, "--journal", journal).out == ""


def test_tail_cursor_file_with_until_keeps_what_comes_after_it(run, journal, tmp_path):
    # A job that reads up to a moment (--until) must find the later records on
    # its next run: the cursor may not jump over them to the head.
    cursor = tmp_path / "cursor"
    cursor.write_text("0\n")
    until = "2026-11-26T10:02:30Z"  # between the restart chain and the lost change
    first = run(
        "tail", "--cursor-file", cursor, "--until", until, "-o", "json", "--journal", journal
    )
    early = [r["seq"] for r in _json_lines(first.out)]
    assert early and early == list(range(1, len(early) + 1))
    assert cursor.read_text() == f"{early[-1]}\n"
    second = run("tail", "--cursor-file", cursor, "-o", "json", "--journal", journal)
    assert [r["seq"] for r in _json_lines(second.out)] == list(range(len(early) + 1, 12))
    assert cursor.read_text() == "11\n"


def test_tail_cursor_file_empty_or_unreadable(run, journal, tmp_path):
    cursor = tmp_path / "cursor"
    cursor.write_text("")  # e.g. made by `touch`: no cursor yet
    first = run("tail", "--cursor-file", cursor, "-o", "json", "--journal", journal)
    assert first.code == 0 and len(first.out.splitlines()) == 10
    assert cursor.read_text() == "11\n"
    cursor.write_bytes(b"\xff\xfe")
    garbled = run("tail", "--cursor-file", cursor, "--journal", journal)
    assert garbled.code == 2 and garbled.out == ""
    assert f"cannot read cursor file {cursor}" in garbled.err


def test_tail_merges_replicas_by_time(run, tmp_path):
    paths = [tmp_path / "zero.db", tmp_path / "one.db"]
    for index, path in enumerate(paths):
        with Journal.open(path, actor=f"helloworld-controller-{index}") as writer:
            for t in (index, index + 2):
                writer.append(kinds.WATCH_RELISTED, ts=at(t))
    out = run("tail", "-o", "json", "--journal", paths[0], "--journal", paths[1]).out
    merged = [(r["journal"], r["seq"], r["ts"][17:19]) for r in _json_lines(out)]
    assert merged == [
        (str(paths[0]), 1, "00"),
        (str(paths[1]), 1, "01"),
        (str(paths[0]), 2, "02"),
        (str(paths[1]), 2, "03"),
    ]
    short = run("tail", "-n", "1", "--journal", paths[0], "--journal", paths[1]).out
    assert f"#2 ({paths[1]}) helloworld-controller-1 watch.relisted" in short
    cursor = tmp_path / "cursor"
    run("tail", "--cursor-file", cursor, "--journal", paths[0], "--journal", paths[1])
    assert cursor.read_text() == "2,2\n"


def test_replay_text(run, journal):
    outcome = run("replay", "--journal", journal)
    assert outcome.code == 0
    ts = "2026-11-26T10:0{}.000000Z".format
    assert outcome.out.startswith(
        f"""Journal(s): {journal}
Events: 11, seq 1 ({ts("0:00")}) to seq 11 ({ts("6:40")})
Restart SLO: 35 s (DEBOUNCE_SECONDS 5 + 30); leaderless gap over 30 s

ConfigMaps:
  {CM}: hash e0d2747b9ab7, restarts 1, last change seq 10 ({ts("3:20")}), \
last restart seq 8 {DEPLOY} (2026-11-26T10:01:45.500000Z)

Restarts: 1
  seq 7 {ts("1:45")} deployment/{DEPLOY} <- configmap/{CM}: patched at seq 8, 5.500 s, \
rollout completed

Workloads: 1
  shipshape/deployment/{DEPLOY}: restarts 1 (patched 1), applied fb04dcb6970e, \
last restart seq 8 (2026-11-26T10:01:45.500000Z)

Change-to-patch latency (1 restarts): p50 5.500 s, p95 5.500 s, max 5.500 s

Leader terms:
  helloworld-controller-0 epoch 3: {ts("0:01")} (seq 2) to open

Anomalies: 1
  seq 10 change_without_restart: configmap/{CM} changed at seq 10 and nothing restarted \
its Deployments in the 200 s that followed (SLO 35 s)

"""
    )


def test_replay_and_stats_text_of_an_empty_journal(run, tmp_path):
    path = tmp_path / "empty.db"
    assert run("db", "upgrade", "--journal", path).code == 0
    assert run("replay", "--journal", path).out.startswith(
        f"""Journal(s): {path}
Events: 0 (no records in the window)
Restart SLO: 35 s (DEBOUNCE_SECONDS 5 + 30); leaderless gap over 30 s

ConfigMaps:
  (none observed)

Restarts: 0

Workloads: 0

Change-to-patch latency (0 restarts): p50 -, p95 -, max -

Leader terms:
  (none recorded)

Anomalies: 0

"""
    )
    lines = run("stats", "--journal", path).out.splitlines()
    assert lines[:4] == [
        f"Journal: {path}",
        f"Schema revision: {HEAD}",
        "Records: 0",
        "Head: " + "0" * 64,
    ]
    assert lines[4].startswith("File: ") and lines[4].endswith(" (0 free), journal mode wal")
    assert lines[5:] == ["Kinds:", "  (none)", "Actors:", "  (none)"]


def _busy(path):
    """21 restarts of web, api's two with retries, db's without an outcome, a deleted ConfigMap."""
    with Journal.open(path, actor="helloworld-controller-0") as writer:
        controller = Controller(writer)
        controller.started(0)
        controller.epoch = 1  # leading since before the journal began: the term is inferred
        for n in range(21):
            controller.restart_chain(100 + 60 * n, "web-config", "web", f"v{n}")
        for t, retries, ok in ((2000, 1, False), (2100, 2, None)):
            corr = f"api-{t}"
            controller.observed(t, "api-config", f"a{t}", corr=corr)
            controller.planned(t + 5, "api", "api-config", f"a{t}", corr)
            for retry in range(retries):
                controller.retry(t + 6 + retry, "api", "api-config", f"a{t}", corr)
            controller.patched(t + 6 + retries, "api", "api-config", f"a{t}", corr)
            if ok is not None:
                controller.rollout(t + 30, "api", corr, ok=ok)
        controller.observed(2200, "db-config", "d1", corr="db")
        controller.planned(2205, "db", "db-config", "d1", "db")
        controller.observed(2300, "old-config", "o1", event="DELETED")
        controller.released(2400)


def test_replay_text_of_a_busy_journal(run, tmp_path):
    _busy(tmp_path / "busy.db")
    out = run("replay", "--journal", tmp_path / "busy.db").out
    ts = "2026-11-26T10:{}.000000Z".format
    web = [
        f"  seq {4 + 5 * n} {ts(f'{1 + n:02}:45')} deployment/web <- configmap/web-config: "
        f"patched at seq {5 + 5 * n}, 5.500 s, rollout completed"
        for n in range(4, 21)  # the last 20 restarts are listed, newest last
    ]
    restarts = [
        "Restarts: 24",
        "  ... 4 earlier (all are in -o json)",
        *web,
        f"  seq 108 {ts('33:25')} deployment/api <- configmap/api-config: patched at seq 110, "
        "7.000 s, 1 retry, rollout timeout",
        f"  seq 113 {ts('35:05')} deployment/api <- configmap/api-config: patched at seq 116, "
        "8.000 s, 2 retries",
        f"  seq 118 {ts('36:45')} deployment/db <- configmap/db-config: none",
    ]
    assert "\n".join(restarts) in out
    for section in (
        f"""ConfigMaps:
  api-config: hash 6008f7878c41, restarts 2, last change seq 112 ({ts("35:00")}), \
last restart seq 116 api (2026-11-26T10:35:08.000000Z)
  db-config: hash 8b53639f152c, restarts 0, last change seq 117 ({ts("36:40")})
  old-config: hash deleted, restarts 0
  web-config: hash 947162f1b37e, restarts 21, last change seq 102 ({ts("21:40")}), \
last restart seq 105 web (2026-11-26T10:21:45.500000Z)
""",
        f"""Workloads: 3
  shipshape/deployment/api: restarts 2 (patched 2), 3 retries, applied 6008f7878c41, \
last restart seq 116 (2026-11-26T10:35:08.000000Z)
  shipshape/deployment/db: restarts 1 (none 1), applied ?
  shipshape/deployment/web: restarts 21 (patched 21), applied 947162f1b37e, \
last restart seq 105 (2026-11-26T10:21:45.500000Z)

Change-to-patch latency (23 restarts): p50 5.500 s, p95 7.000 s, max 8.000 s

Leader terms:
  helloworld-controller-0 epoch 1: {ts("01:45")} (seq 4) to {ts("40:00")} (seq 120, released) \
[inferred]
""",
    ):
        assert section in out


def test_replay_text_of_two_journals_names_the_journal_of_each_seq(run, tmp_path):
    zero, one = tmp_path / "pod-0.db", tmp_path / "pod-1.db"
    with (
        Journal.open(zero, actor="helloworld-controller-0") as first,
        Journal.open(one, actor="helloworld-controller-1") as second,
    ):
        standby = Controller(second)
        failover_drill(Controller(first), standby)
        standby.restart_chain(400, "helloworld-config-test", DEPLOY, "test-v2")
        standby.observed(500, "helloworld-config-prod", "prod-v2", corr="lost")
        standby.planned(790, "late", CM, "test-v2", None)  # no outcome yet
        standby.note(800, "later")
    out = run("replay", "--journal", zero, "--journal", one).out
    ts = "2026-11-26T10:{}.000000Z".format
    for line in (
        f"Events: 23, seq 1 of {zero} ({ts('00:00')}) to seq 16 of {one} ({ts('13:20')})",
        "  shipshape/deployment/late: restarts 1 (pending 1), 1 PENDING, applied ?",
        f"  helloworld-config-prod: hash 992082e0935f, restarts 0, last change seq 14 [{one}] "
        f"({ts('08:20')})",
        f"  {CM}: hash 59350faf6525, restarts 1, last change seq 9 [{one}] ({ts('06:40')}), "
        f"last restart seq 12 [{one}] {DEPLOY} (2026-11-26T10:06:45.500000Z)",
        f"  seq 11 [{one}] {ts('06:45')} deployment/{DEPLOY} <- configmap/{CM}: patched at "
        f"seq 12 [{one}], 5.500 s, rollout completed",
        f"  helloworld-controller-0 epoch 1: {ts('00:01')} (seq 2 [{zero}]) to {ts('02:40')} "
        f"(seq 5 [{one}], superseded)",
        f"  seq 14 [{one}] change_without_restart: configmap/helloworld-config-prod changed at "
        "seq 14 and nothing restarted its Deployments in the 300 s that followed (SLO 35 s)",
    ):
        assert f"\n{line}\n" in out
    assert (
        "\nClocks (median of the watch events both replicas journaled):\n"
        "  (no watch event journaled by two replicas)\n"
    ) in out


def test_replay_text_of_two_journals_says_how_far_apart_their_clocks_are(run, tmp_path):
    zero, one = tmp_path / "pod-0.db", tmp_path / "pod-1.db"
    with (
        Journal.open(zero, actor="helloworld-controller-0") as first,
        Journal.open(one, actor="helloworld-controller-1") as second,
    ):
        leader, standby = Controller(first), Controller(second)

        def shared_watch_events() -> None:  # the standby's clock runs 3 s ahead
            for n in range(5):
                leader.observed(10 + n, "other", f"v{n}", rv=str(700 + n), source="watch")
                standby.observed(13 + n, "other", f"v{n}", rv=str(700 + n), source="watch")

        failover_drill(leader, standby, before=shared_watch_events)
    outcome = run("replay", "--strict", "--journal", zero, "--journal", one)
    assert outcome.code == 1, "a clock skew is an anomaly"
    assert (
        f"\n  helloworld-controller-1 ({one}): +3.000 s from helloworld-controller-0 ({zero}) "
        "(5 events, nearest +3.000 s, largest +3.000 s)\n"
    ) in outcome.out
    assert f"] clock_skew: helloworld-controller-1 ({one})'s records" in outcome.out


def test_replay_json_and_strict(run, journal):
    outcome = run("replay", "-o", "json", "--journal", journal)
    document = json.loads(outcome.out)
    assert outcome.code == 0
    assert document["events"] == 11
    assert document["configmaps"][CM]["restarts"] == 1
    assert document["restart_latency_seconds"]["p50"] == pytest.approx(5.5)
    assert [(a["type"], a["seq"]) for a in document["anomalies"]] == [
        ("change_without_restart", 10)
    ]
    assert run("replay", "--strict", "--journal", journal).code == 1
    window = run("replay", "--strict", "--until", "2026-11-26T10:03:00Z", "--journal", journal)
    assert window.code == 0


def test_replay_check_with_a_model(run, journal):
    model = "tests.journal.decision_models:every_change_restarts"
    outcome = run("replay", "--check", "--check-model", model, "-o", "json", "--journal", journal)
    assert outcome.code == 1
    check = json.loads(outcome.out)["check"]
    assert check["model"] == model
    assert [d["seq"] for d in check["differences"]] == [10]
    text = run("replay", "--check", "--check-model", model, "--journal", journal).out
    assert (
        "\n\nCheck against tests.journal.decision_models:every_change_restarts: "
        "1 difference(s) in 11 records\n  seq 10: "
    ) in text
    window = ("--since", "2026-11-26T10:01:00Z", "--until", "2026-11-26T10:03:00Z")
    clean = run("replay", "--check", "--check-model", model, *window, "--journal", journal)
    assert clean.code == 0


def test_verify_ok_and_failed(run, journal, tmp_path):
    ok = run("verify", "--journal", journal)
    assert ok.code == 0
    assert ok.out.startswith("OK: 11 records, head ")
    with sqlite3.connect(journal) as connection:
        connection.execute("DELETE FROM journal_records WHERE seq = 5")
    failed = run("verify", "--journal", journal)
    assert failed.code == 1
    assert failed.out.startswith("FAILED: seq 5: record(s) 5 missing")
    good = tmp_path / "good.db"
    assert run("db", "upgrade", "--journal", good).code == 0
    both = run("verify", "--journal", journal, "--journal", good)
    assert both.code == 1, "one bad journal of several fails the run"
    assert both.out.startswith(f"{journal}: FAILED: seq 5")
    assert f"{good}: OK: 0 records" in both.out


def test_note_and_drill_marks(run, journal):
    outcome = run("note", "failover drill", "--drill", "start", "--scenario", "node-loss",
                  "--journal", journal)  # fmt: skip
    assert outcome.code == 0
    assert "#12 cli:" in outcome.out and "operator.note" in outcome.out
    with Journal.open(journal, readonly=True) as reader:
        (note,) = reader.last(1)
    assert note.actor.startswith("cli:")
    assert note.data == {"text": "failover drill", "drill": "start", "scenario": "node-loss"}


def test_export_dr_drill(run, journal, tmp_path):
    run("note", "drill", "--drill", "start", "--journal", journal)
    run("note", "done", "--drill", "end", "--journal", journal)
    outcome = run("export", "dr-drill", "--out", tmp_path / "evidence", "--date", "20260209",
                  "--journal", journal)  # fmt: skip
    # No ConfigMap was observed again between the marks: configuration not proven.
    assert outcome.code == 1
    assert outcome.out.startswith("Status: FAILED\n")
    assert (tmp_path / "evidence" / "dr-drill-20260209.md").exists()


def test_db_upgrade_and_current(run, tmp_path):
    path = tmp_path / "new.db"
    upgrade = run("db", "upgrade", "--journal", f"sqlite:///{path}")
    assert upgrade.code == 0
    assert upgrade.out == f"{HEAD} (head): {path}\n"
    assert run("db", "upgrade", "--journal", path).code == 0  # again: nothing to do
    assert run("db", "current", "--journal", path).out == f"{HEAD} (head)\n"


def test_db_current_on_an_older_revision_says_it_is_behind(run, journal):
    # The journal an upgraded program finds: `tail -f` refuses it until
    # `db upgrade` (other readers read an upgraded copy, test_older_journals),
    # and `db current` is how an operator sees where it stands.
    older = REVISIONS[-2]
    migrated = subprocess.run(
        [str(Path(sys.executable).parent / "alembic"), "-x", f"journal={journal}",
         "downgrade", older],
        cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, check=False,
        timeout=120,
    )  # fmt: skip
    assert migrated.returncode == 0, migrated.stderr
    assert run("tail", "-f", "--journal", journal).code == 2
    current = run("db", "current", "--journal", journal)
    assert (current.code, current.err) == (0, "")
    assert current.out == f"{older} (head is {HEAD}; run `shipshape-journal db upgrade`)\n"
    assert run("db", "upgrade", "--journal", journal).out == f"{HEAD} (head): {journal}\n"
    assert run("db", "current", "--journal", journal).out == f"{HEAD} (head)\n"
    assert run("verify", "--journal", journal).out.startswith("OK: 11 records")


def test_stats(run, journal):
    facts = json.loads(run("stats", "-o", "json", "--journal", journal).out)
    assert facts["records"] == 11
    assert facts["kinds"]["restart.patched"] == 1
    text = run("stats", "--journal", journal).out
    assert (
        "Records: 11 (seq 1..11, 2026-11-26T10:00:00.000000Z to 2026-11-26T10:06:40.000000Z)\n"
        in text
    )
    assert "\nKinds:\n  configmap.observed: 3\n  controller.started: 1\n" in text
    assert text.endswith("\nActors:\n  helloworld-controller-0: 11\n")
    assert "Last vacuum" not in text


def test_backup_and_vacuum(run, journal, tmp_path):
    backup = run("backup", "--journal", journal, "--out", tmp_path / "backup.db")
    assert backup.code == 0
    assert backup.out.splitlines()[1].startswith("verify: OK: 11 records")
    assert run("verify", "--journal", tmp_path / "backup.db").out.startswith("OK: 11 records")
    aged = tmp_path / "aged.db"
    now = datetime.now(UTC)
    with Journal.open(aged, actor="test") as writer:
        for days in (40, 35, 1, 0):
            writer.append(kinds.WATCH_RELISTED, ts=now - timedelta(days=days))
    vacuum = run("vacuum", "--older-than", "30d", "--journal", aged)
    assert vacuum.code == 0
    assert vacuum.out.startswith("removed 2 records (seq 1..2) older than ")
    assert run("verify", "--journal", aged).out.startswith("OK: 3 records")
    stats_text = run("stats", "--journal", aged).out
    assert "\nLast vacuum: seq 5 removed 2 records through seq 2\n" in stats_text


def test_a_backup_that_fails_verification_exits_1_and_keeps_the_copy(run, journal, tmp_path):
    # The copy is faithful: a journal whose chain was broken behind its back
    # gives a copy that fails verification, and the backup must not say "ok".
    with sqlite3.connect(journal) as connection:
        connection.execute("DELETE FROM journal_records WHERE seq = 5")
    target = tmp_path / "backup.db"
    backup = run("backup", "--journal", journal, "--out", target)
    assert backup.code == 1
    written, checked = backup.out.splitlines()
    assert written.startswith(f"backup: {target} (")
    assert checked.startswith("verify: FAILED: seq 5: record(s) 5 missing")
    assert target.exists(), "the copy is kept as evidence"


def test_journal_url_and_the_default_location(run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JOURNAL_URL", raising=False)
    assert run("db", "upgrade").code == 0
    assert (tmp_path / "shipshape-journal.db").exists()
    other = tmp_path / "other.db"
    monkeypatch.setenv("JOURNAL_URL", f"sqlite:///{other}")
    assert run("note", "hello").code == 2  # JOURNAL_URL wins, and it does not exist
    run("db", "upgrade")
    assert run("note", "hello").code == 0
    assert "hello" in run("tail", "--journal", other).out


def test_version(run):
    outcome = run("--version")
    assert outcome.code == 0
    assert outcome.out.startswith("shipshape-journal, version ")


def test_vacuum_refuses_a_broken_range_and_removes_nothing(run, tmp_path):
    # Deleting a record behind the journal's back must not be laundered by a
    # tombstone: vacuum refuses (exit 1, as verify FAILED) and verify still fails.
    aged = tmp_path / "broken.db"
    now = datetime.now(UTC)
    with Journal.open(aged, actor="test") as writer:
        for days in (40, 39, 38, 37, 1, 0):
            writer.append(kinds.WATCH_RELISTED, ts=now - timedelta(days=days))
    with sqlite3.connect(aged) as connection:
        connection.execute("DELETE FROM journal_records WHERE seq = 2")
    assert run("verify", "--journal", aged).code == 1
    vacuum = run("vacuum", "--older-than", "30d", "--journal", aged)
    assert vacuum.code == 1
    assert vacuum.out == ""
    assert vacuum.err.startswith("Error: vacuum refuses ")
    assert "(seq 1..4) do not verify: seq 2: record(s) 2 missing" in vacuum.err
    assert vacuum.err.endswith("nothing was removed\n")
    assert "Traceback" not in vacuum.err
    assert run("verify", "--journal", aged).out.startswith("FAILED: seq 2: ")
    assert "journal.vacuumed" not in run("tail", "--journal", aged).out
