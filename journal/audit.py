"""Verifying signed checkpoints: what ``verify --public-key`` checks.

:func:`verify_signed` walks the chain (:func:`journal.verify.verify`) and
checks every ``journal.checkpoint`` on the way (:mod:`journal.checkpoints`
writes them): its key is known, its signature holds, the records it lists
still have the hashes it signed (naming the first that does not), and its
head hash matches the chain. Coverage is the highest seq a valid checkpoint
signed, not the position of the checkpoint record, so a copy of an old
checkpoint appended later covers nothing new. Records after that are reported
as not yet signed (a failure with ``require_signed``). A vacuum tombstone's
kept checkpoint is checked the same way, so the removed records stay vouched for.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select

from journal.models import records
from journal.signing import (
    DIGEST_CHARS,
    KEY_ID_PREFIX,
    MAX_DIGESTS,
    SIGNED_FIELDS,
    PublicKey,
    decode_signature,
    statement,
)
from journal.timefmt import is_canonical_ts
from journal.verify import VerifyResult, is_seq, tombstone_anchor, verify
from records import ABSENT, JournalCheckpoint, JournalVacuumed, kinds

if TYPE_CHECKING:
    from journal.store import Journal

_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint that verified: the record's seq, what it covers, who signed."""

    seq: int
    covers_seq: int
    head_hash: str
    key_id: str
    ts: str

    def to_json(self) -> dict[str, Any]:
        """Return the checkpoint as a JSON object."""
        return {
            "seq": self.seq,
            "covers_seq": self.covers_seq,
            "head_hash": self.head_hash,
            "key_id": self.key_id,
            "ts": self.ts,
        }


@dataclass(frozen=True)
class StreamSigning:
    """The signatures of one stream shipped into a central journal (seqs: the source's)."""

    stream: str
    checkpoints: int = 0
    signed_through: int = 0
    unsigned: int = 0
    first_unsigned: int | None = None
    key_ids: tuple[str, ...] = ()
    repeated: tuple[tuple[int, int], ...] = ()

    def lines(self) -> list[str]:
        """Return the lines ``verify --public-key`` prints about the stream."""
        count = f"{self.checkpoints} signed checkpoint{'s' if self.checkpoints != 1 else ''}"
        if self.signed_through:
            count += f", signed through seq {self.signed_through} by {', '.join(self.key_ids)}"
        lines = [f"stream {self.stream}: {count}"]
        lines += [f"stream {self.stream}: {line}" for line in _repeated_lines(self.repeated)]
        if self.unsigned:
            lines.append(
                f"stream {self.stream}: {_unsigned_text(self.unsigned, self.signed_through)}"
            )
        return lines

    def to_json(self) -> dict[str, Any]:
        """Return the stream's signatures as a JSON object."""
        return {
            "stream": self.stream,
            "checkpoints": self.checkpoints,
            "signed_through": self.signed_through,
            "unsigned": self.unsigned,
            "first_unsigned": self.first_unsigned,
            "key_ids": list(self.key_ids),
            "repeated": [{"seq": seq, "covers_seq": covers} for seq, covers in self.repeated],
        }


def _repeated_lines(repeated: Sequence[tuple[int, int]]) -> list[str]:
    """Lines about valid checkpoints that cover nothing new: copies of earlier ones.

    A writer's checkpoint always covers the head, past every earlier
    checkpoint, so one that does not advance the coverage was put there by
    someone else: it proves nothing wrong by itself, but is worth a look.
    """
    lines = [
        f"checkpoint at seq {seq} covers seq {covers} again, which an earlier one "
        "signed: a copy (not counted; a writer never writes one)"
        for seq, covers in repeated[:3]
    ]
    if len(repeated) > 3:
        lines.append(f"... and {len(repeated) - 3} more such copies")
    return lines


def _unsigned_text(unsigned: int, signed_through: int) -> str:
    noun = "record" if unsigned == 1 else "records"
    verb = "is" if unsigned == 1 else "are"
    if not signed_through:
        return f"{unsigned} {noun} {verb} not yet signed (no valid checkpoint)"
    return f"{unsigned} {noun} after seq {signed_through} {verb} not yet signed"


