"""Tracing: settings, spans exported over real OTLP/HTTP, trace ids in log lines."""

import contextlib
import io
import json
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator

from telemetry.config import ConfigError
from telemetry.logs import JsonFormatter
from telemetry.tracing import Tracing, TracingSettings, setup_tracing, tracing_settings_from_env
from tests.otlp_receiver import OtlpReceiver

SERVER_KIND = 2  # opentelemetry.proto.trace.v1.Span.SPAN_KIND_SERVER
STATUS_ERROR = 2  # opentelemetry.proto.trace.v1.Status.STATUS_CODE_ERROR


def test_settings_default_to_off_with_the_runbook_identity():
    settings = tracing_settings_from_env({})
    assert settings == TracingSettings(
        enabled=False,
        traces_url="http://localhost:4318/v1/traces",
        service_name="helloworld",
        service_namespace="shipshape",
    )


def test_settings_append_the_traces_path_to_the_base_endpoint():
    settings = tracing_settings_from_env(
        {
            "OTEL_ENABLED": "true",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector.monitoring.svc:4318/",
            "OTEL_SERVICE_NAME": "hello",
            "OTEL_SERVICE_NAMESPACE": "ns",
        }
    )
    assert settings.enabled
    assert settings.traces_url == "http://otel-collector.monitoring.svc:4318/v1/traces"
    assert (settings.service_name, settings.service_namespace) == ("hello", "ns")


def test_the_signal_specific_endpoint_is_used_as_given():
    settings = tracing_settings_from_env(
        {
            "OTEL_ENABLED": "true",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://ignored:4318",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://collector:4318/custom/traces",
        }
    )
    assert settings.traces_url == "https://collector:4318/custom/traces"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"OTEL_ENABLED": "maybe"},
            "invalid OTEL_ENABLED: must be true or false (got 'maybe')",
        ),
        (
            {"OTEL_ENABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"},
            "invalid OTEL_EXPORTER_OTLP_ENDPOINT: must be an http:// or https:// URL "
            "(got 'collector:4318')",
        ),
        (
            {"OTEL_ENABLED": "1", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:99999/v1"},
            "invalid OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: has an invalid port "
            "(got 'http://c:99999/v1')",
        ),
        (
            {"OTEL_ENABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://:4318"},
            "invalid OTEL_EXPORTER_OTLP_ENDPOINT: must be an http:// or https:// URL "
            "(got 'http://:4318')",
        ),
    ],
)
def test_bad_settings_are_one_line_naming_the_variable(environ, message):
    with pytest.raises(ConfigError) as caught:
        tracing_settings_from_env(environ)
    assert str(caught.value) == message


def test_a_bad_endpoint_does_not_matter_while_tracing_is_off():
    settings = tracing_settings_from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "not a url"})
    assert not settings.enabled


def test_disabled_tracing_starts_nothing():
    assert setup_tracing(TracingSettings(enabled=False), service_version="1") is None


@pytest.fixture
def receiver():
    with OtlpReceiver() as running:
        yield running


@pytest.fixture
def tracing(receiver):
    started = setup_tracing(
        TracingSettings(enabled=True, traces_url=receiver.endpoint + "/v1/traces"),
        service_version="9.9.9",
        environment="test",
    )
    assert started is not None
    yield started
    started.provider.shutdown()


def test_request_spans_reach_the_collector_over_otlp_http(receiver, tracing):
    span = tracing.start_request_span("GET", "/healthz", {})
    span.finish(route="/healthz", status_code=200)
    tracing.shutdown()
    (received,) = receiver.wait_for_spans(1)
    assert received.name == "GET /healthz"
    assert received.kind == SERVER_KIND
    assert received.attributes == {
        "http.request.method": "GET",
        "url.path": "/healthz",
        "url.scheme": "http",
        "http.route": "/healthz",
        "http.response.status_code": 200,
    }
    assert received.resource["service.name"] == "helloworld"
    assert received.resource["service.namespace"] == "shipshape"
    assert received.resource["service.version"] == "9.9.9"
    assert received.resource["deployment.environment.name"] == "test"


def test_a_traceparent_header_continues_the_callers_trace(receiver, tracing):
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    parent = "00f067aa0ba902b7"
    environ = {"HTTP_TRACEPARENT": f"00-{trace_id}-{parent}-01"}
    tracing.start_request_span("GET", "/", environ).finish(route="/", status_code=200)
    tracing.shutdown()
    (received,) = receiver.wait_for_spans(1)
    assert received.trace_id == trace_id
    assert received.parent_span_id == parent


def test_server_errors_mark_the_span_and_the_query_is_recorded(receiver, tracing):
    span = tracing.start_request_span("GET", "/", {})
    span.finish(route="/", status_code=503, query="token=[REDACTED]")
    for status in (500, 499):
        tracing.start_request_span("GET", f"/{status}", {}).finish(
            route="/status", status_code=status
        )
    tracing.shutdown()
    received = {span.attributes["url.path"]: span for span in receiver.wait_for_spans(3)}
    assert received["/"].status_code == STATUS_ERROR
    assert received["/"].attributes["url.query"] == "token=[REDACTED]"
    assert received["/500"].status_code == STATUS_ERROR
    assert received["/499"].status_code != STATUS_ERROR


@contextlib.contextmanager
def _json_lines(tracing: Tracing, name: str) -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing JSON lines through the tracing log filter, and what it wrote."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(tracing.log_filter())
    log = logging.getLogger(name)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield log, buffer
    finally:
        log.removeHandler(handler)


def test_lines_logged_inside_a_span_carry_its_ids(receiver, tracing):
    with _json_lines(tracing, "tests.tracing") as (log, buffer):
        span = tracing.start_request_span("GET", "/", {})
        log.info("inside", extra={"fields": {"k": "v"}})
        span.finish(route="/", status_code=200)
        log.info("outside")
    tracing.shutdown()
    inside, outside = (json.loads(line) for line in buffer.getvalue().splitlines())
    (received,) = receiver.wait_for_spans(1)
    assert inside["trace_id"] == received.trace_id
    assert inside["span_id"] == received.span_id
    assert inside["k"] == "v"
    assert "trace_id" not in outside


class SmallIds(IdGenerator):
    """Ids with leading zeros, which random ids have one time in sixteen."""

    def generate_trace_id(self) -> int:
        return 0xABC

    def generate_span_id(self) -> int:
        return 0x1F


def test_log_lines_carry_the_ids_at_their_full_width():
    provider = TracerProvider(id_generator=SmallIds())
    tracing = Tracing(provider)
    try:
        with _json_lines(tracing, "tests.tracing.ids") as (log, buffer):
            span = tracing.start_request_span("GET", "/", {})
            log.info("inside")
            span.finish(route="/", status_code=200)
    finally:
        provider.shutdown()
    line = json.loads(buffer.getvalue())
    assert line["trace_id"] == "0" * 29 + "abc"
    assert line["span_id"] == "0" * 14 + "1f"


def test_a_set_up_the_sdk_rejects_is_logged_and_tracing_stays_off(monkeypatch, caplog):
    # The SDK reads its own batch-processor variables and refuses this one.
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "-5")
    with caplog.at_level(logging.ERROR, logger="telemetry.tracing"):
        started = setup_tracing(TracingSettings(enabled=True), service_version="1")
    assert started is None
    (record,) = caplog.records
    assert record.getMessage() == "tracing could not be started; running without tracing"
    assert "max_queue_size" in str(record.exc_info[1])
