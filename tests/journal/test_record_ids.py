"""Record ids are time-ordered UUIDs (version 7), so the id index grows at its end."""

from __future__ import annotations

import time
import uuid

from journal import Journal
from journal.record import new_record_id


def test_an_id_is_a_version_7_uuid_carrying_the_millisecond_it_was_made():
    before = time.time_ns() // 1_000_000
    text = new_record_id()
    after = time.time_ns() // 1_000_000
    made = uuid.UUID(text)
    assert text == str(made)  # the canonical text: lower case, dashed
    assert made.version == 7
    assert made.variant == uuid.RFC_4122
    assert before <= made.int >> 80 <= after


def test_ids_differ_within_one_millisecond():
    ids = [new_record_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)


def test_the_journal_gives_its_records_ids_that_grow_with_time(tmp_path):
    journal = Journal.open(str(tmp_path / "journal.db"), actor="test")
    try:
        first = journal.append("operator.note", data={"text": "one"})
        time.sleep(0.002)  # another millisecond
        second = journal.append("operator.note", data={"text": "two"})
        assert uuid.UUID(first.id).version == uuid.UUID(second.id).version == 7
        assert first.id < second.id
        assert [r.id for r in journal.read()] == [first.id, second.id]
    finally:
        journal.close()
