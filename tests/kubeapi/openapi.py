"""The component schemas of a group-version's OpenAPI v3 document, for `kubectl explain`.

`kubectl explain` reads `/openapi/v3/<group-version>` and looks in its
`components.schemas` for the schema whose `x-kubernetes-group-version-kind`
names the kind asked for, then follows its references. The real server puts
there every kind of the group-version and every type they reach, with the
Kubernetes OpenAPI descriptions.

Ours come from the same JSON-schema rendering of the Kubernetes OpenAPI spec
that validation uses (:mod:`.validation.schema`), turned back into the shape
the real documents have: references under `#/components/schemas/`, a
reference with a description beside it wrapped in `allOf` (OpenAPI 3.0
ignores the siblings of a `$ref`), one type per schema (`nullable` for the
JSON-schema `["string", "null"]`), and objects left open as the real
documents leave them (the strict rendering closes every one).
Custom resources have no schema here: `kubectl explain` of one fails, naming it.
"""

from __future__ import annotations

import functools
from typing import Any

from .validation.schema import definitions, gvk_index

_DEFS = "#/$defs/"
_COMPONENTS = "#/components/schemas/"
#: Keywords whose value is one schema, and those whose value is a list of them.
_ONE = ("items",)
_MANY = ("allOf", "oneOf", "anyOf")


@functools.cache
def component_schemas(kinds: tuple[tuple[str, str, str], ...]) -> dict[str, Any]:
    """The schemas of ``kinds`` (group, version, kind) and of every type they reach, by name.

    Cached: the same group-version always has the same schemas (do not mutate them).
    """
    known = definitions()
    index = gvk_index()
    todo = [index[gvk] for gvk in kinds if gvk in index]
    found: dict[str, Any] = {}
    while todo:
        name = todo.pop()
        if name in found or name not in known:
            continue
        found[name] = _schema(known[name], todo)
    return dict(sorted(found.items()))


def _schema(node: Any, refs: list[str]) -> Any:
    """One schema as the real documents write it; the names it refers to go to ``refs``."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str) and value.startswith(_DEFS):
            refs.append(value[len(_DEFS) :])
            out[key] = _COMPONENTS + value[len(_DEFS) :]
        elif key == "type" and isinstance(value, list):
            types = [item for item in value if item != "null"]
            out[key] = types[0] if len(types) == 1 else types
            if "null" in value:
                out["nullable"] = True
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: _schema(_open(name, sub), refs) for name, sub in value.items()}
        elif key == "additionalProperties":
            if isinstance(value, dict):  # a map's values; `false` only closes the object
                out[key] = _schema(value, refs)
        elif key in _ONE:
            out[key] = _schema(value, refs)
        elif key in _MANY and isinstance(value, list):
            out[key] = [_schema(sub, refs) for sub in value]
        else:
            out[key] = value
    if "$ref" in out and len(out) > 1:
        out["allOf"] = [{"$ref": out.pop("$ref")}]
    return out


def _open(name: str, schema: Any) -> Any:
    """A property as the real documents write it: ``apiVersion`` and ``kind`` list no values
    (the strict rendering pins them to the kind's own)."""
    if name in ("apiVersion", "kind") and isinstance(schema, dict) and "enum" in schema:
        return {key: value for key, value in schema.items() if key != "enum"}
    return schema
