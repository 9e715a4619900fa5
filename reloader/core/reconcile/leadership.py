"""Leadership and shutdown: a term begins (acting at once, or after a fresh
relist) or ends (pending work is given up for the next leader); SIGTERM flushes
windows and retries at once, and the flush deadline drops what is left.

Part of the step builder (:mod:`reloader.core.reconciler`): methods of the
other parts are reached through ``self``.
"""

from __future__ import annotations

from dataclasses import replace

from records import (
    ControllerStopping,
    LeaderAcquired,
    LeaderLost,
    LeaderObserved,
    LeaderReleased,
    Payload,
    RestartDropped,
)
from reloader.core import events
from reloader.core.events import FlushDeadline, LeadershipChanged, ShutdownRequested
from reloader.core.reconcile.scratch import Scratch, lease_object
from reloader.core.state import Phase


class Leadership(Scratch):
    def on_leadership(self, event: LeadershipChanged) -> None:
        if event.lease is not None:
            self.record_leadership(event)
        if event.acting:
            if self.leading:
                return
            self.leading = True
            # A restart of an earlier term whose patch was fenced after that
            # term ended is still held: it was given up for whoever leads
            # next, and this term's catch-up decides afresh.
            self.give_up()
            if event.await_relist:
                # Decide nothing until a list made after this moment is in:
                # the old leader's last patches may not have reached the cache.
                self.awaiting = self.policy.resources
                return
            self.acting = True
            self.catch_up()
            return
        self.leading = False
        self.awaiting = frozenset()
        if not self.acting:
            return
        self.acting = False
        # A standby keeps its cache and windows but carries nothing out; what
        # was pending is found again by the next leader's level-triggered sync.
        self.give_up()
        self.rollouts.clear()

    def give_up(self) -> None:
        """Settle every restart not in flight as ``restart.failed`` reason ``not-leader``.

        A patch sent is left to its answer. One the executor's fencing check
        held back after the term ended comes back to a standby as a retry
        (``PatchFenced``): it stays until the next term begins or the process
        stops, and is given up then, never sent nor claimed by this replica.
        """
        for restart in [*self.queue, *self.active.values()]:
            if restart.phase is Phase.PATCHING:
                continue  # already sent; its answer still settles it
            self.record_not_leader(restart)
            self.active.pop(restart.deployment, None)
        self.queue = []

    def record_leadership(self, event: LeadershipChanged) -> None:
        """Journal a term's start or end; ``event.detail`` adds to the payload."""
        payload: Payload
        if event.acting:
            relist = {"await_relist": True} if event.await_relist else {}
            payload = LeaderAcquired.from_data({"epoch": event.epoch, **event.detail, **relist})
        else:
            ended = LeaderReleased if event.reason == "released" else LeaderLost
            payload = ended.from_data(
                {"epoch": event.epoch, "reason": event.reason, **event.detail}
            )
        assert event.lease is not None
        self.record(payload, lease_object(event.lease), None)

    def on_leader_observed(self, event: events.LeaderObserved) -> None:
        self.record(
            LeaderObserved(holder=event.holder, epoch=event.epoch),
            lease_object(event.lease),
            None,
        )

    def on_shutdown(self, event: ShutdownRequested) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.record(
            ControllerStopping(
                reason=event.reason,
                pending=len(self.windows) + len(self.queue) + len(self.active),
            ),
            None,
            None,
        )
        if not self.acting:
            self.give_up()
        for name in sorted(self.windows, key=lambda n: (self.windows[n].due_at, n)):
            self.fire_window(name, flushed=True)
        for name in sorted(self.active):
            restart = self.active[name]
            if restart.phase is Phase.BACKOFF:
                self.retry(replace(restart, flushed=True))

    def on_flush_deadline(self, event: FlushDeadline) -> None:
        for restart in [*self.queue, *self.active.values()]:
            self.record_restart(
                restart,
                RestartDropped,
                reason="shutdown-deadline",
            )
        self.queue = []
        self.active.clear()
        self.windows.clear()
