"""The election state machine at the edges: answers lost after the write was stored.

A request that fails on the client's side (a timeout, a reset connection)
may have been carried out by the API server all the same. Same fake clock and
timings as ``test_election.py`` (lease 3 s, renew deadline 2 s, retry period 1 s).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from reloader.core.election import (
    BecameLeader,
    CreateLease,
    LeaseConflict,
    LeaseFailed,
    LeaseRead,
    LeaseWritten,
    ReadLease,
    ReleasedLeadership,
    ReleaseRequested,
    Role,
    StoppedLeading,
    UpdateLease,
    acting,
    current_leader,
    next_wakeup,
)
from tests.reloader.core.test_election import Run, held, stamp

# ------------------------------------------------------- a renewal's answer lost


def test_a_renewal_stored_whose_answer_was_lost_is_adopted_and_leadership_kept():
    run = Run("a")
    run.lead(0.0, version="10")
    (renew,) = run.tick(1.0)
    stored = renew.record  # the server stores it as rv 11; the answer never comes
    assert run.feed(LeaseFailed("timeout", "read timed out"), at=1.5) == ()
    assert next_wakeup(run.state) == pytest.approx(1.75)
    (retry,) = run.tick(1.75)
    assert retry.resource_version == "10", "it does not know rv 11"
    (check,) = run.feed(LeaseConflict(), at=1.76)
    assert isinstance(check, ReadLease)
    # It reads back its own renewal: not a change by somebody else.
    (again,) = run.feed(LeaseRead(stored, "11"), at=1.77)
    assert again == UpdateLease(replace(stored, renew_time=stamp(1.77)), "11", 1.0), (
        "it renews at once from the version it never saw"
    )
    assert run.state.role is Role.LEADER and run.state.epoch == 0
    # The stored renewal was sent at 1.0: the deadline counts from then.
    assert acting(run.state, 2.99) and not acting(run.state, 3.0)
    assert run.feed(LeaseWritten("12"), at=1.78) == ()
    assert acting(run.state, 3.76) and run.state.unconfirmed == ()


def test_the_renewal_adopted_is_the_one_read_back_not_the_latest_sent():
    run = Run("a")
    run.lead(0.0, version="10")
    (first,) = run.tick(1.0)
    run.feed(LeaseFailed("timeout"), at=1.2)  # stored
    (second,) = run.tick(1.6)
    run.feed(LeaseFailed("timeout"), at=1.65)  # refused with 409, but that answer was lost too
    assert next_wakeup(run.state) == pytest.approx(1.9)
    run.tick(1.9)
    run.feed(LeaseConflict(), at=1.91)
    (renew,) = run.feed(LeaseRead(first.record, "11"), at=1.92)
    assert isinstance(renew, UpdateLease) and renew.resource_version == "11"
    assert run.state.renewed_at == 1.0 and run.state.written == first.record
    assert second.record != first.record


def test_a_leader_still_stops_when_the_record_read_back_is_one_it_never_sent():
    run = Run("a")
    run.lead(0.0, version="10")
    run.tick(1.0)
    run.feed(LeaseFailed("timeout"), at=1.5)
    run.tick(1.75)
    run.feed(LeaseConflict(), at=1.76)
    twin = held("a", 0, 1.3)  # its name, its term, a time it never stamped
    (lost,) = run.feed(LeaseRead(twin, "11"), at=1.77)
    assert lost == StoppedLeading(0, "lease-changed", 1.77)


def test_a_leader_past_its_deadline_takes_its_own_lost_renewal_back_at_once():
    run = Run("a")
    run.lead(0.0, version="10")
    (renew,) = run.tick(1.0)
    run.feed(LeaseFailed("timeout"), at=1.5)
    while run.state.role is Role.LEADER:
        run.tick(next_wakeup(run.state))
        if run.state.in_flight is not None:
            run.feed(LeaseFailed("connection"), at=run.state.in_flight.sent_at)
    # Nobody wrote after its stored renewal: no need to wait the lease out.
    run.tick(next_wakeup(run.state))
    (take,) = run.feed(LeaseRead(renew.record, "11"), at=3.2)
    assert take == UpdateLease(held("a", 1, 3.2), "11", 1.0), "a new term, at once"


# --------------------------------------------- a creation or take-over's answer lost


def test_a_take_over_stored_whose_answer_was_lost_leads_under_that_term():
    run = Run("b", start=10.0)
    run.tick(10.0)
    run.feed(LeaseRead(held("a", 4, 0.0), "50"), at=10.0)
    run.tick(13.0)
    (take,) = run.feed(LeaseRead(held("a", 4, 0.0), "50"), at=13.0)
    assert take.record.transitions == 5
    assert run.feed(LeaseFailed("connection", "connection reset"), at=13.2) == ()
    assert run.state.role is Role.CANDIDATE and not acting(run.state, 13.2)
    assert run.tick(next_wakeup(run.state)) == (ReadLease(1.0),)
    # Its take-over is in the Lease: term 5 is its own, from when it was sent.
    became, renew = run.feed(LeaseRead(take.record, "51"), at=14.2)
    assert became == BecameLeader(epoch=5, previous_holder="a", latency_seconds=4.2)
    assert renew == UpdateLease(
        replace(take.record, renew_time=stamp(14.2)), "51", pytest.approx(0.8)
    )
    assert run.state.epoch == 5 and acting(run.state, 14.99) and not acting(run.state, 15.0)


def test_a_creation_stored_whose_answer_was_lost_leads_under_epoch_0():
    run = Run("a")
    run.tick(0.0)
    (create,) = run.feed(LeaseRead(None), at=0.0)
    assert isinstance(create, CreateLease)
    run.feed(LeaseFailed("timeout"), at=0.5)
    assert run.tick(1.5) == (ReadLease(1.0),)
    became, renew = run.feed(LeaseRead(create.record, "7"), at=1.5)
    assert became == BecameLeader(epoch=0, previous_holder=None, latency_seconds=1.5)
    assert isinstance(renew, UpdateLease) and renew.resource_version == "7"


def test_a_take_over_read_back_after_the_renew_deadline_is_taken_at_once_in_its_term():
    run = Run("b")
    run.tick(0.0)
    (take,) = run.feed(LeaseRead(held(None, 1, 0.0), "50"), at=0.0)
    run.feed(LeaseFailed("timeout"), at=1.0)
    run.tick(next_wakeup(run.state))
    run.feed(LeaseFailed("connection"), at=2.0)
    run.tick(next_wakeup(run.state))
    # Read back 3 s after it was sent, past the renew deadline: too late to lead
    # from then, but nobody needs waiting out, and nobody led term 2: it is
    # taken again as it is, so the journal shows no epoch that nobody led.
    (again,) = run.feed(LeaseRead(take.record, "51"), at=3.0)
    assert take.record.transitions == 2
    assert again == UpdateLease(held("b", 2, 3.0), "51", 1.0)
    assert run.feed(LeaseWritten("52"), at=3.1) == (BecameLeader(2, None, 3.1),)


def test_a_take_over_that_was_not_stored_is_simply_tried_again():
    run = Run("b")
    run.tick(0.0)
    run.feed(LeaseRead(held(None, 1, 0.0), "50"), at=0.0)
    run.feed(LeaseFailed("timeout"), at=1.0)
    run.tick(next_wakeup(run.state))
    (again,) = run.feed(LeaseRead(held(None, 1, 0.0), "50"), at=2.0)
    assert again == UpdateLease(held("b", 2, 2.0), "50", 1.0)
    assert run.feed(LeaseWritten("51"), at=2.1) == (BecameLeader(2, None, 2.1),)
    assert run.state.unconfirmed == ()


# ----------------------------------------------------- two replicas, lossy answers


def test_two_replicas_never_act_at_once_when_answers_are_lost_after_the_write():
    """A whole run against one simulated Lease that stores every third write
    without answering it: no overlap, epochs only rise, nobody loses to itself."""
    lease: dict = {"record": None, "rv": 0, "writes": 0}
    runs = {"a": Run("a"), "b": Run("b")}
    overlaps, terms, losses = [], [], []

    def serve(action):
        if isinstance(action, ReadLease):
            record = lease["record"]
            return LeaseRead(record, str(lease["rv"]) if record else None)
        if isinstance(action, CreateLease):
            if lease["record"] is not None:
                return LeaseConflict()
        elif action.resource_version != str(lease["rv"]):
            return LeaseConflict()
        lease["record"], lease["rv"] = action.record, lease["rv"] + 1
        lease["writes"] += 1
        if lease["writes"] % 3 == 0:
            return LeaseFailed("timeout")
        return LeaseWritten(str(lease["rv"]))

    t = 0.0
    while t < 40.0:
        for name, run in runs.items():
            actions = run.tick(t, jitter=(t * 7.3) % 1)
            while actions:
                follow = []
                for action in actions:
                    if isinstance(action, BecameLeader):
                        terms.append((name, action.epoch))
                    if isinstance(action, StoppedLeading):
                        losses.append((name, action.reason))
                    if isinstance(action, ReadLease | CreateLease | UpdateLease):
                        follow.extend(run.feed(serve(action), t, jitter=0.3))
                actions = tuple(follow)
        if acting(runs["a"].state, t) and acting(runs["b"].state, t):
            overlaps.append(t)
        t = round(t + 0.05, 2)
    assert overlaps == []
    assert terms == [("a", 0)], "the first leader keeps the Lease through lost answers"
    assert losses == []
    assert acting(runs["a"].state, t - 0.05)


# ------------------------------------------------------------- a deleted Lease


def test_a_lease_created_again_after_a_failed_creation_keeps_the_epochs_rising():
    run = Run("b")
    run.tick(0.0)
    run.feed(LeaseRead(held("a", 6, 3.0), "5"), at=0.0)
    run.tick(3.0)
    (create,) = run.feed(LeaseRead(None), at=3.0)  # "a" stopped renewing long ago
    assert create.record.transitions == 7
    run.feed(LeaseFailed("forbidden", "403"), at=3.1)  # refused: not stored
    run.tick(next_wakeup(run.state))
    (again,) = run.feed(LeaseRead(None), at=4.1)
    assert again == CreateLease(held("b", 7, 4.1), 1.0), "not epoch 0 again"


def test_a_leader_that_finds_its_lease_deleted_creates_it_again_in_a_higher_term():
    run = Run("a")
    run.tick(0.0)
    run.feed(LeaseRead(held(None, 3, 0.0), "5"), at=0.0)
    run.feed(LeaseWritten("6"), at=0.0)
    assert run.state.epoch == 4
    run.tick(1.0)
    run.feed(LeaseConflict(), at=1.01)
    (lost,) = run.feed(LeaseRead(None), at=1.02)
    assert lost == StoppedLeading(4, "lease-deleted", 1.02)
    run.tick(next_wakeup(run.state))
    (create,) = run.feed(LeaseRead(None), at=2.02)
    assert create == CreateLease(held("a", 5, 2.02), 1.0), "epochs never go back"


def test_a_lease_deleted_under_a_live_leader_is_not_created_while_it_may_act():
    """The leader's next renewal creates the Lease again (a Lease PUT creates a
    missing one); the standby sees that as a change and keeps waiting."""
    run = Run("b")
    run.tick(0.0)
    run.feed(LeaseRead(held("a", 2, 0.0), "5"), at=0.0)
    run.tick(1.0)
    assert run.feed(LeaseRead(None), at=1.0) == ()
    run.tick(2.0)
    recreated = held("a", 2, 1.5)
    assert run.feed(LeaseRead(recreated, "8"), at=2.0) == (), "same holder and term"
    assert current_leader(run.state, 2.0) == ("a", 2)
    run.tick(3.0)
    assert run.feed(LeaseRead(recreated, "8"), at=3.0) == ()
    assert run.state.vanished is None and next_wakeup(run.state) == 4.0


def test_a_lease_deleted_long_after_its_holder_stopped_is_created_at_once():
    run = Run("b")
    run.tick(0.0)
    run.feed(LeaseRead(held("a", 2, 0.0), "5"), at=0.0)
    for t in (1.0, 2.0):
        run.tick(t)
        run.feed(LeaseRead(held("a", 2, 0.0), "5"), at=t)
    run.tick(3.0)
    (create,) = run.feed(LeaseRead(None), at=3.0)  # expired at 3.0 anyway
    assert create == CreateLease(held("b", 3, 3.0), 1.0)


def test_a_lease_of_my_own_deleted_is_created_at_once():
    run = Run("a")
    run.lead(0.0)
    run.tick(1.0)
    run.feed(LeaseConflict(), at=1.01)
    run.feed(LeaseRead(None), at=1.02)  # lost: lease-deleted
    run.tick(next_wakeup(run.state))
    (create,) = run.feed(LeaseRead(None), at=2.02)
    assert create.record.transitions == 1


# --------------------------------------------------------- a release's answer lost


def test_a_release_stored_whose_answer_was_lost_is_read_back_and_reported_cleared():
    run = Run("a")
    run.lead(0.0, version="10")
    (release,) = run.feed(ReleaseRequested(), at=0.5)
    (check,) = run.feed(LeaseFailed("connection", "connection reset"), at=0.6)
    assert check == ReadLease(1.0) and run.state.role is Role.RELEASING
    assert not acting(run.state, 0.6)
    assert run.feed(LeaseRead(release.record, "11"), at=0.61) == (
        ReleasedLeadership(0, cleared=True),
    )
    assert run.state.role is Role.STOPPED


@pytest.mark.parametrize(
    "answer", [LeaseRead(held("a", 0, 0.0), "10"), LeaseFailed("timeout", "read timed out")]
)
def test_a_release_not_stored_or_unknown_is_reported_with_the_first_failure(answer):
    run = Run("a")
    run.lead(0.0, version="10")
    run.feed(ReleaseRequested(), at=0.5)
    run.feed(LeaseFailed("connection", "connection reset"), at=0.6)
    assert run.feed(answer, at=0.7) == (ReleasedLeadership(0, cleared=False, error="connection"),)
    assert run.state.role is Role.STOPPED and next_wakeup(run.state) is None


@pytest.mark.parametrize(
    "refusal", [LeaseConflict(), LeaseFailed("timeout")], ids=["conflict", "answer-lost"]
)
def test_a_release_refused_only_by_our_own_lost_renewal_is_sent_again_once(refusal):
    """The release is conditional on the version of our last confirmed write; a
    renewal stored since, whose answer was lost, makes it stale. Read back, the
    record is still ours: released again from its version, so that a standby
    need not wait a whole lease duration."""
    run = Run("a")
    run.lead(0.0, version="10")
    (renew,) = run.tick(1.0)
    run.feed(LeaseFailed("timeout"), at=1.1)  # stored as rv 11, unanswered
    (release,) = run.feed(ReleaseRequested(), at=1.2)
    assert release.resource_version == "10"
    # The release, conditional on rv 10, was refused (or that answer was lost too).
    (check,) = run.feed(refusal, at=1.3)
    assert check == ReadLease(1.0) and not acting(run.state, 1.3)
    (again,) = run.feed(LeaseRead(renew.record, "11"), at=1.4)
    assert again == UpdateLease(held(None, 0, 1.4, duration=1), "11", again.timeout)
    assert run.feed(LeaseWritten("12"), at=1.5) == (ReleasedLeadership(0, cleared=True),)


def test_a_release_sent_again_and_refused_again_is_reported_not_retried():
    run = Run("a")
    run.lead(0.0, version="10")
    (renew,) = run.tick(1.0)
    run.feed(LeaseFailed("timeout"), at=1.1)
    run.feed(ReleaseRequested(), at=1.2)
    run.feed(LeaseConflict(), at=1.3)
    run.feed(LeaseRead(renew.record, "11"), at=1.4)
    assert run.feed(LeaseConflict(), at=1.5) == (
        ReleasedLeadership(0, cleared=False, error="conflict"),
    )
    assert run.state.role is Role.STOPPED


def test_a_candidate_stopping_with_a_take_over_stored_unanswered_releases_it():
    """Its take-over may have been stored though the answer was lost: the Lease
    would name a stopped replica and keep the standbys out until it expired."""
    run = Run("b", start=10.0)
    run.tick(10.0)
    old = held("a", 4, 0.0)
    run.feed(LeaseRead(old, "50"), at=10.0)
    for t in (11.0, 12.0):
        run.tick(t)
        run.feed(LeaseRead(old, "50"), at=t)
    run.tick(13.0)
    (take,) = run.feed(LeaseRead(old, "50"), at=13.0)
    assert take.record.holder == "b"
    run.feed(LeaseFailed("timeout", "read timed out"), at=13.5)
    assert run.feed(ReleaseRequested(), at=13.6) == (ReadLease(1.0),)
    assert not acting(run.state, 13.6), "a term whose start is unconfirmed is not acted on"
    (release,) = run.feed(LeaseRead(take.record, "51"), at=13.7)
    assert release == UpdateLease(held(None, 5, 13.7, duration=1), "51", 1.0)
    # Never led, so no release is reported (nothing to journal), and it stops.
    assert run.feed(LeaseWritten("52"), at=13.8) == ()
    assert run.state.role is Role.STOPPED and next_wakeup(run.state) is None


@pytest.mark.parametrize("found", [None, held("c", 5, 13.0)], ids=["lease-gone", "another-holder"])
def test_a_stopping_candidate_whose_take_over_was_not_stored_just_stops(found):
    run = Run("b", start=10.0)
    run.tick(10.0)
    old = held("a", 4, 0.0)
    run.feed(LeaseRead(old, "50"), at=10.0)
    for t in (11.0, 12.0, 13.0):
        run.tick(t)
        run.feed(LeaseRead(old, "50"), at=t)
    run.feed(LeaseFailed("timeout", "read timed out"), at=13.5)
    run.feed(ReleaseRequested(), at=13.6)
    assert run.feed(LeaseRead(found, "51"), at=13.7) == ()
    assert run.state.role is Role.STOPPED