@dataclass(frozen=True)
class SignedVerifyResult:
    """The outcome of :func:`verify_signed`: the chain's, then the signatures'.

    Attributes:
        chain: The hash-chain walk (its ``bad_seq`` is the first bad seq of either).
        ok: Whether chain and checkpoints verified (and, when required, all is signed).
        checkpoints: Checkpoints that verified.
        signed_through: The highest seq a valid checkpoint covers (0: none).
        unsigned: Records (checkpoints aside) after ``signed_through``.
        first_unsigned: The first of them, if any.
        key_ids: Ids of the keys that signed valid checkpoints, sorted.
        last: The valid checkpoint covering ``signed_through``, if any.
        vacuumed_evidence: The removed checkpoint a tombstone kept, when it verified.
        covering: The first valid checkpoint covering ``watch_seq``, when asked.
        bad_seq: The first bad seq, when not ``ok``.
        reason: Why, when not ``ok``.
        streams: Each shipped stream's signatures (a central journal); the
            fields above are then the journal's own chain's.
        repeated: (seq, covered seq) of valid checkpoints that covered nothing
            new (copies of earlier ones; not counted in ``checkpoints``).
    """

    chain: VerifyResult
    ok: bool
    checkpoints: int = 0
    signed_through: int = 0
    unsigned: int = 0
    first_unsigned: int | None = None
    key_ids: tuple[str, ...] = ()
    last: Checkpoint | None = None
    vacuumed_evidence: Checkpoint | None = None
    covering: Checkpoint | None = None
    bad_seq: int | None = None
    reason: str | None = None
    streams: tuple[StreamSigning, ...] = ()
    repeated: tuple[tuple[int, int], ...] = ()

    def unsigned_line(self) -> str | None:
        """Return the line about records not yet signed, or ``None`` when all are."""
        if not self.unsigned:
            return None
        return _unsigned_text(self.unsigned, self.signed_through)

    def summary(self) -> str:
        """Return the lines ``verify --public-key`` prints (no trailing newline)."""
        if not self.ok:
            return f"FAILED: seq {self.bad_seq}: {self.reason}"
        lines = [
            f"OK: {self.chain.records} records, head {self.chain.head_hash}; "
            f"{self.checkpoints} signed checkpoint{'s' if self.checkpoints != 1 else ''}"
            + (
                f", signed through seq {self.signed_through} by {', '.join(self.key_ids)}"
                if self.signed_through
                else ""
            )
        ]
        if self.vacuumed_evidence is not None:
            lines.append(
                f"vacuumed records were signed through seq {self.vacuumed_evidence.covers_seq} "
                f"by {self.vacuumed_evidence.key_id}"
            )
        lines += _repeated_lines(self.repeated)
        unsigned = self.unsigned_line()
        if unsigned is not None:
            lines.append(unsigned)
        for stream in self.streams:
            lines += stream.lines()
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """Return the result as a JSON object (manifests; ``streams`` only when shipped)."""
        extra = {"streams": [s.to_json() for s in self.streams]} if self.streams else {}
        return {
            "ok": self.ok,
            "bad_seq": self.bad_seq,
            "reason": self.reason,
            "checkpoints": self.checkpoints,
            "signed_through": self.signed_through,
            "unsigned": self.unsigned,
            "first_unsigned": self.first_unsigned,
            "key_ids": list(self.key_ids),
            "last_checkpoint": self.last.to_json() if self.last else None,
            "repeated": [{"seq": seq, "covers_seq": covers} for seq, covers in self.repeated],
            "summary": self.summary(),
            **extra,
        }


