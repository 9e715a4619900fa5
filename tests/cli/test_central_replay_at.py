"""``replay --at T --cluster C``: one cluster's state from a central journal.

The central journal (SQLite or PostgreSQL) holds two clusters: prod-eu with
two replicas (two shipped streams, whose observations and lists interleave
in time), prod-us with one. Each cluster's state is its own; without
``--cluster`` the question has no single answer and is refused.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from journal import Journal, kinds, vacuum
from journal.ship import ship
from records.listing import listing_digest
from tests.cli.helpers import one_error_line
from tests.journal.builders import NAMESPACE, at, data_hash

APP = "configmap/app-config"


@pytest.fixture(params=["sqlite", "postgres"])
def central_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "central.db")
    return request.getfixturevalue("postgres_url")


def _write(journal: Journal, t: float, kind: str, **fields) -> None:
    journal.append(kind, namespace=NAMESPACE, ts=at(t), **fields)


def _observed(journal: Journal, t: float, value: str) -> None:
    data = {"event_type": "MODIFIED", "data_hash": data_hash(value)}
    _write(journal, t, kinds.CONFIGMAP_OBSERVED, object=APP, data=data)


def _listed(journal: Journal, t: float, value: str | None, *, first: bool = False) -> None:
    """A ConfigMap list whose digest says app-config has ``value`` (None: no ConfigMap)."""
    known = [] if value is None else [(NAMESPACE, APP, data_hash(value))]
    data = {"resource": "configmaps", "digest": listing_digest(known)}
    if not first:
        data["reason"] = "resync"
    _write(journal, t, kinds.WATCH_STARTED if first else kinds.WATCH_RELISTED, data=data)


def _replica(path, actor: str, seen: list[tuple[float, str]], lists: list[tuple[float, str]]):
    """A replica's journal: a start, its observations and lists of app-config, by time."""
    with Journal.open(path, actor=actor) as journal:
        _write(journal, 0.1 if actor.endswith("1") else 0, kinds.CONTROLLER_STARTED, data={})
        events = [(t, "seen", value) for t, value in seen] + [
            (t, "list", value) for t, value in lists
        ]
        for index, (t, what, value) in enumerate(sorted(events)):
            if what == "seen":
                _observed(journal, t, value)
            else:
                _listed(journal, t, value, first=index == 1)


def _central(tmp_path, url: str) -> str:
    """prod-eu: replica 0 sees v2 at 5 s, replica 1 only at 8 s (its list at 6 s still has v1).

    prod-us: one replica, whose app-config is us-v1 throughout.
    """
    eu0, eu1, us0 = tmp_path / "eu-0.db", tmp_path / "eu-1.db", tmp_path / "us-0.db"
    _replica(eu0, "eu-controller-0", [(1, "v1"), (5, "v2")], [(2, "v1"), (7, "v2")])
    _replica(eu1, "eu-controller-1", [(1.5, "v1"), (8, "v2")], [(2.5, "v1"), (6, "v1")])
    _replica(us0, "us-controller-0", [(1, "us-v1")], [(2, "us-v1"), (9, "us-v1")])
    with Journal.open(url, actor="central") as central:
        central.append(kinds.OPERATOR_NOTE, data={"text": "central's own"})
        # Shipped one after another: the central's seqs are not the events' order.
        for path, cluster in ((us0, "prod-us"), (eu1, "prod-eu"), (eu0, "prod-eu")):
            with Journal.open(path, readonly=True) as source:
                ship(source, central, cluster=cluster)
    return url


def _state(run, url: str, moment: float, *extra: str) -> dict:
    outcome = run("replay", "--journal", url, "--at", at(moment).isoformat(), "-o", "json", *extra)
    assert outcome.code == 0, outcome.err
    return json.loads(outcome.out)


def _app(state: dict) -> dict:
    return next(item for item in state["sources"] if item["object"] == APP)


