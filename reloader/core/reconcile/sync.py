"""Lists, Deployments and the level-triggered resync: comparing what is applied
with what is desired, at the first sync, after a relist, on a schedule and when
a term begins.

Part of the step builder (:mod:`reloader.core.reconciler`): methods of the
other parts are reached through ``self``.
"""

from __future__ import annotations

import re
from dataclasses import replace

from records import (
    ABSENT,
    DeploymentObserved,
    WatchError,
    WatchRelisted,
    WatchStarted,
    WorkloadMissingReference,
    WorkloadWarning,
    kinds,
)
from records.listing import RESOURCE_OBJECTS, listing_digest
from reloader.core.actions import WarnWorkload
from reloader.core.events import DeploymentSeen, EventType, Listed, WatchFailed
from reloader.core.model import CONFIGMAP, SECRET, DeploymentView, Key
from reloader.core.optin import CONFIGMAP as OPTIN_CONFIGMAP
from reloader.core.optin import SECRET as OPTIN_SECRET
from reloader.core.queries import cluster_caught_up
from reloader.core.reconcile.scratch import Scratch, obj_of
from reloader.core.workloads import optin_facts, references_moved

_SOURCE_KIND = {OPTIN_CONFIGMAP: CONFIGMAP, OPTIN_SECRET: SECRET}
# A reload item that could be an object's name (a DNS subdomain: dots are
# allowed) names one source, even though a dot is also a pattern's any-character.
_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")


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
        if view.target is not None and not self.label_rule_applies(view):
            view = replace(view, target=None)
        key = self.workload_key(view)
        previous = self.deployments.get(key)
        deleted = event.event_type is EventType.DELETED
        # The opt-in as recorded: decisions depend on exactly this (its
        # annotation warnings aside, which warn() reports on their own).
        facts = optin_facts(view)
        before = optin_facts(previous) if previous is not None else None
        relevant = (
            deleted
            or previous is None
            or previous.target != view.target
            or previous.applied_hash != view.applied_hash
            or before != facts
            or previous.rollout.on_delete != view.rollout.on_delete
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
                    optin=facts if facts is not None else ABSENT,
                    update_strategy="OnDelete" if view.rollout.on_delete else ABSENT,
                ),
                key,
                None,
            )
        if deleted:
            self.deployments.pop(key, None)
            self.link(key, previous, None)
            self.overrides.pop(key, None)
            self.rollouts.pop(key, None)
            self.warned.pop(key, None)
            self.missing.pop(key, None)
            return
        self.deployments[key] = view
        if previous is None or previous.target != view.target or previous.optin != view.optin:
            self.link(key, previous, view)
        self.warn(key, view.warnings)
        override = self.overrides.get(key)
        if override is not None and cluster_caught_up(view, override):
            del self.overrides[key]
        self.follow_rollout(view)
        if relevant and self.synced:
            self.check_references(key)
        if relevant and self.synced and self.acting and not self.stopping:
            self.evaluate_deployment(key, "catch-up", rolled=references_moved(before, facts))

    def label_rule_applies(self, view: DeploymentView) -> bool:
        """Whether the label rule may select ``view``: in ``label_rule_namespace`` only.

        Elsewhere a Deployment's ``app``/``env`` labels select nothing (it is
        observed and journaled without a ``target``), so that a cluster-scope
        controller restarts only what opted in, as stakater/Reloader does.
        A view built by hand (namespace "") is in the controller's namespace.
        """
        home = self.policy.label_rule_namespace
        return home is None or view.namespace in ("", home)

    # ------------------------------------------------------ warnings, references

    def warn(self, key: Key, warnings: tuple[str, ...]) -> None:
        """Report an object's annotation problems once (again only when they change)."""
        if not warnings:
            self.warned.pop(key, None)
            return
        if self.warned.get(key) == warnings:
            return
        self.warned[key] = warnings
        self.record(WorkloadWarning(warnings=list(warnings)), key, None)
        self.actions.append(WarnWorkload(key[0], key[1], key[2], "; ".join(warnings)))

    def wanted_sources(self, key: Key) -> set[Key]:
        """The sources a workload names outright: references under ``auto``/``search``,
        and the items of its ``reload`` lists that are names (Secrets only with WATCH_SECRETS)."""
        view = self.deployments.get(key)
        if view is None or view.optin is None:
            return set()
        wanted: set[Key] = set()
        for kind, rules in view.optin.kinds.items():
            source_kind = _SOURCE_KIND[kind]
            if source_kind == SECRET and not self.policy.watch_secrets:
                continue
            if rules.auto or rules.search:
                wanted.update(
                    (key[0], source_kind, name)
                    for ref_kind, name in view.optin.references
                    if ref_kind == kind
                )
            for pattern in rules.reload:
                text = pattern.pattern
                if _NAME.fullmatch(text):
                    wanted.add((key[0], source_kind, text))
        return wanted

    def check_references(self, key: Key) -> None:
        """Journal, once each, the sources a workload names that do not exist."""
        missing = frozenset(s for s in self.wanted_sources(key) if s not in self.configmaps)
        reported = self.missing.get(key, frozenset())
        for source in sorted(missing - reported):
            self.record(WorkloadMissingReference(source=obj_of(source)), key, None)
        if missing:
            self.missing[key] = missing
        else:
            self.missing.pop(key, None)

    def lost_source(self, source: Key) -> None:
        """A source went away: journal it as missing for each workload that names it."""
        for key in sorted(self.may_count_for(source)):
            self.check_references(key)

    def found_missing(self, source: Key) -> None:
        """A source appeared: forget it as missing wherever it was."""
        for key, missing in list(self.missing.items()):
            if source in missing:
                rest = missing - {source}
                if rest:
                    self.missing[key] = rest
                else:
                    del self.missing[key]

    def list_digest(self, resource: str) -> str:
        """The digest of every object of ``resource`` known now, with its hash."""
        kind = RESOURCE_OBJECTS[resource]
        if kind in {CONFIGMAP, SECRET}:
            return listing_digest(
                (key[0], obj_of(key), view.data_hash)
                for key, view in self.configmaps.items()
                if key[1] == kind
            )
        return listing_digest(
            (key[0], obj_of(key), view.applied_hash)
            for key, view in self.deployments.items()
            if key[1] == kind
        )

    def on_listed(self, event: Listed) -> None:
        digest = self.list_digest(event.resource.value)
        forbidden = list(event.forbidden) if event.forbidden else ABSENT
        if event.initial:
            self.record(
                WatchStarted(
                    resource=event.resource.value,
                    resource_version=event.resource_version,
                    count=event.count,
                    reason=event.reason,
                    digest=digest,
                    forbidden_namespaces=forbidden,
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
                    digest=digest,
                    forbidden_namespaces=forbidden,
                ),
                None,
                None,
            )
        self.listed = self.listed | {event.resource.value}
        became_synced = not self.synced and self.listed >= self.policy.resources
        if became_synced:
            self.synced = True
            self.next_resync_at = self.now + self.policy.resync_seconds
            for key in sorted(self.deployments):
                self.check_references(key)
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
            targets = self.targets_of(name)
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
                if (
                    applied != desired
                    and not self.busy(deployment)
                    and not self.window_open_for(deployment)
                ):
                    drifted = True
            if drifted:
                self.open_window(view, chain, reason, 0.0)
            elif initial and not adopted:
                self.skip(name, chain, kinds.SKIP_UNCHANGED, view.data_hash)

    def window_open_for(self, deployment: Key) -> bool:
        """Whether a window is open on one of the workload's sources: it decides, when it
        fires, for the workload's whole desired hash (so its debounce is kept)."""
        return any(source in self.windows for source in self.configmaps_of(deployment))

    def resend_adoption(self, deployment: Key) -> None:
        """Send an adoption again when the cluster still lacks its annotation."""
        override = self.overrides.get(deployment)
        view = self.deployments.get(deployment)
        if (
            override is not None
            and override.generation is None
            and view is not None
            and view.applied_hash == override.replaces
        ):
            self.actions.append(
                self.adopt_action(
                    deployment,
                    self.chain_id_for(deployment) or "",
                    override.data_hash,
                    view.resource_version,
                )
            )

    def evaluate_deployment(self, deployment: Key, reason: str, *, rolled: bool = False) -> None:
        """Act on one workload that appeared or changed its opt-in or applied hash.

        ``rolled``: its pod template changed, so the cluster is rolling its pods
        out already and they start on the sources as they are now: the desired
        hash is adopted (metadata only) rather than rolled out a second time.
        """
        sources = self.configmaps_of(deployment)
        if not sources or self.busy(deployment):
            return
        if any(name in self.windows for name in sources):
            return  # a window on its ConfigMap will decide
        desired = self.desired(deployment)
        applied = self.applied(deployment)
        cm = self.configmaps[sources[0]]
        chain = self.chain_id(cm)
        if applied is None or rolled:
            if desired is not None and desired != applied:
                self.adopt(deployment, sources[0], chain, desired, replaces=applied)
            return
        if desired is not None and applied != desired:
            self.open_window(cm, chain, reason, 0.0)
