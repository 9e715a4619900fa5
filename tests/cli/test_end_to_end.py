"""The installed console script as a real process: following, signals, errors."""

from __future__ import annotations

import json
import signal
import sqlite3
import statistics
import time
from datetime import UTC, datetime, timedelta

import pytest

from journal import Entry, Journal, kinds, vacuum, verify
from tests.cli.helpers import one_error_line
from tests.journal.builders import Controller, failover_drill
from tests.journal.helpers import read_lines, rest_of_output


def _follower(spawn, executable, path, *args):
    return spawn(executable, "tail", "-f", "-o", "json", "--journal", str(path), *args)


def test_console_script_round_trip_and_one_line_errors(run_process, tmp_path):
    env_journal = {"JOURNAL_URL": f"sqlite:///{tmp_path / 'ops.db'}", "PATH": "/usr/bin:/bin"}
    assert run_process("db", "upgrade", env=env_journal).returncode == 0
    noted = run_process("note", "investigating INC-42", env=env_journal)
    assert noted.returncode == 0, noted.stderr
    tail = run_process("tail", "-o", "json", env=env_journal)
    assert json.loads(tail.stdout)["data"] == {"text": "investigating INC-42"}
    assert run_process("verify", env=env_journal).stdout.startswith("OK: 1 records, head ")
    missing = run_process("tail", "--journal", tmp_path / "missing.db")
    assert missing.returncode == 2
    assert missing.stdout == ""
    assert one_error_line(missing).startswith("Error: no journal at ")


def test_a_follower_sees_10000_appends_exactly_once_in_order(
    spawn, executable, start_writer, tmp_path
):
    path = tmp_path / "busy.db"
    Journal.open(path, actor="setup").close()
    cursor = tmp_path / "cursor"
    follower = _follower(spawn, executable, path, "--after-cursor", "0")
    writer = start_writer(path, 10_000)
    lines = read_lines(follower, 10_000, timeout=120)
    assert [json.loads(line)["seq"] for line in lines] == list(range(1, 10_001))
    assert writer.wait(timeout=60) == 0

    # Nothing more arrives, and the idle follower pins no WAL snapshot.
    checkpointer = sqlite3.connect(path, isolation_level=None)
    try:
        busy, _log, _done = checkpointer.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        checkpointer.close()
    assert busy == 0

    follower.send_signal(signal.SIGINT)  # Ctrl-C
    assert follower.wait(timeout=10) == 0
    assert rest_of_output(follower) == ""
    assert follower.stderr.read() == ""
    assert not cursor.exists()  # no --cursor-file given


def test_tail_f_prints_a_commit_from_another_process_promptly(spawn, executable, tmp_path):
    path = tmp_path / "live.db"
    cursor = tmp_path / "cursor"
    with Journal.open(path, actor="helloworld-controller-0") as writer:
        follower = _follower(spawn, executable, path, "--cursor-file", str(cursor))
        # Warm up: once this record is printed the follower is polling.
        writer.append(kinds.OPERATOR_NOTE, data={"n": "warm-up"})
        read_lines(follower, 1, timeout=30)
        delays = []
        for n in range(8):
            writer.append(kinds.OPERATOR_NOTE, data={"n": n})
            committed = time.monotonic()
            (line,) = read_lines(follower, 1, timeout=10)
            delays.append(time.monotonic() - committed)
            assert json.loads(line)["data"] == {"n": n}
        follower.send_signal(signal.SIGTERM)
        assert follower.wait(timeout=10) == 0
    # The contract: within 0.5 s of the commit (generous bounds on a loaded CI box).
    assert statistics.median(delays) < 0.5, delays
    assert max(delays) < 2.0, delays
    assert cursor.read_text() == "9\n"
    assert follower.stderr.read() == ""