def test_at_answers_each_cluster_from_its_own_streams(tmp_path, central_url, run):
    url = _central(tmp_path, central_url)
    eu = _state(run, url, 6.5, "--cluster", "prod-eu", "--strict")
    assert eu["cluster"] == "prod-eu"
    assert len(eu["streams"]) == 2
    assert all(stream["records"] > 0 for stream in eu["streams"])
    # The latest observation wins, whichever replica journaled it.
    app = _app(eu)
    assert app["data_hash"] == data_hash("v2")
    # Its seq is the central journal's: tail --cluster finds the record there.
    shipped = run("tail", "--journal", url, "--cluster", "prod-eu", "-n", "100", "-o", "json")
    by_seq = {line["seq"]: line for line in map(json.loads, shipped.out.splitlines())}
    record = by_seq[app["seq"]]
    assert record["data"]["data_hash"] == data_hash("v2")
    assert (record["stream"], record["stream_seq"]) == (app["stream"], app["stream_seq"])
    # Each list is checked against its own replica's records: replica 1's list
    # at 6 s (v1, it had not seen v2 yet) matches, though the cluster had v2.
    assert {(item["stream"], item["matches"]) for item in eu["lists"]} == {
        (stream["stream"], True) for stream in eu["streams"]
    }
    assert eu["anomalies"] == []
    us = _state(run, url, 6.5, "--cluster", "prod-us")
    assert _app(us)["data_hash"] == data_hash("us-v1")
    assert len(us["streams"]) == 1
    # Before anything was seen, nothing is known.
    assert _state(run, url, 0.5, "--cluster", "prod-eu")["sources"] == []
    # One replica's streams: --actor (alias --replica) picks them.
    replica = _state(run, url, 6.5, "--replica", "eu-controller-1")
    assert _app(replica)["data_hash"] == data_hash("v1")
    assert replica["cluster"] == "prod-eu" and len(replica["streams"]) == 1
    text = run("replay", "--journal", url, "--at", at(6.5).isoformat(), "--cluster", "prod-eu")
    assert text.code == 0, text.err
    assert text.out.startswith(f"State at {eu['at']} of cluster prod-eu in ")
    assert f"stream {app['stream']} seq {app['stream_seq']})" in text.out


def test_at_without_a_cluster_on_a_central_journal_is_refused(tmp_path, central_url, run):
    url = _central(tmp_path, central_url)
    outcome = run("replay", "--journal", url, "--at", at(6.5).isoformat())
    assert outcome.code == 2, outcome.out
    line = one_error_line(outcome)
    assert "2 clusters (prod-eu, prod-us)" in line
    assert "--cluster NAME" in line
    assert outcome.out == ""
    unknown = run("replay", "--journal", url, "--at", at(6.5).isoformat(), "--cluster", "prod-ue")
    assert unknown.code == 2
    assert one_error_line(unknown).startswith("Error: --cluster prod-ue: no record was shipped")
    apart = run(
        "replay",
        "--journal",
        url,
        "--at",
        at(6.5).isoformat(),
        "--cluster",
        "prod-us",
        "--actor",
        "eu-controller-0",
    )
    assert apart.code == 2
    assert "no shipped stream" in one_error_line(apart)


def test_a_digest_mismatch_names_its_cluster_and_stream(tmp_path, central_url, run):
    url = _central(tmp_path, central_url)
    broken = tmp_path / "ap-0.db"
    # Its list claims v9, which no record of it carries: a record is missing.
    _replica(broken, "ap-controller-0", [(1, "v1")], [(2, "v1"), (3, "v9")])
    with (
        Journal.open(url, actor="central") as central,
        Journal.open(broken, readonly=True) as source,
    ):
        ship(source, central, cluster="prod-ap")
    moment = at(6.5).isoformat()
    ap = run("replay", "--journal", url, "--at", moment, "--cluster", "prod-ap", "--strict")
    assert ap.code == 1
    assert "list_digest_mismatch" in ap.out and "(stream prod-ap/" in ap.out
    eu = run("replay", "--journal", url, "--at", moment, "--cluster", "prod-eu", "--strict")
    assert eu.code == 0, eu.out


def test_a_stream_shipped_after_its_sources_vacuum_starts_from_its_tombstone(tmp_path, run):
    source, url = tmp_path / "eu-0.db", str(tmp_path / "central.db")
    _replica(source, "eu-controller-0", [(1, "v1"), (5, "v2")], [(2, "v1"), (7, "v2")])
    with Journal.open(source, actor="cli:test") as journal:
        assert vacuum(journal, timedelta(seconds=1), now=at(3)).removed > 0
    with (
        Journal.open(url, actor="central") as central,
        Journal.open(source, readonly=True) as reader,
    ):
        ship(reader, central, cluster="prod-eu")
    before = run("replay", "--journal", url, "--at", at(0.5).isoformat(), "--cluster", "prod-eu")
    assert before.code == 2
    assert "before it was shipped" in one_error_line(before)
    kept = _state(run, url, 4, "--cluster", "prod-eu", "--strict")
    # The record itself never reached the central journal: no seq of it.
    assert _app(kept)["data_hash"] == data_hash("v1")
    assert (_app(kept)["seq"], _app(kept)["stream_seq"]) == (None, 2)
    (stream,) = kept["streams"]
    assert stream["vacuumed"]["state_kept"] is True
    later = _state(run, url, 8, "--cluster", "prod-eu", "--strict")
    assert _app(later)["data_hash"] == data_hash("v2")
    assert all(item["matches"] for item in later["lists"])
