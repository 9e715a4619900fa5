"""The election state machine: literal event sequences on a fake clock.

Timings are the chaos tests' (lease 3 s, renew deadline 2 s, retry period 1 s)
unless a test says otherwise; jitter is 0 unless it matters.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from reloader.core.election import (
    BecameLeader,
    CreateLease,
    ElectionState,
    ElectionTick,
    ElectionTimings,
    LeaderSeen,
    LeaseConflict,
    LeaseFailed,
    LeaseRead,
    LeaseRecord,
    LeaseWritten,
    ReadLease,
    ReleasedLeadership,
    ReleaseRequested,
    Role,
    StoppedLeading,
    UpdateLease,
    acting,
    current_leader,
    elect,
    initial_election,
    microtime,
    next_wakeup,
)

T = ElectionTimings(3, 2, 1)
BASE = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def stamp(at: float) -> str:
    return microtime(BASE + timedelta(seconds=at))


def held(holder: str | None, transitions: int, at: float, duration: int = 3) -> LeaseRecord:
    """A record as ``holder`` writes it at ``at`` (acquired then too)."""
    return LeaseRecord(holder, duration, transitions, stamp(at), stamp(at))


class Run:
    """One replica's election, stepped by hand."""

    def __init__(self, identity: str = "a", timings: ElectionTimings = T, start: float = 0.0):
        self.state: ElectionState = initial_election(identity, timings, start)

    def feed(self, event, at: float, jitter: float = 0.0) -> tuple:
        wall = BASE + timedelta(seconds=at)
        self.state, actions = elect(self.state, event, at, jitter=jitter, wall=wall)
        return actions

    def tick(self, at: float, jitter: float = 0.0) -> tuple:
        return self.feed(ElectionTick(), at, jitter)

    def lead(self, at: float = 0.0, version: str = "10") -> None:
        """Create the Lease from nothing and lead (epoch 0) from ``at``."""
        assert self.tick(at) == (ReadLease(float(self.state.timings.retry_period_seconds)),)
        (create,) = self.feed(LeaseRead(None), at)
        assert isinstance(create, CreateLease)
        (became,) = self.feed(LeaseWritten(version), at)
        assert isinstance(became, BecameLeader)


# --------------------------------------------------------------------- acquiring


def test_the_first_candidate_creates_the_lease_and_leads_under_epoch_0():
    run = Run("a")
    assert next_wakeup(run.state) == 0.0
    assert run.tick(0.0) == (ReadLease(1.0),)
    assert next_wakeup(run.state) is None, "one request at a time: wait for its result"
    assert run.feed(LeaseRead(None), at=0.01) == (CreateLease(held("a", 0, 0.01), 1.0),)
    assert not acting(run.state, 0.02)
    assert run.feed(LeaseWritten("7"), at=0.03) == (BecameLeader(0, None, 0.03),)
    assert run.state.role is Role.LEADER and run.state.epoch == 0
    # Acting from the moment the create was *sent*, for the renew deadline.
    assert acting(run.state, 2.0099)
    assert not acting(run.state, 2.01)
    assert current_leader(run.state, 1.0) == ("a", 0)


def test_a_standby_takes_over_only_after_the_record_stood_still_for_the_lease_duration():
    run = Run("b", start=10.0)
    run.tick(10.0)
    # The holder's own times are decades off: they are never compared with our clock.
    record = held("a", 4, -1e9)
    assert run.feed(LeaseRead(record, "50"), at=10.0) == (LeaderSeen("a", 4),)
    assert current_leader(run.state, 10.0) == ("a", 4)
    assert next_wakeup(run.state) == 11.0
    for t in (11.0, 12.0):
        assert run.tick(t) == (ReadLease(1.0),)
        assert run.feed(LeaseRead(record, "50"), at=t) == (), "unchanged, not yet expired"
    # The last look before expiry is scheduled right at the expiry, not a period later.
    assert next_wakeup(run.state) == 13.0
    assert current_leader(run.state, 13.0) == (None, None), "nobody renews: no leader"
    run.tick(13.0)
    (take,) = run.feed(LeaseRead(record, "50"), at=13.0)
    assert take == UpdateLease(held("b", 5, 13.0), "50", 1.0), "a new term, conditional on rv 50"
    (became,) = run.feed(LeaseWritten("51"), at=13.05)
    assert became == BecameLeader(5, "a", 3.05)


