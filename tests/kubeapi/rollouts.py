"""Simulated workload controllers: Deployments, StatefulSets and DaemonSets roll out
after a delay.

A change to a workload's pod template records a new revision at once (in the
commit that made it) and starts a rollout: the status reports the new
generation as observed with no replica updated yet, and converges (every
replica updated, ready and available) after the rollout delay. A rollout that
outlives `spec.progressDeadlineSeconds` gets the `ProgressDeadlineExceeded`
condition, as the real deployment controller reports it.

Each kind reports the status fields `kubectl rollout status` reads:
Deployments `updatedReplicas`/`replicas`/`availableReplicas`; StatefulSets
their pods counted by revision (`_Workload.pods`: the template each ordinal
runs; revisions are `NAME-HASH`, the name of the ControllerRevision the real
controller makes); DaemonSets `desiredNumberScheduled` (one pod per simulated
node, `nodes`), `updatedNumberScheduled` and `numberAvailable`. A Deployment's
ReplicaSets are kept as the real controller keeps them (`replicasets.py`), and
its `deployment.kubernetes.io/revision` is its current ReplicaSet's; a
StatefulSet's and a DaemonSet's ControllerRevisions likewise
(`controllerrevisions.py`).
"""

from __future__ import annotations

import copy
import hashlib
import heapq
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from . import replication
from .controllerrevisions import OWNER_KEYS, ControllerRevisions
from .replicasets import ReplicaSets
from .resources import Registry, ResourceType
from .store import Event, Obj, Store, rfc3339

# Per-object override of the rollout delay: seconds, or "never".
DELAY_ANNOTATION = "kubeapi.test/rollout-seconds"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
WORKLOAD_KEYS = ("deployments.apps", "statefulsets.apps", "daemonsets.apps", replication.KEY)
DEFAULT_NODES = 1
ACTOR = "workload-controller"


@dataclass(frozen=True)
class Revision:
    """One pod-template revision of a workload, for assertions.

    Attributes:
        number: 1 for the template the workload was created with, then +1 per change.
        template: The pod template (`spec.template`) of this revision.
        template_hash: A stable hash of the template.
        generation: The workload's `metadata.generation` when it was recorded.
        resource_version: The resourceVersion of the write that made it.
        actor: The client whose write made it.
        at: When it was recorded (epoch seconds).
    """

    number: int
    template: dict[str, Any]
    template_hash: str
    generation: int
    resource_version: str
    actor: str
    at: float

    @property
    def annotations(self) -> dict[str, str]:
        """Return the pod template's annotations."""
        return dict((self.template.get("metadata") or {}).get("annotations") or {})


def template_hash(template: Any) -> str:
    """Return a stable short hash of a pod template."""
    raw = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(raw).hexdigest()[:10]


