"""Signed checkpoints in the library: when the writer signs, and what verify_signed catches.

Real SQLite files and real Ed25519 keys; the attacker edits the file with
sqlite3 and re-chains it with the documented canonical form.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from journal import Entry, Journal, kinds, vacuum, verify
from journal.chain import canonical_json  # a forger stores what verify expects
from journal.checkpoints import (
    EVERY_RECORDS,
    MAX_DIGESTS,
    CheckpointWriter,
    verify_signed,
    write_checkpoint,
)
from journal.signing import (
    DOMAIN,
    SigningKeyError,
    decode_signature,
    load_public_key,
    load_signing_key,
    sign_checkpoint,
    statement,
)
from records import JournalCheckpoint, JournalVacuumed
from tests.journal.signing_helpers import execute, forge, rechain, write_key_pair

ACTOR = "helloworld-controller-0"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def keys(tmp_path):
    return write_key_pair(tmp_path, "a")


def _note(i: int, ts: datetime | None = None) -> Entry:
    return Entry(kind=kinds.OPERATOR_NOTE, data={"text": f"amount {100 + i}"}, ts=ts)


def _signed_journal(path, private, count: int, *, batch: int = 1, method: str = "append_many"):
    signer = load_signing_key(private)
    with CheckpointWriter(Journal.open(path, actor=ACTOR), signer) as writer:
        append = getattr(writer, method)
        for start in range(0, count, batch):
            append([_note(i) for i in range(start, min(count, start + batch))])


def _records(path):
    with Journal.open(path, readonly=True) as reader:
        return list(reader.read())


def _check(path, *public, require_signed=False):
    with Journal.open(path, readonly=True) as reader:
        return verify_signed(
            reader, [load_public_key(p) for p in public], require_signed=require_signed
        )


def test_a_checkpoint_follows_every_100_records_and_the_close(tmp_path, keys):
    path = tmp_path / "j.db"
    _signed_journal(path, keys[0], 250)
    records = _records(path)
    checkpoints = [r for r in records if r.kind == kinds.JOURNAL_CHECKPOINT]
    assert [c.data["seq"] for c in checkpoints] == [100, 201, 252]
    for checkpoint in checkpoints:
        assert checkpoint.data["seq"] == checkpoint.seq - 1
        assert checkpoint.data["head_hash"] == checkpoint.prev_hash
        assert checkpoint.data["key_id"] == load_public_key(keys[1]).key_id
    # The digests list the records since the previous checkpoint, that one included.
    assert checkpoints[1].data["from_seq"] == 101
    assert len(checkpoints[1].data["digests"]) == 101
    result = _check(path, keys[1], require_signed=True)
    assert result.ok, result.summary()
    assert (result.checkpoints, result.signed_through, result.unsigned) == (3, 252, 0)


def test_write_many_is_counted_and_signed_as_append_many_is(tmp_path, keys):
    path = tmp_path / "j.db"
    _signed_journal(path, keys[0], 250, batch=3, method="write_many")
    checkpoints = [r for r in _records(path) if r.kind == kinds.JOURNAL_CHECKPOINT]
    assert [c.data["seq"] for c in checkpoints] == [102, 205, 252]
    result = _check(path, keys[1], require_signed=True)
    assert result.ok, result.summary()
    assert (result.checkpoints, result.signed_through, result.unsigned) == (3, 252, 0)


def test_the_signature_covers_exactly_the_documented_statement(tmp_path, keys):
    path = tmp_path / "j.db"
    _signed_journal(path, keys[0], 3)
    (checkpoint,) = [r for r in _records(path) if r.kind == kinds.JOURNAL_CHECKPOINT]
    data = checkpoint.data
    assert set(data) == {"seq", "head_hash", "ts", "key_id", "from_seq", "digests", "signature"}
    message = statement(data)
    assert message.startswith(DOMAIN)
    assert json.loads(message[len(DOMAIN) :]) == {k: v for k, v in data.items() if k != "signature"}
    public = load_public_key(keys[1])
    signature = decode_signature(data["signature"])
    assert signature is not None and public.verify(message, signature)
    assert not public.verify(message + b" ", signature)


def test_a_checkpoint_follows_within_ten_seconds_of_a_record(tmp_path, keys):
    path = tmp_path / "j.db"
    clock = Clock()
    writer = CheckpointWriter(
        Journal.open(path, actor=ACTOR), load_signing_key(keys[0]), clock=clock
    )
    writer.append_many([_note(1)])
    clock.now += 9.9
    assert writer.tick() is None, "not due before 10 s"
    clock.now += 0.1
    checkpoint = writer.tick()
    assert checkpoint is not None and checkpoint.data["seq"] == 1
    assert writer.tick() is None, "nothing new: no checkpoint of a checkpoint"
    clock.now += 60
    assert writer.tick() is None
    writer.close()
    kinds_written = [r.kind for r in _records(path)]
    assert kinds_written == [kinds.OPERATOR_NOTE, kinds.JOURNAL_CHECKPOINT]


def test_a_steady_stream_of_appends_is_signed_every_ten_seconds(tmp_path, keys):
    path = tmp_path / "j.db"
    clock = Clock()
    writer = CheckpointWriter(
        Journal.open(path, actor=ACTOR), load_signing_key(keys[0]), clock=clock
    )
    for i in range(12):  # one record every 3 s: no pause ever lets 10 s pass quietly
        writer.append_many([_note(i)])
        clock.now += 3
    checkpoints = [r for r in _records(path) if r.kind == kinds.JOURNAL_CHECKPOINT]
    # Due 10 s after the first unsigned record (seq 1 at 0 s, seq 7 at 15 s).
    assert [c.data["seq"] for c in checkpoints] == [5, 11]
    writer.close()
    assert _check(path, keys[1], require_signed=True).ok


def test_no_checkpoint_is_written_on_top_of_a_checkpoint(tmp_path, keys):
    path = tmp_path / "j.db"
    signer = load_signing_key(keys[0])
    first = CheckpointWriter(Journal.open(path, actor=ACTOR), signer)
    second = CheckpointWriter(Journal.open(path, actor="helloworld-controller-1"), signer)
    first.append_many([_note(1)])
    second.append_many([_note(2)])
    first.close()  # signs the head: the second writer's record too
    assert second.unsigned == 1
    second.close()
    assert [r.kind for r in _records(path)] == [
        kinds.OPERATOR_NOTE,
        kinds.OPERATOR_NOTE,
        kinds.JOURNAL_CHECKPOINT,
    ]
    with Journal.open(path, actor=ACTOR) as journal:
        assert write_checkpoint(journal, signer) is None


def test_a_checkpoint_lists_at_most_max_digests_records(tmp_path, keys):
    path = tmp_path / "j.db"
    signer = load_signing_key(keys[0])
    with Journal.open(path, actor=ACTOR) as journal:  # a long stretch nobody signed
        journal.append_many([_note(i) for i in range(MAX_DIGESTS + 1)])
        checkpoint = write_checkpoint(journal, signer)
    assert checkpoint is not None
    records = _records(path)
    assert checkpoint.data["seq"] == MAX_DIGESTS + 1
    assert checkpoint.data["from_seq"] == 2  # the newest MAX_DIGESTS records, exactly
    assert checkpoint.data["digests"] == [r.hash[:16] for r in records[1:-1]]
    assert len(checkpoint.data["digests"]) == MAX_DIGESTS
    result = _check(path, keys[1], require_signed=True)
    assert result.ok, result.summary()
    assert result.signed_through == MAX_DIGESTS + 1


def test_a_forgery_before_the_listed_records_names_where_it_may_be(tmp_path, keys):
    # Records 1..3 are signed; 3..1003 come in one batch, of which the next
    # checkpoint lists the newest MAX_DIGESTS only (from seq 5). Seq 4 is
    # changed and re-chained: the first listed record differs, and the line
    # must not let the reader believe the change is there.
    path = tmp_path / "j.db"
    _signed_journal(path, keys[0], 2)  # seq 1, 2 and the checkpoint at 3
    _signed_journal(path, keys[0], MAX_DIGESTS + 1, batch=MAX_DIGESTS + 1)
    first, second = [r for r in _records(path) if r.kind == kinds.JOURNAL_CHECKPOINT]
    assert (first.seq, second.data["from_seq"]) == (3, 5)
    forge(path, 4, {"text": "amount 900"})
    result = _check(path, keys[1])
    assert (result.ok, result.bad_seq) == (False, 5)
    assert str(result.reason).endswith(
        "; the change may be in seq 3..4 before it, which the checkpoint vouches for by its "
        "head hash but does not list"
    )


def test_a_big_batch_is_signed_right_after_it(tmp_path, keys):
    path = tmp_path / "j.db"
    _signed_journal(path, keys[0], 2 * EVERY_RECORDS + 50, batch=250)
    checkpoints = [r for r in _records(path) if r.kind == kinds.JOURNAL_CHECKPOINT]
    assert [c.data["seq"] for c in checkpoints] == [250]


def test_a_forged_and_rechained_record_fools_the_chain_but_not_the_signatures(tmp_path, keys):
    path = tmp_path / "j.db"
    _signed_journal(path, keys[0], 250)
    forge(path, 157, {"text": "amount 900"})
    with Journal.open(path, readonly=True) as reader:
        assert verify(reader).ok, "the re-chained journal fools the plain hash chain"
    result = _check(path, keys[1])
    assert not result.ok
    assert result.bad_seq == 157
    assert "differs from the one the checkpoint at seq 202 signed" in result.summary()


def test_a_forged_checkpoint_fails_its_signature(tmp_path, keys):
    path = tmp_path / "j.db"
    _signed_journal(path, keys[0], 120)
    checkpoint = next(r for r in _records(path) if r.kind == kinds.JOURNAL_CHECKPOINT)
    data = dict(checkpoint.data, ts="2030-01-01T00:00:00.000000Z")
    execute(
        path,
        "UPDATE journal_records SET data = ? WHERE seq = ?",
        canonical_json(data),
        checkpoint.seq,
    )
    rechain(path)
    result = _check(path, keys[1])
    assert (result.ok, result.bad_seq) == (False, checkpoint.seq)
    assert "signature does not verify" in str(result.reason)


@pytest.mark.parametrize(
    "respell",
    [
        lambda signature: None,
        lambda signature: 12345,
        lambda signature: signature[:40] + "*" + signature[40:],
        lambda signature: signature[:40] + "\n" + signature[40:],
        lambda signature: " " + signature,
    ],
    ids=["null", "number", "junk-character", "line-break", "leading-space"],
)
def test_a_signature_that_is_not_plain_base64_is_a_failure_not_a_crash(tmp_path, keys, respell):
    path = tmp_path / "j.db"
    _signed_journal(path, keys[0], 3)
    (checkpoint,) = [r for r in _records(path) if r.kind == kinds.JOURNAL_CHECKPOINT]
    data = dict(checkpoint.data, signature=respell(checkpoint.data["signature"]))
    execute(path, "UPDATE journal_records SET data = ? WHERE seq = ?", canonical_json(data), 4)
    rechain(path, after=3)
    result = _check(path, keys[1])
    assert (result.ok, result.bad_seq) == (False, 4)
    assert "checkpoint's signature does not verify with key sha256:" in str(result.reason)


@pytest.mark.parametrize(
    ("from_seq", "listed"),
    [(4, []), (1, [1, 2]), (2, [1, 2, 3]), (1, [1, 2, 3, 3])],
    ids=["starts-after-its-seq", "too-few-digests", "too-many-digests", "one-extra"],
)
def test_a_malformed_checkpoint_is_reported_even_when_its_signature_holds(
    tmp_path, keys, from_seq, listed
):
    path = tmp_path / "j.db"
    _signed_journal(path, keys[0], 3)
    records = _records(path)
    checkpoint = records[-1]
    assert (checkpoint.kind, checkpoint.data["seq"]) == (kinds.JOURNAL_CHECKPOINT, 3)
    # What a buggy writer with the real key could sign: a shape that lies about its range.
    bent = replace(
        JournalCheckpoint.from_data(checkpoint.data),
        from_seq=from_seq,
        digests=[records[seq - 1].hash[:16] for seq in listed],
    )
    data = sign_checkpoint(load_signing_key(keys[0]), bent).to_data()
    execute(path, "UPDATE journal_records SET data = ? WHERE seq = ?", canonical_json(data), 4)
    rechain(path, after=3)
    result = _check(path, keys[1])
    assert (result.ok, result.bad_seq, result.reason) == (False, 4, "checkpoint is malformed")


def test_a_checkpoint_whose_head_hash_does_not_match_is_named(tmp_path, keys):
    path = tmp_path / "j.db"
    _signed_journal(path, keys[0], 5)
    # The attacker changes the last covered record's id only: every digest still
    # matches its first 16 hex characters only by chance, the head hash cannot.
    records = _records(path)
    execute(path, "UPDATE journal_records SET id = ? WHERE seq = 5", "forged-id")
    rechain(path, after=4)
    result = _check(path, keys[1])
    assert not result.ok and result.bad_seq == 5, result.summary()
    assert records[-1].kind == kinds.JOURNAL_CHECKPOINT


def test_unsigned_records_after_the_last_checkpoint_are_reported(tmp_path, keys):
    path = tmp_path / "j.db"
    _signed_journal(path, keys[0], 10)
    with Journal.open(path, actor=ACTOR) as plain:  # a writer without the key
        plain.append_many([_note(i) for i in range(3)])
    result = _check(path, keys[1])
    assert result.ok
    assert "3 records after seq 10 are not yet signed" in result.summary()
    strict = _check(path, keys[1], require_signed=True)
    assert (strict.ok, strict.bad_seq) == (False, 12)


def test_a_replayed_old_checkpoint_does_not_extend_coverage(tmp_path, keys):
    path = tmp_path / "j.db"
    _signed_journal(path, keys[0], 150)
    records = _records(path)
    first, last = [r for r in records if r.kind == kinds.JOURNAL_CHECKPOINT]
    # Drop the last checkpoint, forge the tail, and append a copy of the first
    # checkpoint at the end so that the tail "ends with a checkpoint".
    execute(path, "DELETE FROM journal_records WHERE seq = ?", last.seq)
    forge(path, 140, {"text": "amount 900"})
    execute(
        path,
        "INSERT INTO journal_records (seq, id, ts, kind, namespace, object, correlation_id, "
        "actor, leader_epoch, data, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        last.seq,
        "copied-checkpoint",
        first.data["ts"],  # a faithful copy: the record's ts is the signed one
        kinds.JOURNAL_CHECKPOINT,
        None,
        None,
        None,
        ACTOR,
        None,
        canonical_json(first.data),
        "0" * 64,
        "0" * 64,
    )
    rechain(path, after=last.seq - 1)
    result = _check(path, keys[1])
    assert result.ok, "the copy is a true statement about seq 100"
    assert result.signed_through == 100
    assert "50 records after seq 100 are not yet signed" in result.summary()
    strict = _check(path, keys[1], require_signed=True)
    assert (strict.ok, strict.bad_seq) == (False, 102)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("ts", "2026-12-31T23:59:00.000000Z"),
        ("namespace", "shipshape"),
        ("object", "configmap/app-config"),
        ("correlation_id", "incident-7"),
        ("leader_epoch", 7),
    ],
)
def test_a_checkpoint_record_edited_around_its_signed_statement_fails(
    tmp_path, keys, column, value
):
    # Only data is signed: the last checkpoint's other fields are covered by
    # no later checkpoint, and a copy of an old one could carry anything.
    path = tmp_path / "j.db"
    _signed_journal(path, keys[0], 3)
    execute(path, f"UPDATE journal_records SET {column} = ? WHERE seq = 4", value)
    rechain(path, after=3)
    with Journal.open(path, readonly=True) as reader:
        assert verify(reader).ok, "the chain alone cannot tell"
    result = _check(path, keys[1], require_signed=True)
    assert (result.ok, result.bad_seq) == (False, 4)
    assert result.reason == (
        f"checkpoint record's {column} is not what its writer stamps "
        "(the signed statement holds; the record around it was edited)"
    )


def test_a_checkpoint_with_data_its_signature_does_not_cover_fails(tmp_path, keys):
    path = tmp_path / "j.db"
    _signed_journal(path, keys[0], 3)
    (checkpoint,) = [r for r in _records(path) if r.kind == kinds.JOURNAL_CHECKPOINT]
    added = dict(checkpoint.data, text="approved by the change board", drill="end")
    forge(path, checkpoint.seq, added)
    result = _check(path, keys[1], require_signed=True)
    assert (result.ok, result.bad_seq) == (False, checkpoint.seq)
    assert result.reason == (
        "checkpoint's data holds drill, text, which its signature does not cover "
        "(the signed statement holds; the record around it was edited)"
    )


def test_a_faithful_copy_of_a_checkpoint_is_shown_not_counted(tmp_path, keys):
    # A writer's checkpoint always covers past the previous one: a copy proves
    # nothing wrong by itself, but must not read as one more signature.
    path = tmp_path / "j.db"
    _signed_journal(path, keys[0], 3)
    (checkpoint,) = [r for r in _records(path) if r.kind == kinds.JOURNAL_CHECKPOINT]
    execute(
        path,
        "INSERT INTO journal_records (seq, id, ts, kind, actor, data, prev_hash, hash) "
        "VALUES (5, 'copied', ?, ?, ?, ?, '', '')",
        checkpoint.data["ts"],
        kinds.JOURNAL_CHECKPOINT,
        ACTOR,
        canonical_json(checkpoint.data),
    )
    rechain(path, after=4)
    result = _check(path, keys[1], require_signed=True)
    assert result.ok, result.summary()
    assert (result.checkpoints, result.signed_through, result.repeated) == (1, 3, ((5, 3),))
    assert result.summary().splitlines()[1:] == [
        "checkpoint at seq 5 covers seq 3 again, which an earlier one signed: a copy "
        "(not counted; a writer never writes one)"
    ]
    assert result.to_json()["repeated"] == [{"seq": 5, "covers_seq": 3}]


def test_a_wrong_key_is_an_unknown_key(tmp_path, keys):
    path = tmp_path / "j.db"
    _signed_journal(path, keys[0], 3)
    _, other = write_key_pair(tmp_path, "other")
    result = _check(path, other)
    assert (result.ok, result.bad_seq) == (False, 4)
    assert "unknown key sha256:" in str(result.reason)


def test_key_rotation_needs_both_public_keys(tmp_path, keys):
    path = tmp_path / "j.db"
    b_private, b_public = write_key_pair(tmp_path, "b")
    _signed_journal(path, keys[0], 5)
    _signed_journal(path, b_private, 5)
    both = _check(path, keys[1], b_public, require_signed=True)
    assert both.ok, both.summary()
    assert len(both.key_ids) == 2
    only_old = _check(path, keys[1])
    assert (only_old.ok, only_old.bad_seq) == (False, 12)


def test_vacuum_keeps_the_last_removed_checkpoint_as_evidence(tmp_path, keys):
    path = tmp_path / "j.db"
    old = datetime(2020, 1, 1, tzinfo=UTC)
    signer = load_signing_key(keys[0])
    with Journal.open(path, actor=ACTOR) as journal:  # old records, signed back then
        for block in range(2):
            journal.append_many(
                [_note(i, old + timedelta(seconds=60 * block + i)) for i in range(60)]
            )
            write_checkpoint(journal, signer, now=old + timedelta(seconds=60 * block + 59))
    with CheckpointWriter(Journal.open(path, actor=ACTOR), signer) as writer:
        writer.append_many([_note(i) for i in range(10)])
    with CheckpointWriter(Journal.open(path, actor=ACTOR), signer) as writer:
        result = vacuum(writer.journal, timedelta(days=30))
        writer.appended(1)
    assert result.last_removed_seq is not None
    tombstone = result.tombstone
    assert tombstone is not None
    evidence = tombstone.data["last_removed_checkpoint"]
    assert result.last_removed_seq == 122
    assert evidence["data"]["seq"] == 121 and evidence["seq"] == 122
    verified = _check(path, keys[1], require_signed=True)
    assert verified.ok, verified.summary()
    assert "vacuumed records were signed through seq 121" in verified.summary()
    # A kept record is still protected after the vacuum.
    forge(path, result.last_removed_seq + 2, {"text": "amount 900"})
    forged = _check(path, keys[1])
    assert (forged.ok, forged.bad_seq) == (False, result.last_removed_seq + 2)


def test_a_kept_checkpoint_of_vacuumed_records_is_anchored_by_the_tombstone(tmp_path, keys):
    """The cutoff falls between the records a checkpoint signed and the checkpoint itself."""
    path = tmp_path / "j.db"
    old = datetime(2020, 1, 1, tzinfo=UTC)
    with Journal.open(path, actor=ACTOR) as journal:
        journal.append_many([_note(i, old + timedelta(seconds=i)) for i in range(5)])
        checkpoint = write_checkpoint(
            journal, load_signing_key(keys[0]), now=old + timedelta(seconds=20)
        )
        removed = vacuum(journal, timedelta(seconds=10), now=old + timedelta(seconds=25))
    assert checkpoint is not None and removed.tombstone is not None
    assert (removed.removed, checkpoint.seq) == (5, 6)
    result = _check(path, keys[1])
    assert result.ok, result.summary()
    assert (result.checkpoints, result.signed_through) == (1, 5)
    # Re-anchor the kept chain on another hash: the chain alone cannot tell,
    # but the checkpoint signed the removed head's real hash.
    other = "ab" * 32
    tombstone = dict(removed.tombstone.data, last_removed_hash=other)
    execute(path, "UPDATE journal_records SET prev_hash = ? WHERE seq = 6", other)
    execute(path, "UPDATE journal_records SET data = ? WHERE seq = 7", canonical_json(tombstone))
    rechain(path)
    with Journal.open(path, readonly=True) as reader:
        assert verify(reader).ok
    forged = _check(path, keys[1])
    assert (forged.ok, forged.bad_seq) == (False, 5)
    assert "the checkpoint at seq 6 signed" in forged.reason


@pytest.mark.parametrize("honest_anchor", [True, False])
def test_a_tombstone_must_anchor_where_its_kept_checkpoint_signed(tmp_path, keys, honest_anchor):
    path = tmp_path / "j.db"
    _signed_journal(path, keys[0], 3)
    *notes, checkpoint = _records(path)
    signed_head = checkpoint.data["head_hash"]
    anchor = signed_head if honest_anchor else "ab" * 32
    # Hand-made retention: records 1..3 go, the checkpoint covering seq 3 becomes a
    # tombstone that keeps it and says the removed chain ended at hash `anchor`.
    tombstone = JournalVacuumed(
        cutoff=checkpoint.data["ts"],
        removed_records=3,
        first_removed_seq=1,
        last_removed_seq=3,
        last_removed_hash=anchor,
        last_removed_ts=notes[-1].to_json()["ts"],
        last_removed_checkpoint=JournalVacuumed.keep_checkpoint(
            checkpoint.seq, checkpoint.hash, checkpoint.data
        ),
    )
    execute(path, "DELETE FROM journal_records WHERE seq <= 3")
    execute(
        path,
        "UPDATE journal_records SET kind = ?, data = ?, prev_hash = ? WHERE seq = 4",
        kinds.JOURNAL_VACUUMED,
        canonical_json(tombstone.to_data()),
        anchor,
    )
    rechain(path)
    with Journal.open(path, readonly=True) as reader:
        assert verify(reader).ok, "the chain alone cannot tell"
    result = _check(path, keys[1])
    if honest_anchor:
        assert result.ok, result.summary()
        assert "vacuumed records were signed through seq 3" in result.summary()
    else:
        assert (result.ok, result.bad_seq) == (False, 4)
        assert result.reason == (
            "last_removed_hash does not match the head hash the removed checkpoint signed"
        )


def test_a_checkpoint_failure_never_fails_the_append(tmp_path, keys):
    path = tmp_path / "j.db"
    journal = Journal.open(path, actor=ACTOR)
    writer = CheckpointWriter(journal, load_signing_key(keys[0]), every_records=1)
    execute(
        path,
        "CREATE TRIGGER no_checkpoints BEFORE INSERT ON journal_records "
        "WHEN NEW.kind = 'journal.checkpoint' BEGIN SELECT RAISE(ABORT, 'refused'); END",
    )
    (record,) = writer.append_many([_note(1)])
    assert record.seq == 1
    assert writer.unsigned == 1 and writer.last_error is not None
    execute(path, "DROP TRIGGER no_checkpoints")
    writer.append_many([_note(2)])
    assert writer.unsigned == 0
    writer.close()
    assert _check(path, keys[1], require_signed=True).ok


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "cannot read the signing key"),
        (b"not a key at all\n", "is not a PEM private key"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "not a PEM private"),
    ],
)
def test_unusable_signing_keys_are_one_line(tmp_path, content, words):
    path = tmp_path / "key.pem"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SigningKeyError) as caught:
        load_signing_key(path)
    message = str(caught.value)
    assert words in message and "\n" not in message
    assert str(path) in message