def test_every_renewal_restarts_the_standbys_expiry_clock():
    run = Run("b")
    run.tick(0.0)
    run.feed(LeaseRead(held("a", 1, 0.0), "5"), at=0.0)
    run.tick(1.0)
    run.feed(LeaseRead(held("a", 1, 0.0), "5"), at=1.0)
    run.tick(2.0)
    renewed = replace(held("a", 1, 0.0), renew_time=stamp(1.9))
    assert run.feed(LeaseRead(renewed, "6"), at=2.0) == (), "same holder and term: not reported"
    # Expiry is now 2.0 + 3: looks at 3.0 and 4.0 find it fresh.
    for t in (3.0, 4.0):
        run.tick(t)
        assert run.feed(LeaseRead(renewed, "6"), at=t) == ()
    assert next_wakeup(run.state) == 5.0
    run.tick(5.0)
    (take,) = run.feed(LeaseRead(renewed, "6"), at=5.0)
    assert isinstance(take, UpdateLease) and take.record.transitions == 2


def test_a_released_lease_is_taken_at_the_next_attempt():
    run = Run("b")
    run.tick(0.0)
    run.feed(LeaseRead(held("a", 3, 0.0), "5"), at=0.0)
    run.tick(1.0, jitter=0.999)
    released = LeaseRecord(None, 1, 3, stamp(1.5), stamp(1.5))
    assert run.feed(LeaseRead(held("a", 3, 0.0), "5"), at=1.0, jitter=0.999) == ()
    # Even with the largest jitter the next look is within 1.2 retry periods.
    assert next_wakeup(run.state) == pytest.approx(1.0 + 1.0 * (1 + 0.2 * 0.999))
    run.tick(2.2)
    (take,) = run.feed(LeaseRead(released, "6"), at=2.2)
    assert take == UpdateLease(held("b", 4, 2.2), "6", 1.0)


def test_losing_the_race_for_the_lease_is_a_409_and_the_winner_is_reported_next():
    run = Run("b")
    run.tick(0.0)
    (take,) = run.feed(LeaseRead(LeaseRecord(None, 1, 2), "9"), at=0.0)
    assert isinstance(take, UpdateLease)
    assert run.feed(LeaseConflict("the object has been modified"), at=0.01) == ()
    assert run.state.role is Role.CANDIDATE and not acting(run.state, 0.02)
    assert next_wakeup(run.state) == 1.01
    run.tick(1.01)
    assert run.feed(LeaseRead(held("c", 3, 0.0), "10"), at=1.01) == (LeaderSeen("c", 3),)


def test_a_failing_read_is_tried_again_every_retry_period():
    run = Run("b")
    run.tick(0.0)
    assert run.feed(LeaseFailed("connection", "refused"), at=0.0) == ()
    assert next_wakeup(run.state) == 1.0
    assert run.tick(0.5) == ()
    assert run.tick(1.0) == (ReadLease(1.0),)


def test_a_deleted_lease_is_created_again_with_a_higher_epoch():
    run = Run("b")
    run.tick(0.0)
    run.feed(LeaseRead(held("a", 6, 0.0), "5"), at=0.0)
    run.tick(1.0)
    # "a" was renewing: it may act until its deadline, so the absence is waited
    # out for the lease duration from when it was first seen.
    assert run.feed(LeaseRead(None), at=1.0) == ()
    assert current_leader(run.state, 3.99) == ("a", 6), "it may still lead"
    for t in (2.0, 3.0):
        assert next_wakeup(run.state) == t
        run.tick(t)
        assert run.feed(LeaseRead(None), at=t) == ()
    assert next_wakeup(run.state) == 4.0
    run.tick(4.0)
    assert current_leader(run.state, 4.0) == (None, None)
    (create,) = run.feed(LeaseRead(None), at=4.0)
    assert create == CreateLease(held("b", 7, 4.0), 1.0)
    assert run.feed(LeaseWritten("9"), at=4.1) == (BecameLeader(7, "a", 4.1),)