@dataclass
class _Workload:
    """What the simulated controller knows of one workload.

    A StatefulSet's pods are modelled per ordinal (`pods[i]`: the template hash
    the pod of ordinal `i` runs, its `controller-revision-hash`), so its status
    counts them by revision as the real StatefulSet controller does. Every pod
    that exists is ready: pods are only made or replaced when a rollout
    completes. `pods` and `current_hash` are changed only under the store lock.
    """

    revisions: list[Revision] = field(default_factory=list)
    generation: int = 0  # the generation the pending rollout is for
    rolled_hash: str = ""  # the template hash of the last finished rollout
    pods: list[str] = field(default_factory=list)  # StatefulSet: template hash per ordinal
    current_hash: str = ""  # StatefulSet: the template hash of `status.currentRevision`

    def live(self) -> set[str]:
        """Return the template hashes pods run (their ControllerRevisions are kept)."""
        return {*self.pods, self.current_hash, self.rolled_hash} - {""}

    def roll_pods(self, obj: Obj, update: str) -> None:
        """Act on a StatefulSet's spec as its controller does once a rollout completes.

        Ordinals from `spec.replicas` on are deleted; missing ordinals are created
        at the current revision below a `RollingUpdate` partition and at the update
        revision (`update`) otherwise; under `RollingUpdate` every pod at or above
        the partition is replaced by one at the update revision (the real
        controller goes highest ordinal first; here all within one rollout delay);
        under `OnDelete` the pods that run are kept.
        """
        spec = obj.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        partition = _partition(spec)
        current = self.current_hash or update
        pods = self.pods[:replicas]
        for ordinal in range(len(pods), replicas):
            pods.append(current if partition is not None and ordinal < partition else update)
        if partition is not None:
            pods[partition:] = [update] * max(0, len(pods) - partition)
        self.pods = pods

    def statefulset_status(self, obj: Obj, update: str) -> Obj:
        """Return a StatefulSet's status, counting its pods by revision.

        `currentRevision` starts as the first update revision and moves to the
        update revision once a `RollingUpdate` has every replica updated and
        ready (never under `OnDelete`), as the real controller's status does.
        """
        spec = obj.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        self.current_hash = self.current_hash or update
        updated = self.pods.count(update)
        if _partition(spec) is not None and updated == len(self.pods) == replicas:
            self.current_hash = update
        name = obj["metadata"]["name"]
        status: Obj = {
            "observedGeneration": obj["metadata"].get("generation", 1),
            "replicas": len(self.pods),
            "readyReplicas": len(self.pods),
            "currentReplicas": self.pods.count(self.current_hash),
            "updatedReplicas": updated,
            "availableReplicas": len(self.pods),
            "currentRevision": f"{name}-{self.current_hash}",
            "updateRevision": f"{name}-{update}",
            "collisionCount": 0,
        }
        optional = ("readyReplicas", "currentReplicas", "updatedReplicas")
        return {k: v for k, v in status.items() if v or k not in optional}


