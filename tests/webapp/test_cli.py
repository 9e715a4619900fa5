"""``shipshape-web`` as a process on 127.0.0.1: configuration, logs, metrics, drain, tracing."""

from __future__ import annotations

import json
import signal
import socket
import sys
import time

import pytest

from tests.otlp_receiver import OtlpReceiver
from tests.webapp import rawhttp
from tests.webapp.conftest import samples
from tests.webapp.process import WebProcess

pytestmark = pytest.mark.slow

SECRET = "tok-9f8e7d6c5b4a"


@pytest.fixture
def spawn():
    started: list[WebProcess] = []

    def start(env: dict[str, str], command: list[str] | None = None) -> WebProcess:
        process = WebProcess(env, command)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


@pytest.fixture(scope="module")
def web():
    process = WebProcess(
        {"MESSAGE": "Hello from the test overlay", "APP_ENV": "test", "GIT_COMMIT": "0123abc"}
    )
    try:
        yield process
        assert process.terminate() == 0
    finally:
        process.kill()


def test_serves_the_message_from_the_environment(web):
    status, headers, body = web.request("/")
    assert (status, body) == (200, b"Hello from the test overlay\n")
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    status, _, body = web.request("/", headers={"Accept": "application/json"})
    assert status == 200
    assert json.loads(body) == {
        "message": "Hello from the test overlay",
        "env": "test",
        "version": "0.1.0",
    }
    assert json.loads(web.request("/version")[2]) == {"version": "0.1.0", "commit": "0123abc"}


def test_metrics_count_the_traffic(web):
    before = samples(web.request("/metrics")[2].decode(), "http_requests_total")
    for _ in range(3):
        web.request("/")
    web.request("/no/such/page")
    web.request("/", method="DELETE")
    after = samples(web.request("/metrics")[2].decode(), "http_requests_total")

    def delta(method, path, status):
        key = (("method", method), ("path", path), ("status", status))
        return after.get(key, 0) - before.get(key, 0)

    assert delta("GET", "/", "200") == 3
    assert delta("GET", "other", "404") == 1
    assert delta("DELETE", "other", "405") == 1
    exposition = web.request("/metrics")[2].decode()
    assert 'build_info{commit="0123abc",version="0.1.0"} 1.0' in exposition
    assert "process_resident_memory_bytes" in exposition
    assert "_created" not in exposition


def test_logs_are_json_lines_on_stdout(web):
    web.request("/healthz?probe=1")
    access = web.wait_for_line(lambda line: line.get("query") == "probe=1")
    assert access["logger"] == "webapp.access"
    assert (access["route"], access["status"]) == ("/healthz", 200)
    for line in web.json_lines():
        assert {"ts", "level", "logger", "msg"} <= set(line)
    assert web.stderr == []


def test_a_secret_in_a_query_string_is_redacted(web):
    web.request(f"/?lang=en&access_token={SECRET}")
    web.request(f"/missing?password={SECRET}", headers={"Authorization": f"Bearer {SECRET}"})
    web.wait_for_line(lambda line: line.get("query") == "lang=en&access_token=[REDACTED]")
    web.wait_for_line(lambda line: line.get("query") == "password=[REDACTED]")
    assert SECRET not in "\n".join(web.stdout + web.stderr)


def test_sigterm_drains_and_finishes_the_request_in_flight(spawn):
    web = spawn({"DRAIN_SECONDS": "1", "MESSAGE": "still here"})
    in_flight = rawhttp.Connection(web.port)
    try:
        in_flight.send(b"GET / HTTP/1.1\r\nHost: helloworld\r\n")  # the rest comes later
        web.process.send_signal(15)
        deadline = time.monotonic() + 10
        while web.request("/readyz")[0] != 503:
            assert time.monotonic() < deadline, "/readyz never turned 503"
        # After the drain period the port closes, but the request under way holds
        # the process until it is answered.
        while True:
            try:
                socket.create_connection(("127.0.0.1", web.port), timeout=1).close()
            except ConnectionRefusedError:
                break
            assert time.monotonic() < deadline, "the listener never closed"
            time.sleep(0.02)
        assert web.process.poll() is None
        in_flight.send(b"\r\n")
        response = in_flight.read_response()
    finally:
        in_flight.close()
    assert (response.status, response.body) == (200, b"still here\n")
    assert web.wait() == 0
    messages = [line["msg"] for line in web.json_lines()]
    draining = messages.index("draining: /readyz answers 503, still serving")
    closed = messages.index("stopped accepting connections; waiting for requests under way")
    assert draining < closed < messages.index("all requests finished; stopping")
    assert messages[-1] == "stopped"


