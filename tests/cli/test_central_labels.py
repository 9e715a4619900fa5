"""``ship`` signs its ``journal.shipped`` records: relabelling with them rewritten is caught."""

from __future__ import annotations

import json
import sqlite3

from journal import Journal, kinds
from journal.chain import GENESIS
from tests.journal.signing_helpers import row_hash, write_key_pair


def _source(path, count: int, actor: str) -> None:
    with Journal.open(path, actor=actor) as writer:
        for n in range(count):
            writer.append(kinds.OPERATOR_NOTE, data={"n": n})


def _relabel_and_rewrite_the_statements(central) -> None:
    """What a forger with the database does: swap the labels, restate them, re-chain."""
    connection = sqlite3.connect(central)
    try:
        connection.execute("DROP TRIGGER IF EXISTS journal_records_no_update")
        connection.execute(
            "UPDATE journal_records SET cluster = CASE cluster WHEN 'prod-eu' THEN 'prod-us' "
            "ELSE 'prod-eu' END WHERE stream IS NOT NULL"
        )
        own = connection.execute(
            "SELECT seq, id, ts, kind, namespace, object, correlation_id, actor, leader_epoch, "
            "data, prev_hash, hash FROM journal_records WHERE stream IS NULL ORDER BY seq"
        ).fetchall()
        prev = GENESIS
        for row in own:
            data = json.loads(row[9])
            if row[3] == kinds.JOURNAL_SHIPPED:
                data["cluster"] = {"prod-eu": "prod-us", "prod-us": "prod-eu"}[data["cluster"]]
            digest = row_hash(row, row[0], data, prev)
            connection.execute(
                "UPDATE journal_records SET data = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                (json.dumps(data, sort_keys=True, separators=(",", ":")), prev, digest, row[0]),
            )
            prev = digest
        connection.commit()
    finally:
        connection.close()


def test_a_signed_ship_catches_labels_rewritten_with_their_statements(tmp_path, run, monkeypatch):
    private, public = write_key_pair(tmp_path)
    monkeypatch.setenv("JOURNAL_SIGNING_KEY_FILE", str(private))
    central = tmp_path / "central.db"
    for cluster, count in (("prod-eu", 3), ("prod-us", 2)):
        _source(tmp_path / f"{cluster}.db", count, f"{cluster}-controller-0")
        shipped = run(
            "ship", "--journal", tmp_path / f"{cluster}.db", "--to", central, "--cluster", cluster
        )
        assert shipped.code == 0, shipped.err
    with Journal.open(central, readonly=True) as reader:
        own = [record.kind for record in reader.read() if record.stream is None]
    assert own == [kinds.JOURNAL_SHIPPED, kinds.JOURNAL_CHECKPOINT] * 2
    signed = run("verify", "--journal", central, "--public-key", public)
    assert signed.code == 0, signed.out + signed.err
    # The central's own chain, the statements, is signed through its head.
    assert "2 signed checkpoints, signed through seq 8 " in signed.out, signed.out
    _relabel_and_rewrite_the_statements(central)
    # The chain alone is fooled: the statements now say what the rows say.
    assert run("verify", "--journal", central).code == 0
    # Their signature is not.
    caught = run("verify", "--journal", central, "--public-key", public)
    assert caught.code == 1
    assert caught.out.startswith(
        "FAILED: seq 4: record differs from the one the checkpoint at seq 5 signed"
    ), caught.out
