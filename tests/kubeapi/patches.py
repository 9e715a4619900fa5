"""The three patch formats of the Kubernetes API: JSON merge, strategic merge, JSON patch."""

from __future__ import annotations

import copy
from typing import Any


class PatchError(ValueError):
    """A patch document that cannot be applied.

    Attributes:
        code: 400 for a malformed document, 422 for a well-formed one that does not
            apply (a failed `test`, a missing path), as the real server answers.
    """

    def __init__(self, message: str, code: int = 422) -> None:
        super().__init__(message)
        self.code = code


# --- RFC 7386 JSON merge patch -------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """Return `target` with an RFC 7386 JSON merge patch applied (inputs untouched)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# --- Strategic merge patch ------------------------------------------------------------

# Lists the built-in types merge by key instead of replacing (the `patchMergeKey`
# tags of k8s.io/api), found by the trailing field names of the list's path. The
# first matching suffix wins, so the more specific ones come first.
_MERGE_KEYS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("containers", "*", "ports"), "containerPort"),
    (("initContainers", "*", "ports"), "containerPort"),
    (("ephemeralContainers", "*", "ports"), "containerPort"),
    (("containers",), "name"),
    (("initContainers",), "name"),
    (("ephemeralContainers",), "name"),
    (("env",), "name"),
    (("volumeMounts",), "mountPath"),
    (("volumeDevices",), "devicePath"),
    (("volumes",), "name"),
    (("imagePullSecrets",), "name"),
    (("hostAliases",), "ip"),
    (("topologySpreadConstraints",), "topologyKey"),
    (("resourceClaims",), "name"),
    (("schedulingGates",), "name"),
    (("conditions",), "type"),
    (("ownerReferences",), "uid"),
    (("spec", "ports"), "port"),
)

# Lists of scalars that merge as sets (`patchStrategy:"merge"` on a []string).
_MERGED_SCALAR_LISTS = frozenset({"finalizers"})

# Maps a kind replaces wholesale (`patchStrategy:"replace"`), by kind and path.
_REPLACED_MAPS: dict[str, frozenset[tuple[str, ...]]] = {
    "PodDisruptionBudget": frozenset({("spec", "selector")}),
}


def _merge_key(path: tuple[str, ...]) -> str | None:
    for suffix, key in _MERGE_KEYS:
        if len(path) >= len(suffix) and all(
            want in ("*", got) for want, got in zip(suffix, path[-len(suffix) :], strict=True)
        ):
            return key
    return None


def strategic_merge_patch(
    target: dict[str, Any], patch: dict[str, Any], kind: str = ""
) -> dict[str, Any]:
    """Return `target` with a strategic merge patch applied (inputs untouched).

    Supports what `kubectl` and controllers send for the built-in kinds: lists
    merged by their merge key (containers by name, env by name, ports, volumes, ...),
    `null` to delete a field, and the directives `$patch` (`replace`, `delete`,
    `merge`), `$retainKeys`, `$setElementOrder/<list>` and
    `$deleteFromPrimitiveList/<list>`. Other lists are replaced, as for types
    without a patch strategy.

    Args:
        target: The object.
        patch: The patch.
        kind: The object's kind, for the maps it replaces instead of merging.

    Raises:
        PatchError: The patch is not an object or uses an unknown directive.
    """
    if not isinstance(patch, dict):
        raise PatchError("strategic merge patch must be a JSON object", code=400)
    replaced = _REPLACED_MAPS.get(kind, frozenset())
    return _smp_map(copy.deepcopy(target) if isinstance(target, dict) else {}, patch, (), replaced)


def _smp_map(
    target: dict[str, Any],
    patch: dict[str, Any],
    path: tuple[str, ...],
    replaced: frozenset[tuple[str, ...]] = frozenset(),
) -> dict[str, Any]:
    directive = patch.get("$patch")
    if path in replaced:
        directive = "replace"
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive not in (None, "merge"):
        raise PatchError(f"unknown patch directive {directive!r} in a map at {'.'.join(path)}")
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys"):
            continue
        if key.startswith("$setElementOrder/"):
            orders[key.split("/", 1)[1]] = value
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(target.get(field), list):
                target[field] = [v for v in target[field] if v not in (value or [])]
            continue
        if value is None:
            target.pop(key, None)
            continue
        current = target.get(key)
        if isinstance(value, dict):
            if value.get("$patch") == "delete":
                target.pop(key, None)
            else:
                target[key] = _smp_map(
                    current if isinstance(current, dict) else {}, value, (*path, key), replaced
                )
        elif isinstance(value, list):
            target[key] = _smp_list(current, value, (*path, key))
        else:
            target[key] = copy.deepcopy(value)
    for field, order in orders.items():
        if isinstance(target.get(field), list):
            target[field] = _apply_order(target[field], order, _merge_key((*path, field)))
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        for key in list(target):
            if key not in retain:
                del target[key]
    return target


