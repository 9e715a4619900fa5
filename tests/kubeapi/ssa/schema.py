"""The structure server-side apply needs from the API's schemas.

Field ownership depends on the shape of each field: a struct's fields are
tracked one by one, a map's entries too, a list is tracked by its items' merge
keys (`x-kubernetes-list-type: map` with `x-kubernetes-list-map-keys`), by
value (`set`) or as one value (`atomic`, the default), and a struct or map
marked `x-kubernetes-map-type: atomic` is one value. The schemas come from the
OpenAPI definitions `kubernetes-validate` packages (the API's own, offline);
a custom kind's from its CRD's structural schema (`openAPIV3Schema`), which
declares list and map types the same way. Custom kinds without a schema (and
fields a schema leaves open) are "deduced", as the real server treats
schemaless custom objects: maps are granular, lists atomic.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

_SCHEMA_VERSION = "v1.37.0-local"
_REF_PREFIX = "#/$defs/"
# Defaults the API server gives merge-key fields, so `k:` keys are complete
# even when a manifest leaves them out (ports: `protocol: TCP`).
KEY_DEFAULTS = {"protocol": "TCP"}


@dataclass(frozen=True)
class Shape:
    """How one node of an object is tracked.

    Attributes:
        kind: `struct`, `map`, `list`, `scalar`, `atomic` or `deduced`.
        ref: The definition name (structs), or "" when inline.
        list_type: For lists: `map`, `set` or `atomic`.
        keys: For `map` lists: the merge keys.
        node: The raw schema node (for element and field lookups).
    """

    kind: str
    ref: str = ""
    list_type: str = ""
    keys: tuple[str, ...] = ()
    node: Any = None


DEDUCED = Shape("deduced")
SCALAR = Shape("scalar")


@functools.cache
def _definitions() -> dict[str, Any]:
    base = resources.files("kubernetes_validate") / "kubernetes-json-schema" / _SCHEMA_VERSION
    with (base / "_definitions.json").open("rb") as handle:
        return json.load(handle)["$defs"]


@functools.cache
def _by_gvk() -> dict[tuple[str, str, str], str]:
    found: dict[tuple[str, str, str], str] = {}
    for name, node in _definitions().items():
        for gvk in node.get("x-kubernetes-group-version-kind") or []:
            found[(gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", ""))] = name
    return found


# Every object's own fields, whatever its schema says of them: the real server
# builds a custom kind's type with the standard ObjectMeta too.
_ROOT_PROPERTIES = {
    "apiVersion": {"type": "string"},
    "kind": {"type": "string"},
    "metadata": {"$ref": _REF_PREFIX + "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
}


def root(
    group: str,
    version: str,
    kind: str,
    custom: bool = False,
    openapi: dict[str, Any] | None = None,
) -> Shape:
    """Return the shape of a whole object of a kind (deduced for unknown kinds).

    Args:
        openapi: For a custom kind, its CRD's `openAPIV3Schema` for the version
            (None: schemaless, everything but metadata deduced).
    """
    if custom:
        return custom_root(openapi)
    name = _by_gvk().get((group, version, kind))
    if name is None:
        return _custom_root()
    return shape_of({"$ref": _REF_PREFIX + name})


def custom_root(openapi: dict[str, Any] | None) -> Shape:
    """Return the shape of a custom object whose CRD declares `openapi` (None: no schema).

    Its fields take the structural schema's types, list types
    (`x-kubernetes-list-type`, `x-kubernetes-list-map-keys`) and map types;
    fields the schema leaves open (`x-kubernetes-preserve-unknown-fields`) are
    deduced.
    """
    if not isinstance(openapi, dict) or not openapi:
        return _custom_root()
    node = dict(openapi)
    node["properties"] = {**(openapi.get("properties") or {}), **_ROOT_PROPERTIES}
    return Shape("struct", node=node)


@functools.cache
def _custom_root() -> Shape:
    # A custom object without a schema: standard metadata, everything else deduced.
    node = {
        "type": "object",
        "properties": _ROOT_PROPERTIES,
        "additionalProperties": {"x-kubernetes-preserve-unknown-fields": True},
    }
    return Shape("struct", node=node)


def shape_of(node: Any) -> Shape:  # noqa: PLR0911 - one return per shape
    """Return the shape of a schema node, resolving `$ref`s."""
    ref = ""
    while isinstance(node, dict) and "$ref" in node and len(node) <= 2:
        ref = node["$ref"].removeprefix(_REF_PREFIX)
        resolved = _definitions().get(ref)
        if resolved is None:
            return DEDUCED
        node = resolved
    if not isinstance(node, dict):
        return DEDUCED
    if "$ref" in node:  # a $ref beside other keys (descriptions)
        return shape_of({"$ref": node["$ref"]})
    types = node.get("type")
    types = [types] if isinstance(types, str) else list(types or [])
    if "array" in types or "items" in node:
        list_type = node.get("x-kubernetes-list-type", "atomic")
        keys = tuple(node.get("x-kubernetes-list-map-keys") or ())
        return Shape("list", ref, list_type, keys, node)
    if "properties" in node:
        if node.get("x-kubernetes-map-type") == "atomic":
            return Shape("atomic", ref, node=node)
        return Shape("struct", ref, node=node)
    if "additionalProperties" in node:
        if node.get("x-kubernetes-map-type") == "atomic":
            return Shape("atomic", ref, node=node)
        return Shape("map", ref, node=node)
    if "oneOf" in node or (types and set(types) - {"object", "null"}):
        return SCALAR
    return DEDUCED


def field(shape: Shape, name: str) -> tuple[Shape, bool]:
    """Return the shape of a struct field or map entry, and whether it is declared."""
    if shape.kind == "struct":
        props = shape.node.get("properties") or {}
        if name in props:
            return shape_of(props[name]), True
        extra = shape.node.get("additionalProperties")
        return (shape_of(extra) if extra else DEDUCED), False
    if shape.kind == "map":
        return shape_of(shape.node.get("additionalProperties")), False
    return DEDUCED, False


def element(shape: Shape) -> Shape:
    """Return the shape of a list's items."""
    if shape.kind == "list":
        return shape_of(shape.node.get("items"))
    return DEDUCED
