"""Turning exceptions from the Kubernetes client into the core's :class:`Failure`."""

from __future__ import annotations

import json
import math
from typing import Any

import urllib3.exceptions
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from reloader.core import Failure
from telemetry.redaction import bounded

# status -> (reason, retriable)
_BY_STATUS = {
    400: ("invalid", False),
    401: ("unauthorized", True),  # a rotated token is re-read on the next request
    403: ("forbidden", False),
    404: ("not-found", False),
    409: ("conflict", True),
    410: ("expired", True),
    422: ("invalid", False),
    429: ("throttled", True),
}


def classify(error: BaseException) -> Failure:
    """Return what ``error`` means for a retry decision, with a one-line message."""
    if isinstance(error, urllib3.exceptions.MaxRetryError) and error.reason is not None:
        # Retries are off (reloader.kube.client), yet urllib3 wraps the one
        # failure of a method it may retry (GET, PUT) or of any connect: judge that.
        error = error.reason
    if isinstance(error, ApiException):
        status = int(error.status) if error.status else None
        if status is None or status == 0:
            return Failure("connection", True, None, _one_line(str(error.reason or error)))
        reason, retriable = _BY_STATUS.get(
            status, ("server-error", True) if status >= 500 else ("unexpected", True)
        )
        return Failure(
            reason,
            retriable,
            status,
            _one_line(f"{status} {_status_message(error)}"),
            retry_after(error),
        )
    if isinstance(error, urllib3.exceptions.TimeoutError | TimeoutError):
        return Failure("timeout", True, None, _one_line(f"timed out: {error}"))
    if isinstance(error, urllib3.exceptions.HTTPError | ConnectionError | OSError):
        return Failure("connection", True, None, _one_line(f"{type(error).__name__}: {error}"))
    if isinstance(error, ConfigException):
        return Failure("config", False, None, _one_line(str(error)))
    return Failure("unexpected", True, None, _one_line(f"{type(error).__name__}: {error}"))


#: The longest ``Retry-After`` honoured: a larger one is taken as this, so
#: that a watch loop never sleeps past what ``/healthz`` allows it.
MAX_RETRY_AFTER_SECONDS = 30.0


def retry_after(error: BaseException) -> float:
    """The seconds a 429 answer asks to wait (0 for anything else, or none said).

    From the ``Retry-After`` header in whole seconds (a watch stream's ERROR
    event carries it as the Status's ``details.retryAfterSeconds``); at most
    :data:`MAX_RETRY_AFTER_SECONDS`.
    """
    if not isinstance(error, ApiException) or error.status != 429:
        return 0.0
    value: Any = (error.headers or {}).get("Retry-After")
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return 0.0  # absent, or an HTTP date: the backoff alone
    if not math.isfinite(seconds) or seconds <= 0:
        return 0.0
    return min(seconds, MAX_RETRY_AFTER_SECONDS)


def _status_message(error: ApiException) -> str:
    """The ``message`` of the Status object in the body, else the HTTP reason."""
    body = error.body
    if body:
        try:
            status = json.loads(body)
        except (TypeError, ValueError):
            status = None
        if isinstance(status, dict) and status.get("message"):
            reason = status.get("reason")
            prefix = f"{reason}: " if reason else ""
            return f"{prefix}{status['message']}"
    return str(error.reason or "")


def _one_line(text: str) -> str:
    """The error text as journaled: redacted first, then one line of at most 512 characters."""
    return bounded(text)