def test_backup_while_a_writer_appends(run_process, start_writer, tmp_path):
    path = tmp_path / "busy.db"
    Journal.open(path, actor="setup").close()
    writer = start_writer(path, 0)
    read_lines(writer, 100)
    outcome = run_process("backup", "--journal", path, "--out", tmp_path / "hot.db")
    writer.kill()
    assert outcome.returncode == 0, outcome.stderr
    assert "verify: OK: " in outcome.stdout
    with Journal.open(tmp_path / "hot.db", readonly=True) as copy:
        result = verify(copy)
    assert result.ok and result.records >= 100


def test_tail_into_a_reader_that_stops_early_exits_quietly(spawn, executable, tmp_path):
    # `shipshape-journal tail | head -1`: the reader goes away after one line.
    # Far more than a pipe holds is written, so the tail is blocked in a write
    # when the read end closes and the write fails with EPIPE.
    path = tmp_path / "journal.db"
    with Journal.open(path, actor="test") as writer:
        writer.append_many(
            Entry(kind=kinds.OPERATOR_NOTE, data={"text": f"note {n}"}) for n in range(3000)
        )
    reader = spawn(executable, "tail", "-n", "3000", "--journal", str(path))
    first = reader.stdout.readline()
    assert " operator.note " in first and '"note 0"' in first
    reader.stdout.close()
    assert reader.wait(timeout=60) == 0
    assert reader.stderr.read() == "", "no traceback, no 'Exception ignored' at exit"


def test_records_a_reader_never_took_are_shown_again_not_skipped(
    spawn, executable, run_process, tmp_path
):
    # `tail --cursor-file c | head -1`: the lines still in the pipe, and the one
    # whose write failed, were never read, so the cursor must not pass them.
    path = tmp_path / "journal.db"
    with Journal.open(path, actor="test") as writer:
        writer.append_many(
            Entry(kind=kinds.OPERATOR_NOTE, data={"text": f"note {n}"}) for n in range(3000)
        )
    cursor = tmp_path / "cursor"
    cursor.write_text("0\n")
    reader = spawn(executable, "tail", "--cursor-file", str(cursor), "--journal", str(path))
    assert '"note 0"' in reader.stdout.readline()
    reader.stdout.close()
    assert reader.wait(timeout=60) == 0
    again = run_process("tail", "--cursor-file", cursor, "--journal", path)
    assert again.returncode == 0, again.stderr
    first = again.stdout.splitlines()[0]
    assert '"note 0"' in first or '"note 1"' in first, f"records skipped: {first}"
    assert cursor.read_text() == "3000\n"


def test_a_follower_whose_reader_went_away_exits_quietly_at_the_next_record(
    spawn, executable, tmp_path
):
    # `shipshape-journal tail -f | head -1`: the next record's flush fails with
    # EPIPE while the line is still buffered; without stdout silenced, Python
    # would try that flush again at exit and print "Exception ignored".
    path = tmp_path / "journal.db"
    _notes(path, 1)
    follower = spawn(executable, "tail", "-f", "-n", "1", "--journal", str(path))
    assert '"note 0"' in follower.stdout.readline()
    follower.stdout.close()
    _notes(path, 1)
    assert follower.wait(timeout=60) == 0
    assert follower.stderr.read() == ""


@pytest.mark.parametrize(("tampered", "verdict"), [(False, 0), (True, 1)])
def test_verify_into_a_reader_that_left_still_exits_with_its_verdict(
    spawn, executable, tmp_path, tampered, verdict
):
    # `shipshape-journal verify | grep -q OK` under pipefail: grep leaves at
    # the first match, and a sound journal must not then look broken (exit 1).
    path = tmp_path / "journal.db"
    _notes(path, 3)
    if tampered:
        connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("DROP TRIGGER journal_records_no_update")
        connection.execute(
            """UPDATE journal_records SET data = '{"text":"forged"}' WHERE seq = 2"""
        )
        connection.close()
    checker = spawn(executable, "verify", "--journal", str(path))
    checker.stdout.close()  # gone before the verdict is written: its write fails (EPIPE)
    assert checker.wait(timeout=60) == verdict
    assert checker.stderr.read() == ""


