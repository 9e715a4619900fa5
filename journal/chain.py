"""The canonical serialisation of a record and its SHA-256 hash chain.

A record's hash is the SHA-256 (lower-case hex) of the UTF-8 bytes of its
canonical form: the JSON object of every field except ``hash`` itself, that is
``seq``, ``id``, ``ts``, ``kind``, ``namespace``, ``object``,
``correlation_id``, ``actor``, ``leader_epoch``, ``data`` and ``prev_hash``,
written with

- keys sorted (at every level, including inside ``data``),
- no whitespace (separators ``,`` and ``:``),
- non-ASCII characters as UTF-8, not ``\\u`` escapes,
- ``ts`` as the canonical timestamp text (``2026-11-26T10:00:00.123456Z``),
- integers in decimal, floats in the shortest form that reads back the same,
  and no NaN or infinity.

That object is exactly the ``tail -o json`` line without ``hash``, so anyone
can recompute a hash with a few lines of any language. ``prev_hash`` of the
first record is :data:`GENESIS` (64 zeros); after ``vacuum`` the first kept
record keeps its original ``prev_hash`` and the ``journal.vacuumed`` tombstone
records which hash that is (see :mod:`journal.retention`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

#: ``prev_hash`` of the first record of a journal, and ``head()`` of an empty one.
GENESIS = "0" * 64

_encoder = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")
)
# What that encoder writes for a string (``ensure_ascii=False``): the C escaper.
_string = json.encoder.encode_basestring


def canonical_json(value: Any) -> str:
    """Return the canonical JSON text of a JSON-compatible value.

    Raises:
        ValueError: For NaN or infinite floats.
        TypeError: For values JSON cannot represent.
    """
    return _encoder.encode(value)


def canonical_bytes(
    *,
    seq: int,
    id: str,
    ts: str,
    kind: str,
    namespace: str | None,
    object: str | None,
    correlation_id: str | None,
    actor: str,
    leader_epoch: int | None,
    data: dict[str, Any],
    prev_hash: str,
) -> bytes:
    """Return the bytes a record's hash is computed over."""
    return canonical_json(
        {
            "seq": seq,
            "id": id,
            "ts": ts,
            "kind": kind,
            "namespace": namespace,
            "object": object,
            "correlation_id": correlation_id,
            "actor": actor,
            "leader_epoch": leader_epoch,
            "data": data,
            "prev_hash": prev_hash,
        }
    ).encode("utf-8")


def record_hash(**fields: Any) -> str:
    """Return the hex SHA-256 of a record's canonical form (see :func:`canonical_bytes`)."""
    return hashlib.sha256(canonical_bytes(**fields)).hexdigest()


def record_hash_of_text(
    *,
    seq: int,
    id: str,
    ts: str,
    kind: str,
    namespace: str | None,
    object: str | None,
    correlation_id: str | None,
    actor: str,
    leader_epoch: int | None,
    data_text: str,
    prev_hash: str,
) -> str:
    """:func:`record_hash` from ``data`` already in canonical text (``canonical_json(data)``).

    The same bytes as :func:`canonical_bytes`: an object's canonical text is
    its members' canonical texts in key order, so the writer, which has the
    data's text already, does not encode the data a second time.
    """
    # The encoder's own string escaping, called directly: a record's other
    # members are strings, whole numbers and nulls, and going through
    # ``JSONEncoder.encode`` for each costs a fifth of an append.
    text = (
        f'{{"actor":{_string(actor)},"correlation_id":{_optional(correlation_id)},'
        f'"data":{data_text},"id":{_string(id)},"kind":{_string(kind)},'
        f'"leader_epoch":{_number(leader_epoch)},"namespace":{_optional(namespace)},'
        f'"object":{_optional(object)},"prev_hash":{_string(prev_hash)},'
        f'"seq":{_number(seq)},"ts":{_string(ts)}}}'
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _optional(value: str | None) -> str:
    return "null" if value is None else _string(value)


def _number(value: int | None) -> str:
    """A whole number as JSON writes one (``int.__repr__``, as the encoder does), or null."""
    return "null" if value is None else int.__repr__(value)
