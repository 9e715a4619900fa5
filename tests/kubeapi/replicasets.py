"""The ReplicaSets of Deployments, kept as the real deployment controller keeps them.

Every distinct pod template a Deployment has run gets one ReplicaSet, named
`<deployment>-<pod-template-hash>`, labelled with the hash (its labels, its
selector and its template), controlled by the Deployment (an owner reference
with `controller: true`). Its annotations carry the Deployment's own (minus the
ones the controller keeps to itself), the `deployment.kubernetes.io/revision`
(one more than the highest revision of the other ReplicaSets; a template that
comes back moves its old ReplicaSet to the new revision and remembers the old
number in `revision-history`), `desired-replicas` and `max-replicas`.

A rollout scales the new ReplicaSet up at once (within the surge: a rolling
update's first step) and, when it completes, every older one to 0; the status
(`replicas`, `readyReplicas`, `availableReplicas`, `observedGeneration`) is the
ReplicaSet controller's once the pods would run. Old ReplicaSets at 0 beyond
`spec.revisionHistoryLimit` are deleted, oldest revision first, once the
rollout is complete; deleting the Deployment deletes its ReplicaSets (the
garbage collector's work). So `kubectl rollout history`, `rollout undo` and
`kubectl get rs` see what they see on a real cluster.

Everything here runs under the store lock, from the rollout controller's
thread; an `owners.OwnerIndex` keeps who owns which ReplicaSet, so a
sync never scans the whole kind.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from .errors import ApiError
from .owners import OwnedObjects, controlled_by
from .resources import Registry
from .store import Obj, Store

KEY = "replicasets.apps"
HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX = "deployment.kubernetes.io/max-replicas"
# The Deployment's annotations that are not copied to its ReplicaSets.
NOT_COPIED = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        REVISION_HISTORY,
        DESIRED,
        MAX,
        "deprecated.deployment.rollback.to",
    }
)


def revision(rs: Obj) -> int:
    """Return a ReplicaSet's revision (0 when it has none or a malformed one)."""
    value = (rs["metadata"].get("annotations") or {}).get(REVISION, "")
    try:
        return int(value)
    except ValueError:
        return 0


