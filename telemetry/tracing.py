"""Opt-in OpenTelemetry tracing: settings, set-up, request spans and log correlation.

Tracing is optional twice over: it is off unless ``OTEL_ENABLED`` is true, and
the OpenTelemetry packages (the ``[otel]`` extra) may be missing from an image.
In the second case :func:`setup_tracing` logs one warning and returns ``None``,
and the caller runs on without tracing. Every ``opentelemetry`` import stays in
this module, so nothing else in the project fails to import without them.

Spans go to an OTLP/HTTP collector through a batch processor, so exporting
never happens on a request's thread. The variables this module owns are read
through :mod:`telemetry.config`; the SDK still honours its own standard ones
(``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_EXPORTER_OTLP_TIMEOUT``, ``OTEL_BSP_*``,
``OTEL_TRACES_SAMPLER``, ``OTEL_RESOURCE_ATTRIBUTES``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from telemetry.config import ConfigError, env_bool, env_str

DEFAULT_OTLP_ENDPOINT = "http://localhost:4318"
_TRACES_PATH = "/v1/traces"
_SHUTDOWN_TIMEOUT_MILLIS = 5000

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TracingSettings:
    """What tracing needs to start: whether it is on, where spans go, who sends them.

    Attributes:
        enabled: ``OTEL_ENABLED``; nothing else matters when it is false.
        traces_url: The full OTLP/HTTP traces URL (``.../v1/traces``).
        service_name: ``OTEL_SERVICE_NAME``, the ``service.name`` resource attribute.
        service_namespace: ``OTEL_SERVICE_NAMESPACE``, ``service.namespace``.
    """

    enabled: bool = False
    traces_url: str = DEFAULT_OTLP_ENDPOINT + _TRACES_PATH
    service_name: str = "helloworld"
    service_namespace: str = "shipshape"


def tracing_settings_from_env(
    environ: Mapping[str, str], *, default_service_name: str = "helloworld"
) -> TracingSettings:
    """Read the tracing settings from ``environ``.

    ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is used as given; otherwise
    ``/v1/traces`` is appended to ``OTEL_EXPORTER_OTLP_ENDPOINT``, as the
    OpenTelemetry specification says. The endpoint is only validated when
    tracing is enabled, so a stale value cannot stop a service that does not trace.

    Raises:
        ConfigError: ``OTEL_ENABLED`` is not a boolean, or tracing is enabled
            and the endpoint is not an ``http``/``https`` URL.
    """
    enabled = env_bool(environ, "OTEL_ENABLED", False)
    base = env_str(environ, "OTEL_EXPORTER_OTLP_ENDPOINT", DEFAULT_OTLP_ENDPOINT)
    signal = env_str(environ, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
    service_name = env_str(environ, "OTEL_SERVICE_NAME", default_service_name)
    service_namespace = env_str(environ, "OTEL_SERVICE_NAMESPACE", "shipshape")
    if signal:
        traces_url = signal
        variable = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    else:
        traces_url = base.rstrip("/") + _TRACES_PATH
        variable = "OTEL_EXPORTER_OTLP_ENDPOINT"
    if enabled:
        _check_url(variable, signal or base)
    return TracingSettings(
        enabled=enabled,
        traces_url=traces_url,
        service_name=service_name,
        service_namespace=service_namespace,
    )


def _check_url(variable: str, value: str) -> None:
    try:
        parts = urlsplit(value)
    except ValueError:  # an unclosed "[" of an IPv6 host, say
        raise ConfigError(variable, value, "must be an http:// or https:// URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(variable, value, "must be an http:// or https:// URL")
    try:
        _ = parts.port
    except ValueError:
        raise ConfigError(variable, value, "has an invalid port") from None


class RequestSpan:
    """One server span for one HTTP request, current in its thread until finished."""

    __slots__ = ("_method", "_span", "_token", "_tracing")

    def __init__(self, tracing: Tracing, span: Any, token: object, method: str) -> None:
        self._tracing = tracing
        self._span = span
        self._token = token
        self._method = method

    def finish(self, *, route: str, status_code: int, query: str | None = None) -> None:
        """Name the span after its route, record the status, end it and detach it.

        Args:
            route: The route template, or ``other``; it becomes ``http.route``
                and part of the span's name.
            status_code: The response's status; 5xx marks the span as an error.
            query: The query string, already redacted, or ``None``.
        """
        span = self._span
        span.update_name(f"{self._method} {route}")
        span.set_attribute("http.route", route)
        span.set_attribute("http.response.status_code", status_code)
        if query:
            span.set_attribute("url.query", query)
        if status_code >= 500:
            span.set_status(self._tracing.error_status)
        span.end()
        self._tracing.detach(self._token)


class Tracing:
    """A started tracer: request spans, log correlation and a bounded shutdown.

    Built by :func:`setup_tracing`; tests may build one around an SDK
    ``TracerProvider`` of their own.
    """

    def __init__(self, provider: Any, instrumentation_name: str = "shipshape") -> None:
        from opentelemetry import context, trace  # noqa: PLC0415
        from opentelemetry.trace.propagation.tracecontext import (  # noqa: PLC0415
            TraceContextTextMapPropagator,
        )

        self.provider = provider
        self.error_status = trace.Status(trace.StatusCode.ERROR)
        self.detach = context.detach
        self._tracer = provider.get_tracer(instrumentation_name)
        self._propagator = TraceContextTextMapPropagator()
        self._server_kind = trace.SpanKind.SERVER
        self._set_span_in_context = trace.set_span_in_context
        self._attach = context.attach

    def start_request_span(
        self, method: str, path: str, headers: Mapping[str, str], *, scheme: str = "http"
    ) -> RequestSpan:
        """Start a server span for a request and make it current in this thread.

        A W3C ``traceparent`` header in ``headers`` continues the caller's trace.

        Args:
            method: The request's method, or ``_OTHER`` for an unknown one.
            path: The request's path (no query string).
            headers: The request's headers by lower-case name, or its WSGI environ.
            scheme: ``http`` or ``https``.
        """
        parent = self._propagator.extract(headers, getter=_HEADER_GETTER)
        span = self._tracer.start_span(
            method,
            context=parent,
            kind=self._server_kind,
            attributes={
                "http.request.method": method,
                "url.path": path,
                "url.scheme": scheme,
            },
        )
        token = self._attach(self._set_span_in_context(span))
        return RequestSpan(self, span, token, method)

    def log_filter(self) -> logging.Filter:
        """Return a filter that adds ``trace_id`` and ``span_id`` to records logged in a span."""
        return TraceContextLogFilter()

    def shutdown(self, timeout_millis: int = _SHUTDOWN_TIMEOUT_MILLIS) -> None:
        """Export what is still queued (waiting at most ``timeout_millis``) and stop."""
        try:
            self.provider.force_flush(timeout_millis)
        finally:
            self.provider.shutdown()


class _HeaderGetter:
    """Reads propagation headers from a header mapping or a WSGI environ."""

    def get(self, carrier: Mapping[str, str], key: str) -> list[str] | None:
        value = carrier.get(key)
        if value is None:
            value = carrier.get("HTTP_" + key.upper().replace("-", "_"))
        return None if value is None else [value]

    def keys(self, carrier: Mapping[str, str]) -> list[str]:
        return list(carrier.keys())


_HEADER_GETTER = _HeaderGetter()


class TraceContextLogFilter(logging.Filter):
    """Adds the current span's ``trace_id`` and ``span_id`` to a record's fields.

    Install it on a handler (``handler.addFilter(tracing.log_filter())``): every
    line logged while a span is current then carries the ids that find its trace.
    """

    def __init__(self) -> None:
        super().__init__()
        from opentelemetry import trace  # noqa: PLC0415

        self._current_span = trace.get_current_span

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the ids when a span is current; never drops a record."""
        span_context = self._current_span().get_span_context()
        if span_context.is_valid:
            fields = getattr(record, "fields", None)
            merged = dict(fields) if isinstance(fields, dict) else {}
            merged["trace_id"] = format(span_context.trace_id, "032x")
            merged["span_id"] = format(span_context.span_id, "016x")
            record.fields = merged
        return True


