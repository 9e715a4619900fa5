"""waitress with deliberate limits and the graceful drain waitress lacks.

waitress stops by closing everything at once. Behind a Kubernetes Service that
drops requests: endpoints are updated some time after SIGTERM, so requests keep
arriving, and requests already accepted are cut off. :class:`WebServer` runs
waitress's event loop itself and shuts down in three steps (as podinfo does):

1. **drain**: on :meth:`WebServer.begin_drain` (SIGTERM) readiness turns false,
   so ``/readyz`` answers 503, and everything is still served for
   ``drain_seconds`` while the endpoints are updated;
2. **close**: connections the kernel has already established but the loop
   has not yet taken from the listen backlog are accepted (up to
   ``connection_limit``), then the listening socket is closed; idle
   connections are closed; connections with a request under way (being
   received, handled or sent) are left to finish, for at most
   ``shutdown_timeout_seconds``;
3. **stop**: the worker threads are stopped and :meth:`WebServer.serve`
   returns 0, or 1 if requests had to be cut off at the deadline.

A second :meth:`WebServer.begin_drain` (a second SIGTERM or Ctrl-C) cuts the
drain period short; in-flight requests still get their time to finish.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import time
import warnings
from collections.abc import Callable
from typing import Any

import waitress
from waitress import wasyncore
from waitress.adjustments import Adjustments

from webapp.readiness import Readiness
from webapp.settings import ServerSettings

# How often the loop looks at the drain's deadlines when nothing else wakes it.
_TICK_SECONDS = 0.1
# Worker threads get this long to stop once no request is under way; when
# requests are being cut off, their threads are not waited for again.
_THREAD_STOP_SECONDS = 2.0
_CUT_OFF_THREAD_STOP_SECONDS = 0.2

_log = logging.getLogger("webapp.server")


def waitress_adjustments(settings: ServerSettings) -> dict[str, Any]:
    """Return the keyword arguments for ``waitress.create_server``.

    The benchmark serves a bare WSGI app with the same adjustments, so the two
    differ only in the app.
    """
    adjustments: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "threads": settings.threads,
        "connection_limit": settings.connection_limit,
        "channel_timeout": settings.channel_timeout_seconds,
        # Look for timed-out connections often enough that the timeout holds
        # within a few seconds, not waitress's default 30.
        "cleanup_interval": max(1, min(10, settings.channel_timeout_seconds // 2)),
        "max_request_header_size": settings.max_request_header_size,
        "max_request_body_size": settings.max_request_body_size,
        # Bodies above this spill to a temporary file; ours are tiny or refused.
        "inbuf_overflow": settings.max_request_body_size,
        "backlog": settings.backlog,
        # poll() has no FD_SETSIZE limit, unlike select().
        "asyncore_use_poll": True,
        # No Server header: what runs here is nobody else's business.
        "ident": "",
        "expose_tracebacks": False,
        # The app sits behind Envoy; X-Forwarded-* from clients are not trusted.
        "clear_untrusted_proxy_headers": True,
    }
    if hasattr(Adjustments, "send_bytes"):
        # Send a response in one piece once the app has finished it, not each
        # write as it comes (waitress's default of 1): one wake-up of the event
        # loop per response instead of three. Under the GIL that doubles the
        # throughput and cuts the p99 several times (tests/bench). Larger
        # bodies still stream, from this size on. waitress 3 deprecates the
        # setting without a replacement; when it goes, this goes with it.
        adjustments["send_bytes"] = 18000
    return adjustments


def _has_unread_input(sock: socket.socket) -> bool:
    """Return whether the peer has sent bytes that are still in the socket's buffer."""
    try:
        return bool(sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except OSError:  # nothing to read (EAGAIN), or the connection is gone
        return False


class WebServer:
    """A waitress server for one WSGI app that drains before it stops.

    ``serve`` runs in one thread (the main thread in production); ``begin_drain``
    may be called from any thread or from a signal handler.
    """

    def __init__(
        self,
        app: Callable[..., Any],
        settings: ServerSettings,
        *,
        readiness: Readiness | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Bind the listening socket (so the port is known) without serving yet.

        Args:
            app: The WSGI app.
            settings: Limits, address and the drain's timings.
            readiness: The switch to flip when the drain starts.
            clock: A monotonic clock in seconds.

        Raises:
            OSError: The address cannot be bound (in use, not local, no permission).
        """
        self._settings = settings
        self._readiness = readiness or Readiness()
        self._clock = clock
        self._map: dict[int, Any] = {}
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "send_bytes", DeprecationWarning)
            self._server = waitress.create_server(
                app, map=self._map, **waitress_adjustments(settings)
            )
        self.host: str = self._server.effective_host
        self.port: int = int(self._server.effective_port)
        self._drain_requests = 0
        self._stopped = False

    def begin_drain(self) -> None:
        """Start the drain; called again, end the drain period at once.

        Safe in a signal handler: it only counts and wakes the event loop.
        """
        self._drain_requests += 1
        if self._stopped:
            return
        # The loop may close the trigger meanwhile: then it has stopped anyway.
        with contextlib.suppress(OSError):
            self._server.pull_trigger()

    def serve(self) -> int:
        """Serve until a drain has run its course.

        Returns:
            0 when every request under way finished, 1 when some had to be cut
            off after ``shutdown_timeout_seconds``.
        """
        settings = self._settings
        drain_deadline: float | None = None
        close_deadline: float | None = None
        thread_stop_seconds = _THREAD_STOP_SECONDS
        try:
            while True:
                wasyncore.loop(timeout=_TICK_SECONDS, map=self._map, use_poll=True, count=1)
                if self._drain_requests == 0:
                    continue
                now = self._clock()
                if drain_deadline is None:
                    self._readiness.start_draining()
                    drain_deadline = now + settings.drain_seconds
                    _log.info(
                        "draining: /readyz answers 503, still serving",
                        extra={"fields": {"drain_seconds": settings.drain_seconds}},
                    )
                if close_deadline is None:
                    if now < drain_deadline and self._drain_requests < 2:
                        continue
                    self._stop_listening()
                    close_deadline = now + settings.shutdown_timeout_seconds
                busy = self._close_idle_connections()
                if busy == 0:
                    _log.info("all requests finished; stopping")
                    return 0
                if now >= close_deadline:
                    _log.error(
                        "requests still under way at the shutdown deadline; cutting them off",
                        extra={
                            "fields": {
                                "connections": busy,
                                "shutdown_timeout_seconds": settings.shutdown_timeout_seconds,
                            }
                        },
                    )
                    thread_stop_seconds = _CUT_OFF_THREAD_STOP_SECONDS
                    return 1
        finally:
            self._close(thread_stop_seconds)

    def _stop_listening(self) -> None:
        server = self._server
        if server.accepting:
            server.accepting = False
            self._accept_waiting_connections()
            # The dispatcher's close, not the server's: the server's also closes
            # the trigger that worker threads use to wake the loop.
            wasyncore.dispatcher.close(server)
            _log.info(
                "stopped accepting connections; waiting for requests under way",
                extra={"fields": {"connections": len(self._server.active_channels)}},
            )

    def _accept_waiting_connections(self) -> None:
        """Accept the connections waiting in the listen backlog, as the loop would have.

        For the client such a connection is established, and it may have sent
        its request already; closing the listener would reset it. A connection
        reaches the backlog between the loop's last look at the listener and
        the close, so this is a race under load, not a corner case. The
        connection limit still holds: beyond it waitress would not accept
        either.
        """
        server = self._server
        poller = select.poll()
        poller.register(server.socket.fileno(), select.POLLIN)
        # Bounded: the backlog holds at most this many; a failed accept (a
        # client that gave up meanwhile) is logged by waitress and skipped.
        for _ in range(self._settings.backlog):
            if len(self._map) >= self._settings.connection_limit or not poller.poll(0):
                return
            server.handle_accept()

    def _close_idle_connections(self) -> int:
        """Close every connection with no request under way; count the others."""
        busy = 0
        for channel in list(self._server.active_channels.values()):
            # A request is under way from its first byte received (channel.request)
            # through its handling (channel.requests) until its response is sent;
            # bytes the loop has not read yet count as a request too.
            if (
                channel.requests
                or channel.request is not None
                or channel.total_outbufs_len
                or _has_unread_input(channel.socket)
            ):
                busy += 1
            else:
                channel.handle_close()
        return busy

    def _close(self, thread_stop_seconds: float) -> None:
        self._stopped = True
        self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=thread_stop_seconds)
        wasyncore.close_all(self._map)
