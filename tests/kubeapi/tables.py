"""Server-side printing: the `Table` form `kubectl get` asks for."""

from __future__ import annotations

import time
from calendar import timegm
from collections.abc import Callable
from typing import Any

from .resources import ResourceType

Obj = dict[str, Any]
Column = tuple[str, str, Callable[[Obj], Any], int]  # name, type, cell, priority


def wants_table(accept: str) -> bool:
    """Return whether an `Accept` header asks for a `meta.k8s.io` Table."""
    return "as=Table" in accept.replace(" ", "")


def age(obj: Obj) -> str:
    """Return an object's age as `kubectl` shows it (`12s`, `5m`, `3h`, `2d`)."""
    return since(obj.get("metadata", {}).get("creationTimestamp"))


def since(stamp: str | None) -> str:
    """Return the time since an RFC 3339 timestamp as an age (`<unknown>` without one)."""
    if not stamp:
        return "<unknown>"
    seconds = max(0, int(time.time() - timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * (2 if unit != "m" else 1):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _get(obj: Obj, *path: str, default: Any = None) -> Any:
    node: Any = obj
    for part in path:
        if not isinstance(node, dict):
            return default
        node = node.get(part)
    return default if node is None else node


def _images(obj: Obj) -> str:
    containers = _get(obj, "spec", "template", "spec", "containers", default=[])
    return ",".join(str(c.get("image", "")) for c in containers if isinstance(c, dict))


def _count(title: str, *path: str, default: int = 0) -> Column:
    """An integer column read from the object at ``path`` (``default`` when absent)."""
    return (title, "integer", lambda o: _get(o, *path, default=default), 0)


def _containers(obj: Obj) -> str:
    containers = _get(obj, "spec", "template", "spec", "containers", default=[])
    return ",".join(str(c.get("name", "")) for c in containers if isinstance(c, dict))


def _selector(obj: Obj) -> str:
    """A workload's `spec.selector` as the real printer shows it (requirements by key)."""
    selector = _get(obj, "spec", "selector", default={})
    parts = [(k, f"{k}={v}") for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or ():
        key, op = expr.get("key", ""), expr.get("operator", "")
        values = ",".join(sorted(str(v) for v in expr.get("values") or ()))
        shown = {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})"}
        parts.append((key, shown.get(op) or (key if op == "Exists" else f"!{key}")))
    return ",".join(text for _key, text in sorted(parts))


def _node_selector(obj: Obj) -> str:
    """A pod template's `nodeSelector` as `k=v,...` by key (`<none>` when empty)."""
    selector = _get(obj, "spec", "template", "spec", "nodeSelector", default={}) or {}
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "<none>"


def _controller(obj: Obj) -> str:
    """The controller owning an object as `kind.group/name` (`<none>` without one)."""
    for ref in obj["metadata"].get("ownerReferences") or ():
        if ref.get("controller"):
            group = str(ref.get("apiVersion", "")).rpartition("/")[0]
            kind = str(ref.get("kind", "")).lower()
            return f"{kind}.{group}/{ref.get('name')}" if group else f"{kind}/{ref.get('name')}"
    return "<none>"


def _ports(obj: Obj) -> str:
    ports = _get(obj, "spec", "ports", default=[])
    return ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in ports) or "<none>"


def _ready(obj: Obj) -> str:
    ready = _get(obj, "status", "readyReplicas", default=0)
    return f"{ready}/{_get(obj, 'spec', 'replicas', default=1)}"


def _event_seen(obj: Obj) -> tuple[str, str]:
    """An Event's first and last seen, as the real printer falls back between its times."""
    first = since(obj.get("firstTimestamp") or obj.get("eventTime"))
    last = since(obj.get("lastTimestamp")) if obj.get("lastTimestamp") else first
    series = obj.get("series") or {}
    return first, since(series["lastObservedTime"]) if series.get("lastObservedTime") else last


def _event_object(obj: Obj) -> str:
    involved = obj.get("involvedObject") or {}
    kind = str(involved.get("kind") or "").lower()
    return f"{kind}/{involved['name']}" if involved.get("name") else kind


def _event_source(obj: Obj) -> str:
    source = obj.get("source") or {}
    component = source.get("component") or obj.get("reportingComponent") or ""
    instance = source.get("host") or obj.get("reportingInstance") or ""
    return f"{component}, {instance}" if instance else component


def _event_count(obj: Obj) -> int:
    series = obj.get("series") or {}
    return int(series.get("count") or obj.get("count") or 1)


_NAME: Column = ("Name", "string", lambda o: o["metadata"]["name"], 0)
_AGE: Column = ("Age", "string", age, 0)
_CONTAINERS: Column = ("Containers", "string", _containers, 1)
_IMAGES: Column = ("Images", "string", _images, 1)
_SELECTOR: Column = ("Selector", "string", _selector, 1)

_READY: Column = ("Ready", "string", _ready, 0)

_COLUMNS: dict[str, list[Column]] = {
    "Deployment": [
        _NAME,
        _READY,
        _count("Up-to-date", "status", "updatedReplicas"),
        _count("Available", "status", "availableReplicas"),
        _AGE,
        _CONTAINERS,
        _IMAGES,
        _SELECTOR,
    ],
    "StatefulSet": [
        _NAME,
        _READY,
        _AGE,
        _CONTAINERS,
        _IMAGES,
    ],
    "DaemonSet": [
        _NAME,
        _count("Desired", "status", "desiredNumberScheduled"),
        _count("Current", "status", "currentNumberScheduled"),
        _count("Ready", "status", "numberReady"),
        _count("Up-to-date", "status", "updatedNumberScheduled"),
        _count("Available", "status", "numberAvailable"),
        ("Node Selector", "string", _node_selector, 0),
        _AGE,
        _CONTAINERS,
        _IMAGES,
        _SELECTOR,
    ],
    "ReplicaSet": [
        _NAME,
        _count("Desired", "spec", "replicas", default=1),
        _count("Current", "status", "replicas"),
        _count("Ready", "status", "readyReplicas"),
        _AGE,
        _CONTAINERS,
        _IMAGES,
        _SELECTOR,
    ],
    "ControllerRevision": [
        _NAME,
        ("Controller", "string", _controller, 0),
        ("Revision", "integer", lambda o: o.get("revision", 0), 0),
        _AGE,
    ],
    "ConfigMap": [
        _NAME,
        ("Data", "integer", lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {}), 0),
        _AGE,
    ],
    "Secret": [
        _NAME,
        ("Type", "string", lambda o: o.get("type", ""), 0),
        ("Data", "integer", lambda o: len(o.get("data") or {}), 0),
        _AGE,
    ],
    "Namespace": [
        _NAME,
        ("Status", "string", lambda o: _get(o, "status", "phase", default=""), 0),
        _AGE,
    ],
    "Service": [
        _NAME,
        ("Type", "string", lambda o: _get(o, "spec", "type", default=""), 0),
        ("Cluster-IP", "string", lambda o: _get(o, "spec", "clusterIP", default=""), 0),
        ("External-IP", "string", lambda o: "<none>", 0),
        ("Port(s)", "string", _ports, 0),
        _AGE,
    ],
    "Event": [
        ("Last Seen", "string", lambda o: _event_seen(o)[1], 0),
        ("Type", "string", lambda o: o.get("type", ""), 0),
        ("Reason", "string", lambda o: o.get("reason", ""), 0),
        ("Object", "string", _event_object, 0),
        ("Subobject", "string", lambda o: _get(o, "involvedObject", "fieldPath", default=""), 1),
        ("Source", "string", _event_source, 1),
        ("Message", "string", lambda o: str(o.get("message") or "").strip(), 0),
        ("First Seen", "string", lambda o: _event_seen(o)[0], 1),
        ("Count", "string", _event_count, 1),
        ("Name", "string", lambda o: o["metadata"]["name"], 1),
    ],
    "Lease": [
        _NAME,
        ("Holder", "string", lambda o: _get(o, "spec", "holderIdentity", default=""), 0),
        _AGE,
    ],
    "Pod": [
        _NAME,
        ("Status", "string", lambda o: _get(o, "status", "phase", default="Pending"), 0),
        _AGE,
    ],
}


def to_table(
    rtype: ResourceType, items: list[Obj], list_meta: Obj, include: str, headers: bool = True
) -> Obj:
    """Return the Table of objects.

    Args:
        rtype: Their resource type.
        items: The objects.
        list_meta: The list metadata (`resourceVersion`, `continue`).
        include: `includeObject`: `None`, `Metadata` (the default) or `Object`.
        headers: Whether to include the column definitions (a watch sends them once).
    """
    # events.k8s.io Events have other field names: they keep the plain columns.
    kind = rtype.kind if rtype.group != "events.k8s.io" else ""
    columns = _COLUMNS.get(kind, [_NAME, _AGE])
    rows = []
    for obj in items:
        row: Obj = {"cells": [cell(obj) for _name, _type, cell, _p in columns]}
        if include == "Object":
            row["object"] = obj
        elif include != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
        rows.append(row)
    table: Obj = {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": dict(list_meta),
        "rows": rows,
    }
    if headers:
        table["columnDefinitions"] = [
            {
                "name": name,
                "type": kind,
                "format": "name" if name == "Name" else "",
                "description": name,
                "priority": priority,
            }
            for name, kind, _cell, priority in columns
        ]
    return table
