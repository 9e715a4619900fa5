"""Label and field selectors, parsed and matched as the API server does."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

# A parsed selector is a list of requirements; each takes a getter and answers.
Requirement = Callable[[Callable[[str], str | None]], bool]

_SET_RE = re.compile(r"^\s*(!?)\s*([A-Za-z0-9._/-]+)\s*(?:(notin|in)\s*\(([^)]*)\))?\s*$")
_OP_RE = re.compile(r"^\s*([A-Za-z0-9._/-]+)\s*(==|=|!=)\s*([A-Za-z0-9._-]*)\s*$")


class SelectorError(ValueError):
    """A selector that does not parse."""


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p for p in (part.strip() for part in parts) if p]


def parse_label_selector(text: str | None) -> list[Requirement]:
    """Parse a `labelSelector` (`app=web,env in (test,prod),!canary`).

    Raises:
        SelectorError: The selector is malformed.
    """
    requirements: list[Requirement] = []
    for term in _split_top_level(text or ""):
        match = _OP_RE.match(term)
        if match:
            key, op, value = match.groups()
            if op == "!=":
                requirements.append(lambda get, k=key, v=value: get(k) != v)
            else:
                requirements.append(lambda get, k=key, v=value: get(k) == v)
            continue
        match = _SET_RE.match(term)
        if not match:
            raise SelectorError(f"unable to parse requirement: {term!r}")
        negate, key, op, values = match.groups()
        if op:
            if negate:
                raise SelectorError(f"unable to parse requirement: {term!r}")
            wanted = {v.strip() for v in values.split(",") if v.strip()}
            if op == "in":
                requirements.append(lambda get, k=key, w=wanted: get(k) in w)
            else:
                requirements.append(lambda get, k=key, w=wanted: get(k) not in w)
        elif negate:
            requirements.append(lambda get, k=key: get(k) is None)
        else:
            requirements.append(lambda get, k=key: get(k) is not None)
    return requirements


def parse_field_selector(text: str | None, allowed: set[str]) -> list[Requirement]:
    """Parse a `fieldSelector` (`metadata.name=x,status.phase!=Running`).

    Args:
        text: The selector.
        allowed: The field paths this resource supports.

    Raises:
        SelectorError: The selector is malformed or names a field the resource
            does not support (`field label not supported`).
    """
    requirements: list[Requirement] = []
    for term in _split_top_level(text or ""):
        match = re.match(r"^\s*([A-Za-z0-9._]+)\s*(==|=|!=)\s*(.*?)\s*$", term)
        if not match:
            raise SelectorError(f"invalid selector: {term!r}")
        key, op, value = match.groups()
        if key not in allowed:
            raise SelectorError(f"field label not supported: {key}")
        if op == "!=":
            requirements.append(lambda get, k=key, v=value: (get(k) or "") != v)
        else:
            requirements.append(lambda get, k=key, v=value: (get(k) or "") == v)
    return requirements


def matches_labels(requirements: list[Requirement], labels: Mapping[str, str] | None) -> bool:
    """Return whether labels satisfy every requirement."""
    labels = labels or {}
    return all(req(labels.get) for req in requirements)


def field_value(obj: Mapping[str, Any], path: str) -> str | None:
    """Return the string value at a dotted path of an object, or None."""
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    if node is None:
        return None
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def matches_fields(requirements: list[Requirement], obj: Mapping[str, Any]) -> bool:
    """Return whether an object satisfies every field requirement."""
    return all(req(lambda path: field_value(obj, path)) for req in requirements)
