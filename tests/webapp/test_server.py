"""The graceful drain on real waitress: readiness, in-flight requests, idle connections, limits."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time

import pytest

from tests.webapp import rawhttp
from webapp.server import WebServer
from webapp.settings import ServerSettings


class ManualClock:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def wait_until(condition, timeout: float = 10.0, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(0.01)


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    except ConnectionResetError:
        # The listener closed while this connection was being set up: it was
        # not refused, so look again.
        return False
    return False


def get(port: int, path: str = "/") -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


class BlockingApp:
    """A WSGI app whose /slow requests wait until the test releases them."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, environ, start_response):
        if environ["PATH_INFO"] == "/slow":
            self.entered.set()
            self.release.wait(30)
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
        return [b"done\n"]


def in_thread(function, *args):
    """Run ``function`` in a thread; its result, or the exception it raised, lands in a list."""
    results: list = []

    def run():
        try:
            results.append(function(*args))
        except Exception as error:
            results.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, results


def test_the_drain_turns_readiness_off_serves_on_then_stops_listening(start_server):
    clock = ManualClock()
    live = start_server(clock=clock, drain_seconds=5.0)
    assert get(live.port, "/readyz")[0] == 200
    live.server.begin_drain()
    wait_until(lambda: get(live.port, "/readyz")[0] == 503, message="/readyz 503")
    # The drain period: new connections and requests are still served.
    assert get(live.port, "/") == (200, b"Hello from a live server\n")
    assert get(live.port, "/healthz") == (200, b"ok\n")
    assert live.running
    clock.advance(5.0)
    assert live.wait(10) == 0
    assert refuses_connections(live.port)


def test_a_second_signal_cuts_the_drain_period_short(start_server):
    live = start_server(clock=ManualClock(), drain_seconds=300.0)
    live.server.begin_drain()
    wait_until(lambda: live.readiness.draining, message="draining")
    live.server.begin_drain()
    assert live.wait(10) == 0


def test_a_request_in_flight_finishes_after_the_listener_has_closed(start_server):
    app = BlockingApp()
    live = start_server(app=app, drain_seconds=0.0, shutdown_timeout_seconds=30.0)
    client, results = in_thread(get, live.port, "/slow")
    assert app.entered.wait(10)
    live.server.begin_drain()
    wait_until(lambda: refuses_connections(live.port), message="the listener to close")
    assert live.running, "stopped with a request under way"
    app.release.set()
    client.join(10)
    assert results == [(200, b"done\n")]
    assert live.wait(10) == 0


def test_a_request_being_received_when_the_listener_closes_is_answered(start_server):
    live = start_server(drain_seconds=0.0, shutdown_timeout_seconds=30.0)
    with rawhttp.Connection(live.port) as connection:
        connection.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
        live.server.begin_drain()
        wait_until(lambda: refuses_connections(live.port), message="the listener to close")
        assert live.running
        connection.send(b"Accept: application/json\r\n\r\n")
        response = connection.read_response()
    assert response.status == 200
    assert b'"message": "Hello from a live server"' in response.body
    assert live.wait(10) == 0


class ConnectsOnFirstReading:
    """A clock that, the first time the server reads it, connects a client and starts a request.

    The server reads its clock after the drain has begun and before it closes
    the listener: a client connecting then has an established connection that
    the event loop has not accepted yet (it waits in the listen backlog).
    """

    def __init__(self) -> None:
        self.port: int | None = None
        self.connection: rawhttp.Connection | None = None

    def __call__(self) -> float:
        if self.connection is None and self.port is not None:
            self.connection = rawhttp.Connection(self.port)
            self.connection.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
        return time.monotonic()