def _resolve(value: Any, total: int, *, round_up: bool) -> int:
    """Resolve an int-or-percent (`maxSurge`, `maxUnavailable`) against `total`."""
    if isinstance(value, str) and value.endswith("%"):
        try:
            share = total * int(value[:-1]) / 100
        except ValueError:
            return 0
        return math.ceil(share) if round_up else math.floor(share)
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def max_surge(spec: Obj, replicas: int) -> int:
    """Return how many pods a rolling update may run above `replicas` (0 for Recreate)."""
    strategy = spec.get("strategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return 0
    rolling = strategy.get("rollingUpdate") or {}
    surge = _resolve(rolling.get("maxSurge", "25%"), replicas, round_up=True)
    unavailable = _resolve(rolling.get("maxUnavailable", "25%"), replicas, round_up=False)
    return 1 if surge == 0 and unavailable == 0 else surge


def _controller_uid(rs: Obj) -> str | None:
    for ref in rs["metadata"].get("ownerReferences") or ():
        if ref.get("controller") and ref.get("kind") == "Deployment":
            return ref.get("uid")
    return None


class ReplicaSets(OwnedObjects):
    """The Deployments' ReplicaSets: an owner index, and the syncs of the rollout controller.

    Args:
        store: The object store (ReplicaSets are written through it, as by a client).
        registry: The resource types.
        actor: The name the writes are attributed to.
    """

    def __init__(self, store: Store, registry: Registry, actor: str) -> None:
        super().__init__(
            store, registry, actor, key=KEY, controller_uid=_controller_uid, order=_by_revision
        )

    # --- the syncs ----------------------------------------------------------------------

    def sync(self, deployment: Obj, digest: str, *, complete: bool) -> int | None:
        """Bring a Deployment's ReplicaSets to a rollout's start, or to its end (`complete`).

        At the start the ReplicaSet of the current template (`digest`) is found or
        created, takes the next revision and is scaled up within the surge (all the
        way when nothing else runs, or on `Recreate` after the old ones go to 0).
        At the end it runs every replica and the others none; the old ones beyond
        `revisionHistoryLimit` are deleted. A paused Deployment gets no new ReplicaSet.

        Returns:
            The current ReplicaSet's revision (the Deployment's revision annotation),
            or None when it has none.
        """
        try:
            return self._sync(deployment, digest, complete=complete)
        except ApiError:
            return None  # e.g. a namespace being deleted: the Deployment goes too

    def _sync(self, deployment: Obj, digest: str, *, complete: bool) -> int | None:
        spec = deployment.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        surge = max_surge(spec, replicas)
        owned = self.owned(deployment)
        new = next((rs for rs in owned if _hash_of(rs) == digest), None)
        old = [rs for rs in owned if rs is not new]
        number = max((revision(rs) for rs in old), default=0) + 1
        if new is None and spec.get("paused"):
            return None  # a paused Deployment starts no rollout
        recreate = (spec.get("strategy") or {}).get("type") == "Recreate"
        if not complete and recreate and not spec.get("paused"):
            for rs in old:  # Recreate: every old pod goes before a new one starts
                self._scale(rs, 0, replicas, surge)
        running = 0 if recreate else sum(_spec_replicas(rs) for rs in old)
        room = max(0, replicas + surge - running)  # the first step of a rolling update
        if new is None:
            scaled = replicas if complete else min(replicas, room)
            new = self._create(deployment, digest, number, scaled, surge)
        else:
            scaled = replicas if complete else min(replicas, max(_spec_replicas(new), room))
            new = self._annotate(deployment, new, number, replicas, surge)
            new = self._scale(new, scaled, replicas, surge)
        if complete:
            for rs in old:
                self._settle(self._scale(rs, 0, replicas, surge), 0)
            new = self._settle(new, replicas)
            self._clean_up(deployment, new)
        return revision(new)

    def _create(self, deployment: Obj, digest: str, number: int, scaled: int, surge: int) -> Obj:
        meta = deployment["metadata"]
        spec = deployment.get("spec") or {}
        template = copy.deepcopy(spec.get("template") or {})
        template_meta = template.setdefault("metadata", {})
        labels = {**(template_meta.get("labels") or {}), HASH_LABEL: digest}
        template_meta["labels"] = labels
        selector = copy.deepcopy(spec.get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = digest
        annotations = {
            k: v for k, v in (meta.get("annotations") or {}).items() if k not in NOT_COPIED
        }
        replicas = int(spec.get("replicas", 1))
        annotations.update(
            {REVISION: str(number), DESIRED: str(replicas), MAX: str(replicas + surge)}
        )
        rs_spec: Obj = {"replicas": scaled, "selector": selector, "template": template}
        if spec.get("minReadySeconds"):
            rs_spec["minReadySeconds"] = spec["minReadySeconds"]
        body: Obj = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{meta['name']}-{digest}",
                "namespace": meta["namespace"],
                "labels": dict(labels),
                "annotations": annotations,
                "ownerReferences": controlled_by(deployment),
            },
            "spec": rs_spec,
        }
        # No status yet (read as 0 pods): the first one comes with the pods, at the end.
        return self.store.create(self.rtype, meta["namespace"], body, self.actor)

    def _annotate(self, deployment: Obj, rs: Obj, number: int, replicas: int, surge: int) -> Obj:
        """Copy the Deployment's annotations to its current ReplicaSet and move it to
        revision `number` when it had an older one (noting that in `revision-history`)."""
        current = rs["metadata"].get("annotations") or {}
        wanted = dict(current)
        for k, v in (deployment["metadata"].get("annotations") or {}).items():
            if k not in NOT_COPIED:
                wanted[k] = v
        had = revision(rs)
        if had < number:
            wanted[REVISION] = str(number)
            if current.get(REVISION):
                history = current.get(REVISION_HISTORY)
                wanted[REVISION_HISTORY] = (
                    f"{history},{current[REVISION]}" if history else current[REVISION]
                )
        wanted.update({DESIRED: str(replicas), MAX: str(replicas + surge)})
        if wanted == current:
            return rs
        return self._update(rs, annotations=wanted)

    def _scale(self, rs: Obj, to: int, replicas: int, surge: int) -> Obj:
        annotations = rs["metadata"].get("annotations") or {}
        wanted = {DESIRED: str(replicas), MAX: str(replicas + surge)}
        if _spec_replicas(rs) == to and all(annotations.get(k) == v for k, v in wanted.items()):
            return rs
        return self._update(rs, replicas=to, annotations={**annotations, **wanted})

    def _update(
        self, rs: Obj, *, replicas: int | None = None, annotations: dict[str, str] | None = None
    ) -> Obj:
        body = {**rs, "metadata": dict(rs["metadata"]), "spec": dict(rs.get("spec") or {})}
        if annotations is not None:
            body["metadata"]["annotations"] = annotations
        if replicas is not None:
            body["spec"]["replicas"] = replicas
        meta = rs["metadata"]
        return self.store.update(self.rtype, meta["namespace"], meta["name"], body, self.actor)

    def _settle(self, rs: Obj, replicas: int) -> Obj:
        """Report `replicas` pods running, ready and available (the ReplicaSet controller's)."""
        status: Obj = {"replicas": replicas}
        if replicas:
            status.update(
                fullyLabeledReplicas=replicas, readyReplicas=replicas, availableReplicas=replicas
            )
        return self._status(rs, status)

    def _status(self, rs: Obj, status: Obj) -> Obj:
        meta = rs["metadata"]
        status["observedGeneration"] = meta.get("generation", 1)
        if rs.get("status") == status:
            return rs
        written = self.store.write_status(
            self.rtype, meta["namespace"], meta["name"], status, actor=self.actor
        )
        return written if written is not None else rs

    def _clean_up(self, deployment: Obj, new: Obj) -> None:
        """Delete the oldest old ReplicaSets beyond `revisionHistoryLimit` that run nothing."""
        limit = (deployment.get("spec") or {}).get("revisionHistoryLimit")
        if limit is None:
            return
        old = [
            rs
            for rs in self.owned(deployment)
            if rs["metadata"]["name"] != new["metadata"]["name"]
            and not rs["metadata"].get("deletionTimestamp")
        ]
        for rs in old[: max(0, len(old) - int(limit))]:
            meta = rs["metadata"]
            status = rs.get("status") or {}
            if (
                status.get("replicas", 0)
                or _spec_replicas(rs)
                or meta.get("generation", 1) > status.get("observedGeneration", 0)
            ):
                continue  # still running pods, or not yet seen by its controller
            self.store.delete(self.rtype, meta["namespace"], meta["name"], self.actor)


def _hash_of(rs: Obj) -> str | None:
    return (rs["metadata"].get("labels") or {}).get(HASH_LABEL)


def _spec_replicas(rs: Obj) -> int:
    return int((rs.get("spec") or {}).get("replicas", 1))


def _by_revision(rs: Obj) -> tuple[int, str, str]:
    meta = rs["metadata"]
    return revision(rs), meta.get("creationTimestamp", ""), meta["name"]
