"""The controller's list-and-watch loops: one per resource, or per resource and namespace.

``WATCH_NAMESPACES`` decides the paths:

* one namespace (the default, the controller's own): one loop per resource on
  the namespaced paths;
* ``*``: one loop per resource on the cluster-wide paths;
* several namespaces: one loop per resource *and* namespace, on the
  namespaced paths, so a Role or a RoleBinding in each namespace is enough.
  Each resource's loops report through a :class:`~reloader.kube.namespaces.ListMerger`,
  so that the decision core still sees one list per resource.

Each loop has its own liveness entry (``watch/RESOURCE``, or
``watch/NAMESPACE/RESOURCE`` per namespace) and connection state in
``/healthz``; ``configmap_reload_watch_up`` is 1 for a resource only while
every one of its loops is connected.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from kubernetes import client

from reloader.core import Event, Resource
from reloader.kube.namespaces import ListMerger
from reloader.kube.watch import ListWatcher, WatchHooks, WatchOptions
from reloader.runtime.health import Health
from reloader.runtime.loop import ReconcileLoop
from reloader.runtime.metrics import WATCH_EVENT_TYPES, ControllerMetrics
from reloader.runtime.settings import Settings

#: kubectl's short names of the resources watched (Secrets have none).
SHORT_NAMES = {
    "configmaps": "cm",
    "secrets": "secret",
    "deployments": "deploy",
    "statefulsets": "sts",
    "daemonsets": "ds",
}


@dataclass(frozen=True)
class WatchLoop:
    """One list-and-watch loop and the name it goes by in ``/healthz``."""

    name: str
    watcher: ListWatcher

    @property
    def liveness(self) -> str:
        """Its entry among the loops ``/healthz`` checks for progress."""
        return f"watch/{self.name}"

    @property
    def thread(self) -> str:
        """Its thread's name: ``watch-RESOURCE``, or ``watch-SHORT-NAMESPACE`` per namespace.

        kubectl's short name comes first so that the resource still shows in
        the 15 bytes the OS keeps (``watch-cm-team-a``).
        """
        namespace, _, resource = self.name.rpartition("/")
        if not namespace:
            return f"watch-{resource}"
        return f"watch-{SHORT_NAMES.get(resource, resource)}-{namespace}"


class Watches:
    """Every list-and-watch loop of one controller, built, started and stopped together."""

    def __init__(
        self,
        settings: Settings,
        resources: Sequence[Resource],
        api_client: client.ApiClient,
        loop: ReconcileLoop,
        *,
        metrics: ControllerMetrics,
        health: Health,
    ) -> None:
        """Build a loop per resource (and per namespace when several); nothing runs yet."""
        self._loop = loop
        self._metrics = metrics
        self._health = health
        options = WatchOptions(
            namespace=settings.namespace,
            label_selector=None,
            timeout_seconds=settings.watch_timeout_seconds,
            resync_seconds=settings.resync_seconds,
            backoff_base_seconds=settings.retry_base_seconds,
            backoff_max_seconds=settings.retry_max_seconds,
        )
        namespaces = settings.watch_namespaces
        several = len(namespaces) > 1
        self.loops: list[WatchLoop] = []
        self._mergers: list[ListMerger] = []
        for resource in resources:
            # An empty selector means every ConfigMap.
            selector = settings.configmap_label_selector or None
            watched = (
                replace(options, label_selector=selector)
                if resource is Resource.CONFIGMAPS
                else options
            )
            names = {
                namespace: f"{namespace}/{resource.value}" if several else resource.value
                for namespace in namespaces
            }
            emit = self._emitter([f"watch/{name}" for name in names.values()])
            hooks = self._hooks(resource, list(names.values()))
            merger = ListMerger(resource, namespaces, emit) if several else None
            if merger is not None:
                self._mergers.append(merger)
            for namespace, name in names.items():
                watcher = ListWatcher(
                    resource,
                    api_client,
                    replace(watched, namespace=namespace),
                    merger.emit_for(namespace) if merger is not None else emit,
                    hooks=hooks(name),
                    secret_key=settings.secret_hash_key,
                )
                self.loops.append(WatchLoop(name, watcher))
        limit = (
            (
                settings.watch_timeout_seconds
                + options.grace_seconds
                + options.connect_timeout_seconds
            )
            * 2
            + settings.retry_max_seconds
            + 60.0
        )  # a list may take its read timeout
        for watch in self.loops:
            health.register(watch.liveness, limit)

    def start(self, spawn: Callable[[str, Callable[[], None]], None]) -> None:
        """Run every loop on a thread of its own (``spawn(name, target)``)."""
        for watch in self.loops:
            spawn(watch.thread, watch.watcher.run)

    def stop(self) -> None:
        """Stop every loop still running; their liveness is no longer checked."""
        for watch in self.loops:
            if not watch.watcher.stopped:
                watch.watcher.stop()
                self._health.finished(watch.liveness)

    def relist(self, reason: str) -> None:
        """Ask every loop for a fresh list, reported per resource as ``reason``."""
        for merger in self._mergers:
            merger.expect(reason)  # first: a loop may list at once
        for watch in self.loops:
            watch.watcher.request_relist(reason)

    def _emitter(self, liveness: list[str]) -> Callable[[Event], None]:
        """Hand watch events to the loop; while its queue is full the watch waits, alive."""
        events = self._loop.events

        def emit(event: Event) -> None:
            while True:
                try:
                    events.put(event, timeout=1.0)
                except queue.Full:
                    # Back-pressure (the journal is failing or the loop is behind):
                    # waiting is progress, not a stuck watch (for each loop of the
                    # resource: they all wait on the same queue).
                    for name in liveness:
                        self._health.beat(name)
                    if self._loop.stopping:
                        return
                else:
                    return

        return emit

    def _hooks(self, resource: Resource, names: list[str]) -> Callable[[str], WatchHooks]:
        """The hooks of each of ``resource``'s loops, by name; they share its metrics."""
        label = resource.value
        metrics, health = self._metrics, self._health
        lock = threading.Lock()
        connected: dict[str, bool] = {}

        # Every watch event counts: the labelled children are looked up once.
        counters = {
            event_type: metrics.watch_events.labels(label, event_type)
            for event_type in WATCH_EVENT_TYPES
        }

        def event(event_type: str) -> None:
            counter = counters.get(event_type)
            if counter is None:
                counter = counters[event_type] = metrics.watch_events.labels(label, event_type)
            counter.inc()

        def hooks(name: str) -> WatchHooks:
            def up(value: bool) -> None:
                with lock:
                    connected[name] = value
                    every = len(connected) == len(names) and all(connected.values())
                    metrics.watch_up.labels(label).set(1 if every else 0)
                health.set_watch(name, value)

            return WatchHooks(
                progress=lambda: health.beat(f"watch/{name}"),
                delivering=self._loop.delivering,
                up=up,
                event=event,
                relist=lambda reason: metrics.relists.labels(label, reason).inc(),
                error=lambda reason: metrics.errors.labels("watch", reason).inc(),
                # A kind the Role does not let it list keeps every decision waiting
                # for the first lists (one namespace of several holds up no other:
                # reloader.kube.namespaces): /readyz says why, not only "not synced".
                forbidden=lambda message: health.set_forbidden("watch", message, name),
            )

        return hooks