class RolloutSimulator:
    """Rolls Deployments and StatefulSets out, and keeps their template revisions.

    Args:
        store: The object store to watch and write status into.
        registry: The resource types.
        delay: Seconds a rollout takes (None: rollouts never finish).
        max_revisions: How many revisions to keep per workload.
    """

    def __init__(
        self, store: Store, registry: Registry, delay: float | None = 0.2, max_revisions: int = 100
    ) -> None:
        self.store = store
        self.registry = registry
        self.delay = delay
        self.nodes = DEFAULT_NODES  # simulated nodes: a DaemonSet runs one pod on each
        self.max_revisions = max_revisions
        self._workloads: dict[tuple[str, str, str], _Workload] = {}
        self._pending: set[tuple[str, str, str]] = set()
        self._deleted: list[tuple[str, str]] = []  # owners gone: (namespace, uid)
        self._timers: list[tuple[float, int, str, tuple[str, str, str], int]] = []
        self._seq = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="kubeapi-rollouts", daemon=True)
        store.add_listener(self._on_event)
        self.replicasets = ReplicaSets(store, registry, ACTOR)
        self.controllerrevisions = ControllerRevisions(store, registry, ACTOR)

    def start(self) -> None:
        """Start the controller thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the controller thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def revisions(self, key: str, namespace: str, name: str) -> list[Revision]:
        """Return a workload's template revisions, oldest first (kept after deletion)."""
        with self._cond:
            workload = self._workloads.get((key, namespace, name))
            return list(workload.revisions) if workload else []

    # --- the listener, under the store lock ------------------------------------------

    def _on_event(self, event: Event) -> None:
        if event.key not in WORKLOAD_KEYS:
            return
        ident = (event.key, event.namespace, event.name)
        if event.type == "DELETED":
            with self._cond:
                if ident in self._workloads:  # its pods go; its revisions are kept
                    self._workloads[ident] = _Workload(self._workloads[ident].revisions)
                if event.key in ("deployments.apps", *OWNER_KEYS):  # what it owns, by the GC
                    self._deleted.append((event.namespace, event.obj["metadata"].get("uid", "")))
                    self._cond.notify_all()
            return
        obj = event.obj
        template = (obj.get("spec") or {}).get("template") or {}
        digest = template_hash(template)
        generation = obj["metadata"].get("generation", 1)
        with self._cond:
            workload = self._workloads.setdefault(ident, _Workload())
            if not workload.revisions or workload.revisions[-1].template_hash != digest:
                number = workload.revisions[-1].number + 1 if workload.revisions else 1
                workload.revisions.append(
                    Revision(
                        number,
                        copy.deepcopy(template),
                        digest,
                        generation,
                        obj["metadata"]["resourceVersion"],
                        event.actor,
                        event.at,
                    )
                )
                del workload.revisions[: -self.max_revisions]
            observed = (obj.get("status") or {}).get("observedGeneration")
            if observed != generation:
                self._pending.add(ident)
                self._cond.notify_all()

    # --- the controller thread --------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while (
                    not self._stopping
                    and not self._pending
                    and not self._deleted
                    and not self._due()
                ):
                    timeout = self._timers[0][0] - time.monotonic() if self._timers else None
                    self._cond.wait(timeout)
                if self._stopping:
                    return
                pending, self._pending = self._pending, set()
                deleted, self._deleted = self._deleted, []
                due = []
                now = time.monotonic()
                while self._timers and self._timers[0][0] <= now:
                    due.append(heapq.heappop(self._timers))
            if deleted:
                with self.store.lock:
                    for namespace, uid in deleted:
                        self.replicasets.forget(namespace, uid)
                        self.controllerrevisions.forget(namespace, uid)
            for ident in sorted(pending):
                self._start_rollout(ident)
            for _at, _seq, what, ident, generation in due:
                self._finish(ident, what, generation)

    def _due(self) -> bool:
        return bool(self._timers) and self._timers[0][0] <= time.monotonic()

    def _schedule(
        self, after: float, what: str, ident: tuple[str, str, str], generation: int
    ) -> None:
        with self._cond:
            self._seq += 1
            heapq.heappush(
                self._timers, (time.monotonic() + after, self._seq, what, ident, generation)
            )
            self._cond.notify_all()

    def _rtype(self, key: str) -> ResourceType:
        rtype = self.registry.by_key(key)
        assert rtype is not None
        return rtype

    def _delay_for(self, obj: Obj) -> float | None:
        value = ((obj["metadata"].get("annotations") or {}).get(DELAY_ANNOTATION) or "").strip()
        if value == "never":
            return None
        if value:
            try:
                return max(0.0, float(value))
            except ValueError:
                pass
        return self.delay

    def _start_rollout(self, ident: tuple[str, str, str]) -> None:
        key, namespace, name = ident
        rtype = self._rtype(key)
        with self.store.lock:
            obj = self.store.find(rtype, namespace, name)
            if obj is None:
                return
            generation = obj["metadata"].get("generation", 1)
            if (obj.get("status") or {}).get("observedGeneration") == generation:
                return
            revision = self.revisions(key, namespace, name)[-1]
            with self._cond:
                workload = self._workloads[ident]
                workload.generation = generation
                changed = workload.rolled_hash != revision.template_hash
                replacing = changed and bool(workload.rolled_hash)  # pods of an older template
            status, annotations = self._progressing(rtype, obj, revision, changed, workload)
            if key == "deployments.apps":
                number = self.replicasets.sync(obj, revision.template_hash, complete=False)
                annotations = {REVISION_ANNOTATION: str(number)} if number else None
            elif key in OWNER_KEYS:
                self.controllerrevisions.sync(obj, revision.template_hash, workload.live())
            self.store.write_status(
                rtype, namespace, name, status, actor=ACTOR, annotations=annotations
            )
        delay = self._delay_for(obj)
        paused = bool((obj.get("spec") or {}).get("paused"))
        if paused or (replacing and _on_delete(rtype, obj)):
            return  # OnDelete: a new template reaches a running pod only when it is deleted
        if delay is not None:
            self._schedule(delay, "complete", ident, generation)
        deadline = (obj.get("spec") or {}).get("progressDeadlineSeconds")
        if (
            key == "deployments.apps"
            and deadline is not None
            and (delay is None or delay > deadline)
        ):
            self._schedule(float(deadline), "deadline", ident, generation)

    def _finish(self, ident: tuple[str, str, str], what: str, generation: int) -> None:
        key, namespace, name = ident
        rtype = self._rtype(key)
        with self.store.lock:
            obj = self.store.find(rtype, namespace, name)
            if obj is None or obj["metadata"].get("generation", 1) != generation:
                return
            with self._cond:
                workload = self._workloads[ident]
                if workload.generation != generation:
                    return
            revision = self.revisions(key, namespace, name)[-1]
            if what == "complete":
                status = self._complete(rtype, obj, revision, workload)
                if key == "deployments.apps":
                    self.replicasets.sync(obj, revision.template_hash, complete=True)
                with self._cond:
                    workload.rolled_hash = revision.template_hash
                if key in OWNER_KEYS:  # the old revisions no pod runs now may go
                    self.controllerrevisions.sync(obj, revision.template_hash, workload.live())
            else:
                status = copy.deepcopy(obj.get("status") or {})
                _set_condition(
                    status,
                    "Progressing",
                    "False",
                    reason="ProgressDeadlineExceeded",
                    message=(
                        f'ReplicaSet "{name}-{revision.template_hash}" has timed out progressing.'
                    ),
                    now=self.store.clock(),
                )
            self.store.write_status(rtype, namespace, name, status, actor=ACTOR)

    # --- status shapes ----------------------------------------------------------------

    def _progressing(
        self,
        rtype: ResourceType,
        obj: Obj,
        revision: Revision,
        changed_template: bool,
        workload: _Workload,
    ) -> tuple[Obj, dict[str, str] | None]:
        spec = obj.get("spec") or {}
        old = copy.deepcopy(obj.get("status") or {})
        replicas = int(spec.get("replicas", 1))
        generation = obj["metadata"].get("generation", 1)
        name = obj["metadata"]["name"]
        now = self.store.clock()
        if rtype.kind == "DaemonSet":
            return _daemonset_status(obj, old, self.nodes, rolled=not changed_template), None
        if rtype.kind == "ReplicationController":
            return replication.progressing(obj, changed_template), None
        if rtype.kind == "StatefulSet":  # observed: the pods that run are kept as they are
            return workload.statefulset_status(obj, revision.template_hash), None
        previous = old.get("updatedReplicas", 0)
        updated = 0 if changed_template else min(previous, replicas)
        ready = (
            min(old.get("readyReplicas", 0), replicas)
            if not changed_template
            else old.get("readyReplicas", 0)
        )
        status = {
            "observedGeneration": generation,
            "replicas": max(replicas, old.get("replicas", 0)) if changed_template else replicas,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": min(old.get("availableReplicas", 0), ready),
            "conditions": old.get("conditions") or [],
        }
        status["unavailableReplicas"] = max(0, replicas - status["availableReplicas"])
        if not status["unavailableReplicas"]:
            del status["unavailableReplicas"]
        if spec.get("paused"):
            _set_condition(
                status,
                "Progressing",
                "Unknown",
                reason="DeploymentPaused",
                message="Deployment is paused",
                now=now,
            )
        else:
            _set_condition(
                status,
                "Progressing",
                "True",
                reason="ReplicaSetUpdated",
                message=f'ReplicaSet "{name}-{revision.template_hash}" is progressing.',
                now=now,
            )
        if not any(c["type"] == "Available" for c in status["conditions"]):
            _set_condition(
                status,
                "Available",
                "False",
                reason="MinimumReplicasUnavailable",
                message="Deployment does not have minimum availability.",
                now=now,
            )
        for field_name in ("updatedReplicas", "readyReplicas", "availableReplicas", "replicas"):
            if not status[field_name]:
                del status[field_name]
        return status, {REVISION_ANNOTATION: str(revision.number)}

    def _complete(
        self, rtype: ResourceType, obj: Obj, revision: Revision, workload: _Workload
    ) -> Obj:
        spec = obj.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        generation = obj["metadata"].get("generation", 1)
        name = obj["metadata"]["name"]
        if rtype.kind == "DaemonSet":
            return _daemonset_status(obj, {}, self.nodes, rolled=True)
        if rtype.kind == "ReplicationController":
            return replication.complete(obj)
        if rtype.kind == "StatefulSet":
            workload.roll_pods(obj, revision.template_hash)
            return workload.statefulset_status(obj, revision.template_hash)
        now = self.store.clock()
        status = {
            "observedGeneration": generation,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "conditions": copy.deepcopy((obj.get("status") or {}).get("conditions") or []),
        }
        _set_condition(
            status,
            "Available",
            "True",
            reason="MinimumReplicasAvailable",
            message="Deployment has minimum availability.",
            now=now,
        )
        _set_condition(
            status,
            "Progressing",
            "True",
            reason="NewReplicaSetAvailable",
            message=f'ReplicaSet "{name}-{revision.template_hash}" has successfully progressed.',
            now=now,
        )
        return {k: v for k, v in status.items() if v != 0 or k == "observedGeneration"}


