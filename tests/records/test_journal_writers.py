"""The journal's own writers store exactly the data they stored before the catalogue.

``golden_records.json`` covers what the decision core writes; this covers the
rest: the CLI's ``operator.note``, the vacuum tombstone (with and without the
checkpoint it keeps) and the signed ``journal.checkpoint``. Each record is
written by the real writer into a real SQLite journal, and its stored ``data``
column (the canonical JSON the hash covers) is compared with the layout the
writers built by hand before: the same keys, the same JSON values, byte for
byte. Hashes and record ids are random per journal, so the expected documents
take those from the journal itself; everything else is literal.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cli.main import main
from journal import Journal, vacuum
from journal.chain import canonical_json
from journal.checkpoints import write_checkpoint
from journal.signing import DOMAIN, Signer
from records import parse

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
#: A fixed key: Ed25519 signatures are deterministic, so the signature is too.
SEED = bytes(range(32))


def _stored(path: Path, seq: int) -> tuple[str, str, str]:
    """The kind, stored data text and hash of record ``seq``, read as sqlite3 sees them."""
    with sqlite3.connect(path) as connection:
        return connection.execute(
            "SELECT kind, data, hash FROM journal_records WHERE seq = ?", (seq,)
        ).fetchone()


def _hashes(path: Path) -> dict[int, str]:
    with sqlite3.connect(path) as connection:
        return dict(connection.execute("SELECT seq, hash FROM journal_records").fetchall())


def _same(kind: str, text: str, expected: dict) -> None:
    """The stored text is the expected layout exactly, and the catalogue reads it back."""
    assert text == canonical_json(expected)
    assert parse(kind, json.loads(text)).to_data() == expected


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ((), {"text": "deploying v2"}),
        (("--drill", "start"), {"text": "deploying v2", "drill": "start"}),
        (
            ("--drill", "end", "--scenario", "region-loss"),
            {"text": "deploying v2", "drill": "end", "scenario": "region-loss"},
        ),
    ],
)
def test_the_note_command_stores_the_same_data(tmp_path, capsys, options, expected):
    path = tmp_path / "journal.db"
    Journal.open(path, actor="golden").close()  # note writes to an existing journal only
    assert main(["note", "deploying v2", *options, "--journal", str(path)]) == 0
    capsys.readouterr()
    kind, text, _digest = _stored(path, 1)
    assert kind == "operator.note"
    _same(kind, text, expected)


def _fill(path: Path, count: int) -> Journal:
    journal = Journal.open(path, actor="golden")
    for index in range(count):
        journal.append("operator.note", ts=START + timedelta(minutes=index), data={"text": "x"})
    return journal


def test_a_vacuum_tombstone_stores_the_same_data(tmp_path):
    path = tmp_path / "journal.db"
    with _fill(path, 4) as journal:
        hashes = _hashes(path)
        result = vacuum(journal, timedelta(minutes=90), now=START + timedelta(minutes=92))
    assert result.removed == 2
    kind, text, _digest = _stored(path, 5)
    assert kind == "journal.vacuumed"
    _same(
        kind,
        text,
        {
            "cutoff": "2026-03-01T12:02:00.000000Z",
            "removed_records": 2,
            "first_removed_seq": 1,
            "last_removed_seq": 2,
            "last_removed_hash": hashes[2],
            "last_removed_ts": "2026-03-01T12:01:00.000000Z",
            # The state as of the last removed record, for replay --at (notes only: none).
            "state": [],
        },
    )


def _expected_checkpoint(signer: Signer, fields: dict) -> dict:
    """A checkpoint's data as the writer built it by hand: the fields, then the signature."""
    stated = {**fields, "key_id": signer.key_id}
    ordered = {
        name: stated[name] for name in ("seq", "head_hash", "ts", "key_id", "from_seq", "digests")
    }
    signature = signer.sign(DOMAIN + canonical_json(ordered).encode())
    return {**ordered, "signature": base64.b64encode(signature).decode("ascii")}


def test_a_checkpoint_and_the_tombstone_keeping_it_store_the_same_data(tmp_path):
    path = tmp_path / "journal.db"
    signer = Signer(Ed25519PrivateKey.from_private_bytes(SEED))
    with _fill(path, 3) as journal:
        signed_at = START + timedelta(minutes=3)
        assert write_checkpoint(journal, signer, now=signed_at) is not None
        journal.append("operator.note", ts=START + timedelta(minutes=200), data={"text": "y"})
        hashes = _hashes(path)
        kind, checkpoint_text, checkpoint_hash = _stored(path, 4)
        assert kind == "journal.checkpoint"
        expected = _expected_checkpoint(
            signer,
            {
                "seq": 3,
                "head_hash": hashes[3],
                "ts": "2026-03-01T12:03:00.000000Z",
                "from_seq": 1,
                "digests": [hashes[seq][:16] for seq in (1, 2, 3)],
            },
        )
        _same(kind, checkpoint_text, expected)
        vacuum(journal, timedelta(minutes=60), now=START + timedelta(minutes=190))
    kind, text, _digest = _stored(path, 6)
    assert kind == "journal.vacuumed"
    _same(
        kind,
        text,
        {
            "cutoff": "2026-03-01T14:10:00.000000Z",
            "removed_records": 4,
            "first_removed_seq": 1,
            "last_removed_seq": 4,
            "last_removed_hash": checkpoint_hash,
            "last_removed_ts": "2026-03-01T12:03:00.000000Z",
            "last_removed_checkpoint": {"seq": 4, "hash": checkpoint_hash, "data": expected},
            "state": [],
        },
    )
