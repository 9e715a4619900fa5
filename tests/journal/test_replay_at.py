"""``replay --at T``: every object's hash as of T, checked against the list digests.

The journals are written by the real decision core (a scripted run, as the
golden records are), stamped one second apart, into real SQLite files.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from journal import Journal, JournalValueError, vacuum
from journal.replay import state_at
from journal.timefmt import parse_ts
from records.listing import listing_digest
from reloader.core import ConfigMapSeen, DeploymentView, EventType, Listed, Resource
from tests.cli.helpers import one_error_line
from tests.journal.builders import at
from tests.kubeapi.process import program
from tests.reloader.core.scenario import NS, V1, V2, V3, Run, cm, deploy, h

ACTOR = "helloworld-controller-0"


def _relist(run: Run, version: str, at_: float, *changed) -> None:
    for view in changed:
        run.feed(ConfigMapSeen(EventType.MODIFIED, view, "relist"), at_)
    run.feed(
        Listed(
            Resource.CONFIGMAPS,
            version,
            2,
            initial=False,
            reason="resync",
            modified=len(changed),
        ),
        at_,
    )


def core_journal(path: Path, *others: DeploymentView) -> list[int]:
    """Write a run of the core: a start, a relist changing one ConfigMap, an unchanged relist.

    ``others``: more Deployments at the start. Returns the seqs of the three
    ConfigMap lists (start, changed, unchanged).
    """
    run = Run.start(
        [cm("app-config", V1, rv="10"), cm("other-config", V2, rv="11")],
        [deploy("app", h(V1)), *others],
    )
    _relist(run, "200", 10.0, cm("app-config", V3, rv="12"))
    run.run_until(20.0)
    _relist(run, "300", 30.0)
    lists: list[int] = []
    with Journal.open(path, actor=ACTOR) as journal:
        for i, record in enumerate(run.records()):
            appended = journal.append(
                record.kind,
                namespace=record.namespace or NS,
                object=record.object,
                correlation_id=record.correlation_id,
                data=dict(record.data),
                ts=at(i),
            )
            if record.kind in {"watch.started", "watch.relisted"} and (
                record.data["resource"] == "configmaps"
            ):
                lists.append(appended.seq)
    return lists


def ts_of(path: Path, seq: int):
    with Journal.open(path, readonly=True) as journal:
        return next(journal.read(seq - 1, limit=1)).ts


def test_the_state_at_the_end_has_each_hash_and_every_list_digest_matches(tmp_path):
    path = tmp_path / "j.db"
    lists = core_journal(path)
    with Journal.open(path, readonly=True) as journal:
        state = state_at(journal, at(10_000)).to_json()
    hashes = {item["object"]: item["data_hash"] for item in state["sources"]}
    assert hashes == {"configmap/app-config": h(V3), "configmap/other-config": h(V2)}
    assert [item["object"] for item in state["workloads"]] == ["deployment/app"]
    configmaps = next(item for item in state["lists"] if item["resource"] == "configmaps")
    assert configmaps["seq"] == lists[-1]
    assert configmaps["matches"] is True
    assert configmaps["digest"] == listing_digest(
        [(NS, "configmap/app-config", h(V3)), (NS, "configmap/other-config", h(V2))]
    )
    assert all(item["matches"] for item in state["lists"])
    assert state["anomalies"] == []


def test_the_state_before_a_change_has_the_old_hash_and_names_its_record(tmp_path):
    path = tmp_path / "j.db"
    lists = core_journal(path)
    with Journal.open(path, readonly=True) as journal:
        first, change = (
            r
            for r in journal.read(kinds=("configmap.observed",))
            if r.object == "configmap/app-config"
        )
        state = state_at(journal, change.ts - timedelta(microseconds=1)).to_json()
    app = next(item for item in state["sources"] if item["object"] == "configmap/app-config")
    assert app["data_hash"] == h(V1)
    assert app["seq"] == first.seq
    assert (
        next(item for item in state["lists"] if item["resource"] == "configmaps")["seq"]
        == (lists[0])
    )


def test_a_removed_observation_is_a_digest_mismatch(tmp_path):
    path = tmp_path / "j.db"
    core_journal(path)
    with Journal.open(path, readonly=True) as journal:
        changed = [
            r.seq
            for r in journal.read(kinds=("configmap.observed",))
            if r.data.get("source") == "relist"
        ]
    connection = sqlite3.connect(path)
    connection.execute("DELETE FROM journal_records WHERE seq = ?", (changed[0],))
    connection.commit()
    connection.close()
    with Journal.open(path, readonly=True) as journal:
        state = state_at(journal, at(10_000)).to_json()
    assert [(a["type"], a["resource"]) for a in state["anomalies"]] == [
        ("list_digest_mismatch", "configmaps")
    ]


def test_objects_a_restarted_controller_did_not_list_again_are_gone(tmp_path):
    path = tmp_path / "j.db"
    core_journal(path)
    # A new process lists only other-config: app-config was deleted while none watched.
    run = Run.start([cm("other-config", V2, rv="11")], [deploy("app", h(V1))])
    with Journal.open(path, actor=ACTOR) as journal:
        journal.append("controller.started", namespace=NS, ts=at(500))
        for i, record in enumerate(run.records()):
            journal.append(
                record.kind,
                namespace=record.namespace or NS,
                object=record.object,
                correlation_id=record.correlation_id,
                data=dict(record.data),
                ts=at(501 + i),
            )
        state = state_at(journal, at(10_000)).to_json()
    assert [item["object"] for item in state["sources"]] == ["configmap/other-config"]
    assert state["anomalies"] == []


def test_vacuum_keeps_the_state_and_an_earlier_moment_is_refused(tmp_path):
    path = tmp_path / "j.db"
    lists = core_journal(path)
    with Journal.open(path, actor="cli:test") as journal:
        result = vacuum(journal, timedelta(seconds=1), now=ts_of(path, lists[1]))
        assert result.removed > 0
        state = state_at(journal, at(10_000)).to_json()
        with pytest.raises(JournalValueError, match="vacuumed"):
            state_at(journal, at(0))
    hashes = {item["object"]: item["data_hash"] for item in state["sources"]}
    assert hashes == {"configmap/app-config": h(V3), "configmap/other-config": h(V2)}
    assert state["vacuumed"]["state_kept"] is True
    assert all(item["matches"] for item in state["lists"])


def test_the_state_a_tombstone_kept_counts_the_records_it_stands_for(tmp_path):
    # At the end of the removed records, the state is the tombstone's: it was
    # taken through the last removed seq, not from no records at all.
    path = tmp_path / "j.db"
    lists = core_journal(path)
    with Journal.open(path, actor="cli:test") as journal:
        removed = vacuum(journal, timedelta(seconds=1), now=ts_of(path, lists[1]))
        assert removed.tombstone is not None
        last_removed_ts = parse_ts(removed.tombstone.data["last_removed_ts"])
        state = state_at(journal, last_removed_ts).to_json()
    assert state["sources"]
    assert state["through_seq"] == removed.last_removed_seq
    text = _cli("replay", "--journal", str(path), "--at", state["at"]).stdout
    assert text.startswith(
        f"State at {state['at']} of {path} (records through seq {removed.last_removed_seq})\n"
    )


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [program("shipshape-journal"), *args], capture_output=True, text=True, check=False
    )


def test_the_command_prints_text_and_json_and_filters(tmp_path):
    path = tmp_path / "j.db"
    core_journal(path)
    text = _cli("replay", "--journal", str(path), "--at", "2026-11-26T12:00:00Z")
    assert text.returncode == 0, text.stderr
    assert f"{NS} configmap/app-config {h(V3)} (seq " in text.stdout
    assert "configmaps: seq" in text.stdout and "digest matches" in text.stdout
    out = _cli(
        "replay", "--journal", str(path), "--at", "2026-11-26T12:00:00Z", "-o", "json",
        "--workload", "deployment/app",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    state = json.loads(out.stdout)
    assert state["sources"] == []
    assert [item["object"] for item in state["workloads"]] == ["deployment/app"]
    other = _cli(
        "replay", "--journal", str(path), "--at", "2026-11-26T12:00:00Z", "-o", "json",
        "--namespace", "elsewhere",
    )  # fmt: skip
    assert json.loads(other.stdout)["sources"] == []


def test_the_text_shows_a_dash_for_a_workload_no_restart_ever_annotated(tmp_path):
    path = tmp_path / "j.db"
    core_journal(path, deploy("fresh", None, app="other"))
    text = _cli("replay", "--journal", str(path), "--at", "2026-11-26T12:00:00Z")
    assert text.returncode == 0, text.stderr
    assert f"\n  {NS} deployment/fresh - (seq " in text.stdout
    assert "None" not in text.stdout


def test_the_text_names_a_digest_mismatch_and_a_vacuum_that_kept_the_state(tmp_path):
    broken, vacuumed = tmp_path / "broken.db", tmp_path / "vacuumed.db"
    core_journal(broken)
    with sqlite3.connect(broken) as connection:  # the relist's changed observation
        connection.execute("DELETE FROM journal_records WHERE seq = 8")
    text = _cli("replay", "--journal", str(broken), "--at", "2026-11-26T12:00:00Z").stdout
    assert (
        "\nLast list before it, per resource:\n"
        "  configmaps: seq 11 (2026-11-26T10:00:10.000000Z), 2 objects, DIGEST MISMATCH\n"
        "  deployments: seq 5 (2026-11-26T10:00:04.000000Z), 1 objects, digest matches\n"
        "\nAnomalies: 1\n"
        "  list_digest_mismatch at seq 11: the configmaps list of seq 11 claims sha256:"
    ) in text
    lists = core_journal(vacuumed)
    with Journal.open(vacuumed, actor="cli:test") as journal:
        vacuum(journal, timedelta(seconds=1), now=ts_of(vacuumed, lists[1]))
    text = _cli("replay", "--journal", str(vacuumed), "--at", "2026-11-26T12:00:00Z").stdout
    assert text.startswith(
        f"State at 2026-11-26T12:00:00.000000Z of {vacuumed} (records through seq 11)\n"
        "Vacuumed through seq 8: the state then is kept by the tombstone at seq 12\n"
    )


def test_the_command_refuses_at_with_a_window(tmp_path):
    path = tmp_path / "j.db"
    core_journal(path)
    result = _cli("replay", "--journal", str(path), "--at", "-1h", "--since", "-2h")
    assert result.returncode == 2
    assert one_error_line(result).startswith("Error: --at cannot be combined with --since")
