"""Answers that name the real problem, checked before anything is printed or written.

Each test runs the installed ``shipshape-journal`` as a real process.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from journal import Journal, kinds
from tests.cli.helpers import one_error_line


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    """A journal with two notes and no drill marks."""
    path = tmp_path / "own.db"
    with Journal.open(path, actor="test") as writer:
        writer.append(kinds.OPERATOR_NOTE, data={"text": "one"})
        writer.append(kinds.OPERATOR_NOTE, data={"text": "two"})
    return path


@pytest.fixture
def drilled(journal: Path) -> Path:
    """The journal with a drill marked."""
    with Journal.open(journal, actor="test") as writer:
        writer.append(kinds.OPERATOR_NOTE, data={"text": "go", "drill": "start"})
        writer.append(kinds.OPERATOR_NOTE, data={"text": "done", "drill": "end"})
    return journal


@pytest.fixture
def immutable_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory nobody can create files in, root included (``chattr +i``)."""
    chattr = shutil.which("chattr")
    assert chattr, "chattr is not on PATH (Debian's e2fsprogs)"
    directory = tmp_path / "locked"
    directory.mkdir()
    subprocess.run([chattr, "+i", str(directory)], check=True)
    yield directory
    subprocess.run([chattr, "-i", str(directory)], check=True)


# -- an output directory that cannot be written is blamed, not the journal --------


@pytest.mark.parametrize(
    "command",
    [("backup", "--out", "{dir}/copy.db"), ("export", "dr-drill", "--out", "{dir}")],
)
def test_an_unwritable_output_directory_is_named(run_process, drilled, immutable_dir, command):
    args = [part.format(dir=immutable_dir) for part in command]
    result = run_process(*args, "--journal", drilled)
    assert result.returncode == 2
    assert one_error_line(result) == (
        f"Error: cannot write in the output directory {immutable_dir}: Operation not permitted"
    )
    assert result.stdout == ""


def test_an_output_under_a_regular_file_is_named(run_process, drilled, tmp_path):
    plain = tmp_path / "plain"
    plain.write_text("")
    backup = run_process("backup", "--journal", drilled, "--out", plain / "copy.db")
    assert backup.returncode == 2
    assert f"cannot write {plain / 'copy.db'}: {plain} is not a directory" in one_error_line(backup)
    export = run_process("export", "dr-drill", "--journal", drilled, "--out", plain / "out")
    assert export.returncode == 2
    assert one_error_line(export) == (
        f"Error: cannot create the output directory {plain / 'out'}: Not a directory"
    )


def test_export_without_a_drill_names_the_journal_and_leaves_no_directory(
    run_process, journal, tmp_path
):
    out = tmp_path / "evidence" / "today"
    result = run_process("export", "dr-drill", "--journal", journal, "--out", out)
    assert result.returncode == 2
    assert one_error_line(result) == (
        f"Error: no DR drill is marked in journal {journal} "
        "(mark one with `shipshape-journal note --drill start`)"
    )
    assert not (tmp_path / "evidence").exists()


# -- tail ------------------------------------------------------------------------


def test_a_cursor_file_that_cannot_be_saved_fails_before_printing(run_process, journal):
    result = run_process("tail", "--journal", journal, "--cursor-file", "state/cursor")
    assert result.returncode == 2
    assert result.stdout == "", "printed records would be printed again by the next run"
    assert one_error_line(result) == (
        "Error: Invalid value for '--cursor-file': cannot store the cursor in state/cursor: "
        "directory state does not exist (see 'shipshape-journal tail --help')"
    )


def test_a_cursor_file_under_a_regular_file_is_named_before_printing(run_process, journal):
    (journal.parent / "state").write_text("")
    result = run_process("tail", "--journal", journal, "--cursor-file", "state/cursor")
    assert result.returncode == 2
    assert result.stdout == ""
    assert one_error_line(result) == (
        "Error: Invalid value for '--cursor-file': cannot store the cursor in state/cursor: "
        "state is not a directory (see 'shipshape-journal tail --help')"
    )


def test_a_cursor_file_in_an_unwritable_directory_is_named_before_printing(
    run_process, journal, immutable_dir
):
    cursor = immutable_dir / "cursor"
    result = run_process("tail", "--journal", journal, "--cursor-file", cursor)
    assert result.returncode == 2
    assert result.stdout == ""
    assert one_error_line(result) == (
        f"Error: Invalid value for '--cursor-file': cannot store the cursor in {cursor}: "
        f"directory {immutable_dir} is not writable (see 'shipshape-journal tail --help')"
    )


