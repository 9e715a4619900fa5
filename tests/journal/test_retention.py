"""Retention: vacuum removes an old prefix and leaves a verifiable tombstone."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import timedelta

import pytest

from journal import Entry, JournalValueError, kinds, snapshot, vacuum, verify
from journal.errors import JournalChainError
from journal.timefmt import utc_now
from journal.verify import verify_through
from tests.journal.builders import at


def _fill(journal, times):
    journal.append_many([Entry(kind=kinds.WATCH_RELISTED, ts=at(t)) for t in times])


def test_vacuum_removes_the_old_prefix_and_leaves_a_tombstone(writer):
    _fill(writer, range(10))
    removed_hash = next(writer.read(after_seq=5, limit=1)).hash
    result = vacuum(writer, timedelta(seconds=4), now=at(10))
    assert (result.removed, result.first_removed_seq, result.last_removed_seq) == (6, 1, 6)
    tombstone = result.tombstone
    assert tombstone.kind == kinds.JOURNAL_VACUUMED
    assert tombstone.seq == 11
    assert tombstone.data["last_removed_seq"] == 6
    assert tombstone.data["last_removed_hash"] == removed_hash
    assert tombstone.data["removed_records"] == 6
    assert tombstone.data["cutoff"] == "2026-11-26T10:00:06.000000Z"
    assert [r.seq for r in writer.read()] == [7, 8, 9, 10, 11]
    assert next(writer.read(limit=1)).prev_hash == removed_hash
    assert "removed 6 records (seq 1..6)" in result.summary()
    assert verify(writer).ok


def test_nothing_old_enough_writes_no_tombstone(writer):
    _fill(writer, range(3))
    result = vacuum(writer, timedelta(days=1), now=at(10))
    assert result.removed == 0 and result.tombstone is None
    assert writer.count() == 3
    assert "nothing to remove" in result.summary()


def test_a_younger_record_stops_the_prefix(writer):
    # A clock stepped back: seq 3 is older than seq 2. The kept records stay contiguous.
    _fill(writer, [1, 50, 2, 3])
    result = vacuum(writer, timedelta(seconds=10), now=at(40))
    assert result.removed == 1
    assert [r.seq for r in writer.read()] == [2, 3, 4, 5]
    assert verify(writer).ok


def test_vacuuming_everything_keeps_the_chain(writer):
    _fill(writer, range(5))
    result = vacuum(writer, timedelta(seconds=1), now=at(100))
    assert result.removed == 5
    assert [r.kind for r in writer.read()] == [kinds.JOURNAL_VACUUMED]
    writer.append(kinds.OPERATOR_NOTE, data={"text": "after"})
    assert verify(writer).ok


def test_repeated_vacuums_verify(writer):
    _fill(writer, range(10))
    vacuum(writer, timedelta(seconds=5), now=at(8))
    _fill(writer, range(10, 20))
    second = vacuum(writer, timedelta(seconds=5), now=at(18))
    assert second.first_removed_seq == 4
    checked = verify(writer)
    assert checked.ok, checked.summary()
    assert checked.vacuumed_through == second.last_removed_seq


def test_vacuum_needs_a_positive_age(writer):
    with pytest.raises(JournalValueError):
        vacuum(writer, timedelta(0))


def test_seq_keeps_rising_after_vacuum_removed_every_record(writer):
    # The tombstone follows the last removed seq: no seq is handed out twice.
    _fill(writer, range(24))
    result = vacuum(writer, timedelta(seconds=1), now=at(100))
    assert result.removed == 24
    assert result.tombstone.seq == 25
    assert "tombstone at seq 25" in result.summary()
    after = writer.append(kinds.OPERATOR_NOTE, data={"text": "after"})
    assert after.seq == 26
    assert [r.seq for r in writer.read()] == [25, 26]
    check = verify(writer)
    assert check.ok, check.summary()
    assert (check.first_seq, check.head_seq, check.vacuumed_through) == (25, 26, 24)


def test_seq_keeps_rising_over_repeated_full_vacuums(writer):
    _fill(writer, range(3))
    vacuum(writer, timedelta(seconds=1), now=at(100))  # tombstone 4
    # The tombstone is stamped with the current time: a later "now" removes it too.
    second = vacuum(writer, timedelta(seconds=1), now=utc_now() + timedelta(days=1))
    assert (second.first_removed_seq, second.last_removed_seq, second.tombstone.seq) == (4, 4, 5)
    assert writer.append(kinds.OPERATOR_NOTE, data={"text": "x"}).seq == 6
    assert verify(writer).ok


def test_seq_is_not_reused_after_records_are_deleted_behind_the_journal(writer, journal_path):
    # The high-water mark lives in the database file: a deletion without a
    # tombstone does not make seqs free again, and verify shows the removal.
    _fill(writer, range(4))
    with sqlite3.connect(journal_path) as connection:
        connection.execute("DELETE FROM journal_records")
    assert writer.append(kinds.OPERATOR_NOTE, data={"text": "x"}).seq == 5
    check = verify(writer)
    assert not check.ok
    assert "record(s) 1..4 missing: seq 5 follows" in check.reason


def test_a_vacuum_after_a_cut_at_the_end_does_not_number_over_it(writer, journal_path):
    _fill(writer, range(5))
    with sqlite3.connect(journal_path) as connection:
        connection.execute("DELETE FROM journal_records WHERE seq = 5")
    result = vacuum(writer, timedelta(seconds=1), now=at(100))
    assert (result.last_removed_seq, result.tombstone.seq) == (4, 6), "seq 5 stays unused"
    check = verify(writer)
    assert not check.ok and check.bad_seq == 5, check.reason
    assert "record(s) 5 missing" in check.reason


def test_seq_survives_backup_and_restore(writer, journal_path, tmp_path, open_journal):
    _fill(writer, range(6))
    vacuum(writer, timedelta(seconds=1), now=at(100))  # tombstone 7
    backup = tmp_path / "backup.db"
    snapshot(writer, backup)
    writer.close()
    restored = tmp_path / "restored.db"
    shutil.copyfile(backup, restored)
    again = open_journal(restored, actor="restored")
    assert again.append(kinds.OPERATOR_NOTE, data={"text": "after restore"}).seq == 8
    assert verify(again).ok


@pytest.mark.parametrize(
    ("deleted", "through"),
    [
        (5, 6),  # inside the range to remove
        (7, 6),  # the first record vacuum would keep: its link to the last removed one
        (3, 8),  # everything goes
    ],
)
def test_vacuum_refuses_to_remove_a_range_that_does_not_verify(
    writer, journal_path, deleted, through
):
    # A tombstone vouches for what it removes: a broken range must not be
    # laundered into one that verifies. Nothing is removed.
    _fill(writer, range(8))
    with sqlite3.connect(journal_path) as connection:
        connection.execute("DELETE FROM journal_records WHERE seq = ?", (deleted,))
    with pytest.raises(JournalChainError, match=rf"seq {deleted}: record\(s\) {deleted} missing"):
        vacuum(writer, timedelta(seconds=100 - through), now=at(100))  # seq 1..through
    assert [r.seq for r in writer.read()] == [s for s in range(1, 9) if s != deleted]
    assert not verify(writer).ok


def test_vacuum_refuses_an_edited_record_it_would_remove(writer, journal_path):
    _fill(writer, range(8))
    with sqlite3.connect(journal_path) as connection:
        connection.execute("DROP TRIGGER IF EXISTS journal_records_no_update")
        connection.execute("UPDATE journal_records SET actor = 'mallory' WHERE seq = 2")
    with pytest.raises(JournalChainError, match="seq 2: hash does not match"):
        vacuum(writer, timedelta(seconds=2), now=at(8))
    assert writer.count() == 8


def test_vacuum_checks_the_removed_range_page_by_page_after_an_earlier_vacuum(writer):
    # A second vacuum walks from the first tombstone's anchor, across pages.
    _fill(writer, range(10))
    vacuum(writer, timedelta(seconds=5), now=at(8))
    _fill(writer, range(10, 20))
    with writer.transaction() as connection:
        checked = verify_through(connection, 20, page_size=3)
    assert checked.ok, checked.summary()
    assert checked.vacuumed_through == 3
