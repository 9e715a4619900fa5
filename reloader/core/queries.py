"""Questions about the decision core's state, answered without changing it."""

from __future__ import annotations

from collections.abc import Mapping

from reloader.core.hashing import combined_hash
from reloader.core.model import ConfigMapView, DeploymentView
from reloader.core.state import AppliedOverride, Phase, State


def next_deadline(state: State, now: float) -> float | None:
    """Return when :func:`step` next has something to do on its own (a ``Tick``), or None."""
    candidates: list[float] = [window.due_at for window in state.windows.values()]
    if state.acting:
        candidates.extend(
            restart.not_before
            for restart in state.active.values()
            if restart.phase is Phase.BACKOFF and restart.not_before is not None
        )
    candidates.extend(rollout.deadline for rollout in state.rollouts.values())
    if state.next_resync_at is not None and state.acting and not state.stopping:
        candidates.append(state.next_resync_at)
    dispatchable = any(r.deployment not in state.active for r in state.queue)
    if dispatchable and state.acting and _patching_slots_free(state):
        token_at = state.bucket.next_token_at(now)
        if token_at > now:
            candidates.append(token_at)
    return min(candidates) if candidates else None


def pending_restarts(state: State) -> int:
    """Return the restarts waiting to be carried out: open windows, queued and unpatched ones."""
    return len(state.windows) + len(state.queue) + len(state.active)


def flush_complete(state: State) -> bool:
    """Return whether a shutdown flush has nothing left to wait for."""
    return state.stopping and not state.windows and not state.queue and not state.active


def applied_hash(state: State, deployment: str) -> str | None:
    """Return the hash ``deployment`` last rolled out with, as far as this process knows."""
    return applied_in(state.deployments, state.overrides, deployment)


def desired_hash(state: State, deployment: str) -> str | None:
    """Return the hash ``deployment`` should run with, or None when no ConfigMap targets it."""
    return desired_in(state.configmaps, state.deployments, deployment)


def applied_in(
    deployments: Mapping[str, DeploymentView],
    overrides: Mapping[str, AppliedOverride],
    deployment: str,
) -> str | None:
    """:func:`applied_hash` on the mappings themselves."""
    view = deployments.get(deployment)
    override = overrides.get(deployment)
    cluster = view.applied_hash if view is not None else None
    if override is None or cluster_caught_up(view, override):
        return cluster
    return override.data_hash


def desired_in(
    configmaps: Mapping[str, ConfigMapView],
    deployments: Mapping[str, DeploymentView],
    deployment: str,
) -> str | None:
    """:func:`desired_hash` on the mappings themselves."""
    view = deployments.get(deployment)
    if view is None or view.target is None:
        return None
    sources = [(cm.name, cm.data_hash) for cm in configmaps.values() if cm.target == view.target]
    return combined_hash(sources) if sources else None


def cluster_caught_up(view: DeploymentView | None, override: AppliedOverride) -> bool:
    """Return whether the cached Deployment is at least as new as a hash this process applied."""
    if view is None:
        return False
    if view.applied_hash == override.data_hash:
        return True
    if override.generation is None:
        return view.applied_hash is not None
    return view.rollout.generation >= override.generation


def _patching_slots_free(state: State) -> bool:
    patching = sum(1 for r in state.active.values() if r.phase is Phase.PATCHING)
    return state.stopping or patching + len(state.rollouts) < state.policy.max_concurrent_rollouts
