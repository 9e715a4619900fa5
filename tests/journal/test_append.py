"""Appending: what a record holds, the chain, invalid input, locks and full disks."""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from journal import (
    GENESIS,
    Entry,
    Journal,
    JournalBusyError,
    JournalValueError,
    JournalWriteError,
    Record,
    kinds,
    record_hash,
    verify,
)
from journal.chain import canonical_json, record_hash_of_text
from tests.journal.builders import at


def test_append_returns_the_committed_record(writer):
    record = writer.append(
        kinds.RESTART_PLANNED,
        namespace="shipshape",
        object="deployment/helloworld-test",
        correlation_id="8c0f1a2b-0000-4000-8000-000000000001",
        leader_epoch=3,
        data={"configmap": "helloworld-config-test", "data_hash": "ab" * 32},
        ts=datetime(2026, 11, 26, 11, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1))),
    )
    assert isinstance(record, Record)
    assert record.seq == 1
    assert record.prev_hash == GENESIS
    assert record.actor == "helloworld-controller-0"
    assert record.ts == datetime(2026, 11, 26, 10, 0, 0, 123456, tzinfo=UTC)
    assert list(writer.read()) == [record]
    assert writer.head() == (1, record.hash)


def test_to_json_has_exactly_the_contract_fields(writer):
    record = writer.append(kinds.OPERATOR_NOTE, data={"text": "ü"}, ts=at(0.5))
    obj = record.to_json()
    assert list(obj) == [
        "seq", "id", "ts", "kind", "namespace", "object", "correlation_id",
        "actor", "leader_epoch", "data", "prev_hash", "hash",
    ]  # fmt: skip
    assert obj["ts"] == "2026-11-26T10:00:00.500000Z"
    assert obj["data"] == {"text": "ü"}


def test_hash_covers_the_canonical_form_of_the_json_object(writer):
    record = writer.append(kinds.WATCH_ERROR, data={"b": 1, "a": [True, None, 2.5]})
    obj = record.to_json()
    digest = obj.pop("hash")
    assert record_hash(**obj) == digest
    # The documented recipe: sorted keys, no spaces, UTF-8.
    import hashlib

    canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert hashlib.sha256(canonical.encode()).hexdigest() == digest


@pytest.mark.parametrize(
    ("namespace", "obj", "correlation", "epoch", "data"),
    [
        (None, None, None, None, {}),
        ("shipshape", "configmap/a", "c-1", 0, {"b": 1, "a": [True, None, 2.5, -0.0]}),
        ("ns-ü", 'we"ird\\name', "ü\u2028", 7, {"z": {"y": "\u00e9\n\t", "x": [1e300, {}]}}),
        ("n", "o", "c", 2**62, {"emoji": "\U0001f680", "ctl": "\x00\x1f", "": ""}),
    ],
)
def test_the_writers_hash_from_canonical_data_text_equals_the_documented_hash(
    namespace, obj, correlation, epoch, data
):
    fields = {
        "seq": 42,
        "id": "4f1c5a3e-0000-4000-8000-000000000000",
        "ts": "2026-11-26T10:00:00.123456Z",
        "kind": kinds.OPERATOR_NOTE,
        "namespace": namespace,
        "object": obj,
        "correlation_id": correlation,
        "actor": "cli:ü",
        "leader_epoch": epoch,
        "prev_hash": GENESIS,
    }
    text = record_hash_of_text(**fields, data_text=canonical_json(data))
    assert text == record_hash(**fields, data=data)


def test_records_chain_in_seq_order(writer):
    records = [writer.append(kinds.WATCH_RELISTED, data={"n": n}) for n in range(5)]
    assert [r.seq for r in records] == [1, 2, 3, 4, 5]
    for previous, current in itertools.pairwise(records):
        assert current.prev_hash == previous.hash
    assert writer.head() == (5, records[-1].hash)


def test_empty_journal_head_is_genesis(writer):
    assert writer.head() == (0, GENESIS)
    assert writer.first_seq() is None
    assert list(writer.read()) == []


def test_ts_defaults_to_now_in_utc(writer):
    before = datetime.now(UTC)
    record = writer.append(kinds.CONTROLLER_STARTED)
    assert before - timedelta(seconds=1) <= record.ts <= datetime.now(UTC)
    assert record.ts.tzinfo == UTC


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "Restart.Planned"}, "invalid kind"),
        ({"kind": "restart"}, "invalid kind"),
        ({"kind": kinds.OPERATOR_NOTE, "data": {"values": {1, 2}}}, "not valid JSON"),
        ({"kind": kinds.OPERATOR_NOTE, "data": {"x": float("nan")}}, "not valid JSON"),
        ({"kind": kinds.OPERATOR_NOTE, "data": ["not", "an", "object"]}, "JSON object"),
        ({"kind": kinds.OPERATOR_NOTE, "data": {"text": "\ud800"}}, "not valid JSON"),
        ({"kind": kinds.OPERATOR_NOTE, "leader_epoch": True}, "leader_epoch"),
        ({"kind": kinds.OPERATOR_NOTE, "leader_epoch": -1}, "leader_epoch"),
        ({"kind": kinds.OPERATOR_NOTE, "namespace": ""}, "namespace"),
        ({"kind": kinds.OPERATOR_NOTE, "object": "x" * 400}, "object is longer"),
        ({"kind": kinds.OPERATOR_NOTE, "ts": datetime(2026, 1, 1)}, "aware"),
    ],
)
def test_invalid_fields_are_refused_and_nothing_is_written(writer, fields, message):
    writer.append(kinds.OPERATOR_NOTE, data={"text": "first"})
    kind = fields.pop("kind")
    with pytest.raises(JournalValueError, match=message):
        writer.append(kind, **fields)
    assert writer.count() == 1
    assert verify(writer).ok


