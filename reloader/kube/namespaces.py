"""Several namespaces, one resource: per-namespace lists reported as one.

With ``WATCH_NAMESPACES=a,b`` each resource is listed and watched once per
namespace, on the namespaced API paths, so a Role (or a ClusterRole bound by
a RoleBinding) in each namespace is all the controller needs: nothing
cluster-wide. This is how controller-runtime's multi-namespace cache works too.

The decision core knows a resource, not its namespaces: it is synced once each
resource's first list is in, and a new leader decides once each resource has
been listed again for it. :class:`ListMerger` stands between the per-namespace
:class:`~reloader.kube.watch.ListWatcher` loops and the core, so that the core
sees one resource as before:

* the objects (``ConfigMapSeen``, ``DeploymentSeen``) and failures pass
  through as they come;
* the first lists are reported as one ``Listed`` (``initial``), once every
  namespace's first list is in; a namespace's later lists before that are
  covered by it;
* the lists asked for together (:meth:`ListMerger.expect`, then each loop's
  ``request_relist``: a new leader's) are reported as one ``Listed`` once
  every namespace has listed for that reason;
* any other list (a namespace's ``410 Gone`` or its resync) is reported on its
  own as soon as it is in.

A merged ``Listed`` carries the differences its lists found, summed, and the
lists' resourceVersions as ``NAMESPACE=VERSION`` pairs (resourceVersions are
opaque: they are never compared). Its ``count``, like every ``Listed`` of this
merger, is the number of objects the namespaces' latest lists held: those of
the whole resource, as the list digest the core records with it covers them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from reloader.core import Event, Listed, Resource


@dataclass
class _Round:
    """Lists asked for together, and the namespaces that have not listed for it yet."""

    reason: str = ""
    pending: set[str] = field(default_factory=set)
    added: int = 0
    modified: int = 0
    deleted: int = 0

    def take(self, namespace: str, listed: Listed) -> bool:
        """Count ``listed`` of ``namespace`` in, if it is one of this round's lists."""
        if listed.reason != self.reason or namespace not in self.pending:
            return False
        self.pending.discard(namespace)
        self.added += listed.added
        self.modified += listed.modified
        self.deleted += listed.deleted
        return True


class ListMerger:
    """One resource's per-namespace lists, reported to ``emit`` as one resource's."""

    def __init__(
        self, resource: Resource, namespaces: Iterable[str], emit: Callable[[Event], None]
    ) -> None:
        self.resource = resource
        self.namespaces = tuple(sorted(set(namespaces)))
        self._emit = emit
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._versions: dict[str, str] = {}
        #: The namespaces whose first list is not in yet.
        self._first = set(self.namespaces)
        self._round = _Round()  # none asked for

    def emit_for(self, namespace: str) -> Callable[[Event], None]:
        """The ``emit`` to give the list-and-watch loop of ``namespace``."""
        if namespace not in self.namespaces:
            raise ValueError(f"{namespace!r} is not one of this merger's namespaces")

        def emit(event: Event) -> None:
            if isinstance(event, Listed):
                self._listed(namespace, event)
            else:
                self._emit(event)

        return emit

    def expect(self, reason: str) -> None:
        """Lists for ``reason`` are about to be asked of every namespace: report them as one.

        Call it before the loops' ``request_relist``, so that no list is missed.
        """
        with self._lock:
            self._round = _Round(reason, set(self.namespaces))

    def _listed(self, namespace: str, listed: Listed) -> None:
        # Emitted under the lock: the merged reports keep the order they were made in.
        with self._lock:
            self._counts[namespace] = listed.count
            self._versions[namespace] = listed.resource_version
            round_ = self._round
            taken = round_.take(namespace, listed)
            complete = taken and not round_.pending
            if complete:
                self._round = _Round()
            if self._first:
                self._first.discard(namespace)
                if not self._first:  # else reported with the first lists, still to come
                    self._emit(
                        self._merged(initial=True, reason=round_.reason if complete else "start")
                    )
            elif complete:
                merged = self._merged(initial=False, reason=round_.reason)
                self._emit(
                    replace(
                        merged, added=round_.added, modified=round_.modified, deleted=round_.deleted
                    )
                )
            elif not taken:
                self._emit(replace(listed, count=sum(self._counts.values())))

    def _merged(self, *, initial: bool, reason: str) -> Listed:
        return Listed(
            resource=self.resource,
            resource_version=",".join(
                f"{namespace}={self._versions[namespace]}" for namespace in self.namespaces
            ),
            count=sum(self._counts.values()),
            initial=initial,
            reason=reason,
        )
