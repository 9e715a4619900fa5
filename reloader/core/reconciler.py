"""The decision core: ``step(state, event, now) -> (state, actions)``.

Decisions are level-triggered: a Deployment is restarted when the hash of the
ConfigMap(s) carrying its ``app``/``env`` labels differs from the hash it last
rolled out with (its ``shipshape.io/config-hash`` metadata annotation). Events
only tell the core *when* to look. Hence:

* an unchanged ConfigMap never restarts anything, whether it is seen by the
  first list, a relist after ``410 Gone`` or a new leader;
* a change made while no controller ran restarts once at the next start;
* a Deployment without the annotation is adopted (annotated, not restarted).

Changes to one ConfigMap open a debounce window; changes within it coalesce,
and when it fires every target whose applied hash differs is queued. The queue
is drained under a global token bucket and a cap on rollouts in flight. Failed
patches are retried with exponential backoff (jitter given as input); once the
attempts are spent the periodic resync tries again later.

The function is pure: no clock, no randomness, no I/O. Time is ``now`` (any
monotonic scale, in seconds). The same code runs live and in
``shipshape-journal replay --check``.

The step is assembled here from one part per concern (:mod:`reloader.core.reconcile`):
debounce windows, sync and resync, dispatch and pacing, patch outcomes,
rollouts, and leadership and shutdown. Events reach their handler through one
table (:data:`HANDLERS`, event type -> handler), and every record written is a
typed payload of the record catalogue (:mod:`records`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from reloader.core.actions import Action
from reloader.core.events import (
    AdoptFailed,
    AdoptRefused,
    ConfigMapSeen,
    DeploymentSeen,
    Event,
    FlushDeadline,
    LeaderObserved,
    LeadershipChanged,
    Listed,
    PatchFailed,
    PatchFenced,
    PatchRefused,
    PatchSucceeded,
    ShutdownRequested,
    Tick,
    WatchFailed,
)
from reloader.core.reconcile.dispatch import Dispatch
from reloader.core.reconcile.leadership import Leadership
from reloader.core.reconcile.outcomes import Outcomes
from reloader.core.reconcile.rollouts import Rollouts
from reloader.core.reconcile.sync import Sync
from reloader.core.reconcile.windows import Windows
from reloader.core.state import State


def step(state: State, event: Event, now: float) -> tuple[State, tuple[Action, ...]]:
    """Apply one event at time ``now``; return the new state and the actions to take.

    Due timers always fire before the event itself is handled, so the outcome
    does not depend on how late the caller's timer woke up; a loss of
    leadership is taken first (see :func:`_loss`).
    """
    return step_many(state, (event,), now)


def step_many(
    state: State, events: Iterable[Event], now: float, *, since: float | None = None
) -> tuple[State, tuple[Action, ...]]:
    """Apply several events in turn, each at its own time, in one scratch space.

    An event's time is ``now``, or, for a watch event that says when it was
    read (``at``), that time: kept between ``since`` (the caller's previous
    step, so that time never runs backwards from one step to the next) and
    ``now``, and never before the event before it. So a runtime that steps
    events a while after they came (the reconcile loop steps a group
    commit's events at its end) still opens each debounce window, and dates
    each record, from when the event was seen.

    The result is the same as stepping each event in turn with :func:`step`
    at its time (timers fire before each event but a loss of leadership,
    patches are dispatched after each), but the state is opened and frozen
    once: a burst of watch events costs that once rather than once per event.
    """
    builder = _Builder(state, now)
    floor = since if since is not None else -math.inf
    for event in events:
        at = getattr(event, "at", None)
        floor = builder.now = now if at is None else min(now, max(at, floor))
        if not isinstance(event, FlushDeadline) and not _loss(event):
            builder.fire_timers()
            builder.dispatch()
        HANDLERS[type(event)](builder, event)
        builder.dispatch()
    return builder.freeze(), tuple(builder.actions)


def _loss(event: Event) -> bool:
    """Whether ``event`` ends this replica's term.

    A loss is taken before any timer due at the same step: a window that came
    due while the process was paused (its Lease gone meanwhile) must close as
    a standby's, not be decided as leader on a term that is over.
    """
    return isinstance(event, LeadershipChanged) and not event.acting


class _Builder(Windows, Sync, Dispatch, Outcomes, Rollouts, Leadership):
    """The mutable scratch space of one step, with every part's handlers."""

    def fire_timers(self) -> None:
        """Fire what is due, in this order: windows, retries, rollout deadlines, resync."""
        self.fire_due_windows()
        self.retry_due()
        self.expire_rollouts()
        self.resync_if_due()

    def on_tick(self, event: Tick) -> None:
        """Nothing more: the timers fired before the event."""


#: The handler of each event type (the Event union is closed: every member is here).
HANDLERS: dict[type[Any], Callable[[_Builder, Any], None]] = {
    ConfigMapSeen: _Builder.on_configmap,
    DeploymentSeen: _Builder.on_deployment,
    Listed: _Builder.on_listed,
    WatchFailed: _Builder.on_watch_failed,
    Tick: _Builder.on_tick,
    PatchSucceeded: _Builder.on_patch_succeeded,
    PatchFailed: _Builder.on_patch_failed,
    PatchFenced: _Builder.on_patch_fenced,
    PatchRefused: _Builder.on_patch_refused,
    AdoptFailed: _Builder.on_adopt_failed,
    AdoptRefused: _Builder.on_adopt_refused,
    LeadershipChanged: _Builder.on_leadership,
    LeaderObserved: _Builder.on_leader_observed,
    ShutdownRequested: _Builder.on_shutdown,
    FlushDeadline: _Builder.on_flush_deadline,
}
