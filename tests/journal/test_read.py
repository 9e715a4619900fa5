"""Reading: filters, cursors, streaming in pages with short transactions, merging."""

from __future__ import annotations

import sqlite3
import tracemalloc

import pytest

from journal import (
    Entry,
    Filters,
    Journal,
    JournalValueError,
    Tail,
    kinds,
    merged_last,
    merged_records,
)
from journal.reading import row_to_record
from journal.ship import ship
from tests.journal.builders import Controller, at


@pytest.fixture
def history(controller: Controller) -> dict[str, str]:
    """Two changes to two ConfigMaps and some noise; returns their correlation ids."""
    controller.started(0)
    controller.acquired(1, epoch=3)
    test = controller.restart_chain(10, "helloworld-config-test", "helloworld-test", "a")
    prod = controller.restart_chain(100, "helloworld-config-prod", "helloworld-prod", "b")
    controller.journal.append(kinds.WATCH_RELISTED, ts=at(200))
    return {"test": test, "prod": prod}


def _kinds(records) -> list[str]:
    return [record.kind for record in records]


def test_area_filter_matches_every_kind_of_the_area(writer, history):
    assert (
        _kinds(writer.read(kinds=("restart",)))
        == [
            "restart.planned",
            "restart.patched",
        ]
        * 2
    )
    assert _kinds(writer.read(kinds=("restart.patched", "leader"))) == [
        "leader.acquired",
        "restart.patched",
        "restart.patched",
    ]


def test_object_filter_takes_a_full_or_bare_name(writer, history):
    full = list(writer.read(object="deployment/helloworld-test"))
    assert {r.object for r in full} == {"deployment/helloworld-test"}
    assert len(full) == 3
    bare = list(writer.read(object="helloworld-config-test"))
    assert {r.object for r in bare} == {"configmap/helloworld-config-test"}


def test_correlation_filter_takes_an_id_or_a_prefix(writer, history):
    chain = list(writer.read(correlation_id=history["test"]))
    assert _kinds(chain) == [
        "configmap.observed",
        "debounce.scheduled",
        "restart.planned",
        "restart.patched",
        "rollout.completed",
    ]
    assert list(writer.read(correlation_id=history["test"][:8])) == chain


@pytest.mark.parametrize(
    "prefix",
    ["c-\U0010ffff", "\U0010ffff", "c-\U0010ffff\U0010ffff", "c-\ud7ff", "c-\ud7ff\U0010ffff"],
)
def test_correlation_prefix_ending_at_the_edges_of_unicode(writer, prefix):
    # The prefix's upper bound is its last character plus one code point:
    # past U+10FFFF there is none, and U+D7FF + 1 is a surrogate.
    ids = [
        "c-\ud7ff",
        "c-\ud7ff-1",
        "c-\ud7ff\U0010ffff-2",
        "c-\ue000",
        "c-\U0010ffff",
        "c-\U0010ffff-3",
        "c-\U0010ffff\U0010ffff-4",
        "\U0010ffff-5",
        "d",
    ]
    for corr in ids:
        writer.append(kinds.OPERATOR_NOTE, correlation_id=corr, data={"text": corr})
    found = [record.correlation_id for record in writer.read(correlation_id=prefix)]
    assert found == [corr for corr in ids if corr.startswith(prefix)]
    assert found


def test_time_window(writer, history):
    window = list(writer.read(since=at(99), until=at(106)))
    assert [r.ts for r in window] == [at(100), at(100.01), at(105), at(105.5)]


def test_since_reaches_records_written_out_of_time_order(writer):
    # A clock stepped back: seq order and time order disagree.
    writer.append(kinds.WATCH_STARTED, ts=at(50))
    writer.append(kinds.WATCH_ERROR, ts=at(10))
    writer.append(kinds.WATCH_RELISTED, ts=at(60))
    assert _kinds(writer.read(since=at(40))) == ["watch.started", "watch.relisted"]
    assert _kinds(writer.read(until=at(20))) == ["watch.error"]


def test_cursor_and_limit(writer, history):
    seqs = [r.seq for r in writer.read(after_seq=5, limit=3)]
    assert seqs == [6, 7, 8]
    assert [r.seq for r in writer.last(2)] == [12, 13]
    assert [r.seq for r in writer.last(2, Filters(kinds=("restart",)))] == [10, 11]


def test_a_namespace_filter_keeps_the_areas_it_is_told_to_in_sql_and_in_memory(writer):
    here, app = Controller(writer), Controller(writer, namespace="app")
    here.started(0)
    here.acquired(1, epoch=1)
    app.restart_chain(10, "cm", "web", "v2")
    writer.append(kinds.WATCH_RELISTED, ts=at(20))  # the controller's own, not kept
    keeping = Filters(namespace="app", namespace_keeps=("controller", "leader"))
    selected = [row_to_record(row) for row in writer.scan(keeping)]
    assert _kinds(selected) == [
        "controller.started",
        "leader.acquired",
        *_kinds(writer.read(namespace="app")),
    ]
    everything = list(writer.read())
    assert [r for r in everything if keeping.matches(r)] == selected
    assert [r for r in everything if Filters(namespace="app").matches(r)] == list(
        writer.read(namespace="app")
    )
    with pytest.raises(JournalValueError, match="namespace_keeps must be a sequence"):
        Filters(namespace="app", namespace_keeps="leader")


def test_invalid_filters_are_refused():
    with pytest.raises(JournalValueError, match="after --until"):
        Filters(since=at(10), until=at(5))
    with pytest.raises(JournalValueError, match="invalid kind filter"):
        Filters(kinds=("Restart!",))
    with pytest.raises(JournalValueError, match="time zone"):
        Filters(since=at(0).replace(tzinfo=None))


