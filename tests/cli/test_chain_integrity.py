"""What a tampered journal cannot slip past: verify, ship and merged reads.

- stored data text that parses to what the hash covers, but reads otherwise
  in SQL (a duplicate key), fails ``verify``;
- records cut from the end fail ``verify`` by SQLite's seq counter;
- ``ship`` copies nothing of a batch whose chain does not verify (exit 1);
- a journal merged with a vacuumed copy of itself, or a central journal with
  a journal shipped into it, is refused (exit 2), not replayed twice over.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from journal import Journal, kinds, record_hash, vacuum
from journal.errors import JournalChainError
from journal.record import FIELDS
from journal.ship import ship
from tests.cli.helpers import one_error_line
from tests.journal.builders import Controller, at


def _sql(path: Path, *statements: str) -> list[tuple]:
    """Run statements on the file as someone with sqlite3 would (the trigger dropped)."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("DROP TRIGGER IF EXISTS journal_records_no_update")
        rows: list[tuple] = []
        for statement in statements:
            rows = connection.execute(statement).fetchall()
        return rows
    finally:
        connection.close()


def _notes(path: Path, count: int) -> None:
    with Journal.open(path, actor="cli:alice") as writer:
        for n in range(count):
            writer.append(kinds.OPERATOR_NOTE, data={"text": f"note {n + 1}"}, ts=at(n))


def test_verify_fails_stored_data_that_sql_reads_otherwise(run, tmp_path):
    journal = tmp_path / "t_data.db"
    _notes(journal, 3)
    evil = '{"text":"EVIL","text":"note 2"}'  # Python's json keeps the last key
    _sql(journal, f"UPDATE journal_records SET data = '{evil}' WHERE seq = 2")
    assert _sql(journal, "SELECT json_extract(data, '$.text') FROM journal_records WHERE seq = 2")[
        0
    ] == ("EVIL",)
    before = journal.read_bytes()
    outcome = run("verify", "--journal", journal)
    assert outcome.code == 1
    assert outcome.out == (
        "FAILED: seq 2: data is not stored as the canonical JSON its hash covers "
        "(record edited: duplicate keys, spacing or escapes)\n"
    )
    assert journal.read_bytes() == before


def test_verify_names_the_records_cut_from_the_end(run, tmp_path):
    journal = tmp_path / "t_tail.db"
    _notes(journal, 44)
    _sql(journal, "DELETE FROM journal_records WHERE seq = 44")
    outcome = run("verify", "--journal", journal)
    assert outcome.code == 1
    assert outcome.out == (
        "FAILED: seq 44: record(s) 44 missing: the journal's seq counter (sqlite_sequence) "
        "says seq 44 was stored, and the last record is seq 43 (records removed from the end)\n"
    )


def _count(path: Path) -> int:
    return _sql(path, "SELECT count(*) FROM journal_records")[0][0]


@pytest.mark.parametrize("rehashed", [False, True], ids=["edited", "edited-and-rehashed"])
def test_ship_refuses_a_source_whose_chain_is_broken(run, tmp_path, rehashed):
    source, central = tmp_path / "t_data.db", tmp_path / "new.db"
    _notes(source, 44)
    # Edited at seq 20 (its hash left, or recomputed: then seq 21's link breaks).
    _sql(source, """UPDATE journal_records SET data = '{"text":"EVIL"}' WHERE seq = 20""")
    if rehashed:
        (record,) = _sql(
            source, f"SELECT {', '.join(FIELDS[:-1])} FROM journal_records WHERE seq = 20"
        )
        fields = dict(zip(FIELDS, record, strict=False), data=json.loads(record[9]))
        _sql(source, f"UPDATE journal_records SET hash = '{record_hash(**fields)}' WHERE seq = 20")
    bad = 21 if rehashed else 20
    outcome = run("ship", "--journal", source, "--to", central, "--cluster", "x")
    assert outcome.code == 1
    line = one_error_line(outcome)
    assert line.startswith(f"Error: seq {bad} of {source} does not verify: ")
    assert line.endswith("nothing of seq 1..44 was shipped")
    assert outcome.out == ""
    # Nothing was copied: no central journal left behind, or an empty one.
    assert not central.exists() or _count(central) == 0