def _partition(spec: Obj) -> int | None:
    """Return a StatefulSet's `RollingUpdate` partition (0 when unset), None under `OnDelete`."""
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return None
    return max(0, int((strategy.get("rollingUpdate") or {}).get("partition") or 0))


def _on_delete(rtype: ResourceType, obj: Obj) -> bool:
    """Whether a DaemonSet replaces its pods only when they are deleted (a StatefulSet's
    rollout still completes under `OnDelete`: it creates and deletes pods on scaling)."""
    strategy = (obj.get("spec") or {}).get("updateStrategy") or {}
    return rtype.kind == "DaemonSet" and strategy.get("type") == "OnDelete"


def _daemonset_status(obj: Obj, old: Obj, nodes: int, *, rolled: bool) -> Obj:
    """Return a DaemonSet's status: converged (`rolled`), or just observed with no pod
    of the new template yet (the pods that were ready stay ready until replaced)."""
    if rolled:
        ready = updated = nodes
    else:
        ready, updated = min(old.get("numberReady", 0), nodes), 0
    status: Obj = {
        "observedGeneration": obj["metadata"].get("generation", 1),
        "desiredNumberScheduled": nodes,
        "currentNumberScheduled": nodes,
        "numberMisscheduled": 0,
        "numberReady": ready,
        "updatedNumberScheduled": updated,
        "numberAvailable": ready,
        "numberUnavailable": nodes - ready,
    }
    optional = ("updatedNumberScheduled", "numberAvailable", "numberUnavailable")
    return {k: v for k, v in status.items() if v or k not in optional}


