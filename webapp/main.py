"""``shipshape-web``: the only place the web app reads its environment.

Reads and validates the settings (a bad value is one line on stderr naming the
variable, exit 2), sets up JSON logging, metrics and optional tracing, builds
the app, binds waitress and serves until SIGTERM (or SIGINT) has drained it.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Mapping
from types import FrameType

import click
from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

from telemetry import buildinfo
from telemetry.config import ConfigError
from telemetry.logs import configure_logging
from telemetry.throttle import Throttle
from telemetry.tracing import setup_tracing
from webapp.app import create_app
from webapp.readiness import Readiness
from webapp.server import WebServer
from webapp.settings import load_settings

EXIT_USAGE = 2
QUEUE_WARNING_INTERVAL_SECONDS = 10.0
_log = logging.getLogger("webapp")


def run(environ: Mapping[str, str]) -> int:
    """Run the web app configured by ``environ`` until it has drained.

    Returns:
        The process's exit code: 0 after a clean drain, 1 when requests had to
        be cut off or the address could not be bound, 2 for a bad setting.
    """
    try:
        settings = load_settings(environ)
    except ConfigError as error:
        print(f"shipshape-web: {error}", file=sys.stderr)  # noqa: T201 - before logging exists
        return EXIT_USAGE
    handler = configure_logging(settings.log_level)
    # The JSON lines carry no thread or process names; not collecting them
    # saves a few microseconds on every access line.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # waitress warns once per request queued behind busy threads; at saturation
    # that is a line per request. Once every few seconds says as much.
    logging.getLogger("waitress.queue").addFilter(Throttle(QUEUE_WARNING_INTERVAL_SECONDS))

    # The *_created series double the output and no query here uses them.
    disable_created_metrics()
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)

    tracing = setup_tracing(
        settings.tracing, service_version=buildinfo.VERSION, environment=settings.app_env
    )
    if tracing is not None:
        handler.addFilter(tracing.log_filter())

    readiness = Readiness()
    commit = buildinfo.commit()
    app = create_app(settings, registry, readiness=readiness, tracing=tracing, commit=commit)
    try:
        server = WebServer(app, settings.server, readiness=readiness)
    except (OSError, ValueError) as error:  # waitress: ValueError for a name that won't resolve
        _log.error(
            "cannot listen on %s:%d: %s",
            settings.server.host,
            settings.server.port,
            getattr(error, "strerror", None) or error,
        )
        return 1

    def on_signal(signum: int, frame: FrameType | None) -> None:
        server.begin_drain()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    _log.info(
        "listening on %s:%d",
        server.host,
        server.port,
        extra={
            "fields": {
                "host": server.host,
                "port": server.port,
                "threads": settings.server.threads,
                "env": settings.app_env,
                "version": buildinfo.VERSION,
                "commit": commit,
                "tracing": tracing is not None,
            }
        },
    )
    code = server.serve()
    if tracing is not None:
        tracing.shutdown()
    _log.info("stopped", extra={"fields": {"exit_code": code}})
    return code


@click.command(
    name="shipshape-web",
    help=(
        "Serve the helloworld web app until SIGTERM has drained it. Configured by "
        "environment variables only; each is listed with its default, validation and "
        "incident impact in docs/reference/configuration.md."
    ),
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(buildinfo.VERSION, "-V", "--version", prog_name="shipshape-web")
def main() -> None:
    """Console entry point of ``shipshape-web``: ``--help`` and ``--version``, else serve."""
    sys.exit(run(os.environ))
