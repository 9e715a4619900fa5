"""Bad input and unusable journals: exit 2 and one clear line, nothing changed."""

from __future__ import annotations

import resource
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from journal import Journal, kinds
from journal.schema import VERSION_TABLE
from tests.cli.helpers import one_error_line
from tests.journal.builders import Controller

READERS = (
    ("tail",),
    ("replay",),
    ("verify",),
    ("stats",),
    ("db", "current"),
)


@pytest.fixture
def journal(tmp_path):
    """A journal with two notes."""
    path = tmp_path / "journal.db"
    with Journal.open(path, actor="test") as writer:
        writer.append(kinds.OPERATOR_NOTE, data={"text": "one"})
        writer.append(kinds.OPERATOR_NOTE, data={"text": "two"})
    return path


@pytest.mark.parametrize("command", READERS)
def test_missing_file(run, tmp_path, command):
    missing = tmp_path / "nope.db"
    outcome = run(*command, "--journal", missing)
    assert outcome.code == 2
    assert one_error_line(outcome) == f"Error: no journal at {missing} (file does not exist)"
    assert not missing.exists()


@pytest.mark.parametrize("command", [*READERS, ("note", "x"), ("vacuum", "--older-than", "1d")])
def test_a_directory(run, tmp_path, command):
    outcome = run(*command, "--journal", tmp_path)
    assert outcome.code == 2
    assert "is a directory" in one_error_line(outcome)


@pytest.mark.parametrize("command", [*READERS, ("note", "x"), ("db", "upgrade")])
def test_not_a_sqlite_file(run, tmp_path, command):
    path = tmp_path / "config.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\n")
    outcome = run(*command, "--journal", path)
    assert outcome.code == 2
    assert "is not a SQLite database" in one_error_line(outcome)
    assert path.read_text() == "apiVersion: v1\nkind: ConfigMap\n"


@pytest.mark.parametrize("command", [*READERS, ("note", "x"), ("db", "upgrade")])
def test_another_applications_sqlite_file(run, tmp_path, command):
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE users (name TEXT)")
    outcome = run(*command, "--journal", path)
    assert outcome.code == 2
    assert "another application (tables: users)" in one_error_line(outcome)


@pytest.mark.parametrize("command", [*READERS, ("note", "x"), ("db", "upgrade")])
def test_a_newer_schema(run, journal, command):
    with sqlite3.connect(journal) as connection:
        connection.execute(f"UPDATE {VERSION_TABLE} SET version_num = 'f00d'")
    outcome = run(*command, "--journal", journal)
    assert outcome.code == 2
    assert "newer than this program" in one_error_line(outcome)


def test_locked_past_the_busy_timeout(run, journal):
    holder = sqlite3.connect(journal, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        outcome = run("note", "blocked", "--journal", journal, "--busy-timeout", "0.2")
    finally:
        holder.close()
    assert outcome.code == 2
    assert "is locked by another connection" in one_error_line(outcome)
    assert run("verify", "--journal", journal).out.startswith("OK: 2 records")


def test_a_corrupt_database(run, journal, tmp_path):
    data = bytearray(journal.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    data[page_size:] = b"\xa5" * (len(data) - page_size)  # wreck every page but the schema
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(bytes(data))
    outcome = run("tail", "--journal", corrupt)
    assert outcome.code == 2
    assert "corrupt" in one_error_line(outcome)


def test_an_empty_journal(run, tmp_path):
    path = tmp_path / "empty.db"
    assert run("db", "upgrade", "--journal", path).code == 0
    tail = run("tail", "--journal", path)
    assert (tail.code, tail.out, tail.err) == (0, "", "")
    verify = run("verify", "--journal", path)
    assert verify.out == "OK: 0 records, head " + "0" * 64 + "\n"
    replay = run("replay", "-o", "json", "--journal", path)
    assert replay.code == 0 and '"events": 0' in replay.out
    assert run("stats", "--journal", path).code == 0


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "10m",
        "-10x",
        "2026-11-26T10:00:00",
        "2026-13-01T00:00:00Z",
        "",
        "-1.5h",
        "9999-12-31T23:59:59-01:00",  # a year past 9999 in UTC
    ],
)
@pytest.mark.parametrize("option", ["--since", "--until"])
def test_bad_time_values(run, journal, option, value):
    for command in (("tail",), ("replay",)):
        outcome = run(*command, option, value, "--journal", journal)
        assert outcome.code == 2
        line = one_error_line(outcome)
        assert f"Invalid value for '{option}'" in line
        assert "RFC 3339" in line or "invalid time" in line


