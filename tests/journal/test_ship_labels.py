"""A shipped record's ``cluster`` and ``stream`` labels are vouched for by ``journal.shipped``.

The labels are outside a shipped record's hash; ``ship`` states them in the
central journal's own chain, and ``verify`` holds every shipped row to that.
A forger editing the labels in the database is caught; a central journal
shipped before (no statements) still verifies, saying its labels are not
vouched for.
"""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import func, insert, select

from cli.signing import verdict
from journal import Journal, kinds, verify
from journal.filters import Filters
from journal.models import records
from journal.scoped import scoped_snapshot
from journal.ship import _COPIED, _SOURCE_COLUMNS, ship


def _fill(path, n: int, actor: str) -> None:
    with Journal.open(path, actor=actor) as journal:
        for index in range(n):
            journal.append(
                kinds.CONFIGMAP_OBSERVED,
                namespace="shipshape",
                object="configmap/helloworld-config",
                data={"event_type": "MODIFIED", "n": index},
            )


def _url(engine: str, tmp_path, request) -> str:
    if engine == "sqlite":
        return str(tmp_path / "central.db")
    return request.getfixturevalue("postgres_url")


def _forge(url: str, statement: str, request) -> None:
    """Run an UPDATE or DELETE on the central journal as a forger with database access."""
    if url.startswith("postgresql"):
        server = request.getfixturevalue("postgres_server")
        database = url.rsplit("/", 1)[1]
        server.sql(
            "ALTER TABLE journal_records DISABLE TRIGGER journal_records_no_update", database
        )
        server.sql(statement, database)
        return
    with sqlite3.connect(url) as connection:
        connection.execute("DROP TRIGGER IF EXISTS journal_records_no_update")
        connection.execute(statement)


def _two_clusters(tmp_path, url: str) -> dict[str, str]:
    """Ship a 6-record EU journal and a 4-record US one; return each cluster's stream."""
    streams = {}
    for cluster, count in (("prod-eu", 6), ("prod-us", 4)):
        source = tmp_path / f"{cluster}.db"
        _fill(source, count, actor=f"{cluster}-controller-0")
        with (
            Journal.open(source, readonly=True) as reader,
            Journal.open(url, actor="cli:ops") as to,
        ):
            streams[cluster] = ship(reader, to, cluster=cluster, batch_size=4).stream
    return streams


def _verified(url: str):
    with Journal.open(url, readonly=True) as reader:
        return verify(reader)


def _forged(tmp_path, engine: str, request, statement: str):
    """Ship two clusters, run ``statement`` as a forger; return (url, streams, verify result)."""
    url = _url(engine, tmp_path, request)
    streams = _two_clusters(tmp_path, url)
    _forge(url, statement, request)
    return url, streams, _verified(url)


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_an_untouched_central_journal_verifies_with_its_labels_vouched_for(
    tmp_path, engine, request
):
    url = _url(engine, tmp_path, request)
    streams = _two_clusters(tmp_path, url)
    with Journal.open(url, readonly=True) as reader:
        stated = [
            (
                r.data["stream"],
                r.data["cluster"],
                r.data["first_stream_seq"],
                r.data["last_stream_seq"],
            )
            for r in reader.read(kinds=(kinds.JOURNAL_SHIPPED,))
        ]
        # One statement per transaction that copied records (batches of 4).
        assert stated == [
            (streams["prod-eu"], "prod-eu", 1, 4),
            (streams["prod-eu"], "prod-eu", 5, 6),
            (streams["prod-us"], "prod-us", 1, 4),
        ]
        (last,) = reader.last(1, Filters(stream=streams["prod-us"]))
        (statement,) = reader.last(1, Filters(kinds=(kinds.JOURNAL_SHIPPED,)))
        assert statement.data["last_hash"] == last.hash
        assert statement.data["actors"] == ["prod-us-controller-0"]
        assert statement.actor == "cli:ops"
        ok, lines = verdict(reader, [], require_signed=False)
    assert ok, lines
    assert lines.splitlines() == [
        f"OK: 13 records, head {statement.hash} "
        "(own chain: 3 records; 2 shipped streams: 10 records)"
    ]


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_two_clusters_labels_swapped_in_the_database_fail_verify(tmp_path, engine, request):
    url, streams, result = _forged(
        tmp_path,
        engine,
        request,
        "UPDATE journal_records SET cluster = CASE cluster WHEN 'prod-eu' THEN 'prod-us' "
        "ELSE 'prod-eu' END WHERE stream IS NOT NULL",
    )
    assert not result.ok
    assert result.reason == (
        f"stream {streams['prod-eu']}: stream seq 1..6 labelled cluster prod-us, "
        "but the journal.shipped records say cluster prod-eu"
    )
    assert result.bad_seq == 1
    # The same with the stream names swapped too: the stated last hashes differ.
    eu, us = streams["prod-eu"], streams["prod-us"]
    for old, new in ((eu, "x"), (us, eu), ("x", us)):  # one at a time: (stream, seq) is unique
        _forge(url, f"UPDATE journal_records SET stream = '{new}' WHERE stream = '{old}'", request)
    renamed = _verified(url)
    assert not renamed.ok
    assert "moved from another stream" in renamed.reason, renamed.reason


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_one_relabelled_row_fails_verify_naming_it(tmp_path, engine, request):
    _, streams, result = _forged(
        tmp_path,
        engine,
        request,
        "UPDATE journal_records SET cluster = 'prod-us' "
        "WHERE cluster = 'prod-eu' AND stream_seq = 5",
    )
    assert not result.ok
    assert result.summary() == (
        f"FAILED: seq 6: stream {streams['prod-eu']}: stream seq 5 labelled cluster prod-us, "
        "but the journal.shipped records say cluster prod-eu"
    )


