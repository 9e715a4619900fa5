"""Reading a watch stream in batches: one wake-up for the events of a short window.

A watch sends one JSON document per line, each as it happens. Read line by
line, the controller wakes once per event, and on a machine where a thread's
wake-up costs tens of microseconds and the code it runs then starts from cold
caches, the waking, not the work, is most of what an event costs: a cluster
where 100 unrelated objects change every second keeps the controller busy
doing nothing. Kubernetes' own clients batch for the same reason (client-go's
informers hand the work queue whatever accumulated; the API server itself
flushes watch events to a connection in batches).

:class:`WatchStream` waits until the connection has something to read, then
lets a window pass so that the events of that window accumulate in the
socket, and takes them all in one go: at a steady trickle the thread wakes
once per window instead of once per event.

The window adapts (:func:`next_window`). It is ``coalesce_seconds`` (50 ms)
on a quiet stream, so a lone change is handled at once; while windows keep
bringing several events it doubles, up to ``busy_coalesce_seconds``
(250 ms), so a busy stream costs a few wake-ups a second however many
events it carries; and as soon as a window brings one event or none, or the
stream stays silent longer than the window, it is back to the quiet one. An
event waits at most the window longer than it would read one by one, well
within a debounce window. While busy, the window is slept from the last read
rather than from the next event's arrival: the thread then wakes once a
window, not once for the first byte and again at the window's end.

The bytes are read from the connection's socket directly, past urllib3 and
http.client (whose chunked reader returns one chunk per call and cannot say
whether reading more would block); the HTTP/1.1 chunked coding is undone
here (RFC 9112, section 7.1). Anything this reader does not expect (no
socket, a body with a length, a partly read chunk) is read the usual way,
one line at a time.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import urllib3.exceptions

_READ_SIZE = 65536
# The most a chunk-size line may hold: the size in hex and any extensions.
_MAX_SIZE_LINE = 4096


class _Dechunker:
    """Undoes the chunked transfer coding of a body fed to it in arbitrary pieces."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._left = 0  # bytes of the current chunk still to come
        self._crlf = False  # the CRLF after a chunk's data is still to come
        self.done = False  # the last chunk (size 0) was read

    def feed(self, data: bytes) -> bytes:
        """Return the body bytes ``data`` completes; raise ProtocolError on a malformed coding."""
        buffer = self._buffer
        buffer += data
        out = bytearray()
        position = 0
        while not self.done:
            if self._left:
                take = min(self._left, len(buffer) - position)
                if take == 0:
                    break
                out += buffer[position : position + take]
                position += take
                self._left -= take
                if self._left == 0:
                    self._crlf = True
                continue
            if self._crlf:
                if len(buffer) - position < 2:
                    break
                if buffer[position : position + 2] != b"\r\n":
                    raise urllib3.exceptions.ProtocolError("watch stream: chunk not ended by CRLF")
                position += 2
                self._crlf = False
                continue
            end = buffer.find(b"\r\n", position)
            if end < 0:
                if len(buffer) - position > _MAX_SIZE_LINE:
                    raise urllib3.exceptions.ProtocolError("watch stream: chunk size line too long")
                break
            size_text = bytes(buffer[position:end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise urllib3.exceptions.ProtocolError(
                    f"watch stream: bad chunk size {size_text[:32]!r}"
                ) from None
            position = end + 2
            if size == 0:
                self.done = True  # trailers, if any, are not read: the body is over
                break
            self._left = size
        del buffer[:position]
        return bytes(out)


def next_window(window: float, events: int, *, quiet: float, busy: float) -> float:
    """The coalescing window after one that brought ``events`` lines.

    Several events: the stream is busy, so the window doubles, up to
    ``busy``. One or none: back to ``quiet``.
    """
    if events > 1:
        return min(busy, max(window, quiet) * 2)
    return quiet


class WatchStream:
    """The lines of one watch response, handed out a window's worth at a time."""

    def __init__(
        self,
        response: Any,
        *,
        coalesce_seconds: float,
        read_timeout: float,
        busy_coalesce_seconds: float = 0.0,
        pause: Callable[[float], object] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Read ``response`` (a urllib3 response whose body has not been read).

        Args:
            response: The watch request's response, streamed (not preloaded).
            coalesce_seconds: How long to let events accumulate once one has
                come, on a quiet stream.
            read_timeout: How long the stream may stay silent before it is dead.
            busy_coalesce_seconds: The longest window, which a busy stream
                grows to (no wider than ``coalesce_seconds``: a fixed window).
            pause: Waits the coalescing window (the watch's stop event's wait,
                so that a stop does not wait for the window).
            clock: Tells how long the stream was silent before a window (from
                when its bytes were last taken to when more are there).
        """
        self._response = response
        self._quiet = coalesce_seconds
        self._busy = max(coalesce_seconds, busy_coalesce_seconds)
        self._window = coalesce_seconds
        self._read_timeout = read_timeout
        self._pause = pause
        self._clock = clock
        self._read_at = clock()  # when the socket was last emptied
        raw = getattr(response, "_fp", None)  # http.client's response under urllib3's
        self._socket = _socket_of(response, raw)
        self._dechunker = _Dechunker() if getattr(raw, "chunked", False) else None
        self._partial = b""
        self._poller = select.poll()
        if self._socket is not None:
            self._poller.register(self._socket.fileno(), select.POLLIN | select.POLLPRI)

    def batches(self) -> Iterator[list[bytes]]:
        """Yield the complete, non-blank lines received, a window at a time, until the end."""
        if self._socket is None:
            yield from ([line] for line in _lines_one_by_one(self._response))
            return
        # What http.client read past the headers first; then the socket.
        pending = self._response._fp.fp.read1(_READ_SIZE)
        while pending:
            lines = self._lines(pending)
            if lines:
                yield lines
            self._window = next_window(self._window, len(lines), quiet=self._quiet, busy=self._busy)
            if self._dechunker is not None and self._dechunker.done:
                break
            pending = self._read_window()
        if self._partial.strip():
            yield [self._partial]

    def _lines(self, data: bytes) -> list[bytes]:
        body = self._dechunker.feed(data) if self._dechunker is not None else data
        if not body:
            return []
        *complete, self._partial = (self._partial + body).split(b"\n")
        return [line for line in complete if line.strip()]

    def _read_window(self) -> bytes:
        """Wait for bytes, let the window pass, then take everything there is (b"": the end).

        While the stream is busy (its window wider than the quiet one) the
        window is slept from the last read, without waiting for a first byte
        before it: one wake-up a window instead of two. A window that brought
        nothing is waited out as on a quiet stream.
        """
        left = self._read_at + self._window - self._clock()
        if self._window > self._quiet and left >= 0:
            self._pause(left)
            if self._can_read(0):
                return self._take()
        if not self._can_read(self._read_timeout):
            raise _timed_out(f"silent for {self._read_timeout:g} s")
        if self._clock() - self._read_at > self._window:
            self._window = self._quiet  # nothing for longer than a window: quiet again
        if self._window > 0:
            self._pause(self._window)
        return self._take()

    def _take(self) -> bytes:
        """Everything the connection holds now (b"": the end)."""
        sock = self._socket
        assert sock is not None
        parts = []
        while True:
            try:
                data = sock.recv(_READ_SIZE)
            except TimeoutError as error:
                raise _timed_out(str(error)) from None
            if not data:
                break
            parts.append(data)
            if not self._can_read(0):
                break
        self._read_at = self._clock()
        return b"".join(parts)

    def _can_read(self, timeout: float) -> bool:
        """Whether a read would not block, waiting up to ``timeout`` seconds for one.

        TLS may hold decrypted bytes already taken from the kernel, which
        ``poll`` cannot see: ``pending`` tells those.
        """
        pending = getattr(self._socket, "pending", None)
        if pending is not None and pending():
            return True
        return bool(self._poller.poll(max(0.0, timeout) * 1000))


def _timed_out(detail: str) -> urllib3.exceptions.ReadTimeoutError:
    """The error a read timeout gives through urllib3, so it is reported alike."""
    return urllib3.exceptions.ReadTimeoutError(None, "", f"watch stream: {detail}")


def _socket_of(response: Any, raw: Any) -> socket.socket | None:
    """The socket to read the body from directly, or None to read it the usual way."""
    sock = getattr(getattr(response, "connection", None), "sock", None)
    if raw is None or not isinstance(sock, socket.socket) or getattr(raw, "fp", None) is None:
        return None
    if getattr(raw, "chunked", False):
        return sock if getattr(raw, "chunk_left", None) is None else None
    return sock if getattr(raw, "length", 0) is None else None


def _lines_one_by_one(response: Any) -> Iterator[bytes]:
    """Yield the newline-separated documents of a stream as they arrive, one read at a time."""
    buffer = b""
    while True:
        chunk = response.read1(_READ_SIZE)
        if not chunk:
            break
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield line
    if buffer.strip():
        yield buffer