def _notes(path, count):
    with Journal.open(path, actor="test") as writer:
        for number in range(count):
            writer.append(kinds.OPERATOR_NOTE, data={"text": f"note {number}"})


def test_tail_cursor_beyond_the_head_is_an_error_not_silence(run_process, tmp_path):
    # A reader's cursor file says 24; the journal was replaced by one whose
    # head is 4. Printing nothing would hide that: one line, exit 2.
    path = tmp_path / "journal.db"
    _notes(path, 24)
    cursor = tmp_path / "cursor"
    first = run_process("tail", "--cursor-file", cursor, "--journal", path)
    assert first.returncode == 0, first.stderr
    assert cursor.read_text() == "24\n"
    path.unlink()
    _notes(path, 4)
    result = run_process("tail", "--cursor-file", cursor, "--journal", path)
    assert result.returncode == 2
    assert result.stdout == ""
    line = one_error_line(result)
    assert "cursor 24" in line and "head (seq 4)" in line and str(path) in line
    assert line.endswith("was the journal replaced?")
    assert cursor.read_text() == "24\n"  # left as it was
    after = run_process("tail", "--after-cursor", "5", "--journal", path)
    assert after.returncode == 2
    assert "cursor 5" in one_error_line(after)
    # At the head exactly: nothing new, no error.
    assert run_process("tail", "--after-cursor", "4", "--journal", path).returncode == 0


def test_tail_cursor_after_a_full_vacuum_reads_on(run_process, tmp_path):
    # After vacuum removed every record, seq still rises: the reader's cursor
    # stays valid and it sees the tombstone and what follows.
    path = tmp_path / "journal.db"
    _notes(path, 24)
    cursor = tmp_path / "cursor"
    assert run_process("tail", "--cursor-file", cursor, "--journal", path).returncode == 0
    with Journal.open(path, actor="test") as writer:
        vacuum(writer, timedelta(seconds=1), now=datetime.now(UTC) + timedelta(days=1))
        writer.append(kinds.OPERATOR_NOTE, data={"text": "after"})
    result = run_process("tail", "--cursor-file", cursor, "-o", "json", "--journal", path)
    assert result.returncode == 0, result.stderr
    shown = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["seq"], r["kind"]) for r in shown] == [
        (25, kinds.JOURNAL_VACUUMED),
        (26, kinds.OPERATOR_NOTE),
    ]
    assert cursor.read_text() == "26\n"
    check = run_process("verify", "--journal", path)
    assert check.returncode == 0, check.stdout + check.stderr


def test_export_dr_drill_over_two_replicas_journals(run_process, tmp_path):
    # As an operator runs it: relative paths, one --journal per replica.
    with (
        Journal.open(tmp_path / "pod-0.db", actor="helloworld-controller-0") as zero,
        Journal.open(tmp_path / "pod-1.db", actor="helloworld-controller-1") as one,
    ):
        failover_drill(Controller(zero), Controller(one))
    result = run_process(
        "export", "dr-drill", "--journal", "pod-0.db", "--journal", "pod-1.db", "--out", "evidence"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("Status: COMPLETED\n")
    assert result.stdout.count("snapshot: ") == 2
    manifest_text = (tmp_path / "evidence" / "dr-drill-20261126.manifest.json").read_text()
    manifest = json.loads(manifest_text)
    assert [(j["source"], j["snapshot"]["file"]) for j in manifest["journals"]] == [
        ("pod-0.db", "dr-drill-20261126.journal-1.db"),
        ("pod-1.db", "dr-drill-20261126.journal-2.db"),
    ]
    assert [t["actor"] for t in manifest["takeovers"]] == ["helloworld-controller-1"]
    assert str(tmp_path) not in manifest_text and ".dr-drill-" not in manifest_text
    for name in ("dr-drill-20261126.journal-1.db", "dr-drill-20261126.journal-2.db"):
        check = run_process("verify", "--journal", tmp_path / "evidence" / name)
        assert check.returncode == 0, check.stdout + check.stderr
