"""Key files of several keys: refused in one line, never half read.

A PEM file may hold several blocks, and the key loaders read only the first.
A ``--public-key`` file holding the old and the new key (``cat old.pub
new.pub``) then failed ``verify`` with "signed by an unknown key ... (give
it with --public-key)" for the key the file does hold; a signing key file
of two keys signed with whichever came first.
"""

from __future__ import annotations

import pytest

from journal import Journal, kinds
from journal.chain import canonical_json  # a forger stores what verify expects
from tests.cli.helpers import one_error_line
from tests.journal.signing_helpers import execute, rechain, write_key_pair


@pytest.fixture
def signed(tmp_path, run, keys, monkeypatch):
    """A journal holding one signed note."""
    path = tmp_path / "journal.db"
    assert run("db", "upgrade", "--journal", path).code == 0
    monkeypatch.setenv("JOURNAL_SIGNING_KEY_FILE", str(keys[0]))
    assert run("note", "amount 100", "--journal", path).code == 0
    monkeypatch.delenv("JOURNAL_SIGNING_KEY_FILE")
    return path


def _kinds(path):
    with Journal.open(path, readonly=True) as reader:
        return [record.kind for record in reader.read()]


@pytest.mark.parametrize("order", ["other first", "signer first"])
def test_a_public_key_file_of_two_keys_is_one_line_and_exit_2(signed, run, keys, tmp_path, order):
    _other_private, other_public = write_key_pair(tmp_path, "other")
    both = tmp_path / "both.pub.pem"
    parts = [other_public, keys[1]] if order == "other first" else [keys[1], other_public]
    both.write_bytes(b"".join(part.read_bytes() for part in parts))
    outcome = run("verify", "--journal", signed, "--public-key", both)
    assert outcome.code == 2, outcome.out + outcome.err
    line = one_error_line(outcome)
    assert str(both) in line and "holds 2 PEM blocks" in line, line
    assert "repeat --public-key" in line
    assert outcome.out == ""
    # Each key in its own file works.
    split = run(
        "verify", "--journal", signed, "--public-key", keys[1], "--public-key", other_public
    )
    assert split.code == 0 and split.out.startswith("OK: 2 records"), split.out + split.err


def test_the_same_public_key_file_given_twice_is_one_key(signed, run, keys):
    outcome = run("verify", "--journal", signed, "--public-key", keys[1], "--public-key", keys[1])
    assert outcome.code == 0, outcome.out + outcome.err
    assert "1 signed checkpoint, signed through seq 1 by sha256:" in outcome.out


def test_a_signing_key_file_of_two_private_keys_signs_nothing(tmp_path, run, keys, monkeypatch):
    path = tmp_path / "journal.db"
    assert run("db", "upgrade", "--journal", path).code == 0
    other_private, _other_public = write_key_pair(tmp_path, "other")
    both = tmp_path / "both.pem"
    both.write_bytes(other_private.read_bytes() + keys[0].read_bytes())
    monkeypatch.setenv("JOURNAL_SIGNING_KEY_FILE", str(both))
    outcome = run("note", "hello", "--journal", path)
    assert outcome.code == 2, outcome.out + outcome.err
    line = one_error_line(outcome)
    assert str(both) in line and "holds 2 private keys" in line, line
    body = b"".join(keys[0].read_bytes().splitlines()[1:-1]).decode()
    assert body[:20] not in outcome.err + outcome.out, "no key material in errors"
    assert _kinds(path) == [], "nothing is written with an unusable key"


def test_a_signing_key_file_with_its_public_half_still_signs(tmp_path, run, keys, monkeypatch):
    path = tmp_path / "journal.db"
    assert run("db", "upgrade", "--journal", path).code == 0
    pair = tmp_path / "pair.pem"
    pair.write_bytes(keys[0].read_bytes() + keys[1].read_bytes())
    monkeypatch.setenv("JOURNAL_SIGNING_KEY_FILE", str(pair))
    assert run("note", "hello", "--journal", path).code == 0
    assert _kinds(path) == [kinds.OPERATOR_NOTE, kinds.JOURNAL_CHECKPOINT]
    monkeypatch.delenv("JOURNAL_SIGNING_KEY_FILE")
    checked = run("verify", "--journal", path, "--public-key", keys[1], "--require-signed")
    assert checked.code == 0, checked.out + checked.err


def test_a_forged_key_id_cannot_print_ok_over_the_failed_line(signed, run, keys):
    # The key id is the forger's text, quoted by the verdict: a carriage return
    # and escape sequences (clear the line, cursor up, conceal) would show a
    # terminal only "OK: ..." while the exit code says otherwise.
    fake_ok = "OK: 2 records, head " + "0" * 64 + "; 1 signed checkpoint"
    with Journal.open(signed, readonly=True) as reader:
        checkpoint = next(r for r in reader.read() if r.kind == kinds.JOURNAL_CHECKPOINT)
    forged = dict(
        checkpoint.data, key_id=f"sha256:x\r\x1b[2K\x1b[1A\x1b[2K{fake_ok}\x1b[8m\n\u2028"
    )
    execute(
        signed,
        "UPDATE journal_records SET data = ? WHERE seq = ?",
        canonical_json(forged),
        checkpoint.seq,
    )
    rechain(signed, after=checkpoint.seq - 1)
    outcome = run("verify", "--journal", signed, "--public-key", keys[1])
    assert outcome.code == 1
    (line,) = outcome.out.splitlines()
    # A key id is "sha256:" and 64 hex digits: anything else is not quoted at all.
    assert line == f"FAILED: seq {checkpoint.seq}: checkpoint is malformed"
    assert not any(char in outcome.out for char in "\r\x1b\u2028")


def test_an_empty_public_key_path_is_named_as_empty(run, tmp_path):
    outcome = run("verify", "--journal", tmp_path / "j.db", "--public-key", "")
    assert outcome.code == 2
    line = one_error_line(outcome)
    assert "'--public-key': the path is empty" in line
