"""The ControllerRevisions of StatefulSets and DaemonSets, kept as their real controllers
keep them (`pkg/controller/history`).

Every distinct pod template a StatefulSet or DaemonSet has run gets one
ControllerRevision, named `<workload>-<hash>` (the hash of `rollouts.template_hash`,
so a StatefulSet's `currentRevision`/`updateRevision` name it), labelled with the
template's labels plus the hash (`controller.kubernetes.io/hash` on a StatefulSet's,
as `history.NewControllerRevision` labels them; `controller-revision-hash` on a
DaemonSet's, as its controller's own snapshot does), annotated with the
workload's annotations when it is made, controlled by the workload (an owner
reference with `controller: true` and `blockOwnerDeletion: true`) and holding in
`data` the strategic merge patch that puts the template back:
`{"spec": {"template": {..., "$patch": "replace"}}}` (what `kubectl rollout undo`
sends and `kubectl rollout history --revision=N` applies to show it).

`revision` is one more than the highest of the workload's others; a template that
comes back (as after `rollout undo`) gets its old ControllerRevision renumbered to
the new highest revision, not a new one. The ones no pod runs (neither the current
nor the update revision) beyond `spec.revisionHistoryLimit` are deleted, oldest
revision first; deleting the workload deletes them (the garbage collector's work).

Everything here runs under the store lock, from the rollout controller's thread;
an `owners.OwnerIndex` keeps who owns which ControllerRevision, so a sync never
scans the whole kind.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from .errors import ApiError
from .owners import OwnedObjects, controlled_by
from .resources import Registry
from .store import Obj, Store

KEY = "controllerrevisions.apps"
HASH_LABEL = "controller-revision-hash"  # a DaemonSet's ControllerRevisions
STATEFULSET_HASH_LABEL = "controller.kubernetes.io/hash"  # a StatefulSet's
OWNER_KEYS = {"statefulsets.apps": "StatefulSet", "daemonsets.apps": "DaemonSet"}
_NAME_PREFIX_MAX = 223  # the real controller cuts the workload's name to fit the hash


def revision_name(owner: str, digest: str) -> str:
    """Return the name of the ControllerRevision of `owner`'s template with hash `digest`."""
    return f"{owner[:_NAME_PREFIX_MAX]}-{digest}"


def revision_data(template: Obj) -> Obj:
    """Return a ControllerRevision's `data`: the patch that restores `template`.

    Its keys are sorted, as Go writes a map: kubectl skips a rollback to the template
    that runs by comparing this patch's JSON with the one it makes of the workload.
    """
    return _sorted({"spec": {"template": {**template, "$patch": "replace"}}})


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    return copy.deepcopy(value)


def _controller_uid(revision: Obj) -> str | None:
    for ref in revision["metadata"].get("ownerReferences") or ():
        if ref.get("controller") and ref.get("kind") in OWNER_KEYS.values():
            return ref.get("uid")
    return None


def _number(revision: Obj) -> int:
    try:
        return int(revision.get("revision") or 0)
    except (TypeError, ValueError):
        return 0


def hash_label(kind: str) -> str:
    """Return the label that holds the template hash on a `kind`'s ControllerRevisions."""
    return STATEFULSET_HASH_LABEL if kind == "StatefulSet" else HASH_LABEL


def _hash_of(revision: Obj) -> str | None:
    labels = revision["metadata"].get("labels") or {}
    return labels.get(STATEFULSET_HASH_LABEL) or labels.get(HASH_LABEL)


def _by_revision(revision: Obj) -> tuple[int, str, str]:
    meta = revision["metadata"]
    return _number(revision), meta.get("creationTimestamp", ""), meta["name"]


class ControllerRevisions(OwnedObjects):
    """The StatefulSets' and DaemonSets' ControllerRevisions: an owner index, and the
    syncs of the rollout controller.

    Args:
        store: The object store (ControllerRevisions are written through it).
        registry: The resource types.
        actor: The name the writes are attributed to.
    """

    def __init__(self, store: Store, registry: Registry, actor: str) -> None:
        super().__init__(
            store, registry, actor, key=KEY, controller_uid=_controller_uid, order=_by_revision
        )

    # --- the syncs ----------------------------------------------------------------------

    def sync(self, workload: Obj, digest: str, live: Iterable[str] = ()) -> Obj | None:
        """Give a workload's template (hash `digest`) its ControllerRevision, and drop
        the old ones beyond `revisionHistoryLimit`.

        The revision of the template is found or created; when it is not the highest,
        it is renumbered one above the highest. Then the ones that are neither it nor
        `live` (the hashes pods still run) are deleted beyond the limit, oldest first.

        Returns:
            The template's ControllerRevision, or None when it could not be written.
        """
        try:
            current = self._update_revision(workload, digest)
            self._clean_up(workload, {digest, *live})
        except ApiError:
            return None  # e.g. a namespace being deleted: the workload goes too
        return current

    def _update_revision(self, workload: Obj, digest: str) -> Obj:
        owned = self.owned(workload)
        highest = max((_number(r) for r in owned), default=0)
        equal = [r for r in owned if _hash_of(r) == digest]
        if not equal:
            return self._create(workload, digest, highest + 1)
        found = equal[-1]
        if _number(found) == highest:
            return found  # the template has not changed since its revision was made
        body = {**found, "revision": highest + 1}
        meta = found["metadata"]
        return self.store.update(self.rtype, meta["namespace"], meta["name"], body, self.actor)

    def _create(self, workload: Obj, digest: str, number: int) -> Obj:
        meta = workload["metadata"]
        template = (workload.get("spec") or {}).get("template") or {}
        labels = {
            **((template.get("metadata") or {}).get("labels") or {}),
            hash_label(workload["kind"]): digest,
        }
        revision_meta: Obj = {
            "name": revision_name(meta["name"], digest),
            "namespace": meta["namespace"],
            "labels": labels,
            "ownerReferences": controlled_by(workload),
        }
        if meta.get("annotations"):
            revision_meta["annotations"] = dict(meta["annotations"])
        body: Obj = {
            "apiVersion": "apps/v1",
            "kind": "ControllerRevision",
            "metadata": revision_meta,
            "data": revision_data(template),
            "revision": number,
        }
        return self.store.create(self.rtype, meta["namespace"], body, self.actor)

    def _clean_up(self, workload: Obj, live: set[str]) -> None:
        """Delete the oldest revisions no pod runs beyond `revisionHistoryLimit`."""
        limit = int((workload.get("spec") or {}).get("revisionHistoryLimit", 10))
        history = [r for r in self.owned(workload) if _hash_of(r) not in live]
        for revision in history[: max(0, len(history) - limit)]:
            meta = revision["metadata"]
            self.store.delete(self.rtype, meta["namespace"], meta["name"], self.actor)
