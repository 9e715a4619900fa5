"""``ship`` is never silent about records a vacuum removed before they were shipped."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from journal import Entry, Journal, kinds, vacuum, verify
from journal.ship import ShipGap, ship
from tests.journal.builders import at
from tests.journal.helpers import ROOT


def _append(path: Path, seconds: range, actor: str) -> None:
    with Journal.open(path, actor=actor) as journal:
        journal.append_many(
            [Entry(kind=kinds.WATCH_RELISTED, data={"n": n}, ts=at(n)) for n in seconds]
        )


def _vacuum(path: Path, now: float, actor: str) -> dict:
    with Journal.open(path, actor=actor) as journal:
        return vacuum(journal, timedelta(seconds=1), now=at(now)).tombstone.data


def _ship(path: Path, central: Journal, gaps: list[ShipGap] | None = None):
    with Journal.open(path, readonly=True) as source:
        return ship(
            source, central, cluster="prod-eu", on_gap=None if gaps is None else gaps.append
        )


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_records_vacuumed_before_they_were_shipped_are_reported_once(
    tmp_path, engine, request, open_journal
):
    source = tmp_path / "replica-0.db"
    pod = "helloworld-controller-0"
    _append(source, range(5), pod)
    url = str(tmp_path / "c.db") if engine == "sqlite" else request.getfixturevalue("postgres_url")
    central = open_journal(url, actor="central")
    first = _ship(source, central)
    assert (first.shipped, first.gap) == (5, None)
    # Five more records; the vacuum takes seqs 1..8 before 6..8 were shipped.
    _append(source, range(5, 10), pod)
    assert _vacuum(source, now=8.5, actor=pod)["last_removed_seq"] == 8
    reported: list[ShipGap] = []
    second = _ship(source, central, reported)
    assert second.stream != first.stream
    assert second.gap == ShipGap(
        stream=first.stream, first_seq=6, last_seq=8, new_stream=second.stream
    )
    assert reported == [second.gap]  # at once, through on_gap
    assert second.gap.summary() == (
        f"seq 6..8 (3 records) of this journal were vacuumed before they were shipped: "
        f"stream {first.stream} ends at seq 5 and the journal goes on as stream {second.stream}"
    )
    assert second.shipped == 3  # seqs 9, 10 and the tombstone (11)
    # Every chain still verifies on its own: only ship can tell the loss.
    assert verify(central).ok
    # The next run resumes the new stream: the loss was told once.
    _append(source, range(10, 12), pod)
    third = _ship(source, central)
    assert (third.stream, third.shipped, third.gap) == (second.stream, 2, None)


def test_another_replica_of_the_cluster_is_no_gap(tmp_path, open_journal):
    """The other replica's journal, vacuumed, follows no stream of its own writer."""
    central = open_journal(tmp_path / "central.db", actor="central")
    _append(tmp_path / "pod-0.db", range(3), "helloworld-controller-0")
    assert _ship(tmp_path / "pod-0.db", central).shipped == 3
    pod1 = tmp_path / "pod-1.db"
    _append(pod1, range(10), "helloworld-controller-1")
    _vacuum(pod1, now=6.5, actor="helloworld-controller-1")
    shipped = _ship(pod1, central)
    assert (shipped.gap, shipped.shipped) == (None, 5)  # seqs 7..10 and the tombstone


def test_a_journal_begun_anew_by_the_same_writer_is_no_gap(tmp_path, open_journal):
    """A replica whose volume was replaced starts a new journal at seq 1: nothing was lost."""
    central = open_journal(tmp_path / "central.db", actor="central")
    _append(tmp_path / "old.db", range(3), "helloworld-controller-0")
    _ship(tmp_path / "old.db", central)
    _append(tmp_path / "new.db", range(10, 12), "helloworld-controller-0")
    assert _ship(tmp_path / "new.db", central).gap is None


CLI = (sys.executable, "-m", "cli.main")


def test_ship_cli_warns_on_stderr_and_exits_1_when_records_were_lost(tmp_path):
    source, central = tmp_path / "replica-0.db", tmp_path / "central.db"
    pod = "helloworld-controller-0"

    def cli() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, "ship", "--journal", str(source), "--to", str(central), "--cluster", "eu"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    _append(source, range(2), pod)
    assert cli().returncode == 0
    _append(source, range(2, 6), pod)
    _vacuum(source, now=4.5, actor=pod)  # seqs 1..4 go, 3 and 4 never shipped
    result = cli()
    assert result.returncode == 1, result.stderr
    (warning,) = result.stderr.splitlines()
    assert warning.startswith("Warning: seq 3..4 (2 records) of this journal were vacuumed")
    assert result.stdout.startswith("shipped 3 records of stream eu/")
    again = cli()
    assert (again.returncode, again.stderr) == (0, "")
