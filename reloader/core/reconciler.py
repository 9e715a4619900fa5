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
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from reloader.core import kinds
from reloader.core.actions import Action, PatchAdopt, PatchRestart, Record
from reloader.core.backoff import backoff_delay
from reloader.core.events import (
    AdoptFailed,
    AdoptRefused,
    ConfigMapSeen,
    DeploymentSeen,
    Event,
    EventType,
    FlushDeadline,
    LeaderObserved,
    LeadershipChanged,
    Listed,
    PatchFailed,
    PatchFenced,
    PatchRefused,
    PatchSucceeded,
    Resource,
    ShutdownRequested,
    Tick,
    WatchFailed,
)
from reloader.core.hashing import changed_keys, correlation_id
from reloader.core.model import ConfigMapView, DeploymentView
from reloader.core.queries import applied_in, cluster_caught_up, desired_in
from reloader.core.rollout import RolloutOutcome, rollout_outcome
from reloader.core.state import AppliedOverride, Phase, Restart, Rollout, State, Window

_BOTH = frozenset({Resource.CONFIGMAPS.value, Resource.DEPLOYMENTS.value})


def step(state: State, event: Event, now: float) -> tuple[State, tuple[Action, ...]]:
    """Apply one event at time ``now``; return the new state and the actions to take.

    Due timers always fire before the event itself is handled, so the outcome
    does not depend on how late the caller's timer woke up.
    """
    builder = _Builder(state, now)
    if not isinstance(event, FlushDeadline):
        builder.fire_timers()
        builder.dispatch()
    builder.handle(event)
    builder.dispatch()
    return builder.freeze(), tuple(builder.actions)


def _cm_object(name: str) -> str:
    return f"configmap/{name}"


def _deploy_object(name: str) -> str:
    return f"deployment/{name}"


def _lease_object(name: str) -> str:
    return f"lease/{name}"


