"""Which objects of one kind each controller owns, kept current from the store's events.

The simulated controllers (a Deployment's ReplicaSets, a StatefulSet's or
DaemonSet's ControllerRevisions) look up what a workload controls on every
sync; scanning the whole kind each time would make a busy server slow. An
:class:`OwnerIndex` is a store listener (it runs under the store lock) that
maps each owner's uid to the objects whose controller reference names it.
:class:`OwnedObjects` is what both controllers share on top of it: finding a
workload's objects, and deleting them with it (the garbage collector's work).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from .errors import ApiError
from .resources import Registry
from .store import Event, Obj, Store


def controlled_by(owner: Obj) -> list[Obj]:
    """Return the `ownerReferences` of an object ``owner`` (an apps/v1 workload) controls."""
    meta = owner["metadata"]
    return [
        {
            "apiVersion": "apps/v1",
            "kind": owner["kind"],
            "name": meta["name"],
            "uid": meta["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


class OwnerIndex:
    """The objects of one kind (``key``, e.g. ``replicasets.apps``) by controller uid.

    Args:
        store: The object store whose events keep the index.
        key: The kind's store key.
        controller_uid: Returns the uid an object's controller reference names
            (None when it has none of the kinds this index follows).
    """

    def __init__(self, store: Store, key: str, controller_uid: Callable[[Obj], str | None]) -> None:
        self.key = key
        self._controller_uid = controller_uid
        self._owned: dict[str, set[tuple[str, str]]] = {}  # owner uid -> (namespace, name)
        self._owner: dict[tuple[str, str], str] = {}  # (namespace, name) -> owner uid
        store.add_listener(self.on_event)

    def on_event(self, event: Event) -> None:
        """Follow one store event (under the store lock)."""
        if event.key != self.key:
            return
        ident = (event.namespace, event.name)
        uid = None if event.type == "DELETED" else self._controller_uid(event.obj)
        old = self._owner.get(ident)
        if old == uid:
            return
        if old is not None:
            self._owner.pop(ident, None)
            owned = self._owned.get(old)
            if owned is not None:
                owned.discard(ident)
                if not owned:
                    del self._owned[old]
        if uid is not None:
            self._owner[ident] = uid
            self._owned.setdefault(uid, set()).add(ident)

    def owned(self, uid: str) -> list[tuple[str, str]]:
        """Return the ``(namespace, name)`` of the objects ``uid`` controls, sorted."""
        return sorted(self._owned.get(uid, ()))


class OwnedObjects:
    """The objects of one kind (``key``) that workloads control, for a simulated controller.

    Args:
        store: The object store (the objects are written through it, as by a client).
        registry: The resource types.
        actor: The name the writes are attributed to.
        key: The kind's store key.
        controller_uid: As for :class:`OwnerIndex`.
        order: The sort key of :meth:`owned` (oldest revision first).
    """

    def __init__(
        self,
        store: Store,
        registry: Registry,
        actor: str,
        *,
        key: str,
        controller_uid: Callable[[Obj], str | None],
        order: Callable[[Obj], Any],
    ) -> None:
        self.store = store
        rtype = registry.by_key(key)
        assert rtype is not None
        self.rtype = rtype
        self.actor = actor
        self.index = OwnerIndex(store, key, controller_uid)
        self._order = order

    def owned(self, owner: Obj) -> list[Obj]:
        """Return the objects ``owner`` controls, in order (the stored objects: do not mutate)."""
        uid = owner["metadata"].get("uid", "")
        found = (self.store.find(self.rtype, ns, name) for ns, name in self.index.owned(uid))
        return sorted((obj for obj in found if obj is not None), key=self._order)

    def forget(self, namespace: str, uid: str) -> None:
        """Delete the objects of a deleted owner, as the garbage collector does."""
        for ns, name in self.index.owned(uid):
            if ns != namespace:
                continue
            with contextlib.suppress(ApiError):  # already gone (e.g. with its namespace)
                self.store.delete(self.rtype, ns, name, self.actor)
