"""Re-running the decision core over a journal: the ``replay --check`` model.

``shipshape-journal replay --check`` calls :func:`check` with the journal's
records in order. Records of what the controller *saw* and of how its API
calls *ended* are turned back into core events and fed to :func:`step`, on the
records' own timestamps; the decisions the core makes are compared with the
decisions recorded. Every decision recorded but not made now, or made now but
not recorded, is reported as a difference. After a change to the core this
tells which past decisions it would have taken differently.

Inputs: ``controller.started`` (the policy), ``controller.stopping``,
``configmap.observed``, ``deployment.observed``, ``watch.started``,
``watch.relisted``, ``watch.error``, the outcomes ``restart.patched``,
``restart.retry``, ``restart.failed``, ``restart.dropped``,
``restart.superseded`` (a refused conditional patch and the Deployment as read
again, as does a ``restart.retry`` carrying ``reread``), ``rollout.*`` and
``leader.*``. Decisions compared: ``debounce.scheduled``,
``debounce.coalesced``, ``debounce.skipped``, ``restart.planned``,
``restart.flushed`` and the restarts confirmed from the watch.

Workloads selected by annotations replay from the opt-in their
``deployment.observed`` records carry (``optin``: the parsed rules, the pod
spec's references and a ``shipshape.io/debounce`` override), and sources'
``ignore``/``match`` from ``configmap.observed``; a Secret's records replay
like a ConfigMap's, under the policy's ``watch_secrets``.

Replicas are replayed separately (by ``actor``); each ``controller.started``
begins a fresh process. The module reads no clock: time is the records'
``ts``. It needs nothing from the journal package: records are read by
attribute (``seq``, ``ts``, ``kind``, ``namespace``, ``object``,
``correlation_id``, ``actor``, ``data``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from records import (
    ABSENT,
    ConfigMapObserved,
    ControllerStarted,
    ControllerStopping,
    DebounceCoalesced,
    DebounceScheduled,
    DebounceSkipped,
    DeploymentObserved,
    Difference,
    LeaderAcquired,
    LeaderLost,
    LeaderReleased,
    Payload,
    RestartDropped,
    RestartFailed,
    RestartFlushed,
    RestartPatched,
    RestartPlanned,
    RestartRetry,
    RestartSuperseded,
    RolloutCompleted,
    RolloutTimeout,
    WatchError,
    WatchRelisted,
    WatchStarted,
    kinds,
    parse,
)
from reloader.core.actions import Record
from reloader.core.events import (
    ConfigMapSeen,
    DeploymentSeen,
    Event,
    EventType,
    Failure,
    FlushDeadline,
    LeadershipChanged,
    Listed,
    PatchFailed,
    PatchFenced,
    PatchRefused,
    PatchSucceeded,
    Resource,
    ShutdownRequested,
    Tick,
    WatchFailed,
)
from reloader.core.model import ConfigMapView, DeploymentView, Key, RolloutStatus, Target
from reloader.core.policy import Policy
from reloader.core.queries import next_deadline
from reloader.core.reconciler import step
from reloader.core.state import State, initial_state
from reloader.core.workloads import optin_from_facts

# Decisions are made by timers a little after their deadline in a live run;
# this much slack lets replay fire them before the record that shows them.
_SLACK_SECONDS = 0.005

DECISION_KINDS = frozenset(
    {
        kinds.DEBOUNCE_SCHEDULED,
        kinds.DEBOUNCE_COALESCED,
        kinds.DEBOUNCE_SKIPPED,
        kinds.RESTART_PLANNED,
        kinds.RESTART_FLUSHED,
    }
)


@dataclass
class _Replica:
    """One controller process being replayed."""

    state: State
    now: float
    seq: int
    produced: list[tuple[tuple[Any, ...], str, int]] = field(default_factory=list)


def check(records: Iterable[Any]) -> Iterator[Difference]:
    """Yield every decision the current core makes differently from the journal."""
    replicas: dict[str, _Replica] = {}
    for record in records:
        actor = str(getattr(record, "actor", "") or "")
        kind = record.kind
        ts = record.ts.timestamp()
        if kind == kinds.CONTROLLER_STARTED:
            previous = replicas.pop(actor, None)
            if previous is not None:
                yield from _unmatched(previous)
            replicas[actor] = _start(record, ts)
            continue
        replica = replicas.get(actor)
        if replica is None:
            continue  # before the first start we can see (or an operator's note)
        if kind in DECISION_KINDS or _is_watch_confirmation(record):
            _advance(replica, ts + _SLACK_SECONDS)
            yield from _match(replica, record)
            continue
        event = _event(replica, record)
        if event is None:
            continue
        if not (isinstance(event, LeadershipChanged) and not event.acting):
            _advance(replica, ts)  # a loss is taken before the timers due (step_many)
        replica.seq = record.seq
        _feed(replica, event, max(replica.now, ts))
    for replica in replicas.values():
        yield from _unmatched(replica)


# ------------------------------------------------------------------ driving


def _start(record: Any, ts: float) -> _Replica:
    started = ControllerStarted.from_data(record.data)
    policy = Policy.from_dict(started.policy or {})
    namespace = record.namespace or started.namespace or ""
    # Without leader election the replica acts from the start; with it,
    # leader.* records say when it acts.
    acting = not started.leader_election
    return _Replica(initial_state(policy, namespace, acting=acting), now=ts, seq=record.seq)


def _advance(replica: _Replica, until: float) -> None:
    """Fire every timer due up to ``until``, each at its own deadline."""
    while True:
        deadline = next_deadline(replica.state, replica.now)
        if deadline is None or deadline > until:
            return
        _feed(replica, Tick(), max(deadline, replica.now))


def _feed(replica: _Replica, event: Event, now: float) -> None:
    replica.now = now
    replica.state, actions = step(replica.state, event, now)
    for action in actions:
        if not isinstance(action, Record):
            continue
        payload = parse(action.kind, action.data)
        if action.kind in DECISION_KINDS or _confirmed_by_watch(payload):
            replica.produced.append(
                (
                    _key(action.kind, action.object, action.correlation_id, payload),
                    _describe(action.kind, action.object, payload),
                    replica.seq,
                )
            )


def _match(replica: _Replica, record: Any) -> Iterator[Difference]:
    payload = parse(record.kind, record.data)
    key = _key(record.kind, record.object, record.correlation_id, payload)
    for index, (produced_key, _, _) in enumerate(replica.produced):
        if produced_key == key:
            del replica.produced[index]
            return
    yield Difference(
        seq=record.seq,
        message=f"recorded {record.kind} on {record.object} is not a decision the core makes now",
        correlation_id=record.correlation_id,
        recorded=_describe(record.kind, record.object, payload),
        expected=None,
    )


def _unmatched(replica: _Replica) -> Iterator[Difference]:
    for key, description, seq in replica.produced:
        yield Difference(
            seq=seq,
            message=f"the core now decides {key[0]} on {key[1]}, which was not recorded",
            correlation_id=key[2],
            recorded=None,
            expected=description,
        )
    replica.produced.clear()


def _opt(value: Any) -> Any:
    """A payload's value, ``None`` for a key the record does not have."""
    return None if value is ABSENT else value


