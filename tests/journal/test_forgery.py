"""An attacker who can write the SQLite file but holds no private key.

Real SQLite files and Ed25519 keys; every edit is re-chained with the
documented canonical form and the seq counter set to match, so that only the
signatures can tell. Each forgery either fails ``verify --public-key`` or is
reported as not signed (and fails ``--require-signed``).
"""

from __future__ import annotations

import pytest

from journal import Entry, Journal, kinds, verify
from journal.chain import canonical_json
from journal.checkpoints import CheckpointWriter, verify_signed
from journal.signing import load_public_key, load_signing_key
from journal.timefmt import format_ts
from records import JournalVacuumed
from tests.journal.signing_helpers import execute, rechain, write_key_pair

ACTOR = "helloworld-controller-0"


@pytest.fixture
def keys(tmp_path):
    return write_key_pair(tmp_path, "a")


def _signed(path, private, count: int, every: int = 5) -> None:
    signer = load_signing_key(private)
    with CheckpointWriter(Journal.open(path, actor=ACTOR), signer, every_records=every) as writer:
        for i in range(count):
            writer.append_many([Entry(kind=kinds.OPERATOR_NOTE, data={"text": f"amount {i}"})])


def _records(path):
    with Journal.open(path, readonly=True) as reader:
        return list(reader.read())


def _check(path, public, *, require_signed=False):
    with Journal.open(path, readonly=True) as reader:
        assert verify(reader).ok, "the plain chain must be fooled for the probe to mean anything"
        return verify_signed(reader, [load_public_key(public)], require_signed=require_signed)


def _count_as_stored(path) -> None:
    execute(
        path,
        "UPDATE sqlite_sequence SET seq = (SELECT max(seq) FROM journal_records) "
        "WHERE name = 'journal_records'",
    )


def _insert(path, seq: int, record_id: str, *, ts: str, kind: str, data: dict) -> None:
    execute(
        path,
        "INSERT INTO journal_records (seq, id, ts, kind, actor, data, prev_hash, hash) "
        "VALUES (?, ?, ?, ?, ?, ?, '', '')",
        seq,
        record_id,
        ts,
        kind,
        ACTOR,
        canonical_json(data),
    )


def test_the_actor_of_a_checkpoint_a_later_one_lists_cannot_be_changed(tmp_path, keys):
    path = tmp_path / "j.db"
    _signed(path, keys[0], 12)
    first = next(r for r in _records(path) if r.kind == kinds.JOURNAL_CHECKPOINT)
    execute(path, "UPDATE journal_records SET actor = 'mallory' WHERE seq = ?", first.seq)
    rechain(path, after=first.seq - 1)
    result = _check(path, keys[1])
    assert (result.ok, result.bad_seq) == (False, first.seq)
    assert "differs from the one the checkpoint at seq" in str(result.reason)


def test_records_slipped_in_before_the_last_checkpoint_are_not_signed(tmp_path, keys):
    # Moving the last checkpoint past forged records does not make them signed:
    # it still covers the seq it signed.
    path = tmp_path / "j.db"
    _signed(path, keys[0], 5)
    last = _records(path)[-1]
    assert (last.seq, last.kind) == (6, kinds.JOURNAL_CHECKPOINT)
    execute(path, "UPDATE journal_records SET seq = 9 WHERE seq = 6")
    for seq in (6, 7, 8):
        _insert(
            path,
            seq,
            f"forged-{seq}",
            ts=format_ts(last.ts),
            kind=kinds.OPERATOR_NOTE,
            data={"text": "approved"},
        )
    rechain(path)
    _count_as_stored(path)
    result = _check(path, keys[1])
    assert result.ok and result.signed_through == 5
    assert "3 records after seq 5 are not yet signed" in result.summary()
    strict = _check(path, keys[1], require_signed=True)
    assert (strict.ok, strict.bad_seq) == (False, 6)


def test_a_checkpoint_of_another_journal_by_the_same_key_fails(tmp_path, keys):
    ours, theirs = tmp_path / "ours.db", tmp_path / "theirs.db"
    _signed(ours, keys[0], 5)
    _signed(theirs, keys[0], 5)
    foreign = _records(theirs)[-1]
    execute(ours, "DELETE FROM journal_records WHERE seq = 6")
    _insert(
        ours, 6, "spliced", ts=foreign.data["ts"], kind=kinds.JOURNAL_CHECKPOINT, data=foreign.data
    )
    rechain(ours)
    result = _check(ours, keys[1])
    assert (result.ok, result.bad_seq) == (False, 1)
    assert "differs from the one the checkpoint at seq 6 signed" in str(result.reason)


def test_a_forged_tombstone_hiding_signed_records_is_not_signed(tmp_path, keys):
    # Deleting a signed prefix and appending a tombstone for it looks like a
    # vacuum to the chain; without the key the tombstone stays unsigned.
    path = tmp_path / "j.db"
    _signed(path, keys[0], 10)
    records = _records(path)
    removed = records[:6]  # seq 1..6: five notes and their checkpoint
    head = records[-1]
    tombstone = JournalVacuumed(
        cutoff=format_ts(head.ts),
        removed_records=len(removed),
        first_removed_seq=1,
        last_removed_seq=removed[-1].seq,
        last_removed_hash=removed[-1].hash,
        last_removed_ts=format_ts(removed[-1].ts),
    )
    execute(path, "DELETE FROM journal_records WHERE seq <= ?", removed[-1].seq)
    _insert(
        path,
        head.seq + 1,
        "forged-tombstone",
        ts=format_ts(head.ts),
        kind=kinds.JOURNAL_VACUUMED,
        data=tombstone.to_data(),
    )
    rechain(path, after=head.seq)
    _count_as_stored(path)
    result = _check(path, keys[1])
    assert result.ok and result.signed_through == head.seq - 1
    assert f"1 record after seq {head.seq - 1} is not yet signed" in result.summary()
    strict = _check(path, keys[1], require_signed=True)
    assert (strict.ok, strict.bad_seq) == (False, head.seq + 1)
