"""A tiny harness that feeds literal event sequences to the core at given times.

It is not a mock: it calls the real ``step`` and keeps what it returns, so a
test reads as "at t=1.0 this happened; these records and patches followed".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from reloader.core import (
    Action,
    ConfigMapSeen,
    ConfigMapView,
    DeploymentSeen,
    DeploymentView,
    Event,
    EventType,
    Failure,
    Listed,
    PatchAdopt,
    PatchRestart,
    PatchSucceeded,
    Policy,
    Record,
    Resource,
    RolloutStatus,
    State,
    Target,
    Tick,
    data_hash,
    initial_state,
    key_digests,
    next_deadline,
    source_view,
    step,
    workload_view,
)
from reloader.core.optin import Source, Workload
from reloader.core.secrets import SecretHashKey, secret_hash, secret_key_digests

NS = "shipshape"

# ConfigMap data and API failures the scenarios share.
V1 = {"MESSAGE": "hello"}
V2 = {"MESSAGE": "hello again"}
V3 = {"MESSAGE": "third"}
UNAVAILABLE = Failure("server-error", retriable=True, status=503, message="Service Unavailable")
FORBIDDEN = Failure("forbidden", retriable=False, status=403, message="forbidden")


def cm(
    name: str,
    data: Mapping[str, str],
    *,
    rv: str = "1",
    app: str = "helloworld",
    env: str | None = None,
    binary: Mapping[str, str] | None = None,
) -> ConfigMapView:
    """A ConfigMap view built from literal data, as the Kubernetes adapter builds it."""
    env = env if env is not None else name.rsplit("-", 1)[-1]
    return ConfigMapView(
        name=name,
        target=Target(app, env) if app and env else None,
        data_hash=data_hash(data, binary),
        key_digests=key_digests(data, binary),
        resource_version=rv,
    )


def h(data: Mapping[str, str]) -> str:
    """The hash of literal data."""
    return data_hash(data, None)


def deploy(
    name: str,
    applied: str | None,
    *,
    rv: str = "1",
    app: str = "helloworld",
    env: str | None = None,
    generation: int = 1,
    status: RolloutStatus | None = None,
) -> DeploymentView:
    """A Deployment view; ``applied`` is its config-hash annotation."""
    env = env if env is not None else name.rsplit("-", 1)[-1]
    rollout = status or RolloutStatus(
        generation=generation,
        observed_generation=generation,
        replicas=1,
        status_replicas=1,
        updated_replicas=1,
        available_replicas=1,
    )
    return DeploymentView(
        name=name,
        target=Target(app, env) if env else None,
        applied_hash=applied,
        resource_version=rv,
        rollout=rollout,
    )


def rolled(view: DeploymentView, generation: int, rv: str, done: bool = True) -> DeploymentView:
    """The Deployment after the simulated rollout of ``generation``."""
    status = RolloutStatus(
        generation=generation,
        observed_generation=generation,
        replicas=1,
        status_replicas=1 if done else 2,
        updated_replicas=1,
        available_replicas=1 if done else 0,
    )
    return DeploymentView(view.name, view.target, view.applied_hash, rv, status)


@dataclass
class Run:
    """The core driven through a scenario; every action is kept in order."""

    state: State
    now: float = 0.0
    actions: list[Action] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    started_at: float = 0.0

    @classmethod
    def start(
        cls,
        configmaps: Iterable[ConfigMapView] = (),
        deployments: Iterable[DeploymentView] = (),
        policy: Policy | None = None,
        acting: bool = True,
        at: float = 0.0,
    ) -> Run:
        """A controller that listed ``configmaps`` and ``deployments`` at time ``at``."""
        run = cls(
            initial_state(policy or Policy(debounce_seconds=1.0), NS, acting=acting),
            now=at,
            started_at=at,
        )
        configmaps, deployments = list(configmaps), list(deployments)
        for view in configmaps:
            run.feed(ConfigMapSeen(EventType.ADDED, view, "list"))
        run.feed(Listed(Resource.CONFIGMAPS, "100", len(configmaps), initial=True))
        for dview in deployments:
            run.feed(DeploymentSeen(EventType.ADDED, dview, "list"))
        run.feed(Listed(Resource.DEPLOYMENTS, "100", len(deployments), initial=True))
        for resource in sorted(run.state.policy.resources - {"configmaps", "deployments"}):
            run.feed(Listed(Resource(resource), "100", 0, initial=True))
        return run

    def feed(self, event: Event, at: float | None = None) -> list[Action]:
        """Apply ``event`` at time ``at`` (default: the current time); return its actions."""
        if at is not None:
            assert at >= self.now, "time never runs backwards"
            self.now = at
        self.state, actions = step(self.state, event, self.now)
        self.actions.extend(actions)
        self.times.extend([self.now] * len(actions))
        return list(actions)

    def tick(self, at: float) -> list[Action]:
        """Let time pass to ``at``."""
        return self.feed(Tick(), at)

    def run_until(self, at: float) -> list[Action]:
        """Fire every timer up to ``at`` at its own deadline, as the runtime does."""
        out: list[Action] = []
        while True:
            deadline = next_deadline(self.state, self.now)
            if deadline is None or deadline > at:
                break
            out += self.tick(max(deadline, self.now))
        self.now = max(self.now, at)
        return out

    def change(self, view: ConfigMapView, at: float) -> list[Action]:
        return self.feed(ConfigMapSeen(EventType.MODIFIED, view), at)

    def records(self, kind: str | None = None, since: int = 0) -> list[Record]:
        return [
            a
            for a in self.actions[since:]
            if isinstance(a, Record) and (kind is None or a.kind == kind)
        ]

    def kinds(self, since: int = 0) -> list[str]:
        return [a.kind for a in self.actions[since:] if isinstance(a, Record)]

    def patches(self, since: int = 0) -> list[PatchRestart]:
        return [a for a in self.actions[since:] if isinstance(a, PatchRestart)]

    def adoptions(self, since: int = 0) -> list[PatchAdopt]:
        return [a for a in self.actions[since:] if isinstance(a, PatchAdopt)]

    def mark(self) -> int:
        """A position in the action log, for ``since=``."""
        return len(self.actions)


@dataclass(frozen=True)
class JournalRecord:
    """A record as the journal returns it (the fields ``replay --check`` reads)."""

    seq: int
    ts: datetime
    kind: str
    namespace: str | None
    object: str | None
    correlation_id: str | None
    actor: str
    data: dict


def journal_of(
    run: Run,
    actor: str = "helloworld-controller-0",
    first_seq: int = 1,
    *,
    leader_election: bool = False,
) -> list[JournalRecord]:
    """The journal a live controller would have written for ``run``."""
    policy = run.state.policy
    records = [
        JournalRecord(
            first_seq,
            _ts(run.started_at),
            "controller.started",
            NS,
            None,
            None,
            actor,
            {
                "debounce_seconds": policy.debounce_seconds,
                "policy": policy.as_dict(),
                "leader_election": leader_election,
            },
        )
    ]
    for action, when in zip(run.actions, run.times, strict=True):
        if isinstance(action, Record):
            records.append(
                JournalRecord(
                    first_seq + len(records),
                    _ts(when),
                    action.kind,
                    NS,
                    action.object,
                    action.correlation_id,
                    actor,
                    dict(action.data),
                )
            )
    return records


def _ts(seconds: float) -> datetime:
    return datetime.fromtimestamp(1_790_000_000 + seconds, UTC)


def workload(
    kind: str,
    name: str,
    annotations: Mapping[str, str],
    *,
    applied: str | None = None,
    ns: str = NS,
    pod_spec: Mapping | None = None,
    rv: str = "1",
    labels: Mapping[str, str] | None = None,
) -> DeploymentView:
    """A workload view (``Deployment``, ``StatefulSet``, ``DaemonSet``) from literal metadata."""
    status = RolloutStatus(1, 1, 1, 1, 1, 1)
    return workload_view(
        Workload(kind, ns, name, labels or {}, annotations, {}, pod_spec or {}),
        applied,
        resource_version=rv,
        rollout=status,
    )


def envfrom(*refs: tuple[str, str]) -> dict:
    """A pod spec taking ``envFrom`` each ``(kind, name)`` (kind ``configMap`` or ``secret``)."""
    return {
        "containers": [
            {
                "name": "app",
                "envFrom": [{f"{kind}Ref": {"name": name}} for kind, name in refs],
            }
        ]
    }


def source(
    kind: str,
    name: str,
    data: Mapping[str, str],
    *,
    ns: str = NS,
    rv: str = "1",
    annotations: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> ConfigMapView:
    """A ConfigMap or Secret view (a Secret's hash keyed under :data:`SECRET_KEY`)."""
    meta = Source(kind, ns, name, labels or {}, annotations or {})
    if kind == "Secret":
        return source_view(
            meta,
            secret_hash(SECRET_KEY, data),
            secret_key_digests(SECRET_KEY, data),
            resource_version=rv,
        )
    return source_view(meta, data_hash(data, None), key_digests(data, None), resource_version=rv)


def started(data: Mapping[str, str] = V1, applied: Mapping[str, str] | None = V1, **policy) -> Run:
    """helloworld-config-test and helloworld-test, in sync unless told otherwise."""
    return Run.start(
        [cm("helloworld-config-test", data, rv="10")],
        [deploy("helloworld-test", h(applied) if applied is not None else None)],
        policy=Policy(**{"debounce_seconds": 1.0, **policy}),
    )


def fleet(n: int, **policy) -> Run:
    """``n`` ConfigMaps ``cfg-NNN``, each configuring its own Deployment ``app-NNN``, in sync."""
    return Run.start(
        [cm(f"cfg-{i:03d}", V1, env=f"e{i:03d}") for i in range(n)],
        [deploy(f"app-{i:03d}", h(V1), env=f"e{i:03d}") for i in range(n)],
        policy=Policy(**{"debounce_seconds": 1.0, **policy}),
    )


def succeed(run: Run, at: float | None = None, generation: int = 2) -> None:
    """Answer the newest outstanding patch with success."""
    patch = run.patches()[-1]
    run.feed(PatchSucceeded(patch.deployment, patch.correlation_id, generation), at)


SECRET_KEY = SecretHashKey(b"k" * 32)
