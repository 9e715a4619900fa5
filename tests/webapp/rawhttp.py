"""Raw HTTP/1.1 over a socket: for requests that ``http.client`` refuses to send.

Bad-input tests need byte-exact request lines (non-UTF-8 paths, garbage
methods, oversized headers) and pipelining; this reads responses off the
socket's one buffered reader so pipelined responses are not lost between calls.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field


@dataclass
class Response:
    """One parsed HTTP response."""

    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class Connection:
    """A client connection to 127.0.0.1 that sends raw bytes and parses responses."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self._reader = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        """Send bytes as they are."""
        self.sock.sendall(data)

    def read_response(self, head: bool = False) -> Response:
        """Read one response (``head``: the request was HEAD, so there is no body)."""
        line = self._reader.readline(65537)
        if not line:
            raise ConnectionError("connection closed before a response")
        version, status, *reason = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        if not version.startswith("HTTP/1."):
            raise AssertionError(f"not an HTTP response: {line!r}")
        headers: dict[str, str] = {}
        while True:
            line = self._reader.readline(65537)
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = b""
        if not head:
            if "content-length" in headers:
                body = self._reader.read(int(headers["content-length"]))
            elif headers.get("transfer-encoding", "").lower() == "chunked":
                body = self._read_chunked()
            elif headers.get("connection", "").lower() == "close":
                body = self._reader.read()
        return Response(int(status), reason[0] if reason else "", headers, body)

    def _read_chunked(self) -> bytes:
        body = b""
        while True:
            size = int(self._reader.readline().split(b";")[0], 16)
            if size == 0:
                self._reader.readline()
                return body
            body += self._reader.read(size)
            self._reader.readline()

    def exchange(self, data: bytes, head: bool = False) -> Response:
        """Send one request and read its response."""
        self.send(data)
        return self.read_response(head=head)

    def closed_by_peer(self) -> bool:
        """Block until the peer sends something or closes; True when it closed."""
        return self._reader.read(1) == b""

    def close(self) -> None:
        """Close the connection."""
        self._reader.close()
        self.sock.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def get(path: str, host: str = "localhost", headers: dict[str, str] | None = None) -> bytes:
    """Return a GET request for ``path`` as bytes."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def request(port: int, data: bytes, head: bool = False, timeout: float = 10.0) -> Response:
    """Open a connection, send ``data``, return the first response."""
    with Connection(port, timeout=timeout) as connection:
        return connection.exchange(data, head=head)
