"""Field sets: which fields of an object a value sets, compares and merges by shape.

A path is a tuple of path elements in the API's own `FieldsV1` spelling:
`f:NAME` (a struct field or map entry), `k:{"name":"app"}` (a list item by its
merge keys, keys sorted, compact JSON), `v:VALUE` (an item of a set list) and
`i:N` (an item of a list without keys). A field set is a Python set of paths;
`encode` and `decode` turn it into and out of the nested `fieldsV1` form, where
`.` marks a path that is itself a member beside its children.

The rules follow the structured-merge-diff library the API server uses:
- a value's set holds its leaves (scalars, atomic lists and maps), list items,
  map entries (fields a struct does not declare) and empty or null values;
  declared struct fields are not members of their own;
- a comparison reports added, modified and removed paths, and marks a new (or
  gone) list item or map entry itself too;
- a merge overlays the applied configuration on the live object, list items by
  their keys, atomic values whole.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

from . import schema
from .schema import Shape

Path = tuple[str, ...]
_MISSING: Any = object()
_ORDER = {"f": 0, "k": 1, "v": 2, "i": 3}


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _is_leaf(shape: Shape, value: Any) -> bool:
    if shape.kind in ("scalar", "atomic"):
        return True
    if shape.kind == "list":
        return shape.list_type not in ("map", "set") or not isinstance(value, list)
    if shape.kind == "deduced":
        return not isinstance(value, dict)
    return not isinstance(value, dict)


def item_element(shape: Shape, item: Any, index: int) -> str:
    """Return the path element of a list item: by merge keys, by value or by index."""
    if shape.list_type == "map" and isinstance(item, dict):
        key = {}
        for name in shape.keys:
            value = item.get(name, schema.KEY_DEFAULTS.get(name))
            if value is not None:
                key[name] = value
        return "k:" + _json(key)
    if shape.list_type == "set":
        return "v:" + _json(item)
    return f"i:{index}"


def _children(shape: Shape, value: Any) -> dict[str, tuple[Any, Shape, bool]]:
    """Return `{element: (child value, child shape, declared)}` of a granular value."""
    out: dict[str, tuple[Any, Shape, bool]] = {}
    if isinstance(value, list):
        element = schema.element(shape)
        for index, item in enumerate(value):
            pe = item_element(shape, item, index)
            if pe in out:  # duplicate keys: the API server tracks the list item once
                continue
            out[pe] = (item, element, False)
    elif isinstance(value, dict):
        for key, child in value.items():
            if shape.kind == "deduced":
                out["f:" + key] = (child, schema.DEDUCED, False)
            else:
                sub, declared = schema.field(shape, key)
                out["f:" + key] = (child, sub, declared)
    return out


def to_set(value: Any, shape: Shape, path: Path = ()) -> set[Path]:
    """Return the set of paths a value (an applied configuration) sets."""
    out: set[Path] = set()
    _to_set(value, shape, path, out)
    return out


def _to_set(value: Any, shape: Shape, path: Path, out: set[Path]) -> None:
    if _is_leaf(shape, value):
        if path:
            out.add(path)
        return
    for pe, (child, sub, declared) in _children(shape, value).items():
        child_path = (*path, pe)
        _to_set(child, sub, child_path, out)
        if (
            not pe.startswith("f:")
            or not declared
            or child is None
            or (isinstance(child, dict) and not child)
        ):
            out.add(child_path)


def compare(old: Any, new: Any, shape: Shape) -> tuple[set[Path], set[Path], set[Path]]:
    """Return `(added, modified, removed)` paths between two versions of an object."""
    added: set[Path] = set()
    modified: set[Path] = set()
    removed: set[Path] = set()
    _compare(old, new, shape, (), False, (added, modified, removed))
    return added, modified, removed


def _compare(  # noqa: PLR0917 - the walker's state, passed down
    old: Any,
    new: Any,
    shape: Shape,
    path: Path,
    declared: bool,
    acc: tuple[set[Path], set[Path], set[Path]],
) -> None:
    added, modified, removed = acc
    probe = new if new is not _MISSING else old
    empty = all(v is _MISSING or v in ({}, [], None) for v in (old, new))
    kinds_differ = old is not _MISSING and new is not _MISSING and type(old) is not type(new)
    if _is_leaf(shape, probe) or empty or kinds_differ:
        if not path:
            return
        if old is _MISSING:
            added.add(path)
        elif new is _MISSING:
            removed.add(path)
        elif old != new:
            modified.add(path)
        return
    old_children = _children(shape, old) if old is not _MISSING else {}
    new_children = _children(shape, new) if new is not _MISSING else {}
    for pe in {**old_children, **new_children}:
        before = old_children.get(pe)
        after = new_children.get(pe)
        sub = (after or before)[1]  # type: ignore[index]
        sub_declared = (after or before)[2]  # type: ignore[index]
        _compare(
            before[0] if before else _MISSING,
            after[0] if after else _MISSING,
            sub,
            (*path, pe),
            sub_declared,
            acc,
        )
    # A declared struct field is no member of its own (the real server's
    # non-pointer structs are always there); list items and map entries are.
    if not path or (declared and shape.kind == "struct"):
        return
    if old is _MISSING:
        added.add(path)
    elif new is _MISSING:
        removed.add(path)


def merge(live: Any, config: Any, shape: Shape) -> Any:
    """Return the live value with an applied configuration laid over it."""
    if config is _MISSING:
        return copy.deepcopy(live)
    if (
        live is _MISSING
        or live is None
        or _is_leaf(shape, config)
        or type(live) is not type(config)
    ):
        return copy.deepcopy(config)
    if isinstance(config, list):
        element = schema.element(shape)
        config_items = {item_element(shape, item, i): item for i, item in enumerate(config)}
        out = []
        seen = set()
        for index, item in enumerate(live):
            pe = item_element(shape, item, index)
            if pe in config_items and pe not in seen:
                out.append(merge(item, config_items[pe], element))
                seen.add(pe)
            else:
                out.append(copy.deepcopy(item))
        out.extend(copy.deepcopy(item) for pe, item in config_items.items() if pe not in seen)
        return out
    out = copy.deepcopy(live)
    for key, child in config.items():
        sub = schema.DEDUCED if shape.kind == "deduced" else schema.field(shape, key)[0]
        out[key] = merge(live.get(key, _MISSING), child, sub)
    return out


def remove(obj: Any, path: Path, shape: Shape) -> bool:
    """Remove the value at a path from an object in place; return whether it was there."""
    node, node_shape = obj, shape
    for depth, pe in enumerate(path):
        last = depth == len(path) - 1
        if pe.startswith("f:"):
            key = pe[2:]
            if not isinstance(node, dict) or key not in node:
                return False
            if last:
                del node[key]
                return True
            node_shape = (
                schema.DEDUCED if node_shape.kind == "deduced" else schema.field(node_shape, key)[0]
            )
            node = node[key]
            continue
        if not isinstance(node, list):
            return False
        for index, item in enumerate(node):
            if item_element(node_shape, item, index) == pe:
                if last:
                    del node[index]
                    return True
                node, node_shape = item, schema.element(node_shape)
                break
        else:
            return False
    return False


# A step of a Go `field.Path` (as validation errors print it): a field name, or
# a list index.
Step = str | int


def keyed_lists(
    value: Any, shape: Shape, path: Path = (), steps: tuple[Step, ...] = ()
) -> Iterator[tuple[Path, tuple[Step, ...], Shape, list[Any]]]:
    """Yield every list of a value tracked by key or by value (list type `map` or `set`).

    Each comes as `(path, steps, shape, items)`: its path as a field set spells
    it, its Go field path (field names and indices), its shape and its items.
    Lists inside list items are found too.
    """
    if isinstance(value, list) and shape.kind == "list":
        if shape.list_type in ("map", "set"):
            yield path, steps, shape, value
        element = schema.element(shape)
        for index, item in enumerate(value):
            pe = item_element(shape, item, index)
            yield from keyed_lists(item, element, (*path, pe), (*steps, index))
    elif isinstance(value, dict) and shape.kind in ("struct", "map"):
        for key, child in value.items():
            sub = schema.field(shape, key)[0]
            yield from keyed_lists(child, sub, (*path, f"f:{key}"), (*steps, key))


def duplicate_entries(value: Any, shape: Shape) -> list[str]:
    """Return the structured-merge-diff errors of a value whose keyed lists repeat an item.

    One `PATH: duplicate entries for key ELEMENT` per repeat (the second, third,
    ... item with the same merge keys, or the same value in a set), as the API
    server's typed conversion of an applied configuration words them.
    """
    errors = []
    for path, _steps, list_shape, items in keyed_lists(value, shape):
        seen: set[str] = set()
        for index, item in enumerate(items):
            pe = item_element(list_shape, item, index)
            if pe in seen:
                errors.append(
                    f"{path_string(path)}: duplicate entries for key {path_string((pe,))}"
                )
            seen.add(pe)
    return errors


def path_string(path: Path) -> str:
    """Return a path as the API server prints it in conflicts: `.spec.replicas`."""
    parts = []
    for pe in path:
        kind, text = pe[0], pe[2:]
        if kind == "f":
            parts.append("." + text)
        elif kind == "k":
            key = json.loads(text)
            parts.append("[" + ",".join(f"{k}={_json(v)}" for k, v in sorted(key.items())) + "]")
        elif kind == "v":
            parts.append(f"[={text}]")
        else:
            parts.append(f"[{text}]")
    return "".join(parts)


def _sort_key(pe: str) -> tuple[int, str]:
    return (_ORDER.get(pe[0], 9), pe[2:])


def encode(paths: set[Path]) -> dict[str, Any]:
    """Return a field set in the `fieldsV1` form."""
    tree: dict[str, Any] = {}
    members: set[Path] = set(paths)
    for path in paths:
        node = tree
        for pe in path:
            node = node.setdefault(pe, {})

    def emit(node: dict[str, Any], prefix: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if prefix in members and node:
            out["."] = {}
        for pe in sorted(node, key=_sort_key):
            out[pe] = emit(node[pe], (*prefix, pe))
        return out

    return emit(tree, ())


def decode(fields: Any, prefix: Path = ()) -> set[Path]:
    """Return the field set a `fieldsV1` value holds."""
    out: set[Path] = set()
    if not isinstance(fields, dict):
        return out
    for pe, child in fields.items():
        if pe == ".":
            if prefix:
                out.add(prefix)
            continue
        path = (*prefix, pe)
        if not child:
            out.add(path)
        else:
            out |= decode(child, path)
    return out


def prefixes(paths: set[Path]) -> set[Path]:
    """Return every path and every ancestor of one (to ask 'owns anything below')."""
    out: set[Path] = set()
    for path in paths:
        for end in range(1, len(path) + 1):
            out.add(path[:end])
    return out


MISSING = _MISSING