def setup_tracing(
    settings: TracingSettings,
    *,
    service_version: str,
    environment: str | None = None,
    logger: logging.Logger | None = None,
) -> Tracing | None:
    """Start tracing when the settings enable it and the packages are installed.

    Args:
        settings: From :func:`tracing_settings_from_env`.
        service_version: The ``service.version`` resource attribute.
        environment: The ``deployment.environment.name`` resource attribute, if any.
        logger: Where the one warning about missing packages goes.

    Returns:
        A :class:`Tracing`, or ``None`` when tracing is off or unavailable.
    """
    if not settings.enabled:
        return None
    log = logger or _log
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )
        from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
        from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
        from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415
    except ImportError as error:
        log.warning(
            "OTEL_ENABLED is true but the OpenTelemetry packages are not installed "
            "(install the [otel] extra); running without tracing",
            extra={"fields": {"missing": getattr(error, "name", None) or str(error)}},
        )
        return None
    attributes = {
        "service.name": settings.service_name,
        "service.namespace": settings.service_namespace,
        "service.version": service_version,
    }
    if environment:
        attributes["deployment.environment.name"] = environment
    try:
        provider = TracerProvider(resource=Resource.create(attributes))
        exporter = OTLPSpanExporter(endpoint=settings.traces_url)
        provider.add_span_processor(BatchSpanProcessor(exporter))
    except Exception:
        # Tracing is an aid, not a dependency: a set-up the SDK rejects (its own
        # OTEL_* variables) is logged, and the service runs on without it.
        log.exception("tracing could not be started; running without tracing")
        return None
    log.info(
        "tracing enabled",
        extra={"fields": {"endpoint": settings.traces_url, "service": settings.service_name}},
    )
    return Tracing(provider)
