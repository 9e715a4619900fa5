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

from reloader.core import kinds
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
from reloader.core.model import ConfigMapView, DeploymentView, RolloutStatus, Target
from reloader.core.policy import Policy
from reloader.core.queries import next_deadline
from reloader.core.reconciler import step
from reloader.core.state import State, initial_state

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


@dataclass(frozen=True)
class Difference:
    """One decision made differently (the shape ``replay --check`` prints)."""

    seq: int
    message: str
    correlation_id: str | None = None
    recorded: str | None = None
    expected: str | None = None


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
        _advance(replica, ts)
        replica.seq = record.seq
        _feed(replica, event, max(replica.now, ts))
    for replica in replicas.values():
        yield from _unmatched(replica)


# ------------------------------------------------------------------ driving


def _start(record: Any, ts: float) -> _Replica:
    data = record.data or {}
    policy = Policy.from_dict(data.get("policy") or {})
    namespace = record.namespace or data.get("namespace") or ""
    # Without leader election the replica acts from the start; with it,
    # leader.* records say when it acts.
    acting = not data.get("leader_election", False)
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
        if isinstance(action, Record) and (
            action.kind in DECISION_KINDS or action.data.get("confirmed_by") == "watch"
        ):
            replica.produced.append(
                (
                    _key(action.kind, action.object, action.correlation_id, action.data),
                    _describe(action.kind, action.object, action.data),
                    replica.seq,
                )
            )


