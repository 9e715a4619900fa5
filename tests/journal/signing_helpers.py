"""Keys on disk and the attacker's tools for the signed-checkpoint tests."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from journal.chain import GENESIS, canonical_json, record_hash


def _attacker(path: Path) -> sqlite3.Connection:
    """Open the file as someone with sqlite3 would, append-only trigger dropped."""
    connection = sqlite3.connect(path)
    connection.execute("DROP TRIGGER IF EXISTS journal_records_no_update")
    return connection


def write_key_pair(directory: Path, name: str = "signing") -> tuple[Path, Path]:
    """Write a new Ed25519 key pair (PKCS#8 PEM, SubjectPublicKeyInfo PEM); return both paths."""
    key = Ed25519PrivateKey.generate()
    private = directory / f"{name}.pem"
    public = directory / f"{name}.pub.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def row_hash(row: Sequence[Any], seq: int, data: Any, prev_hash: str) -> str:
    """The chain hash of a stored row (the record columns in order) with ``data`` and ``prev_hash``.

    What an attacker computes with the canonical form ``journal/chain.py`` documents.
    """
    return record_hash(
        seq=seq,
        id=row[1],
        ts=row[2],
        kind=row[3],
        namespace=row[4],
        object=row[5],
        correlation_id=row[6],
        actor=row[7],
        leader_epoch=row[8],
        data=data,
        prev_hash=prev_hash,
    )


def rechain(path: Path, *, after: int = 0) -> None:
    """Recompute ``prev_hash`` and ``hash`` of every record after seq ``after``.

    Exactly what an attacker does with the canonical form ``journal/chain.py``
    documents, so that the plain hash chain verifies again.
    """
    connection = _attacker(path)
    try:
        rows = connection.execute(
            "SELECT seq, id, ts, kind, namespace, object, correlation_id, actor, leader_epoch, "
            "data, prev_hash, hash FROM journal_records ORDER BY seq"
        ).fetchall()
        prev = GENESIS
        first = True
        for row in rows:
            seq = row[0]
            if first:
                prev, first = row[10], False  # keep the anchor (GENESIS or a tombstone's)
            if seq <= after:
                prev = row[11]
                continue
            digest = row_hash(row, seq, json.loads(row[9]), prev)
            connection.execute(
                "UPDATE journal_records SET prev_hash = ?, hash = ? WHERE seq = ?",
                (prev, digest, seq),
            )
            prev = digest
        connection.commit()
    finally:
        connection.close()


def forge(path: Path, seq: int, data: dict[str, object]) -> None:
    """Replace record ``seq``'s data and re-chain everything from there on."""
    connection = _attacker(path)
    try:
        connection.execute(
            "UPDATE journal_records SET data = ? WHERE seq = ?",
            (canonical_json(data), seq),  # as the journal stores it: only the hash can tell
        )
        connection.commit()
    finally:
        connection.close()
    rechain(path, after=seq - 1)


def execute(path: Path, statement: str, *params: object) -> None:
    """Run one SQL statement on the journal file (the attacker's sqlite3)."""
    connection = _attacker(path)
    try:
        connection.execute(statement, params)
        connection.commit()
    finally:
        connection.close()
