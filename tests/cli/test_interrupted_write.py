"""A journal file whose writer died mid-write in rollback mode: readers say what to do."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from journal import Journal, kinds
from tests.cli.helpers import one_error_line

# A writer that changes the file in rollback-journal mode and dies before its
# commit, leaving a hot ``-journal`` file beside it (as a SIGKILL would).
_DIE_MID_WRITE = """
import os, sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("PRAGMA journal_mode = DELETE")
connection.execute("BEGIN IMMEDIATE")
connection.execute("DELETE FROM journal_records")
connection.execute("PRAGMA cache_size = 0")  # spill the change to the file now
connection.execute("CREATE TABLE filler (x BLOB)")
connection.execute("INSERT INTO filler VALUES (zeroblob(4000000))")
os._exit(9)
"""


def test_a_hot_rollback_journal_is_named_and_the_way_out_given(run, tmp_path: Path):
    path = tmp_path / "journal.db"
    with Journal.open(path, actor="helloworld-controller-0") as writer:
        for number in range(50):
            writer.append(kinds.OPERATOR_NOTE, data={"text": f"note {number}"})
    copy = tmp_path / "backup.db"
    assert run("backup", "--journal", path, "--out", copy).code == 0
    died = subprocess.run([sys.executable, "-c", _DIE_MID_WRITE, str(copy)], check=False)
    assert died.returncode == 9
    assert Path(f"{copy}-journal").exists(), "no hot journal left: the test proves nothing"

    outcome = run("verify", "--journal", copy)
    assert outcome.code == 2
    line = one_error_line(outcome)
    assert "holds an interrupted write" in line and "db upgrade" in line

    # The way out it gives works: a writer rolls the write back, nothing lost.
    assert run("db", "upgrade", "--journal", copy).code == 0
    checked = run("verify", "--journal", copy)
    assert checked.code == 0, checked.out + checked.err
    assert checked.out.startswith("OK: 50 records")
    with sqlite3.connect(copy) as connection:
        assert connection.execute("SELECT count(*) FROM journal_records").fetchone() == (50,)
