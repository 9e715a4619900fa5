"""Retention: vacuum removes an old prefix and leaves a verifiable tombstone."""

from __future__ import annotations

from datetime import timedelta

import pytest

from journal import Entry, JournalValueError, kinds, vacuum, verify
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
