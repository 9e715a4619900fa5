"""Builds the Falcon app from its dependencies; reads no environment.

Following Falcon's "look" example, :func:`create_app` receives everything it
uses (settings, metrics registry, readiness switch, tracing), so a test builds
one with a fresh ``CollectorRegistry`` and drives it with
``falcon.testing.TestClient``. Only :mod:`webapp.main` reads the environment.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import falcon

from telemetry.buildinfo import VERSION
from telemetry.httpguard import KnownMethod, StrictPath
from webapp.metrics import HttpMetrics, register_build_info
from webapp.observe import RequestObserver, SecurityHeaders
from webapp.readiness import Readiness
from webapp.resources import Greeting, Health, Metrics, Ready, Version

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from telemetry.tracing import Tracing
    from webapp.settings import Settings

ROUTES = ("/", "/healthz", "/readyz", "/version", "/metrics")
ACCESS_LOGGER = "webapp.access"


def create_app(
    settings: Settings,
    registry: CollectorRegistry,
    *,
    readiness: Readiness | None = None,
    tracing: Tracing | None = None,
    version: str = VERSION,
    commit: str = "unknown",
    logger: logging.Logger | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> falcon.App:
    """Return the helloworld WSGI app.

    Args:
        settings: The message, environment and the rest of the configuration.
        registry: Where the app registers its metrics; ``/metrics`` exposes it.
        readiness: The switch ``/readyz`` reports; a new, ready one when omitted.
        tracing: Started tracing from :func:`telemetry.tracing.setup_tracing`, or none.
        version: The build's version (``/version``, ``/``, ``build_info``).
        commit: The build's source commit (``/version``, ``build_info``).
        logger: Where access lines go; ``webapp.access`` when omitted.
        clock: A monotonic clock in seconds, for request durations.
    """
    metrics = HttpMetrics(registry, ROUTES)
    register_build_info(registry, version, commit)
    observer = RequestObserver(
        metrics,
        logger=logger or logging.getLogger(ACCESS_LOGGER),
        tracing=tracing,
        clock=clock,
    )
    # The observer comes first so that an unknown method (501) and a refused
    # spelling (404) are measured and logged.
    app = falcon.App(middleware=[observer, KnownMethod(), StrictPath(), SecurityHeaders()])
    app.add_route("/", Greeting(settings.message, settings.app_env, version))
    app.add_route("/healthz", Health())
    app.add_route("/readyz", Ready(readiness or Readiness()))
    app.add_route("/version", Version(version, commit))
    app.add_route("/metrics", Metrics(registry))
    app.add_error_handler(Exception, _unexpected_error)
    return app


_error_log = logging.getLogger("webapp")


def _unexpected_error(
    req: falcon.Request, resp: falcon.Response, error: Exception, params: dict[str, Any]
) -> None:
    """Log an unexpected exception through the JSON log, answer a bare 500.

    Falcon's own handler writes the traceback to ``wsgi.errors`` (stderr, not
    JSON, not redacted); this one logs it as one redacted line and tells the
    client nothing about the internals.
    """
    _error_log.error(
        "unexpected error while serving %s %s",
        req.method[:16],
        req.path[:256],
        exc_info=(type(error), error, error.__traceback__),
    )
    raise falcon.HTTPInternalServerError()
