"""Replay over several replicas' journals: what an elected pair of controllers writes.

The timelines are those the chaos tests produce with real replicas (a standby
whose window closes as ``not-leader``, late observations, restarted pods),
written here record by record so each projection rule is pinned down.
"""

from __future__ import annotations

import pytest

from journal import replay
from tests.journal.builders import Controller

CM, DEPLOY = "helloworld-config-test", "helloworld-test"
ZERO, ONE, TWO = "helloworld-controller-0", "helloworld-controller-1", "helloworld-controller-2"


@pytest.fixture
def pair(tmp_path, open_journal):
    """Replicas 0, 1 and 2, each with its own journal."""
    return [
        Controller(open_journal(tmp_path / f"{i}.db", actor=name))
        for i, name in enumerate((ZERO, ONE, TWO))
    ]


def _types(report) -> list[str]:
    return [a["type"] for a in report.anomalies]


def _terms(report) -> list[tuple]:
    return [(t["actor"], t["epoch"], t["end_reason"]) for t in report.leader_terms]


def test_a_standbys_not_leader_skip_settles_nothing(pair):
    zero, one, _ = pair
    zero.acquired(0, epoch=3)
    one.observed_leader(0.1, ZERO, 3)
    for replica in (zero, one):
        replica.observed(1, CM, "v1", event="ADDED")
    zero.skipped(1.1, CM, "adopted")
    # Both see the change; the standby's window closes a moment before the leader's.
    one.observed(10, CM, "v2", corr="c1")
    zero.observed(10.001, CM, "v2", corr="c1")
    one.skipped(11.0, CM, "not-leader", corr="c1")
    zero.planned(11.002, DEPLOY, CM, "v2", "c1")
    zero.patched(11.01, DEPLOY, CM, "v2", "c1")
    report = replay([zero.journal, one.journal])
    assert report.anomalies == []
    (restart,) = report.restarts
    assert restart.latency_seconds == pytest.approx(1.01)


def test_a_change_no_leader_restarted_stays_pending_in_the_merged_view(pair):
    zero, one, _ = pair
    zero.acquired(0, epoch=3)
    for replica in (zero, one):
        replica.observed(1, CM, "v1", event="ADDED")
    zero.skipped(1.1, CM, "adopted")
    change = one.observed(10, CM, "v2", corr="c1")
    one.skipped(15, CM, "not-leader", corr="c1")
    one.observed_leader(100, ZERO, 3)  # time passes; the leader never acted
    merged = replay([zero.journal, one.journal])
    assert [(a["type"], a["seq"]) for a in merged.anomalies] == [
        ("change_without_restart", change.seq)
    ]
    assert merged.anomalies[0]["journal"].endswith("1.db")
    # The standby's journal alone cannot see the leader: no verdict from it.
    assert replay([one.journal]).anomalies == []


def test_a_late_observation_of_an_older_term_is_no_second_leader(pair):
    zero, one, two = pair
    zero.acquired(0, epoch=3)
    one.acquired(20, epoch=4)
    # Replica 2 journals what it read a moment before the takeover, after it.
    two.observed_leader(20.05, ZERO, 3)
    two.observed_leader(21, ONE, 4)
    report = replay([zero.journal, one.journal, two.journal])
    assert report.anomalies == []
    assert _terms(report) == [(ZERO, 3, "superseded"), (ONE, 4, None)]


def test_a_partitioned_leader_that_lost_in_time_is_no_overlap(pair):
    zero, one, _ = pair
    zero.acquired(0, epoch=3)
    one.observed_leader(0.2, ZERO, 3)
    zero.lost(12)  # renewals failed for the renew deadline
    one.acquired(13, epoch=4)
    zero.observed_leader(20, ONE, 4)  # the partition healed
    report = replay([zero.journal, one.journal])
    assert report.anomalies == []
    assert _terms(report) == [(ZERO, 3, "lost"), (ONE, 4, None)]


def test_a_restarted_replica_ends_its_old_term_when_it_starts(pair):
    zero, one, _ = pair
    zero.acquired(0, epoch=3)
    zero.started(50)  # killed and started again, no record of the end
    zero.acquired(50.2, epoch=4)  # its own Lease, taken back at once
    one.observed_leader(51, ZERO, 4)
    report = replay([zero.journal, one.journal])
    assert report.anomalies == []
    assert _terms(report) == [(ZERO, 3, "restarted"), (ZERO, 4, None)]


def test_a_restart_followed_by_a_long_wait_is_a_leaderless_gap(pair):
    zero, one, _ = pair
    zero.acquired(0, epoch=3)
    zero.started(50)
    late = one.acquired(120, epoch=4)
    report = replay([zero.journal, one.journal])
    assert [(a["type"], a["seq"]) for a in report.anomalies] == [("leaderless_gap", late.seq)]
    assert report.anomalies[0]["gap_seconds"] == pytest.approx(70)


def test_a_stale_leader_acting_after_the_takeover_is_still_split_brain(pair):
    zero, one, _ = pair
    zero.acquired(0, epoch=3)
    one.observed_leader(0.1, ZERO, 3)
    one.acquired(20, epoch=4)
    zero.observed(21, CM, "v2", corr="c1")
    stale = zero.planned(22, DEPLOY, CM, "v2", "c1")
    report = replay([zero.journal, one.journal])
    assert [(a["type"], a["seq"]) for a in report.anomalies] == [("overlapping_leaders", stale.seq)]