def test_a_connection_waiting_to_be_accepted_when_the_listener_closes_is_answered(start_server):
    clock = ConnectsOnFirstReading()
    live = start_server(clock=clock, drain_seconds=0.0, shutdown_timeout_seconds=30.0)
    clock.port = live.port
    live.server.begin_drain()
    wait_until(lambda: refuses_connections(live.port), message="the listener to close")
    assert live.running
    assert clock.connection is not None
    with clock.connection as connection:
        connection.send(b"Accept: application/json\r\n\r\n")
        response = connection.read_response()
    assert response.status == 200
    assert b'"message": "Hello from a live server"' in response.body
    assert live.wait(10) == 0


def test_requests_still_under_way_at_the_deadline_are_cut_off(start_server):
    clock = ManualClock()
    app = BlockingApp()
    live = start_server(app=app, clock=clock, drain_seconds=0.0, shutdown_timeout_seconds=10.0)
    try:
        client, results = in_thread(get, live.port, "/slow")
        assert app.entered.wait(10)
        live.server.begin_drain()
        wait_until(lambda: refuses_connections(live.port), message="the listener to close")
        clock.advance(10.0)
        assert live.wait(10) == 1
    finally:
        app.release.set()
    client.join(10)
    (outcome,) = results
    assert isinstance(outcome, ConnectionError), "the cut-off request was answered"


def test_idle_keep_alive_connections_do_not_hold_up_the_shutdown(start_server):
    live = start_server(drain_seconds=0.0, shutdown_timeout_seconds=30.0)
    with rawhttp.Connection(live.port) as idle:
        assert idle.exchange(rawhttp.get("/healthz")).status == 200
        live.server.begin_drain()
        assert live.wait(10) == 0
        assert idle.closed_by_peer()


def test_the_connection_limit_holds_further_clients_back(start_server):
    # waitress counts its listening socket and its wake-up pipe against the
    # limit too: 4 leaves room for two clients.
    live = start_server(connection_limit=4)
    first, second = rawhttp.Connection(live.port), rawhttp.Connection(live.port)
    waiting = socket.create_connection(("127.0.0.1", live.port), timeout=0.3)
    try:
        for connection in (first, second):
            assert connection.exchange(rawhttp.get("/healthz")).status == 200
        waiting.sendall(rawhttp.get("/healthz"))
        with pytest.raises(TimeoutError):
            waiting.recv(1)
        first.close()
        waiting.settimeout(10)
        assert waiting.recv(12) == b"HTTP/1.1 200"
    finally:
        for connection in (first, second, waiting):
            connection.close()


def test_a_port_in_use_is_an_os_error(start_server):
    live = start_server()
    with pytest.raises(OSError):
        WebServer(lambda e, s: [], ServerSettings(host="127.0.0.1", port=live.port))


def environ_app(environ, start_response):
    """A WSGI app that lists the request headers it was given, or fails on /fail."""
    if environ["PATH_INFO"] == "/fail":
        raise RuntimeError("internal detail password=hunter2")
    body = json.dumps(sorted(key for key in environ if key.startswith("HTTP_"))).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    start_response("200 OK", headers)
    return [body]


def test_the_server_names_no_software_and_trusts_no_forwarded_headers(start_server):
    live = start_server(app=environ_app)
    forwarded = {
        "X-Forwarded-For": "203.0.113.9",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "evil.example",
        "Forwarded": "for=203.0.113.9",
        "X-Request-Id": "r-1",
    }
    connection = http.client.HTTPConnection("127.0.0.1", live.port, timeout=10)
    try:
        connection.request("GET", "/", headers=forwarded)
        response = connection.getresponse()
        seen = json.loads(response.read())
    finally:
        connection.close()
    assert response.status == 200
    assert response.getheader("Server") is None
    assert "HTTP_X_REQUEST_ID" in seen
    assert [key for key in seen if "FORWARDED" in key] == []


def test_an_app_that_fails_gets_a_500_without_its_traceback(start_server):
    live = start_server(app=environ_app)
    status, body = get(live.port, "/fail")
    assert status == 500
    assert b"Traceback" not in body
    assert b"hunter2" not in body