def test_an_unknown_kind_is_refused_with_the_valid_ones(run_process, journal):
    result = run_process("tail", "--journal", journal, "--kind", "bogus")
    assert result.returncode == 2
    assert result.stdout == ""
    line = one_error_line(result)
    assert line.startswith("Error: Invalid value for '--kind': unknown kind 'bogus'; the kinds are")
    for kind in (*kinds.ALL, *kinds.ADDED, "restart", "operator"):
        assert kind in line


@pytest.mark.parametrize("kind", ["operator", "operator.note", "restart", "deployment.observed"])
def test_kinds_and_areas_are_accepted(run_process, journal, kind):
    result = run_process("tail", "--journal", journal, "--kind", kind, "-o", "json")
    assert result.returncode == 0, result.stderr
    shown = [json.loads(line)["kind"] for line in result.stdout.splitlines()]
    assert shown == (["operator.note"] * 2 if kind.startswith("operator") else [])


# -- the command group -------------------------------------------------------------


def test_no_arguments_prints_the_help(run_process):
    result = run_process()
    assert result.returncode == 2
    assert result.stdout.startswith("Usage: shipshape-journal [OPTIONS] COMMAND [ARGS]...\n")
    for command in ("tail", "replay", "verify", "export", "db"):
        assert f"\n  {command} " in result.stdout
    assert result.stderr == ""


def test_journal_before_the_command_means_the_same(run_process, journal):
    before = run_process("--journal", journal, "tail", "-o", "json")
    after = run_process("tail", "--journal", journal, "-o", "json")
    assert before.returncode == after.returncode == 0
    assert before.stdout == after.stdout
    assert len(before.stdout.splitlines()) == 2
    verified = run_process("--journal", journal, "verify")
    assert verified.returncode == 0
    assert verified.stdout.startswith("OK: 2 records, head ")


def test_several_journals_before_replay_merge_as_after(run_process, journal, tmp_path):
    other = tmp_path / "other.db"
    with Journal.open(other, actor="test-1") as writer:
        writer.append(kinds.OPERATOR_NOTE, data={"text": "three"})
    both = ("--journal", journal, "--journal", other)
    before = run_process(*both, "replay", "-o", "json")
    split = run_process("--journal", journal, "replay", "--journal", other, "-o", "json")
    after = run_process("replay", *both, "-o", "json")
    assert before.returncode == split.returncode == after.returncode == 0
    assert json.loads(before.stdout)["events"] == json.loads(after.stdout)["events"] == 3
    assert before.stdout == split.stdout == after.stdout


def test_two_journals_for_a_one_journal_command_is_a_usage_error(run_process, journal):
    result = run_process("--journal", journal, "stats", "--journal", journal)
    assert result.returncode == 2
    assert one_error_line(result).startswith("Error: this command takes one --journal, not 2")


@pytest.mark.parametrize(
    "command",
    [
        ("stats",),
        ("note", "x"),
        ("vacuum", "--older-than", "1s"),
        ("backup", "--out", "copy.db"),
        ("db", "current"),
        ("db", "upgrade"),
        ("ship", "--to", "central.db", "--cluster", "prod"),
    ],
)
def test_two_journals_after_a_one_journal_command_are_refused_too(
    run_process, journal, tmp_path, command
):
    # Click keeps the last of a repeated option: `note --journal a --journal b`
    # wrote into b alone, and vacuum removed records from b alone.
    other = tmp_path / "other.db"
    with Journal.open(other, actor="test-1") as writer:
        writer.append(
            kinds.OPERATOR_NOTE, data={"text": "three"}, ts=datetime(2026, 1, 1, tzinfo=UTC)
        )
    heads = [
        run_process("tail", "--journal", path, "-o", "json").stdout for path in (journal, other)
    ]
    result = run_process(*command, "--journal", journal, "--journal", other)
    assert result.returncode == 2
    assert one_error_line(result).startswith("Error: this command takes one --journal, not 2")
    assert result.stdout == ""
    after = [
        run_process("tail", "--journal", path, "-o", "json").stdout for path in (journal, other)
    ]
    assert after == heads
    assert not (tmp_path / "copy.db").exists() and not (tmp_path / "central.db").exists()
