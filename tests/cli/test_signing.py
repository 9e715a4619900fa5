"""Signed checkpoints through the CLI: note signs, verify --public-key checks, drills sign.

The issue's attack, end to end: a journal written with JOURNAL_SIGNING_KEY_FILE,
one record's text changed and every later hash recomputed; plain ``verify``
is fooled, ``verify --public-key`` names the forged seq.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from journal import Entry, Journal, kinds
from journal.checkpoints import write_checkpoint
from journal.signing import load_public_key, load_signing_key
from tests.cli.helpers import one_error_line
from tests.journal.signing_helpers import execute, forge, write_key_pair


@pytest.fixture
def signed(tmp_path, run, keys, monkeypatch):
    """A journal holding three signed notes (each note closes with a checkpoint)."""
    path = tmp_path / "journal.db"
    assert run("db", "upgrade", "--journal", path).code == 0
    monkeypatch.setenv("JOURNAL_SIGNING_KEY_FILE", str(keys[0]))
    for text in ("amount 100", "amount 200", "amount 300"):
        assert run("note", text, "--journal", path).code == 0
    monkeypatch.delenv("JOURNAL_SIGNING_KEY_FILE")
    return path


def _kinds(path):
    with Journal.open(path, readonly=True) as reader:
        return [record.kind for record in reader.read()]


def test_each_note_is_signed_when_it_closes(signed, run, keys):
    assert _kinds(signed) == [kinds.OPERATOR_NOTE, kinds.JOURNAL_CHECKPOINT] * 3
    outcome = run("verify", "--journal", signed, "--public-key", keys[1], "--require-signed")
    assert outcome.code == 0, outcome.out + outcome.err
    assert outcome.out.startswith("OK: 6 records")
    assert "3 signed checkpoints, signed through seq 5 by sha256:" in outcome.out


def test_the_issues_forgery_fools_plain_verify_but_not_the_public_key(signed, run, keys):
    forge(signed, 3, {"text": "amount 900"})
    plain = run("verify", "--journal", signed)
    assert plain.code == 0 and plain.out.startswith("OK:"), "the chain alone is fooled"
    checked = run("verify", "--journal", signed, "--public-key", keys[1])
    assert checked.code == 1
    assert checked.out.startswith("FAILED: seq 3: record differs from the one the checkpoint")


def test_deleted_last_checkpoints_leave_an_unsigned_tail(signed, run, keys):
    execute(signed, "DELETE FROM journal_records WHERE seq >= 4")
    # ... and rewinds SQLite's seq counter, which plain verify reads too.
    execute(signed, "UPDATE sqlite_sequence SET seq = 3 WHERE name = 'journal_records'")
    forge(signed, 3, {"text": "amount 900"})  # the tail is now the attacker's
    reported = run("verify", "--journal", signed, "--public-key", keys[1])
    assert reported.code == 0
    assert reported.out.splitlines()[-1] == "1 record after seq 1 is not yet signed"
    strict = run("verify", "--journal", signed, "--public-key", keys[1], "--require-signed")
    assert strict.code == 1
    assert strict.out.startswith("FAILED: seq 3: 1 record after seq 1 is not yet signed")


def test_a_wrong_key_fails_at_the_first_checkpoint(signed, run, tmp_path):
    _, other = write_key_pair(tmp_path, "other")
    outcome = run("verify", "--journal", signed, "--public-key", other)
    assert outcome.code == 1
    assert outcome.out.startswith("FAILED: seq 2: checkpoint is signed by an unknown key sha256:")


def test_rotated_keys_are_all_given(signed, run, keys, tmp_path, monkeypatch):
    new_private, new_public = write_key_pair(tmp_path, "new")
    monkeypatch.setenv("JOURNAL_SIGNING_KEY_FILE", str(new_private))
    assert run("note", "after the rotation", "--journal", signed).code == 0
    both = run("verify", "--journal", signed, "--public-key", keys[1], "--public-key", new_public)
    assert both.code == 0, both.out
    assert load_public_key(new_public).key_id in both.out
    assert load_public_key(keys[1]).key_id in both.out
    only_old = run("verify", "--journal", signed, "--public-key", keys[1])
    assert only_old.code == 1 and only_old.out.startswith("FAILED: seq 8: ")


def test_several_journals_are_verified_each(signed, run, keys, tmp_path):
    other = tmp_path / "other.db"
    other.write_bytes(signed.read_bytes())
    forge(other, 1, {"text": "amount 900"})
    outcome = run("verify", "--journal", signed, "--journal", other, "--public-key", keys[1])
    assert outcome.code == 1
    lines = outcome.out.splitlines()
    assert lines[0].startswith(f"{signed}: OK: 6 records")
    assert lines[1].startswith(f"{other}: FAILED: seq 1: ")


def test_vacuum_signs_its_tombstone_and_keeps_the_removed_evidence(
    tmp_path, run, keys, monkeypatch
):
    path = tmp_path / "journal.db"
    signer = load_signing_key(keys[0])
    old = datetime(2020, 1, 1, tzinfo=UTC)
    with Journal.open(path, actor="cli:auditor") as journal:  # signed back in 2020
        journal.append_many(
            [Entry(kind=kinds.OPERATOR_NOTE, data={"text": "old"}, ts=old) for _ in range(5)]
        )
        write_checkpoint(journal, signer, now=old)
    monkeypatch.setenv("JOURNAL_SIGNING_KEY_FILE", str(keys[0]))
    assert run("note", "recent", "--journal", path).code == 0
    outcome = run("vacuum", "--journal", path, "--older-than", "30d")
    assert outcome.code == 0, outcome.err
    assert outcome.out.startswith("removed 6 records (seq 1..6)")
    monkeypatch.delenv("JOURNAL_SIGNING_KEY_FILE")
    assert _kinds(path) == [
        kinds.OPERATOR_NOTE,
        kinds.JOURNAL_CHECKPOINT,
        kinds.JOURNAL_VACUUMED,
        kinds.JOURNAL_CHECKPOINT,
    ]
    verified = run("verify", "--journal", path, "--public-key", keys[1], "--require-signed")
    assert verified.code == 0, verified.out
    assert "vacuumed records were signed through seq 5 by sha256:" in verified.out


def _rsa_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.mark.parametrize(
    "case",
    [
        (None, "cannot read the signing key"),
        (b"garbage\n", "is not a PEM private key"),
        ("rsa", "is an RSA key, not Ed25519"),
        ("public", "is a public key"),
        ("encrypted", "is encrypted"),
    ],
)
def test_an_unusable_signing_key_is_one_line_and_exit_2(tmp_path, run, keys, monkeypatch, case):
    content, words = case
    path = tmp_path / "journal.db"
    assert run("db", "upgrade", "--journal", path).code == 0
    key_file = tmp_path / "bad.pem"
    secret = keys[0].read_bytes()
    if content == "rsa":
        secret = _rsa_pem()
        key_file.write_bytes(secret)
    elif content == "public":
        key_file.write_bytes(keys[1].read_bytes())
    elif content == "encrypted":
        key = serialization.load_pem_private_key(keys[0].read_bytes(), password=None)
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"passphrase"),
            )
        )
    elif content is not None:
        key_file.write_bytes(content)
    monkeypatch.setenv("JOURNAL_SIGNING_KEY_FILE", str(key_file))
    outcome = run("note", "hello", "--journal", path)
    assert outcome.code == 2
    line = one_error_line(outcome)
    assert words in line and str(key_file) in line
    body = b"".join(secret.splitlines()[1:-1]).decode()
    assert body[:20] not in outcome.err + outcome.out, "no key material in errors"
    assert _kinds(path) == [], "nothing is written with a bad key"


def test_a_private_key_given_as_public_key_is_refused(signed, run, keys):
    outcome = run("verify", "--journal", signed, "--public-key", keys[0])
    assert outcome.code == 2
    assert "holds a private key" in one_error_line(outcome)


def test_require_signed_needs_a_public_key(signed, run):
    outcome = run("verify", "--journal", signed, "--require-signed")
    assert outcome.code == 2
    assert "--require-signed needs --public-key" in one_error_line(outcome)


def test_a_signed_drill_export_names_its_key_and_checkpoint(tmp_path, run, keys, monkeypatch):
    path = tmp_path / "journal.db"
    assert run("db", "upgrade", "--journal", path).code == 0
    monkeypatch.setenv("JOURNAL_SIGNING_KEY_FILE", str(keys[0]))
    assert run("note", "drill", "--drill", "start", "--journal", path).code == 0
    assert run("note", "restored", "--drill", "end", "--journal", path).code == 0
    monkeypatch.delenv("JOURNAL_SIGNING_KEY_FILE")
    out = tmp_path / "evidence"
    outcome = run("export", "dr-drill", "--journal", path, "--out", out, "--signing-key", keys[0])
    assert outcome.code == 0, outcome.out + outcome.err
    (manifest,) = out.glob("*.manifest.json")
    signature = manifest.with_name(manifest.name + ".sig")
    assert f"signature: {signature}" in outcome.out
    public = load_public_key(keys[1])
    assert public.verify(manifest.read_bytes(), signature.read_bytes())
    # The auditor's way: openssl and the public key alone.
    checked = subprocess.run(
        [
            "openssl",
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            str(keys[1]),
            "-rawin",
            "-in",
            str(manifest),
            "-sigfile",
            str(signature),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0 and "Signature Verified Successfully" in checked.stdout
    facts = json.loads(manifest.read_text())
    assert facts["signing"]["key_id"] == public.key_id
    assert facts["signing"]["covering_checkpoint"]["seq"] == 4
    report = next(out.glob("*.md")).read_text()
    assert f"- Signing key: {public.key_id}" in report
    assert "is covered by the checkpoint at seq 4" in report
    assert signature.name in report
    # The snapshot verifies with the public key alone too.
    (snapshot,) = out.glob("*.journal.db")
    again = run("verify", "--journal", snapshot, "--public-key", keys[1], "--require-signed")
    assert again.code == 0, again.out


def test_a_public_key_given_as_signing_key_names_no_variable_that_was_not_set(
    tmp_path, run, keys, monkeypatch
):
    # --signing-key was the source: the line must not send the operator to
    # JOURNAL_SIGNING_KEY_FILE, which they never set.
    monkeypatch.delenv("JOURNAL_SIGNING_KEY_FILE", raising=False)
    path = tmp_path / "journal.db"
    assert run("db", "upgrade", "--journal", path).code == 0
    assert run("note", "go", "--drill", "start", "--journal", path).code == 0
    outcome = run(
        "export", "dr-drill", "--journal", path, "--out", tmp_path / "evidence",
        "--signing-key", keys[1],
    )  # fmt: skip
    assert outcome.code == 2
    line = one_error_line(outcome)
    assert f"the signing key {keys[1]} is a public key" in line
    assert "JOURNAL_SIGNING_KEY_FILE" not in line
    assert not (tmp_path / "evidence").exists()


def _signed_drill(tmp_path, run, private, monkeypatch):
    path = tmp_path / "drill.db"
    assert run("db", "upgrade", "--journal", path).code == 0
    monkeypatch.setenv("JOURNAL_SIGNING_KEY_FILE", str(private))
    for args in (("go", "--drill", "start"), ("amount 100",), ("done", "--drill", "end")):
        assert run("note", *args, "--journal", path).code == 0
    monkeypatch.delenv("JOURNAL_SIGNING_KEY_FILE")
    return path


def test_a_signed_drill_export_of_a_rechained_forgery_fails_the_drill(
    tmp_path, run, keys, monkeypatch
):
    # The chain alone verifies after the re-chain; the export's signing key
    # knows better, and evidence of a forged journal is not a completed drill.
    path = _signed_drill(tmp_path, run, keys[0], monkeypatch)
    forge(path, 3, {"text": "amount 900"})
    out = tmp_path / "evidence"
    outcome = run("export", "dr-drill", "--journal", path, "--out", out, "--signing-key", keys[0])
    assert outcome.code == 1, outcome.out + outcome.err
    lines = outcome.out.splitlines()
    assert lines[0] == "Status: FAILED"
    assert lines[1].startswith(
        "  - journal verification failed: FAILED: seq 3: record differs from the one the "
        "checkpoint at seq 4 signed"
    )
    facts = json.loads(next(out.glob("*.manifest.json")).read_text())
    assert facts["status"] == "FAILED"
    assert (facts["verify"]["ok"], facts["verify"]["bad_seq"]) == (False, 3)
    report = next(out.glob("*.md")).read_text()
    assert "it is not signed yet" not in report, "the end mark is signed; the walk stopped early"
    assert "covers seq 5 (the drill window) is not known: verification stopped at seq 3" in report


def test_a_drill_signed_by_a_rotated_key_needs_the_old_public_key(tmp_path, run, keys, monkeypatch):
    path = _signed_drill(tmp_path, run, keys[0], monkeypatch)
    new_private, _ = write_key_pair(tmp_path, "new")
    alone = run(
        "export", "dr-drill", "--journal", path, "--out", tmp_path / "alone",
        "--signing-key", new_private,
    )  # fmt: skip
    assert alone.code == 1
    assert "checkpoint is signed by an unknown key" in alone.out
    assert "(give it with --public-key)" in alone.out
    both = run(
        "export", "dr-drill", "--journal", path, "--out", tmp_path / "both",
        "--signing-key", new_private, "--public-key", keys[1],
    )  # fmt: skip
    assert both.code == 0, both.out + both.err
    facts = json.loads(next((tmp_path / "both").glob("*.manifest.json")).read_text())
    assert facts["signing"]["covering_checkpoint"]["covers_seq"] == 5


def test_plain_verify_of_a_signed_journal_says_the_signatures_were_not_checked(
    signed, run, tmp_path
):
    # The forger's re-chained journal passes the chain: the OK must not read
    # as if the signatures had been checked too.
    forge(signed, 3, {"text": "amount 900"})
    plain = run("verify", "--journal", signed)
    assert plain.code == 0
    assert plain.out.splitlines()[1:] == [
        "signed checkpoints not checked: only --public-key catches a record changed "
        "with the chain recomputed"
    ]
    unsigned = tmp_path / "unsigned.db"
    assert run("db", "upgrade", "--journal", unsigned).code == 0
    assert run("note", "hello", "--journal", unsigned).code == 0
    assert len(run("verify", "--journal", unsigned).out.splitlines()) == 1