def test_append_many_is_all_or_nothing(writer):
    good = Entry(kind=kinds.WATCH_STARTED, data={"n": 1})
    bad = Entry(kind=kinds.WATCH_STARTED, data={"n": object()})
    with pytest.raises(JournalValueError):
        writer.append_many([good, bad])
    assert writer.count() == 0
    records = writer.append_many([good, good])
    assert [r.seq for r in records] == [1, 2]
    assert records[1].prev_hash == records[0].hash


def test_write_many_appends_what_append_many_would_and_counts_it(writer):
    entries = [
        Entry(
            kind=kinds.CONFIGMAP_OBSERVED,
            namespace="bench-01",
            object="configmap/cm-040",
            correlation_id="8c0f1a2b-0000-4000-8000-000000000001",
            leader_epoch=2,
            data={"keys": ("N",), "n": 1.5, "text": "ü"},
            ts=at(0.25),
        ),
        Entry(kind=kinds.DEBOUNCE_SKIPPED, data={"reason": "no-target"}, ts=at(0.25)),
    ]
    returned = writer.append_many(entries[:1])
    assert writer.write_many(entries) == 2
    assert writer.write_many([]) == 0
    first, second, third = writer.read()
    assert first == returned[0]
    # The same fields, read back exactly as append_many returns them.
    same = ("ts", "kind", "namespace", "object", "correlation_id", "leader_epoch", "data")
    assert [getattr(second, name) for name in same] == [getattr(first, name) for name in same]
    assert second.data == {"keys": ["N"], "n": 1.5, "text": "ü"}
    assert (second.seq, third.seq, second.prev_hash, third.prev_hash) == (
        2, 3, first.hash, second.hash
    )  # fmt: skip
    assert third.data == {"reason": "no-target"}
    assert verify(writer).ok


def test_write_many_is_all_or_nothing(writer):
    good = Entry(kind=kinds.WATCH_STARTED, data={"n": 1})
    with pytest.raises(JournalValueError, match="namespace is longer"):
        writer.write_many([good, Entry(kind=kinds.WATCH_STARTED, namespace="n" * 254)])
    with pytest.raises(JournalValueError, match="lone surrogate"):
        writer.write_many([good, Entry(kind=kinds.WATCH_STARTED, object="configmap/\ud800")])
    assert writer.count() == 0


def test_a_writer_needs_an_actor(journal_path):
    with pytest.raises(JournalValueError, match="actor"):
        Journal.open(journal_path)
    assert not journal_path.exists()


def test_a_reader_cannot_append(writer, journal_path, open_journal):
    reader = open_journal(journal_path, readonly=True)
    with pytest.raises(JournalWriteError, match="read-only"):
        reader.append(kinds.OPERATOR_NOTE)


def test_append_fails_cleanly_when_locked_past_the_busy_timeout(journal_path, open_journal):
    writer = open_journal(journal_path, actor="test", busy_timeout=0.2)
    writer.append(kinds.OPERATOR_NOTE, data={"text": "before"})
    holder = sqlite3.connect(journal_path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        with pytest.raises(JournalBusyError, match=r"locked .* 0\.2 s busy timeout") as raised:
            writer.append(kinds.OPERATOR_NOTE, data={"text": "blocked"})
        assert time.monotonic() - started >= 0.15
        assert isinstance(raised.value, JournalWriteError)
        holder.execute("ROLLBACK")
    finally:
        holder.close()
    writer.append(kinds.OPERATOR_NOTE, data={"text": "after"})
    assert [r.data["text"] for r in writer.read()] == ["before", "after"]
    assert verify(writer).ok


def test_append_waits_for_a_short_lock(journal_path, open_journal):
    writer = open_journal(journal_path, actor="test", busy_timeout=10)
    writer.append(kinds.OPERATOR_NOTE)
    holder = sqlite3.connect(journal_path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    releaser = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    releaser.start()
    try:
        record = writer.append(kinds.OPERATOR_NOTE, data={"text": "waited"})
    finally:
        releaser.join()
        holder.close()
    assert record.seq == 2


def test_a_full_disk_fails_the_append_and_keeps_the_chain(writer):
    with writer.transaction() as connection:
        pages = connection.exec_driver_sql("PRAGMA page_count").scalar()
        # Let the file grow by a few pages only: SQLITE_FULL soon after.
        connection.exec_driver_sql(f"PRAGMA max_page_count = {pages + 4}")
    written = 0
    with pytest.raises(JournalWriteError, match="full"):
        for n in range(1000):
            writer.append(kinds.WATCH_ERROR, data={"n": n, "pad": "x" * 2000})
            written += 1
    assert 0 < written < 1000
    assert writer.count() == written
    result = verify(writer)
    assert result.ok and result.records == written


def test_threads_share_one_writer(writer):
    def work(name: str) -> None:
        for n in range(25):
            writer.append(kinds.WATCH_RELISTED, data={"thread": name, "n": n})

    threads = [threading.Thread(target=work, args=(str(t),)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = verify(writer)
    assert result.ok and result.records == 100
    assert [r.seq for r in writer.read()] == list(range(1, 101))


def test_closed_journal_says_so(writer):
    writer.close()
    with pytest.raises(Exception, match="closed"):
        writer.append(kinds.OPERATOR_NOTE)