def test_a_record_with_my_name_from_a_previous_incarnation_is_waited_out():
    run = Run("a", start=20.0)
    run.tick(20.0)
    # Written by the pod's previous process, or by a twin after a forced deletion.
    mine = held("a", 4, 19.0)
    assert run.feed(LeaseRead(mine, "30"), at=20.0) == (), "not reported: it is my name"
    assert current_leader(run.state, 20.0) == (None, None)
    assert next_wakeup(run.state) == 21.0
    run.tick(23.0)
    (take,) = run.feed(LeaseRead(mine, "30"), at=23.0)
    assert take == UpdateLease(held("a", 5, 23.0), "30", 1.0), "a new term"


def test_a_record_with_my_name_that_i_did_not_write_is_waited_out():
    run = Run("a")
    run.tick(0.0)
    run.feed(LeaseRead(held("x", 1, 0.0), "5"), at=0.0)
    run.tick(1.0)
    # Another process with the same POD_NAME took it: not this process's record.
    twin = held("a", 2, 0.5)
    assert run.feed(LeaseRead(twin, "6"), at=1.0) == ()
    assert next_wakeup(run.state) == 2.0
    run.tick(4.0)
    (take,) = run.feed(LeaseRead(twin, "6"), at=4.0)
    assert isinstance(take, UpdateLease) and take.record.transitions == 3


# ---------------------------------------------------------------------- renewing


def test_the_leader_renews_every_retry_period_conditionally_on_its_last_write():
    run = Run("a")
    run.lead(0.0, version="10")
    assert next_wakeup(run.state) == 1.0
    assert run.tick(0.5) == ()
    (renew,) = run.tick(1.0)
    assert renew == UpdateLease(replace(held("a", 0, 0.0), renew_time=stamp(1.0)), "10", 1.0)
    assert run.feed(LeaseWritten("11"), at=1.02) == ()
    assert run.state.renewed_at == 1.0 and run.state.written_version == "11"
    assert acting(run.state, 2.99) and not acting(run.state, 3.0)
    (renew,) = run.tick(2.02)
    assert renew.resource_version == "11" and renew.record.acquire_time == stamp(0.0)


def test_the_leader_stops_acting_once_renewals_failed_for_the_renew_deadline():
    run = Run("a")
    run.lead(0.0)
    run.tick(1.0)
    assert run.feed(LeaseFailed("server-error", "500"), at=1.01) == ()
    assert acting(run.state, 1.99)
    # Failed renewals are retried sooner: half the time left, at least a quarter period.
    assert next_wakeup(run.state) == pytest.approx(1.505)
    (renew,) = run.tick(1.505)
    assert renew.timeout == pytest.approx(0.495), "a request must end by the deadline"
    run.feed(LeaseFailed("server-error", "500"), at=1.6)
    assert next_wakeup(run.state) == pytest.approx(1.85)
    # A late wake-up close to the deadline still tries, with the shortest timeout.
    (renew,) = run.tick(1.98)
    assert renew.timeout == pytest.approx(0.05)
    run.feed(LeaseFailed("timeout", "read timed out"), at=1.99)
    # The deadline wakes the elector even though no attempt is due before it.
    assert next_wakeup(run.state) == pytest.approx(2.0)
    assert run.tick(1.999) == ()
    (lost,) = run.tick(2.0)
    assert lost == StoppedLeading(0, "renew-deadline", 2.0)
    assert run.state.role is Role.CANDIDATE and run.state.epoch is None
    assert current_leader(run.state, 2.05) == (None, None)


def test_the_deadline_is_noticed_by_a_tick_without_any_request_result():
    run = Run("a", timings=ElectionTimings(15, 10, 2))
    run.lead(0.0)
    run.tick(2.0)
    run.feed(LeaseFailed("connection"), at=2.0)
    while (wake := next_wakeup(run.state)) < 9.9:
        assert run.tick(wake)
        run.feed(LeaseFailed("connection"), at=wake)
    # Hung requests: the last attempt's timeout ends by the deadline, then a tick notices.
    assert run.tick(9.95) == ()
    assert run.tick(10.0) == (StoppedLeading(0, "renew-deadline", 10.0), ReadLease(2.0))


