"""The inputs of the decision core: everything that can happen to the controller.

Each event is a frozen dataclass. The runtime turns watch events, API results,
timers and signals into these and feeds them to :func:`reloader.core.step`.
Anything random (jitter) arrives inside an event, never from the core itself.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reloader.core.model import ConfigMapView, DeploymentView


class EventType(enum.StrEnum):
    """The type of a watch event (or of a change found by a relist)."""

    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"


class Resource(enum.StrEnum):
    """The kinds of object the controller lists and watches."""

    CONFIGMAPS = "configmaps"
    DEPLOYMENTS = "deployments"
    SECRETS = "secrets"
    STATEFULSETS = "statefulsets"
    DAEMONSETS = "daemonsets"


@dataclass(frozen=True)
class ConfigMapSeen:
    """A ConfigMap was added, modified or deleted (``source``: list, relist or watch).

    ``at`` is when the runtime read it, on the step's clock (None: at the
    step's ``now``): the core handles it at that time, so that a step made
    later opens its debounce window from when the change was seen (see
    :func:`reloader.core.step_many`). It is not part of the event's equality.
    """

    event_type: EventType
    configmap: ConfigMapView
    source: str = "watch"
    at: float | None = field(default=None, compare=False)


@dataclass(frozen=True)
class DeploymentSeen:
    """A Deployment was added, modified or deleted (``source``: list, relist or watch).

    ``at``: as for :class:`ConfigMapSeen`.
    """

    event_type: EventType
    deployment: DeploymentView
    source: str = "watch"
    at: float | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Listed:
    """A list of ``resource`` finished; the items came before as ``*Seen`` events.

    Attributes:
        resource: What was listed.
        resource_version: The list's resourceVersion, where the watch resumes.
        count: How many objects the list held.
        initial: True for the first list of this process.
        reason: Why the list was made: ``start``, ``expired`` (410 Gone),
            ``resync`` or ``leader`` (asked for by a new leader, see
            :class:`LeadershipChanged`).
        added: Objects the list had that the cache did not (relists only).
        modified: Objects whose version differed from the cache (relists only).
        deleted: Objects the cache had that the list did not (relists only).
        forbidden: With several namespaces, those whose list the API server
            refused (403) since they last listed, left out of this one: the
            cache holds nothing of a namespace never listed, and what it
            last listed of the others.
    """

    resource: Resource
    resource_version: str
    count: int
    initial: bool
    reason: str = "start"
    added: int = 0
    modified: int = 0
    deleted: int = 0
    forbidden: tuple[str, ...] = ()


@dataclass(frozen=True)
class WatchFailed:
    """A list or watch of ``resource`` failed; the adapter retries after ``retry_in`` seconds."""

    resource: Resource
    error: str
    status: int | None = None
    retry_in: float = 0.0


@dataclass(frozen=True)
class Tick:
    """Time passed: timers (debounce, backoff, rollout deadlines, resync) may be due."""


@dataclass(frozen=True)
class Failure:
    """Why an API call failed.

    Attributes:
        reason: A short stable word: ``forbidden``, ``not-found``, ``conflict``,
            ``invalid``, ``throttled``, ``server-error``, ``timeout``,
            ``connection``, ``unexpected``.
        retriable: Whether trying again may succeed.
        status: The HTTP status, when there was a response.
        message: One line for the journal and the logs (never ConfigMap values).
        retry_after: Seconds the server asked to wait before trying again (a
            ``429``'s ``Retry-After``); 0 when it said nothing.
    """

    reason: str
    retriable: bool
    status: int | None = None
    message: str = ""
    retry_after: float = 0.0

    def as_dict(self) -> dict[str, object]:
        """Return the failure as a JSON-ready mapping (``retry_after`` only when said)."""
        found: dict[str, object] = {
            "reason": self.reason,
            "status": self.status,
            "message": self.message,
        }
        if self.retry_after > 0:
            found["retry_after"] = self.retry_after
        return found


@dataclass(frozen=True)
class PatchSucceeded:
    """The restart patch of ``deployment`` was accepted; ``generation`` is the new one."""

    deployment: str
    correlation_id: str
    generation: int | None = None
    namespace: str = ""
    kind: str = "deployment"


@dataclass(frozen=True)
class PatchFailed:
    """The restart patch of ``deployment`` failed.

    ``namespace`` and ``kind`` name the workload (on every outcome event:
    "" is the controller's namespace). ``jitter`` is a number drawn uniformly
    from ``[0, 1)`` by the caller; it
    spreads the backoff before the next attempt.
    """

    deployment: str
    correlation_id: str
    failure: Failure
    jitter: float = 0.5
    namespace: str = ""
    kind: str = "deployment"


@dataclass(frozen=True)
class PatchFenced:
    """The restart patch was not sent: this replica could not confirm it still leads."""

    deployment: str
    correlation_id: str
    namespace: str = ""
    kind: str = "deployment"


@dataclass(frozen=True)
class PatchRefused:
    """The restart patch's precondition failed: the Deployment changed since the decision.

    Nothing was written. The runtime read the Deployment again; these are its
    facts now, on which the core decides again.

    Attributes:
        deployment: The Deployment.
        correlation_id: The restart's correlation id.
        failure: The refusal (``conflict``, HTTP 409).
        found: Whether the Deployment still exists.
        applied_hash: Its applied-hash annotation now (None when absent).
        resource_version: Its resourceVersion now: the next attempt's precondition.
        generation: Its ``metadata.generation`` now.
        jitter: A number drawn uniformly from ``[0, 1)`` by the runtime, for
            the backoff of a refusal that is not the first attempt's.
    """

    deployment: str
    correlation_id: str
    failure: Failure
    found: bool = True
    applied_hash: str | None = None
    resource_version: str = ""
    generation: int | None = None
    namespace: str = ""
    kind: str = "deployment"
    jitter: float = 0.5


@dataclass(frozen=True)
class AdoptRefused:
    """The adoption patch's precondition failed; the Deployment as read again.

    Attributes:
        deployment: The Deployment.
        found: Whether it still exists.
        applied_hash: Its applied-hash annotation now (None when still unadopted).
        resource_version: Its resourceVersion now.
    """

    deployment: str
    found: bool = True
    applied_hash: str | None = None
    resource_version: str = ""
    namespace: str = ""
    kind: str = "deployment"


@dataclass(frozen=True)
class AdoptFailed:
    """The adoption patch (metadata annotation only) of ``deployment`` failed."""

    deployment: str
    failure: Failure
    namespace: str = ""
    kind: str = "deployment"


@dataclass(frozen=True)
class LeadershipChanged:
    """This replica gained (``acting=True``) or lost the right to act on the cluster.

    Attributes:
        acting: Whether it leads from now on.
        lease: The Lease's name when leadership comes from an election; the
            change is then journaled (``leader.acquired``, ``leader.lost`` or
            ``leader.released``) with ``epoch``, ``reason`` and ``detail``. None
            for the sole actor, which journals nothing.
        epoch: The term that begins or ends (the Lease's ``leaseTransitions``).
        reason: Why it ended: ``released`` (shutdown) or why it was lost.
        await_relist: Act only once both resources have been listed again
            (``Listed`` with reason ``leader``) after this change: the cache
            may lag behind the previous leader's last patches, and deciding
            from it could restart a Deployment a second time.
        detail: More journal data (acquire latency, previous holder, ...).
    """

    acting: bool
    lease: str | None = None
    epoch: int | None = None
    reason: str | None = None
    await_relist: bool = False
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LeaderObserved:
    """The Lease names another replica as leader (``leader.observed``), under ``epoch``."""

    lease: str
    holder: str
    epoch: int | None


@dataclass(frozen=True)
class ShutdownRequested:
    """The process was asked to stop: flush every pending restart now."""

    reason: str = "SIGTERM"


@dataclass(frozen=True)
class FlushDeadline:
    """The shutdown flush ran out of time: whatever is still pending is dropped."""


Event = (
    ConfigMapSeen
    | DeploymentSeen
    | Listed
    | WatchFailed
    | Tick
    | PatchSucceeded
    | PatchFailed
    | PatchFenced
    | PatchRefused
    | AdoptFailed
    | AdoptRefused
    | LeadershipChanged
    | LeaderObserved
    | ShutdownRequested
    | FlushDeadline
)
