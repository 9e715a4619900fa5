"""Verify catches edits, deletions and reordering behind the program's back."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from journal import GENESIS, Entry, Journal, kinds, record_hash, vacuum, verify
from journal.chain import canonical_json
from tests.journal.builders import at
from tests.journal.signing_helpers import forge, rechain


def _fill(journal: Journal, count: int = 10) -> None:
    journal.append_many(
        [Entry(kind=kinds.WATCH_RELISTED, data={"n": n}, ts=at(n)) for n in range(count)]
    )


def _tamper(path: Path, *statements: str) -> None:
    """Edit the file directly, as someone with sqlite3 and bad intentions would."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("DROP TRIGGER IF EXISTS journal_records_no_update")
        for statement in statements:
            connection.execute(statement)
    finally:
        connection.close()


def _verify(path: Path):
    with Journal.open(path, readonly=True) as journal:
        return verify(journal)


def test_intact_journal_verifies(writer):
    _fill(writer)
    result = verify(writer)
    assert result.ok
    assert result.summary() == f"OK: 10 records, head {writer.head()[1]}"


def test_empty_journal_verifies(writer):
    assert verify(writer).summary() == f"OK: 0 records, head {GENESIS}"


def test_edited_data_names_the_edited_seq(writer, journal_path):
    _fill(writer)
    _tamper(journal_path, """UPDATE journal_records SET data = '{"n":99}' WHERE seq = 4""")
    result = _verify(journal_path)
    assert not result.ok
    assert result.bad_seq == 4
    assert result.summary().startswith("FAILED: seq 4: hash does not match")
    assert result.records == 3


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE journal_records SET ts = '2026-11-26T10:00:03.000001Z' WHERE seq = 4",
        "UPDATE journal_records SET kind = 'watch.error' WHERE seq = 4",
        "UPDATE journal_records SET actor = 'intruder' WHERE seq = 4",
        "UPDATE journal_records SET leader_epoch = 7 WHERE seq = 4",
        "UPDATE journal_records SET namespace = 'default' WHERE seq = 4",
        "UPDATE journal_records SET id = 'ffffffff-0000-4000-8000-000000000000' WHERE seq = 4",
    ],
)
def test_every_field_is_covered(writer, journal_path, statement):
    _fill(writer)
    _tamper(journal_path, statement)
    result = _verify(journal_path)
    assert (result.ok, result.bad_seq) == (False, 4)


def test_an_edited_and_rehashed_record_breaks_the_next_link(writer, journal_path):
    _fill(writer)
    original = next(writer.read(after_seq=3, limit=1)).to_json()
    forged = dict(original, data={"n": 99})
    forged.pop("hash")
    new_hash = record_hash(**forged)
    _tamper(
        journal_path,
        # Stored as its canonical text, as a careful forger would store it.
        f"UPDATE journal_records SET data = '{canonical_json(forged['data'])}', "
        f"hash = '{new_hash}' WHERE seq = 4",
    )
    result = _verify(journal_path)
    assert result.bad_seq == 5
    assert "prev_hash does not match the hash of seq 4" in result.reason


def test_data_that_is_not_an_object_fails_verify_even_rehashed(writer, journal_path):
    # Readers refuse such a record (no writer stores one): verify must not pass it.
    _fill(writer)
    original = next(writer.read(after_seq=9, limit=1)).to_json()
    forged = dict(original, data="s")
    forged.pop("hash")
    _tamper(
        journal_path,
        f"UPDATE journal_records SET data = '\"s\"', hash = '{record_hash(**forged)}' "
        "WHERE seq = 10",
    )
    result = _verify(journal_path)
    assert (result.ok, result.bad_seq) == (False, 10)
    assert result.reason == "data is not a JSON object (record edited)"


def test_a_deleted_record_is_named(writer, journal_path):
    _fill(writer)
    _tamper(journal_path, "DELETE FROM journal_records WHERE seq = 6")
    result = _verify(journal_path)
    assert result.bad_seq == 6
    assert "record(s) 6 missing: seq 7 follows seq 5" in result.reason


def test_deleted_first_records_are_named(writer, journal_path):
    _fill(writer)
    _tamper(journal_path, "DELETE FROM journal_records WHERE seq <= 2")
    result = _verify(journal_path)
    assert result.bad_seq == 1
    assert "record(s) 1..2 missing" in result.reason
    assert "tombstone" in result.reason


def test_renumbered_records_after_a_deletion_are_caught(writer, journal_path):
    _fill(writer)
    _tamper(
        journal_path,
        "DELETE FROM journal_records WHERE seq = 6",
        "UPDATE journal_records SET seq = seq - 1 WHERE seq > 6",
    )
    assert _verify(journal_path).bad_seq == 6