def test_a_spurious_conflict_on_renewal_is_checked_and_leadership_kept():
    run = Run("a")
    run.lead(0.0, version="10")
    run.tick(1.0)
    (check,) = run.feed(LeaseConflict(), at=1.01)
    assert check == ReadLease(pytest.approx(0.99)), "read the Lease, bounded by the deadline"
    own = run.state.written
    assert run.feed(LeaseRead(own, "10"), at=1.02) == ()
    assert run.state.role is Role.LEADER and acting(run.state, 1.5)
    # Half the time left to the deadline, not a whole period: one refusal is survivable.
    assert next_wakeup(run.state) == pytest.approx(1.51)
    (renew,) = run.tick(1.51)
    assert renew.resource_version == "10"
    assert run.feed(LeaseWritten("12"), at=1.52) == ()
    assert acting(run.state, 3.5)


def test_a_conflict_from_an_edit_of_the_lease_object_renews_at_once_with_its_new_version():
    run = Run("a")
    run.lead(0.0, version="10")
    run.tick(1.0)
    run.feed(LeaseConflict(), at=1.01)
    # Someone added a label: same record, new resourceVersion.
    (renew,) = run.feed(LeaseRead(run.state.written, "15"), at=1.02)
    assert isinstance(renew, UpdateLease) and renew.resource_version == "15"


def test_a_leader_whose_lease_was_taken_over_stops_at_once():
    run = Run("a")
    run.lead(0.0)
    run.tick(1.0)
    run.feed(LeaseConflict(), at=1.01)
    actions = run.feed(LeaseRead(held("c", 1, 1.0), "20"), at=1.02)
    assert actions == (LeaderSeen("c", 1), StoppedLeading(0, "taken-over", 1.02, holder="c"))
    assert not acting(run.state, 1.03)
    assert current_leader(run.state, 1.03) == ("c", 1)


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (None, "lease-deleted"),
        (held("a", 9, 0.5), "lease-changed"),
        # Cleared by somebody else: it names no holder to report.
        (LeaseRecord("", 1, 0, stamp(0.5), stamp(0.5)), "taken-over"),
    ],
)
def test_a_leader_whose_record_is_not_its_own_any_more_stops(record, reason):
    run = Run("a")
    run.lead(0.0)
    run.tick(1.0)
    run.feed(LeaseConflict(), at=1.01)
    (lost,) = run.feed(LeaseRead(record, "20" if record else None), at=1.02)
    assert lost == StoppedLeading(0, reason, 1.02)


def test_a_leader_that_lost_its_deadline_takes_its_own_untouched_record_back_in_a_new_term():
    run = Run("a")
    run.lead(0.0, version="10")
    written = run.state.written
    for t in (1.0, 2.0):
        run.tick(t)
        run.feed(LeaseFailed("connection"), at=t)
    assert run.state.role is Role.CANDIDATE
    run.tick(3.0)
    (take,) = run.feed(LeaseRead(written, "10"), at=3.0)
    assert take == UpdateLease(held("a", 1, 3.0), "10", 1.0)


# --------------------------------------------------------------------- releasing


def test_release_on_shutdown_clears_the_holder_so_a_standby_need_not_wait():
    run = Run("a")
    run.lead(0.0, version="10")
    (release,) = run.feed(ReleaseRequested(), at=0.5)
    assert release == UpdateLease(LeaseRecord(None, 1, 0, stamp(0.5), stamp(0.5)), "10", 1.0)
    assert not acting(run.state, 0.5), "no patch once the release began"
    assert run.feed(LeaseWritten("11"), at=0.51) == (ReleasedLeadership(0, cleared=True),)
    assert run.state.role is Role.STOPPED and next_wakeup(run.state) is None
    assert run.tick(5.0) == ()


def test_a_failed_release_is_reported_and_the_elector_stops_anyway():
    run = Run("a")
    run.lead(0.0)
    run.feed(ReleaseRequested(), at=0.5)
    # Nothing of ours is unconfirmed: the conflict is somebody else's write (not retried).
    assert run.feed(LeaseConflict(), at=0.51) == (
        ReleasedLeadership(0, cleared=False, error="conflict"),
    )
    assert run.state.role is Role.STOPPED


