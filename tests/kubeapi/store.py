"""The object store: one global resourceVersion, a bounded event history, watch fan-out.

Every write takes the store lock, stamps the next resourceVersion, appends one
event to the history and hands it to every open watch, so a watch that starts
from resourceVersion N sees exactly the events after N, in order, or learns
(410 Expired) that the history no longer reaches back that far.

Stored objects are never mutated once committed: readers may hold them without
the lock, and the history and the watch queues share them.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import kinds, validation
from .errors import (
    ApiError,
    already_exists,
    bad_request,
    conflict,
    gone,
    invalid,
    not_found,
    unsupported_media_type,
)
from .patches import PatchError, json_patch, merge_patch, strategic_merge_patch
from .resources import Registry, ResourceType, crd_to_type, type_to_crd
from .selectors import Requirement, matches_fields, matches_labels
from .ssa import managers as field_managers

Obj = dict[str, Any]

PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)
_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


# The namespaces the real NamespaceLifecycle admission plugin never lets go.
IMMORTAL_NAMESPACES = ("default", "kube-system", "kube-public")


def rfc3339(seconds: float) -> str:
    """Return a timestamp as the API server writes `metav1.Time` (whole seconds, UTC)."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Event:
    """One committed change, as kept in the history and sent to watches.

    Attributes:
        rv: The resourceVersion the change was committed at.
        type: `ADDED`, `MODIFIED` or `DELETED`.
        key: The resource type's storage key (`deployments.apps`).
        namespace: The object's namespace (`""` when cluster-scoped).
        name: The object's name.
        obj: The object after the change (for `DELETED`, its last state).
        prev: The object before the change, or None.
        actor: The client that made the change (`server` for the server itself).
        at: When it was committed (epoch seconds).
    """

    rv: int
    type: str
    key: str
    namespace: str
    name: str
    obj: Obj
    prev: Obj | None
    actor: str
    at: float


class WatchClosed(Exception):
    """The watch ended; `reason` says why (`cut`, `overflow`, `shutdown`, `done`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Watcher:
    """One open watch: a filter and a bounded queue of `(type, object)` pairs."""

    def __init__(
        self,
        rtype: ResourceType,
        namespace: str | None,
        labels: list[Requirement],
        fields: list[Requirement],
        *,
        client: str,
        max_queue: int,
    ) -> None:
        self.rtype = rtype
        self.namespace = namespace
        self.labels = labels
        self.fields = fields
        self.client = client
        self.max_queue = max_queue
        self.last_rv = 0
        self._queue: deque[tuple[str, Obj]] = deque()
        self._cond = threading.Condition()
        self._closed: str | None = None

    def matches(self, obj: Obj | None) -> bool:
        """Return whether an object passes this watch's namespace and selectors."""
        if obj is None:
            return False
        meta = obj["metadata"]
        if self.namespace is not None and meta.get("namespace", "") != self.namespace:
            return False
        return matches_labels(self.labels, meta.get("labels")) and matches_fields(self.fields, obj)

    def translate(self, event: Event) -> str | None:
        """Return the event type this watch sees for a change, or None to skip it.

        An object that stops matching the selectors is `DELETED` for this watch;
        one that starts matching is `ADDED`, as the real server's filtered watch does.
        """
        if event.key != self.rtype.key:
            return None
        new = self.matches(event.obj)
        if event.type == "MODIFIED":
            old = self.matches(event.prev)
            if old and new:
                return "MODIFIED"
            if old:
                return "DELETED"
            return "ADDED" if new else None
        return event.type if new else None

    def offer(self, event: Event) -> None:
        """Queue a committed change if it concerns this watch (called under the store lock)."""
        kind = self.translate(event)
        if kind is None:
            return
        obj = event.obj
        if kind == "DELETED" and event.type == "MODIFIED" and event.prev is not None:
            # Left the selectors: the real server sends the object as this watch
            # last matched it, at the change's resourceVersion.
            obj = copy.deepcopy(event.prev)
            obj["metadata"]["resourceVersion"] = event.obj["metadata"]["resourceVersion"]
        self.push(kind, obj, event.rv)

    def push(self, kind: str, obj: Obj, rv: int = 0) -> None:
        """Queue one event; a consumer too slow to keep the queue bounded is cut off."""
        with self._cond:
            if self._closed:
                return
            if len(self._queue) >= self.max_queue:
                self._closed = "overflow"
                self._queue.clear()
            else:
                self._queue.append((kind, obj))
                self.last_rv = max(self.last_rv, rv)
            self._cond.notify_all()

    def pending(self) -> int:
        """Return how many events wait to be sent."""
        with self._cond:
            return len(self._queue)

    def get(self, timeout: float) -> tuple[str, Obj] | None:
        """Return the next event, or None after `timeout` seconds without one.

        Raises:
            WatchClosed: The watch was closed and every queued event was taken.
        """
        with self._cond:
            if not self._queue and not self._closed:
                self._cond.wait(timeout)
            if self._queue:
                return self._queue.popleft()
            if self._closed:
                raise WatchClosed(self._closed)
            return None

    def close(self, reason: str) -> None:
        """End the watch after the events already queued (`overflow` drops them)."""
        with self._cond:
            if not self._closed:
                self._closed = reason
            self._cond.notify_all()

    @property
    def closed(self) -> str | None:
        """Return why the watch was closed, or None while it is open."""
        return self._closed


