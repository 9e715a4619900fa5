"""The mutable scratch space of one step, its queries and its journaling helpers.

Workloads and sources are keyed by ``(namespace, kind, name)``
(:data:`reloader.core.model.Key`); records name them ``kind/name`` with the
namespace in the record's own field.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Generic, TypeVar

from records import DebounceSkipped, Payload, kinds
from records.payload import ABSENT
from reloader.core.actions import Action, PatchAdopt, Record
from reloader.core.hashing import correlation_id
from reloader.core.model import CONFIGMAP, DEPLOYMENT, ConfigMapView, DeploymentView, Key
from reloader.core.queries import applied_in, depends, desired_in
from reloader.core.state import AppliedOverride, Restart, State

V = TypeVar("V")


class Cow(Mapping[Key, V], Generic[V]):
    """A mapping of the state, copied only when a step first changes it.

    Copying the whole cache (thousands of ConfigMaps) on every event would
    cost more than the event's decision; most events change one entry.
    """

    __slots__ = ("_copied", "value")

    def __init__(self, base: Mapping[Key, V]) -> None:
        self.value = base
        self._copied = False

    def _own(self) -> dict[Key, V]:
        if not self._copied:
            self.value = dict(self.value)
            self._copied = True
        return self.value  # type: ignore[return-value]

    def __getitem__(self, key: Key) -> V:
        return self.value[key]

    def __iter__(self) -> Iterator[Key]:
        return iter(self.value)

    def __len__(self) -> int:
        return len(self.value)

    def __contains__(self, key: object) -> bool:
        return key in self.value

    def get(self, key: Key, default=None):  # type: ignore[no-untyped-def, override]
        return self.value.get(key, default)

    def __setitem__(self, key: Key, value: V) -> None:
        self._own()[key] = value

    def __delitem__(self, key: Key) -> None:
        del self._own()[key]

    def pop(self, key: Key, default=None):  # type: ignore[no-untyped-def]
        if key not in self.value:
            return default
        return self._own().pop(key)


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
        self.configmaps: Cow[ConfigMapView] = Cow(state.configmaps)
        self.deployments: Cow[DeploymentView] = Cow(state.deployments)
        self.source_index = dict(state.source_index)
        self.workload_index = dict(state.workload_index)
        self.overrides = dict(state.overrides)
        self.windows = dict(state.windows)
        self.active = dict(state.active)
        self.queue = list(state.queue)
        self.rollouts = dict(state.rollouts)
        self.chains = dict(state.chains)
        self.warned = dict(state.warned)
        self.missing = dict(state.missing)
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
            source_index=self.source_index,
            workload_index=self.workload_index,
            overrides=self.overrides,
            windows=self.windows,
            active=self.active,
            queue=tuple(self.queue),
            rollouts=self.rollouts,
            chains=self.chains,
            warned=self.warned,
            missing=self.missing,
            bucket=self.bucket,
            next_resync_at=self.next_resync_at,
        )

    def record(self, payload: Payload, obj: str | Key | None, correlation: str | None) -> None:
        """Journal ``payload`` about ``obj`` (a key, or an object string in our namespace)."""
        if isinstance(obj, tuple):
            self.actions.append(
                Record(payload.KIND, obj_of(obj), correlation, payload.to_data(), obj[0])
            )
        else:
            self.actions.append(Record(payload.KIND, obj, correlation, payload.to_data()))

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

    def adopt(self, deployment: Key, configmap: Key, chain: str, digest: str) -> None:
        self.overrides[deployment] = AppliedOverride(digest, None)
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

    def index(self, index: dict[str, frozenset[Key]], key: Key, present: bool) -> None:
        """Keep a namespace index up to date as ``key`` comes or goes."""
        keys = index.get(key[0], frozenset())
        if present and key not in keys:
            index[key[0]] = keys | {key}
        elif not present and key in keys:
            index[key[0]] = keys - {key}

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

    def targets_of(self, source: Key) -> list[Key]:
        view = self.configmaps.get(source)
        if view is None:
            return []
        return sorted(
            key
            for key in self.workload_index.get(source[0], ())
            if depends(self.deployments[key], view, self.policy)
        )

    def configmaps_of(self, deployment: Key) -> list[Key]:
        view = self.deployments.get(deployment)
        if view is None:
            return []
        return sorted(
            key
            for key in self.source_index.get(deployment[0], ())
            if depends(view, self.configmaps[key], self.policy)
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
        return correlation_id(key[0], view.label, view.resource_version, view.data_hash)

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
