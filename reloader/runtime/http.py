"""The controller's HTTP endpoints on ``HTTP_PORT``: health, readiness, leadership, metrics.

``/healthz`` is every replica's probe target: 200 while its loops make
progress. ``/readyz`` is 200 only on the leader once its first lists are in
(and while its journal is writable). ``/leadz`` tells who leads. ``/metrics``
is the Prometheus exposition of the registry passed in.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

import falcon
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from waitress.server import create_server

from reloader.runtime.threadnames import named
from telemetry.httpguard import KnownMethod, StrictPath

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from reloader.runtime.health import Health
    from reloader.runtime.leadership import Leadership

log = logging.getLogger(__name__)


class _Healthz:
    def __init__(self, health: Health) -> None:
        self.health = health

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        ok, detail = self.health.liveness()
        resp.status = falcon.HTTP_200 if ok else falcon.HTTP_503
        resp.media = detail

    on_head = on_get


class _Readyz:
    def __init__(self, health: Health, leadership: Leadership) -> None:
        self.health = health
        self.leadership = leadership

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        ready, detail = self.health.readiness(self.leadership.is_leader())
        resp.status = falcon.HTTP_200 if ready else falcon.HTTP_503
        resp.media = detail

    on_head = on_get


class _Leadz:
    def __init__(self, leadership: Leadership) -> None:
        self.leadership = leadership

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self.leadership.status().as_dict()

    on_head = on_get  # HEAD wherever GET is (RFC 9110, 9.3.2)


class _Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = CONTENT_TYPE_LATEST
        resp.data = generate_latest(self.registry)

    on_head = on_get


class _NoStore:
    """Probes and scrapes must never be served from a cache."""

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        resp.cache_control = ["no-store"]


def create_app(health: Health, leadership: Leadership, registry: CollectorRegistry) -> falcon.App:
    """Return the WSGI app serving the four endpoints from the given sources."""
    # Only the endpoints' own spellings (``//metrics`` is not ``/metrics`` to
    # whatever decides by the path as sent) and known methods (else 501).
    app = falcon.App(middleware=[_NoStore(), KnownMethod(), StrictPath()])
    app.add_route("/healthz", _Healthz(health))
    app.add_route("/readyz", _Readyz(health, leadership))
    app.add_route("/leadz", _Leadz(leadership))
    app.add_route("/metrics", _Metrics(registry))
    return app


class HttpServer:
    """waitress serving the app on a background thread."""

    def __init__(self, app: falcon.App, host: str, port: int) -> None:
        """Bind ``host:port`` at once (port 0 picks a free one); serve after :meth:`start`."""
        # Two threads: probes and scrapes are tiny; a slow scraper cannot starve a probe.
        self._server = create_server(
            app,
            host=host,
            port=port,
            threads=2,
            channel_timeout=30,
            connection_limit=64,
            ident="shipshape-controller",
        )
        self.host = host
        self.port = int(self._server.effective_port)
        self._closing = threading.Event()
        self._thread = threading.Thread(target=named(self._serve), name="http", daemon=True)

    def start(self) -> None:
        """Start serving."""
        self._thread.start()

    def _serve(self) -> None:
        try:
            self._server.run()
        except OSError:
            # A socket closed by stop() between the loop's building of its
            # select() list and the call itself (EBADF): stopped, not failed.
            if not self._closing.is_set():
                raise

    def stop(self) -> None:
        """Stop accepting and let the serving thread end."""
        self._closing.set()
        try:
            self._server.close()
            self._server.task_dispatcher.shutdown(timeout=2)
        except Exception:  # best effort at shutdown
            log.debug("http server close raised", exc_info=True)