@dataclass
class _ListToken:
    rv: int
    namespace: str
    name: str

    def encode(self) -> str:
        raw = json.dumps({"v": "kubeapi/1", "rv": self.rv, "start": [self.namespace, self.name]})
        return base64.urlsafe_b64encode(raw.encode()).decode()

    @classmethod
    def decode(cls, token: str) -> _ListToken:
        try:
            data = json.loads(base64.urlsafe_b64decode(token.encode()))
            namespace, name = data["start"]
            return cls(int(data["rv"]), namespace, name)
        except (ValueError, KeyError, TypeError, binascii.Error) as err:
            raise bad_request(f"continue key is not valid: {err}") from err


@dataclass
class Store:
    """The objects of every resource type, their history and their watches.

    Args:
        registry: The resource types being served.
        history_size: How many events the history keeps; a watch from a
            resourceVersion older than the oldest kept event gets 410 Expired.
        watch_queue_size: How many events one watch may have waiting before it is
            cut off as too slow.
        clock: Returns the time in epoch seconds.
    """

    registry: Registry
    history_size: int = 2000
    watch_queue_size: int = 5000
    clock: Callable[[], float] = time.time
    lock: threading.RLock = field(default_factory=threading.RLock)
    rv: int = 0
    min_rv: int = 0
    _objects: dict[str, dict[tuple[str, str], Obj]] = field(default_factory=dict)
    _history: deque[Event] = field(init=False)
    _watchers: set[Watcher] = field(default_factory=set)
    _listeners: list[Callable[[Event], None]] = field(default_factory=list)
    _ip_counter: int = 0

    def __post_init__(self) -> None:
        self._history = deque(maxlen=self.history_size)

    # --- bookkeeping ------------------------------------------------------------------

    def add_listener(self, listener: Callable[[Event], None]) -> None:
        """Call `listener(event)` for every commit, under the store lock (so: only enqueue)."""
        self._listeners.append(listener)

    def _bucket(self, rtype: ResourceType) -> dict[tuple[str, str], Obj]:
        return self._objects.setdefault(rtype.key, {})

    def _allocate_ip(self) -> str:
        self._ip_counter += 1
        return f"10.96.{self._ip_counter // 250}.{self._ip_counter % 250 + 1}"

    def _commit(
        self, rtype: ResourceType, kind: str, obj: Obj, prev: Obj | None, actor: str
    ) -> Obj:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        if kind == "DELETED":
            self._bucket(rtype).pop(key, None)
        else:
            self._bucket(rtype)[key] = obj
        event = Event(self.rv, kind, rtype.key, key[0], key[1], obj, prev, actor, self.clock())
        if len(self._history) == self._history.maxlen:
            self.min_rv = self._history[0].rv
        self._history.append(event)
        for watcher in list(self._watchers):
            watcher.offer(event)
            if watcher.closed:
                self._watchers.discard(watcher)
        for listener in self._listeners:
            listener(event)
        return obj

    # --- reads --------------------------------------------------------------------------

    def get(self, rtype: ResourceType, namespace: str, name: str) -> Obj:
        """Return the stored object (shared: do not mutate it).

        Raises:
            ApiError: 404 NotFound.
        """
        obj = self._bucket(rtype).get((namespace if rtype.namespaced else "", name))
        if obj is None:
            raise not_found(rtype.plural, rtype.group, name)
        return obj

    def find(self, rtype: ResourceType, namespace: str, name: str) -> Obj | None:
        """Return the stored object (shared: do not mutate it), or None."""
        return self._bucket(rtype).get((namespace if rtype.namespaced else "", name))

    def list(
        self,
        rtype: ResourceType,
        namespace: str | None = None,
        labels: list[Requirement] | None = None,
        fields: list[Requirement] | None = None,
        *,
        limit: int = 0,
        continue_token: str | None = None,
        at_rv: int | None = None,
    ) -> tuple[list[Obj], int, str | None, int | None]:
        """List objects in key order, now or as they were at a kept resourceVersion.

        A continue token pages through the snapshot its first page was taken at,
        as the real server does, while the history still reaches back to it.

        Returns:
            `(items, resourceVersion, continue, remainingItemCount)`; items are shared.

        Raises:
            ApiError: 400 for a malformed continue token, 410 when `at_rv` or the
                token's snapshot is older than the kept history, 504 when `at_rv`
                is in the future.
        """
        with self.lock:
            list_rv = self.rv if at_rv is None else at_rv
            start: tuple[str, str] | None = None
            if continue_token:
                token = _ListToken.decode(continue_token)
                if token.rv < self.min_rv:
                    raise gone(
                        "The provided continue parameter is too old to display a consistent "
                        "list result. You can start a new list without the continue parameter."
                    )
                list_rv, start = token.rv, (token.namespace, token.name)
            bucket = self._snapshot(rtype, list_rv)
            keys = sorted(bucket)
            items = []
            for key in keys:
                if start is not None and key <= start:
                    continue
                if namespace is not None and key[0] != namespace:
                    continue
                obj = bucket[key]
                if labels and not matches_labels(labels, obj["metadata"].get("labels")):
                    continue
                if fields and not matches_fields(fields, obj):
                    continue
                items.append(obj)
        if limit and len(items) > limit:
            last = items[limit - 1]["metadata"]
            token = _ListToken(list_rv, last.get("namespace", ""), last["name"]).encode()
            return items[:limit], list_rv, token, len(items) - limit
        return items, list_rv, None, None

    def _snapshot(self, rtype: ResourceType, rv: int) -> dict[tuple[str, str], Obj]:
        """Return the objects of a type as they were at `rv`, rewinding the history."""
        if rv == self.rv:
            return self._bucket(rtype)
        if rv < self.min_rv:
            raise gone(f"too old resource version: {rv} ({self.min_rv})")
        if rv > self.rv:
            raise ApiError(
                504,
                f"Too large resource version: {rv}, current: {self.rv}",
                reason="Timeout",
                details={
                    "causes": [
                        {
                            "reason": "ResourceVersionTooLarge",
                            "message": "Too large resource version",
                        }
                    ],
                    "retryAfterSeconds": 1,
                },
            )
        bucket = dict(self._bucket(rtype))
        for event in reversed(self._history):
            if event.rv <= rv:
                break
            if event.key != rtype.key:
                continue
            key = (event.namespace, event.name)
            if event.type == "ADDED" or event.prev is None:
                bucket.pop(key, None)
            else:
                bucket[key] = event.prev
        return bucket

    def history(self) -> list[Event]:
        """Return the kept events, oldest first."""
        with self.lock:
            return list(self._history)

    # --- writes -------------------------------------------------------------------------

    def _check_namespace(self, rtype: ResourceType, namespace: str) -> None:
        if not rtype.namespaced:
            return
        ns_type = self.registry.by_key("namespaces")
        assert ns_type is not None
        ns = self.find(ns_type, "", namespace)
        if ns is None:
            raise not_found("namespaces", "", namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise ApiError(
                403,
                f'{rtype.key} "" is forbidden: unable to create new content in namespace '
                f"{namespace} because it is being terminated",
                details={"name": namespace, "kind": "namespaces"},
            )

    def _check_body(
        self, rtype: ResourceType, namespace: str, body: Obj, name: str | None = None
    ) -> Obj:
        body = kinds.check_type(body, f"{rtype.kind} body")
        meta = body["metadata"]
        if rtype.namespaced and meta.get("namespace") not in (None, "", namespace):
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent "
                "on the request"
            )
        if name is not None and meta.get("name") != name:
            raise bad_request(
                f"the name of the object ({meta.get('name', '')}) does not match the name on "
                f"the URL ({name})"
            )
        kind = body.get("kind")
        if kind not in (None, "", rtype.kind):
            raise bad_request(
                f"the kind of the provided object ({kind}) does not match the resource "
                f"({rtype.kind})"
            )
        return body

    def _normalise(self, rtype: ResourceType, obj: Obj, namespace: str) -> None:
        obj["apiVersion"] = rtype.api_version()
        obj["kind"] = rtype.kind
        meta = obj["metadata"]
        if rtype.namespaced:
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        meta.pop("selfLink", None)
        for key in ("labels", "annotations"):
            if meta.get(key) == {}:
                del meta[key]

    def create(
        self, rtype: ResourceType, namespace: str, body: Obj, actor: str, dry_run: bool = False
    ) -> Obj:
        """Create an object.

        Raises:
            ApiError: 404 when the namespace is missing, 409 AlreadyExists, 422 Invalid,
                400 for a mismatched body.
        """
        body = copy.deepcopy(self._check_body(rtype, namespace, body))
        with self.lock:
            self._check_namespace(rtype, namespace)
            meta = body["metadata"]
            if meta.get("resourceVersion"):
                raise ApiError(500, "resourceVersion should not be set on objects to be created")
            if not meta.get("name"):
                if meta.get("generateName"):
                    suffix = "".join(secrets.choice(_GENERATE_ALPHABET) for _ in range(5))
                    meta["name"] = meta["generateName"] + suffix
                else:
                    raise invalid(
                        rtype.kind,
                        rtype.group,
                        "",
                        [
                            (
                                "FieldValueRequired",
                                "metadata.name",
                                "Required value: name or generateName is required",
                            )
                        ],
                    )
            self._normalise(rtype, body, namespace)
            name = meta["name"]
            if self.find(rtype, namespace, name) is not None:
                raise already_exists(rtype.plural, rtype.group, name)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = rfc3339(self.clock())
            for key in ("deletionTimestamp", "deletionGracePeriodSeconds", "managedFields"):
                meta.pop(key, None)
            if rtype.generation:
                meta["generation"] = 1
            else:
                meta.pop("generation", None)
            if rtype.has_status:
                body.pop("status", None)
            validation.check(self, rtype, body, None)
            kinds.apply_defaults(rtype, body, None, self._allocate_ip)
            kinds.validate(rtype, body)
            if rtype.kind == "CustomResourceDefinition":
                self._prepare_crd(body)
            field_managers.track(rtype, None, body, actor, rfc3339(self.clock()), store=self)
            if dry_run:
                return body
            created = self._commit(rtype, "ADDED", body, None, actor)
            if rtype.kind == "CustomResourceDefinition":
                self.registry.add(crd_to_type(created))
            return created

    def _prepare_crd(self, crd: Obj) -> None:
        try:
            rtype = crd_to_type(crd)
        except ValueError as err:
            raise invalid(
                "CustomResourceDefinition",
                "apiextensions.k8s.io",
                crd["metadata"]["name"],
                [("FieldValueRequired", "spec", f"Required value: {err}")],
            ) from err
        if crd["metadata"]["name"] != rtype.key:
            raise invalid(
                "CustomResourceDefinition",
                "apiextensions.k8s.io",
                crd["metadata"]["name"],
                [
                    (
                        "FieldValueInvalid",
                        "metadata.name",
                        f'Invalid value: "{crd["metadata"]["name"]}": '
                        'must be spec.names.plural+"."+spec.group',
                    )
                ],
            )
        names = crd["spec"]["names"]
        crd["status"] = {
            "acceptedNames": {k: v for k, v in names.items()},
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted"},
            ],
            "storedVersions": [v["name"] for v in crd["spec"]["versions"] if v.get("storage")],
        }

    def update(
        self,
        rtype: ResourceType,
        namespace: str,
        name: str,
        body: Obj,
        actor: str,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        authorize_create: Callable[[], None] | None = None,
    ) -> Obj:
        """Replace an object (PUT), honouring a `metadata.resourceVersion` precondition.

        With `authorize_create` (a kind whose registry creates on update), a
        missing object is created, its resourceVersion ignored, once
        `authorize_create` has not raised.

        Raises:
            ApiError: 404, 409 Conflict, 422 Invalid, 400 for a mismatched body.
        """
        body = self._check_body(rtype, namespace, body, name)
        with self.lock:
            if authorize_create is not None and self.find(rtype, namespace, name) is None:
                authorize_create()
                body["metadata"].pop("resourceVersion", None)
                return self.create(rtype, namespace, body, actor, dry_run)
            old = self.get(rtype, namespace, name)
            kinds.check_put_version(rtype, name, body)
            return self._update_locked(
                rtype, old, copy.deepcopy(body), actor, subresource=subresource, dry_run=dry_run
            )

    def _update_locked(
        self,
        rtype: ResourceType,
        old: Obj,
        body: Obj,
        actor: str,
        *,
        subresource: str | None,
        dry_run: bool,
    ) -> Obj:
        old_meta = old["metadata"]
        name = old_meta["name"]
        namespace = old_meta.get("namespace", "")
        meta = body["metadata"]
        want_rv = meta.get("resourceVersion")
        if want_rv and want_rv != old_meta["resourceVersion"]:
            raise conflict(rtype.plural, rtype.group, name)
        if meta.get("uid") and meta["uid"] != old_meta["uid"]:
            raise conflict(
                rtype.plural,
                rtype.group,
                name,
                f"Precondition failed: UID in precondition: {meta['uid']}, "
                f"UID in object meta: {old_meta['uid']}",
            )
        if subresource == "status" and rtype.key not in STATUS_KEEPS_METADATA:
            new = copy.deepcopy(old)
            if "status" in body:
                new["status"] = body["status"]
            else:
                new.pop("status", None)
        else:
            new = body
            if subresource == "status":
                _keep_spec(rtype, new, old)
            elif rtype.has_status:
                if "status" in old:
                    new["status"] = copy.deepcopy(old["status"])
                else:
                    new.pop("status", None)
            new_meta = new["metadata"]
            for key in (
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            ):
                if key in old_meta:
                    new_meta[key] = old_meta[key]
                else:
                    new_meta.pop(key, None)
            new_meta.pop("generation", None)
            if old_meta.get("deletionTimestamp"):
                added = set(new_meta.get("finalizers") or []) - set(
                    old_meta.get("finalizers") or []
                )
                if added:
                    raise invalid(
                        rtype.kind,
                        rtype.group,
                        name,
                        [
                            (
                                "FieldValueForbidden",
                                "metadata.finalizers",
                                "Forbidden: no new finalizers can be added if the object "
                                "is being deleted",
                            )
                        ],
                    )
        self._normalise(rtype, new, namespace)
        validation.check(self, rtype, new, old)
        kinds.apply_defaults(rtype, new, old, self._allocate_ip)
        kinds.validate(rtype, new)
        kinds.validate_update(rtype, new, old)
        if rtype.generation:
            generation = old_meta.get("generation", 1)
            if _spec_changed(old, new) or (
                subresource != "status" and _annotations_bump(rtype, old_meta, new["metadata"])
            ):
                generation += 1
            new["metadata"]["generation"] = generation
        new["metadata"]["resourceVersion"] = old_meta["resourceVersion"]
        field_managers.track(rtype, old, new, actor, rfc3339(self.clock()), subresource, store=self)
        if new == old:
            return old
        if dry_run:
            return new
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            return self._commit(rtype, "DELETED", new, old, actor)
        return self._commit(rtype, "MODIFIED", new, old, actor)

    def patch(
        self,
        rtype: ResourceType,
        namespace: str,
        name: str,
        content_type: str,
        patch: Any,
        *,
        actor: str,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """Apply a patch atomically.

        A `metadata.resourceVersion` inside the patch is a precondition (409 when stale).

        Raises:
            ApiError: 404, 409, 415 (strategic merge on a custom kind), 422, 400.
        """
        with self.lock:
            old = self.get(rtype, namespace, name)
            patched = apply_patch(rtype, old, content_type, patch)
            patched = kinds.check_type(patched, f"patched {rtype.kind}")
            meta = patched["metadata"]
            if meta.get("name") != name:
                raise bad_request("metadata.name: the name of a patched object cannot change")
            if rtype.namespaced and meta.get("namespace", namespace) != namespace:
                raise bad_request(
                    "metadata.namespace: the namespace of a patched object cannot change"
                )
            # Only a resourceVersion the patch itself carries is a precondition.
            if not _patch_sets_rv(content_type, patch):
                meta["resourceVersion"] = old["metadata"]["resourceVersion"]
            return self._update_locked(
                rtype, old, patched, actor, subresource=subresource, dry_run=dry_run
            )

    def delete(
        self,
        rtype: ResourceType,
        namespace: str,
        name: str,
        actor: str,
        *,
        preconditions: dict[str, Any] | None = None,
        dry_run: bool = False,
    ) -> tuple[Obj, bool]:
        """Delete an object; one with finalizers only gets a deletionTimestamp.

        Returns:
            `(object, gone)`: the deleted or terminating object, and whether it is gone.

        Raises:
            ApiError: 404, or 409 Conflict when a precondition fails.
        """
        with self.lock:
            old = self.get(rtype, namespace, name)
            preconditions = preconditions or {}
            for field_name, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
                want = preconditions.get(field_name)
                if want and want != old["metadata"].get(field_name):
                    raise conflict(
                        rtype.plural,
                        rtype.group,
                        name,
                        f"Precondition failed: {label} in precondition: {want}, "
                        f"{label} in object meta: {old['metadata'].get(field_name)}",
                    )
            if rtype.kind == "Namespace" and name in IMMORTAL_NAMESPACES:
                raise ApiError(
                    403,
                    f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                    details={"name": name, "kind": "namespaces"},
                )
            if dry_run:
                return old, True
            if rtype.kind == "Namespace":
                return self._delete_namespace(rtype, old, actor), False
            if old["metadata"].get("finalizers"):
                if old["metadata"].get("deletionTimestamp"):
                    return old, False
                new = copy.deepcopy(old)
                new["metadata"]["deletionTimestamp"] = rfc3339(self.clock())
                new["metadata"]["deletionGracePeriodSeconds"] = 0
                if rtype.generation:
                    new["metadata"]["generation"] = new["metadata"].get("generation", 1) + 1
                return self._commit(rtype, "MODIFIED", new, old, actor), False
            deleted = self._commit(rtype, "DELETED", copy.deepcopy(old), old, actor)
            if rtype.kind == "CustomResourceDefinition":
                self._drop_crd(deleted, actor)
            return deleted, True

    def _drop_crd(self, crd: Obj, actor: str) -> None:
        key = crd["metadata"]["name"]
        rtype = self.registry.by_key(key)
        if rtype is None:
            return
        for obj in list(self._bucket(rtype).values()):
            self._commit(rtype, "DELETED", copy.deepcopy(obj), obj, actor)
        self.registry.remove(key)

    def _delete_namespace(self, rtype: ResourceType, old: Obj, actor: str) -> Obj:
        if old["metadata"].get("deletionTimestamp"):
            return old
        terminating = copy.deepcopy(old)
        terminating["metadata"]["deletionTimestamp"] = rfc3339(self.clock())
        terminating["metadata"]["deletionGracePeriodSeconds"] = 0
        terminating["status"] = {"phase": "Terminating"}
        terminating = self._commit(rtype, "MODIFIED", terminating, old, actor)
        self.finish_namespace(old["metadata"]["name"], actor)
        return terminating

    def finish_namespace(self, namespace: str, actor: str = "namespace-controller") -> None:
        """Delete everything a terminating namespace holds, then the namespace itself."""
        with self.lock:
            for rtype in self.registry.all():
                if not rtype.namespaced:
                    continue
                bucket = self._bucket(rtype)
                for key in sorted(k for k in bucket if k[0] == namespace):
                    obj = bucket[key]
                    self._commit(rtype, "DELETED", copy.deepcopy(obj), obj, actor)
            ns_type = self.registry.by_key("namespaces")
            assert ns_type is not None
            ns = self.find(ns_type, "", namespace)
            if ns is not None:
                self._commit(ns_type, "DELETED", copy.deepcopy(ns), ns, actor)

    def write_status(
        self,
        rtype: ResourceType,
        namespace: str,
        name: str,
        status: Obj,
        *,
        actor: str,
        annotations: dict[str, str] | None = None,
    ) -> Obj | None:
        """Set an object's status (and optionally annotations) as a controller would.

        Returns:
            The new object, or None when it no longer exists.
        """
        with self.lock:
            old = self.find(rtype, namespace, name)
            if old is None:
                return None
            new = copy.deepcopy(old)
            new["status"] = status
            if annotations:
                new["metadata"].setdefault("annotations", {}).update(annotations)
            field_managers.track(
                rtype, old, new, actor, rfc3339(self.clock()), "status", store=self
            )
            if new == old:
                return old
            return self._commit(rtype, "MODIFIED", new, old, actor)

    # --- watches ------------------------------------------------------------------------

    def watch(
        self,
        rtype: ResourceType,
        namespace: str | None,
        labels: list[Requirement],
        fields: list[Requirement],
        *,
        resource_version: str | None,
        send_initial_events: bool | None,
        client: str,
    ) -> Watcher:
        """Open a watch.

        `resource_version` None, `""` or `"0"` starts with a synthetic `ADDED` for every
        matching object (unless `send_initial_events` is False); `N` streams the events
        after N, or a single `ERROR` 410 Expired when the history no longer holds them.
        With `send_initial_events`, the initial events end with a `BOOKMARK` annotated
        `k8s.io/initial-events-end`.

        Raises:
            ApiError: 400 for a malformed resourceVersion.
        """
        watcher = Watcher(
            rtype, namespace, labels, fields, client=client, max_queue=self.watch_queue_size
        )
        since = _parse_rv(resource_version)
        with self.lock:
            initial = send_initial_events
            if initial is None:
                initial = since in (None, 0)
            if initial:
                for key in sorted(self._bucket(rtype)):
                    obj = self._bucket(rtype)[key]
                    if watcher.matches(obj):
                        watcher.push("ADDED", obj, int(obj["metadata"]["resourceVersion"]))
                watcher.last_rv = self.rv
                if send_initial_events:
                    watcher.push("BOOKMARK", self.bookmark(rtype, initial_events_end=True), self.rv)
            elif since is None or since == 0:
                watcher.last_rv = self.rv
            elif since < self.min_rv:
                watcher.push(
                    "ERROR", gone(f"too old resource version: {since} ({self.min_rv})").status()
                )
                watcher.close("expired")
                return watcher
            else:
                for event in self._history:
                    if event.rv > since:
                        watcher.offer(event)
                watcher.last_rv = max(since, watcher.last_rv)
            self._watchers.add(watcher)
        return watcher

    def bookmark(self, rtype: ResourceType, initial_events_end: bool = False) -> Obj:
        """Return a BOOKMARK object carrying the current resourceVersion."""
        meta: Obj = {"resourceVersion": str(self.rv), "creationTimestamp": None}
        if initial_events_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return {"kind": rtype.kind, "apiVersion": rtype.api_version(), "metadata": meta}

    def try_bookmark(self, watcher: Watcher) -> Obj | None:
        """Return a bookmark for a watch whose queue is drained, or None if events wait.

        Taken under the store lock, so no event at or below the bookmark's
        resourceVersion can still be on its way to this watch.
        """
        with self.lock:
            if watcher.pending():
                return None
            watcher.last_rv = self.rv
            return self.bookmark(watcher.rtype)

    def unregister(self, watcher: Watcher) -> None:
        """Forget a watch that has ended."""
        with self.lock:
            self._watchers.discard(watcher)

    def watchers(self) -> list[Watcher]:
        """Return the open watches."""
        with self.lock:
            return list(self._watchers)

    def close_watchers(self, predicate: Callable[[Watcher], bool], reason: str) -> int:
        """Close every open watch the predicate selects; return how many."""
        with self.lock:
            chosen = [w for w in self._watchers if predicate(w)]
            for watcher in chosen:
                watcher.close(reason)
                self._watchers.discard(watcher)
        return len(chosen)

    def compact(self) -> int:
        """Forget the whole history: a watch from any earlier resourceVersion gets 410.

        Returns:
            The resourceVersion the history now starts at.
        """
        with self.lock:
            self._history.clear()
            self.min_rv = self.rv
            return self.rv

    def objects(self) -> Iterator[tuple[ResourceType, Obj]]:
        """Yield every stored object with its type (a snapshot)."""
        with self.lock:
            snapshot = [
                (rtype, list(self._bucket(rtype).values())) for rtype in self.registry.all()
            ]
        for rtype, items in snapshot:
            for obj in items:
                yield rtype, obj

    def seed(self, rtype: ResourceType, obj: Obj, actor: str = "server") -> Obj:
        """Store an object directly (start-up content such as namespaces and CRDs)."""
        with self.lock:
            existing = self.find(
                rtype, obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
            )
            if existing is not None:
                return existing
            return self.create(rtype, obj["metadata"].get("namespace", ""), obj, actor)

    def seed_crds(self) -> None:
        """Store a CustomResourceDefinition for every custom type already served."""
        crd_type = self.registry.by_key("customresourcedefinitions.apiextensions.k8s.io")
        assert crd_type is not None
        for rtype in self.registry.all():
            if rtype.custom:
                self.seed(crd_type, type_to_crd(rtype))


def _parse_rv(value: str | None) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except ValueError as err:
        raise bad_request(f'invalid resource version "{value}"') from err
    if number < 0:
        raise bad_request(f'invalid resource version "{value}"')
    return number


# The top-level fields that are not an object's spec.
_NOT_SPEC = ("metadata", "status", "apiVersion", "kind")

# The workload kinds whose /status writes keep the body's metadata (annotations,
# labels, finalizers, ...) and reset only the spec, as their status strategies do
# (a Deployment's also resets `metadata.labels`). Other kinds keep the stored
# object and take only `status`, as custom resources do.
STATUS_KEEPS_METADATA: dict[str, tuple[str, ...]] = {
    "deployments.apps": ("labels",),
    "statefulsets.apps": (),
    "daemonsets.apps": (),
    "replicasets.apps": (),
    "replicationcontrollers": (),
}


def _keep_spec(rtype: ResourceType, new: Obj, old: Obj) -> None:
    """Reset what a /status write of a workload may not change: everything but
    `metadata` and `status`, and the metadata fields its status strategy resets."""
    for key in [k for k in new if k not in _NOT_SPEC]:
        del new[key]
    new.update({k: copy.deepcopy(v) for k, v in old.items() if k not in _NOT_SPEC})
    for key in STATUS_KEEPS_METADATA[rtype.key]:
        if key in old["metadata"]:
            new["metadata"][key] = copy.deepcopy(old["metadata"][key])
        else:
            new["metadata"].pop(key, None)


# Kinds whose `metadata.generation` also rises when `metadata.annotations`
# change (through the object, not its status): the real Deployment strategy
# does so, because a Deployment's annotations are copied to its ReplicaSets.
# StatefulSets, DaemonSets and the rest rise on spec changes only.
GENERATION_FOLLOWS_ANNOTATIONS = frozenset({"deployments.apps"})


def _annotations_bump(rtype: ResourceType, old_meta: Obj, new_meta: Obj) -> bool:
    if rtype.key not in GENERATION_FOLLOWS_ANNOTATIONS:
        return False
    return (old_meta.get("annotations") or {}) != (new_meta.get("annotations") or {})


def _spec_changed(old: Obj, new: Obj) -> bool:
    return {k: v for k, v in old.items() if k not in _NOT_SPEC} != {
        k: v for k, v in new.items() if k not in _NOT_SPEC
    }


def _patch_sets_rv(content_type: str, patch: Any) -> bool:
    if content_type == "application/json-patch+json":
        return any(
            isinstance(op, dict)
            and op.get("path") == "/metadata/resourceVersion"
            and op.get("op") in ("add", "replace")
            for op in patch or []
        )
    meta = patch.get("metadata") if isinstance(patch, dict) else None
    return isinstance(meta, dict) and bool(meta.get("resourceVersion"))


def apply_patch(rtype: ResourceType, obj: Obj, content_type: str, patch: Any) -> Obj:
    """Return an object with a patch applied, choosing the format from the content type.

    Raises:
        ApiError: 415 for a format the resource does not take (strategic merge on
            a custom kind), 400 or 422 for a patch that does not apply.
    """
    try:
        if content_type == "application/merge-patch+json":
            if not isinstance(patch, dict):
                raise PatchError("merge patch must be a JSON object", code=400)
            return merge_patch(obj, patch)
        if content_type == "application/strategic-merge-patch+json":
            if rtype.custom:
                raise unsupported_media_type(
                    [
                        "application/json-patch+json",
                        "application/merge-patch+json",
                        "application/apply-patch+yaml",
                    ],
                )
            return strategic_merge_patch(obj, patch, rtype.kind)
        if content_type == "application/json-patch+json":
            return json_patch(obj, patch)
    except PatchError as err:
        if err.code == 400:
            raise bad_request(str(err)) from err
        raise ApiError(422, str(err)) from err
    raise unsupported_media_type(list(PATCH_TYPES))
