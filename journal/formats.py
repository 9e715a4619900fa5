"""Record output formats: ``short``, ``json``, ``json-pretty``, ``json-seq``.

``json`` is one compact object per line (the contract's record object);
``json-seq`` is RFC 7464 (each object preceded by the ASCII record separator
0x1E and followed by a newline); ``json-pretty`` indents each object.
``short`` is one line for people::

    2026-11-26T10:00:00.123456Z #42 helloworld-controller-0[3] restart.planned
        shipshape deployment/helloworld-test corr=8c0f1a2b {"configmap":"..."}

(on one line): time, ``#seq``, actor with ``[leader_epoch]`` when written as
leader, kind, namespace and object when set, the first 8 characters of the
correlation id, and the data as compact JSON.

Whatever a record holds, the output shows it and a terminal does not act on
it: ``short`` spells control and format characters out
(:func:`telemetry.text.printable`), the JSON forms write them as ``\\u``
escapes (the same JSON value).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from journal.chain import canonical_json
from journal.timefmt import format_ts
from telemetry.text import json_printable, printable

if TYPE_CHECKING:
    from journal.record import Record

FORMATS: tuple[str, ...] = ("short", "json", "json-pretty", "json-seq")
RECORD_SEPARATOR = "\x1e"


def format_short(record: Record, *, source: str | None = None) -> str:
    """Return the one-line ``short`` form of a record (``source``: its journal, if merged)."""
    parts = [format_ts(record.ts), f"#{record.seq}"]
    if source:
        parts.append(f"({source})")
    actor = record.actor
    if record.leader_epoch is not None:
        actor = f"{actor}[{record.leader_epoch}]"
    parts += [actor, record.kind]
    if record.namespace:
        parts.append(record.namespace)
    if record.object:
        parts.append(record.object)
    if record.correlation_id:
        parts.append(f"corr={record.correlation_id[:8]}")
    if record.data:
        parts.append(canonical_json(record.data))
    return " ".join(parts)


def format_record(record: Record, output: str, *, source: str | None = None) -> str:
    """Return a record in ``output`` format, including its line ending.

    Args:
        record: The record.
        output: One of :data:`FORMATS`.
        source: The journal it came from, when several are merged: shown in
            ``short`` and added as a ``journal`` key to the JSON forms.

    Raises:
        ValueError: For an unknown format.
    """
    if output == "short":
        return printable(format_short(record, source=source)) + "\n"
    if output not in FORMATS:
        raise ValueError(f"unknown output format {output!r}; expected one of {', '.join(FORMATS)}")
    obj = record.to_json()
    if source is not None:
        obj["journal"] = source
    if output == "json-pretty":
        return json_printable(json.dumps(obj, ensure_ascii=False, indent=2)) + "\n"
    line = json_printable(json.dumps(obj, ensure_ascii=False, separators=(",", ":"))) + "\n"
    return RECORD_SEPARATOR + line if output == "json-seq" else line