class _Auditor:
    """Checks checkpoints as :func:`journal.verify.verify` walks the chain."""

    def __init__(
        self,
        journal: Journal,
        keys: Mapping[str, PublicKey],
        watch_seq: int | None = None,
        stream: str | None = None,
    ) -> None:
        self._journal = journal
        self._stream = stream
        self._watch = watch_seq
        self.covering: Checkpoint | None = None
        self._keys = keys
        self._recent: OrderedDict[int, str] = OrderedDict()
        # Where the chain's kept part is anchored, known before the walk: a
        # kept checkpoint may come before the tombstone and cover the last
        # removed record.
        self._tombstone = tombstone_anchor(journal, "" if stream is None else stream)
        self.checkpoints = 0
        self.covered = 0
        self._first: int | None = None  # the chain's first (kept) seq
        self.repeated: list[tuple[int, int]] = []
        self.last: Checkpoint | None = None
        self.key_ids: set[str] = set()
        self.vacuumed_evidence: Checkpoint | None = None

    def __call__(self, row: Sequence[Any]) -> tuple[int, str] | None:
        seq, kind, digest = row[0], row[3], row[11]
        if self._first is None:
            self._first = seq
        finding = None
        if kind == kinds.JOURNAL_CHECKPOINT:
            finding = self._checkpoint(seq, json.loads(row[9])) or _envelope(row)
        elif kind == kinds.JOURNAL_VACUUMED:
            finding = self._vacuumed(seq, json.loads(row[9]))
        self._recent[seq] = digest
        if len(self._recent) > MAX_DIGESTS + 1:
            self._recent.popitem(last=False)
        return finding

    def _hash_at(self, seq: int) -> str | None:
        known = self._recent.get(seq)
        if known is not None:
            return known
        if self._tombstone is not None and seq == self._tombstone[0]:
            return self._tombstone[1]
        if self._stream is not None:
            # A shipped stream: its checkpoints list the seqs of its source.
            with self._journal.transaction() as connection:
                return connection.execute(
                    select(records.c.hash).where(
                        records.c.stream == self._stream, records.c.stream_seq == seq
                    )
                ).scalar()
        for row in self._journal.scan(
            after_seq=seq - 1, limit=1, columns=(records.c.seq, records.c.hash)
        ):
            if row[0] == seq:
                return row[1]
        return None

    def _unlisted(self, listed: int, from_seq: int) -> str:
        """Say where else the change may be when the first listed record differs.

        A checkpoint lists at most :data:`MAX_DIGESTS` records: the ones before
        ``from_seq`` since the last signed coverage are vouched for by its head
        hash only, so a change there, re-chained, shows first at ``from_seq``.
        """
        low = max(self.covered + 1, self._first or 1)
        if listed != from_seq or low >= from_seq:
            return ""
        earlier = f"seq {low}" if low == from_seq - 1 else f"seq {low}..{from_seq - 1}"
        return (
            f"; the change may be in {earlier} before it, which the checkpoint vouches "
            "for by its head hash but does not list"
        )

    def _shipped(self, seq: int) -> str:
        """Name the stream of a shipped record the journal's own checkpoint listed."""
        if self._stream is not None:
            return ""
        with self._journal.transaction() as connection:
            row = connection.execute(
                select(records.c.stream, records.c.stream_seq).where(records.c.seq == seq)
            ).first()
        return "" if row is None or row[0] is None else f" (stream {row[0]} seq {row[1]})"

    def _signed(self, seq: int, data: Any, what: str) -> tuple[Checkpoint | None, str | None]:
        """Check a checkpoint's shape, key and signature; return it or the problem."""
        if not isinstance(data, dict) or not all(name in data for name in SIGNED_FIELDS):
            return None, f"{what} is malformed (fields missing)"
        payload = JournalCheckpoint.from_data(data)
        covers, head, ts, key = payload.seq, payload.head_hash, payload.ts, payload.key_id
        start, digests = payload.from_seq, payload.digests
        if (
            not is_seq(covers)
            or not is_seq(start)
            or not _hex(head, 64)
            or not isinstance(ts, str)
            or not is_canonical_ts(ts)
            or not isinstance(key, str)
            or not key.startswith(KEY_ID_PREFIX)
            or not _hex(key[len(KEY_ID_PREFIX) :], 64)
            or not isinstance(digests, list)
            or not all(_hex(d, DIGEST_CHARS) for d in digests)
            or not start <= covers
            or len(digests) != covers - start + 1
        ):
            return None, f"{what} is malformed"
        public = self._keys.get(key)
        if public is None:
            return None, f"{what} is signed by an unknown key {key} (give it with --public-key)"
        signature = decode_signature(payload.signature)
        if signature is None or not public.verify(statement(payload.to_data()), signature):
            return None, f"{what}'s signature does not verify with key {key} (forged or altered)"
        return Checkpoint(seq=seq, covers_seq=covers, head_hash=head, key_id=key, ts=ts), None

    def _checkpoint(self, seq: int, data: Any) -> tuple[int, str] | None:
        checkpoint, problem = self._signed(seq, data, "checkpoint")
        if checkpoint is None:
            return seq, str(problem)
        covers = checkpoint.covers_seq
        if covers >= seq:
            return seq, f"checkpoint covers seq {covers}, which is not before it"
        payload = JournalCheckpoint.from_data(data)
        for offset, signed in enumerate(payload.digests):
            listed = payload.from_seq + offset
            stored = self._hash_at(listed)
            if stored is not None and stored[:DIGEST_CHARS] != signed:
                return listed, (
                    f"record{self._shipped(listed)} differs from the one the checkpoint at "
                    f"seq {seq} signed (changed, or re-chained after a change; "
                    f"key {checkpoint.key_id})" + self._unlisted(listed, payload.from_seq)
                )
        stored = self._hash_at(covers)
        if stored is None:
            return seq, (
                f"checkpoint covers seq {covers}, which is no longer in the journal "
                "(a copied checkpoint?)"
            )
        if stored != checkpoint.head_hash:
            return covers, (
                f"hash does not match the head hash the checkpoint at seq {seq} signed "
                f"(key {checkpoint.key_id})"
            )
        if covers <= self.covered:  # a copy of an earlier one: vouches for nothing new
            self.repeated.append((seq, covers))
        else:
            self.checkpoints += 1
            self.key_ids.add(checkpoint.key_id)
            self.covered, self.last = covers, checkpoint
        if self.covering is None and self._watch is not None and covers >= self._watch:
            self.covering = checkpoint
        return None

    def _vacuumed(self, seq: int, data: Any) -> tuple[int, str] | None:
        if not isinstance(data, dict):
            return None
        tombstone = JournalVacuumed.from_data(data)
        through, digest = tombstone.last_removed_seq, tombstone.last_removed_hash
        if tombstone.last_removed_checkpoint in (None, ABSENT):
            return None
        kept = tombstone.kept_checkpoint()
        checkpoint, problem = self._signed(seq, kept, "the tombstone's removed checkpoint")
        if checkpoint is None:
            return seq, str(problem)
        if checkpoint.covers_seq == through and checkpoint.head_hash != digest:
            return seq, (
                "last_removed_hash does not match the head hash the removed checkpoint signed"
            )
        self.vacuumed_evidence = checkpoint
        return None