def _key(
    kind: str, obj: str | None, correlation: str | None, payload: Payload | None
) -> tuple[Any, ...]:
    """What must agree for a recorded decision to be the same decision."""
    detail: tuple[Any, ...]
    if isinstance(payload, DebounceSkipped):
        detail = (payload.reason, _opt(payload.deployment))
    elif isinstance(payload, RestartPlanned | RestartPatched):
        detail = (payload.data_hash, payload.attempt)
    elif isinstance(payload, DebounceScheduled):
        detail = (payload.reason, payload.data_hash)
    elif isinstance(payload, DebounceCoalesced):
        detail = (payload.data_hash, _opt(payload.deployment))
    elif isinstance(payload, RestartFlushed):
        detail = (payload.data_hash, None)
    else:  # pragma: no cover - only decisions and confirmations are compared
        detail = (None, None)
    return (kind, obj, correlation, *detail)


def _describe(kind: str, obj: str | None, payload: Payload | None) -> str:
    parts = [kind, obj or "-"]
    for name in ("reason", "deployment", "attempt"):
        value = _opt(getattr(payload, name, None))
        if value is not None:
            parts.append(f"{name}={value}")
    digest = _opt(getattr(payload, "data_hash", None))
    if digest:
        parts.append(f"data_hash={str(digest)[:12]}")
    return " ".join(str(part) for part in parts)


def _confirmed_by_watch(payload: Payload | None) -> bool:
    return isinstance(payload, RestartPatched) and payload.confirmed_by == "watch"


def _is_watch_confirmation(record: Any) -> bool:
    return record.kind == kinds.RESTART_PATCHED and _confirmed_by_watch(
        parse(record.kind, record.data)
    )


# ------------------------------------------------------------- records -> events


