"""A journal record as read back, and an entry to be appended."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from journal.timefmt import format_ts

#: The record's fields in the contract's order (``tail -o json`` key order).
FIELDS: tuple[str, ...] = (
    "seq",
    "id",
    "ts",
    "kind",
    "namespace",
    "object",
    "correlation_id",
    "actor",
    "leader_epoch",
    "data",
    "prev_hash",
    "hash",
)


@dataclass(frozen=True, slots=True)
class Record:
    """One committed journal record, with exactly the contract's fields.

    Attributes:
        seq: Strictly increasing position in the journal; the public cursor.
        id: The record's UUID (version 7 from :func:`new_record_id`; older records: version 4).
        ts: When it was written, aware, UTC, microsecond precision.
        kind: One of :mod:`records.kinds` (or a later, well-formed kind).
        namespace: Kubernetes namespace the record is about, if any.
        object: ``configmap/NAME``, ``deployment/NAME`` or ``lease/NAME``, if any.
        correlation_id: Shared by one change's whole chain of records.
        actor: The controller identity (pod name), or ``cli:USER``.
        leader_epoch: The Lease's ``leaseTransitions`` when written by a leader.
        data: The kind-specific payload (JSON object).
        prev_hash: ``hash`` of the previous record (``GENESIS`` for the first).
        hash: SHA-256 of this record's canonical form (:mod:`journal.chain`).
        cluster: The cluster a record shipped into a central journal came from.
        stream: The shipped chain it belongs to (``CLUSTER/ID``).
        stream_seq: Its seq in the source journal, the seq its hash covers.

    The last three are outside the hash and ``None`` but in a central journal
    (``shipshape-journal ship``); :meth:`to_json` shows them only when set.
    """

    seq: int
    id: str
    ts: datetime
    kind: str
    namespace: str | None
    object: str | None
    correlation_id: str | None
    actor: str
    leader_epoch: int | None
    data: dict[str, Any]
    prev_hash: str
    hash: str
    cluster: str | None = None
    stream: str | None = None
    stream_seq: int | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the record as the ``tail -o json`` object (``ts`` as RFC 3339 text)."""
        shipped = {
            name: value
            for name, value in (
                ("cluster", self.cluster),
                ("stream", self.stream),
                ("stream_seq", self.stream_seq),
            )
            if value is not None
        }
        return {
            "seq": self.seq,
            "id": self.id,
            "ts": format_ts(self.ts),
            "kind": self.kind,
            "namespace": self.namespace,
            "object": self.object,
            "correlation_id": self.correlation_id,
            "actor": self.actor,
            "leader_epoch": self.leader_epoch,
            "data": self.data,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
            **shipped,
        }


@dataclass(frozen=True, slots=True)
class Entry:
    """A record to append (the fields the caller chooses) for :meth:`Journal.append_many`.

    ``ts`` defaults to the moment of the append; the journal assigns ``seq``,
    ``id``, ``actor``, ``prev_hash`` and ``hash``.
    """

    kind: str
    namespace: str | None = None
    object: str | None = None
    correlation_id: str | None = None
    leader_epoch: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
    ts: datetime | None = None


def new_record_id() -> str:
    """A new record's ``id``: a UUIDv7 (RFC 9562, section 5.7).

    Its first 48 bits are the Unix time in milliseconds and the other 74
    free bits random, so ids grow with time: the unique index on ``id`` is
    appended to rather than written at a random page for every record, which
    makes a commit write fewer pages to the WAL and the index pack fuller.
    (Python 3.14's ``uuid.uuid7`` does the same; records written before this
    carry random version-4 ids, and nothing reads the version.)
    """
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")  # 80 bits: 74 used
    value = (
        (millis & 0xFFFF_FFFF_FFFF) << 80
        | 0x7 << 76  # version 7
        | (rand >> 68) << 64  # 12 random bits
        | 0b10 << 62  # the RFC's variant
        | rand & ((1 << 62) - 1)  # 62 random bits
    )
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
