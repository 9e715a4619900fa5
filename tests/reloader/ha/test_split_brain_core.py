"""The decision core when a patch comes back fenced after its leader lost the Lease.

A leader decides a restart, then loses its Lease before the executor sends the
patch (a paused process, a journal that could not be written): the executor's
fencing check refuses to send it and reports ``PatchFenced`` to what is a
standby by then. Such a restart belongs to the next leader; the standby must
neither keep it pending nor settle it as its own at shutdown.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from journal import Journal
from records import kinds as k
from reloader.core import (
    ConfigMapSeen,
    DeploymentSeen,
    EventType,
    LeaderObserved,
    LeadershipChanged,
    PatchFenced,
    ShutdownRequested,
    Tick,
    flush_complete,
)
from reloader.core.election import (
    CreateLease,
    ElectionTimings,
    LeaseConflict,
    LeaseRead,
    LeaseRecord,
    LeaseWritten,
    Role,
    UpdateLease,
)
from reloader.runtime.election import LeaseElector
from reloader.runtime.health import Health
from reloader.runtime.journal_writer import JournalWriter
from reloader.runtime.loop import ReconcileLoop
from reloader.runtime.metrics import ControllerMetrics
from tests.reloader.core.scenario import V1, V2, cm, deploy, h, started
from tests.reloader.e2e.harness import wait_for
from tests.reloader.runtime.test_loop import Sink

LEASE = "helloworld-controller-leader"


def fenced_after_the_loss():
    run = started()
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.tick(11.0)
    [patch] = run.patches()
    run.feed(LeadershipChanged(False), at=12.0)
    run.feed(PatchFenced(patch.deployment, patch.correlation_id), at=12.1)
    return run


def test_a_standby_settles_a_fenced_restart_at_shutdown_without_sending_it():
    run = fenced_after_the_loss()
    mark = run.mark()
    run.feed(ShutdownRequested("SIGTERM"), at=13.0)
    run.tick(14.0)
    assert run.patches(mark) == []
    assert flush_complete(run.state)
    assert k.RESTART_DROPPED not in run.kinds(mark)
    assert k.RESTART_PATCHED not in run.kinds(mark)


def test_a_standby_does_not_claim_the_new_leaders_restart_as_its_own():
    run = fenced_after_the_loss()
    # The new leader's patch shows in this replica's watch.
    run.feed(DeploymentSeen(EventType.MODIFIED, deploy("helloworld-test", h(V2), rv="12")), 13.0)
    mark = run.mark()
    run.feed(ShutdownRequested("SIGTERM"), at=14.0)
    assert run.records(k.RESTART_PATCHED, since=mark) == []
    assert flush_complete(run.state)


def test_a_fenced_answer_after_the_loss_is_given_up_at_once():
    """Not kept in backoff for a term that is over: given up for the next leader."""
    run = fenced_after_the_loss()
    [failed] = run.records(k.RESTART_FAILED)
    assert failed.data["reason"] == "not-leader"
    assert k.RESTART_RETRY not in run.kinds()
    run.run_until(30.0)
    assert len(run.patches()) == 1, "never sent again by this replica"


def test_a_new_term_decides_afresh_instead_of_resending_the_fenced_patch():
    run = fenced_after_the_loss()
    # Meanwhile another leader rolled something else: the Deployment moved on.
    run.feed(DeploymentSeen(EventType.MODIFIED, deploy("helloworld-test", h(V1), rv="15")), 13.0)
    mark = run.mark()
    run.feed(LeadershipChanged(True), at=20.0)
    run.run_until(30.0)
    assert [r.data["reason"] for r in run.records(k.RESTART_FAILED)] == ["not-leader"]
    [patch] = run.patches(mark)
    assert (patch.data_hash, patch.resource_version) == (h(V2), "15")


class ExpiredLease:
    """A leadership whose renew deadline has passed, its elector not yet reporting it."""

    identity = "helloworld-controller-1"

    def __init__(self) -> None:
        self.confirmed = True

    def is_leader(self) -> bool:
        return self.confirmed

    def confirm(self) -> bool:
        return self.confirmed

    def epoch(self) -> int | None:
        return 3 if self.confirmed else None


def unconfirmed_loop(tmp_path, clock) -> tuple[ReconcileLoop, Journal, ExpiredLease, Sink]:
    """A loop acting as leader whose Lease the elector has not yet reported lost."""
    journal = Journal.open(str(tmp_path / "journal.db"), actor="helloworld-controller-1")
    leadership = ExpiredLease()
    sink = Sink()
    loop = ReconcileLoop(
        started(debounce_seconds=0.0).state,
        JournalWriter(journal, "shipshape"),
        executor=sink,
        leadership=leadership,
        metrics=ControllerMetrics(CollectorRegistry(), "shipshape"),
        health=Health(),
        clock=clock,
        wall=lambda: datetime(2026, 11, 26, 10, 0, tzinfo=UTC),
    )
    return loop, journal, leadership, sink


def test_nothing_is_decided_as_leader_between_the_lease_deadline_and_the_loss(tmp_path):
    now = [10.0]
    loop, journal, leadership, sink = unconfirmed_loop(tmp_path, lambda: now[0])
    leadership.confirmed = False  # the deadline passed; the elector has not said so yet
    loop.apply(ConfigMapSeen(EventType.MODIFIED, cm("helloworld-config-test", V2, rv="11")))
    now[0] = 11.0
    loop.apply(Tick())
    loop.commit()
    assert sink.sent == []
    assert [r.kind for r in journal.read() if r.kind.startswith("restart.")] == []
    # The loss comes in: the change is taken as a standby's.
    loop.apply(LeadershipChanged(False, lease=LEASE, epoch=3, reason="renew-deadline"))
    now[0] = 12.0
    loop.apply(Tick())
    loop.commit()
    kinds = [r.kind for r in journal.read()]
    assert kinds == [
        k.LEADER_LOST,
        k.CONFIGMAP_OBSERVED,
        k.DEBOUNCE_SCHEDULED,
        k.DEBOUNCE_SKIPPED,
    ]
    assert sink.sent == []
    journal.close()


def test_a_renewal_confirmed_late_lets_the_held_events_through_in_order(tmp_path):
    loop, journal, leadership, sink = unconfirmed_loop(tmp_path, lambda: 10.0)
    leadership.confirmed = False
    loop.apply(ConfigMapSeen(EventType.MODIFIED, cm("helloworld-config-test", V2, rv="11")))
    loop.commit()
    assert sink.sent == []
    leadership.confirmed = True  # a renewal sent in time was answered
    loop.apply(Tick())
    loop.commit()
    [patch] = sink.sent
    assert patch.data_hash == h(V2)
    journal.close()


class HandedAway:
    """A Lease this replica creates, then somebody hands to a stranger by hand."""

    name = LEASE

    def __init__(self) -> None:
        self.stranger = LeaseRecord("a-stranger", 3, 0, "2026-11-26T10:00:01.000000Z", None)
        self.created = False

    def perform(self, request):
        if isinstance(request, CreateLease):
            self.created = True
            return LeaseWritten("1")
        if isinstance(request, UpdateLease):
            return LeaseConflict()  # the edit moved the version
        return LeaseRead(self.stranger if self.created else None, "2" if self.created else None)


def test_a_leader_that_finds_a_stranger_in_its_lease_reports_its_loss_before_the_stranger():
    seen: list = []
    elector = LeaseElector(HandedAway(), "helloworld-controller-0", ElectionTimings(3, 2, 1))
    elector.start(seen.append)
    try:
        wait_for(lambda: len(seen) >= 3, "the term, its loss and the stranger", timeout=5)
    finally:
        elector.release(timeout=3)
    acquired, lost, observed = seen[:3]
    assert isinstance(acquired, LeadershipChanged) and acquired.acting
    assert isinstance(lost, LeadershipChanged) and not lost.acting
    assert lost.reason == "taken-over" and lost.detail["holder"] == "a-stranger"
    assert observed == LeaderObserved(LEASE, "a-stranger", 0)


def test_a_holder_renewing_with_a_clock_that_stands_still_is_not_taken_over():
    from tests.reloader.core.test_election import Run as Election
    from tests.reloader.core.test_election import held

    run = Election("b")
    # The holder's wall clock does not advance: every renewal writes the same
    # record, but each write moves the Lease's resourceVersion.
    frozen = held("a", 1, 0.0)
    for t, version in ((0.0, "5"), (1.0, "6"), (2.0, "7"), (3.0, "8"), (4.0, "9")):
        run.tick(t)
        actions = run.feed(LeaseRead(frozen, version), at=t)
        assert not [a for a in actions if isinstance(a, UpdateLease)], f"taken over at {t}"
    assert run.state.role is not Role.LEADER
    # Once the writes stop, the record expires a lease duration after the last one.
    for t in (5.0, 6.0, 7.0):
        run.tick(t)
        actions = run.feed(LeaseRead(frozen, "9"), at=t)
    assert [a for a in actions if isinstance(a, UpdateLease)]