class _Builder:
    """The mutable scratch space of one step; :meth:`freeze` turns it back into a State."""

    def __init__(self, state: State, now: float) -> None:
        self.state = state
        self.now = now
        self.policy = state.policy
        self.acting = state.acting
        self.leading = state.leading
        self.awaiting = state.awaiting
        self.stopping = state.stopping
        self.listed = state.listed
        self.synced = state.synced
        self.configmaps = dict(state.configmaps)
        self.deployments = dict(state.deployments)
        self.overrides = dict(state.overrides)
        self.windows = dict(state.windows)
        self.active = dict(state.active)
        self.queue = list(state.queue)
        self.rollouts = dict(state.rollouts)
        self.chains = dict(state.chains)
        self.bucket = state.bucket
        self.next_resync_at = state.next_resync_at
        self.actions: list[Action] = []

    # ------------------------------------------------------------------ output

    def freeze(self) -> State:
        return replace(
            self.state,
            acting=self.acting,
            leading=self.leading,
            awaiting=self.awaiting,
            stopping=self.stopping,
            listed=self.listed,
            synced=self.synced,
            configmaps=self.configmaps,
            deployments=self.deployments,
            overrides=self.overrides,
            windows=self.windows,
            active=self.active,
            queue=tuple(self.queue),
            rollouts=self.rollouts,
            chains=self.chains,
            bucket=self.bucket,
            next_resync_at=self.next_resync_at,
        )

    def record(self, kind: str, obj: str | None, correlation: str | None, **data: Any) -> None:
        self.actions.append(Record(kind, obj, correlation, data))

    # ----------------------------------------------------------------- queries

    def applied(self, deployment: str) -> str | None:
        return applied_in(self.deployments, self.overrides, deployment)

    def desired(self, deployment: str) -> str | None:
        return desired_in(self.configmaps, self.deployments, deployment)

    def targets_of(self, configmap: ConfigMapView) -> list[str]:
        if configmap.target is None:
            return []
        return sorted(
            name for name, view in self.deployments.items() if view.target == configmap.target
        )

    def configmaps_of(self, deployment: DeploymentView) -> list[str]:
        if deployment.target is None:
            return []
        return sorted(
            name for name, view in self.configmaps.items() if view.target == deployment.target
        )

    def queued(self, deployment: str) -> Restart | None:
        for restart in self.queue:
            if restart.deployment == deployment:
                return restart
        return None

    def busy(self, deployment: str) -> bool:
        """Whether a restart of ``deployment`` is already queued or under way."""
        return deployment in self.active or self.queued(deployment) is not None

    def observation_id(self, view: ConfigMapView) -> str:
        return correlation_id(
            self.state.namespace, view.name, view.resource_version, view.data_hash
        )

    def chain_id(self, view: ConfigMapView) -> str:
        """The chain to continue for ``view``: the last window's, if it ended on this hash."""
        last = self.chains.get(view.name)
        if last is not None and last[0] == view.data_hash:
            return last[1]
        return self.observation_id(view)

    # ------------------------------------------------------------------ events

    def handle(self, event: Event) -> None:  # noqa: PLR0912 - one branch per event type
        if isinstance(event, ConfigMapSeen):
            self.on_configmap(event)
        elif isinstance(event, DeploymentSeen):
            self.on_deployment(event)
        elif isinstance(event, Listed):
            self.on_listed(event)
        elif isinstance(event, WatchFailed):
            self.record(
                kinds.WATCH_ERROR,
                None,
                None,
                resource=event.resource.value,
                error=event.error,
                status=event.status,
                retry_in_seconds=round(event.retry_in, 3),
            )
        elif isinstance(event, Tick):
            pass  # timers already fired
        elif isinstance(event, PatchSucceeded):
            self.on_patch_succeeded(event)
        elif isinstance(event, PatchFailed):
            self.on_patch_failed(event)
        elif isinstance(event, PatchFenced):
            self.on_patch_fenced(event)
        elif isinstance(event, PatchRefused):
            self.on_patch_refused(event)
        elif isinstance(event, AdoptFailed):
            self.on_adopt_failed(event)
        elif isinstance(event, AdoptRefused):
            self.on_adopt_refused(event)
        elif isinstance(event, LeadershipChanged):
            self.on_leadership(event)
        elif isinstance(event, LeaderObserved):
            self.record(
                kinds.LEADER_OBSERVED,
                _lease_object(event.lease),
                None,
                holder=event.holder,
                epoch=event.epoch,
            )
        elif isinstance(event, ShutdownRequested):
            self.on_shutdown(event)
        elif isinstance(event, FlushDeadline):
            self.on_flush_deadline()
        else:  # pragma: no cover - the Event union is closed
            raise TypeError(f"unknown event {event!r}")

    def on_configmap(self, event: ConfigMapSeen) -> None:
        view = event.configmap
        previous = self.configmaps.get(view.name)
        window = self.windows.get(view.name)
        chain = window.correlation_id if window is not None else self.observation_id(view)
        deleted = event.event_type is EventType.DELETED
        self.record(
            kinds.CONFIGMAP_OBSERVED,
            _cm_object(view.name),
            chain,
            event_type=event.event_type.value,
            source=event.source,
            resource_version=view.resource_version,
            data_hash=view.data_hash,
            previous_hash=previous.data_hash if previous is not None else None,
            changed_keys=[]
            if deleted
            else changed_keys(
                previous.key_digests if previous is not None else None, view.key_digests
            ),
            keys=list(view.keys),
            target=view.target.as_dict() if view.target is not None else None,
        )
        if deleted:
            self.configmaps.pop(view.name, None)
            if window is not None:
                del self.windows[view.name]
                self.chains[view.name] = (window.data_hash, window.correlation_id)
                self.skip(view.name, window.correlation_id, kinds.SKIP_DELETED, window.data_hash)
            return
        self.configmaps[view.name] = view
        if not self.synced or self.stopping:
            return  # the first sync decides for everything listed before it
        changed = (
            previous is None
            or previous.data_hash != view.data_hash
            or previous.target != view.target
        )
        if window is not None:
            if changed:
                # Coalesced: the observation above carries the window's
                # correlation id; the window's fire records how many there were.
                self.windows[view.name] = replace(
                    window, data_hash=view.data_hash, changes=window.changes + 1
                )
            return
        if not changed:
            self.skip(view.name, chain, kinds.SKIP_UNCHANGED, view.data_hash)
            return
        self.open_window(
            view,
            chain,
            "change",
            self.policy.debounce_seconds,
            base_hash=previous.data_hash if previous is not None else None,
        )

    def on_deployment(self, event: DeploymentSeen) -> None:
        view = event.deployment
        previous = self.deployments.get(view.name)
        deleted = event.event_type is EventType.DELETED
        relevant = (
            deleted
            or previous is None
            or previous.target != view.target
            or previous.applied_hash != view.applied_hash
        )
        if relevant:
            self.record(
                kinds.DEPLOYMENT_OBSERVED,
                _deploy_object(view.name),
                None,
                event_type=event.event_type.value,
                source=event.source,
                resource_version=view.resource_version,
                target=view.target.as_dict() if view.target is not None else None,
                applied_hash=view.applied_hash,
                generation=view.rollout.generation,
            )
        if deleted:
            self.deployments.pop(view.name, None)
            self.overrides.pop(view.name, None)
            self.rollouts.pop(view.name, None)
            return
        self.deployments[view.name] = view
        override = self.overrides.get(view.name)
        if override is not None and cluster_caught_up(view, override):
            del self.overrides[view.name]
        self.follow_rollout(view)
        if relevant and self.synced and self.acting and not self.stopping:
            self.evaluate_deployment(view.name, "catch-up")

    def on_listed(self, event: Listed) -> None:
        if event.initial:
            self.record(
                kinds.WATCH_STARTED,
                None,
                None,
                resource=event.resource.value,
                resource_version=event.resource_version,
                count=event.count,
                reason=event.reason,
            )
        else:
            self.record(
                kinds.WATCH_RELISTED,
                None,
                None,
                resource=event.resource.value,
                resource_version=event.resource_version,
                reason=event.reason,
                count=event.count,
                added=event.added,
                modified=event.modified,
                deleted=event.deleted,
            )
        self.listed = self.listed | {event.resource.value}
        became_synced = not self.synced and self.listed >= _BOTH
        if became_synced:
            self.synced = True
            self.next_resync_at = self.now + self.policy.resync_seconds
        became_acting = False
        if self.awaiting and event.reason == kinds.RELIST_LEADER:
            self.awaiting = self.awaiting - {event.resource.value}
            if not self.awaiting and self.leading:
                self.acting = became_acting = True
        if not self.acting or self.stopping:
            return
        if became_synced:
            self.reconcile(initial=True, reason="catch-up")
        elif became_acting and self.synced:
            self.catch_up()
        elif self.synced and not event.initial:
            self.reconcile(initial=False)

    def on_patch_succeeded(self, event: PatchSucceeded) -> None:
        restart = self.active.get(event.deployment)
        if restart is None or restart.correlation_id != event.correlation_id:
            return  # a late answer for a restart already settled
        del self.active[event.deployment]
        assert restart.data_hash is not None
        self.overrides[event.deployment] = AppliedOverride(restart.data_hash, event.generation)
        self.record(
            kinds.RESTART_PATCHED,
            _deploy_object(event.deployment),
            restart.correlation_id,
            configmap=restart.configmap,
            data_hash=restart.data_hash,
            attempt=restart.attempt,
            generation=event.generation,
            flushed=restart.flushed,
            latency_seconds=round(max(0.0, self.now - restart.change_at), 6),
        )
        self.start_rollout(restart, event.generation)

    def on_patch_failed(self, event: PatchFailed) -> None:
        restart = self.active.get(event.deployment)
        if restart is None or restart.correlation_id != event.correlation_id:
            return
        failure = event.failure
        obj = _deploy_object(event.deployment)
        if self.stopping:
            del self.active[event.deployment]
            self.record(
                kinds.RESTART_DROPPED,
                obj,
                restart.correlation_id,
                configmap=restart.configmap,
                data_hash=restart.data_hash,
                attempt=restart.attempt,
                reason="shutdown",
                error=failure.as_dict(),
            )
            return
        if failure.retriable and restart.attempt < self.policy.retry_max_attempts:
            delay = backoff_delay(self.policy, restart.attempt, event.jitter)
            self.active[event.deployment] = replace(
                restart, phase=Phase.BACKOFF, not_before=self.now + delay
            )
            self.record(
                kinds.RESTART_RETRY,
                obj,
                restart.correlation_id,
                configmap=restart.configmap,
                data_hash=restart.data_hash,
                attempt=restart.attempt,
                next_attempt=restart.attempt + 1,
                delay_seconds=round(delay, 6),
                jitter=event.jitter,
                error=failure.as_dict(),
            )
            return
        del self.active[event.deployment]
        reason = failure.reason if not failure.retriable else "retries-exhausted"
        self.record(
            kinds.RESTART_FAILED,
            obj,
            restart.correlation_id,
            configmap=restart.configmap,
            data_hash=restart.data_hash,
            attempt=restart.attempt,
            reason=reason,
            error=failure.as_dict(),
            next_resync_in_seconds=self.resync_in(),
        )

    def on_patch_fenced(self, event: PatchFenced) -> None:
        restart = self.active.get(event.deployment)
        if restart is None or restart.correlation_id != event.correlation_id:
            return
        # The patch was not sent, so the attempt does not count. Wait one base
        # backoff: by then leadership is confirmed again (and the patch goes
        # out) or lost (and the next leader finds the drift by itself).
        delay = self.policy.retry_base_seconds
        self.active[event.deployment] = replace(
            restart, phase=Phase.BACKOFF, attempt=restart.attempt - 1, not_before=self.now + delay
        )
        self.record(
            kinds.RESTART_RETRY,
            _deploy_object(event.deployment),
            restart.correlation_id,
            configmap=restart.configmap,
            data_hash=restart.data_hash,
            attempt=restart.attempt,
            next_attempt=restart.attempt,
            delay_seconds=round(delay, 6),
            jitter=None,
            error={"reason": "fenced", "status": None, "message": "leadership not confirmed"},
        )

    def on_patch_refused(self, event: PatchRefused) -> None:
        """Decide again on the Deployment as read after a refused precondition.

        Nothing was written. If the planned hash is applied already (an earlier
        attempt, or a process that died before its answer, did land it), or a
        newer one that is the desired hash, the restart is superseded: journaled
        and never sent again. Otherwise it goes out again at once, conditional
        on the state just read.
        """
        restart = self.active.get(event.deployment)
        if restart is None or restart.correlation_id != event.correlation_id:
            return
        obj = _deploy_object(event.deployment)
        planned = restart.data_hash
        if not event.found:
            del self.active[event.deployment]
            self.record(
                kinds.RESTART_FAILED,
                obj,
                restart.correlation_id,
                configmap=restart.configmap,
                data_hash=planned,
                attempt=restart.attempt,
                reason="not-found",
                error={"reason": "not-found", "status": 404, "message": "deployment is gone"},
                next_resync_in_seconds=self.resync_in(),
            )
            return
        applied = event.applied_hash
        reason = None
        if applied is not None and applied == planned:
            reason = kinds.SUPERSEDED_APPLIED
        elif applied is not None and applied == self.desired(event.deployment):
            reason = kinds.SUPERSEDED_NEWER
        if reason is not None:
            assert applied is not None
            del self.active[event.deployment]
            self.overrides[event.deployment] = AppliedOverride(applied, event.generation)
            self.record(
                kinds.RESTART_SUPERSEDED,
                obj,
                restart.correlation_id,
                configmap=restart.configmap,
                data_hash=planned,
                planned_hash=planned,
                applied_hash=applied,
                reason=reason,
                attempt=restart.attempt,
                resource_version=event.resource_version,
                generation=event.generation,
                error=event.failure.as_dict(),
            )
            return
        if restart.attempt >= self.policy.retry_max_attempts:
            del self.active[event.deployment]
            self.record(
                kinds.RESTART_FAILED,
                obj,
                restart.correlation_id,
                configmap=restart.configmap,
                data_hash=planned,
                attempt=restart.attempt,
                reason="retries-exhausted",
                error=event.failure.as_dict(),
                next_resync_in_seconds=self.resync_in(),
            )
            return
        self.record(
            kinds.RESTART_RETRY,
            obj,
            restart.correlation_id,
            configmap=restart.configmap,
            data_hash=planned,
            attempt=restart.attempt,
            next_attempt=restart.attempt + 1,
            delay_seconds=0.0,
            jitter=None,
            error=event.failure.as_dict(),
            reread={
                "applied_hash": applied,
                "resource_version": event.resource_version,
                "generation": event.generation,
            },
        )
        del self.active[event.deployment]
        self.send(restart, previous=applied, resource_version=event.resource_version)

    def on_adopt_refused(self, event: AdoptRefused) -> None:
        """Adopt again on the state just read, unless the Deployment carries a hash now.

        A hash set meanwhile (by another adoption or a restart) reaches the
        cache through the watch, which then decides on it as on any change.
        """
        override = self.overrides.get(event.deployment)
        if (
            not event.found
            or event.applied_hash is not None
            or override is None
            or override.generation is not None
            or not self.acting
        ):
            return
        self.actions.append(
            PatchAdopt(
                event.deployment,
                self.chain_id_for(event.deployment) or "",
                override.data_hash,
                event.resource_version,
            )
        )

    def on_adopt_failed(self, event: AdoptFailed) -> None:
        # The in-memory override keeps the adopted hash; the next resync
        # finds the annotation still missing and sends the adoption again.
        return

    def on_leadership(self, event: LeadershipChanged) -> None:
        if event.lease is not None:
            self.record_leadership(event)
        if event.acting:
            if self.leading:
                return
            self.leading = True
            if event.await_relist:
                # Decide nothing until a list made after this moment is in:
                # the old leader's last patches may not have reached the cache.
                self.awaiting = _BOTH
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
        for restart in [*self.queue, *self.active.values()]:
            if restart.phase is Phase.PATCHING:
                continue  # already sent; its answer still settles it
            self.record(
                kinds.RESTART_FAILED,
                _deploy_object(restart.deployment),
                restart.correlation_id,
                configmap=restart.configmap,
                data_hash=restart.data_hash,
                attempt=restart.attempt,
                reason="not-leader",
                error={"reason": "not-leader", "status": None, "message": "leadership lost"},
            )
            self.active.pop(restart.deployment, None)
        self.queue = []
        self.rollouts = {}

    def record_leadership(self, event: LeadershipChanged) -> None:
        if event.acting:
            kind = kinds.LEADER_ACQUIRED
            data: dict[str, Any] = {"epoch": event.epoch, **event.detail}
            if event.await_relist:
                data["await_relist"] = True
        else:
            kind = kinds.LEADER_RELEASED if event.reason == "released" else kinds.LEADER_LOST
            data = {"epoch": event.epoch, "reason": event.reason, **event.detail}
        assert event.lease is not None
        self.record(kind, _lease_object(event.lease), None, **data)

    def catch_up(self) -> None:
        """Start acting: compare everything at once (a level-triggered catch-up)."""
        if self.synced and not self.stopping:
            self.next_resync_at = self.now + self.policy.resync_seconds
            self.reconcile(initial=False, reason="catch-up")

    def on_shutdown(self, event: ShutdownRequested) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.record(
            kinds.CONTROLLER_STOPPING,
            None,
            None,
            reason=event.reason,
            pending=len(self.windows) + len(self.queue) + len(self.active),
        )
        for name in sorted(self.windows, key=lambda n: (self.windows[n].due_at, n)):
            self.fire_window(name, flushed=True)
        for name in sorted(self.active):
            restart = self.active[name]
            if restart.phase is Phase.BACKOFF:
                self.retry(replace(restart, flushed=True))

    def on_flush_deadline(self) -> None:
        for restart in [*self.queue, *self.active.values()]:
            self.record(
                kinds.RESTART_DROPPED,
                _deploy_object(restart.deployment),
                restart.correlation_id,
                configmap=restart.configmap,
                data_hash=restart.data_hash,
                attempt=restart.attempt,
                reason="shutdown-deadline",
            )
        self.queue = []
        self.active = {}
        self.windows = {}

    # ----------------------------------------------------------------- timers

    def fire_timers(self) -> None:
        if self.windows:
            due = [(w.due_at, name) for name, w in self.windows.items() if w.due_at <= self.now]
            for _, name in sorted(due):
                self.fire_window(name, flushed=False)
        if self.acting:
            due_retries = sorted(
                name
                for name, restart in self.active.items()
                if restart.phase is Phase.BACKOFF
                and restart.not_before is not None
                and restart.not_before <= self.now
            )
            for name in due_retries:
                self.retry(self.active[name])
        due_rollouts = sorted(name for name, r in self.rollouts.items() if r.deadline <= self.now)
        for name in due_rollouts:
            rollout = self.rollouts.pop(name)
            self.record(
                kinds.ROLLOUT_TIMEOUT,
                _deploy_object(name),
                rollout.correlation_id,
                configmap=rollout.configmap,
                generation=rollout.generation,
                reason="deadline",
                seconds=round(self.now - rollout.started_at, 6),
            )
        if (
            self.next_resync_at is not None
            and self.next_resync_at <= self.now
            and self.synced
            and self.acting
            and not self.stopping
        ):
            self.next_resync_at = self.now + self.policy.resync_seconds
            self.reconcile(initial=False)

    # ---------------------------------------------------------------- windows

    def open_window(
        self,
        view: ConfigMapView,
        chain: str,
        reason: str,
        delay: float,
        base_hash: str | None = None,
    ) -> None:
        window = Window(
            configmap=view.name,
            correlation_id=chain,
            opened_at=self.now,
            due_at=self.now + delay,
            data_hash=view.data_hash,
            base_hash=base_hash,
            reason=reason,
        )
        self.windows[view.name] = window
        self.record(
            kinds.DEBOUNCE_SCHEDULED,
            _cm_object(view.name),
            chain,
            data_hash=view.data_hash,
            reason=reason,
            due_in_seconds=round(delay, 6),
            targets=self.targets_of(view),
        )
        if delay <= 0:
            self.fire_window(view.name, flushed=False)

    def fire_window(self, name: str, *, flushed: bool) -> None:
        window = self.windows.pop(name)
        self.chains[name] = (window.data_hash, window.correlation_id)
        if window.changes > 1:
            self.record(
                kinds.DEBOUNCE_COALESCED,
                _cm_object(name),
                window.correlation_id,
                data_hash=window.data_hash,
                changes=window.changes,
                window_seconds=round(self.now - window.opened_at, 6),
            )
        if flushed:
            self.record(
                kinds.RESTART_FLUSHED,
                _cm_object(name),
                window.correlation_id,
                data_hash=window.data_hash,
                due_in_seconds=round(max(0.0, window.due_at - self.now), 6),
                acting=self.acting,
            )
        if not self.acting:
            self.skip(name, window.correlation_id, kinds.SKIP_NOT_LEADER, window.data_hash)
            return
        view = self.configmaps.get(name)
        if view is None:  # pragma: no cover - deletion closes the window
            return
        targets = self.targets_of(view)
        if not targets:
            self.skip(name, window.correlation_id, kinds.SKIP_NO_TARGET, view.data_hash)
            return
        acted = False
        for deployment in targets:
            acted |= self.plan_for(
                deployment, name, window.correlation_id, window.opened_at, flushed
            )
        if not acted:
            reverted = window.reason == "change" and window.data_hash == window.base_hash
            reason = kinds.SKIP_REVERTED if reverted else kinds.SKIP_UNCHANGED
            self.skip(name, window.correlation_id, reason, view.data_hash)

    def plan_for(
        self, deployment: str, configmap: str, chain: str, change_at: float, flushed: bool
    ) -> bool:
        """Queue (or adopt) ``deployment`` if it drifted; return whether anything was done."""
        desired = self.desired(deployment)
        applied = self.applied(deployment)
        if desired is None:
            return False
        if applied is None:
            self.adopt(deployment, configmap, chain, desired)
            return True
        if applied == desired:
            return False
        waiting = self.queued(deployment)
        if waiting is not None:
            # Not sent yet: it carries this change too, with the newest data.
            index = self.queue.index(waiting)
            self.queue[index] = replace(waiting, data_hash=desired)
            if waiting.correlation_id != chain:
                self.record(
                    kinds.DEBOUNCE_COALESCED,
                    _cm_object(configmap),
                    chain,
                    data_hash=desired,
                    deployment=deployment,
                    into=waiting.correlation_id,
                )
            return True
        active = self.active.get(deployment)
        if active is not None and active.data_hash == desired:
            return True  # already being applied
        self.queue.append(
            Restart(
                deployment=deployment,
                configmap=configmap,
                correlation_id=chain,
                change_at=change_at,
                data_hash=desired,
                flushed=flushed,
            )
        )
        return True

    def skip(
        self, configmap: str, chain: str | None, reason: str, digest: str | None, **extra: Any
    ) -> None:
        self.record(
            kinds.DEBOUNCE_SKIPPED,
            _cm_object(configmap),
            chain,
            reason=reason,
            data_hash=digest,
            **extra,
        )

    def adopt(self, deployment: str, configmap: str, chain: str, digest: str) -> None:
        self.overrides[deployment] = AppliedOverride(digest, None)
        self.skip(configmap, chain, kinds.SKIP_ADOPTED, digest, deployment=deployment)
        self.actions.append(
            PatchAdopt(deployment, chain, digest, self.resource_version(deployment))
        )

    # ------------------------------------------------------------- reconcile

    def reconcile(self, *, initial: bool, reason: str = "resync") -> None:
        """Compare every Deployment with its ConfigMaps and act on drift.

        ``initial`` (the first sync after start) also journals the verdict on
        every ConfigMap, so the journal shows each one checked at start-up.
        ``reason`` is journaled with the windows opened for drift.
        """
        for name in sorted(self.configmaps):
            if name in self.windows:
                continue  # its window decides when it fires
            view = self.configmaps[name]
            targets = self.targets_of(view)
            chain = self.chain_id(view)
            if not targets:
                if initial:
                    self.skip(name, chain, kinds.SKIP_NO_TARGET, view.data_hash)
                continue
            adopted = False
            drifted = False
            for deployment in targets:
                desired = self.desired(deployment)
                applied = self.applied(deployment)
                if desired is None:
                    continue
                if applied is None:
                    self.adopt(deployment, name, chain, desired)
                    adopted = True
                    continue
                if not initial:
                    self.resend_adoption(deployment)
                if applied != desired and not self.busy(deployment):
                    drifted = True
            if drifted:
                self.open_window(view, chain, reason, 0.0)
            elif initial and not adopted:
                self.skip(name, chain, kinds.SKIP_UNCHANGED, view.data_hash)

    def resend_adoption(self, deployment: str) -> None:
        """Send an adoption again when the cluster still lacks its annotation."""
        override = self.overrides.get(deployment)
        view = self.deployments.get(deployment)
        if (
            override is not None
            and override.generation is None
            and view is not None
            and view.applied_hash is None
        ):
            self.actions.append(
                PatchAdopt(
                    deployment,
                    self.chain_id_for(deployment),
                    override.data_hash,
                    view.resource_version,
                )
            )

    def resource_version(self, deployment: str) -> str:
        """The cached resourceVersion of ``deployment``: the precondition of a write decided now."""
        view = self.deployments.get(deployment)
        return view.resource_version if view is not None else ""

    def chain_id_for(self, deployment: str) -> str | None:
        view = self.deployments.get(deployment)
        if view is None:
            return None
        sources = self.configmaps_of(view)
        return self.chain_id(self.configmaps[sources[0]]) if sources else None

    def evaluate_deployment(self, deployment: str, reason: str) -> None:
        """Act on one Deployment that appeared or changed its labels or applied hash."""
        view = self.deployments[deployment]
        sources = self.configmaps_of(view)
        if not sources or self.busy(deployment):
            return
        if any(name in self.windows for name in sources):
            return  # a window on its ConfigMap will decide
        desired = self.desired(deployment)
        applied = self.applied(deployment)
        cm = self.configmaps[sources[0]]
        chain = self.chain_id(cm)
        if applied is None:
            if desired is not None:
                self.adopt(deployment, cm.name, chain, desired)
            return
        if desired is not None and applied != desired:
            self.open_window(cm, chain, reason, 0.0)

    # -------------------------------------------------------------- dispatch

    def dispatch(self) -> None:
        """Send queued restarts while the rate limit and the rollout cap allow."""
        if not self.queue or not self.acting:
            return
        remaining: list[Restart] = []
        blocked = False
        for restart in self.queue:
            if blocked or restart.deployment in self.active:
                remaining.append(restart)
                continue
            if not self.stopping and not self.slot_free():
                blocked = True
                remaining.append(restart)
                continue
            outcome = self.start(restart)
            if outcome == "blocked":
                blocked = True
                remaining.append(restart)
        self.queue = remaining

    def slot_free(self) -> bool:
        patching = sum(1 for r in self.active.values() if r.phase is Phase.PATCHING)
        return patching + len(self.rollouts) < self.policy.max_concurrent_rollouts

    def take_token(self) -> bool:
        if self.stopping:
            return True
        self.bucket, taken = self.bucket.take(self.now)
        return taken

    def start(self, restart: Restart) -> str:
        """Plan and send the first attempt of a queued restart.

        A restart applies the hash its window fired with, even if the
        ConfigMap has changed again since: that newer change has its own
        window and its own restart, so each window maps to one restart.
        """
        deployment = restart.deployment
        wanted = restart.data_hash
        assert wanted is not None
        if deployment not in self.deployments:
            self.skip(
                restart.configmap,
                restart.correlation_id,
                kinds.SKIP_NO_TARGET,
                wanted,
                deployment=deployment,
            )
            return "done"
        desired = self.desired(deployment)
        applied = self.applied(deployment)
        if desired is None:
            self.skip(
                restart.configmap,
                restart.correlation_id,
                kinds.SKIP_DELETED,
                wanted,
                deployment=deployment,
            )
            return "done"
        if applied is None:
            self.adopt(deployment, restart.configmap, restart.correlation_id, desired)
            return "done"
        if applied == wanted:
            self.skip(
                restart.configmap,
                restart.correlation_id,
                kinds.SKIP_UNCHANGED,
                wanted,
                deployment=deployment,
            )
            return "done"
        if not self.take_token():
            return "blocked"
        self.send(replace(restart, attempt=0), previous=applied)
        return "done"

    def retry(self, restart: Restart) -> None:
        """Send the next attempt of a restart whose backoff is over (or flushed)."""
        deployment = restart.deployment
        assert restart.data_hash is not None
        if deployment not in self.deployments:
            del self.active[deployment]
            self.record(
                kinds.RESTART_FAILED,
                _deploy_object(deployment),
                restart.correlation_id,
                configmap=restart.configmap,
                data_hash=restart.data_hash,
                attempt=restart.attempt,
                reason="not-found",
                error={"reason": "not-found", "status": None, "message": "deployment is gone"},
            )
            return
        if self.applied(deployment) == restart.data_hash:
            # The earlier attempt did land (its answer was lost): the watch
            # shows the hash applied, so do not roll the pods a second time.
            del self.active[deployment]
            self.record(
                kinds.RESTART_PATCHED,
                _deploy_object(deployment),
                restart.correlation_id,
                configmap=restart.configmap,
                data_hash=restart.data_hash,
                attempt=restart.attempt,
                generation=self.deployments[deployment].rollout.generation,
                flushed=restart.flushed,
                confirmed_by="watch",
                latency_seconds=round(max(0.0, self.now - restart.change_at), 6),
            )
            self.start_rollout(restart, self.deployments[deployment].rollout.generation)
            return
        if not self.take_token():
            # Try again once a token is due: keep the backoff phase, move its end.
            self.active[deployment] = replace(
                restart, not_before=self.bucket.next_token_at(self.now)
            )
            return
        del self.active[deployment]
        self.send(restart, previous=self.applied(deployment))

    def send(
        self, restart: Restart, previous: str | None, resource_version: str | None = None
    ) -> None:
        """Plan and send one attempt, conditional on ``resource_version`` (default: cached)."""
        attempt = restart.attempt + 1
        superseded = self.rollouts.pop(restart.deployment, None)
        assert restart.data_hash is not None
        if resource_version is None:
            resource_version = self.resource_version(restart.deployment)
        self.record(
            kinds.RESTART_PLANNED,
            _deploy_object(restart.deployment),
            restart.correlation_id,
            configmap=restart.configmap,
            data_hash=restart.data_hash,
            previous_hash=previous,
            attempt=attempt,
            flushed=restart.flushed,
            supersedes=superseded.correlation_id if superseded is not None else None,
            resource_version=resource_version,
        )
        self.actions.append(
            PatchRestart(
                deployment=restart.deployment,
                configmap=restart.configmap,
                correlation_id=restart.correlation_id,
                data_hash=restart.data_hash,
                attempt=attempt,
                previous_hash=previous,
                resource_version=resource_version,
            )
        )
        self.active[restart.deployment] = replace(
            restart, phase=Phase.PATCHING, attempt=attempt, not_before=None
        )

    # --------------------------------------------------------------- rollouts

    def start_rollout(self, restart: Restart, generation: int | None) -> None:
        rollout = Rollout(
            deployment=restart.deployment,
            configmap=restart.configmap,
            correlation_id=restart.correlation_id,
            generation=generation,
            started_at=self.now,
            deadline=self.now + self.policy.rollout_timeout_seconds,
        )
        self.rollouts[restart.deployment] = rollout
        view = self.deployments.get(restart.deployment)
        if view is not None and generation is not None:
            self.follow_rollout(view)

    def follow_rollout(self, view: DeploymentView) -> None:
        rollout = self.rollouts.get(view.name)
        if rollout is None or rollout.generation is None:
            return
        if view.rollout.generation < rollout.generation:
            return  # an event from before our patch
        outcome = rollout_outcome(view.rollout, rollout.generation)
        if outcome is RolloutOutcome.PROGRESSING:
            return
        del self.rollouts[view.name]
        kind = (
            kinds.ROLLOUT_COMPLETED
            if outcome is RolloutOutcome.COMPLETED
            else kinds.ROLLOUT_TIMEOUT
        )
        extra = (
            {} if outcome is RolloutOutcome.COMPLETED else {"reason": "progress-deadline-exceeded"}
        )
        self.record(
            kind,
            _deploy_object(view.name),
            rollout.correlation_id,
            configmap=rollout.configmap,
            generation=rollout.generation,
            seconds=round(self.now - rollout.started_at, 6),
            replicas=view.rollout.replicas,
            **extra,
        )

    def resync_in(self) -> float | None:
        if self.next_resync_at is None:
            return None
        return round(max(0.0, self.next_resync_at - self.now), 6)
