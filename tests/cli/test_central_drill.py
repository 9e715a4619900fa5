"""``export dr-drill`` on a central PostgreSQL journal, one cluster or replica at a time."""

from __future__ import annotations

import json

import pytest

from journal import Journal, kinds, verify
from journal.ship import ship
from tests.cli.helpers import one_error_line


def _drilled(path, actor: str, *, recovered: bool) -> None:
    """A replica's journal: a ConfigMap seen, a drill, the ConfigMap seen again (or not)."""
    with Journal.open(path, actor=actor) as writer:
        seen = {"event_type": "MODIFIED", "data_hash": "sha256:aaaa"}
        writer.append(
            kinds.CONFIGMAP_OBSERVED,
            namespace="shipshape",
            object="configmap/helloworld-config",
            data=seen,
        )
        writer.append(kinds.OPERATOR_NOTE, data={"text": "drill", "drill": "start"})
        if recovered:
            writer.append(
                kinds.CONFIGMAP_OBSERVED,
                namespace="shipshape",
                object="configmap/helloworld-config",
                data=seen,
            )
        writer.append(kinds.OPERATOR_NOTE, data={"text": "restored", "drill": "end"})


def test_a_clusters_drill_is_judged_from_the_central_journal(tmp_path, postgres_url, run):
    eu, us = tmp_path / "eu.db", tmp_path / "us.db"
    _drilled(eu, "eu-controller-0", recovered=True)
    _drilled(us, "us-controller-0", recovered=False)
    with Journal.open(postgres_url, actor="central") as central:
        central.append(kinds.OPERATOR_NOTE, data={"text": "central's own"})
        for path, cluster in ((eu, "prod-eu"), (us, "prod-us")):
            with Journal.open(path, readonly=True) as source:
                ship(source, central, cluster=cluster)
    outcomes = {}
    for name, how in (
        ("eu", ("--cluster", "prod-eu")),
        ("us", ("--replica", "us-controller-0")),
        ("both", ("--namespace", "shipshape")),
    ):
        out = tmp_path / name
        outcomes[name] = run(
            "export",
            "dr-drill",
            "--journal",
            postgres_url,
            "--out",
            out,
            "--date",
            "20261204",
            *how,
        )
        assert postgres_url.split(":")[2].split("@")[0] not in outcomes[name].out
    assert outcomes["eu"].code == 0, outcomes["eu"].out + outcomes["eu"].err
    assert outcomes["eu"].out.startswith("Status: COMPLETED")
    assert outcomes["us"].code == 1
    assert outcomes["us"].out.startswith("Status: FAILED")
    assert "helloworld-config" in outcomes["us"].out
    manifest = json.loads((tmp_path / "eu" / "dr-drill-20261204.manifest.json").read_text())
    assert manifest["verify"]["ok"] is True
    with Journal.open(tmp_path / "eu" / "dr-drill-20261204.journal.db", readonly=True) as copy:
        held = [record for record in copy.read() if record.stream is not None]
        assert {record.cluster for record in held} == {"prod-eu"}
        assert len(held) == 4
        # The central's own chain comes whole: its journal.shipped records
        # vouch for the stream's labels when the evidence is verified.
        own = [record.kind for record in copy.read() if record.stream is None]
        assert own == [kinds.OPERATOR_NOTE, kinds.JOURNAL_SHIPPED, kinds.JOURNAL_SHIPPED]
        checked = verify(copy)
        assert checked.ok and checked.unlabelled_streams == 0, checked.summary()
    # DR evidence is per cluster: chains of two clusters are not judged as one
    # drill, whether a filter (--namespace) or no filter selects them.
    assert outcomes["both"].code == 2, outcomes["both"].out
    line = one_error_line(outcomes["both"])
    assert "2 clusters (prod-eu, prod-us)" in line
    assert "--cluster NAME" in line
    assert outcomes["both"].out == ""
    assert not (tmp_path / "both").exists()
    every = run("export", "dr-drill", "--journal", postgres_url, "--out", tmp_path / "every")
    assert every.code == 2, every.out
    assert "2 clusters (prod-eu, prod-us)" in one_error_line(every)
    assert not (tmp_path / "every").exists()


