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
from dataclasses import fields
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


def is_count(value: Any) -> bool:
    """Tell whether a payload value is an integer (a bool is not)."""
    return isinstance(value, int) and not isinstance(value, bool)


# The C scanner behind json.loads, called directly: payloads are the journal's
# own canonical JSON, and a replay parses hundreds of thousands of them.
_scan_json = json.JSONDecoder().scan_once


def parse_json(text: Any) -> dict[str, Any]:
    """The JSON object of a row's ``data`` text (``{}`` if it is none or not an object)."""
    try:
        value, _end = _scan_json(text, 0)
    except (StopIteration, TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def key_text(payload: type[Payload], name: str) -> str:
    """The JSON text of a payload field's key (``"data_hash"``), checked against the catalogue."""
    if name not in {item.name for item in fields(payload)}:
        raise AttributeError(f"{payload.__name__} has no field {name!r}")
    return json.dumps(name)


# Short payloads repeat: each distinct one is parsed once. Bounded, so memory
# stays constant over any journal.
MEMO_TEXT_MAX = 96
MEMO_ENTRIES = 4096


class Payloads:
    """Reads rows' payloads through the catalogue, remembering short repeated ones."""

    def __init__(self) -> None:
        """Start with an empty memo."""
        self._memo: dict[tuple[str, str], Payload | None] = {}

    def of(self, row: Any) -> Any:
        """The typed payload of a row (``None`` for a kind the catalogue does not know).

        Shared between rows with the same short text: read it, never change it.
        """
        text = row[DATA]
        if not isinstance(text, str) or len(text) > MEMO_TEXT_MAX:
            return parse(row[KIND], parse_json(text))
        key = (row[KIND], text)
        memo = self._memo
        if key in memo:
            return memo[key]
        if len(memo) >= MEMO_ENTRIES:
            memo.clear()
        value = memo[key] = parse(row[KIND], parse_json(text))
        return value


__all__ = [
    "REPLAY_COLUMNS",
    "REPLAY_PAGE_SIZE",
    "Payloads",
    "is_count",
    "key_text",
    "name_of",
    "parse_json",
    "seconds",
]