def _envelope(row: Sequence[Any]) -> tuple[int, str] | None:
    """Check the fields around a valid checkpoint's signed statement, as its writer sets them.

    The signature covers the statement's fields only: without this, the
    last checkpoint (no later one lists its hash), or a copy of a valid one,
    could carry further data fields, any time, namespace, object, correlation
    id or leader epoch and still pass as signed (``--require-signed``
    included). The writer writes the statement and signature as its data and
    stamps the record with the signed ``ts`` and nothing else.
    """
    seq, ts, namespace, obj, corr, epoch = row[0], row[2], row[4], row[5], row[6], row[8]
    data = json.loads(row[9])
    unsigned = sorted(set(data) - {*SIGNED_FIELDS, "signature"})
    if unsigned:
        return seq, (
            f"checkpoint's data holds {', '.join(unsigned)}, which its signature does not "
            "cover (the signed statement holds; the record around it was edited)"
        )
    signed_ts = JournalCheckpoint.from_data(data).ts  # valid: checked before
    edited = [
        name
        for name, value, expected in (
            ("ts", ts, signed_ts),
            ("namespace", namespace, None),
            ("object", obj, None),
            ("correlation_id", corr, None),
            ("leader_epoch", epoch, None),
        )
        if value != expected
    ]
    if not edited:
        return None
    verb = "is" if len(edited) == 1 else "are"
    return seq, (
        f"checkpoint record's {', '.join(edited)} {verb} not what its writer stamps "
        "(the signed statement holds; the record around it was edited)"
    )