def test_ship_keeps_the_batches_before_a_broken_one_and_the_central_verifies(
    run, tmp_path, open_journal
):
    source, central = tmp_path / "t_data.db", tmp_path / "central.db"
    _notes(source, 10)
    assert run("ship", "--journal", source, "--to", central, "--cluster", "x").code == 0
    _notes(source, 10)  # seq 11..20, then seq 15 edited
    _sql(source, """UPDATE journal_records SET data = '{"text":"EVIL"}' WHERE seq = 15""")
    with pytest.raises(
        JournalChainError, match=r"seq 15 of .* does not verify: hash does not match"
    ):
        ship(
            open_journal(source, readonly=True),
            open_journal(central, actor="cli:test"),
            cluster="x",
            batch_size=2,
        )
    # seq 11..14 went in (batches 11-12, 13-14); nothing of the batch 15-16.
    rows = _sql(central, "SELECT max(stream_seq) FROM journal_records")
    assert rows == [(14,)]
    outcome = run("ship", "--journal", source, "--to", central, "--cluster", "x")
    assert (outcome.code, one_error_line(outcome)[:42]) == (1, f"Error: seq 15 of {source}"[:42])
    assert run("verify", "--journal", central).out.startswith("OK: 17 records")


def test_a_broken_link_to_the_last_shipped_record_is_refused(run, tmp_path):
    # The source's record after the stream's last shipped one links elsewhere.
    source, central = tmp_path / "t_data.db", tmp_path / "central.db"
    _notes(source, 5)
    assert run("ship", "--journal", source, "--to", central, "--cluster", "x").code == 0
    _notes(source, 2)
    _sql(source, f"UPDATE journal_records SET prev_hash = '{'cd' * 32}' WHERE seq = 6")
    outcome = run("ship", "--journal", source, "--to", central, "--cluster", "x")
    assert outcome.code == 1
    assert "seq 6 of" in one_error_line(outcome)
    assert "prev_hash does not match the hash of seq 5" in one_error_line(outcome)
    assert _sql(central, "SELECT max(stream_seq) FROM journal_records") == [(5,)]


def _replica(path: Path) -> None:
    with Journal.open(path, actor="helloworld-controller-0") as writer:
        replica = Controller(writer)
        replica.started(0)
        replica.acquired(1, epoch=1)
        replica.restart_chain(10, "app-config", "app", "v1")
        replica.restart_chain(100, "app-config", "app", "v2")


@pytest.mark.parametrize("command", [("tail",), ("replay", "--strict")])
def test_a_vacuumed_copy_is_the_same_journal(run, tmp_path, command):
    base, copy = tmp_path / "base0.db", tmp_path / "vcopy.db"
    _replica(base)
    assert run("backup", "--journal", base, "--out", copy).code == 0
    with Journal.open(copy, actor="cli:alice") as writer:
        assert vacuum(writer, timedelta(seconds=1), now=at(50)).removed > 0
    outcome = run(*command, "--journal", base, "--journal", copy)
    assert outcome.code == 2
    line = one_error_line(outcome)
    assert f"--journal {base} and --journal {copy} are the same journal" in line
    assert outcome.out == ""


@pytest.mark.parametrize("command", [("tail",), ("replay",)])
def test_a_central_journal_with_a_journal_shipped_into_it_is_refused(run, tmp_path, command):
    base0, base1, central = tmp_path / "base0.db", tmp_path / "base1.db", tmp_path / "central.db"
    _replica(base0)
    _replica(base1)
    for base in (base0, base1):
        assert run("ship", "--journal", base, "--to", central, "--cluster", "prod").code == 0
    outcome = run(*command, "--journal", central, "--journal", base1)
    assert outcome.code == 2
    line = one_error_line(outcome)
    assert f"--journal {central} and --journal {base1} are the same journal" in line
    assert "a central journal and a journal shipped into it" in line
    # Two replicas' own journals still merge.
    assert run(*command, "--journal", base0, "--journal", base1).code == 0
