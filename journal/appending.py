"""From entries to chained rows: validation, canonical text, seq and hashes (no I/O).

:func:`prepare` checks an :class:`~journal.record.Entry` and writes its data
and timestamp in their canonical text once; :func:`chain` numbers prepared
entries from a journal's head and hashes each onto the one before. The rows
come out in the record columns' order, so :func:`journal.reading.row_to_record`
turns them into exactly the records a read returns; a writer that never reads
its records back (the controller's) skips that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from journal.chain import canonical_json, record_hash_of_text
from journal.errors import JournalValueError
from journal.record import Entry, new_record_id
from journal.timefmt import format_ts, utc_now
from records import kinds as kinds_module

#: The longest namespace, object and correlation id a record may carry.
LIMITS = {"namespace": 253, "object": 320, "correlation_id": 64}

#: One chained row: the record columns' values, in their order.
Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Prepared:
    """An entry validated and serialised, waiting for its seq and hashes."""

    kind: str
    namespace: str | None
    object: str | None
    correlation_id: str | None
    leader_epoch: int | None
    data_text: str
    ts_text: str


def prepare(entry: Entry) -> Prepared:
    """Validate ``entry`` and write its data and timestamp as canonical text.

    Raises:
        JournalValueError: A field the journal cannot store, named.
    """
    kind = entry.kind
    if not isinstance(kind, str) or not kinds_module.is_well_formed(kind):
        raise JournalValueError(
            f"invalid kind {kind!r}: expected lower-case dotted words such as restart.planned"
        )
    for name, limit in LIMITS.items():
        value = getattr(entry, name)
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            raise JournalValueError(f"{name} must be a non-empty string or None")
        if len(value) > limit:
            raise JournalValueError(f"{name} is longer than {limit} characters")
        if not value.isascii():
            check_text(value)
    epoch = entry.leader_epoch
    if epoch is not None and (isinstance(epoch, bool) or not isinstance(epoch, int)):
        raise JournalValueError("leader_epoch must be a whole number or None")
    if epoch is not None and epoch < 0:
        raise JournalValueError("leader_epoch must not be negative")
    if not isinstance(entry.data, dict):
        raise JournalValueError("data must be a JSON object (a dict)")
    try:
        data_text = canonical_json(entry.data)
        if not data_text.isascii():
            data_text.encode("utf-8")  # a lone surrogate cannot be stored or hashed
    except (TypeError, ValueError) as error:
        raise JournalValueError(f"data is not valid JSON for the journal: {error}") from None
    moment = utc_now() if entry.ts is None else entry.ts
    try:
        ts_text = format_ts(moment)
    except (AttributeError, ValueError) as error:
        raise JournalValueError(f"ts must be an aware datetime: {error}") from None
    return Prepared(
        kind, entry.namespace, entry.object, entry.correlation_id, epoch, data_text, ts_text
    )


def chain(prepared: list[Prepared], head_seq: int, head_hash: str, actor: str) -> list[Row]:
    """Number ``prepared`` on from ``head_seq`` and hash each onto the one before.

    Returns the rows to insert, in the record columns' order: ``seq``, ``id``,
    ``ts``, ``kind``, ``namespace``, ``object``, ``correlation_id``, ``actor``,
    ``leader_epoch``, ``data``, ``prev_hash``, ``hash``.
    """
    rows: list[Row] = []
    seq, prev = head_seq, head_hash
    for item in prepared:
        seq += 1
        record_id = new_record_id()
        digest = record_hash_of_text(
            seq=seq,
            id=record_id,
            ts=item.ts_text,
            kind=item.kind,
            namespace=item.namespace,
            object=item.object,
            correlation_id=item.correlation_id,
            actor=actor,
            leader_epoch=item.leader_epoch,
            data_text=item.data_text,
            prev_hash=prev,
        )
        rows.append(
            (
                seq,
                record_id,
                item.ts_text,
                item.kind,
                item.namespace,
                item.object,
                item.correlation_id,
                actor,
                item.leader_epoch,
                item.data_text,
                prev,
                digest,
            )
        )
        prev = digest
    return rows


def check_text(value: str) -> None:
    """Refuse text SQLite and the hash cannot take as UTF-8 (a lone surrogate).

    Raises:
        JournalValueError: Naming the value.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise JournalValueError(f"{value!r} is not valid text (lone surrogate)") from None
