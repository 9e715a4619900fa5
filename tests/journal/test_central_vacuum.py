"""``vacuum`` refuses a central journal: its shipped streams must stay verifiable."""

from __future__ import annotations

import subprocess
import sys
import time
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
        # 5 shipped, the ship's journal.shipped record and the note
        assert checked.ok and checked.records == 7, checked.summary()


def test_vacuum_refuses_a_journal_a_ship_made_central_while_it_checked(
    tmp_path, postgres_url, postgres_server
):
    import threading

    from journal import Entry
    from journal.postgres import lock_chain
    from journal.ship import _SOURCE_COLUMNS, _insert
    from tests.journal.builders import at

    source = tmp_path / "replica-0.db"
    with Journal.open(source, actor="helloworld-controller-0") as writer:
        writer.append(kinds.OPERATOR_NOTE, data={"n": 0})
    with Journal.open(postgres_url, actor="replica-0") as embedded:
        embedded.append_many([Entry(kind=kinds.OPERATOR_NOTE, ts=at(n)) for n in range(3)])
    database = postgres_url.rsplit("/", 1)[1]
    waiting = (
        "SELECT count(*) FROM pg_stat_activity "
        f"WHERE datname = '{database}' AND wait_event_type = 'Lock'"
    )
    outcome: list[object] = []
    with (
        Journal.open(source, readonly=True) as reader,
        Journal.open(postgres_url, actor="shipper") as shipper,
        Journal.open(postgres_url, actor="cli:ops", busy_timeout=120) as operator,
    ):
        rows = list(reader.scan(columns=_SOURCE_COLUMNS))
        with shipper.transaction(write=True) as connection:
            # A first ship's batch, not committed yet, when vacuum starts.
            lock_chain(connection)
            _insert(shipper, connection, rows, stream="prod-eu/x", cluster="prod-eu", lock=False)

            def run() -> None:
                try:
                    outcome.append(vacuum(operator, timedelta(seconds=1)))
                except JournalError as error:
                    outcome.append(error)

            thread = threading.Thread(target=run)
            thread.start()
            while postgres_server.sql(waiting)[0][0] < 1:
                assert thread.is_alive(), outcome
                time.sleep(0.05)
        thread.join(timeout=120)
    (result,) = outcome
    assert isinstance(result, JournalError), result
    assert "holds streams shipped from other journals" in str(result)
    with Journal.open(postgres_url, readonly=True) as reader:
        assert reader.count() == 5  # 3 own, the shipped record and its journal.shipped
