"""An append to a PostgreSQL journal whose commit's answer is lost with the connection.

The server commits, then the network drops the connection before its answer
(``CommandComplete COMMIT``) reaches the writer: a failover, a load balancer
cutting idle or long connections. The writer cannot know whether its records
are in; the controller's outbox tries the same records again. They must be in
the journal once, never twice, and never reported as not written when they are.

A TCP relay between the writer and the real server drops the connection at
that moment (it reads the server's bytes for the COMMIT's answer).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import pytest

from journal import Entry, Journal, JournalWriteError, kinds, verify

#: CommandComplete carrying the tag COMMIT: 'C', int32 length 11, "COMMIT\0".
_COMMIT_DONE = b"C\x00\x00\x00\x0bCOMMIT\x00"


class Relay:
    """Forwards TCP connections to the server; can drop one at its next COMMIT answer."""

    def __init__(self, port: int) -> None:
        self._target = port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.drop_commit = threading.Event()
        self.dropped = threading.Event()
        self.refusing = threading.Event()
        #: Client bytes that arm ``drop_commit`` when seen (the transaction's own statement).
        self.drop_after: bytes | None = None
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.refusing.is_set():  # the server is out of reach
                client.close()
                continue
            server = socket.create_connection(("127.0.0.1", self._target))
            self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, from_server: bool) -> None:
        tail = b""
        try:
            while chunk := source.recv(65536):
                seen = tail + chunk
                if not from_server and self.drop_after is not None and self.drop_after in seen:
                    self.drop_after = None
                    self.drop_commit.set()
                if from_server and self.drop_commit.is_set() and _COMMIT_DONE in seen:
                    self.drop_commit.clear()
                    self.dropped.set()
                    break  # the answer is never forwarded
                target.sendall(chunk)
                tail = seen[-64:]
        except OSError:
            pass
        for end in (source, target):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def close(self) -> None:
        self._listener.close()
        for end in self._sockets:
            end.close()


@pytest.fixture
def relay(postgres_server) -> Iterator[Relay]:
    found = Relay(postgres_server.port)
    yield found
    found.close()


def _through(url: str, relay: Relay) -> str:
    """``url`` with its port replaced by the relay's (and no TLS to read through)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit(":", 1)[0] + f":{relay.port}"
    return urlunsplit(parts._replace(netloc=netloc, query="sslmode=disable"))


def _entries(n: int) -> list[Entry]:
    moment = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)
    return [
        Entry(kind=kinds.OPERATOR_NOTE, data={"text": f"note {i}"}, ts=moment) for i in range(n)
    ]


def _notes(url: str) -> list[str]:
    with Journal.open(url, readonly=True) as journal:
        return [record.data["text"] for record in journal.read(kinds=(kinds.OPERATOR_NOTE,))]


def test_an_append_whose_commit_answer_is_lost_is_in_once_and_reported_written(postgres_url, relay):
    with Journal.open(_through(postgres_url, relay), actor="helloworld-controller-0") as journal:
        journal.write_many(_entries(1))
        relay.drop_commit.set()
        appended = journal.append_many(_entries(3))
        assert relay.dropped.is_set()
    assert [record.data["text"] for record in appended] == ["note 0", "note 1", "note 2"]
    assert _notes(postgres_url) == ["note 0", "note 0", "note 1", "note 2"]
    with Journal.open(postgres_url, readonly=True) as journal:
        assert [record.seq for record in journal.read()] == [1, 2, 3, 4]
        assert verify(journal).ok


def test_the_outbox_trying_again_after_an_outage_does_not_append_twice(postgres_url, relay):
    with Journal.open(_through(postgres_url, relay), actor="helloworld-controller-0") as journal:
        journal.write_many(_entries(1))
        relay.drop_commit.set()
        relay.refusing.set()  # and the server stays out of reach for a while
        with pytest.raises(JournalWriteError) as raised:
            journal.write_many(_entries(2))
        assert relay.dropped.is_set()
        assert "\n" not in str(raised.value)
        relay.refusing.clear()
        # The controller's outbox tries the same records again (same ts, same data).
        assert journal.write_many(_entries(2)) == 2
        journal.write_many([Entry(kind=kinds.OPERATOR_NOTE, data={"text": "after"})])
    assert _notes(postgres_url) == ["note 0", "note 0", "note 1", "after"]
    with Journal.open(postgres_url, readonly=True) as journal:
        assert [record.seq for record in journal.read()] == [1, 2, 3, 4]
        assert verify(journal).ok
