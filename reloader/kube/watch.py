"""List, then watch: the controller's view of ConfigMaps and Deployments.

The loop follows the informer pattern (and kopf's ``watching.py``):

* list, then watch from the list's ``resourceVersion`` with bookmarks on, so
  no change between the two is missed;
* a watch the server ends (``timeoutSeconds`` from ``WATCH_TIMEOUT_SECONDS``)
  is resumed from the last resourceVersion seen (events or bookmarks);
* ``410 Gone`` (history compacted) means list again; the relist is compared
  with what the loop knew and only differences are reported, so the decision
  core, which compares hashes, restarts nothing spuriously;
* a stream that stays silent past ``timeoutSeconds`` plus a grace period is
  dead: the read times out and the loop reconnects;
* errors reconnect with exponential backoff and jitter;
* every ``resync_seconds`` the loop lists afresh instead of resuming, which
  catches anything a watch could have missed;
* :meth:`ListWatcher.request_relist` asks for a fresh list now (a new leader
  does, so that it decides from a view at least as new as its Lease).

The loop only reports: it turns what it sees into core events and hands them
to ``emit``; deciding is the core's business.
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import urllib3.exceptions
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from reloader.core import (
    ConfigMapSeen,
    DeploymentSeen,
    Event,
    EventType,
    Listed,
    Resource,
    WatchFailed,
)
from reloader.core.secrets import SecretHashKey
from reloader.kube.api import CLUSTER, NAMESPACED, KubeApi
from reloader.kube.errors import classify, retry_after
from reloader.kube.stream import WatchStream
from reloader.kube.views import configmap_view, deployment_view, secret_view

_WORKLOAD_KINDS = {
    Resource.DEPLOYMENTS: "Deployment",
    Resource.STATEFULSETS: "StatefulSet",
    Resource.DAEMONSETS: "DaemonSet",
}

log = logging.getLogger(__name__)

_LIST_READ_TIMEOUT = 60.0
# A watch that ends sooner than this with nothing in it did not really watch.
_SHORT_WATCH_SECONDS = 1.0


class _Expired(Exception):
    """The watch's resourceVersion is too old (410 Gone): list again."""


@dataclass
class _Cursor:
    """Where the loop stands: the version to resume from, and why the next list is made."""

    resource_version: str | None = None
    initial: bool = True
    reason: str = "start"
    listed_at: float = 0.0


@dataclass
class WatchHooks:
    """Callbacks for health and metrics; each defaults to doing nothing."""

    progress: Callable[[], None] = lambda: None
    #: A window's events begin (True) or end (False) to be handed over.
    delivering: Callable[[bool], None] = lambda busy: None
    up: Callable[[bool], None] = lambda up: None
    event: Callable[[str], None] = lambda event_type: None
    relist: Callable[[str], None] = lambda reason: None
    error: Callable[[str], None] = lambda reason: None
    #: A list or watch was forbidden (the 403's message), or a watch started again (None).
    forbidden: Callable[[str | None], None] = lambda message: None


@dataclass(frozen=True)
class WatchOptions:
    """How to list and watch.

    Attributes:
        namespace: The namespace watched, or ``*`` for every namespace
            (cluster-wide list and watch paths).
        label_selector: Restricts the objects listed and watched (None: all).
        timeout_seconds: The server-side ``timeoutSeconds`` of each watch request.
        resync_seconds: List afresh at least this often.
        backoff_base_seconds: First reconnect delay after an error; doubles per failure.
        backoff_max_seconds: Ceiling of the reconnect delay.
        connect_timeout_seconds: TCP/TLS connect timeout.
        grace_seconds: How long past ``timeout_seconds`` a silent stream is still trusted.
        coalesce_seconds: Once an event has come, how long to let more accumulate
            before handling them together, on a quiet stream (see
            :mod:`reloader.kube.stream`).
        busy_coalesce_seconds: The longest such window, which a stream grows to
            while its windows keep bringing several events.
    """

    namespace: str
    label_selector: str | None
    timeout_seconds: int
    resync_seconds: float
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 30.0
    connect_timeout_seconds: float = 10.0
    grace_seconds: float = 10.0
    coalesce_seconds: float = 0.05
    busy_coalesce_seconds: float = 0.25


