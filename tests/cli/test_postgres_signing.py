"""Signed checkpoints on PostgreSQL, and signed journals shipped into a central one (issue 20).

The attacker here holds the database: as its owner they switch the
append-only trigger off, change a record and re-chain everything after it
(tests/journal/pg_attacker.py). Plain ``verify`` is fooled (or, for a
shipped stream, catches only that its last record is not the one ``ship``
stated); ``verify --public-key`` names the forged seq, in the journal's own
chain or in a shipped stream.
"""

from __future__ import annotations

import pytest

from journal import Journal, kinds
from journal.checkpoints import CheckpointWriter
from journal.ship import ship
from journal.signing import load_signing_key
from tests.journal.pg_attacker import forge
from tests.journal.signing_helpers import write_key_pair


def _database(url: str) -> str:
    return url.rsplit("/", 1)[1]


def _signed_writer(location, key, actor: str, every: int = 5) -> CheckpointWriter:
    journal = Journal.open(location, actor=actor)
    return CheckpointWriter(journal, load_signing_key(key), every_records=every)


def _note(writer: CheckpointWriter, text: str) -> None:
    writer.append(kinds.OPERATOR_NOTE, data={"text": text})


def test_a_signing_writer_on_postgresql_is_verified_and_a_dba_forgery_is_named(
    postgres_url, postgres_server, keys, run
):
    with _signed_writer(postgres_url, keys[0], "replica-0") as writer:
        for n in range(12):
            _note(writer, f"amount {n}00")
    with Journal.open(postgres_url, readonly=True) as reader:
        written = [record.kind for record in reader.read()]
    assert written.count(kinds.JOURNAL_CHECKPOINT) == 3  # after 5, after 10, at close
    assert written[-1] == kinds.JOURNAL_CHECKPOINT
    checked = run("verify", "--journal", postgres_url, "--public-key", keys[1], "--require-signed")
    assert checked.code == 0, checked.out + checked.err
    assert checked.out.startswith("OK: 15 records")
    assert "3 signed checkpoints, signed through seq 14 by sha256:" in checked.out
    # The owner of the database rewrites seq 3 and re-chains: the chain alone is fooled.
    forge(postgres_server, _database(postgres_url), 3, {"text": "amount 900"})
    plain = run("verify", "--journal", postgres_url)
    assert plain.code == 0 and plain.out.startswith("OK: 15 records"), plain.out
    caught = run("verify", "--journal", postgres_url, "--public-key", keys[1])
    assert caught.code == 1
    assert caught.out.startswith("FAILED: seq 3: record differs from the one the checkpoint")
    assert postgres_server.password not in caught.out + caught.err


def test_signing_writers_sharing_a_postgresql_journal_stay_verifiable(
    postgres_url, keys, tmp_path, run
):
    other = write_key_pair(tmp_path, "other")
    Journal.open(postgres_url, actor="setup").close()
    first = _signed_writer(postgres_url, keys[0], "replica-0", every=3)
    second = _signed_writer(postgres_url, other[0], "replica-1", every=4)
    with first, second:
        for n in range(10):
            _note(first, f"a{n}")
            _note(second, f"b{n}")
    checked = run(
        "verify",
        "--journal",
        postgres_url,
        "--public-key",
        keys[1],
        "--public-key",
        other[1],
        "--require-signed",
    )
    assert checked.code == 0, checked.out
    assert checked.out.startswith("OK: ")


@pytest.fixture
def central(tmp_path, postgres_url, keys, run, monkeypatch):
    """A central journal: signed SQLite journals shipped in, the central's own signed notes.

    The central's own checkpoint lists the prod-eu records shipped before it
    (and ship's journal.shipped records); prod-us is shipped after the
    central's writer closed, by ``shipshape-journal ship``, which signs its
    journal.shipped record with the key in JOURNAL_SIGNING_KEY_FILE.
    """
    rotated = write_key_pair(tmp_path, "prod-us")
    eu, us = tmp_path / "eu.db", tmp_path / "us.db"
    for path, key, count in ((eu, keys[0], 23), (us, rotated[0], 9)):
        with _signed_writer(path, key, "helloworld-controller-0", every=10) as writer:
            for n in range(count):
                _note(writer, f"{path.stem} {n}")
    streams = {}
    with _signed_writer(postgres_url, keys[0], "central", every=2) as own:
        _note(own, "before prod-eu")
        with Journal.open(eu, readonly=True) as source:
            streams["prod-eu"] = ship(source, own.journal, cluster="prod-eu", batch_size=7).stream
        _note(own, "after prod-eu")
    monkeypatch.setenv("JOURNAL_SIGNING_KEY_FILE", str(keys[0]))
    shipped = run("ship", "--journal", us, "--to", postgres_url, "--cluster", "prod-us")
    assert shipped.code == 0, shipped.err
    streams["prod-us"] = shipped.out.split()[-1]
    return postgres_url, streams, (keys[1], rotated[1]), (eu, us)