def test_a_lease_handed_to_a_stranger_by_hand_is_no_second_leader(pair):
    """The Lease names another holder under the same epoch (kubectl patch): the old
    term ends there; a standby seeing it before the old leader notices is no overlap."""
    zero, one, _ = pair
    zero.acquired(0, epoch=3)
    one.observed_leader(0.1, ZERO, 3)
    one.observed_leader(10, "a-stranger", 3)  # the standby reads the edit first
    zero.lost(10.5)
    one.acquired(30, epoch=4)
    report = replay([zero.journal, one.journal])
    assert report.anomalies == []
    assert _terms(report) == [
        (ZERO, 3, "lease-changed"),
        ("a-stranger", 3, "superseded"),
        (ONE, 4, None),
    ]


def test_the_old_holder_acting_after_its_lease_was_handed_over_is_split_brain(pair):
    zero, one, _ = pair
    zero.acquired(0, epoch=3)
    one.observed_leader(10, "a-stranger", 3)
    zero.observed(11, CM, "v2", corr="c1")
    stale = zero.planned(12, DEPLOY, CM, "v2", "c1")
    report = replay([zero.journal, one.journal])
    assert [(a["type"], a["seq"]) for a in report.anomalies] == [("overlapping_leaders", stale.seq)]


def test_a_late_view_of_a_term_its_holder_already_ended_opens_nothing(pair):
    zero, one, _ = pair
    zero.acquired(0, epoch=3)
    zero.released(20)
    one.observed_leader(20.05, ZERO, 3)  # read just before the release, journaled after
    one.acquired(21, epoch=4)
    report = replay([zero.journal, one.journal])
    assert report.anomalies == []
    assert _terms(report) == [(ZERO, 3, "released"), (ONE, 4, None)]


def _shared_watch_events(zero, one, lag: float, count: int = 9) -> None:
    """Both replicas journal the same watch events; ``one`` stamps them ``lag`` s later."""
    for n in range(count):
        t = 10.0 + n
        zero.observed(t, CM, f"v{n}", rv=str(100 + n), source="watch")
        one.observed(t + lag + 0.001 * (n % 3), CM, f"v{n}", rv=str(100 + n), source="watch")


def test_replicas_clocks_are_compared_by_the_watch_events_both_journaled(pair):
    zero, one, _ = pair
    _shared_watch_events(zero, one, lag=0.02)
    report = replay([zero.journal, one.journal], names=["0.db", "1.db"])
    assert report.to_json()["clock_offsets"] == [
        {
            "writer": f"{ONE} (1.db)",
            "relative_to": f"{ZERO} (0.db)",
            "samples": 9,
            "median_seconds": pytest.approx(0.021),
            "nearest_seconds": pytest.approx(0.020),
            "max_seconds": pytest.approx(0.022),
        }
    ]
    assert "clock_skew" not in _types(report)
    assert report.thresholds["clock_skew_seconds"] == 1.0


def test_a_replica_whose_clock_runs_ahead_is_a_clock_skew(pair):
    zero, one, _ = pair
    _shared_watch_events(zero, one, lag=2.5)
    # Lists are each replica's own (different times): never paired.
    zero.observed(30, CM, "v9", rv="200", source="list")
    one.observed(90, CM, "v9", rv="200", source="list")
    report = replay([zero.journal, one.journal], names=["0.db", "1.db"])
    [offset] = report.to_json()["clock_offsets"]
    assert offset["samples"] == 9 and offset["median_seconds"] == pytest.approx(2.501)
    [skew] = [a for a in report.anomalies if a["type"] == "clock_skew"]
    assert skew["journal"] == "1.db" and skew["actor"] == ONE
    assert skew["offset_seconds"] == pytest.approx(2.5)
    assert "of the 9 watch event(s) both journaled are +2.500 s or more from" in skew["message"]
    last_of_one = [r for r in one.journal.read() if r.data.get("source") == "watch"][-1]
    assert skew["seq"] == last_of_one.seq


def test_one_journal_has_no_clocks_to_compare(pair):
    zero, one, _ = pair
    _shared_watch_events(zero, one, lag=2.5)
    assert "clock_offsets" not in replay([one.journal]).to_json()


def test_events_a_reconnected_watch_brought_late_are_no_clock_skew(pair):
    """After an outage one replica's watch resumes later and brings the events
    it missed late: they differ by seconds with the clocks in step. One event
    both saw at once shows the clocks agree."""
    zero, one, _ = pair
    zero.observed(5, CM, "v0", rv="90", source="watch")
    one.observed(5.01, CM, "v0", rv="90", source="watch")
    for n in range(6):  # one replica's watch was down from t=10 to t=40
        zero.observed(10 + n, CM, f"v{n + 1}", rv=str(91 + n), source="watch")
    for n in range(6):
        one.observed(40 + 0.01 * n, CM, f"v{n + 1}", rv=str(91 + n), source="watch")
    report = replay([zero.journal, one.journal], names=["0.db", "1.db"])
    [offset] = report.clock_offsets
    assert offset["median_seconds"] > 20, "most events came late to replica 1"
    assert offset["nearest_seconds"] == pytest.approx(0.01)
    assert "clock_skew" not in _types(report)
