"""The mutable scratch space of one step, its queries and its journaling helpers.

Workloads and sources are keyed by ``(namespace, kind, name)``
(:data:`reloader.core.model.Key`); records name them ``kind/name`` with the
namespace in the record's own field.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any, Generic, TypeVar

from rpds import HashTrieMap

from records import DebounceSkipped, Payload, RestartFailed, kinds
from records.payload import ABSENT
from reloader.core.actions import Action, PatchAdopt, Record
from reloader.core.hashing import correlation_id
from reloader.core.model import CONFIGMAP, DEPLOYMENT, ConfigMapView, DeploymentView, Key
from reloader.core.pmap import PMap, wrap
from reloader.core.queries import (
    applied_in,
    broad,
    candidate_sources,
    depends,
    desired_in,
    referenced_sources,
)
from reloader.core.state import AppliedOverride, Restart, Rollout, State, Window

K = TypeVar("K")
V = TypeVar("V")


class Cow(Mapping[K, V], Generic[K, V]):
    """A mapping of the state being changed by one step, without copying it.

    The state's mappings are persistent (:class:`reloader.core.pmap.PMap`): a
    change makes a new version in O(log n) and shares the rest, so an event
    costs the same with thousands of ConfigMaps cached as with ten, and the
    state the step started from stays as it was.
    """

    __slots__ = ("_base", "_changed", "_trie")

    def __init__(self, base: Mapping[K, V]) -> None:
        self._base = PMap.of(base)
        self._trie = self._base.trie
        self._changed = False

    @property
    def value(self) -> PMap[K, V]:
        """The mapping as this step left it."""
        return wrap(self._trie) if self._changed else self._base

    def __getitem__(self, key: K) -> V:
        return self._trie[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._trie)

    def __len__(self) -> int:
        return len(self._trie)

    def __contains__(self, key: object) -> bool:
        return key in self._trie

    def get(self, key: K, default=None):  # type: ignore[no-untyped-def, override]
        return self._trie.get(key, default)

    def keys(self):  # type: ignore[no-untyped-def, override]
        return self._trie.keys()

    def values(self):  # type: ignore[no-untyped-def, override]
        return self._trie.values()

    def items(self):  # type: ignore[no-untyped-def, override]
        return self._trie.items()

    def __setitem__(self, key: K, value: V) -> None:
        self._trie = self._trie.insert(key, value)
        self._changed = True

    def __delitem__(self, key: K) -> None:
        self._trie = self._trie.remove(key)  # KeyError when absent, as a dict
        self._changed = True

    def pop(self, key: K, default=None):  # type: ignore[no-untyped-def]
        value = self._trie.get(key, _MISSING)
        if value is _MISSING:
            return default
        self._trie = self._trie.remove(key)
        self._changed = True
        return value

    def clear(self) -> None:
        """Forget every entry."""
        self._trie = HashTrieMap()
        self._changed = True


_MISSING = object()


def obj_of(key: Key) -> str:
    """The record object of a workload or source: ``kind/name``."""
    return f"{key[1]}/{key[2]}"


def lease_object(name: str) -> str:
    return f"lease/{name}"


def workload_label(key: Key) -> str:
    """A workload as record data names it: a Deployment by its name, others ``kind/name``."""
    return key[2] if key[1] == DEPLOYMENT else obj_of(key)


def source_label(key: Key) -> str:
    """A source as record data names it: a ConfigMap by its name, a Secret ``secret/name``."""
    return key[2] if key[1] == CONFIGMAP else obj_of(key)


class Scratch:
    """The state being changed by one step; ``freeze`` turns it back into a State."""

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
        self.configmaps: Cow[Key, ConfigMapView] = Cow(state.configmaps)
        self.deployments: Cow[Key, DeploymentView] = Cow(state.deployments)
        self.source_index: Cow[str, frozenset[Key]] = Cow(state.source_index)
        self.referrers: Cow[Key, frozenset[Key]] = Cow(state.referrers)
        self.broad_index: Cow[str, frozenset[Key]] = Cow(state.broad_index)
        self.overrides: Cow[Key, AppliedOverride] = Cow(state.overrides)
        self.windows: Cow[Key, Window] = Cow(state.windows)
        self.active: Cow[Key, Restart] = Cow(state.active)
        self.queue = list(state.queue)
        self.rollouts: Cow[Key, Rollout] = Cow(state.rollouts)
        self.chains: Cow[Key, tuple[str, str]] = Cow(state.chains)
        self.warned: Cow[Key, tuple[str, ...]] = Cow(state.warned)
        self.missing: Cow[Key, frozenset[Key]] = Cow(state.missing)
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
            configmaps=self.configmaps.value,
            deployments=self.deployments.value,
            source_index=self.source_index.value,
            referrers=self.referrers.value,
            broad_index=self.broad_index.value,
            overrides=self.overrides.value,
            windows=self.windows.value,
            active=self.active.value,
            queue=tuple(self.queue),
            rollouts=self.rollouts.value,
            chains=self.chains.value,
            warned=self.warned.value,
            missing=self.missing.value,
            bucket=self.bucket,
            next_resync_at=self.next_resync_at,
        )

    def record(self, payload: Payload, obj: str | Key | None, correlation: str | None) -> None:
        """Journal ``payload`` about ``obj`` (a key, or an object string in our namespace)."""
        if isinstance(obj, tuple):
            self.actions.append(
                Record(payload.KIND, obj_of(obj), correlation, payload.to_data(), obj[0], self.now)
            )
        else:
            self.actions.append(
                Record(payload.KIND, obj, correlation, payload.to_data(), None, self.now)
            )

    def record_restart(self, restart: Restart, outcome: type[Payload], **fields: Any) -> None:
        """Journal a step of ``restart`` (``outcome`` with its own ``fields``) in its chain.

        Every restart record is about the workload and names what the restart
        is for: the source (``configmap`` and ``source``), the hash being
        rolled out and the attempt (``fields`` may give another attempt, as
        the plan of the next one does).
        """
        about = {
            "configmap": source_label(restart.configmap),
            "source": obj_of(restart.configmap),
            "data_hash": restart.data_hash,
            "attempt": restart.attempt,
        }
        self.record(outcome(**about | fields), restart.deployment, restart.correlation_id)

    def record_not_leader(self, restart: Restart) -> None:
        """Journal ``restart`` as given up: ``restart.failed`` reason ``not-leader``.

        What a replica that no longer leads leaves for whoever leads next
        (which finds the drift by its own sync); never sent by this replica.
        """
        self.record_restart(
            restart,
            RestartFailed,
            reason="not-leader",
            error={"reason": "not-leader", "status": None, "message": "leadership lost"},
        )

    def skip(
        self,
        configmap: Key,
        chain: str | None,
        reason: str,
        digest: str | None,
        deployment: Key | None = None,
    ) -> None:
        self.record(
            DebounceSkipped(
                reason=reason,
                data_hash=digest,
                deployment=workload_label(deployment) if deployment is not None else ABSENT,
            ),
            configmap,
            chain,
        )

    def adopt(
        self, deployment: Key, configmap: Key, chain: str, digest: str, replaces: str | None = None
    ) -> None:
        self.overrides[deployment] = AppliedOverride(digest, None, replaces)
        self.skip(configmap, chain, kinds.SKIP_ADOPTED, digest, deployment=deployment)
        self.actions.append(self.adopt_action(deployment, chain, digest))

    def adopt_action(
        self, deployment: Key, chain: str, digest: str, resource_version: str | None = None
    ) -> PatchAdopt:
        if resource_version is None:
            resource_version = self.resource_version(deployment)
        return PatchAdopt(
            deployment[2],
            chain,
            digest,
            resource_version,
            namespace=deployment[0],
            kind=deployment[1],
        )

    # ----------------------------------------------------------------- keys

    def key_of(self, namespace: str, kind: str, name: str) -> Key:
        """The key of an object; an empty namespace is the controller's own."""
        return (namespace or self.state.namespace, kind, name)

    def source_key(self, view: ConfigMapView) -> Key:
        return self.key_of(view.namespace, view.kind, view.name)

    def workload_key(self, view: DeploymentView) -> Key:
        return self.key_of(view.namespace, view.kind, view.name)

    def index(self, index: Cow[str, frozenset[Key]], key: Key, present: bool) -> None:
        """Keep a namespace index up to date as ``key`` comes or goes."""
        self.file(index, key[0], key, present)

    @staticmethod
    def file(index: Cow[K, frozenset[Key]], under: K, key: Key, present: bool) -> None:
        """Add ``key`` to (or remove it from) the set ``index`` holds under ``under``."""
        keys = index.get(under, frozenset())
        if present and key not in keys:
            index[under] = keys | {key}
        elif not present and key in keys:
            if len(keys) == 1:
                del index[under]
            else:
                index[under] = keys - {key}

    def link(self, key: Key, before: DeploymentView | None, after: DeploymentView | None) -> None:
        """Keep ``referrers`` and ``broad_index`` up to date as a workload changes or goes."""
        old = set(referenced_sources(before, key[0])) if before is not None else set()
        new = set(referenced_sources(after, key[0])) if after is not None else set()
        for source in old - new:
            self.file(self.referrers, source, key, present=False)
        for source in new - old:
            self.file(self.referrers, source, key, present=True)
        self.file(self.broad_index, key[0], key, present=after is not None and broad(after))

    # ----------------------------------------------------------------- queries

    def applied(self, deployment: Key) -> str | None:
        return applied_in(self.deployments, self.overrides, deployment)

    def desired(self, deployment: Key) -> str | None:
        return desired_in(
            self.configmaps,
            self.deployments,
            deployment,
            self.policy,
            self.source_index.get(deployment[0], ()),
        )

    def may_count_for(self, source: Key) -> frozenset[Key]:
        """The workloads ``source`` may count for: those whose pod spec references it,
        and those of its namespace whose ``reload`` lists or ``search`` may name it."""
        return self.referrers.get(source, frozenset()) | self.broad_index.get(
            source[0], frozenset()
        )

    def targets_of(self, source: Key) -> list[Key]:
        view = self.configmaps.get(source)
        if view is None:
            return []
        candidates = self.may_count_for(source)
        return sorted(
            key for key in candidates if depends(self.deployments[key], view, self.policy)
        )

    def configmaps_of(self, deployment: Key) -> list[Key]:
        view = self.deployments.get(deployment)
        if view is None:
            return []
        keys = candidate_sources(view, deployment[0], self.source_index.get(deployment[0], ()))
        return sorted(
            key
            for key in keys
            if key in self.configmaps and depends(view, self.configmaps[key], self.policy)
        )

    def debounce_of(self, deployment: Key) -> float:
        """The workload's debounce: its ``shipshape.io/debounce``, else ``DEBOUNCE_SECONDS``."""
        view = self.deployments.get(deployment)
        if view is not None and view.debounce_seconds is not None:
            return view.debounce_seconds
        return self.policy.debounce_seconds

    def queued(self, deployment: Key) -> Restart | None:
        for restart in self.queue:
            if restart.deployment == deployment:
                return restart
        return None

    def busy(self, deployment: Key) -> bool:
        """Whether a restart of ``deployment`` is already queued or under way."""
        return deployment in self.active or self.queued(deployment) is not None

    def observation_id(self, view: ConfigMapView) -> str:
        key = self.source_key(view)
        return correlation_id(
            key[0],
            view.label,
            view.resource_version,
            view.data_hash,
            ordered=self.policy.ordered_correlation_ids,
        )

    def chain_id(self, view: ConfigMapView) -> str:
        """The chain to continue for ``view``: the last window's, if it ended on this hash."""
        last = self.chains.get(self.source_key(view))
        if last is not None and last[0] == view.data_hash:
            return last[1]
        return self.observation_id(view)

    def chain_id_for(self, deployment: Key) -> str | None:
        sources = self.configmaps_of(deployment)
        return self.chain_id(self.configmaps[sources[0]]) if sources else None

    def resource_version(self, deployment: Key) -> str:
        """The cached resourceVersion of a workload: the precondition of a write decided now."""
        view = self.deployments.get(deployment)
        return view.resource_version if view is not None else ""

    def resync_in(self) -> float | None:
        if self.next_resync_at is None:
            return None
        return round(max(0.0, self.next_resync_at - self.now), 6)
