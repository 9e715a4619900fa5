"""Custom kinds: their CRD's structural schema, for field ownership and list invariants.

A custom object's lists and maps are tracked as its CRD's `openAPIV3Schema`
declares them (`x-kubernetes-list-type: map` with `x-kubernetes-list-map-keys`,
`set`, `atomic`), as the real server builds its typed conversion from the
structural schema. The same declarations are invariants the apiextensions
validation enforces on every write: a `map` list may not repeat a key, a `set`
list may not repeat a value (422 `Duplicate value`); on an update only when the
stored object kept them, so an object that already breaks them can still be
written ("ratcheting").
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..validation.crd import compiled
from . import fields, schema

if TYPE_CHECKING:
    from ..resources import ResourceType
    from ..store import Store

CRD_KEY = "customresourcedefinitions.apiextensions.k8s.io"
# Fields whose lists the structural schema does not describe (ObjectMeta is
# validated by the server's own rules).
_OWN_FIELDS = ("apiVersion", "kind", "metadata")

Cause = tuple[str, str, str]


def openapi_schema(store: Store, rtype: ResourceType, version: str) -> dict[str, Any] | None:
    """Return the `openAPIV3Schema` a custom kind's stored CRD gives a version, or None.

    The version's own schema, else the storage version's, as validation reads it.
    """
    crd_type = store.registry.by_key(CRD_KEY)
    definition = store.find(crd_type, "", rtype.key) if crd_type is not None else None
    entry = compiled(definition, version) if definition is not None else None
    return entry[0] if entry is not None else None


def _go_syntax(value: Any) -> str:
    """Render an unstructured value as Go's `%#v` prints it inside a composite."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(int(value)) if float(value).is_integer() else repr(value)
    if value is None:
        return "interface {}(nil)"
    if isinstance(value, list):
        return "[]interface {}{" + ", ".join(_go_syntax(v) for v in value) + "}"
    inner = ", ".join(f"{json.dumps(k)}:{_go_syntax(v)}" for k, v in sorted(value.items()))
    return "map[string]interface {}{" + inner + "}"


def _duplicate_value(value: Any) -> str:
    """Render a repeated value as `field.Duplicate` prints it (null becomes `"null"`)."""
    return '"null"' if value is None else _go_syntax(value)


def _field_path(steps: tuple[fields.Step, ...]) -> str:
    out = ""
    for step in steps:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
    return out


def _identity(list_shape: schema.Shape, item: Any) -> Any:
    """Return what must be unique about a list item: its value (`set`) or its keys (`map`)."""
    if list_shape.list_type == "set":
        return item
    if not isinstance(item, dict):
        return {}
    return {name: item[name] for name in list_shape.keys if name in item}


def list_invariant_causes(obj: dict[str, Any], openapi: dict[str, Any] | None) -> list[Cause]:
    """Return a `Duplicate value` cause for each list item repeating an earlier one's identity.

    As the apiextensions validation reports it: the item's field path, and its
    value (a `set`) or its keys as a map (a `map` list); an identity repeated
    several times is reported once, at its second item.
    """
    if not openapi:
        return []
    shape = schema.custom_root(openapi)
    body = {k: v for k, v in obj.items() if k not in _OWN_FIELDS}
    causes: list[Cause] = []
    for _path, steps, list_shape, items in fields.keyed_lists(body, shape):
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            identity = _identity(list_shape, item)
            text = json.dumps(identity, sort_keys=True)
            seen[text] = seen.get(text, 0) + 1
            if seen[text] == 2:
                causes.append(
                    (
                        "FieldValueDuplicate",
                        _field_path((*steps, index)),
                        f"Duplicate value: {_duplicate_value(identity)}",
                    )
                )
    return causes


def list_invariant_update_causes(
    obj: dict[str, Any], old: dict[str, Any] | None, openapi: dict[str, Any] | None
) -> list[Cause]:
    """Return the list invariant causes of a write; none when the stored object broke them."""
    if old is not None and list_invariant_causes(old, openapi):
        return []
    return list_invariant_causes(obj, openapi)