def test_a_release_requested_during_a_renewal_waits_for_its_answer():
    run = Run("a")
    run.lead(0.0, version="10")
    run.tick(1.0)
    assert run.feed(ReleaseRequested(), at=1.01) == ()
    (release,) = run.feed(LeaseWritten("11"), at=1.02)
    assert isinstance(release, UpdateLease) and release.resource_version == "11"
    assert release.record.holder is None


def test_a_candidate_asked_to_release_just_stops():
    run = Run("b")
    run.tick(0.0)
    run.feed(LeaseRead(held("a", 1, 0.0), "5"), at=0.0)
    assert run.feed(ReleaseRequested(), at=0.5) == ()
    assert run.state.role is Role.STOPPED and next_wakeup(run.state) is None


def test_a_candidate_asked_to_release_during_a_read_does_not_take_the_lease():
    run = Run("b")
    run.tick(0.0)
    run.feed(ReleaseRequested(), at=0.1)
    assert run.feed(LeaseRead(None), at=0.2) == ()
    assert run.state.role is Role.STOPPED


def test_a_leader_past_its_deadline_does_not_write_a_release():
    run = Run("a")
    run.lead(0.0)
    run.tick(1.0)
    run.feed(LeaseFailed("connection"), at=1.0)
    assert run.feed(ReleaseRequested(), at=2.5) == (StoppedLeading(0, "renew-deadline", 2.5),)
    assert run.state.role is Role.STOPPED


# ------------------------------------------------------------------------ timing


def test_retry_periods_are_jittered_over_one_to_one_point_two_periods():
    assert T.period(0.0) == 1.0
    assert T.period(0.5) == pytest.approx(1.1)
    assert T.period(0.999) == pytest.approx(1.1998)
    assert T.period(7.0) == pytest.approx(1.2), "out-of-range draws are clamped"
    run = Run("a")
    run.lead(0.0)
    run.tick(1.0)
    run.feed(LeaseWritten("11"), at=1.0, jitter=0.5)
    assert next_wakeup(run.state) == pytest.approx(2.1)


@pytest.mark.parametrize(("lease", "renew", "retry"), [(2, 2, 1), (3, 2, 2), (3, 1, 1), (0, 0, 0)])
def test_timings_that_could_let_two_leaders_act_are_refused(lease, renew, retry):
    with pytest.raises(ValueError, match=r"lease > renew deadline > 1\.2 x retry period"):
        ElectionTimings(lease, renew, retry)


def test_two_replicas_alternate_without_ever_acting_at_once():
    """A whole failover, both replicas stepped against one simulated Lease."""
    lease: dict = {"record": None, "rv": 0}
    alive = {"a": True, "b": True}
    runs = {"a": Run("a"), "b": Run("b")}
    overlaps = []
    leaders = []

    def serve(name: str, action, at: float):
        if not alive[name]:
            return LeaseFailed("connection")
        if isinstance(action, ReadLease):
            record = lease["record"]
            return LeaseRead(record, str(lease["rv"]) if record else None)
        if isinstance(action, CreateLease):
            if lease["record"] is not None:
                return LeaseConflict()
        elif action.resource_version != str(lease["rv"]):
            return LeaseConflict()
        lease["record"], lease["rv"] = action.record, lease["rv"] + 1
        return LeaseWritten(str(lease["rv"]))

    t = 0.0
    while t < 30.0:
        if t >= 10.0:
            alive["a"] = False  # cut off from the API from t=10
        for name, run in runs.items():
            actions = run.tick(t, jitter=(t * 7.3) % 1)
            while actions:
                follow = []
                for action in actions:
                    if isinstance(action, BecameLeader):
                        leaders.append((name, action.epoch, t))
                    if isinstance(action, ReadLease | CreateLease | UpdateLease):
                        follow.extend(run.feed(serve(name, action, t), t, jitter=0.3))
                actions = tuple(follow)
        if acting(runs["a"].state, t) and acting(runs["b"].state, t):
            overlaps.append(t)
        t = round(t + 0.05, 2)
    assert overlaps == []
    assert [(name, epoch) for name, epoch, _ in leaders] == [("a", 0), ("b", 1)]
    takeover = leaders[1][2]
    assert 10.0 + 2.0 <= takeover <= 10.0 + 3.0 + 2 * 1.2


# ------------------------------------------------------------ timing details