def _event(replica: _Replica, record: Any) -> Event | None:
    """The event a record stands for, naming its object's namespace and kind."""
    event = _event_of(replica, record)
    kind = _kind(record.object)
    namespace = record.namespace or ""
    if isinstance(event, ConfigMapSeen):
        view = replace(event.configmap, namespace=namespace, kind=kind or "configmap")
        return replace(event, configmap=view)
    if isinstance(event, DeploymentSeen):
        view = replace(event.deployment, namespace=namespace, kind=kind or "deployment")
        return replace(event, deployment=view)
    if hasattr(event, "deployment") and hasattr(event, "namespace"):
        return replace(event, namespace=namespace, kind=kind or "deployment")  # type: ignore[type-var]
    return event


def _workload_key(replica: _Replica, record: Any) -> Key:
    return (
        record.namespace or replica.state.namespace,
        _kind(record.object) or "deployment",
        _name(record.object),
    )


def _event_of(replica: _Replica, record: Any) -> Event | None:  # noqa: PLR0911, PLR0912 - a table
    payload = parse(record.kind, record.data)
    name = _name(record.object)
    correlation = record.correlation_id or ""
    if isinstance(payload, ConfigMapObserved):
        return ConfigMapSeen(
            EventType(payload.event_type or "MODIFIED"),
            ConfigMapView(
                name=name,
                target=_target(payload.target),
                data_hash=str(payload.data_hash or ""),
                resource_version=str(payload.resource_version or ""),
                ignore=payload.ignore is True,
                match=payload.match is True,
            ),
            str(payload.source or "watch"),
        )
    if isinstance(payload, DeploymentObserved):
        key = _workload_key(replica, record)
        previous = replica.state.deployments.get(key)
        status = previous.rollout if previous is not None else RolloutStatus()
        target = _target(payload.target)
        optin, debounce = optin_from_facts(_opt(payload.optin), key[1], key[0], name, target)
        return DeploymentSeen(
            EventType(payload.event_type or "MODIFIED"),
            DeploymentView(
                name=name,
                target=target,
                applied_hash=payload.applied_hash,
                resource_version=str(payload.resource_version or ""),
                rollout=replace(
                    status,
                    generation=int(payload.generation or 0),
                    on_delete=payload.update_strategy == "OnDelete",
                ),
                optin=optin,
                debounce_seconds=debounce,
            ),
            str(payload.source or "watch"),
        )
    if isinstance(payload, WatchStarted):
        return Listed(
            resource=Resource(payload.resource or "configmaps"),
            resource_version=str(payload.resource_version or ""),
            count=int(payload.count or 0),
            initial=True,
            reason=str(payload.reason or "start"),
            forbidden=_namespaces(payload.forbidden_namespaces),
        )
    if isinstance(payload, WatchRelisted):
        return Listed(
            resource=Resource(payload.resource or "configmaps"),
            resource_version=str(payload.resource_version or ""),
            count=int(payload.count or 0),
            initial=False,
            reason=str(payload.reason or "start"),
            added=int(payload.added or 0),
            modified=int(payload.modified or 0),
            deleted=int(payload.deleted or 0),
            forbidden=_namespaces(payload.forbidden_namespaces),
        )
    if isinstance(payload, WatchError):
        return WatchFailed(
            Resource(payload.resource or "configmaps"),
            str(payload.error or ""),
            payload.status,
            float(payload.retry_in_seconds or 0.0),
        )
    if isinstance(payload, RestartPatched):
        generation = payload.generation
        return PatchSucceeded(
            name, correlation, int(generation) if generation is not None else None
        )
    if isinstance(payload, RestartSuperseded):
        return _refused(
            name,
            correlation,
            payload.error,
            applied=payload.applied_hash,
            resource_version=payload.resource_version,
            generation=payload.generation,
        )
    if isinstance(payload, RestartRetry):
        return _retried(name, correlation, payload)
    if isinstance(payload, RestartFailed):
        error = payload.error or {}
        if payload.reason in ("not-leader",) or (
            payload.reason == "not-found" and error.get("status") is None
        ):
            return None  # decided by the core itself, not an API outcome
        retriable = payload.reason == "retries-exhausted"
        return PatchFailed(name, correlation, _failure(error, retriable), 0.0)
    if isinstance(payload, RestartDropped):
        if payload.reason == "shutdown-deadline":
            return (
                FlushDeadline()
                if replica.state.stopping and (replica.state.queue or replica.state.active)
                else None
            )
        return PatchFailed(name, correlation, _failure(payload.error or {}, True), 0.0)
    if isinstance(payload, RolloutCompleted | RolloutTimeout):
        return _rollout_ended(replica, _workload_key(replica, record), payload)
    if isinstance(payload, ControllerStopping):
        return ShutdownRequested(str(payload.reason or "SIGTERM"))
    if isinstance(payload, LeaderAcquired | LeaderLost | LeaderReleased):
        return _leadership(record, payload)
    return None