def test_since_after_until(run, journal):
    outcome = run("tail", "--since", "-1h", "--until", "-2h", "--journal", journal)
    assert outcome.code == 2
    assert "is after --until" in one_error_line(outcome)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("tail", "-f", "--until", "-1h"), "--until cannot be combined with --follow"),
        (("tail", "--after-cursor", "abc"), "invalid cursor 'abc'"),
        (("tail", "--after-cursor", "1,2"), "has 2 seq(s) for 1 journal(s)"),
        (("tail", "--after-cursor", "1,"), "invalid cursor '1,'"),
        (("tail", "--journal", "b.db", "--after-cursor", "1"), "has 1 seq(s) for 2 journal(s)"),
        (("tail", "--busy-timeout", "-1"), "Invalid value for '--busy-timeout'"),
        (("tail", "--after-cursor", "1", "--cursor-file", "c"), "not both"),
        (("tail", "--kind", "Restart!"), "invalid kind filter"),
        (("tail", "-n", "-1"), "Invalid value for '-n'"),
        (("tail", "-o", "yaml"), "Invalid value for '-o'"),
        (("tail", "--bogus"), "No such option"),
        (("frobnicate",), "No such command"),
        (("note", " "), "TEXT is empty"),
        (("note", "x", "--scenario", "etcd"), "give --drill start|end"),
        (("note", "x", "--drill", "middle"), "Invalid value for '--drill'"),
        (("vacuum", "--older-than", "forever"), "invalid duration 'forever'"),
        (("vacuum", "--older-than", "0d"), "invalid duration"),
        (("vacuum",), "Missing option '--older-than'"),
        (("export", "dr-drill", "--out", "x", "--date", "2026-02-09"), "invalid --date"),
        (("replay", "--check-model", "nonsense", "--check"), "MODULE:FUNCTION"),
    ],
)
def test_usage_errors(run, journal, args, message):
    outcome = run(*args, *(("--journal", journal) if args[0] != "frobnicate" else ()))
    assert outcome.code == 2
    assert message in one_error_line(outcome)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--object", "\udcff"),
        ("--workload", "deployment/\udcff"),
        ("--namespace", "\udcff"),
        ("--correlation", "\udcff"),
        ("--cluster", "\udcff"),
        ("--actor", "\udcff"),
    ],
)
def test_a_filter_that_is_not_utf8(run, journal, option, value):
    # A byte that is not UTF-8 in argv (b"\xff" in a Latin-1 terminal) reaches
    # the program as a lone surrogate, which SQLite cannot be sent.
    outcome = run("tail", option, value, "--journal", journal)
    assert outcome.code == 2
    assert "is not valid UTF-8 text" in one_error_line(outcome)
    assert outcome.out == ""


def test_usage_error_points_at_help(run, journal):
    line = one_error_line(run("tail", "--bogus", "--journal", journal))
    assert line.endswith("(see 'shipshape-journal tail --help')")


def test_replay_check_without_a_decision_model(run, journal):
    # The controller's core is the default model now; name one that does not exist.
    outcome = run(
        "replay",
        "--check",
        "--check-model",
        "reloader.core.nothing_here:check",
        "--journal",
        journal,
    )
    assert outcome.code == 2
    assert "no decision model is available" in one_error_line(outcome)
    assert outcome.out == ""


def test_note_does_not_create_a_missing_journal(run, tmp_path):
    missing = tmp_path / "typo.db"
    outcome = run("note", "hello", "--journal", missing)
    assert outcome.code == 2
    assert "no journal at" in one_error_line(outcome)
    assert not missing.exists()


def test_backup_refuses_to_overwrite(run, journal, tmp_path):
    target = tmp_path / "backup.db"
    target.write_text("yesterday's backup")
    outcome = run("backup", "--journal", journal, "--out", target)
    assert outcome.code == 2
    assert "already exists" in one_error_line(outcome)
    assert target.read_text() == "yesterday's backup"


def test_export_without_a_drill(run, journal, tmp_path):
    outcome = run("export", "dr-drill", "--journal", journal, "--out", tmp_path / "out")
    assert outcome.code == 2
    assert "no DR drill is marked" in one_error_line(outcome)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("tail", "-n", "99999999999999999999999"),
            "Error: Invalid value for '-n' / '--lines': 99999999999999999999999 is not in the "
            "range 0<=x<=9223372036854775807.",
        ),
        (
            ("tail", "--busy-timeout", "nan"),
            "Error: Invalid value for '--busy-timeout': 'nan' is not a finite number of seconds",
        ),
        (
            ("verify", "--busy-timeout", "inf"),
            "Error: Invalid value for '--busy-timeout': 'inf' is not a finite number of seconds",
        ),
        (
            ("replay", "--leaderless-gap", "nan"),
            "Error: Invalid value for '--leaderless-gap': 'nan' is not a finite number of seconds",
        ),
    ],
)
def test_numbers_out_of_reach_are_one_line_and_exit_2(run_process, journal, args, message):
    result = run_process(*args, "--journal", journal)
    assert result.returncode == 2
    assert one_error_line(result).startswith(message)
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "postgresql+pg8000://u:secret@localhost/x",
            "Error: journal URL postgresql+pg8000://u:[REDACTED]@localhost/x: its driver, the "
            "Python module 'pg8000', is not installed",
        ),
        (
            "foo://bar",
            "Error: journal URL foo://bar: unknown database 'foo' (use a SQLite file path, "
            "sqlite:///PATH or postgresql+psycopg://USER@HOST/DB)",
        ),
    ],
)
@pytest.mark.parametrize("command", [("tail",), ("note", "x")])
def test_a_journal_url_this_program_cannot_open(run_process, command, url, message):
    result = run_process(*command, "--journal", url)
    assert result.returncode == 2
    assert one_error_line(result).startswith(message)