def test_read_streams_in_pages_and_sees_later_appends(writer):
    writer.append_many([Entry(kind=kinds.WATCH_RELISTED, data={"n": n}) for n in range(25)])
    stream = writer.read(page_size=10)
    first = [next(stream) for _ in range(10)]
    writer.append(kinds.WATCH_ERROR)
    rest = list(stream)
    assert [r.seq for r in first + rest] == list(range(1, 27))


def test_a_paused_reader_holds_no_read_transaction(writer, journal_path, open_journal):
    """Between pages nothing pins the WAL: a full checkpoint succeeds."""
    writer.append_many([Entry(kind=kinds.WATCH_RELISTED, data={"n": n}) for n in range(30)])
    reader = open_journal(journal_path, readonly=True)
    stream = reader.read(page_size=10)
    next(stream)
    writer.append_many([Entry(kind=kinds.WATCH_ERROR) for _ in range(5)])
    checkpointer = sqlite3.connect(journal_path, isolation_level=None)
    try:
        busy, _log, _done = checkpointer.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        checkpointer.close()
    assert busy == 0
    assert sum(1 for _ in stream) == 34


def test_reading_holds_one_page_in_memory(writer):
    big = "x" * 1000
    for chunk in range(4):
        writer.append_many(
            [Entry(kind=kinds.WATCH_ERROR, data={"pad": big, "c": chunk}) for _ in range(1000)]
        )
    tracemalloc.start()
    try:
        count = 0
        for _record in writer.read(page_size=100):
            count += 1
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 4000
    # 4,000 records of >1 KB would need >4 MB at once; a page of 100 about 0.2 MB.
    assert peak < 1_500_000


def test_merged_records_interleave_replicas_by_time(tmp_path, open_journal):
    zero = open_journal(tmp_path / "zero.db", actor="helloworld-controller-0")
    one = open_journal(tmp_path / "one.db", actor="helloworld-controller-1")
    for t in (1, 4, 5):
        zero.append(kinds.WATCH_RELISTED, ts=at(t))
    for t in (2, 3, 6):
        one.append(kinds.WATCH_RELISTED, ts=at(t))
    merged = list(merged_records([zero, one], Filters()))
    assert [(index, r.ts) for index, r in merged] == [
        (0, at(1)),
        (1, at(2)),
        (1, at(3)),
        (0, at(4)),
        (0, at(5)),
        (1, at(6)),
    ]
    assert [(i, r.seq) for i, r in merged_last([zero, one], Filters(), 2)] == [(0, 3), (1, 3)]


def _notes_among_relists(journal, *texts: str | None) -> None:
    """Append an operator.note per text, a watch.relisted per ``None``."""
    for text in texts:
        if text is None:
            journal.append(kinds.WATCH_RELISTED)
        else:
            journal.append(kinds.OPERATOR_NOTE, data={"text": text})


@pytest.mark.parametrize("lines", [None, 5])
def test_a_read_cursor_moves_past_records_the_filter_skips(
    writer, journal_path, open_journal, lines
):
    _notes_among_relists(writer, "one", None, "two", None, None)
    tail = Tail(
        [open_journal(journal_path, readonly=True)], Filters(kinds=("operator",)), lines=lines
    )
    assert [r.data["text"] for _, r in tail.records()] == ["one", "two"]
    assert tail.positions == [5], "the next read starts after the head, not at seq 3"


def test_a_following_cursor_moves_past_records_the_filter_skips(writer, journal_path, open_journal):
    _notes_among_relists(writer, "before", None)
    tail = Tail([open_journal(journal_path, readonly=True)], Filters(kinds=("operator",)))
    records = tail.records(follow=True)
    assert next(records)[1].seq == 1
    _notes_among_relists(writer, None, None, "while following", None, None)
    assert next(records)[1].seq == 5
    tail.stop.set()
    assert list(records) == []
    assert tail.positions == [7], "a poll judged seqs 6 and 7: the cursor is past them"


def test_the_highest_epoch_counts_terms_led_and_seen_but_not_shipped_streams(tmp_path):
    """What a controller starting on a journal numbers its terms above (a Lease
    deleted meanwhile starts counting at 0 again)."""
    own = tmp_path / "replica.db"
    with Journal.open(own, actor="helloworld-controller-0") as journal:
        assert journal.highest_epoch() is None
        journal.append(kinds.LEADER_ACQUIRED, leader_epoch=3, data={"epoch": 3})
        journal.append(kinds.RESTART_PLANNED, leader_epoch=4, data={"attempt": 1})
        assert journal.highest_epoch() == 4
        # A standby's record: stamped with no epoch, the holder's term in its data.
        journal.append(
            kinds.LEADER_OBSERVED, data={"holder": "helloworld-controller-1", "epoch": 6}
        )
        journal.append(kinds.LEADER_LOST, data={"epoch": 5, "reason": "renew-deadline"})
        assert journal.highest_epoch() == 6
    other = tmp_path / "other-cluster.db"
    with Journal.open(other, actor="eu-controller-0") as journal:
        journal.append(kinds.LEADER_ACQUIRED, leader_epoch=40, data={"epoch": 40})
        journal.append(kinds.LEADER_OBSERVED, data={"holder": "eu-controller-1", "epoch": 41})
    with Journal.open(other, readonly=True) as source, Journal.open(own, actor="c") as central:
        ship(source, central, cluster="prod-eu")
        assert central.highest_epoch() == 6, "another cluster's terms are not this one's"
