"""Signed checkpoints: when writers sign the chain, and how ``verify`` checks them.

The hash chain alone catches accidents, not an attacker: whoever can write the
file can change a record and recompute every later hash. A checkpoint is a
``journal.checkpoint`` record whose data is a statement signed with an Ed25519
key the storage never sees (:mod:`journal.signing`): "seq S has hash H, and
records F..S have these hashes". Rewriting anything at or before S then needs
the private key.

Writing: :class:`CheckpointWriter` wraps a writer :class:`~journal.store.Journal`
and appends a checkpoint covering the head after at least every
:data:`EVERY_RECORDS` records, within :data:`EVERY_SECONDS` of the first
unsigned one (:meth:`CheckpointWriter.tick`) and when it closes. A checkpoint
is appended in its own write transaction, reading the head inside it, so it
always covers the record just before it, whoever wrote that.

Verifying: :func:`verify_signed` walks the chain (:func:`journal.verify.verify`)
and checks every checkpoint on the way: its key is known, its signature
holds, the records it lists still have the hashes it signed (naming the first
that does not), and its head hash matches the chain. Coverage is the highest
seq a valid checkpoint signed, not the position of the checkpoint record, so
a copy of an old checkpoint appended later covers nothing new. Records after
that are reported as not yet signed (a failure with ``require_signed``).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select
from sqlalchemy.exc import IntegrityError

from journal import kinds
from journal.errors import JournalError, JournalWriteError
from journal.models import records
from journal.record import Entry, Record
from journal.signing import (
    DIGEST_CHARS,
    SIGNED_FIELDS,
    PublicKey,
    Signer,
    decode_signature,
    sign_checkpoint,
    statement,
)
from journal.timefmt import format_ts, is_canonical_ts, utc_now
from journal.verify import VerifyResult, verify
from records import ABSENT, JournalCheckpoint, JournalVacuumed

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from journal.store import Journal

log = logging.getLogger(__name__)

#: A checkpoint follows at most this many records of one writer.
EVERY_RECORDS = 100
#: ... and at most this many seconds after the first record it covers.
EVERY_SECONDS = 10.0
#: Most digests one checkpoint lists (older records of a longer stretch are
#: still covered by the head hash, only not located individually).
MAX_DIGESTS = 1000
_ATTEMPTS = 3
_HEX = frozenset("0123456789abcdef")


# -- writing ------------------------------------------------------------------------


def write_checkpoint(
    journal: Journal, signer: Signer, *, now: datetime | None = None
) -> Record | None:
    """Append a checkpoint covering the current head; ``None`` when the head is one already.

    Raises:
        JournalWriteError: The write failed; nothing was written.
    """
    for attempt in range(_ATTEMPTS):
        try:
            with journal.transaction(write=True) as connection:
                return _write_checkpoint(journal, connection, signer, now)
        except JournalWriteError as error:
            # A database without BEGIN IMMEDIATE: another writer took the seq.
            if isinstance(error.__context__, IntegrityError) and attempt + 1 < _ATTEMPTS:
                continue
            raise
    raise AssertionError("unreachable")  # pragma: no cover


def _write_checkpoint(
    journal: Journal, connection: Connection, signer: Signer, now: datetime | None
) -> Record | None:
    head = connection.execute(
        select(records.c.seq, records.c.hash, records.c.kind)
        .order_by(records.c.seq.desc())
        .limit(1)
    ).first()
    if head is None or head[2] == kinds.JOURNAL_CHECKPOINT:
        return None
    head_seq, head_hash = head[0], head[1]
    previous = connection.execute(
        select(func.max(records.c.seq)).where(records.c.kind == kinds.JOURNAL_CHECKPOINT)
    ).scalar()
    # List the records since the previous checkpoint, that checkpoint included.
    start = max(previous or 0, head_seq - MAX_DIGESTS + 1)
    rows = connection.execute(
        select(records.c.seq, records.c.hash)
        .where(and_(records.c.seq >= start, records.c.seq <= head_seq))
        .order_by(records.c.seq)
    ).all()
    moment = now or utc_now()
    unsigned = JournalCheckpoint(
        seq=head_seq,
        head_hash=head_hash,
        ts=format_ts(moment),
        key_id=signer.key_id,
        from_seq=rows[0][0],
        digests=[row[1][:DIGEST_CHARS] for row in rows],
        signature="",
    )
    payload = sign_checkpoint(signer, unsigned)
    entry = Entry(kind=payload.KIND, data=payload.to_data(), ts=moment)
    (record,) = journal.insert_chained(connection, [journal.prepare(entry)])
    return record


class CheckpointWriter:
    """A journal writer that signs what it appends (see the module text for when).

    Offers the writer calls the controller and the CLI use (``append``,
    ``append_many``, ``close``, ``with``); :attr:`journal` is the wrapped writer
    for everything else (then call :meth:`appended`).
    """

    def __init__(
        self,
        journal: Journal,
        signer: Signer,
        *,
        every_records: int = EVERY_RECORDS,
        every_seconds: float = EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Sign ``journal``'s appends with ``signer``."""
        self._journal = journal
        self._signer = signer
        self._every_records = every_records
        self._every_seconds = every_seconds
        self._clock = clock
        self._unsigned = 0
        self._since: float | None = None
        self.last_checkpoint: Record | None = None
        self.last_error: str | None = None

    @property
    def journal(self) -> Journal:
        """The wrapped writer."""
        return self._journal

    @property
    def key_id(self) -> str:
        """The signing key's id."""
        return self._signer.key_id

    @property
    def unsigned(self) -> int:
        """Records this writer appended since its last checkpoint."""
        return self._unsigned

    def append(self, kind: str, **fields: Any) -> Record:
        """Append one record (as :meth:`Journal.append`), then checkpoint when due."""
        return self.append_many((Entry(kind=kind, **fields),))[0]

    def append_many(self, entries: Iterable[Entry]) -> list[Record]:
        """Append records in one transaction (as :meth:`Journal.append_many`), then tick.

        A failing checkpoint never fails the append (the records are durable):
        it is logged and tried again at the next tick.
        """
        result = self._journal.append_many(entries)
        self.appended(len(result))
        self.tick()
        return result

    def appended(self, count: int) -> None:
        """Count ``count`` records appended through :attr:`journal` directly."""
        if count > 0:
            self._unsigned += count
            if self._since is None:
                self._since = self._clock()

    def due(self) -> bool:
        """Whether a checkpoint is due now."""
        if not self._unsigned or self._since is None:
            return False
        return (
            self._unsigned >= self._every_records
            or self._clock() - self._since >= self._every_seconds
        )

    def tick(self) -> Record | None:
        """Append a checkpoint when one is due; errors are logged, not raised."""
        if not self.due():
            return None
        try:
            return self.checkpoint()
        except JournalError as error:
            self.last_error = " ".join(str(error).split())
            log.warning(
                "journal checkpoint failed; retrying at the next append",
                extra={"fields": {"unsigned": self._unsigned, "detail": self.last_error}},
            )
            return None

    def checkpoint(self) -> Record | None:
        """Append a checkpoint covering the head now (``None``: the head is one already).

        Raises:
            JournalWriteError: The write failed.
        """
        record = write_checkpoint(self._journal, self._signer)
        self._unsigned, self._since, self.last_error = 0, None, None
        if record is not None:
            self.last_checkpoint = record
        return record

    def close(self) -> None:
        """Sign what this writer appended, then close the journal.

        Raises:
            JournalWriteError: The closing checkpoint failed (the journal is closed anyway).
        """
        try:
            if self._unsigned:
                self.checkpoint()
        finally:
            self._journal.close()

    def __enter__(self) -> CheckpointWriter:
        """Return the writer for a ``with`` block."""
        return self

    def __exit__(self, *_exc: object) -> None:
        """Close (and sign) at the end of a ``with`` block."""
        self.close()


