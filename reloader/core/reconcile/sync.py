"""Lists, Deployments and the level-triggered resync: comparing what is applied
with what is desired, at the first sync, after a relist, on a schedule and when
a term begins.

Part of the step builder (:mod:`reloader.core.reconciler`): methods of the
other parts are reached through ``self``.
"""

from __future__ import annotations

from records import DeploymentObserved, WatchError, WatchRelisted, WatchStarted, kinds
from reloader.core.actions import PatchAdopt
from reloader.core.events import DeploymentSeen, EventType, Listed, WatchFailed
from reloader.core.queries import cluster_caught_up
from reloader.core.reconcile.scratch import BOTH, Scratch, deploy_object


class Sync(Scratch):
    def on_watch_failed(self, event: WatchFailed) -> None:
        self.record(
            WatchError(
                resource=event.resource.value,
                error=event.error,
                status=event.status,
                retry_in_seconds=round(event.retry_in, 3),
            ),
            None,
            None,
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
                DeploymentObserved(
                    event_type=event.event_type.value,
                    source=event.source,
                    resource_version=view.resource_version,
                    target=view.target.as_dict() if view.target is not None else None,
                    applied_hash=view.applied_hash,
                    generation=view.rollout.generation,
                ),
                deploy_object(view.name),
                None,
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
                WatchStarted(
                    resource=event.resource.value,
                    resource_version=event.resource_version,
                    count=event.count,
                    reason=event.reason,
                ),
                None,
                None,
            )
        else:
            self.record(
                WatchRelisted(
                    resource=event.resource.value,
                    resource_version=event.resource_version,
                    reason=event.reason,
                    count=event.count,
                    added=event.added,
                    modified=event.modified,
                    deleted=event.deleted,
                ),
                None,
                None,
            )
        self.listed = self.listed | {event.resource.value}
        became_synced = not self.synced and self.listed >= BOTH
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

    def resync_if_due(self) -> None:
        if (
            self.next_resync_at is not None
            and self.next_resync_at <= self.now
            and self.synced
            and self.acting
            and not self.stopping
        ):
            self.next_resync_at = self.now + self.policy.resync_seconds
            self.reconcile(initial=False)

    def catch_up(self) -> None:
        """Start acting: compare everything at once (a level-triggered catch-up)."""
        if self.synced and not self.stopping:
            self.next_resync_at = self.now + self.policy.resync_seconds
            self.reconcile(initial=False, reason="catch-up")

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
