"""Snapshots with VACUUM INTO: consistent while a writer appends, all or nothing."""

from __future__ import annotations

import os
import sqlite3

import pytest

from journal import Journal, JournalValueError, kinds, snapshot, stats, verify
from journal.snapshot import file_sha256
from tests.journal.helpers import read_lines


def test_snapshot_while_another_process_appends(journal_path, open_journal, start_writer, tmp_path):
    open_journal(journal_path, actor="setup").close()
    writer = start_writer(journal_path, 0)
    read_lines(writer, 50)
    reader = open_journal(journal_path, readonly=True)
    copies = [snapshot(reader, tmp_path / f"copy-{n}.db") for n in range(3)]
    writer.kill()
    writer.wait(timeout=10)
    counts = []
    for copy in copies:
        assert copy.sha256 == file_sha256(copy.path)
        assert copy.bytes == copy.path.stat().st_size
        with Journal.open(copy.path, readonly=True) as frozen:
            result = verify(frozen)
            assert result.ok, result.summary()
            counts.append(result.records)
        # A self-contained file: no WAL companions needed, none left behind.
        with sqlite3.connect(copy.path) as connection:
            assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert counts == sorted(counts) and counts[0] >= 50
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("copy", ".copy"))) == [
        "copy-0.db",
        "copy-1.db",
        "copy-2.db",
    ]


def test_snapshot_refuses_an_existing_file(writer, tmp_path):
    writer.append(kinds.OPERATOR_NOTE)
    target = tmp_path / "exists.db"
    target.write_text("precious")
    with pytest.raises(JournalValueError, match="already exists"):
        snapshot(writer, target)
    assert target.read_text() == "precious"


def test_snapshot_needs_the_directory(writer, tmp_path):
    with pytest.raises(JournalValueError, match="does not exist"):
        snapshot(writer, tmp_path / "nowhere" / "copy.db")
    assert not (tmp_path / "nowhere").exists()


def test_stats_describe_the_journal(controller, writer):
    controller.restart_chain(0, "helloworld-config-test", "helloworld-test", "a")
    facts = stats(writer)
    assert facts["records"] == 5
    assert (facts["first_seq"], facts["last_seq"]) == (1, 5)
    assert facts["head_hash"] == writer.head()[1]
    assert facts["kinds"]["restart.planned"] == 1
    assert facts["actors"] == {"helloworld-controller-0": 5}
    assert facts["file"]["journal_mode"] == "wal"
    assert facts["file"]["bytes"] == os.path.getsize(writer.location.path)
    assert facts["last_vacuum"] is None
