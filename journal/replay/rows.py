"""The rows replay reads, and their payloads read once through the record catalogue.

A row is a tuple of :data:`REPLAY_COLUMNS`; the ``_SEQ``... indices name its
items. :class:`Payloads` turns a row's ``data`` text into the typed payload
of its kind (:func:`records.parse`): the JSON is parsed once per row, short
payloads that repeat (``{"reason":"unchanged"}`` after every relisted
ConfigMap, a standby's ``{"epoch":3,"holder":...}``) once per projector, and
handlers that can tell the answer without the payload do not ask for it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import MISSING, fields
from datetime import datetime
from typing import Any

from journal.models import records
from records import Payload, parse

# Columns replay reads, in this order.
REPLAY_COLUMNS = (
    records.c.seq,
    records.c.ts,
    records.c.kind,
    records.c.namespace,
    records.c.object,
    records.c.correlation_id,
    records.c.actor,
    records.c.leader_epoch,
    records.c.data,
)
SEQ, TS, KIND, NS, OBJ, CORR, ACTOR, EPOCH, DATA = range(9)
# Larger pages than interactive reads: fewer statements per million records.
REPLAY_PAGE_SIZE = 5000


def seconds(ts: str) -> float:
    """The POSIX seconds of a stored timestamp."""
    return datetime.fromisoformat(ts).timestamp()


def name_of(obj: str | None) -> str | None:
    """The name of an object column value (``deployment/NAME`` gives ``NAME``)."""
    if not obj:
        return None
    return obj.split("/", 1)[1] if "/" in obj else obj


def source_label(obj: str) -> str:
    """How replay names a source: a ConfigMap by its name (as it always has), a Secret
    as ``secret/NAME`` (the ``configmap`` field of restart records names them alike)."""
    return obj[len("configmap/") :] if obj.startswith("configmap/") else obj


def workload_key(obj: str | None) -> str:
    """The workload an object column names, as ``kind/name``.

    ``statefulset/db`` stays itself; a bare name or none (older records) is a
    Deployment's, as replay always read them: ``deployment/NAME``,
    ``deployment/?``.
    """
    if not obj or "/" not in obj:
        return f"deployment/{obj or '?'}"
    return obj if obj[-1] != "/" else f"{obj}?"


def is_count(value: Any) -> bool:
    """Tell whether a payload value is an integer (a bool is not)."""
    return isinstance(value, int) and not isinstance(value, bool)


# The C scanner behind json.loads, called directly: payloads are the journal's
# own canonical JSON, and a replay parses hundreds of thousands of them.
scan_json = json.JSONDecoder().scan_once


def parse_json(text: Any) -> dict[str, Any]:
    """The JSON object of a row's ``data`` text (``{}`` if it is none or not an object)."""
    try:
        value, _end = scan_json(text, 0)
    except (StopIteration, TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def reader(payload: type[Payload], *names: str) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A fast read of some fields of a payload from its parsed ``data``.

    ``reader(P, "a", "b")(data)`` equals ``(p.a, p.b)`` for
    ``p = P.from_data(data)`` (a missing key takes the field's default, else
    ``None``), without building ``p``: for the kinds a replay meets at every
    change. The names are checked against the catalogue when it is made.
    """
    declared = {item.name: item for item in fields(payload) if not item.metadata.get("rest")}
    pairs = []
    for name in names:
        if name not in declared:
            raise AttributeError(f"{payload.__name__} has no field {name!r}")
        item = declared[name]
        default = None if item.default is MISSING else item.default
        pairs.append((name, default))
    wanted = tuple(pairs)
    if len(wanted) == 2:  # the common shapes, without a loop
        (first, first_default), (second, second_default) = wanted

        def read(data: Mapping[str, Any]) -> tuple[Any, ...]:
            get = data.get
            return get(first, first_default), get(second, second_default)

    else:

        def read(data: Mapping[str, Any]) -> tuple[Any, ...]:
            get = data.get
            return tuple([get(name, default) for name, default in wanted])

    return read


def keys(payload: type[Payload], *names: str) -> tuple[str, ...]:
    """The stored keys of some fields of a payload, checked against the catalogue.

    For the hottest handlers, which read ``data.get(KEY)`` inline (no call
    per row): ``data.get(key)`` equals the typed payload's field because each
    name must be a declared field without a default (a missing key reads as
    ``None`` both ways).
    """
    declared = {item.name: item for item in fields(payload) if not item.metadata.get("rest")}
    for name in names:
        if name not in declared:
            raise AttributeError(f"{payload.__name__} has no field {name!r}")
        if declared[name].default is not MISSING:
            raise ValueError(f"{payload.__name__}.{name} has a default: use reader()")
    return names


# Short payloads repeat: each distinct one is parsed once. Bounded, so memory
# stays constant over any journal.
MEMO_TEXT_MAX = 96
MEMO_ENTRIES = 4096


class Payloads:
    """Reads rows' payloads, remembering short repeated ones.

    :meth:`of` gives the typed payload (:func:`records.parse`); :meth:`data`
    the parsed ``data`` for a :func:`reader`. Both are shared between rows
    with the same short text: read them, never change them.
    """

    def __init__(self) -> None:
        """Start with empty memos."""
        self._data: dict[str, dict[str, Any]] = {}
        self._typed: dict[tuple[str, str], Payload | None] = {}

    def data(self, row: Any) -> dict[str, Any]:
        """The row's ``data`` parsed (``{}`` if it is none or not an object)."""
        text = row[DATA]
        if not isinstance(text, str) or len(text) > MEMO_TEXT_MAX:
            return parse_json(text)
        memo = self._data
        value = memo.get(text)
        if value is None:
            if len(memo) >= MEMO_ENTRIES:
                memo.clear()
            value = memo[text] = parse_json(text)
        return value

    def of(self, row: Any) -> Any:
        """The typed payload of a row (``None`` for a kind the catalogue does not know)."""
        text = row[DATA]
        if not isinstance(text, str) or len(text) > MEMO_TEXT_MAX:
            return parse(row[KIND], parse_json(text))
        key = (row[KIND], text)
        memo = self._typed
        if key in memo:
            return memo[key]
        if len(memo) >= MEMO_ENTRIES:
            memo.clear()
        value = memo[key] = parse(row[KIND], self.data(row))
        return value


__all__ = [
    "REPLAY_COLUMNS",
    "REPLAY_PAGE_SIZE",
    "Payloads",
    "is_count",
    "keys",
    "name_of",
    "parse_json",
    "reader",
    "scan_json",
    "seconds",
    "source_label",
    "workload_key",
]
