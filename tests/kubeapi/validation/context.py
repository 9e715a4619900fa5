"""The per-request side of validation: the `fieldValidation` directive and warnings.

The HTTP layer opens a `request(...)` around every resource request; the store's
write hook reads it (the directive, the verb, the version the client spoke, the
duplicate fields of a patch body) and adds warnings, which the HTTP layer sends
as `Warning: 299 - "..."` headers. Writes made through the Python API run
without one and behave like `fieldValidation=Ignore`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from ..errors import bad_request

DIRECTIVES = ("Ignore", "Warn", "Strict")


class DupDict(dict):  # type: ignore[type-arg]
    """A JSON object that repeated a key: `pairs` keeps every pair in document order."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        self.pairs: tuple[tuple[str, Any], ...] = tuple(pairs)

    def __reduce_ex__(self, protocol: Any) -> Any:
        # Copies (the store deep-copies bodies) stay plain dicts: duplicates are
        # reported once, from the body as it was sent.
        return (dict, (dict(self),))


@dataclass
class Request:
    """What one HTTP request asks of validation, and what validation has to say back.

    Attributes:
        directive: `Strict`, `Warn` or `Ignore` (the real server's default is `Warn`).
        verb: `create`, `update`, `patch`, ...
        version: The API version the client used (`v1`, `v1beta1`, ...).
        patch_type: The patch's content type for a patch, else "".
        body_duplicates: Duplicate fields of the request body, in document order.
        positions: When the body repeated a key: each field path's place in the
            document, so that unknown and duplicate fields are named in the
            order the real decoder meets them.
        warnings: Texts to send back as `Warning` headers.
    """

    directive: str
    verb: str
    version: str
    patch_type: str = ""
    body_duplicates: list[str] = field(default_factory=list)
    positions: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


_current: ContextVar[Request | None] = ContextVar("kubeapi_validation", default=None)


def current() -> Request | None:
    """Return the request being served, or None for a direct Python API call."""
    return _current.get()


@contextlib.contextmanager
def request(
    query: dict[str, str], verb: str, version: str, content_type: str = ""
) -> Iterator[Request]:
    """Serve one request with its `fieldValidation` directive in effect.

    Raises:
        ApiError: 400 for a `fieldValidation` value the server does not know.
    """
    directive = query.get("fieldValidation") or "Warn"
    if directive not in DIRECTIVES:
        raise bad_request(
            f'fieldValidation: Unsupported value: "{directive}": supported values: '
            '"Ignore", "Strict", "Warn"'
        )
    patch_type = content_type.split(";", maxsplit=1)[0].strip() if verb == "patch" else ""
    req = Request(directive, verb, version, patch_type)
    token = _current.set(req)
    try:
        yield req
    finally:
        _current.reset(token)


def warning_headers() -> list[str]:
    """Return the `Warning` header values for the request being served."""
    req = _current.get()
    if req is None:
        return []
    return ['299 - "' + w.replace("\\", "\\\\").replace('"', '\\"') + '"' for w in req.warnings]


def loads(data: bytes | str) -> Any:
    """Parse JSON as the API server's strict decoder does, remembering duplicate keys.

    An object that repeats a key keeps the last value, as Go's decoder does; the
    duplicates' paths are noted on the current request.
    """
    repeated: list[bool] = []

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            repeated.append(True)
            return DupDict(pairs)
        return obj

    value = json.loads(data, object_pairs_hook=hook)
    req = _current.get()
    if repeated and req is not None:
        found: list[str] = []
        positions: dict[str, int] = {}
        _duplicates(value, "", found, positions)
        req.body_duplicates = found
        req.positions = positions
    return value


def _duplicates(value: Any, path: str, found: list[str], positions: dict[str, int]) -> None:
    if isinstance(value, dict):
        seen: set[str] = set()
        pairs = value.pairs if isinstance(value, DupDict) else value.items()
        for key, _item in pairs:
            child = f"{path}.{key}" if path else key
            if key in seen:
                found.append(child)
                positions[f"dup:{child}"] = len(positions)
                continue
            seen.add(key)
            positions[child] = len(positions)
            _duplicates(value[key], child, found, positions)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _duplicates(item, f"{path}[{index}]", found, positions)
