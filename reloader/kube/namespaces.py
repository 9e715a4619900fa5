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

A namespace whose list the API server refuses (``403 Forbidden``: no
RoleBinding there yet, or no longer) holds nobody up. References never cross
namespaces, so waiting for it would stop every other namespace's decisions
and protect nothing. Its refusal passes through as the failure it is; the
first lists and the lists asked for together then go on without it, and each
``Listed`` names the namespaces refused since their last list (``forbidden``),
so that the journal tells which namespaces the core could not see. When such
a namespace lists at last, its first list is reported on its own, as a later
list that added every object it holds (the core compares them as after any
relist). A failure of another kind (a timeout, a server error) passes in the
hope of a list soon and is waited for, as before.

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

from reloader.core import Event, Listed, Resource, WatchFailed

#: The status of a list the API server refuses to let the controller make.
FORBIDDEN = 403


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

    def release(self, namespace: str) -> bool:
        """Stop waiting for ``namespace`` (its list was refused); whether it was waited for."""
        if namespace not in self.pending:
            return False
        self.pending.discard(namespace)
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
        #: The namespaces whose first list is not in yet (and not refused).
        self._first = set(self.namespaces)
        #: The namespaces whose list was refused (403) since they last listed.
        self._refused: set[str] = set()
        self._round = _Round()  # none asked for

    def emit_for(self, namespace: str) -> Callable[[Event], None]:
        """The ``emit`` to give the list-and-watch loop of ``namespace``."""
        if namespace not in self.namespaces:
            raise ValueError(f"{namespace!r} is not one of this merger's namespaces")

        def emit(event: Event) -> None:
            if isinstance(event, Listed):
                self._listed(namespace, event)
            elif isinstance(event, WatchFailed) and event.status == FORBIDDEN:
                self._forbidden(namespace, event)
            else:
                self._emit(event)

        return emit

    def expect(self, reason: str) -> None:
        """Lists for ``reason`` are about to be asked of every namespace: report them as one.

        Call it before the loops' ``request_relist``, so that no list is missed.
        """
        with self._lock:
            # A namespace refused since its last list is not waited for: if
            # it lists for this round after all, its list is reported alone.
            self._round = _Round(reason, set(self.namespaces) - self._refused)

    def _listed(self, namespace: str, listed: Listed) -> None:
        # Emitted under the lock: the merged reports keep the order they were made in.
        with self._lock:
            if namespace not in self._first and namespace not in self._versions:
                # The first list of a namespace refused until now, after the
                # others' went on without it: every object it holds is new.
                listed = replace(listed, initial=False, added=listed.count)
            self._refused.discard(namespace)
            self._counts[namespace] = listed.count
            self._versions[namespace] = listed.resource_version
            round_ = self._round
            taken = round_.take(namespace, listed)
            if not self._settle(namespace, round_, taken) and not taken:
                self._emit(
                    replace(
                        listed, count=sum(self._counts.values()), forbidden=self._forbidden_now()
                    )
                )

    def _forbidden(self, namespace: str, failure: WatchFailed) -> None:
        """``namespace``'s list was refused: pass the failure on and stop waiting for it."""
        with self._lock:
            self._emit(failure)
            self._refused.add(namespace)
            round_ = self._round
            self._settle(namespace, round_, round_.release(namespace))

    def _settle(self, namespace: str, round_: _Round, answered: bool) -> bool:
        """Report what ``namespace``'s list or refusal completes.

        ``answered``: it was one of ``round_``'s. The first lists complete once
        no namespace is left to wait for; so does a round. Returns whether a
        list needs no report of its own: it completed something, or the
        first lists, still to come, will cover it.
        """
        complete = answered and not round_.pending
        if complete:
            self._round = _Round()
        if self._first:
            self._first.discard(namespace)
            if not self._first:  # else reported with the first lists, still to come
                self._emit(
                    self._merged(initial=True, reason=round_.reason if complete else "start")
                )
            return True
        if complete:
            merged = self._merged(initial=False, reason=round_.reason)
            self._emit(
                replace(
                    merged, added=round_.added, modified=round_.modified, deleted=round_.deleted
                )
            )
            return True
        return False

    def _forbidden_now(self) -> tuple[str, ...]:
        return tuple(sorted(self._refused))

    def _merged(self, *, initial: bool, reason: str) -> Listed:
        return Listed(
            resource=self.resource,
            resource_version=",".join(
                f"{namespace}={self._versions[namespace]}"
                for namespace in self.namespaces
                if namespace in self._versions
            ),
            count=sum(self._counts.values()),
            initial=initial,
            reason=reason,
            forbidden=self._forbidden_now(),
        )