@pytest.mark.parametrize("output", ["text", "json"])
def test_replay_html_into_a_missing_directory_does_nothing(run, journal, tmp_path, output):
    # Checked before the replay: no report on stdout for a command that then
    # fails, and no waiting through a long replay to learn of a typo.
    page = tmp_path / "no-such-dir" / "incident.html"
    outcome = run("replay", "-o", output, "--html", page, "--journal", journal)
    assert outcome.code == 2
    assert "--html" in one_error_line(outcome)
    assert "does not exist" in one_error_line(outcome)
    assert outcome.out == ""
    assert not page.parent.exists()


@pytest.mark.parametrize(
    "command",
    [("tail",), ("replay",), ("replay", "--strict"), ("export", "dr-drill", "--out", "evidence")],
)
def test_one_journal_given_twice_is_refused(run, journal, tmp_path, command):
    # Merged with itself, a journal shows every record twice and replay finds
    # anomalies that never happened (each restart "rolled twice in a row").
    copy = tmp_path / "copy.db"
    assert run("backup", "--journal", journal, "--out", copy).code == 0
    for twice in ((journal, journal), (journal, copy)):
        outcome = run(*command, "--journal", twice[0], "--journal", twice[1])
        assert outcome.code == 2
        line = one_error_line(outcome)
        assert "the same journal" in line
        assert str(twice[1]) in line
        assert outcome.out == ""
    assert not (tmp_path / "evidence").exists()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize(
    "command",
    [
        ("tail",),
        ("tail", "-o", "json-pretty"),
        ("replay",),
        ("replay", "-o", "json"),
        ("verify",),
        ("stats",),
    ],
)
def test_output_that_cannot_be_written_is_one_line(executable, journal, command):
    # `replay -o json > replay.json` on a full disk: one line and exit 2 (it is
    # no finding), not a traceback and not --strict's exit 1.
    with Path("/dev/full").open("w") as full:
        result = subprocess.run(
            [executable, *command, "--journal", str(journal)],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 2
    assert one_error_line(result) == "Error: cannot write the output: No space left on device"


def test_ship_into_the_same_journal_says_so(run, journal, tmp_path):
    # The journal spelt two ways: SQLite's "UNIQUE constraint failed" named nothing.
    elsewhere = tmp_path / "sub" / ".." / journal.name
    (tmp_path / "sub").mkdir()
    outcome = run("ship", "--journal", journal, "--to", elsewhere, "--cluster", "prod")
    assert outcome.code == 2
    line = one_error_line(outcome)
    assert "the same journal" in line and str(journal) in line
    assert run("verify", "--journal", journal).out.startswith("OK: 2 records")


def _file_size_limit(limit: int) -> None:
    # In the child: writing past ``limit`` bytes fails with EFBIG (a full disk,
    # as far as the program can tell) instead of killing it with SIGXFSZ.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_replay_html_that_cannot_be_written_keeps_the_previous_page(run_process, tmp_path):
    # The page replaces FILE only when complete: a write that fails midway
    # leaves the previous page as it was and no temporary file beside it.
    journal = tmp_path / "restarts.db"
    with Journal.open(journal, actor="helloworld-controller-0") as writer:
        controller = Controller(writer)
        controller.started(0)
        controller.acquired(1, epoch=1)
        for i in range(60):  # a page well past the limit (SQLite's -shm is 32 KiB)
            controller.restart_chain(10 + 10 * i, f"cm{i}", f"web{i}", f"c{i}")
    page = tmp_path / "pages" / "incident.html"
    page.parent.mkdir()
    page.write_text("<p>the previous page</p>\n", encoding="utf-8")
    result = run_process(
        "replay", "--html", page, "--journal", journal, preexec_fn=lambda: _file_size_limit(65536)
    )
    assert result.returncode == 2
    assert "cannot write --html" in one_error_line(result)
    assert page.read_text(encoding="utf-8") == "<p>the previous page</p>\n"
    assert sorted(path.name for path in page.parent.iterdir()) == ["incident.html"]
    # Without the limit the page is written whole, over the previous one.
    assert run_process("replay", "--html", page, "--journal", journal).returncode == 0
    assert page.stat().st_size > 65536
    assert sorted(path.name for path in page.parent.iterdir()) == ["incident.html"]