def _hex(value: object, length: int) -> bool:
    return isinstance(value, str) and len(value) == length and set(value) <= _HEX


def verify_signed(
    journal: Journal,
    keys: Iterable[PublicKey],
    *,
    require_signed: bool = False,
    watch_seq: int | None = None,
    watch_stream: str | None = None,
) -> SignedVerifyResult:
    """Verify the chain and every checkpoint against the trusted ``keys``.

    Fails (naming the first bad seq) on a chain break, a checkpoint by an
    unknown key or with a bad signature, a record that differs from what a
    checkpoint signed, and, with ``require_signed``, on records after the
    last valid checkpoint. ``watch_seq``: also find the first valid checkpoint
    covering that seq (:attr:`SignedVerifyResult.covering`); with ``watch_stream``,
    the seq is that shipped stream's (its source's), and so is the checkpoint.

    A central journal's shipped streams are checked each on its own, by the
    seqs of their sources (:attr:`SignedVerifyResult.streams`).
    """
    trusted = {key.key_id: key for key in keys}
    auditor = _Auditor(journal, trusted, watch_seq if watch_stream is None else None)
    stream_auditors: dict[str, _Auditor] = {}

    def stream_auditor(stream: str) -> _Auditor:
        watch = watch_seq if stream == watch_stream else None
        stream_auditors[stream] = _Auditor(journal, trusted, watch, stream=stream)
        return stream_auditors[stream]

    chain = verify(journal, observe=auditor, observe_stream=stream_auditor)
    common: dict[str, Any] = {
        "checkpoints": auditor.checkpoints,
        "signed_through": auditor.covered,
        "key_ids": tuple(sorted(auditor.key_ids)),
        "repeated": tuple(auditor.repeated),
        "last": auditor.last,
        "vacuumed_evidence": auditor.vacuumed_evidence,
        "covering": (
            auditor.covering
            if watch_stream is None
            else getattr(stream_auditors.get(watch_stream), "covering", None)
        ),
    }
    if not chain.ok:
        return SignedVerifyResult(
            chain=chain, ok=False, bad_seq=chain.bad_seq, reason=chain.reason, **common
        )
    own = records.c.stream.is_(None) if stream_auditors else None
    unsigned, first_unsigned = _unsigned(journal, auditor.covered, chain.head_seq, own)
    streams = tuple(
        StreamSigning(
            stream,
            seen.checkpoints,
            seen.covered,
            *_unsigned(journal, seen.covered, None, records.c.stream == stream),
            key_ids=tuple(sorted(seen.key_ids)),
            repeated=tuple(seen.repeated),
        )
        for stream, seen in sorted(stream_auditors.items())
    )
    result = SignedVerifyResult(
        chain=chain,
        ok=True,
        unsigned=unsigned,
        first_unsigned=first_unsigned,
        streams=streams,
        **common,
    )
    if not require_signed:
        return result
    failing = [(first_unsigned, result.unsigned_line())] if unsigned else []
    failing += [
        (stream.first_unsigned, stream.lines()[-1]) for stream in streams if stream.unsigned
    ]
    if not failing:
        return result
    bad_seq, line = failing[0]
    return replace(result, ok=False, bad_seq=bad_seq, reason=f"{line} (--require-signed)")


def _unsigned(
    journal: Journal, covered: int, head: int | None, chain: Any = None
) -> tuple[int, int | None]:
    """Count one chain's records (checkpoints aside) after ``covered`` (through ``head``).

    ``chain``: the condition selecting the chain (a shipped stream is counted
    by ``stream_seq``); none for a journal that holds only its own.
    """
    position = records.c.seq if head is not None else records.c.stream_seq
    condition = and_(
        position > covered,
        records.c.kind != kinds.JOURNAL_CHECKPOINT,
        *([] if head is None else [position <= head]),
        *([] if chain is None else [chain]),
    )
    with journal.transaction() as connection:
        count, first = connection.execute(
            select(func.count(), func.min(position)).where(condition)
        ).one()
    return int(count), first
