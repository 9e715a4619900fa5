"""``replay`` (and ``--html``) of a central journal holding two clusters' streams.

Each cluster elects its own leader and has its own workloads: replayed as one,
two clusters' leaders read as a split brain and their same-named workloads
as one. So a replay that would mix them is refused in one line, and one
cluster replays (and draws) on its own.
"""

from __future__ import annotations

from journal import Journal, kinds
from journal.ship import ship
from tests.cli.helpers import one_error_line
from tests.journal import browser
from tests.journal.builders import Controller


def _central(tmp_path):
    """prod-eu and prod-us, each one replica leading and restarting its app, shipped."""
    central = tmp_path / "central.db"
    for name, offset in (("eu", 0), ("us", 5)):
        with Journal.open(tmp_path / f"{name}.db", actor=f"{name}-controller-0") as writer:
            replica = Controller(writer)
            replica.started(0)
            replica.acquired(1, epoch=1)
            replica.restart_chain(10 + offset, "app-config", "app", f"{name}-v1")
    with Journal.open(central, actor="central") as destination:
        destination.append(kinds.OPERATOR_NOTE, data={"text": "central's own"})
        for name in ("eu", "us"):
            with Journal.open(tmp_path / f"{name}.db", readonly=True) as source:
                ship(source, destination, cluster=f"prod-{name}")
    return central


def test_two_clusters_are_not_replayed_as_one(tmp_path, run):
    central = _central(tmp_path)
    page = tmp_path / "fleet.html"
    for extra in ((), ("--html", page), ("-o", "json", "--check")):
        outcome = run("replay", "--journal", central, *extra)
        assert outcome.code == 2, outcome.out
        line = one_error_line(outcome)
        assert "2 clusters (prod-eu, prod-us)" in line
        assert "--cluster NAME" in line
        assert outcome.out == ""
    assert not page.exists()


def test_one_cluster_of_the_central_journal_is_drawn_alone(tmp_path, run):
    central = _central(tmp_path)
    page = tmp_path / "eu.html"
    outcome = run("replay", "--journal", central, "--cluster", "prod-eu", "--html", page)
    assert outcome.code == 0, outcome.err
    text = page.read_text(encoding="utf-8")
    lanes = browser.lanes(browser.svg_of(text))
    assert "replica:eu-controller-0" in lanes
    assert "replica:us-controller-0" not in lanes
    assert "overlapping_leaders" not in text
    (restart,) = browser.marks(lanes["workload:shipshape/app"], "restart")
    assert "by eu-controller-0" in browser.tooltip(restart)
    # A filter that keeps to one cluster's records is one cluster too.
    alone = run("replay", "--journal", central, "--actor", "us-controller-0", "-o", "json")
    assert alone.code == 0, alone.err


def test_a_cluster_or_actor_no_record_carries_is_refused_not_read_as_nothing(tmp_path, run):
    """A misspelt --cluster or --actor matches nothing: refused in one line, never
    printed as an empty journal or judged as a drill with no records."""
    central = _central(tmp_path)
    drill = ("export", "dr-drill", "--out", tmp_path / "drill")
    for command in (("tail",), ("replay",), drill):
        outcome = run(*command, "--journal", central, "--cluster", "prod-ue")
        assert outcome.code == 2, outcome.out
        assert one_error_line(outcome).startswith(
            "Error: --cluster prod-ue: no record was shipped from it (it holds prod-eu, prod-us)"
        )
        assert outcome.out == ""
        unknown = run(*command, "--journal", central, "--actor", "eu-controller-9")
        assert unknown.code == 2, unknown.out
        assert one_error_line(unknown).startswith(
            "Error: --actor eu-controller-9: no record was written by it"
        )
    assert not (tmp_path / "drill").exists()
    # The names the journal does hold read as before.
    shipped = run("tail", "--journal", central, "--cluster", "prod-us", "-n", "100", "-o", "json")
    assert shipped.code == 0 and len(shipped.out.splitlines()) > 1
    replica = run(
        "replay", "--journal", central, "--cluster", "prod-eu", "--actor", "eu-controller-0"
    )
    assert replica.code == 0, replica.err
    # A replica's own journal holds no shipped records at all.
    local = run("tail", "--journal", tmp_path / "eu.db", "--cluster", "prod-eu")
    assert one_error_line(local).startswith(
        "Error: --cluster prod-eu: no record was shipped from it (it holds no shipped records)"
    )