def test_shipped_signed_journals_verify_per_stream(central, run):
    url, streams, public, _ = central
    checked = run(
        "verify",
        "--journal",
        url,
        "--public-key",
        public[0],
        "--public-key",
        public[1],
        "--require-signed",
    )
    assert checked.code == 0, checked.out + checked.err
    lines = checked.out.splitlines()
    # eu: 23 notes, checkpoints after 10 and 20 and at close (seq 11, 22, 26);
    # us: 9 notes, one checkpoint at close (seq 10); own: 2 notes, 1 checkpoint,
    # and ship's journal.shipped records (4 batches of eu, 1 of us), the last
    # signed by the ship that wrote it.
    assert lines[0].startswith("OK: 45 records")
    assert "; 2 signed checkpoints, signed through seq 44 by sha256:" in lines[0]
    assert lines[1:] == [
        f"stream {streams['prod-eu']}: 3 signed checkpoints, signed through seq 25 by "
        + lines[1].rsplit(" by ", 1)[1],
        f"stream {streams['prod-us']}: 1 signed checkpoint, signed through seq 9 by "
        + lines[2].rsplit(" by ", 1)[1],
    ]
    assert lines[1].rsplit(" by ", 1)[1] != lines[2].rsplit(" by ", 1)[1]


def test_a_forged_shipped_record_is_named_in_its_stream(central, postgres_server, run):
    url, streams, public, _ = central
    forge(postgres_server, _database(url), 4, {"text": "us 900"}, stream=streams["prod-us"])
    # The stream's chain alone is fooled, but no longer verify: the forger
    # re-chained the stream, and ship's journal.shipped record (in the own
    # chain) names the hash its last record had.
    plain = run("verify", "--journal", url)
    assert plain.code == 1
    assert plain.out.startswith(
        f"FAILED: seq 43: stream {streams['prod-us']}: stream seq 10 is not the record the "
        "journal.shipped record at seq 44 says was shipped"
    )
    both = ("--public-key", public[0], "--public-key", public[1])
    caught = run("verify", "--journal", url, *both)
    assert caught.code == 1
    # The ship's checkpoint in the central's own chain (seq 45) lists the
    # records shipped before it, and is walked first: it names the record.
    assert caught.out.startswith(
        f"FAILED: seq 37: record (stream {streams['prod-us']} seq 4) differs from the one "
        "the checkpoint at seq 45 signed"
    )


def test_the_centrals_own_checkpoint_also_vouches_for_records_shipped_before_it(
    central, postgres_server, run
):
    url, streams, public, _ = central
    forge(postgres_server, _database(url), 4, {"text": "eu 900"}, stream=streams["prod-eu"])
    both = ("--public-key", public[0], "--public-key", public[1])
    caught = run("verify", "--journal", url, *both)
    assert caught.code == 1
    # Central seq 5 is prod-eu's seq 4 (central seq 1 is the central's own note).
    assert caught.out.startswith(
        f"FAILED: seq 5: record (stream {streams['prod-eu']} seq 4) differs from the one "
        "the checkpoint at seq 33 signed"
    )


def test_a_stream_signed_by_an_unknown_key_fails_and_unsigned_tails_are_reported(
    central, tmp_path, keys, run
):
    url, streams, public, (eu, _us) = central
    unknown = run("verify", "--journal", url, "--public-key", public[0])
    assert unknown.code == 1
    assert unknown.out.startswith(
        f"FAILED: seq 10: stream {streams['prod-us']}: checkpoint is signed by an unknown key"
    )
    with Journal.open(eu, actor="helloworld-controller-0") as writer:  # no key: unsigned
        writer.append(kinds.OPERATOR_NOTE, data={"text": "late"})
        writer.append(kinds.OPERATOR_NOTE, data={"text": "later"})
    # Shipped by the CLI with the key: its journal.shipped record is signed.
    shipped = run("ship", "--journal", eu, "--to", url, "--cluster", "prod-eu")
    assert shipped.out.startswith("shipped 2 records"), shipped.out + shipped.err
    both = ("--public-key", public[0], "--public-key", public[1])
    reported = run("verify", "--journal", url, *both)
    assert reported.code == 0, reported.out
    assert reported.out.splitlines()[-2] == (
        f"stream {streams['prod-eu']}: 2 records after seq 25 are not yet signed"
    )
    strict = run("verify", "--journal", url, *both, "--require-signed")
    assert strict.code == 1
    assert strict.out.startswith(
        f"FAILED: seq 27: stream {streams['prod-eu']}: 2 records after seq 25 are not yet "
        "signed (--require-signed)"
    )
