"""``vacuum`` refuses a central journal: its shipped streams must stay verifiable."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest

from journal import Journal, JournalError, kinds, vacuum, verify
from journal.ship import ship
from tests.journal.helpers import ROOT


def _central(tmp_path, url: str) -> None:
    source = tmp_path / "replica-0.db"
    with Journal.open(source, actor="helloworld-controller-0") as writer:
        for n in range(5):
            writer.append(kinds.OPERATOR_NOTE, data={"n": n})
    with Journal.open(source, readonly=True) as reader, Journal.open(url, actor="c") as central:
        ship(reader, central, cluster="prod-eu")
        central.append(kinds.OPERATOR_NOTE, data={"text": "own"})


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_vacuum_refuses_a_journal_holding_shipped_streams(tmp_path, engine, request):
    url = (
        str(tmp_path / "central.db")
        if engine == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    _central(tmp_path, url)
    with Journal.open(url, actor="cli:test") as writer, pytest.raises(JournalError) as refused:
        vacuum(writer, timedelta(seconds=1), now=None)
    assert "holds streams shipped from other journals" in str(refused.value)
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "vacuum", "--journal", url, "--older-than", "1s"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("Error: vacuum refuses ")
    assert "pg-secret-" not in line
    with Journal.open(url, readonly=True) as reader:
        checked = verify(reader)
        assert checked.ok and checked.records == 6, checked.summary()
