"""Payloads of leadership terms, operators' notes and the journal's own records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from records import kinds
from records.payload import ABSENT, Absent, Payload, register, rest


@register
@dataclass(frozen=True)
class LeaderAcquired(Payload):
    """A term begins; ``await_relist`` (written only when true) defers acting to a relist.

    ``epoch`` is :data:`ABSENT` in a record without one (the record's
    ``leader_epoch`` then tells the term), as in the other ``leader.*`` kinds.
    """

    KIND = kinds.LEADER_ACQUIRED

    epoch: int | Absent | None = ABSENT
    previous_holder: str | Absent | None = ABSENT
    acquire_latency_seconds: float | Absent | None = ABSENT
    await_relist: bool | Absent = ABSENT
    detail: Mapping[str, Any] = rest()


@register
@dataclass(frozen=True)
class LeaderLost(Payload):
    """A term ends without a release: ``reason`` says why."""

    KIND = kinds.LEADER_LOST

    epoch: int | Absent | None = ABSENT
    reason: str | None = None
    seconds_since_renewal: float | Absent | None = ABSENT
    holder: str | Absent | None = ABSENT
    detail: Mapping[str, Any] = rest()


@register
@dataclass(frozen=True)
class LeaderReleased(Payload):
    """A term ends by giving the Lease up at shutdown."""

    KIND = kinds.LEADER_RELEASED

    epoch: int | Absent | None = ABSENT
    reason: str | None = None
    lease_cleared: bool | Absent = ABSENT
    error: str | Absent | None = ABSENT
    detail: Mapping[str, Any] = rest()


@register
@dataclass(frozen=True)
class LeaderObserved(Payload):
    """A standby saw ``holder`` lead in term ``epoch``."""

    KIND = kinds.LEADER_OBSERVED

    holder: str | None
    epoch: int | None


@register
@dataclass(frozen=True)
class OperatorNote(Payload):
    """An operator's annotation, or a disaster-recovery drill mark (``drill``)."""

    KIND = kinds.OPERATOR_NOTE

    text: str
    drill: str | Absent = ABSENT
    scenario: str | Absent = ABSENT


@register
@dataclass(frozen=True)
class JournalVacuumed(Payload):
    """The tombstone of a retention vacuum: what was removed, and its chain's end."""

    KIND = kinds.JOURNAL_VACUUMED

    cutoff: str
    removed_records: int
    first_removed_seq: int
    last_removed_seq: int
    last_removed_hash: str
    last_removed_ts: str
    #: The latest checkpoint among the removed records, kept so that they stay
    #: vouched for: ``{"seq", "hash", "data"}`` (the checkpoint record's seq and
    #: hash, and its signed ``data``); build it with :meth:`keep_checkpoint`.
    last_removed_checkpoint: Mapping[str, Any] | Absent | None = ABSENT
    #: The state as of ``last_removed_seq``: ``[namespace, object, hash, seq,
    #: ts]`` per ConfigMap, Secret (data hash) and workload (applied hash),
    #: sorted, with the seq and ts of the record each comes from (``replay --at``).
    state: Sequence[Sequence[Any]] | Absent | None = ABSENT

    @staticmethod
    def keep_checkpoint(seq: int, digest: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """The ``last_removed_checkpoint`` value for a checkpoint record (seq, hash, data)."""
        return {"seq": seq, "hash": digest, "data": data}

    def kept_checkpoint(self) -> Mapping[str, Any] | None:
        """The signed ``data`` of the checkpoint the tombstone kept (``None``: none, malformed)."""
        kept = self.last_removed_checkpoint
        data = kept.get("data") if isinstance(kept, Mapping) else None
        return data if isinstance(data, Mapping) else None


@register
@dataclass(frozen=True)
class JournalCheckpoint(Payload):
    """A signed statement of the chain's head (fields of ``journal.signing``)."""

    KIND = kinds.JOURNAL_CHECKPOINT

    seq: int
    head_hash: str
    ts: str
    key_id: str
    from_seq: int
    digests: Sequence[str]
    signature: str


@register
@dataclass(frozen=True)
class JournalShipped(Payload):
    """What one ``ship`` transaction copied into a central journal, in its own chain.

    The shipped rows' ``cluster`` and ``stream`` columns are outside their
    hashes (those are the source's); this record, in the central journal's
    own hash chain, states them, so that ``verify`` catches a relabelled row.
    ``last_hash`` (the hash of the stream's record at ``last_stream_seq``)
    ties the stream's name to its contents; ``actors`` are the source's
    writers of the records copied.
    """

    KIND = kinds.JOURNAL_SHIPPED

    stream: str
    cluster: str
    first_stream_seq: int
    last_stream_seq: int
    last_hash: str
    records: int
    actors: Sequence[str] | None