def test_a_standby_looks_again_right_when_the_lease_expires_if_that_is_sooner_than_a_period():
    run = Run("b")
    run.tick(0.0)
    run.feed(LeaseRead(held("a", 3, 0.0), "5"), at=0.0)
    run.tick(2.5)  # a late wake-up: the record expires at 3.0, before a period is over
    assert run.feed(LeaseRead(held("a", 3, 0.0), "5"), at=2.5) == ()
    assert next_wakeup(run.state) == 3.0
    run.tick(3.0)
    (take,) = run.feed(LeaseRead(held("a", 3, 0.0), "5"), at=3.0)
    assert take == UpdateLease(held("b", 4, 3.0), "5", 1.0)


def test_a_failed_renewal_far_from_the_deadline_is_retried_within_a_period():
    run = Run("a", timings=ElectionTimings(15, 10, 2))
    run.lead(0.0)
    run.tick(2.0)
    run.feed(LeaseFailed("server-error", "500"), at=2.1)
    # Half the time left would be 3.95 s: a period (2 s) is sooner.
    assert next_wakeup(run.state) == pytest.approx(4.1)


def test_a_leader_past_its_deadline_takes_its_own_record_back_before_it_expires():
    """Nobody touched the record since this process wrote it: no need to wait the
    lease out, and the new term has no previous holder but itself (reported as none)."""
    run = Run("a", timings=ElectionTimings(15, 10, 2))
    run.lead(0.0, version="10")
    written = run.state.written
    run.tick(2.0)
    run.feed(LeaseFailed("connection"), at=2.0)
    while (wake := next_wakeup(run.state)) < 10.0:
        run.tick(wake)
        run.feed(LeaseFailed("connection"), at=wake)
    lost, read = run.tick(10.0)
    assert isinstance(lost, StoppedLeading) and isinstance(read, ReadLease)
    (take,) = run.feed(LeaseRead(written, "10"), at=10.0)  # it would expire at 15
    assert take == UpdateLease(held("a", 1, 10.0, duration=15), "10", 2.0)
    (became,) = run.feed(LeaseWritten("11"), at=10.1)
    assert became == BecameLeader(epoch=1, previous_holder=None, latency_seconds=0.1)


def test_a_lease_released_with_an_empty_holder_names_no_previous_holder():
    """``holderIdentity: ""`` is how a released Lease may read: nobody held it."""
    run = Run("b")
    run.tick(0.0)
    released = LeaseRecord("", 1, 3, stamp(0.0), stamp(0.0))
    (take,) = run.feed(LeaseRead(released, "6"), at=0.0)
    assert take == UpdateLease(held("b", 4, 0.0), "6", 1.0)
    (became,) = run.feed(LeaseWritten("7"), at=0.0)
    assert became == BecameLeader(epoch=4, previous_holder=None, latency_seconds=0.0)


def test_terms_are_numbered_above_the_highest_the_journal_named_before_the_start():
    """A Lease deleted and created anew counts from 0 again: a replica that started
    after that, knowing term 7 from its journal, must not lead a second term 0 or 3."""
    fresh = Run("a")
    fresh.state = initial_election("a", T, 0.0, highest_epoch=7)
    fresh.tick(0.0)
    (create,) = fresh.feed(LeaseRead(None), at=0.0)
    assert create == CreateLease(held("a", 8, 0.0), 1.0)
    assert fresh.feed(LeaseWritten("1"), at=0.1) == (BecameLeader(8, None, 0.1),)
    standby = Run("b")
    standby.state = initial_election("b", T, 0.0, highest_epoch=7)
    standby.tick(0.0)
    recreated = held("c", 2, 0.0)
    standby.feed(LeaseRead(recreated, "5"), at=0.0)
    for t in (1.0, 2.0):
        standby.tick(t)
        assert standby.feed(LeaseRead(recreated, "5"), at=t) == ()
    standby.tick(3.0)
    (take,) = standby.feed(LeaseRead(recreated, "5"), at=3.0)
    assert take == UpdateLease(held("b", 8, 3.0), "5", 1.0), "above 7, not the Lease's 2 + 1"
    assert standby.feed(LeaseWritten("6"), at=3.1) == (BecameLeader(8, "c", 3.1),)
