"""The web app's settings: one frozen value, read from the environment by the entry point.

``load_settings`` is the only reader of the variables (through
:mod:`telemetry.config`, so a bad value is one line naming it); everything else
receives a :class:`Settings`. The table in ``docs/reference/configuration.md``
("Web app") documents each variable, and a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from telemetry import buildinfo
from telemetry.config import env_choice, env_float, env_host, env_int, env_str
from telemetry.logs import LOG_LEVELS
from telemetry.tracing import TracingSettings, tracing_settings_from_env

DEFAULT_MESSAGE = "Hello, world!"
APP_ENVS = ("dev", "test", "prod")


@dataclass(frozen=True)
class ServerSettings:
    """How waitress listens and how it drains on SIGTERM.

    The limits are chosen, not waitress's defaults: the app takes no request
    bodies, Istio's sidecar adds a few kilobytes of headers, and a slow client
    must not hold a connection for minutes.

    Attributes:
        host: Address to bind (``LISTEN_HOST``).
        port: Port to bind (``PORT``); 0 picks a free one (tests).
        threads: Worker threads (``THREADS``).
        connection_limit: Open connections before waitress stops accepting
            (``CONNECTION_LIMIT``); further clients wait in the listen backlog.
        channel_timeout_seconds: An idle connection, or one whose request
            stalls mid-way, is closed after this long (``CHANNEL_TIMEOUT_SECONDS``).
        drain_seconds: After SIGTERM, ``/readyz`` answers 503 and requests are
            still served for this long (``DRAIN_SECONDS``).
        shutdown_timeout_seconds: After the drain, how long in-flight requests
            may take to finish before they are cut off (``SHUTDOWN_TIMEOUT_SECONDS``).
        max_request_header_size: Bytes of request line and headers (431 above).
        max_request_body_size: Bytes of request body (413 above).
        backlog: The listen socket's backlog.
    """

    host: str = "0.0.0.0"  # noqa: S104 - a container serves on every interface
    port: int = 8080
    threads: int = 8
    connection_limit: int = 200
    channel_timeout_seconds: int = 60
    drain_seconds: float = 5.0
    shutdown_timeout_seconds: float = 10.0
    max_request_header_size: int = 32 * 1024
    max_request_body_size: int = 64 * 1024
    backlog: int = 1024


@dataclass(frozen=True)
class Settings:
    """Everything ``shipshape-web`` is configured with.

    Attributes:
        message: The greeting ``/`` serves (``MESSAGE``, from the ConfigMap).
        app_env: ``dev``, ``test`` or ``prod`` (``APP_ENV``).
        log_level: ``LOG_LEVEL``.
        server: Listening and draining.
        tracing: OpenTelemetry (``OTEL_*``).
    """

    message: str = DEFAULT_MESSAGE
    app_env: str = "dev"
    log_level: str = "INFO"
    server: ServerSettings = field(default_factory=ServerSettings)
    tracing: TracingSettings = field(default_factory=TracingSettings)


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Read and validate every web app variable from ``environ``.

    Raises:
        telemetry.config.ConfigError: A value is invalid; the message is one
            line naming the variable.
    """
    server = ServerSettings(
        host=env_host(environ, "LISTEN_HOST", ServerSettings.host),
        port=env_int(environ, "PORT", ServerSettings.port, minimum=0, maximum=65535),
        threads=env_int(environ, "THREADS", ServerSettings.threads, minimum=1, maximum=256),
        connection_limit=env_int(
            environ, "CONNECTION_LIMIT", ServerSettings.connection_limit, minimum=1, maximum=10000
        ),
        channel_timeout_seconds=env_int(
            environ,
            "CHANNEL_TIMEOUT_SECONDS",
            ServerSettings.channel_timeout_seconds,
            minimum=1,
            maximum=3600,
        ),
        drain_seconds=env_float(
            environ, "DRAIN_SECONDS", ServerSettings.drain_seconds, minimum=0, maximum=300
        ),
        shutdown_timeout_seconds=env_float(
            environ,
            "SHUTDOWN_TIMEOUT_SECONDS",
            ServerSettings.shutdown_timeout_seconds,
            minimum=0,
            maximum=300,
        ),
    )
    buildinfo.commit(environ)  # refused here rather than at the first scrape
    return Settings(
        message=env_str(environ, "MESSAGE", DEFAULT_MESSAGE),
        app_env=env_choice(environ, "APP_ENV", "dev", APP_ENVS),
        log_level=env_choice(environ, "LOG_LEVEL", "INFO", LOG_LEVELS),
        server=server,
        tracing=tracing_settings_from_env(environ, default_service_name="helloworld"),
    )
