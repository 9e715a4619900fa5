"""Per-request observation: metrics, one access log line and an optional trace span.

One Falcon middleware does all three so a request pays for one middleware
call, and so the log line is written while the request's span is still current
(the log filter of :mod:`telemetry.tracing` then adds its trace id).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import falcon

from telemetry.httpguard import KNOWN_METHODS
from telemetry.redaction import redact
from webapp.metrics import OTHER

if TYPE_CHECKING:
    from telemetry.tracing import Tracing
    from webapp.metrics import HttpMetrics

# LogRecord.__new__: a record whose attributes are then set in one assignment.
_new_record = object.__new__
# When logging was imported: LogRecord.relativeCreated counts from it.
_LOGGING_STARTED: float = logging._startTime  # what LogRecord itself reads

# Statuses for which the matched route does not describe the request: the
# route exists but the method is not served there, or nothing matched.
_UNROUTED_STATUSES = frozenset({404, 405, 501})

# Client-controlled text is cut before it reaches a log line.
_MAX_LOGGED_PATH = 256
_MAX_LOGGED_QUERY = 512
_MAX_LOGGED_METHOD = 16


def route_label(method_label: str, template: str | None, status: int) -> str:
    """Return the ``path`` label: the route template, or ``other``.

    Args:
        method_label: The request's ``method`` label (``other`` for unknown methods).
        template: The matched route template, or ``None`` when none matched.
        status: The response's status code.
    """
    if template is None or method_label == OTHER or status in _UNROUTED_STATUSES:
        return OTHER
    return template


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


class RequestObserver:
    """Falcon middleware that measures, logs and traces every request.

    Requests with a method outside the nine standard ones are answered 501
    here, before routing, as RFC 9110 asks of a server that does not know the
    method.
    """

    def __init__(
        self,
        metrics: HttpMetrics,
        *,
        logger: logging.Logger,
        tracing: Tracing | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        """Observe requests into ``metrics`` and ``logger``, and ``tracing`` when given.

        Args:
            metrics: Where counts and durations go.
            logger: Where access lines go (at INFO).
            tracing: Started tracing, or ``None`` for none.
            clock: A monotonic clock in seconds.
        """
        self._metrics = metrics
        self._log = logger
        self._tracing = tracing
        self._clock = clock
        # The attributes every access record shares; see _record.
        self._prototype: dict[str, Any] | None = None

    def _record(self, args: tuple[str, str, int]) -> logging.LogRecord:
        """Return the access line's record, as ``makeRecord`` would make it.

        With the standard record factory and no thread or process names
        collected (as ``shipshape-web`` runs), every attribute but the time and
        the arguments is the same for each access line: the record is a copy of
        one made once, which costs a fifth of making it (its file name and
        module come from splitting a path). Otherwise it is made as usual.
        """
        log = self._log
        if (
            logging.getLogRecordFactory() is not logging.LogRecord
            or logging.logThreads
            or logging.logProcesses
            or logging.logMultiprocessing
            or type(log).makeRecord is not logging.Logger.makeRecord
        ):
            return log.makeRecord(*self._record_arguments(args))
        prototype = self._prototype
        if prototype is None or prototype["name"] != log.name:
            prototype = vars(log.makeRecord(*self._record_arguments(args)))
            self._prototype = prototype
        record = _new_record(logging.LogRecord)
        attributes = prototype.copy()
        created = time.time()
        attributes["created"] = created
        attributes["msecs"] = int((created - int(created)) * 1000) + 0.0
        attributes["relativeCreated"] = (created - _LOGGING_STARTED) * 1000
        attributes["args"] = args
        record.__dict__ = attributes
        return record

    def _record_arguments(self, args: tuple[str, str, int]) -> tuple[Any, ...]:
        return (
            self._log.name,
            logging.INFO,
            __file__,
            0,
            "%s %s %d",
            args,
            None,
            "process_response",
        )

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Start the clock (and the span; an unknown method's is ``_OTHER``)."""
        context = req.context
        context.started = self._clock()
        method = req.method
        known = method in KNOWN_METHODS
        if self._tracing is not None:
            context.span = self._tracing.start_request_span(
                method if known else "_OTHER", req.path, req.env, scheme=req.scheme
            )

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool
    ) -> None:
        """Record the request's metrics, write its access line, end its span."""
        context = req.context
        started = getattr(context, "started", None)
        elapsed = 0.0 if started is None else self._clock() - started
        status = resp.status_code
        method = req.method
        method_label = method if method in KNOWN_METHODS else OTHER
        path_label = route_label(method_label, req.uri_template, status)
        self._metrics.observe(method_label, path_label, status, elapsed)

        query = req.query_string
        if query:
            query = redact(_clip(query, _MAX_LOGGED_QUERY))
        log = self._log
        if log.isEnabledFor(logging.INFO):
            fields: dict[str, Any] = {
                "method": _clip(method, _MAX_LOGGED_METHOD),
                "path": _clip(req.path, _MAX_LOGGED_PATH),
                "route": path_label,
                "status": status,
                "duration_ms": round(elapsed * 1000.0, 3),
            }
            if query:
                fields["query"] = query
            # What log.info does, less its search of the call stack for the
            # caller's file and line, which no JSON line shows: the record is
            # made (through the record factory) and handled as info's would be.
            record = self._record((method_label, path_label, status))
            record.fields = fields
            log.handle(record)
        span = getattr(context, "span", None)
        if span is not None:
            span.finish(route=path_label, status_code=status, query=query or None)


# Served with every response: the set OWASP's REST security guidance asks of
# an API. The app serves text and JSON to programs, never documents to
# browsers, so nothing may sniff, frame, embed or run what it sends. (HSTS
# belongs to the Istio gateway, which terminates TLS; the app cannot know.)
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
)


class SecurityHeaders:
    """Falcon middleware adding :data:`SECURITY_HEADERS`, and ``no-store`` unless set."""

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool
    ) -> None:
        """Add the headers to every response, errors included."""
        resp.set_headers(SECURITY_HEADERS)
        if resp.get_header("Cache-Control") is None:
            resp.set_header("Cache-Control", "no-store")
