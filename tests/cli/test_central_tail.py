"""``tail -o json`` on a central journal names where shipped records came from.

``cluster``, ``stream`` and ``stream_seq`` are added only to shipped records:
the journal's own records, and every record of an embedded journal, keep
exactly the contract's twelve keys.
"""

from __future__ import annotations

import json

from journal import Journal, kinds
from journal.record import FIELDS
from journal.ship import ship
from tests.journal.builders import at


def _lines(outcome) -> list[dict]:
    assert outcome.code == 0, outcome.err
    return [json.loads(line) for line in outcome.out.splitlines()]


def test_shipped_records_carry_cluster_and_stream_only_in_the_central_journal(
    tmp_path, postgres_url, run
):
    source = tmp_path / "replica-0.db"
    with Journal.open(source, actor="helloworld-controller-0") as writer:
        for n in range(3):
            writer.append(kinds.OPERATOR_NOTE, namespace="shipshape", data={"n": n})
    embedded = _lines(run("tail", "--journal", source, "-o", "json"))
    assert [list(line) for line in embedded] == [list(FIELDS)] * 3
    with Journal.open(source, readonly=True) as reader, Journal.open(postgres_url, actor="c") as to:
        to.append(kinds.OPERATOR_NOTE, data={"text": "own"})
        stream = ship(reader, to, cluster="prod-eu").stream
    central = _lines(run("tail", "--journal", postgres_url, "-o", "json"))
    own = [line for line in central if line["actor"] == "c"]
    assert [line["kind"] for line in own] == [kinds.OPERATOR_NOTE, kinds.JOURNAL_SHIPPED]
    assert [list(line) for line in own] == [list(FIELDS)] * 2
    shipped = [line for line in central if line["actor"] != "c"]
    assert [list(line) for line in shipped] == [[*FIELDS, "cluster", "stream", "stream_seq"]] * 3
    assert [(r["cluster"], r["stream"], r["stream_seq"]) for r in shipped] == [
        ("prod-eu", stream, n) for n in (1, 2, 3)
    ]
    # Apart from those, a shipped record is its source's record.
    for copy, original in zip(shipped, embedded, strict=True):
        assert {k: v for k, v in copy.items() if k in FIELDS and k != "seq"} == {
            k: v for k, v in original.items() if k != "seq"
        }
    since = run(
        "tail", "--journal", postgres_url, "--cluster", "prod-eu", "--since", "-1h", "-o", "json"
    )
    assert [r["stream_seq"] for r in _lines(since)] == [1, 2, 3]


def test_tail_n_keeps_one_journals_seq_order_when_times_interleave(tmp_path, run):
    """Shipped streams interleave in time, not in seq: the last N come in seq order."""
    central = tmp_path / "central.db"
    for name, offset in (("prod-eu", 0), ("prod-us", 0.5)):
        source = tmp_path / f"{name}.db"
        with Journal.open(source, actor=f"{name}-controller-0") as writer:
            for n in range(4):
                writer.append(kinds.OPERATOR_NOTE, ts=at(n + offset), data={"n": n})
        with Journal.open(source, readonly=True) as reader, Journal.open(central, actor="c") as to:
            ship(reader, to, cluster=name)
    last = _lines(run("tail", "--journal", central, "-n", "6", "-o", "json"))
    # Each ship's journal.shipped record (seq 5, 10) follows the rows it copied.
    assert [line["seq"] for line in last] == [5, 6, 7, 8, 9, 10]
    after = _lines(run("tail", "--journal", central, "--after-cursor", "4", "-o", "json"))
    assert last == after