def _retried(name: str, correlation: str, payload: RestartRetry) -> Event:
    """A retry: after a refused patch (``reread``), a fenced patch, or a failed one."""
    error = payload.error or {}
    reread = payload.reread
    if isinstance(reread, Mapping):
        generation = reread.get("generation")
        return _refused(
            name,
            correlation,
            payload.error,
            applied=reread.get("applied_hash"),
            resource_version=reread.get("resource_version"),
            generation=generation,
            jitter=payload.jitter,
        )
    if error.get("reason") == "fenced":
        return PatchFenced(name, correlation)
    return PatchFailed(name, correlation, _failure(error, True), float(payload.jitter or 0.0))


def _leadership(
    record: Any, payload: LeaderAcquired | LeaderLost | LeaderReleased
) -> LeadershipChanged:
    """The leadership change a ``leader.*`` record tells (its journaling is not compared)."""
    acting = isinstance(payload, LeaderAcquired)
    epoch = payload.epoch if payload.epoch is not ABSENT else getattr(record, "leader_epoch", None)
    reason = None
    if not isinstance(payload, LeaderAcquired):
        fallback = "released" if isinstance(payload, LeaderReleased) else "lost"
        reason = str(payload.reason or fallback)
    return LeadershipChanged(
        acting,
        lease=_name(record.object) or None,
        epoch=epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else None,
        reason=reason,
        await_relist=isinstance(payload, LeaderAcquired) and bool(payload.await_relist),
    )


def _rollout_ended(
    replica: _Replica, name: Key, payload: RolloutCompleted | RolloutTimeout
) -> Event | None:
    """The Deployment status that ended a rollout is not journaled: rebuild its gist."""
    view = replica.state.deployments.get(name)
    if view is None or name not in replica.state.rollouts:
        return None
    completed = isinstance(payload, RolloutCompleted)
    if isinstance(payload, RolloutTimeout) and payload.reason == "deadline":
        return None  # the core's own timer decides this one
    generation = int(payload.generation or view.rollout.generation)
    replicas = int(payload.replicas or 1)
    status = RolloutStatus(
        generation=generation,
        observed_generation=generation,
        replicas=replicas,
        status_replicas=replicas,
        updated_replicas=replicas,
        available_replicas=replicas if completed else 0,
        progress_deadline_exceeded=not completed,
    )
    return DeploymentSeen(EventType.MODIFIED, replace(view, rollout=status), "watch")


def _refused(
    name: str,
    correlation: str,
    error: Mapping[str, Any] | None,
    *,
    applied: Any,
    resource_version: Any,
    generation: Any,
    jitter: Any = None,
) -> PatchRefused:
    """The refused conditional patch and the Deployment as it was read again."""
    return PatchRefused(
        name,
        correlation,
        _failure(error or {}, True),
        found=True,
        applied_hash=str(applied) if applied else None,
        resource_version=str(resource_version or ""),
        generation=int(generation) if generation is not None else None,
        jitter=float(jitter) if isinstance(jitter, int | float) else 0.5,
    )


def _failure(error: Mapping[str, Any], retriable: bool) -> Failure:
    wait = error.get("retry_after")
    return Failure(
        str(error.get("reason") or "unexpected"),
        retriable,
        error.get("status"),
        str(error.get("message") or ""),
        float(wait) if isinstance(wait, int | float) and wait > 0 else 0.0,
    )


def _target(value: Any) -> Target | None:
    if isinstance(value, Mapping) and value.get("app") and value.get("env"):
        return Target(str(value["app"]), str(value["env"]))
    return None


def _kind(obj: str | None) -> str:
    return obj.split("/", 1)[0] if obj and "/" in obj else ""


def _name(obj: str | None) -> str:
    return obj.split("/", 1)[1] if obj and "/" in obj else obj or ""


def _namespaces(value: Any) -> tuple[str, ...]:
    """The namespaces a list left out, as journaled (absent, or not a list: none)."""
    return tuple(str(item) for item in value) if isinstance(value, list) else ()