def _set_condition(
    status: Obj, kind: str, value: str, *, reason: str, message: str, now: float
) -> None:
    stamp = rfc3339(now)
    conditions = status.setdefault("conditions", [])
    for condition in conditions:
        if condition["type"] == kind:
            if condition["status"] != value:
                condition["lastTransitionTime"] = stamp
            condition.update(status=value, reason=reason, message=message, lastUpdateTime=stamp)
            return
    conditions.append(
        {
            "type": kind,
            "status": value,
            "lastUpdateTime": stamp,
            "lastTransitionTime": stamp,
            "reason": reason,
            "message": message,
        }
    )


def is_rolled_out(obj: Obj) -> bool:
    """Return whether a Deployment, StatefulSet or DaemonSet status shows a finished rollout."""
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    replicas = int(spec.get("replicas", 1))
    if status.get("observedGeneration") != obj["metadata"].get("generation", 1):
        return False
    if obj.get("kind") == "DaemonSet":
        desired = status.get("desiredNumberScheduled", 0)
        return (
            status.get("updatedNumberScheduled", 0) >= desired
            and status.get("numberAvailable", 0) >= desired
        )
    if obj.get("kind") == "ReplicationController":
        return replication.is_rolled_out(obj)
    if obj.get("kind") == "StatefulSet":
        return _statefulset_rolled_out(spec, status, replicas)
    return (
        status.get("updatedReplicas", 0) >= replicas
        and status.get("replicas", 0) <= status.get("updatedReplicas", 0)
        and status.get("availableReplicas", 0) >= status.get("updatedReplicas", 0)
    )


def _statefulset_rolled_out(spec: Obj, status: Obj, replicas: int) -> bool:
    """Judge a StatefulSet as `kubectl rollout status` does: every replica ready and,
    under `RollingUpdate`, the ordinals at or above the partition updated (under
    `OnDelete`, which kubectl refuses, every pod at the update revision)."""
    partition = _partition(spec)
    if status.get("readyReplicas", 0) < replicas:
        return False
    if partition is None:
        return status.get("currentRevision") == status.get("updateRevision")
    return status.get("updatedReplicas", 0) >= replicas - partition