def test_swapped_records_are_caught_at_the_first_swapped_seq(writer, journal_path):
    _fill(writer)
    _tamper(
        journal_path,
        "UPDATE journal_records SET seq = -1 WHERE seq = 3",
        "UPDATE journal_records SET seq = 3 WHERE seq = 7",
        "UPDATE journal_records SET seq = 7 WHERE seq = -1",
    )
    result = _verify(journal_path)
    assert result.bad_seq == 3


def test_swapped_contents_under_kept_seqs_are_caught(writer, journal_path):
    _fill(writer)
    columns = "id, ts, kind, data, prev_hash, hash"
    _tamper(
        journal_path,
        "CREATE TEMP TABLE a AS SELECT * FROM journal_records WHERE seq = 5",
        "CREATE TEMP TABLE b AS SELECT * FROM journal_records WHERE seq = 6",
        "DELETE FROM journal_records WHERE seq IN (5, 6)",
        f"INSERT INTO journal_records (seq, {columns}, actor) SELECT 5, {columns}, actor FROM b",
        f"INSERT INTO journal_records (seq, {columns}, actor) SELECT 6, {columns}, actor FROM a",
    )
    assert _verify(journal_path).bad_seq == 5


def test_garbage_in_a_field_is_reported_not_raised(writer, journal_path):
    _fill(writer)
    _tamper(journal_path, "UPDATE journal_records SET data = 'not json' WHERE seq = 2")
    result = _verify(journal_path)
    assert result.bad_seq == 2
    assert "not valid JSON" in result.reason


def test_vacuumed_journal_still_verifies(writer):
    _fill(writer)
    result = vacuum(writer, timedelta(seconds=1), now=at(6.5))
    assert result.removed == 6
    checked = verify(writer)
    assert checked.ok, checked.summary()
    assert checked.records == 5  # seq 7..10 and the tombstone
    assert checked.first_seq == 7
    assert checked.vacuumed_through == 6


def test_deleting_after_a_vacuum_is_still_caught(writer, journal_path):
    _fill(writer)
    vacuum(writer, timedelta(seconds=1), now=at(6.5))
    _tamper(journal_path, "DELETE FROM journal_records WHERE seq = 7")
    result = _verify(journal_path)
    assert result.bad_seq == 7
    assert "missing" in result.reason


def test_an_edited_tombstone_is_caught(writer, journal_path):
    _fill(writer)
    tombstone = vacuum(writer, timedelta(seconds=1), now=at(6.5)).tombstone
    data = dict(tombstone.data, removed_records=1)
    _tamper(
        journal_path,
        f"UPDATE journal_records SET data = '{json.dumps(data)}' WHERE seq = {tombstone.seq}",
    )
    result = _verify(journal_path)
    assert result.bad_seq == tombstone.seq


def test_a_deletion_hidden_by_a_recomputed_chain_is_still_a_missing_record(writer, journal_path):
    _fill(writer)
    _tamper(journal_path, "DELETE FROM journal_records WHERE seq = 6")
    rechain(journal_path, after=5)  # seq 7 now links to seq 5's hash
    result = _verify(journal_path)
    assert (result.ok, result.bad_seq) == (False, 6)
    assert "record(s) 6 missing: seq 7 follows seq 5" in result.reason


def test_the_first_kept_record_must_continue_from_the_tombstones_hash(writer, journal_path):
    _fill(writer)
    vacuum(writer, timedelta(seconds=1), now=at(6.5))
    # The first kept record claims another predecessor; everything is re-chained from it.
    _tamper(journal_path, f"UPDATE journal_records SET prev_hash = '{'ab' * 32}' WHERE seq = 7")
    rechain(journal_path)
    result = _verify(journal_path)
    assert (result.ok, result.bad_seq) == (False, 7)
    assert result.reason == (
        "prev_hash does not match the hash of seq 6 recorded by the journal.vacuumed tombstone"
    )


def test_a_gap_after_a_vacuum_is_named_where_it_is(writer, journal_path):
    _fill(writer)
    vacuum(writer, timedelta(seconds=1), now=at(6.5))
    _tamper(journal_path, "DELETE FROM journal_records WHERE seq = 9")
    result = _verify(journal_path)
    assert result.summary() == (
        "FAILED: seq 9: record(s) 9 missing: seq 10 follows seq 8 "
        "and no journal.vacuumed tombstone accounts for the gap"
    )
    assert (result.records, result.head_seq, result.vacuumed_through) == (2, 8, 6)


def test_a_tombstone_claiming_a_kept_record_accounts_for_no_gap(writer, journal_path):
    _fill(writer)
    tombstone = vacuum(writer, timedelta(seconds=1), now=at(6.5)).tombstone
    forge(journal_path, tombstone.seq, dict(tombstone.data, last_removed_seq=7))  # 7 is kept
    result = _verify(journal_path)
    assert (result.ok, result.bad_seq) == (False, 1)
    assert "record(s) 1..6 missing: seq 7 follows the start of the journal" in result.reason


