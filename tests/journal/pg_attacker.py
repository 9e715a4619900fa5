"""The attacker's tools against a PostgreSQL journal (tests/journal/postgres.py's server).

Someone who holds the database (its owner or a superuser) can switch the
append-only trigger off, change a record and recompute every later hash with
the canonical form ``journal/chain.py`` documents, so that the plain chain
verifies again. Only a signed checkpoint catches that.
"""

from __future__ import annotations

import json

import psycopg

from journal.chain import canonical_json
from tests.journal.postgres import PostgresServer
from tests.journal.signing_helpers import row_hash

_COLUMNS = (
    "seq, id, ts, kind, namespace, object, correlation_id, actor, leader_epoch, data, "
    "prev_hash, hash, stream_seq"
)


def forge(
    server: PostgresServer,
    database: str,
    position: int,
    data: dict[str, object],
    *,
    stream: str | None = None,
) -> None:
    """Replace one record's data and re-chain its chain from there on.

    ``stream``: a shipped stream (``position`` is then its ``stream_seq``, the
    seq its hashes cover); ``None``: the journal's own chain (``position`` is
    the seq).
    """
    where, order = ("stream IS NULL", "seq") if stream is None else ("stream = %s", "stream_seq")
    params = () if stream is None else (stream,)
    with psycopg.connect(server.dsn(database)) as connection:
        connection.execute("ALTER TABLE journal_records DISABLE TRIGGER journal_records_no_update")
        rows = connection.execute(
            f"SELECT {_COLUMNS} FROM journal_records WHERE {where} ORDER BY {order}",
            params,
        ).fetchall()
        prev: str | None = None
        for row in rows:
            hashed_seq = row[0] if stream is None else row[12]
            if hashed_seq < position:
                prev = row[11]
                continue
            payload = data if hashed_seq == position else json.loads(row[9])
            text = canonical_json(payload)
            link = row[10] if prev is None else prev
            digest = row_hash(row, hashed_seq, payload, link)
            connection.execute(
                "UPDATE journal_records SET data = %s, prev_hash = %s, hash = %s WHERE seq = %s",
                (text, link, digest, row[0]),
            )
            prev = digest
        connection.execute("ALTER TABLE journal_records ENABLE TRIGGER journal_records_no_update")
        connection.commit()
