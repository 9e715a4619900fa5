"""Reading a journal of an older schema: from an upgraded copy, the file unchanged."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from journal import Journal, kinds
from journal.older import open_reader
from journal.schema import HEAD, REVISIONS
from journal.snapshot import file_sha256
from tests.journal.builders import Controller, at

ROOT = Path(__file__).resolve().parents[2]
OLDER = REVISIONS[-2]


def downgrade(path: Path) -> None:
    """Take a journal back to the schema an older release wrote (Alembic's downgrade)."""
    migrated = subprocess.run(
        [str(Path(sys.executable).parent / "alembic"), "-x", f"journal={path}",
         "downgrade", OLDER],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert migrated.returncode == 0, migrated.stderr


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """The directory temporary copies go to, to see that none is left behind."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


@pytest.fixture
def pair(tmp_path) -> tuple[Path, Path]:
    """One journal twice: as written (head), and a copy taken back to the older schema."""
    current, older = tmp_path / "current.db", tmp_path / "older.db"
    with Journal.open(current, actor="helloworld-controller-0") as writer:
        controller = Controller(writer)
        controller.started(0)
        controller.acquired(1, epoch=3)
        controller.observed(2, "helloworld-config-test", "v1", event="ADDED")
        controller.restart_chain(100, "helloworld-config-test", "helloworld-test", "v2")
        writer.append(kinds.WATCH_RELISTED, ts=at(400))
    shutil.copy(current, older)
    downgrade(older)
    return current, older


def _without_names(text: str, *paths: Path) -> str:
    for path in paths:
        text = text.replace(str(path), "JOURNAL")
    return text


@pytest.mark.parametrize(
    "command",
    [
        ("verify",),
        ("tail", "-n", "100", "-o", "json"),
        ("replay", "--check"),
        ("replay", "-o", "json"),
    ],
    ids=["verify", "tail", "replay-check", "replay"],
)
def test_readers_read_an_older_journal_from_an_upgraded_copy(run, pair, private_tmp, command):
    """Same answer as at head, a note on stderr, the file byte for byte as it was, no copy left."""
    current, older = pair
    before = file_sha256(older)
    expected = run(*command, "--journal", current)
    outcome = run(*command, "--journal", older)
    assert outcome.code == expected.code
    assert _without_names(outcome.out, older) == _without_names(expected.out, current)
    assert outcome.err == (
        f"Note: journal {older} has schema revision {OLDER}, older than this program's {HEAD}: "
        "reading an upgraded copy, the file is not changed (`shipshape-journal db upgrade` "
        "upgrades it)\n"
    )
    assert file_sha256(older) == before
    assert list(private_tmp.iterdir()) == [], "the copy was left behind"
    assert run("db", "current", "--journal", older).out.startswith(f"{OLDER} (head is {HEAD};")


def test_dr_drill_evidence_of_an_older_journal_leaves_it_unchanged(
    run, pair, tmp_path, private_tmp
):
    current, older = pair
    for path in pair:
        run("note", "drill", "--drill", "start", "--journal", path)
        run("note", "done", "--drill", "end", "--journal", path)
    downgrade(older)  # the notes' writer upgraded it
    before = file_sha256(older)
    expected = run("export", "dr-drill", "--out", tmp_path / "a", "--date", "20261206",
                   "--journal", current)  # fmt: skip
    outcome = run("export", "dr-drill", "--out", tmp_path / "b", "--date", "20261206",
                  "--journal", older)  # fmt: skip
    assert (outcome.code, outcome.out.splitlines()[0]) == (
        expected.code,
        expected.out.splitlines()[0],
    )
    for evidence in ("dr-drill-20261206.md", "dr-drill-20261206.manifest.json"):
        assert "shipshape-journal-" not in (tmp_path / "b" / evidence).read_text(), "the copy"
    assert file_sha256(older) == before
    assert list(private_tmp.iterdir()) == []


def test_following_an_older_journal_still_asks_for_db_upgrade(run, pair, private_tmp):
    """A copy would never see the records written after it: ``tail -f`` refuses, as before."""
    _current, older = pair
    outcome = run("tail", "-f", "--journal", older)
    assert outcome.code == 2
    assert outcome.err == (
        f"Error: journal {older} has schema revision {OLDER}, older than this program's "
        f"{HEAD}; run `shipshape-journal db upgrade`\n"
    )
    assert list(private_tmp.iterdir()) == []


def test_the_copy_of_an_older_copy_is_still_a_copy(pair, private_tmp):
    """The upgraded copy keeps the original's journal mode: a live journal's WAL, else not.

    ``verify`` tells a copy (an export, a backup) by it, and fails a live
    journal that lacks a stream its own chain says was shipped.
    """
    _current, older = pair
    with open_reader(older) as reader:
        assert reader.upgraded_from == OLDER and reader.is_live()
    with sqlite3.connect(older) as connection:
        connection.execute("PRAGMA journal_mode = DELETE")
    before = file_sha256(older)
    with open_reader(older) as reader:
        assert reader.upgraded_from == OLDER and not reader.is_live()
    assert file_sha256(older) == before