def _smp_list(current: Any, patch: list[Any], path: tuple[str, ...]) -> list[Any]:
    current = list(current) if isinstance(current, list) else []
    field = path[-1]
    replace = any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch)
    items = [i for i in patch if not (isinstance(i, dict) and i.get("$patch") == "replace")]
    if replace:
        return copy.deepcopy(items)
    if field in _MERGED_SCALAR_LISTS and all(not isinstance(i, dict | list) for i in items):
        merged = list(current)
        for item in items:
            if item not in merged:
                merged.append(item)
        return merged
    key = _merge_key(path)
    if key is None or not all(isinstance(i, dict) for i in items):
        return copy.deepcopy(items)
    merged = list(current)
    for item in items:
        if key not in item:
            raise PatchError(f"map in the list {'.'.join(path)} lacks the merge key {key!r}")
        index = next(
            (
                i
                for i, existing in enumerate(merged)
                if isinstance(existing, dict) and existing.get(key) == item[key]
            ),
            None,
        )
        if item.get("$patch") == "delete":
            if index is not None:
                del merged[index]
            continue
        if index is None:
            merged.append(_smp_map({}, item, (*path, "*")))
        else:
            merged[index] = _smp_map(merged[index], item, (*path, "*"))
    return merged


def _apply_order(items: list[Any], order: list[Any], key: str | None) -> list[Any]:
    def ident(item: Any) -> Any:
        return item.get(key) if key and isinstance(item, dict) else item

    wanted = [ident(o) for o in order]
    positioned = sorted(
        (i for i in items if ident(i) in wanted), key=lambda i: wanted.index(ident(i))
    )
    rest = [i for i in items if ident(i) not in wanted]
    return positioned + rest


# --- RFC 6902 JSON patch ----------------------------------------------------------------


def json_patch(target: Any, operations: Any) -> Any:
    """Return `target` with an RFC 6902 JSON patch applied (inputs untouched).

    Raises:
        PatchError: 400 for a malformed document, 422 for an operation that fails.
    """
    if not isinstance(operations, list):
        raise PatchError("json patch must be a JSON array of operations", code=400)
    document = copy.deepcopy(target)
    for number, op in enumerate(operations):
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"json patch operation {number} needs 'op' and 'path'", code=400)
        document = _apply_op(document, op)
    return document


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"json pointer {path!r} must start with '/'", code=400)
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _parent(document: Any, parts: list[str], path: str) -> Any:
    node = document
    for part in parts[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise PatchError(f"path {path!r} does not exist")
    return node


def _get(document: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        return document
    parent = _parent(document, parts, path)
    last = parts[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent[int(last)]
    raise PatchError(f"path {path!r} does not exist")


def _remove(document: Any, path: str) -> tuple[Any, Any]:
    parts = _pointer(path)
    if not parts:
        raise PatchError("cannot remove the whole document")
    parent = _parent(document, parts, path)
    last = parts[-1]
    if isinstance(parent, dict) and last in parent:
        return document, parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return document, parent.pop(int(last))
    raise PatchError(f"path {path!r} does not exist")


def _add(document: Any, path: str, value: Any, replace: bool = False) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent = _parent(document, parts, path)
    last = parts[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise PatchError(f"path {path!r} does not exist")
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-" and not replace:
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent) - (1 if replace else 0):
            if replace:
                parent[int(last)] = value
            else:
                parent.insert(int(last), value)
        else:
            raise PatchError(f"index {last!r} is out of range at {path!r}")
    else:
        raise PatchError(f"path {path!r} does not exist")
    return document


def _apply_op(document: Any, op: dict[str, Any]) -> Any:
    kind, path = op["op"], op["path"]
    if kind in ("add", "replace", "test") and "value" not in op:
        raise PatchError(f"json patch {kind} operation at {path!r} needs a 'value'", code=400)
    if kind == "add":
        return _add(document, path, copy.deepcopy(op["value"]))
    if kind == "remove":
        return _remove(document, path)[0]
    if kind == "replace":
        return _add(document, path, copy.deepcopy(op["value"]), replace=True)
    if kind in ("move", "copy"):
        if "from" not in op:
            raise PatchError(f"json patch {kind} operation needs 'from'", code=400)
        if kind == "move":
            document, value = _remove(document, op["from"])
        else:
            value = copy.deepcopy(_get(document, op["from"]))
        return _add(document, path, value)
    if kind == "test":
        if _get(document, path) != op["value"]:
            raise PatchError(f"testing value {path!r} failed")
        return document
    raise PatchError(f"unknown json patch operation {kind!r}", code=400)
