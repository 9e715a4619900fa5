"""The reconcile loop: the one thread that owns the decision core's state.

It takes events from a bounded queue (watches, patch outcomes, leadership),
steps the core, and carries the actions out in order: records go to the
journal, patches to the executor. A patch is handed over only once every
record before it is durable, so ``restart.planned`` always precedes its
patch, and while the journal fails no patch is sent at all.

Timers need no thread of their own: the loop waits on the queue until the
core's next deadline and then steps it with a ``Tick``. With nothing due it
still steps once a second (its heartbeat for ``/healthz``); an idle
controller wakes for little else.

Wake-ups are what the loop economises on. On a shared machine a thread that
wakes starts from cold caches, and its first work then costs many times
what it costs warm (``tests/bench/bench_hot_path.py``: an idle step costs
about ten times more after 50 ms asleep): a loop that woke on a timer
between events would spend more on waking than on the events.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

from reloader.core import (
    ConfigMapSeen,
    DeploymentSeen,
    Event,
    EventType,
    FlushDeadline,
    LeaderObserved,
    LeadershipChanged,
    Listed,
    PatchAdopt,
    PatchRestart,
    Record,
    ShutdownRequested,
    State,
    Tick,
    WarnWorkload,
    flush_complete,
    next_deadline,
    pending_restarts,
    step_many,
)
from reloader.runtime.health import Health
from reloader.runtime.journal_writer import JournalWriter
from reloader.runtime.leadership import Leadership
from reloader.runtime.metrics import ControllerMetrics

log = logging.getLogger(__name__)

LOOP = "reconciler"


class Executor(Protocol):
    """Where patches go (see :class:`reloader.runtime.executor.PatchExecutor`)."""

    def restart(self, action: PatchRestart) -> None:
        """Send a restart patch."""

    def adopt(self, action: PatchAdopt) -> None:
        """Send an adoption patch."""

    def warn(self, action: WarnWorkload) -> None:
        """Create a warning Event."""


class ReconcileLoop:
    """Steps the core with events and carries out its actions."""

    def __init__(
        self,
        state: State,
        journal: JournalWriter,
        *,
        executor: Executor | None,
        leadership: Leadership,
        metrics: ControllerMetrics,
        health: Health,
        events: queue.Queue[Event] | None = None,
        max_wait_seconds: float = 1.0,
        batch: int = 256,
        linger_seconds: float = 0.25,
        commit_records: int = 32,
        poll_seconds: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """Own ``state`` from now on; nobody else may step it."""
        self.state = state
        self.events: queue.Queue[Event] = events if events is not None else queue.Queue(10_000)
        self._journal = journal
        self._executor = executor
        self._leadership = leadership
        self._metrics = metrics
        self._health = health
        self._max_wait = max_wait_seconds
        self._batch = batch
        self._linger = linger_seconds
        self._commit_records = commit_records
        self._poll = poll_seconds
        # The clock reading of the last step: the next one's events are never
        # handled before it (see step_many's ``since``).
        self._stepped_at: float | None = None
        self._prompt = False
        self._clock = clock
        self._wall = wall
        self._held: list[PatchRestart | PatchAdopt | WarnWorkload] = []
        # Events held back while the core acts on a Lease not confirmed (see apply_many).
        self._deferred: list[Event] = []
        # Events that must never wait for room in the queue (leadership).
        self._urgent: deque[Event] = deque()
        self._stop_requested = threading.Event()
        # Set by whatever must end a group commit's wait early (see _gather).
        self._wake = threading.Event()
        # Watches handing a window's events over right now (see delivering).
        self._delivering = 0
        self._delivering_lock = threading.Lock()
        self._stop_reason = "SIGTERM"
        self._flush_deadline: float | None = None
        self.flushed = 0
        self.dropped = 0

    def set_executor(self, executor: Executor) -> None:
        """Give the loop its executor (which itself posts outcomes into this loop)."""
        self._executor = executor

    @property
    def stop_reason(self) -> str:
        """Why the loop was asked to stop."""
        return self._stop_reason

    # ----------------------------------------------------------------- inputs

    def post(self, event: Event) -> None:
        """Hand an event to the loop (any thread); blocks while the queue is full.

        For events to apply promptly (an API call's outcome): unlike watch
        events, which are put on :attr:`events` directly, it ends a group
        commit's wait.
        """
        self.events.put(event)
        self._wake.set()

    def delivering(self, busy: bool) -> None:
        """A watch begins (True) or ends (False) handing over a window's events (any thread).

        A group commit that holds ``commit_records`` records waits no longer
        for more, but it does wait for a window being handed over to be all
        in: a watch thread gives the loop the interpreter lock every few
        milliseconds in a large window, and a commit of each part would cost
        a sync of its own.
        """
        with self._delivering_lock:
            self._delivering += 1 if busy else -1
            done = self._delivering == 0
        if done and self._group_ready():
            self._wake.set()  # the wait for the rest of the window is over

    def post_urgent(self, event: Event) -> None:
        """Hand an event to the loop without ever blocking (leadership changes).

        The elector must keep renewing its Lease even while the queue is full
        (the journal failing, the watches backed up): such events wait beside
        the queue and are taken first.
        """
        try:
            self.events.put_nowait(event)
        except queue.Full:
            self._urgent.append(event)
        self._wake.set()

    def apply_leftovers(self, keep: Callable[[Event], bool]) -> int:
        """Apply the waiting events ``keep`` selects, dropping the rest (after the loop ended).

        Used at shutdown, once the loop no longer runs, for the leadership
        release that follows the flush. Returns how many were applied.
        """
        applied = 0
        self._deferred = []  # held for a term that is over: the loop is done
        while True:
            if self._urgent:
                event = self._urgent.popleft()
            else:
                try:
                    event = self.events.get_nowait()
                except queue.Empty:
                    return applied
            if keep(event):
                self.apply(event)
                applied += 1

    def request_stop(self, reason: str = "SIGTERM") -> None:
        """Ask the loop to flush and stop (safe from a signal handler's thread)."""
        self._stop_reason = reason
        self._stop_requested.set()
        self._wake.set()
        # An idle loop waits on its queue for up to ``max_wait_seconds``:
        # wake it now. A full queue wakes it anyway.
        with contextlib.suppress(queue.Full):
            self.events.put_nowait(Tick())

    @property
    def stopping(self) -> bool:
        """Whether the flush has begun."""
        return self._flush_deadline is not None

    # ------------------------------------------------------------------- run

    def run(
        self,
        flush_timeout_seconds: float,
        on_stopping: Callable[[], None] = lambda: None,
    ) -> None:
        """Run until a requested stop has flushed (or ran out of time).

        Args:
            flush_timeout_seconds: How long the flush may wait for patches to
                be answered and records to be appended.
            on_stopping: Called once when the flush begins (stops the watches).
        """
        while True:
            self._health.beat(LOOP)
            now = self._clock()
            if self._stop_requested.is_set() and self._flush_deadline is None:
                self._flush_deadline = now + flush_timeout_seconds
                self._health.set_stopping()
                on_stopping()
                log.info(
                    "stopping: flushing pending restarts",
                    extra={"fields": {"pending": pending_restarts(self.state)}},
                )
                self.apply(ShutdownRequested(self._stop_reason))
            if self._flush_deadline is not None and self._finished(now):
                return
            while self._urgent:
                self.apply(self._urgent.popleft())
            if self._journal.full:
                # Back-pressure: take no new events until the journal drains.
                self._wait_for_journal()
            else:
                self._prompt = False
                self._gather(self._next_event(now), now)
            self.commit()

    def _gather(self, first: Event, now: float) -> None:
        """Take what else is waiting, to make it all durable in one commit.

        The events at hand are stepped at once. When that left records to
        make durable, no patch waits for them (nothing held), the flush has
        not begun, and only watch events and ticks were taken (an API call's
        outcome or a leadership change is journaled at once), the loop waits
        up to ``linger_seconds`` for more events (group commit): one durable
        commit costs far more than the records in it (about 400 us of CPU for
        the sync alone), so a steady trickle of watch events costs less CPU
        per event. With nothing to make durable it does not wait at all, and
        with ``commit_records`` records or more to make durable (a busy
        watch's window, which its stream already gathered: its next is a
        window away) it waits only until no window is being handed over
        (:meth:`delivering`): the sync is then a quarter of the commit or
        less, and a longer wait would cost a wake-up of its own.

        The wait is one sleep, not a wake-up per watch event nor a step every
        few milliseconds: watch events pile up in the queue meanwhile and are
        stepped together at its end (:meth:`apply_many`). Each says when it
        was read, and the core handles it at that time, so its debounce window
        opens and its records are dated from when it came, not from the step.
        A window due sooner than the wait's end (a debounce shorter than
        ``linger_seconds``) fires at the end of the wait; a deadline already
        known ends the wait when it is due. Whatever must not wait (an API
        call's outcome, a leadership change, a stop) ends it at once through
        :meth:`post`, :meth:`post_urgent` or :meth:`request_stop`.
        """
        taken = [first]
        applied = 0
        until = now + self._linger
        while True:
            while applied + len(taken) < self._batch:
                try:
                    taken.append(self.events.get_nowait())
                except queue.Empty:
                    break
            if taken:
                self.apply_many(taken)
                applied += len(taken)
                taken = []
                # A timer the events set (a short debounce) ends the wait at
                # its deadline: only a step fires it.
                deadline = next_deadline(self.state, now)
                if deadline is not None:
                    until = min(until, deadline)
            if self._journal.empty and not self._held:
                return  # nothing to make durable: nothing to wait for
            wait = until - self._clock()
            if applied >= self._batch or wait <= 0 or self._held or self._prompt:
                return
            if self._group_ready():
                return  # worth its sync already: more would save little, and cost a wake-up
            if self._flush_deadline is not None or self._stop_requested.is_set() or self._urgent:
                return
            self._wake.clear()
            # Nothing came since the check, and no window ended meanwhile: sleep.
            if self.events.empty() and not self._group_ready():
                self._wake.wait(wait)

    def _group_ready(self) -> bool:
        """Whether a commit's worth of records waits, and no window is being handed over."""
        return self._journal.backlog >= self._commit_records and not self._delivering

    def commit(self) -> None:
        """Append the records decided so far, then send the patches they cover."""
        self._journal.flush()
        self._release_held()
        self._metrics.journal_backlog.set(self._journal.backlog)

    def _finished(self, now: float) -> bool:
        assert self._flush_deadline is not None
        self.commit()
        if flush_complete(self.state) and self._journal.empty and not self._held:
            return True
        if now >= self._flush_deadline:
            if not flush_complete(self.state):
                self.apply(FlushDeadline())
            self._journal.flush(force=True)
            self._release_held()
            if not self._journal.empty:
                log.error(
                    "journal still failing at shutdown; records lost",
                    extra={"fields": {"backlog": self._journal.backlog}},
                )
            if self._held:
                self.dropped += len([a for a in self._held if isinstance(a, PatchRestart)])
                log.error(
                    "patches held for the journal were not sent",
                    extra={"fields": {"held": len(self._held)}},
                )
            return True
        return False

    def _wait_for_journal(self) -> None:
        retry_at = self._journal.retry_at()
        delay = self._max_wait if retry_at is None else max(0.0, retry_at - self._clock())
        self._stop_requested.wait(min(self._max_wait, delay))

    def _next_event(self, now: float) -> Event:
        if self._unconfirmed():
            # Nothing may be decided until the elector reports: its loss (or a
            # renewal) is what ends the wait, not the core's own deadlines.
            try:
                return self.events.get(timeout=self._poll)
            except queue.Empty:
                return Tick()
        timeout = self._max_wait
        if self._flush_deadline is not None:
            timeout = min(timeout, max(0.0, self._flush_deadline - now))
        deadline = next_deadline(self.state, now)
        if deadline is not None:
            timeout = min(timeout, max(0.0, deadline - now))
        retry_at = self._journal.retry_at()
        if retry_at is not None:
            timeout = min(timeout, max(0.0, retry_at - now))
        try:
            return self.events.get(timeout=timeout) if timeout > 0 else self.events.get_nowait()
        except queue.Empty:
            return Tick()

    # ---------------------------------------------------------------- actions

    def apply(self, event: Event) -> None:
        """Step the core with ``event``; queue its records and hold its patches.

        Nothing is sent until :meth:`commit` has made the records durable.
        """
        self.apply_many((event,))

    def apply_many(self, events: Sequence[Event]) -> None:
        """:meth:`apply` each of ``events`` in turn, stepping the core once for them all.

        While the core acts but the leadership no longer confirms it (the
        renew deadline passed and the elector has not yet reported the loss:
        a process paused for longer than its Lease, an elector held up), only
        leadership events are stepped; the others wait, in order, until the
        loss is in (or a renewal confirms the term again), so nothing is
        decided as leader on a Lease that may be somebody else's by now.
        """
        queued = [*self._deferred, *events]
        self._deferred = []
        while queued:
            if not self._unconfirmed():
                self._step(queued)
                return
            news = next(
                (
                    i
                    for i, e in enumerate(queued)
                    if isinstance(e, LeadershipChanged | LeaderObserved)
                ),
                None,
            )
            if news is None:
                self._deferred = [e for e in queued if not isinstance(e, Tick)]
                return
            held = [e for e in queued[:news] if not isinstance(e, Tick)]
            self._step((queued[news],))
            queued = [*held, *queued[news + 1 :]]

    def _unconfirmed(self) -> bool:
        """Whether the core acts on a term the leadership no longer confirms."""
        return self.state.acting and not self._leadership.is_leader()

    def _step(self, events: Sequence[Event]) -> None:
        if not events:
            return
        for event in events:
            if not isinstance(event, ConfigMapSeen | DeploymentSeen | Listed | Tick):
                self._prompt = True
            elif isinstance(event, DeploymentSeen) and event.event_type is not EventType.DELETED:
                workload = event.deployment
                # The label rule, or an opt-in (``optin`` is None unless one is
                # on): a workload some source may restart, whose counter exists
                # from now on.
                if workload.target is not None or workload.optin is not None:
                    self._metrics.know_workload(workload.kind, workload.name, workload.namespace)
        now = self._clock()
        wall = self._wall()
        self.state, actions = step_many(self.state, events, now, since=self._stepped_at)
        self._stepped_at = now
        epoch = self._leadership.epoch() if self._leadership.is_leader() else None
        for action in actions:
            if isinstance(action, Record):
                # Dated when it was decided: an event stepped after it came is
                # handled at the time it was read (see _gather).
                late = 0.0 if action.at is None else now - action.at
                ts = wall - timedelta(seconds=late) if late > 0 else wall
                self._journal.submit(action, ts, epoch)
                self._metrics.observe_record(
                    action.kind, action.data, action.object, action.namespace
                )
                self._count(action)
            else:
                self._held.append(action)
        if self.state.synced:
            self._health.set_synced()
        # A standby carries nothing out, so nothing is pending on it: the
        # alerts sum this gauge over the replicas.
        self._metrics.pending.set(pending_restarts(self.state) if self.state.acting else 0)

    def _release_held(self) -> None:
        if not self._held or not self._journal.empty:
            return
        held, self._held = self._held, []
        for action in held:
            self._send(action)

    def _send(self, action: PatchRestart | PatchAdopt | WarnWorkload) -> None:
        assert self._executor is not None, "set_executor() first"
        if isinstance(action, PatchRestart):
            self._executor.restart(action)
        elif isinstance(action, WarnWorkload):
            self._executor.warn(action)
        else:
            self._executor.adopt(action)

    def _count(self, record: Record) -> None:
        if record.kind == "restart.flushed":
            self.flushed += 1
        elif record.kind == "restart.dropped":
            self.dropped += 1