def removed_checkpoint_evidence(connection: Connection, last_removed: int) -> dict[str, Any] | None:
    """Return the latest checkpoint at or before ``last_removed`` for a vacuum tombstone.

    The tombstone keeps it (record seq, hash and signed data) so the removed
    part stays vouched for by a signature after its records are gone.
    """
    row = connection.execute(
        select(records.c.seq, records.c.hash, records.c.data)
        .where(and_(records.c.kind == kinds.JOURNAL_CHECKPOINT, records.c.seq <= last_removed))
        .order_by(records.c.seq.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    try:
        data = json.loads(row[2])
    except (TypeError, ValueError):
        return None
    return JournalVacuumed.keep_checkpoint(row[0], row[1], data)


# -- verifying ----------------------------------------------------------------------


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

    def unsigned_line(self) -> str | None:
        """Return the line about records not yet signed, or ``None`` when all are."""
        if not self.unsigned:
            return None
        noun = "record" if self.unsigned == 1 else "records"
        verb = "is" if self.unsigned == 1 else "are"
        if not self.signed_through:
            return f"{self.unsigned} {noun} {verb} not yet signed (no valid checkpoint)"
        return f"{self.unsigned} {noun} after seq {self.signed_through} {verb} not yet signed"

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
        unsigned = self.unsigned_line()
        if unsigned is not None:
            lines.append(unsigned)
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """Return the result as a JSON object (manifests)."""
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
            "summary": self.summary(),
        }


class _Auditor:
    """Checks checkpoints as :func:`journal.verify.verify` walks the chain."""

    def __init__(
        self, journal: Journal, keys: Mapping[str, PublicKey], watch_seq: int | None = None
    ) -> None:
        self._journal = journal
        self._watch = watch_seq
        self.covering: Checkpoint | None = None
        self._keys = keys
        self._recent: OrderedDict[int, str] = OrderedDict()
        self._tombstone: tuple[int, str] | None = None
        self.checkpoints = 0
        self.covered = 0
        self.last: Checkpoint | None = None
        self.key_ids: set[str] = set()
        self.vacuumed_evidence: Checkpoint | None = None

    def __call__(self, row: Sequence[Any]) -> tuple[int, str] | None:
        seq, kind, digest = row[0], row[3], row[11]
        finding = None
        if kind == kinds.JOURNAL_CHECKPOINT:
            finding = self._checkpoint(seq, json.loads(row[9]))
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
        for row in self._journal.scan(
            after_seq=seq - 1, limit=1, columns=(records.c.seq, records.c.hash)
        ):
            if row[0] == seq:
                return row[1]
        return None

    def _signed(self, seq: int, data: Any, what: str) -> tuple[Checkpoint | None, str | None]:
        """Check a checkpoint's shape, key and signature; return it or the problem."""
        if not isinstance(data, dict) or not all(name in data for name in SIGNED_FIELDS):
            return None, f"{what} is malformed (fields missing)"
        payload = JournalCheckpoint.from_data(data)
        covers, head, ts, key = payload.seq, payload.head_hash, payload.ts, payload.key_id
        start, digests = payload.from_seq, payload.digests
        if (
            not _whole(covers)
            or not _whole(start)
            or not _hex(head, 64)
            or not isinstance(ts, str)
            or not is_canonical_ts(ts)
            or not isinstance(key, str)
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
                    f"record differs from the one the checkpoint at seq {seq} signed "
                    f"(changed, or re-chained after a change; key {checkpoint.key_id})"
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
        self.checkpoints += 1
        self.key_ids.add(checkpoint.key_id)
        if covers > self.covered:
            self.covered, self.last = covers, checkpoint
        if self.covering is None and self._watch is not None and covers >= self._watch:
            self.covering = checkpoint
        return None

    def _vacuumed(self, seq: int, data: Any) -> tuple[int, str] | None:
        if not isinstance(data, dict):
            return None
        tombstone = JournalVacuumed.from_data(data)
        through, digest = tombstone.last_removed_seq, tombstone.last_removed_hash
        if _whole(through) and isinstance(digest, str):
            self._tombstone = (through, digest)
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


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _hex(value: object, length: int) -> bool:
    return isinstance(value, str) and len(value) == length and set(value) <= _HEX


def verify_signed(
    journal: Journal,
    keys: Iterable[PublicKey],
    *,
    require_signed: bool = False,
    watch_seq: int | None = None,
) -> SignedVerifyResult:
    """Verify the chain and every checkpoint against the trusted ``keys``.

    Fails (naming the first bad seq) on a chain break, a checkpoint by an
    unknown key or with a bad signature, a record that differs from what a
    checkpoint signed, and, with ``require_signed``, on records after the
    last valid checkpoint. ``watch_seq``: also find the first valid checkpoint
    covering that seq (:attr:`SignedVerifyResult.covering`).
    """
    auditor = _Auditor(journal, {key.key_id: key for key in keys}, watch_seq)
    chain = verify(journal, observe=auditor)
    common: dict[str, Any] = {
        "checkpoints": auditor.checkpoints,
        "signed_through": auditor.covered,
        "key_ids": tuple(sorted(auditor.key_ids)),
        "last": auditor.last,
        "vacuumed_evidence": auditor.vacuumed_evidence,
        "covering": auditor.covering,
    }
    if not chain.ok:
        return SignedVerifyResult(
            chain=chain, ok=False, bad_seq=chain.bad_seq, reason=chain.reason, **common
        )
    unsigned, first_unsigned = _unsigned(journal, auditor.covered, chain.head_seq)
    result = SignedVerifyResult(
        chain=chain, ok=True, unsigned=unsigned, first_unsigned=first_unsigned, **common
    )
    if require_signed and unsigned:
        return SignedVerifyResult(
            chain=chain,
            ok=False,
            unsigned=unsigned,
            first_unsigned=first_unsigned,
            bad_seq=first_unsigned,
            reason=f"{result.unsigned_line()} (--require-signed)",
            **common,
        )
    return result


def _unsigned(journal: Journal, covered: int, head: int) -> tuple[int, int | None]:
    """Count the records (checkpoints aside) in ``covered``+1..``head``."""
    condition = and_(
        records.c.seq > covered,
        records.c.seq <= head,
        records.c.kind != kinds.JOURNAL_CHECKPOINT,
    )
    with journal.transaction() as connection:
        count, first = connection.execute(
            select(func.count(), func.min(records.c.seq)).where(condition)
        ).one()
    return int(count), first


def sign_file(signer: Signer, path: Path) -> Path:
    """Write the detached Ed25519 signature of ``path``'s bytes to ``<path>.sig``.

    The signature is over the file exactly (no prefix), so
    ``openssl pkeyutl -verify -pubin -inkey KEY.pub.pem -rawin -in FILE -sigfile FILE.sig``
    checks it with the public key alone.
    """
    target = Path(f"{path}.sig")
    signature = signer.sign(path.read_bytes())
    with target.open("xb") as handle:
        handle.write(signature)
        handle.flush()
        os.fsync(handle.fileno())
    return target


def drill_signing(
    frozen: Journal, through_seq: int, signer: Signer, names: Mapping[str, Path]
) -> dict[str, Any]:
    """Return the manifest's ``signing`` facts: the key, the signature file, the coverage."""
    result = verify_signed(frozen, [signer.public], watch_seq=through_seq)
    return {
        "key_id": signer.key_id,
        "manifest_signature": f"{names['manifest'].name}.sig",
        "through_seq": through_seq,
        "covering_checkpoint": result.covering.to_json() if result.covering else None,
        "verify": result.to_json(),
    }


def signing_lines(facts: Mapping[str, Any] | None) -> list[str]:
    """Return the drill report's section about signatures (empty when unsigned)."""
    if not facts:
        return []
    key, through = facts["key_id"], facts["through_seq"]
    lines = [
        "## Signatures",
        "",
        f"- Signing key: {key}",
        f"- The manifest is signed: {facts['manifest_signature']} (Ed25519 over the "
        "manifest's bytes).",
        f"- Verification with the signing key: {facts['verify']['summary'].splitlines()[0]}",
    ]
    covering = facts["covering_checkpoint"]
    if covering is None:
        lines.append(
            f"- No checkpoint signed by this key covers seq {through} (the drill window): "
            "it is not signed yet."
        )
    else:
        lines.append(
            f"- The drill window (through seq {through}) is covered by the checkpoint at "
            f"seq {covering['seq']}, signed {covering['ts']} by {covering['key_id']}, "
            f"covering seq {covering['covers_seq']} (head {covering['head_hash']})."
        )
    return [*lines, ""]
