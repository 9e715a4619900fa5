"""Values at the edges of what the journal holds: far times, huge numbers, odd names, damage."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest

from journal import Journal, kinds
from journal.schema import HEAD
from tests.cli.helpers import one_error_line
from tests.journal.builders import Controller

HUGE = "A" * 100_000


@pytest.fixture
def journal(tmp_path):
    """A journal with three notes, written now."""
    path = tmp_path / "journal.db"
    with Journal.open(path, actor="test") as writer:
        for text in ("one", "two", "three"):
            writer.append(kinds.OPERATOR_NOTE, data={"text": text})
    return path


def _seqs(run, journal, *args):
    outcome = run("tail", "--journal", journal, "-o", "json", *args)
    assert outcome.code == 0, outcome.err
    return outcome.out.count('"seq":')


# -- times before year 1000 and at the end of year 9999 ------------------------------


def test_vacuum_with_a_cutoff_before_year_1000_removes_nothing(run, journal):
    outcome = run("vacuum", "--journal", journal, "--older-than", "400000d")
    assert outcome.code == 0, outcome.err
    assert outcome.out.startswith("nothing to remove: no records older than 0931-")
    assert _seqs(run, journal) == 3


def test_vacuum_with_a_cutoff_before_year_1_is_refused(run, journal):
    before = journal.read_bytes()
    outcome = run("vacuum", "--journal", journal, "--older-than", "999999999d")
    assert outcome.code == 2
    assert "--older-than 999999999d reaches back before year 1" in one_error_line(outcome)
    assert journal.read_bytes() == before


def test_time_filters_before_year_1000_keep_their_order(run, journal):
    assert _seqs(run, journal, "--since", "0999-01-01") == 3
    assert _seqs(run, journal, "--until", "0999-01-01") == 0
    outcome = run("replay", "--journal", journal, "--at", "0500-01-01")
    assert outcome.code == 0, outcome.err
    assert "State at 0500-01-01T00:00:00.000000Z" in outcome.out
    assert "(records through seq 0)" in outcome.out


@pytest.mark.parametrize(
    "window",
    [
        ("--until", "9999-12-31T23:59:59.999998Z"),
        ("--since", "9999-12-31T23:59:59.999999Z"),
        ("--since", "0001-01-01", "--until", "0001-01-01"),
    ],
)
def test_replay_html_at_the_ends_of_time(run, journal, tmp_path, window):
    page = tmp_path / "f.html"
    outcome = run("replay", "--journal", journal, *window, "--html", page)
    assert outcome.code == 0, outcome.err
    assert page.read_text().startswith("<!DOCTYPE html>")


# -- numbers out of reach -------------------------------------------------------------


@pytest.mark.parametrize("command", [("db", "upgrade"), ("note", "x"), ("tail",)])
def test_a_busy_timeout_above_an_hour_is_refused_before_anything_is_created(
    run_process, tmp_path, command
):
    path = tmp_path / "new.db"
    result = run_process(*command, "--journal", path, "--busy-timeout", "1e308")
    assert result.returncode == 2
    assert one_error_line(result).startswith(
        "Error: Invalid value for '--busy-timeout': 1e+308 is not in the range 0<=x<=3600"
    )
    assert not path.exists()


@pytest.mark.parametrize(
    ("cursor", "words"),
    [
        ("1" * 5000, "invalid cursor '11111"),
        ("\u0663", "invalid cursor '\u0663'"),  # ARABIC-INDIC DIGIT THREE
        ("9223372036854775808", "a seq is at most 9223372036854775807"),
    ],
)
def test_cursors_are_ascii_digits_of_a_63_bit_seq(run, journal, tmp_path, cursor, words):
    outcome = run("tail", "--journal", journal, "--after-cursor", cursor)
    assert outcome.code == 2
    line = one_error_line(outcome)
    assert words in line
    assert len(line) < 300
    stored = tmp_path / "cursor"
    stored.write_text(cursor + "\n")
    outcome = run("tail", "--journal", journal, "--cursor-file", stored)
    assert outcome.code == 2
    assert words in one_error_line(outcome)
    assert stored.read_text() == cursor + "\n"


# -- file names that look like URL queries --------------------------------------------


NAMES_LIKE_QUERIES = ("j.db?timeout=abc", "x?uri=x", "k.db?mode=memory", "h#a%20b.db")


def test_a_path_is_a_file_name_whatever_it_holds(run_process, tmp_path):
    # Each name written and read as a file; the readers take all four at once.
    for number, name in enumerate(NAMES_LIKE_QUERIES):
        for command in (("db", "upgrade"), ("note", f"hello {number}")):
            result = run_process(*command, "--journal", name)
            assert result.returncode == 0, result.stderr
            assert result.stderr == ""
    journals = [part for name in NAMES_LIKE_QUERIES for part in ("--journal", name)]
    for command in (("tail",), ("verify",), ("replay",)):
        result = run_process(*command, *journals)
        assert result.returncode == 0, (command, result.stderr)
        assert result.stderr == ""
    shown = run_process("tail", *journals).stdout
    assert all(f"hello {number}" in shown for number in range(len(NAMES_LIKE_QUERIES)))
    first = NAMES_LIKE_QUERIES[0]
    for command in (("stats",), ("db", "current")):
        result = run_process(*command, "--journal", first)
        assert result.returncode == 0, (command, result.stderr)
    assert str(tmp_path / first) in run_process("stats", "--journal", first).stdout
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(("-wal", "-shm"))) == (
        sorted(NAMES_LIKE_QUERIES)
    )


# -- long values in error lines --------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("tail", "--since", HUGE),
        ("tail", "--until", HUGE),
        ("tail", "--actor", HUGE),
        ("tail", "--cluster", HUGE),
        ("tail", "--kind", HUGE),
        ("tail", "-o", HUGE),
        ("tail", "--after-cursor", HUGE),
        ("replay", "--workload", HUGE),
        ("vacuum", "--older-than", HUGE),
        ("export", "dr-drill", "--out", "out", "--date", HUGE),
        ("tail", "--actor", "A " * 50_000),
    ],
)
def test_an_error_line_quotes_only_the_start_of_a_long_value(run, journal, args):
    outcome = run(*args, "--journal", journal)
    assert outcome.code == 2
    line = one_error_line(outcome)
    assert "AAAA" in line or "A A A" in line
    assert "…" in line
    assert len(line) < 2100


def test_a_long_value_is_cut_to_80_characters(run, journal):
    line = one_error_line(run("tail", "--since", HUGE, "--journal", journal))
    assert line.startswith(f"Error: Invalid value for '--since': invalid time '{'A' * 80}…': ")
    assert line.endswith("(see 'shipshape-journal tail --help')")


def test_a_huge_cursor_file_is_named_by_its_start(run, journal, tmp_path):
    stored = tmp_path / "cursor"
    stored.write_text(HUGE)
    line = one_error_line(run("tail", "--journal", journal, "--cursor-file", stored))
    assert f"invalid cursor '{'A' * 80}…' in cursor file {stored}" in line


# -- damaged journals ------------------------------------------------------------------


def _drop_trigger_and(path, statement):
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("DROP TRIGGER IF EXISTS journal_records_no_update")
        connection.execute(statement)
        connection.commit()


@pytest.mark.parametrize("data", ['"s"', "[1]", "3", "null"])
def test_record_data_that_is_not_an_object_is_one_line_naming_its_seq(run, tmp_path, data):
    path = tmp_path / "journal.db"
    with Journal.open(path, actor="helloworld-controller-0") as writer:
        controller = Controller(writer)
        controller.started(0)
        controller.note(10, "kill the leader", drill="start", scenario="leader-loss")
        controller.note(20, "done", drill="end")
    _drop_trigger_and(path, f"UPDATE journal_records SET data = '{data}' WHERE seq = 1")
    for args in (
        ("replay", "--since", "2026-11-26T10:00:05Z"),
        ("replay",),
        ("export", "dr-drill", "--out", tmp_path / "out"),
    ):
        outcome = run(*args, "--journal", path)
        assert outcome.code == 2, outcome.err
        assert one_error_line(outcome) == "Error: record seq 1: data is not a JSON object"


def test_a_journal_without_its_records_table_is_damaged_not_behind(run, journal):
    with closing(sqlite3.connect(journal)) as connection:
        connection.execute("DROP TABLE journal_records")
        connection.commit()
    before = journal.read_bytes()
    for args in (("db", "upgrade"), ("db", "upgrade"), ("note", "x"), ("stats",), ("tail",)):
        outcome = run(*args, "--journal", journal)
        assert outcome.code == 2
        line = one_error_line(outcome)
        assert line == (
            f"Error: journal {journal} is damaged: it is at schema revision {HEAD} but its "
            "records table (journal_records) is missing; restore it from a backup"
        )
        assert "db upgrade" not in line
    assert journal.read_bytes() == before