class ListWatcher:
    """The list-then-watch loop of one resource, run on its own thread."""

    def __init__(
        self,
        resource: Resource,
        api_client: client.ApiClient,
        options: WatchOptions,
        emit: Callable[[Event], None],
        *,
        hooks: WatchHooks | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        secret_key: SecretHashKey | None = None,
    ) -> None:
        """Prepare the loop; nothing is requested until :meth:`run`.

        Secrets need ``secret_key``: their data is hashed under it and dropped.
        """
        self.resource = resource
        self.options = options
        self._emit = emit
        self._hooks = hooks or WatchHooks()
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._clock = clock
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._response: Any = None
        # Relists asked for (request_relist) and those begun since: a list
        # counts only if it started after the request.
        self._relists_requested = 0
        self._relists_begun = 0
        self._relist_reason = "resync"
        self._known: dict[tuple[str, str], tuple[str, Any]] = {}
        self._resume_from: str | None = None
        self._api = KubeApi(api_client)
        self._path = (CLUSTER if options.namespace == "*" else NAMESPACED)[resource.value]
        self._to_view: Callable[[Mapping[str, Any]], Any]
        if resource is Resource.CONFIGMAPS:
            self._to_view = configmap_view
        elif resource is Resource.SECRETS:
            if secret_key is None:
                raise ValueError("watching Secrets needs the hash key")
            key = secret_key
            self._to_view = lambda obj: secret_view(obj, key)
        else:
            kind = _WORKLOAD_KINDS[resource]
            self._to_view = lambda obj: deployment_view(obj, kind)

    # ------------------------------------------------------------------ control

    def stop(self) -> None:
        """Ask the loop to end, interrupting a blocked read."""
        self._stop.set()
        with self._lock:
            response = self._response
        _interrupt(response)

    def request_relist(self, reason: str) -> None:
        """List afresh as soon as possible (ending the current watch), reported as ``reason``.

        The ``Listed`` event of a list begun after this call carries ``reason``.
        """
        with self._lock:
            self._relists_requested += 1
            self._relist_reason = reason
            response = self._response
        _interrupt(response)

    def _relist_wanted(self) -> str | None:
        """Return the reason of a relist asked for and not begun yet, marking it begun."""
        with self._lock:
            if self._relists_begun >= self._relists_requested:
                return None
            self._relists_begun = self._relists_requested
            return self._relist_reason

    def _relist_pending(self) -> bool:
        with self._lock:
            return self._relists_begun < self._relists_requested

    @property
    def stopped(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stop.is_set()

    def run(self) -> None:
        """List and watch until :meth:`stop`; never raises."""
        cursor = _Cursor()
        failures = 0
        while not self._stop.is_set():
            self._hooks.progress()
            listing = False
            try:
                if self._list_due(cursor):
                    listing = True
                    self._list_into(cursor)
                    listing = False
                self._follow(cursor)
                failures = 0
            except _Expired:
                self._resume_from = None
                log.info(
                    "watch history expired, listing again",
                    extra={"fields": {"resource": self.resource.value}},
                )
                cursor.resource_version = None
                cursor.reason = "expired"
                failures += 1
                if failures > 1:  # 410 again right after a list: do not spin
                    self._stop.wait(self._delay(failures - 1))
            except Exception as error:
                if self._stop.is_set():
                    break
                if not listing and self._relist_pending():
                    continue  # the watch was ended on purpose: list now
                failures += 1
                self._failed(error, failures)
            finally:
                with self._lock:
                    self._response = None
        log.debug("watch loop ended", extra={"fields": {"resource": self.resource.value}})

    def _list_due(self, cursor: _Cursor) -> bool:
        return (
            cursor.resource_version is None
            or self._clock() - cursor.listed_at >= self.options.resync_seconds
            or self._relist_pending()
        )

    def _list_into(self, cursor: _Cursor) -> None:
        """List now, for the reason owed (asked for, expired, resync or start)."""
        wanted = self._relist_wanted()
        if wanted is not None:
            cursor.reason = wanted
        elif cursor.resource_version is not None:
            cursor.reason = "resync"
        try:
            cursor.resource_version = self._list(initial=cursor.initial, reason=cursor.reason)
        except Exception:
            if wanted is not None:
                self._retry_relist()
            raise
        cursor.initial = False
        cursor.listed_at = self._clock()
        self._hooks.up(True)

    def _follow(self, cursor: _Cursor) -> None:
        """Watch from the cursor until the stream ends, then move the cursor on."""
        assert cursor.resource_version is not None
        self._resume_from = cursor.resource_version
        started = self._clock()
        # End the watch when the next resync is due, so the resync
        # period holds however long WATCH_TIMEOUT_SECONDS is.
        until_resync = cursor.listed_at + self.options.resync_seconds - self._clock()
        timeout = max(1, min(self.options.timeout_seconds, math.ceil(until_resync)))
        try:
            received = self._watch(cursor.resource_version, timeout)
        finally:
            # Resume after the last event or bookmark seen, even on errors.
            cursor.resource_version = self._resume_from
        if (
            received == 0
            and self._clock() - started < min(_SHORT_WATCH_SECONDS, timeout / 2)
            and not self._stop.is_set()
            and not self._relist_pending()
        ):
            # Ended at once with nothing in it (a proxy or a server that closes
            # streams): watching again at once would spin, so it is a failure,
            # reconnected with backoff (as client-go's "very short watch").
            raise urllib3.exceptions.ProtocolError(
                "watch ended at once with nothing received (very short watch)"
            )
        self._hooks.up(True)

    def _retry_relist(self) -> None:
        """A requested list failed: it is still owed."""
        with self._lock:
            self._relists_begun -= 1

    # ----------------------------------------------------------------- requests

    def _failed(self, error: Exception, failures: int) -> None:
        failure = classify(error)
        # A throttled request (429, API Priority and Fairness) says when to
        # come back: never sooner, whatever the backoff says.
        delay = max(self._delay(failures), retry_after(error))
        self._hooks.up(False)
        self._hooks.error(failure.reason)
        if failure.reason == "forbidden":
            self._hooks.forbidden(failure.message)
        log.warning(
            "watch failed, reconnecting",
            extra={
                "fields": {
                    "resource": self.resource.value,
                    "reason": failure.reason,
                    "status": failure.status,
                    "detail": failure.message,
                    "retry_in_seconds": round(delay, 3),
                }
            },
        )
        self._emit(WatchFailed(self.resource, failure.message, failure.status, delay))
        self._stop.wait(delay)

    def _delay(self, failures: int) -> float:
        nominal = min(
            self.options.backoff_max_seconds,
            self.options.backoff_base_seconds * 2.0 ** min(failures - 1, 30),
        )
        return nominal / 2 + self._rng.random() * nominal / 2

    def _list(self, *, initial: bool, reason: str) -> str:
        body = self._api.json(
            "GET",
            self._path,
            path_params={"namespace": self.options.namespace},
            query={"labelSelector": self.options.label_selector},
            timeout=(self.options.connect_timeout_seconds, _LIST_READ_TIMEOUT),
        )
        resource_version = str(body["metadata"]["resourceVersion"])
        current: dict[tuple[str, str], tuple[str, Any]] = {}
        for item in body.get("items") or []:
            view = self._to_view(item)
            current[_ident(view)] = (view.resource_version, view)
        added, modified, deleted = self._report_list(current, initial)
        self._known = current
        if not initial:
            self._hooks.relist(reason)
        self._emit(
            Listed(
                resource=self.resource,
                resource_version=resource_version,
                count=len(current),
                initial=initial,
                reason=reason,
                added=added,
                modified=modified,
                deleted=deleted,
            )
        )
        return resource_version

    def _report_list(
        self, current: Mapping[tuple[str, str], tuple[str, Any]], initial: bool
    ) -> tuple[int, int, int]:
        """Report the listed objects: all of them at first, then only differences."""
        source = "list" if initial else "relist"
        added = modified = deleted = 0
        for name in sorted(current):
            version, view = current[name]
            before = self._known.get(name)
            if before is None:
                added += 1
                self._emit(self._seen(EventType.ADDED, view, source))
            elif before[0] != version:
                modified += 1
                self._emit(self._seen(EventType.MODIFIED, view, source))
        for name in sorted(set(self._known) - set(current)):
            deleted += 1
            self._emit(self._seen(EventType.DELETED, self._known[name][1], source))
        return (0, 0, 0) if initial else (added, modified, deleted)

    def _watch(self, resource_version: str, timeout_seconds: int) -> int:
        """Follow one watch request, keeping ``_resume_from`` at the last version seen.

        Returns how many lines (events, bookmarks) it brought.
        """
        try:
            response = self._api.request(
                "GET",
                self._path,
                path_params={"namespace": self.options.namespace},
                query={
                    "labelSelector": self.options.label_selector,
                    "watch": True,
                    "resourceVersion": resource_version,
                    "allowWatchBookmarks": True,
                    "timeoutSeconds": timeout_seconds,
                },
                timeout=(
                    self.options.connect_timeout_seconds,
                    timeout_seconds + self.options.grace_seconds,
                ),
            )
        except ApiException as error:
            if error.status == 410:
                raise _Expired from error
            raise
        with self._lock:
            self._response = response
            # A stop or relist asked for before the response was known here
            # could not end it: end it now.
            interrupted = self._relists_begun < self._relists_requested
        self._hooks.up(True)
        self._hooks.forbidden(None)  # listed and watching: both allowed
        if self._stop.is_set() or interrupted:
            response.shutdown()
        stream = WatchStream(
            response,
            coalesce_seconds=self.options.coalesce_seconds,
            busy_coalesce_seconds=self.options.busy_coalesce_seconds,
            read_timeout=timeout_seconds + self.options.grace_seconds,
            pause=self._stop.wait,
        )
        received = 0
        try:
            for lines in stream.batches():
                self._hooks.progress()
                received += len(lines)
                self._hooks.delivering(True)
                try:
                    for line in lines:
                        self._resume_from = self._handle(
                            json.loads(line), self._resume_from or resource_version
                        )
                finally:
                    self._hooks.delivering(False)
        finally:
            # The body was read past http.client: the connection is not reused.
            response.close()
            response.release_conn()
        return received

    def _handle(self, event: Mapping[str, Any], resource_version: str) -> str:
        kind = event.get("type")
        obj = event.get("object") or {}
        if kind == "ERROR":
            code = obj.get("code")
            if code == 410:
                raise _Expired
            error = ApiException(status=code, reason=obj.get("message") or obj.get("reason"))
            wait = (obj.get("details") or {}).get("retryAfterSeconds")
            if wait is not None:  # as the header would say it (see retry_after)
                error.headers = {"Retry-After": str(wait)}
            raise error
        new_version = str((obj.get("metadata") or {}).get("resourceVersion") or resource_version)
        if kind == "BOOKMARK":
            return new_version
        if kind not in ("ADDED", "MODIFIED", "DELETED"):
            log.warning("unknown watch event type ignored", extra={"fields": {"type": kind}})
            return new_version
        self._hooks.event(kind)
        view = self._to_view(obj)
        if kind == "DELETED":
            self._known.pop(_ident(view), None)
        else:
            self._known[_ident(view)] = (view.resource_version, view)
        self._emit(self._seen(EventType(kind), view, "watch"))
        return new_version

    def _seen(self, event_type: EventType, view: Any, source: str) -> Event:
        """The core's event for ``view``, saying when it was read (the loop may step it later)."""
        if self.resource in (Resource.CONFIGMAPS, Resource.SECRETS):
            return ConfigMapSeen(event_type, view, source, self._clock())
        return DeploymentSeen(event_type, view, source, self._clock())


def _ident(view: Any) -> tuple[str, str]:
    return (view.namespace, view.name)


def _interrupt(response: Any) -> None:
    """End a blocked read of ``response`` (the current watch), if there is one."""
    if response is None:
        return
    try:
        response.shutdown()
    except Exception:  # a response already closed or released
        log.debug("watch response shutdown failed", exc_info=True)
