"""The Lease elector: the election core on a thread of its own, behind ``Leadership``.

One thread steps :func:`reloader.core.election.elect`, carries out the Lease
request it asks for (one at a time, through :class:`reloader.kube.lease.LeaseLock`),
feeds the outcome back, and sleeps until the core's next deadline. What the
core reports becomes the reconcile loop's events: ``LeadershipChanged`` when
this replica starts or stops leading (journaled as ``leader.acquired``,
``leader.lost``, ``leader.released``) and ``LeaderObserved`` for a new holder
(``leader.observed``).

The fencing check reads the clock itself (:func:`reloader.core.election.acting`):
even if this thread is held up, a patch is refused once the renew deadline
has passed since the last successful renewal was sent.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol

from reloader.core import Event, LeaderObserved, LeadershipChanged
from reloader.core.election import (
    BecameLeader,
    CreateLease,
    ElectionAction,
    ElectionEvent,
    ElectionState,
    ElectionTick,
    ElectionTimings,
    LeaderSeen,
    LeaseConflict,
    LeaseFailed,
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
    next_wakeup,
)
from reloader.runtime.leadz import LeadershipStatus
from reloader.runtime.threadnames import named

log = logging.getLogger(__name__)


class Lock(Protocol):
    """What the elector needs from the Lease (see :class:`reloader.kube.lease.LeaseLock`)."""

    name: str

    def perform(self, request: ReadLease | CreateLease | UpdateLease) -> ElectionEvent:
        """Carry out one request; return its outcome (never raise for API failures)."""


class LeaseElector:
    """Leader election through a Lease, with client-go's semantics (see the core module)."""

    def __init__(
        self,
        lock: Lock,
        identity: str,
        timings: ElectionTimings,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
        highest_epoch: int | None = None,
    ) -> None:
        """Elect ``identity`` through ``lock``; nothing happens until :meth:`start`.

        ``highest_epoch``: the highest term known before this start (the
        journal's); this replica's terms are numbered above it.
        """
        self.identity = identity
        self.lease_name = lock.name
        self.timings = timings
        self._lock = lock
        self._clock = clock
        self._wall = wall
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        # Replaced (never mutated) by the elector thread; readers take one reference.
        self._highest_epoch = highest_epoch
        self._state: ElectionState = initial_election(identity, timings, clock(), highest_epoch)
        self._wake = threading.Event()
        self._release = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._on_change: Callable[[Event], None] = lambda event: None
        self._on_error: Callable[[str], None] = lambda reason: None
        self._on_progress: Callable[[], None] = lambda: None
        self._failures = 0

    # ------------------------------------------------------------ Leadership

    def start(
        self,
        on_change: Callable[[Event], None],
        *,
        on_error: Callable[[str], None] | None = None,
        on_progress: Callable[[], None] | None = None,
    ) -> None:
        """Start seeking leadership on a background thread.

        Args:
            on_change: Receives ``LeadershipChanged`` and ``LeaderObserved``
                (from the elector thread; it must not block for long).
            on_error: Receives the reason of every failed Lease request.
            on_progress: Called on every turn of the elector's loop (health).
        """
        self._on_change = on_change
        self._on_error = on_error or self._on_error
        self._on_progress = on_progress or self._on_progress
        self._state = initial_election(
            self.identity, self.timings, self._clock(), self._highest_epoch
        )
        self._thread = threading.Thread(target=named(self._run), name="elector", daemon=True)
        self._thread.start()

    def is_leader(self) -> bool:
        """Return whether this replica leads and its last renewal is within the deadline."""
        return acting(self._state, self._clock())

    def confirm(self) -> bool:
        """The fencing check before a patch: the last renewal is within the renew deadline."""
        return acting(self._state, self._clock())

    def epoch(self) -> int | None:
        """Return the term this replica leads under, or None while it does not lead."""
        state = self._state
        return state.epoch if acting(state, self._clock()) else None

    def status(self) -> LeadershipStatus:
        """Return who leads as far as this replica knows (``/leadz``)."""
        state = self._state
        now = self._clock()
        leader, epoch = current_leader(state, now)
        return LeadershipStatus(self.identity, leader, acting(state, now), epoch)

    def release(self, timeout: float | None = None) -> bool:
        """Give the Lease up (if held) and stop; return whether the elector stopped in time.

        Waits for a request in flight, for the release itself and, if it was
        refused or its answer lost, for one read of the Lease and, when that
        finds a renewal of ours stored unanswered, for the release sent again
        and its read (each bounded by the retry period).
        """
        self._release.set()
        self._wake.set()
        if self._thread is None:
            return True
        limit = timeout if timeout is not None else 5.0 * self.timings.retry_period_seconds + 2.0
        return self._done.wait(limit)

    # --------------------------------------------------------------- thread

    def _run(self) -> None:
        try:
            self._loop()
        except Exception:  # a bug here must not leave a leader acting on its own
            log.critical("the elector crashed; this replica stops leading", exc_info=True)
            state = self._state
            self._state = ElectionState(self.identity, self.timings, role=Role.STOPPED)
            if state.role is Role.LEADER and state.epoch is not None:
                self._on_change(
                    LeadershipChanged(
                        False, lease=self.lease_name, epoch=state.epoch, reason="elector-crashed"
                    )
                )
        finally:
            self._done.set()

    def _loop(self) -> None:
        event: ElectionEvent | None = ElectionTick()
        release_sent = False
        while self._state.role is not Role.STOPPED:
            self._on_progress()
            if event is None:
                if self._release.is_set() and not release_sent:
                    event, release_sent = ReleaseRequested(), True
                    continue
                wake = next_wakeup(self._state)
                if wake is None:
                    # Releasing with nothing in flight cannot last; wait for the release flag.
                    self._wake.wait(self.timings.retry_period_seconds)
                else:
                    self._wake.wait(max(0.0, wake - self._clock()))
                self._wake.clear()
                event = ElectionTick()
                continue
            state, actions = elect(
                self._state, event, self._clock(), jitter=self._rng.random(), wall=self._wall()
            )
            self._state = state
            event = None
            for action in _loss_first(actions):
                if isinstance(action, ReadLease | CreateLease | UpdateLease):
                    event = self._perform(action)
                else:
                    self._report(action)

    def _perform(self, request: ReadLease | CreateLease | UpdateLease) -> ElectionEvent:
        outcome = self._lock.perform(request)
        if isinstance(outcome, LeaseFailed | LeaseConflict):
            reason = outcome.reason if isinstance(outcome, LeaseFailed) else "conflict"
            self._failures += 1
            self._on_error(reason)
            log.log(
                logging.WARNING if self._failures == 1 else logging.DEBUG,
                "lease request failed",
                extra={
                    "fields": {
                        "lease": self.lease_name,
                        "request": type(request).__name__,
                        "reason": reason,
                        "detail": outcome.message,
                        "failures": self._failures,
                    }
                },
            )
        elif self._failures:
            log.info(
                "lease requests succeed again",
                extra={"fields": {"lease": self.lease_name, "failures": self._failures}},
            )
            self._failures = 0
        return outcome

    def _report(self, action: ElectionAction) -> None:
        lease = self.lease_name
        if isinstance(action, BecameLeader):
            log.info(
                "leadership acquired",
                extra={
                    "fields": {
                        "lease": lease,
                        "epoch": action.epoch,
                        "previous_holder": action.previous_holder,
                        "acquire_latency_seconds": action.latency_seconds,
                    }
                },
            )
            self._on_change(
                LeadershipChanged(
                    True,
                    lease=lease,
                    epoch=action.epoch,
                    await_relist=True,
                    detail={
                        "previous_holder": action.previous_holder,
                        "acquire_latency_seconds": action.latency_seconds,
                    },
                )
            )
        elif isinstance(action, StoppedLeading):
            log.warning(
                "leadership lost",
                extra={
                    "fields": {
                        "lease": lease,
                        "epoch": action.epoch,
                        "reason": action.reason,
                        "seconds_since_renewal": action.seconds_since_renewal,
                        "holder": action.holder,
                    }
                },
            )
            detail: dict[str, object] = {"seconds_since_renewal": action.seconds_since_renewal}
            if action.holder is not None:
                detail["holder"] = action.holder
            self._on_change(
                LeadershipChanged(
                    False, lease=lease, epoch=action.epoch, reason=action.reason, detail=detail
                )
            )
        elif isinstance(action, ReleasedLeadership):
            log.info(
                "leadership released",
                extra={
                    "fields": {
                        "lease": lease,
                        "epoch": action.epoch,
                        "lease_cleared": action.cleared,
                        "error": action.error,
                    }
                },
            )
            released: dict[str, object] = {"lease_cleared": action.cleared}
            if action.error is not None:
                released["error"] = action.error
            self._on_change(
                LeadershipChanged(
                    False, lease=lease, epoch=action.epoch, reason="released", detail=released
                )
            )
        elif isinstance(action, LeaderSeen):
            log.info(
                "leader observed",
                extra={"fields": {"lease": lease, "holder": action.holder, "epoch": action.epoch}},
            )
            self._on_change(LeaderObserved(lease, action.holder, action.epoch))


def _loss_first(actions: Sequence[ElectionAction]) -> list[ElectionAction]:
    """The step's actions, a loss of leadership before the new holder it found.

    A leader that reads another holder in its Lease reports both; journaled in
    that order, ``leader.observed`` would name a second leader of the term
    while this replica's own term is still open (a split brain that never
    was). The term ends first, then the new holder is seen.
    """
    lost = [action for action in actions if isinstance(action, StoppedLeading)]
    if not lost:
        return list(actions)
    first = next(
        i for i, action in enumerate(actions) if isinstance(action, LeaderSeen | StoppedLeading)
    )
    rest = [action for action in actions[first:] if not isinstance(action, StoppedLeading)]
    return [*actions[:first], *lost, *rest]