def _match(replica: _Replica, record: Any) -> Iterator[Difference]:
    key = _key(record.kind, record.object, record.correlation_id, record.data or {})
    for index, (produced_key, _, _) in enumerate(replica.produced):
        if produced_key == key:
            del replica.produced[index]
            return
    yield Difference(
        seq=record.seq,
        message=f"recorded {record.kind} on {record.object} is not a decision the core makes now",
        correlation_id=record.correlation_id,
        recorded=_describe(record.kind, record.object, record.data or {}),
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


def _key(
    kind: str, obj: str | None, correlation: str | None, data: Mapping[str, Any]
) -> tuple[Any, ...]:
    """What must agree for a recorded decision to be the same decision."""
    if kind == kinds.DEBOUNCE_SKIPPED:
        detail: tuple[Any, ...] = (data.get("reason"), data.get("deployment"))
    elif kind == kinds.RESTART_PLANNED:
        detail = (data.get("data_hash"), data.get("attempt"))
    elif kind == kinds.DEBOUNCE_SCHEDULED:
        detail = (data.get("reason"), data.get("data_hash"))
    elif kind in (kinds.DEBOUNCE_COALESCED, kinds.RESTART_FLUSHED):
        detail = (data.get("data_hash"), data.get("deployment"))
    else:
        detail = (data.get("data_hash"), data.get("attempt"))
    return (kind, obj, correlation, *detail)


def _describe(kind: str, obj: str | None, data: Mapping[str, Any]) -> str:
    parts = [kind, obj or "-"]
    for name in ("reason", "deployment", "attempt"):
        if data.get(name) is not None:
            parts.append(f"{name}={data[name]}")
    digest = data.get("data_hash")
    if digest:
        parts.append(f"data_hash={str(digest)[:12]}")
    return " ".join(str(part) for part in parts)


def _is_watch_confirmation(record: Any) -> bool:
    return (
        record.kind == kinds.RESTART_PATCHED and (record.data or {}).get("confirmed_by") == "watch"
    )


# ------------------------------------------------------------- records -> events


def _event(replica: _Replica, record: Any) -> Event | None:  # noqa: PLR0911, PLR0912 - a table
    kind = record.kind
    data: Mapping[str, Any] = record.data or {}
    name = _name(record.object)
    if kind == kinds.CONFIGMAP_OBSERVED:
        return ConfigMapSeen(
            EventType(data.get("event_type", "MODIFIED")),
            ConfigMapView(
                name=name,
                target=_target(data.get("target")),
                data_hash=str(data.get("data_hash") or ""),
                resource_version=str(data.get("resource_version") or ""),
            ),
            str(data.get("source") or "watch"),
        )
    if kind == kinds.DEPLOYMENT_OBSERVED:
        previous = replica.state.deployments.get(name)
        generation = int(data.get("generation") or 0)
        status = previous.rollout if previous is not None else RolloutStatus()
        return DeploymentSeen(
            EventType(data.get("event_type", "MODIFIED")),
            DeploymentView(
                name=name,
                target=_target(data.get("target")),
                applied_hash=data.get("applied_hash"),
                resource_version=str(data.get("resource_version") or ""),
                rollout=replace(status, generation=generation),
            ),
            str(data.get("source") or "watch"),
        )
    if kind in (kinds.WATCH_STARTED, kinds.WATCH_RELISTED):
        return Listed(
            resource=Resource(data.get("resource", "configmaps")),
            resource_version=str(data.get("resource_version") or ""),
            count=int(data.get("count") or 0),
            initial=kind == kinds.WATCH_STARTED,
            reason=str(data.get("reason") or "start"),
            added=int(data.get("added") or 0),
            modified=int(data.get("modified") or 0),
            deleted=int(data.get("deleted") or 0),
        )
    if kind == kinds.WATCH_ERROR:
        return WatchFailed(
            Resource(data.get("resource", "configmaps")),
            str(data.get("error") or ""),
            data.get("status"),
            float(data.get("retry_in_seconds") or 0.0),
        )
    if kind == kinds.RESTART_PATCHED:
        generation = data.get("generation")
        return PatchSucceeded(
            name, record.correlation_id or "", int(generation) if generation is not None else None
        )
    if kind == kinds.RESTART_SUPERSEDED:
        return _refused(name, record.correlation_id or "", data, data.get("applied_hash"), data)
    if kind == kinds.RESTART_RETRY:
        error = data.get("error") or {}
        reread = data.get("reread")
        if isinstance(reread, Mapping):
            return _refused(
                name, record.correlation_id or "", data, reread.get("applied_hash"), reread
            )
        if error.get("reason") == "fenced":
            return PatchFenced(name, record.correlation_id or "")
        return PatchFailed(
            name,
            record.correlation_id or "",
            _failure(error, True),
            float(data.get("jitter") or 0.0),
        )
    if kind == kinds.RESTART_FAILED:
        reason = data.get("reason")
        if reason in ("not-leader",) or (
            reason == "not-found" and (data.get("error") or {}).get("status") is None
        ):
            return None  # decided by the core itself, not an API outcome
        retriable = reason == "retries-exhausted"
        return PatchFailed(
            name, record.correlation_id or "", _failure(data.get("error") or {}, retriable), 0.0
        )
    if kind == kinds.RESTART_DROPPED:
        if data.get("reason") == "shutdown-deadline":
            return (
                FlushDeadline()
                if replica.state.stopping and (replica.state.queue or replica.state.active)
                else None
            )
        return PatchFailed(
            name, record.correlation_id or "", _failure(data.get("error") or {}, True), 0.0
        )
    if kind in (kinds.ROLLOUT_COMPLETED, kinds.ROLLOUT_TIMEOUT):
        return _rollout_ended(replica, name, data, kind == kinds.ROLLOUT_COMPLETED)
    if kind == kinds.CONTROLLER_STOPPING:
        return ShutdownRequested(str(data.get("reason") or "SIGTERM"))
    if kind in (kinds.LEADER_ACQUIRED, kinds.LEADER_LOST, kinds.LEADER_RELEASED):
        return _leadership(record, data)
    return None


def _leadership(record: Any, data: Mapping[str, Any]) -> LeadershipChanged:
    """The leadership change a ``leader.*`` record tells (its journaling is not compared)."""
    acting = record.kind == kinds.LEADER_ACQUIRED
    epoch = data.get("epoch", getattr(record, "leader_epoch", None))
    return LeadershipChanged(
        acting,
        lease=_name(record.object) or None,
        epoch=epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else None,
        reason=None
        if acting
        else str(
            data.get("reason") or ("released" if record.kind == kinds.LEADER_RELEASED else "lost")
        ),
        await_relist=acting and bool(data.get("await_relist")),
    )


def _rollout_ended(
    replica: _Replica, name: str, data: Mapping[str, Any], completed: bool
) -> Event | None:
    """The Deployment status that ended a rollout is not journaled: rebuild its gist."""
    view = replica.state.deployments.get(name)
    if view is None or name not in replica.state.rollouts:
        return None
    if not completed and data.get("reason") == "deadline":
        return None  # the core's own timer decides this one
    generation = int(data.get("generation") or view.rollout.generation)
    replicas = int(data.get("replicas") or 1)
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
    data: Mapping[str, Any],
    applied: Any,
    facts: Mapping[str, Any],
) -> PatchRefused:
    """The refused conditional patch and the Deployment as it was read again."""
    generation = facts.get("generation")
    return PatchRefused(
        name,
        correlation,
        _failure(data.get("error") or {}, True),
        found=True,
        applied_hash=str(applied) if applied else None,
        resource_version=str(facts.get("resource_version") or ""),
        generation=int(generation) if generation is not None else None,
    )


def _failure(error: Mapping[str, Any], retriable: bool) -> Failure:
    return Failure(
        str(error.get("reason") or "unexpected"),
        retriable,
        error.get("status"),
        str(error.get("message") or ""),
    )


def _target(value: Any) -> Target | None:
    if isinstance(value, Mapping) and value.get("app") and value.get("env"):
        return Target(str(value["app"]), str(value["env"]))
    return None


def _name(obj: str | None) -> str:
    return obj.split("/", 1)[1] if obj and "/" in obj else obj or ""