def test_a_removed_last_shipped_record_fails_verify(tmp_path):
    _, streams, result = _forged(
        tmp_path,
        "sqlite",
        None,
        "DELETE FROM journal_records WHERE cluster = 'prod-us' AND stream_seq = 4",
    )
    assert not result.ok
    assert result.reason == (
        f"stream {streams['prod-us']}: the journal.shipped record at seq 13 says stream seq "
        "1..4 was shipped, but stream seq 4 is missing"
    )


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_whole_stream_deleted_from_a_central_journal_fails_verify(tmp_path, engine, request):
    _, streams, result = _forged(
        tmp_path, engine, request, "DELETE FROM journal_records WHERE cluster = 'prod-us'"
    )
    assert not result.ok
    assert result.bad_seq == 13
    assert result.reason == (
        f"stream {streams['prod-us']} (cluster prod-us): the journal.shipped records from seq "
        "13 say stream seq 1..4 was shipped, and none of its records is here (deleted)"
    )


def test_an_export_scoped_to_one_cluster_verifies_and_names_the_streams_it_leaves_out(tmp_path):
    """A copy holding one cluster's streams verifies; the other cluster's are named, not failed."""
    url = str(tmp_path / "central.db")
    _two_clusters(tmp_path, url)
    with Journal.open(url, readonly=True) as central:
        scoped_snapshot(central, tmp_path / "eu.db", Filters(cluster="prod-eu"))
    with Journal.open(tmp_path / "eu.db", readonly=True) as evidence:
        assert not evidence.is_live()
        ok, text = verdict(evidence, [], False)
    assert ok
    assert text.splitlines()[1:] == [
        "not in this copy: 1 shipped stream of cluster(s) prod-us that the own chain says were "
        "shipped (an export scoped to other clusters leaves them out; the live journal must "
        "hold them)",
    ]


def _ship_as_before(source: Journal, central: Journal, cluster: str) -> None:
    """Copy the source's records as ``ship`` did before it wrote ``journal.shipped``."""
    rows = list(source.scan(Filters(stream=""), columns=_SOURCE_COLUMNS))
    with central.transaction(write=True) as connection:
        done = connection.execute(
            select(func.max(records.c.stream_seq)).where(records.c.cluster == cluster)
        ).scalar()
        stream = (
            connection.execute(
                select(records.c.stream).where(records.c.cluster == cluster).limit(1)
            ).scalar()
            or f"{cluster}/{rows[0][1]}"
        )
        head = connection.execute(select(func.max(records.c.seq))).scalar() or 0
        values = [
            {
                **dict(zip(_COPIED, row[1:], strict=True)),
                "seq": head + offset,
                "stream": stream,
                "stream_seq": row[0],
                "cluster": cluster,
            }
            for offset, row in enumerate((row for row in rows if row[0] > (done or 0)), 1)
        ]
        connection.execute(insert(records), values)


def test_a_central_journal_shipped_before_still_verifies_and_says_its_labels_are_not_covered(
    tmp_path,
):
    url = str(tmp_path / "central.db")
    for cluster in ("prod-eu", "prod-us"):
        source = tmp_path / f"{cluster}.db"
        _fill(source, 2, actor=f"{cluster}-controller-0")
        with Journal.open(source, readonly=True) as reader, Journal.open(url, actor="c") as to:
            _ship_as_before(reader, to, cluster)
    with Journal.open(url, readonly=True) as reader:
        result = verify(reader)
        ok, lines = verdict(reader, [], require_signed=False)
    # No record of its own yet: the head is the genesis hash, and it says so.
    assert result.summary() == (
        f"OK: 4 records, head {'0' * 64} (own chain: 0 records; 2 shipped streams: 4 records)"
    )
    assert result.unlabelled_streams == 2
    assert ok
    assert lines.splitlines()[1] == (
        "labels not covered: the cluster and stream labels of 2 shipped streams (shipped by "
        "an older version, without journal.shipped records) are not vouched for"
    )
    # This version goes on with the EU stream: its new records are stated;
    # the older ones stay not vouched for, and the US stream too.
    _fill(tmp_path / "prod-eu.db", 2, actor="prod-eu-controller-0")
    with (
        Journal.open(tmp_path / "prod-eu.db", readonly=True) as reader,
        Journal.open(url, actor="c") as to,
    ):
        assert ship(reader, to, cluster="prod-eu").shipped == 2
    resumed = _verified(url)
    assert resumed.ok, resumed.summary()
    assert resumed.unlabelled_streams == 2
    # Labels of an older stream that disagree with its name (CLUSTER/ID) still fail.
    _forge(url, "UPDATE journal_records SET cluster = 'prod-eu' WHERE cluster = 'prod-us'", None)
    swapped = _verified(url)
    assert not swapped.ok
    assert (
        "stream seq 1..2 labelled cluster prod-eu, but the stream's name says cluster prod-us"
        in (swapped.reason)
    )
