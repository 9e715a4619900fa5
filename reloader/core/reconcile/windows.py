"""Debounce windows: a ConfigMap change opens one, later changes coalesce into it,
and when it fires every target whose applied hash differs is queued (or adopted).

Part of the step builder (:mod:`reloader.core.reconciler`): methods of the
other parts are reached through ``self``.
"""

from __future__ import annotations

from dataclasses import replace

from records import (
    ABSENT,
    ConfigMapObserved,
    DebounceCoalesced,
    DebounceScheduled,
    RestartFlushed,
    kinds,
)
from reloader.core.events import ConfigMapSeen, EventType
from reloader.core.hashing import changed_keys
from reloader.core.model import SECRET, ConfigMapView, Key
from reloader.core.reconcile.scratch import Scratch, workload_label
from reloader.core.state import Restart, Window


class Windows(Scratch):
    def on_configmap(self, event: ConfigMapSeen) -> None:  # noqa: PLR0911 - an outcome each
        view = event.configmap
        if view.kind == SECRET and not self.policy.watch_secrets:
            return  # Secrets count only with WATCH_SECRETS
        key = self.source_key(view)
        previous = self.configmaps.get(key)
        window = self.windows.get(key)
        chain = window.correlation_id if window is not None else self.observation_id(view)
        deleted = event.event_type is EventType.DELETED
        # Only its ignore/match changed: who it counts for, not what any pod runs.
        flags_only = (
            not deleted
            and previous is not None
            and window is None
            and previous.data_hash == view.data_hash
            and previous.target == view.target
            and (previous.ignore, previous.match) != (view.ignore, view.match)
        )
        # A deletion changes which sources exist, not what any pod runs either.
        quiet_delete = deleted and previous is not None and window is None
        in_sync = self.in_sync_dependents(key) if flags_only or quiet_delete else {}
        self.record(
            ConfigMapObserved(
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
                ignore=True if view.ignore else ABSENT,
                match=True if view.match else ABSENT,
            ),
            key,
            chain,
        )
        if deleted:
            self.configmaps.pop(key, None)
            self.index(self.source_index, key, present=False)
            if self.synced:
                self.lost_source(key)
            if window is not None:
                del self.windows[key]
                self.chains[key] = (window.data_hash, window.correlation_id)
                self.skip(key, window.correlation_id, kinds.SKIP_DELETED, window.data_hash)
            # Its workloads' other sources still count: their new combination is
            # adopted, not rolled out onto a source that is gone (pods that need
            # it would not start). One that comes back is a change like any other.
            self.adopt_new_combinations(key, chain, in_sync)
            return
        self.configmaps[key] = view
        if previous is None:
            self.index(self.source_index, key, present=True)
        self.warn(key, view.warnings)
        if previous is None and self.synced:
            self.found_missing(key)
        if not self.synced or self.stopping:
            return  # the first sync decides for everything listed before it
        changed = (
            previous is None
            or previous.data_hash != view.data_hash
            or previous.target != view.target
            or previous.ignore != view.ignore
            or previous.match != view.match
        )
        if window is not None:
            if changed:
                # Coalesced: the observation above carries the window's
                # correlation id; the window's fire records how many there were.
                self.windows[key] = replace(
                    window, data_hash=view.data_hash, changes=window.changes + 1
                )
            return
        if not changed:
            self.skip(key, chain, kinds.SKIP_UNCHANGED, view.data_hash)
            return
        if flags_only and self.keep_in_sync(key, chain, in_sync):
            return
        targets = self.targets_of(key)
        if not targets:
            # Nothing restarts for it: decided at once, without a window (most
            # changes in a cluster are of such objects). A workload that starts
            # to depend on it later is evaluated when that workload is observed.
            self.chains[key] = (view.data_hash, chain)
            self.skip(key, chain, kinds.SKIP_NO_TARGET, view.data_hash)
            return
        delay = min(self.debounce_of(target) for target in targets)
        self.open_window(
            view,
            chain,
            "change",
            delay,
            base_hash=previous.data_hash if previous is not None else None,
            targets=targets,
        )

    def in_sync_dependents(self, source: Key) -> dict[Key, str]:
        """The idle workloads ``source`` may count for whose applied hash is the desired one."""
        if not (self.synced and self.acting and not self.stopping):
            return {}
        found: dict[Key, str] = {}
        for deployment in sorted(self.may_count_for(source)):
            desired = self.desired(deployment)
            if (
                desired is not None
                and deployment not in self.overrides
                and self.applied(deployment) == desired
                and not self.busy(deployment)
            ):
                found[deployment] = desired
        return found

    def keep_in_sync(self, source: Key, chain: str, in_sync: dict[Key, str]) -> bool:
        """After a change of ``source``'s ``ignore``/``match`` alone, keep in sync the
        workloads that were: no data changed, so their pods run what they should and
        the new combination of hashes is adopted (metadata only), as Reloader, which
        reloads on data changes only, would restart nothing. Return whether that
        decided everything: ``source`` counts for some workloads, all in sync now
        (else the caller decides as for any change: no target, or a window).
        """
        adopted = self.adopt_new_combinations(source, chain, in_sync)
        targets = self.targets_of(source)
        if not targets or any(self.applied(t) != self.desired(t) for t in targets):
            return False
        if not adopted:
            self.skip(source, chain, kinds.SKIP_UNCHANGED, self.configmaps[source].data_hash)
        return True

    def adopt_new_combinations(self, source: Key, chain: str, in_sync: dict[Key, str]) -> bool:
        """Adopt the desired hash of each workload of ``in_sync`` (workload: the hash it
        was in sync with) that ``source``'s change moved; return whether any was."""
        adopted = False
        for deployment, before in in_sync.items():
            desired = self.desired(deployment)
            if desired is not None and desired != before:
                self.adopt(deployment, source, chain, desired, replaces=before)
                adopted = True
        return adopted

    def fire_due_windows(self) -> None:
        if self.windows:
            due = [(w.due_at, key) for key, w in self.windows.items() if w.due_at <= self.now]
            for _, key in sorted(due):
                self.fire_window(key, flushed=False)

    def open_window(  # noqa: PLR0917 - the window's facts
        self,
        view: ConfigMapView,
        chain: str,
        reason: str,
        delay: float,
        base_hash: str | None = None,
        targets: list[Key] | None = None,
    ) -> None:
        key = self.source_key(view)
        if targets is None:
            targets = self.targets_of(key)
        window = Window(
            configmap=key,
            correlation_id=chain,
            opened_at=self.now,
            due_at=self.now + delay,
            data_hash=view.data_hash,
            base_hash=base_hash,
            reason=reason,
        )
        self.windows[key] = window
        self.record(
            DebounceScheduled(
                data_hash=view.data_hash,
                reason=reason,
                due_in_seconds=round(delay, 6),
                targets=[workload_label(target) for target in targets],
            ),
            key,
            chain,
        )
        if delay <= 0:
            self.fire_window(key, flushed=False)

    def fire_window(self, name: Key, *, flushed: bool) -> None:
        window = self.windows.pop(name)
        self.chains[name] = (window.data_hash, window.correlation_id)
        if window.changes > 1:
            self.record(
                DebounceCoalesced(
                    data_hash=window.data_hash,
                    changes=window.changes,
                    window_seconds=round(self.now - window.opened_at, 6),
                ),
                name,
                window.correlation_id,
            )
        if flushed:
            self.record(
                RestartFlushed(
                    data_hash=window.data_hash,
                    due_in_seconds=round(max(0.0, window.due_at - self.now), 6),
                    acting=self.acting,
                ),
                name,
                window.correlation_id,
            )
        if not self.acting:
            self.skip(name, window.correlation_id, kinds.SKIP_NOT_LEADER, window.data_hash)
            return
        view = self.configmaps.get(name)
        if view is None:  # pragma: no cover - deletion closes the window
            return
        targets = self.targets_of(name)
        if not targets:
            self.skip(name, window.correlation_id, kinds.SKIP_NO_TARGET, view.data_hash)
            return
        acted = False
        for deployment in targets:
            # A workload whose own debounce is longer than the window's waits
            # for it in the queue (a window of delay 0, a catch-up, waits for none).
            own = window.opened_at + self.debounce_of(deployment)
            wait = own if window.reason == "change" and own > self.now else None
            acted |= self.plan_for(
                deployment,
                name,
                window.correlation_id,
                window.opened_at,
                flushed,
                not_before=None if flushed else wait,
            )
        if not acted:
            reverted = window.reason == "change" and window.data_hash == window.base_hash
            reason = kinds.SKIP_REVERTED if reverted else kinds.SKIP_UNCHANGED
            self.skip(name, window.correlation_id, reason, view.data_hash)

    def plan_for(  # noqa: PLR0917 - the restart's facts
        self,
        deployment: Key,
        configmap: Key,
        chain: str,
        change_at: float,
        flushed: bool,
        not_before: float | None = None,
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
                    DebounceCoalesced(
                        data_hash=desired,
                        deployment=workload_label(deployment),
                        into=waiting.correlation_id,
                    ),
                    configmap,
                    chain,
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
                not_before=not_before,
            )
        )
        return True