def test_a_drill_across_clusters_is_refused_on_sqlite_too(tmp_path, run):
    central = tmp_path / "central.db"
    for name in ("eu", "us"):
        _drilled(tmp_path / f"{name}.db", f"{name}-controller-0", recovered=True)
    with Journal.open(central, actor="central") as destination:
        for name in ("eu", "us"):
            with Journal.open(tmp_path / f"{name}.db", readonly=True) as source:
                ship(source, destination, cluster=f"prod-{name}")
    for how in ((), ("--namespace", "shipshape")):
        refused = run("export", "dr-drill", "--journal", central, "--out", tmp_path / "x", *how)
        assert refused.code == 2, refused.out
        assert "2 clusters (prod-eu, prod-us)" in one_error_line(refused)
        assert not (tmp_path / "x").exists()
    one = ("--cluster", "prod-us")
    judged = run("export", "dr-drill", "--journal", central, "--out", tmp_path / "us", *one)
    assert judged.code == 0, judged.out + judged.err
    # A replica's own journal holds no clusters: judged as before.
    own = run("export", "dr-drill", "--journal", tmp_path / "eu.db", "--out", tmp_path / "eu")
    assert own.code == 0, own.out + own.err


@pytest.mark.parametrize("renamed", [False, True])
def test_a_drill_of_a_central_journal_with_swapped_cluster_labels_fails(
    tmp_path, postgres_url, postgres_server, run, renamed
):
    """Swapped labels would have the US records judged as the EU's: verify catches it."""
    eu, us = tmp_path / "eu.db", tmp_path / "us.db"
    _drilled(eu, "eu-controller-0", recovered=True)
    _drilled(us, "us-controller-0", recovered=False)
    with Journal.open(postgres_url, actor="central") as central:
        for path, cluster in ((eu, "prod-eu"), (us, "prod-us")):
            with Journal.open(path, readonly=True) as source:
                ship(source, central, cluster=cluster)
        (eu_stream,) = {r.stream for r in central.read() if r.cluster == "prod-eu"}
        (us_stream,) = {r.stream for r in central.read() if r.cluster == "prod-us"}
    database = postgres_url.rsplit("/", 1)[1]
    postgres_server.sql(
        "ALTER TABLE journal_records DISABLE TRIGGER journal_records_no_update", database
    )
    postgres_server.sql(
        "UPDATE journal_records SET cluster = CASE cluster WHEN 'prod-eu' THEN 'prod-us' "
        "ELSE 'prod-eu' END WHERE stream IS NOT NULL",
        database,
    )
    if renamed:  # the streams' names swapped too, so each name agrees with its cluster
        for old, new in ((eu_stream, "x"), (us_stream, eu_stream), ("x", us_stream)):
            postgres_server.sql(
                f"UPDATE journal_records SET stream = '{new}' WHERE stream = '{old}'", database
            )
    outcome = run(
        "export", "dr-drill", "--journal", postgres_url, "--out", tmp_path / "eu",
        "--date", "20261204", "--cluster", "prod-eu",
    )  # fmt: skip
    assert outcome.code == 1, outcome.out + outcome.err
    assert outcome.out.startswith("Status: FAILED")
    if renamed:
        # Only the central's own chain, in the evidence, can tell.
        # (the stream now named prod-eu's holds the 3 US records, not the 4 stated)
        assert "journal verification failed: FAILED: seq " in outcome.out
        assert f"stream {eu_stream}: the journal.shipped record at seq " in outcome.out
    else:
        assert f"stream {us_stream}: stream seq 1..3 labelled cluster prod-eu" in outcome.out
    assert run("verify", "--journal", postgres_url).code == 1