@pytest.mark.parametrize("through", ["6", None, 6.0, True])
def test_a_tombstone_without_a_whole_last_removed_seq_fails_verify(writer, journal_path, through):
    _fill(writer)
    tombstone = vacuum(writer, timedelta(seconds=1), now=at(6.5)).tombstone
    forge(journal_path, tombstone.seq, dict(tombstone.data, last_removed_seq=through))
    result = _verify(journal_path)
    assert (result.ok, result.bad_seq) == (False, 1)
    assert "record(s) 1..6 missing: seq 7 follows the start of the journal" in result.reason


@pytest.mark.parametrize(
    "respell",
    [
        lambda ts: ts.replace("Z", "+00:00"),  # the same instant, another offset notation
        lambda ts: ts.replace(".000000", ""),  # no fractional digits
        lambda ts: ts.replace("Z", "z"),
    ],
    ids=["offset", "no-fraction", "lower-z"],
)
def test_a_rehashed_non_canonical_ts_is_reported(writer, journal_path, respell):
    _fill(writer)
    original = next(writer.read(after_seq=3, limit=1)).to_json()["ts"]
    assert original.endswith(".000000Z")
    _tamper(journal_path, f"UPDATE journal_records SET ts = '{respell(original)}' WHERE seq = 4")
    rechain(journal_path, after=3)
    result = _verify(journal_path)
    assert (result.ok, result.bad_seq) == (False, 4)
    assert f"ts '{respell(original)}' is not a canonical timestamp" in result.reason


@pytest.mark.parametrize(
    "stored",
    [
        '{"n":666,"n":3}',  # duplicate key: json keeps the last, SQL's json_extract the first
        '{"n": 3}',  # spacing
        '{"\\u006e":3}',  # an escape for a plain character
        '{"n":3.0e0}',  # another spelling of a number (3.0 is not 3 either)
    ],
    ids=["duplicate-key", "spacing", "escape", "number"],
)
def test_data_not_stored_as_its_canonical_text_is_named(writer, journal_path, stored):
    # The hash covers the canonical text of the parsed data. Stored text that
    # parses to the same value, hash and all, may still read otherwise in SQL.
    _fill(writer)
    _tamper(journal_path, f"UPDATE journal_records SET data = '{stored}' WHERE seq = 4")
    result = _verify(journal_path)
    assert (result.ok, result.bad_seq, result.records) == (False, 4, 3)
    assert "data is not stored as the canonical JSON its hash covers" in result.reason


def test_a_duplicate_key_reads_otherwise_in_sql_and_fails_verify(writer, journal_path):
    writer.append(kinds.OPERATOR_NOTE, data={"text": "rolled back by hand"}, ts=at(1))
    stored = '{"text":"EVIL","text":"rolled back by hand"}'
    _tamper(journal_path, f"UPDATE journal_records SET data = '{stored}' WHERE seq = 1")
    connection = sqlite3.connect(journal_path)
    try:
        (seen,) = connection.execute("SELECT json_extract(data, '$.text') FROM journal_records")
    finally:
        connection.close()
    assert seen == ("EVIL",)
    assert json.loads(stored) == {"text": "rolled back by hand"}  # what the hash covers
    assert _verify(journal_path).summary() == (
        "FAILED: seq 1: data is not stored as the canonical JSON its hash covers "
        "(record edited: duplicate keys, spacing or escapes)"
    )


@pytest.mark.parametrize(("deleted", "missing"), [("seq = 10", "10"), ("seq >= 8", "8..10")])
def test_records_deleted_from_the_end_are_named_by_the_seq_counter(
    writer, journal_path, deleted, missing
):
    # The chain alone cannot show a cut at the end; SQLite's AUTOINCREMENT
    # counter (sqlite_sequence), in the same file, still says seq 10 was stored.
    _fill(writer)
    _tamper(journal_path, f"DELETE FROM journal_records WHERE {deleted}")
    result = _verify(journal_path)
    last = int(missing.split("..")[0]) - 1
    assert result.summary() == (
        f"FAILED: seq {last + 1}: record(s) {missing} missing: the journal's seq counter "
        f"(sqlite_sequence) says seq 10 was stored, and the last record is seq {last} "
        "(records removed from the end)"
    )


def test_a_vacuum_of_every_record_leaves_no_false_cut(writer):
    _fill(writer)
    vacuum(writer, timedelta(seconds=1), now=at(100))
    assert verify(writer).summary().startswith("OK: 1 records")  # the tombstone, seq 11
    writer.append(kinds.WATCH_RELISTED, ts=at(101))
    assert verify(writer).summary().startswith("OK: 2 records")
