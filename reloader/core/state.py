"""The decision core's state: one immutable value, replaced by every step."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from reloader.core.model import ConfigMapView, DeploymentView, Key
from reloader.core.pmap import PMap
from reloader.core.policy import Policy
from reloader.core.ratelimit import TokenBucket


@dataclass(frozen=True)
class Window:
    """A debounce window open on one ConfigMap or Secret.

    Attributes:
        configmap: The source's key ``(namespace, kind, name)``.
        correlation_id: The chain every record of this change carries.
        opened_at: When the first change of the window was seen.
        due_at: When the window fires (``opened_at + debounce_seconds``, or at
            once for catch-up and resync windows).
        data_hash: The latest hash seen in the window.
        base_hash: The ConfigMap's hash before the window's first change
            (``None`` when unknown); ending on it means the change was reverted.
        changes: Observed changes coalesced into the window.
        reason: ``change`` (a watch or relist saw new data), ``catch-up`` (the
            first sync or a new leader found drift) or ``resync``.
    """

    configmap: Key
    correlation_id: str
    opened_at: float
    due_at: float
    data_hash: str
    base_hash: str | None = None
    changes: int = 1
    reason: str = "change"


class Phase(enum.StrEnum):
    """Where a restart stands between its window firing and its patch succeeding."""

    QUEUED = "queued"
    PATCHING = "patching"
    BACKOFF = "backoff"


@dataclass(frozen=True)
class Restart:
    """A restart of one workload on behalf of one ConfigMap (or Secret) change.

    Attributes:
        deployment: The workload's key ``(namespace, kind, name)``.
        configmap: The key of the source whose change asked for it.
        correlation_id: The change's chain.
        change_at: When the change was first seen (for latency).
        phase: Queued, patching or waiting out a backoff.
        attempt: Patch attempts so far.
        data_hash: The hash being applied (fixed when first planned).
        not_before: End of the current backoff; on a queued restart, the end
            of the workload's own (longer) debounce.
        flushed: Whether it was carried out by the shutdown flush.
    """

    deployment: Key
    configmap: Key
    correlation_id: str
    change_at: float
    phase: Phase = Phase.QUEUED
    attempt: int = 0
    data_hash: str | None = None
    not_before: float | None = None
    flushed: bool = False


@dataclass(frozen=True)
class Rollout:
    """A patched Deployment whose rollout is being followed to its end."""

    deployment: Key
    configmap: Key
    correlation_id: str
    generation: int | None
    started_at: float
    deadline: float


@dataclass(frozen=True)
class AppliedOverride:
    """A hash this process applied that the watch may not show yet.

    The override wins over the cached Deployment until the cache shows a
    generation at least ``generation`` (restarts) or an applied hash other
    than ``replaces`` (adoptions, ``generation`` is ``None``: a first adoption
    replaces no hash, a workload kept in sync when a source's ``ignore`` or
    ``match`` changed replaces its old one), so that a stale watch event that
    arrives after the patch's response cannot trigger a second restart.
    """

    data_hash: str
    generation: int | None
    replaces: str | None = None


@dataclass(frozen=True)
class State:
    """Everything the core remembers between two events.

    Mappings are never mutated: each step builds new versions of the ones it
    changes (persistent maps, :mod:`.pmap`, sharing what did not change). Workloads
    (``deployments``) and sources (``configmaps``: ConfigMaps and Secrets) are
    keyed by ``(namespace, kind, name)``; ``warned`` holds the warnings
    reported per object, ``missing`` the missing sources reported per workload;
    ``source_index`` holds the sources' keys of each namespace;
    ``referrers`` the workloads whose pod spec references each source, and
    ``broad_index`` per namespace those for which unreferenced sources may
    count too (the label rule, ``reload`` patterns): the only workloads a
    source's change has to be checked against.

    ``leading`` says this replica holds leadership; ``acting`` that it also
    carries decisions out. They differ while a new leader waits for the
    relists named in ``awaiting`` (see ``LeadershipChanged.await_relist``).
    """

    policy: Policy
    namespace: str
    bucket: TokenBucket
    acting: bool = False
    leading: bool = False
    awaiting: frozenset[str] = frozenset()
    stopping: bool = False
    listed: frozenset[str] = frozenset()
    synced: bool = False
    configmaps: Mapping[Key, ConfigMapView] = field(default_factory=PMap)
    deployments: Mapping[Key, DeploymentView] = field(default_factory=PMap)
    overrides: Mapping[Key, AppliedOverride] = field(default_factory=PMap)
    windows: Mapping[Key, Window] = field(default_factory=PMap)
    active: Mapping[Key, Restart] = field(default_factory=PMap)
    queue: tuple[Restart, ...] = ()
    rollouts: Mapping[Key, Rollout] = field(default_factory=PMap)
    chains: Mapping[Key, tuple[str, str]] = field(default_factory=PMap)
    next_resync_at: float | None = None
    warned: Mapping[Key, tuple[str, ...]] = field(default_factory=PMap)
    missing: Mapping[Key, frozenset[Key]] = field(default_factory=PMap)
    source_index: Mapping[str, frozenset[Key]] = field(default_factory=PMap)
    referrers: Mapping[Key, frozenset[Key]] = field(default_factory=PMap)
    broad_index: Mapping[str, frozenset[Key]] = field(default_factory=PMap)


def initial_state(policy: Policy, namespace: str, *, acting: bool = False) -> State:
    """Return the state of a controller that has seen nothing yet."""
    return State(
        policy=policy,
        namespace=namespace,
        bucket=TokenBucket.full(policy.restart_rate_per_second, float(policy.restart_burst)),
        acting=acting,
        leading=acting,
    )
