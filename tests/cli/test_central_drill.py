"""``export dr-drill`` on a central PostgreSQL journal, one cluster or replica at a time."""

from __future__ import annotations

import json

from journal import Journal, kinds, verify
from journal.ship import ship


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
        held = list(copy.read())
        assert {record.cluster for record in held} == {"prod-eu"}
        assert len(held) == 4
        assert verify(copy).ok
    with Journal.open(tmp_path / "both" / "dr-drill-20261204.journal.db", readonly=True) as copy:
        assert {record.cluster for record in copy.read()} == {"prod-eu", "prod-us"}
