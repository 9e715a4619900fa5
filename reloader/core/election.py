"""Leader election over a ``coordination.k8s.io/v1`` Lease: the pure state machine.

It reproduces the semantics of client-go's ``tools/leaderelection``:

* A candidate takes the Lease only once its record (holder, times,
  transitions) has not changed for the record's ``leaseDurationSeconds``, as
  measured by the candidate's *own* monotonic clock from the moment it first
  saw that record. The holder's timestamps are never compared with the local
  clock: nodes' clocks differ, and a record's times only serve to make each
  renewal a visible change.
* The leader renews every retry period (jittered) and stops acting as soon as
  ``renew_deadline`` has passed since its last successful renewal was *sent*
  (the conservative end of the request: the server may have stored it later,
  never earlier). Because ``lease_duration > renew_deadline``, a standby can
  take over only after the old leader has stopped acting. (client-go counts
  the deadline from the start of each renewal round, a retry period later;
  counting from the last success is stricter, so after a failed renewal the
  leader tries again sooner than a period: one lost request must not cost
  leadership.)
* ``leaseTransitions`` counts terms; it is the epoch stamped on every journal
  record a leader writes. A new term is numbered above every term known,
  those in the replica's journal included, so a Lease created anew after a
  deletion (whose count starts at 0) does not repeat a term.
* Releasing (on shutdown, after the work has been flushed) writes an empty
  holder with ``leaseDurationSeconds: 1``, as client-go's ``ReleaseOnCancel``
  does, so a standby takes over at its next attempt instead of waiting the
  whole lease out.

Every write is conditional on the resourceVersion last read or written
(optimistic concurrency): a ``409 Conflict`` means somebody else wrote first.
A leader that gets one reads the Lease and carries on only if the record is
still exactly the one it wrote (someone edited labels, or the conflict was
spurious); anything else means it lost.

A write that failed on the client's side (timeout, reset, 5xx) may have been
stored all the same; until a write is confirmed, a record read that equals one
of them is this replica's own. A leader adopts its renewal read back (and its
resourceVersion); a candidate that reads back its creation or take-over within
the renew deadline leads under that term from when it was sent; a release is
read back to learn whether it went through.

One deliberate difference from client-go: client-go treats any record naming
its own identity as its own and renews it at once. Here a candidate takes such
a record at once only if it is exactly the last record *this process* wrote
or one of its writes of unknown outcome (a leader that passed its deadline and
finds nobody touched the Lease since).
A record with its name that it did not write (a previous incarnation of the
pod, or a second process with the same ``POD_NAME`` after a forced pod
deletion) is waited out like anybody else's. Either way a new term begins
(``leaseTransitions`` + 1).

The module is pure: no clock, no randomness, no I/O. The caller passes the
monotonic ``now``, a ``jitter`` drawn uniformly from ``[0, 1)`` and the wall
time ``wall`` used to stamp the record's ``acquireTime``/``renewTime``, carries
out the requests it returns one at a time, and feeds each result back. The
types it speaks (timings, Lease record, events, actions, state) are defined in
:mod:`reloader.core.lease` and importable from here too.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from reloader.core.lease import (
    JITTER_FACTOR,
    MAX_UNCONFIRMED,
    MIN_REQUEST_TIMEOUT,
    BecameLeader,
    CreateLease,
    ElectionAction,
    ElectionEvent,
    ElectionState,
    ElectionTick,
    ElectionTimings,
    InFlight,
    LeaderSeen,
    LeaseConflict,
    LeaseFailed,
    LeaseRead,
    LeaseRecord,
    LeaseWritten,
    ReadLease,
    ReleasedLeadership,
    ReleaseRequested,
    Request,
    Role,
    StoppedLeading,
    UpdateLease,
    acting,
    current_leader,
    microtime,
    next_wakeup,
)

__all__ = [
    "JITTER_FACTOR",
    "MIN_REQUEST_TIMEOUT",
    "BecameLeader",
    "CreateLease",
    "ElectionAction",
    "ElectionEvent",
    "ElectionState",
    "ElectionTick",
    "ElectionTimings",
    "InFlight",
    "LeaderSeen",
    "LeaseConflict",
    "LeaseFailed",
    "LeaseRead",
    "LeaseRecord",
    "LeaseWritten",
    "ReadLease",
    "ReleaseRequested",
    "ReleasedLeadership",
    "Request",
    "Role",
    "StoppedLeading",
    "UpdateLease",
    "acting",
    "current_leader",
    "elect",
    "initial_election",
    "microtime",
    "next_wakeup",
]


def initial_election(
    identity: str, timings: ElectionTimings, now: float, highest_epoch: int | None = None
) -> ElectionState:
    """Return a candidate that starts seeking leadership at ``now`` (first attempt at once).

    ``highest_epoch``: the highest term this replica knew of before it started
    (its journal's); its own terms are numbered above it.
    """
    return ElectionState(
        identity=identity,
        timings=timings,
        next_attempt_at=now,
        seeking_since=now,
        highest_transitions=highest_epoch,
    )


# ------------------------------------------------------------------------ step


def elect(
    state: ElectionState,
    event: ElectionEvent,
    now: float,
    *,
    jitter: float,
    wall: datetime,
) -> tuple[ElectionState, tuple[ElectionAction, ...]]:
    """Apply ``event`` at monotonic time ``now``; return the new state and the actions.

    Args:
        state: The election so far.
        event: What happened (a request's result, a tick, a release request).
        now: Monotonic seconds.
        jitter: A number drawn uniformly from ``[0, 1)`` for this step's retry period.
        wall: The wall time, stamped on records written in this step.
    """
    election = _Election(state, now, jitter, wall)
    election.handle(event)
    election.check_deadline()
    election.act()
    return election.state, tuple(election.actions)


class _Election:
    """The scratch space of one step."""

    def __init__(self, state: ElectionState, now: float, jitter: float, wall: datetime) -> None:
        self.state = state
        self.now = now
        self.jitter = jitter
        self.wall = wall
        self.actions: list[ElectionAction] = []

    # -------------------------------------------------------------- helpers

    def set(self, **changes: object) -> None:
        self.state = replace(self.state, **changes)  # type: ignore[arg-type]

    @property
    def timings(self) -> ElectionTimings:
        return self.state.timings

    def period(self) -> float:
        return self.timings.period(self.jitter)

    def leader_timeout(self) -> float:
        """A leader's request must end by its deadline, so that it notices the loss in time."""
        renewed_at = self.state.renewed_at if self.state.renewed_at is not None else self.now
        left = renewed_at + self.timings.renew_deadline_seconds - self.now
        return max(MIN_REQUEST_TIMEOUT, min(float(self.timings.retry_period_seconds), left))

    def leader_retry_at(self) -> float:
        """When a leader tries again after a failed renewal: sooner than a period.

        Half the time left to its deadline (at least a quarter period, at most
        a period), so that one lost or refused request does not cost leadership.
        """
        renewed_at = self.state.renewed_at if self.state.renewed_at is not None else self.now
        left = renewed_at + self.timings.renew_deadline_seconds - self.now
        quarter = self.timings.retry_period_seconds / 4
        return self.now + min(self.period(), max(quarter, left / 2))

    def send(self, request: Request, action: ReadLease | CreateLease | UpdateLease) -> None:
        record = action.record if isinstance(action, CreateLease | UpdateLease) else None
        self.set(in_flight=InFlight(request, self.now, record))
        self.actions.append(action)

    def my_record(self, transitions: int) -> LeaseRecord:
        stamp = microtime(self.wall)
        return LeaseRecord(
            holder=self.state.identity,
            lease_duration_seconds=self.timings.lease_duration_seconds,
            transitions=transitions,
            acquire_time=stamp,
            renew_time=stamp,
        )

    def release_record(self, transitions: int) -> LeaseRecord:
        """The record a release writes: no holder, a 1 s lease, the term kept."""
        stamp = microtime(self.wall)
        return LeaseRecord(None, 1, transitions, stamp, stamp)

    def observe(self, record: LeaseRecord | None, version: str | None) -> None:
        """Take note of a record read; restart the expiry clock when it changed.

        Or when its version moved: a holder whose wall clock stands still
        writes the same record again, but every write moves the version.
        """
        state = self.state
        moved = (
            record is not None
            and record.held
            and version is not None
            and state.observed_version is not None
            and version != state.observed_version
        )
        if record != state.observed or state.observed_at is None or moved:
            self.set(observed=record, observed_at=self.now)
        self.set(observed_version=version)
        if record is not None:
            self.note_transitions(record.transitions)
        if record is None or not record.held or record.holder == self.state.identity:
            return
        assert record.holder is not None
        seen = (record.holder, record.transitions)
        if seen != self.state.reported:
            self.set(reported=seen)
            self.actions.append(LeaderSeen(record.holder, record.transitions))

    def note_transitions(self, transitions: int) -> None:
        highest = self.state.highest_transitions
        if highest is None or transitions > highest:
            self.set(highest_transitions=transitions)

    def sent_by_me(self, record: LeaseRecord | None) -> InFlight | None:
        """Return the write of unknown outcome that wrote ``record``, if one did."""
        if record is None:
            return None
        for sent in reversed(self.state.unconfirmed):
            if sent.record == record:
                return sent
        return None

    def begin_term(
        self,
        record: LeaseRecord,
        version: str | None,
        sent_at: float,
        previous: LeaseRecord | None,
        next_attempt_at: float,
    ) -> None:
        """Lead under ``record`` (written by this replica's request sent at ``sent_at``)."""
        state = self.state
        previous = previous if previous is not None else state.vanished
        previous_holder = (
            previous.holder
            if previous is not None and previous.held and previous.holder != state.identity
            else None
        )
        self.set(
            role=Role.LEADER,
            epoch=record.transitions,
            written=record,
            written_version=version,
            renewed_at=sent_at,
            observed=record,
            observed_version=version,
            observed_at=self.now,
            next_attempt_at=next_attempt_at,
            unconfirmed=(),
            vanished=None,
        )
        self.note_transitions(record.transitions)
        self.actions.append(
            BecameLeader(
                epoch=record.transitions,
                previous_holder=previous_holder,
                latency_seconds=round(max(0.0, self.now - state.seeking_since), 6),
            )
        )

    def lose(self, reason: str) -> None:
        state = self.state
        assert state.epoch is not None and state.renewed_at is not None
        observed = state.observed
        holder = (
            observed.holder
            if observed is not None and observed.held and observed.holder != state.identity
            else None
        )
        self.actions.append(
            StoppedLeading(
                epoch=state.epoch,
                reason=reason,
                seconds_since_renewal=round(self.now - state.renewed_at, 6),
                holder=holder,
            )
        )
        self.set(role=Role.CANDIDATE, epoch=None, seeking_since=self.now)

    # --------------------------------------------------------------- events

    def handle(self, event: ElectionEvent) -> None:
        if isinstance(event, ElectionTick):
            return
        if isinstance(event, ReleaseRequested):
            self.set(release_requested=True)
            return
        in_flight = self.state.in_flight
        if in_flight is None:
            return  # a result nobody waits for (cannot happen with one request at a time)
        self.set(in_flight=None)
        if isinstance(event, LeaseRead):
            self.on_read(in_flight, event)
        elif isinstance(event, LeaseWritten):
            self.on_written(in_flight, event)
        elif isinstance(event, LeaseConflict):
            self.on_conflict(in_flight, event)
        else:
            self.on_failed(in_flight, event)

    def released(self, *, cleared: bool, error: str | None = None) -> None:
        """Stop; report the release of a term led (a term never begun is not reported)."""
        if self.state.epoch is not None:
            self.actions.append(ReleasedLeadership(self.state.epoch, cleared=cleared, error=error))
        self.set(role=Role.STOPPED, epoch=None)

    def on_read(self, in_flight: InFlight, event: LeaseRead) -> None:
        state = self.state
        if state.role is Role.RELEASING:  # the read after a release refused or unanswered
            record = event.record
            sent = self.sent_by_me(record)
            if record is not None and not record.held and sent is not None:
                self.released(cleared=True)
            elif (
                record is not None
                and record.held
                and sent is not None
                and sent.request is not Request.RELEASE
                and not state.release_retried
            ):
                # Not released: a write of ours was stored after all (its answer
                # was lost): a renewal, which made the release's version stale,
                # or a stopping candidate's take-over. The record is ours:
                # release it, from its version.
                self.set(release_retried=True)
                released = self.release_record(record.transitions)
                timeout = float(self.timings.retry_period_seconds)
                self.send(Request.RELEASE, UpdateLease(released, event.resource_version, timeout))
            else:
                self.released(cleared=False, error=state.release_error)
            return
        if in_flight.request is Request.CHECK and state.role is Role.LEADER:
            record = event.record
            self.observe(record, event.resource_version)
            if record is not None and record == state.written:
                # Still our record: someone touched the object, or the conflict
                # was spurious. Carry on from its current version; at once if
                # the version moved (the next renewal will succeed), else after
                # a period (do not hammer a server answering 409 for nothing).
                moved = event.resource_version != state.written_version
                self.set(
                    written_version=event.resource_version,
                    next_attempt_at=self.now if moved else self.leader_retry_at(),
                )
                return
            sent = self.sent_by_me(record)
            if sent is not None and record is not None:
                # Our own renewal, stored although its answer was lost (that is
                # why the next one got 409): adopt it and renew at once from its
                # version. It was stored after it was sent, so the renew deadline
                # may count from then.
                assert state.renewed_at is not None
                self.set(
                    written=record,
                    written_version=event.resource_version,
                    renewed_at=max(state.renewed_at, sent.sent_at),
                    unconfirmed=(),
                    next_attempt_at=self.now,
                )
                return
            if record is None:
                self.lose("lease-deleted")
            elif record.holder != state.identity:
                self.lose("taken-over")
            else:
                self.lose("lease-changed")
            self.set(next_attempt_at=self.now + self.period())
            return
        self.consider(event.record, event.resource_version)

    def consider(self, record: LeaseRecord | None, version: str | None) -> None:
        """A candidate's read: take the Lease if it is free, else wait for its expiry."""
        state = self.state
        previous = state.observed
        self.observe(record, version)
        if state.release_requested or state.role is not Role.CANDIDATE:
            return
        if record is None:
            self.create(state)
            return
        self.set(vanished=None)
        sent = self.sent_by_me(record)
        if (
            sent is not None
            and sent.request in (Request.CREATE, Request.ACQUIRE)
            and self.now < sent.sent_at + self.timings.renew_deadline_seconds
        ):
            # Our creation or take-over was stored, only its answer was lost:
            # this term is ours, from when it was sent. Renew at once.
            self.begin_term(record, version, sent.sent_at, previous, self.now)
            return
        observed_at = self.state.observed_at
        assert observed_at is not None
        expires_at = observed_at + record.lease_duration_seconds
        mine = record == state.written or sent is not None
        if not record.held or mine or self.now >= expires_at:
            # A term of ours nobody acted under (its start was never confirmed)
            # is taken as it is: a new number would be an epoch nobody led.
            # A new term is above every one known (a Lease created anew counts from 0).
            unused = sent is not None and sent.request is not Request.RENEW
            known = max(record.transitions, self.state.highest_transitions or 0)
            transitions = record.transitions if unused else known + 1
            timeout = float(self.timings.retry_period_seconds)
            self.send(Request.ACQUIRE, UpdateLease(self.my_record(transitions), version, timeout))
            return
        # Held by someone else and fresh: look again after a period, or right
        # when it would expire if that is sooner.
        self.set(next_attempt_at=min(self.now + self.period(), expires_at))

    def create(self, before: ElectionState) -> None:
        """No Lease (or it was deleted): create it, once its last holder cannot act.

        If the record seen before the deletion named another holder and was
        fresh, that holder may still act (its next renewal would create the
        Lease again): the absence is waited out for that record's lease
        duration, from when it was first seen. The new term is above every
        term seen, however many reads found the Lease missing.
        """
        previous, previous_at = before.observed, before.observed_at
        vanished = before.vanished
        if (
            vanished is None
            and previous is not None
            and previous.held
            and previous.holder != before.identity
            and previous_at is not None
            and self.now < previous_at + previous.lease_duration_seconds
        ):
            vanished = previous
        if vanished is not None:
            missing_since = self.state.observed_at
            assert missing_since is not None
            ready_at = missing_since + vanished.lease_duration_seconds
            if self.now < ready_at:
                self.set(vanished=vanished, next_attempt_at=min(self.now + self.period(), ready_at))
                return
        highest = before.highest_transitions
        transitions = highest + 1 if highest is not None else 0
        self.set(vanished=vanished)
        self.send(
            Request.CREATE,
            CreateLease(self.my_record(transitions), float(self.timings.retry_period_seconds)),
        )

    def on_written(self, in_flight: InFlight, event: LeaseWritten) -> None:
        state = self.state
        record = in_flight.record
        assert record is not None
        if in_flight.request is Request.RELEASE:
            self.released(cleared=True)
            self.set(written=record)
            return
        if in_flight.request is Request.RENEW:
            self.set(
                written=record,
                written_version=event.resource_version,
                renewed_at=in_flight.sent_at,
                observed=record,
                observed_version=event.resource_version,
                observed_at=self.now,
                next_attempt_at=self.now + self.period(),
                unconfirmed=(),
            )
            return
        # CREATE or ACQUIRE: a new term begins.
        self.begin_term(
            record,
            event.resource_version,
            in_flight.sent_at,
            state.observed,
            self.now + self.period(),
        )

    def on_conflict(self, in_flight: InFlight, event: LeaseConflict) -> None:
        state = self.state
        if in_flight.request is Request.RELEASE:
            if state.unconfirmed and not state.release_retried:
                # Perhaps only our own renewal, stored unanswered, moved the version.
                self.set(release_error="conflict")
                self.send(Request.CHECK, ReadLease(float(self.timings.retry_period_seconds)))
                return
            self.released(cleared=False, error="conflict")
            return
        if in_flight.request is Request.RENEW and state.role is Role.LEADER:
            # Somebody wrote the Lease since our last write: find out who.
            self.send(Request.CHECK, ReadLease(self.leader_timeout()))
            return
        # A candidate lost the race to create or take it; look again after a period.
        self.set(next_attempt_at=self.now + self.period())

    def on_failed(self, in_flight: InFlight, event: LeaseFailed) -> None:
        state = self.state
        if state.role is Role.RELEASING and in_flight.request is Request.CHECK:
            self.released(cleared=False, error=state.release_error)  # unknown: say why
            return
        if in_flight.record is not None:
            # The write may have been stored all the same: remember what it wrote.
            self.set(unconfirmed=(*state.unconfirmed, in_flight)[-MAX_UNCONFIRMED:])
        if in_flight.request is Request.RELEASE:
            # Read the Lease once to learn whether the release went through.
            self.set(release_error=event.reason)
            self.send(Request.CHECK, ReadLease(float(self.timings.retry_period_seconds)))
            return
        if state.role is Role.LEADER:
            self.set(next_attempt_at=self.leader_retry_at())
        else:
            self.set(next_attempt_at=self.now + self.period())

    # --------------------------------------------------------------- timers

    def check_deadline(self) -> None:
        state = self.state
        if state.role is Role.LEADER and not acting(state, self.now):
            self.lose("renew-deadline")

    def act(self) -> None:
        state = self.state
        if state.in_flight is not None or state.role in (Role.RELEASING, Role.STOPPED):
            return
        if state.release_requested:
            if state.role is Role.LEADER:
                assert state.epoch is not None
                released = self.release_record(state.epoch)
                timeout = self.leader_timeout()
                self.send(Request.RELEASE, UpdateLease(released, state.written_version, timeout))
                self.set(role=Role.RELEASING)
            elif any(s.request in (Request.CREATE, Request.ACQUIRE) for s in state.unconfirmed):
                # A take-over of ours may have been stored unanswered: the Lease
                # would name us, and keep standbys out, until it expired. Read it.
                self.send(Request.CHECK, ReadLease(float(self.timings.retry_period_seconds)))
                self.set(role=Role.RELEASING)
            else:
                self.set(role=Role.STOPPED)
            return
        if self.now < state.next_attempt_at:
            return
        if state.role is Role.LEADER:
            assert state.written is not None
            renewal = replace(
                state.written,
                renew_time=microtime(self.wall),
                lease_duration_seconds=self.timings.lease_duration_seconds,
            )
            self.send(
                Request.RENEW, UpdateLease(renewal, state.written_version, self.leader_timeout())
            )
        else:
            self.send(Request.READ, ReadLease(float(self.timings.retry_period_seconds)))