def test_ctrl_c_drains_like_sigterm(spawn):
    web = spawn({})
    assert web.request("/")[0] == 200
    web.process.send_signal(signal.SIGINT)
    assert web.wait() == 0
    messages = [line["msg"] for line in web.json_lines()]
    assert "draining: /readyz answers 503, still serving" in messages
    assert messages[-1] == "stopped"
    assert web.stderr == []


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PORT", "http", "invalid PORT: must be a whole number (got 'http')"),
        ("THREADS", "0", "invalid THREADS: must be at least 1 (got '0')"),
        (
            "LOG_LEVEL",
            "loud",
            "invalid LOG_LEVEL: must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL (got 'loud')",
        ),
        (
            "LISTEN_HOST",
            "999.1.1.1",
            "invalid LISTEN_HOST: must be an IP address or a host name (got '999.1.1.1')",
        ),
    ],
)
def test_a_bad_setting_stops_start_up_with_one_line_and_exit_2(spawn, variable, value, message):
    web = spawn({variable: value})
    assert web.wait() == 2
    assert web.stderr == [f"shipshape-web: {message}"]
    assert web.stdout == []


def test_log_level_warning_silences_the_access_log(spawn):
    with socket.socket() as probe:  # a free port: nothing is logged at WARNING to read it from
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    web = spawn({"LOG_LEVEL": "WARNING", "PORT": str(port)})
    web._port = port
    deadline = time.monotonic() + 15
    while True:
        try:
            status = web.request("/")[0]
            break
        except ConnectionRefusedError:
            assert time.monotonic() < deadline and web.process.poll() is None
            time.sleep(0.05)
    assert status == 200
    assert web.terminate() == 0
    assert web.stdout == []


def test_a_port_in_use_is_one_error_line_and_exit_1(spawn):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        web = spawn({"PORT": str(port)})
        assert web.wait() == 1
    (line,) = web.json_lines()
    assert line["level"] == "ERROR"
    assert line["msg"].startswith(f"cannot listen on 127.0.0.1:{port}: ")
    assert web.stderr == []


def test_a_listen_host_that_does_not_resolve_is_one_error_line_and_exit_1(spawn):
    web = spawn({"LISTEN_HOST": "no-such-host.invalid"})
    assert web.wait() == 1
    (line,) = web.json_lines()
    assert line["level"] == "ERROR"
    assert line["msg"].startswith("cannot listen on no-such-host.invalid:0: ")
    assert web.stderr == []


# Runs shipshape-web in an interpreter where no opentelemetry module can be imported.
WITHOUT_OPENTELEMETRY = """
import importlib.abc, sys

class NoOpenTelemetry(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoOpenTelemetry())
from webapp.main import main
main()
"""


def test_without_the_otel_packages_tracing_warns_once_and_the_app_runs_on(spawn):
    web = spawn({"OTEL_ENABLED": "true"}, command=[sys.executable, "-c", WITHOUT_OPENTELEMETRY])
    listening = web.wait_for_line(lambda line: line["msg"].startswith("listening on"))
    assert listening["tracing"] is False
    assert web.request("/")[0] == 200
    web.wait_for_line(lambda line: line.get("logger") == "webapp.access")
    assert web.terminate() == 0
    warnings = [line for line in web.json_lines() if line["level"] == "WARNING"]
    assert len(warnings) == 1
    assert "OpenTelemetry packages are not installed" in warnings[0]["msg"]
    assert warnings[0]["missing"].startswith("opentelemetry")
    assert [line for line in web.json_lines() if line["level"] == "ERROR"] == []


def test_tracing_exports_request_spans_and_puts_their_ids_in_the_log(spawn):
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    with OtlpReceiver() as receiver:
        web = spawn(
            {
                "OTEL_ENABLED": "true",
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                "OTEL_SERVICE_NAMESPACE": "shipshape",
                "APP_ENV": "test",
            }
        )
        assert web.wait_for_line(lambda line: line["msg"].startswith("listening"))["tracing"]
        traceparent = f"00-{trace_id}-b7ad6b7169203331-01"
        query = f"/?lang=en&access_token={SECRET}"
        assert web.request(query, headers={"traceparent": traceparent})[0] == 200
        assert web.request("/nowhere")[0] == 404
        assert web.terminate() == 0  # shutting down exports what is queued
        spans = {span.name: span for span in receiver.wait_for_spans(2)}
    assert set(spans) == {"GET /", "GET other"}
    greeting = spans["GET /"]
    assert greeting.trace_id == trace_id
    assert greeting.parent_span_id == "b7ad6b7169203331"
    assert greeting.attributes["http.route"] == "/"
    assert greeting.attributes["http.response.status_code"] == 200
    assert greeting.attributes["url.query"] == "lang=en&access_token=[REDACTED]"
    assert greeting.resource["service.name"] == "helloworld"
    assert greeting.resource["service.namespace"] == "shipshape"
    assert greeting.resource["deployment.environment.name"] == "test"
    access = {line["route"]: line for line in web.json_lines() if line["logger"] == "webapp.access"}
    assert access["/"]["trace_id"] == trace_id
    assert access["/"]["span_id"] == greeting.span_id
    assert access["other"]["trace_id"] == spans["GET other"].trace_id
