"""Questions about the decision core's state, answered without changing it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from reloader.core.hashing import combined_hash
from reloader.core.model import (
    CONFIGMAP,
    DEPLOYMENT,
    SECRET,
    ConfigMapView,
    DeploymentView,
    Key,
)
from reloader.core.optin import CONFIGMAP as OPTIN_CONFIGMAP
from reloader.core.optin import SECRET as OPTIN_SECRET
from reloader.core.policy import Policy
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
    candidates.extend(
        restart.not_before
        for restart in state.queue
        if restart.not_before is not None and restart.not_before > now and state.acting
    )
    dispatchable = any(
        r.deployment not in state.active and (r.not_before is None or r.not_before <= now)
        for r in state.queue
    )
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


def applied_hash(state: State, deployment: str | Key) -> str | None:
    """Return the hash a workload last rolled out with, as far as this process knows.

    ``deployment`` is a key ``(namespace, kind, name)``, or the name of a
    Deployment in the controller's namespace.
    """
    return applied_in(state.deployments, state.overrides, _key(state, deployment))


def desired_hash(state: State, deployment: str | Key) -> str | None:
    """Return the hash a workload should run with, or None when no source counts for it."""
    key = _key(state, deployment)
    return desired_in(
        state.configmaps,
        state.deployments,
        key,
        state.policy,
        state.source_index.get(key[0], ()),
    )


def _key(state: State, deployment: str | Key) -> Key:
    if isinstance(deployment, tuple):
        return deployment
    return (state.namespace, DEPLOYMENT, deployment)


def applied_in(
    deployments: Mapping[Key, DeploymentView],
    overrides: Mapping[Key, AppliedOverride],
    deployment: Key,
) -> str | None:
    """:func:`applied_hash` on the mappings themselves."""
    view = deployments.get(deployment)
    override = overrides.get(deployment)
    cluster = view.applied_hash if view is not None else None
    if override is None or cluster_caught_up(view, override):
        return cluster
    return override.data_hash


def desired_in(
    configmaps: Mapping[Key, ConfigMapView],
    deployments: Mapping[Key, DeploymentView],
    deployment: Key,
    policy: Policy,
    candidates: Iterable[Key] | None = None,
) -> str | None:
    """:func:`desired_hash` on the mappings themselves (``candidates``: the sources to try)."""
    view = deployments.get(deployment)
    if view is None:
        return None
    keys = candidates if candidates is not None else configmaps
    keys = candidate_sources(view, deployment[0], keys)
    sources = []
    for key in keys:
        source = configmaps.get(key)
        if source is not None and key[0] == deployment[0] and depends(view, source, policy):
            sources.append((source.label, source.data_hash))
    return combined_hash(sources) if sources else None


_OPTIN_KIND = {CONFIGMAP: OPTIN_CONFIGMAP, SECRET: OPTIN_SECRET}
_SOURCE_KIND = {OPTIN_CONFIGMAP: CONFIGMAP, OPTIN_SECRET: SECRET}


def referenced_sources(workload: DeploymentView, namespace: str) -> list[Key]:
    """The keys of the sources ``workload``'s pod spec references (in ``namespace``)."""
    parsed = workload.optin
    if parsed is None:
        return []
    return [
        (namespace, _SOURCE_KIND[kind], name)
        for kind, name in parsed.references
        if kind in _SOURCE_KIND
    ]


def broad(workload: DeploymentView) -> bool:
    """Whether sources ``workload`` does not reference may count for it.

    They may under the label rule (``target``) and under ``reload`` patterns;
    otherwise :func:`depends` accepts only referenced sources.
    """
    if workload.target is not None:
        return True
    parsed = workload.optin
    return parsed is not None and any(rules.reload for rules in parsed.kinds.values())


def candidate_sources(
    workload: DeploymentView, namespace: str, in_namespace: Iterable[Key]
) -> Iterable[Key]:
    """The sources :func:`depends` may accept for ``workload``, out of ``in_namespace``.

    Unless it is :func:`broad`, only the sources its pod spec references can
    count: their keys, not a scan of every source of the namespace (a hundred
    or more). The caller still asks :func:`depends` (and whether each exists).
    """
    if broad(workload):
        return in_namespace
    return referenced_sources(workload, namespace)


def depends(workload: DeploymentView, source: ConfigMapView, policy: Policy) -> bool:  # noqa: PLR0911 - one rule per return
    """Return whether ``workload`` restarts for ``source`` (same namespace assumed).

    ``ignore`` on the source beats everything; then the runbook's label rule
    (``target``, set on Deployments only), then the opt-in annotations
    (:mod:`.optin`): ``auto`` and a reference, a ``reload`` pattern, or
    ``search`` with ``match`` and a reference. Secrets count only when
    ``policy.watch_secrets``.
    """
    if source.ignore:
        return False
    if source.kind == SECRET and not policy.watch_secrets:
        return False
    if (
        source.kind == CONFIGMAP
        and workload.target is not None
        and source.target == workload.target
    ):
        return True
    parsed = workload.optin
    if parsed is None:
        return False
    kind = _OPTIN_KIND.get(source.kind)
    if kind is None:
        return False
    rules = parsed.kinds[kind]
    referenced = (kind, source.name) in parsed.references
    if rules.auto and referenced:
        return True
    if rules.search and source.match and referenced:
        return True
    return rules.lists(source.name)


def cluster_caught_up(view: DeploymentView | None, override: AppliedOverride) -> bool:
    """Return whether the cached Deployment is at least as new as a hash this process applied."""
    if view is None:
        return False
    if view.applied_hash == override.data_hash:
        return True
    if override.generation is None:
        return view.applied_hash != override.replaces
    return view.rollout.generation >= override.generation


def _patching_slots_free(state: State) -> bool:
    patching = sum(1 for r in state.active.values() if r.phase is Phase.PATCHING)
    return state.stopping or patching + len(state.rollouts) < state.policy.max_concurrent_rollouts
