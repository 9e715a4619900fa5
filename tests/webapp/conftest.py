"""Fixtures for the web app: apps built from fakes-free parts, a live waitress server."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from dataclasses import replace

import falcon.testing
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from telemetry.logs import JsonFormatter
from webapp.app import create_app
from webapp.readiness import Readiness
from webapp.server import WebServer
from webapp.settings import ServerSettings, Settings

# Short timeouts so that the server's own clocks run inside a test's budget.
TEST_SERVER = ServerSettings(
    host="127.0.0.1",
    port=0,
    threads=4,
    channel_timeout_seconds=1,
    drain_seconds=0.0,
    shutdown_timeout_seconds=2.0,
)


class CapturedLog:
    """Every JSON line logged through the root logger while the fixture is active."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.text().splitlines()]

    def access(self) -> list[dict]:
        return [line for line in self.lines() if line["logger"] == "webapp.access"]


@pytest.fixture
def captured_log():
    captured = CapturedLog()
    handler = logging.StreamHandler(captured.stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield captured
    root.removeHandler(handler)
    root.setLevel(previous)


@pytest.fixture
def registry():
    return CollectorRegistry()


def at_start(counted):
    """``counted`` plus the request counters every app has at 0 from its start.

    For each route, ``GET`` answered 200 and 500 exist before any request (so
    the SLO's error ratio sees zero on a fresh pod); a test expecting exactly
    some counts expects these too.
    """
    from webapp.app import ROUTES
    from webapp.metrics import INITIAL_STATUSES

    zero = {
        (("method", "GET"), ("path", route), ("status", status)): 0.0
        for route in ROUTES
        for status in INITIAL_STATUSES
    }
    return {**zero, **counted}


def samples(registry_or_text, name):
    """Return ``{labels-tuple: value}`` for the samples called ``name``."""
    if isinstance(registry_or_text, CollectorRegistry):
        from prometheus_client import generate_latest

        registry_or_text = generate_latest(registry_or_text).decode()
    found = {}
    for family in text_string_to_metric_families(registry_or_text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


class LiveServer:
    """The real app on real waitress on 127.0.0.1, served from a thread."""

    def __init__(
        self, app, settings: ServerSettings, readiness: Readiness, registry, clock=time.monotonic
    ) -> None:
        self.registry = registry
        self.readiness = readiness
        self.server = WebServer(app, settings, readiness=readiness, clock=clock)
        self.port = self.server.port
        self.exit_code: int | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.exit_code = self.server.serve()

    def stop(self, timeout: float = 10.0) -> int | None:
        """Skip the drain period, let requests finish, return ``serve``'s result."""
        self.server.begin_drain()
        self.server.begin_drain()
        self._thread.join(timeout)
        return self.exit_code

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def wait(self, timeout: float) -> int | None:
        self._thread.join(timeout)
        return self.exit_code


@pytest.fixture
def start_server(registry):
    """Start live servers for a test; each is stopped (and must stop) at teardown."""
    started: list[LiveServer] = []

    def start(
        app=None, settings: ServerSettings = TEST_SERVER, clock=time.monotonic, **server_settings
    ) -> LiveServer:
        readiness = Readiness()
        if app is None:
            app = create_app(
                Settings(message="Hello from a live server"), registry, readiness=readiness
            )
        live = LiveServer(app, replace(settings, **server_settings), readiness, registry, clock)
        started.append(live)
        return live

    yield start
    for live in started:
        live.stop()
        assert not live.running, "the server did not stop"


@pytest.fixture
def live_server(start_server):
    return start_server()


@pytest.fixture
def client(registry):
    return falcon.testing.TestClient(create_app(Settings(), registry))
