"""The mutable scratch space of one step, its queries and its journaling helpers."""

from __future__ import annotations

from dataclasses import replace

from records import DebounceSkipped, Payload, kinds
from records.payload import ABSENT
from reloader.core.actions import Action, PatchAdopt, Record
from reloader.core.events import Resource
from reloader.core.hashing import correlation_id
from reloader.core.model import ConfigMapView, DeploymentView
from reloader.core.queries import applied_in, desired_in
from reloader.core.state import AppliedOverride, Restart, State

BOTH = frozenset({Resource.CONFIGMAPS.value, Resource.DEPLOYMENTS.value})


def cm_object(name: str) -> str:
    return f"configmap/{name}"


def deploy_object(name: str) -> str:
    return f"deployment/{name}"


def lease_object(name: str) -> str:
    return f"lease/{name}"


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

    def record(self, payload: Payload, obj: str | None, correlation: str | None) -> None:
        """Journal ``payload`` (its kind and stored data come from the catalogue)."""
        self.actions.append(Record(payload.KIND, obj, correlation, payload.to_data()))

    def skip(
        self,
        configmap: str,
        chain: str | None,
        reason: str,
        digest: str | None,
        deployment: str | None = None,
    ) -> None:
        self.record(
            DebounceSkipped(
                reason=reason,
                data_hash=digest,
                deployment=deployment if deployment is not None else ABSENT,
            ),
            cm_object(configmap),
            chain,
        )

    def adopt(self, deployment: str, configmap: str, chain: str, digest: str) -> None:
        self.overrides[deployment] = AppliedOverride(digest, None)
        self.skip(configmap, chain, kinds.SKIP_ADOPTED, digest, deployment=deployment)
        self.actions.append(
            PatchAdopt(deployment, chain, digest, self.resource_version(deployment))
        )

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

    def chain_id_for(self, deployment: str) -> str | None:
        view = self.deployments.get(deployment)
        if view is None:
            return None
        sources = self.configmaps_of(view)
        return self.chain_id(self.configmaps[sources[0]]) if sources else None

    def resource_version(self, deployment: str) -> str:
        """The cached resourceVersion of ``deployment``: the precondition of a write decided now."""
        view = self.deployments.get(deployment)
        return view.resource_version if view is not None else ""

    def resync_in(self) -> float | None:
        if self.next_resync_at is None:
            return None
        return round(max(0.0, self.next_resync_at - self.now), 6)
