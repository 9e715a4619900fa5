"""JSON log lines on stdout, one object per line, with credentials redacted.

Every line carries ``ts`` (RFC 3339 UTC with microseconds), ``level``,
``logger`` and ``msg``, and ``error`` when an exception is attached. Structured
fields passed as ``extra={"fields": {...}}`` are added as further keys; they
never replace the four fixed ones. Message, exception text and string field
values go through :func:`telemetry.redaction.redact` before serialisation.
"""

from __future__ import annotations

import json
import json.encoder
import logging
import math
import sys
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import IO, Any

from telemetry.config import ConfigError
from telemetry.redaction import redact

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_FIXED_KEYS = frozenset({"ts", "level", "logger", "msg", "error"})

# Handlers installed by configure_logging carry this attribute, so a second
# call replaces them instead of doubling every line.
_OWNED = "_shipshape_handler"


def parse_log_level(value: str, variable: str = "LOG_LEVEL") -> int:
    """Return the :mod:`logging` level for a ``LOG_LEVEL`` value.

    Args:
        value: The level's name; case and surrounding blanks are ignored.
        variable: The variable's name, for the error message.

    Raises:
        ConfigError: When the value is not one of :data:`LOG_LEVELS`.
    """
    name = value.strip().upper()
    if name not in LOG_LEVELS:
        raise ConfigError(variable, value, f"must be one of {', '.join(LOG_LEVELS)}")
    return logging.getLevelName(name)


# The last whole second formatted, so that lines within one second (an access
# line per request) format only their microseconds.
_last_second: tuple[float, str] = (math.nan, "")


def format_timestamp(epoch_seconds: float) -> str:
    """Format seconds since the epoch as RFC 3339 UTC with microseconds."""
    global _last_second  # noqa: PLW0603 - a one-entry cache; tuple assignment is atomic
    # Split and round as datetime.fromtimestamp does (half-even to microseconds).
    fraction, whole = math.modf(epoch_seconds)
    micros = round(fraction * 1e6)
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    elif micros < 0:
        whole, micros = whole - 1, micros + 1_000_000
    second, prefix = _last_second
    if second != whole:
        prefix = datetime.fromtimestamp(whole, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _last_second = (whole, prefix)
    return f"{prefix}.{micros:06d}Z"


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(item) for item in value]
    return value


# Field values that hold no text, so nothing to redact.
_PLAIN_SCALARS = frozenset({int, float, bool, type(None)})

# One encoder for every line: json.dumps with options builds a new one per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str, separators=(",", ":"))


def _line_encoder() -> Callable[[dict[str, Any]], str]:
    """Return a function encoding a line as ``_ENCODER.encode`` does, with less work per call.

    ``JSONEncoder.encode`` builds a new C encoder for every call; this builds
    CPython's once, with the same options. It keeps no table of containers
    being encoded (``markers``) to detect cycles: the formatter hands it fresh
    containers only (:func:`_redact_value` copies every dict, list and tuple),
    so a shared table would be a race between threads with nothing to find.
    Without the C accelerator (another Python), ``_ENCODER.encode`` is used.
    """
    make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if make_encoder is None:
        return _ENCODER.encode
    chunks = make_encoder(
        None,  # markers: see above
        _ENCODER.default,
        json.encoder.encode_basestring,  # ensure_ascii=False
        None,  # indent
        _ENCODER.key_separator,
        _ENCODER.item_separator,
        _ENCODER.sort_keys,
        _ENCODER.skipkeys,
        _ENCODER.allow_nan,
    )
    return lambda line: "".join(chunks(line, 0))


_encode_line = _line_encoder()


# Encodes a str as a JSON string, quotes included (ensure_ascii=False): CPython's C
# function, which the encoder above uses for every string too.
_encode_str: Callable[[str], str] = json.encoder.encode_basestring

# The JSON text of the float values json writes by name (allow_nan=True).
_FLOAT_NAMES = {math.inf: "Infinity", -math.inf: "-Infinity"}

# The text between "ts" and "msg" for each (level, logger): a handful of each
# in a process. Bounded all the same: logger names may be built at run time.
_HEADS: dict[tuple[str, str], str] = {}
_MAX_HEADS = 1024
# '"key":' for each field key seen; bounded like _HEADS.
_KEYS: dict[str, str] = {}
_MAX_KEYS = 1024


def _head(level: str, logger: str) -> str:
    key = (level, logger)
    head = _HEADS.get(key)
    if head is None:
        head = f'","level":{_encode_str(level)},"logger":{_encode_str(logger)},"msg":'
        if len(_HEADS) < _MAX_HEADS:
            _HEADS[key] = head
    return head


def _key(name: str) -> str:
    text = _KEYS.get(name)
    if text is None:
        text = _encode_str(name) + ":"
        if len(_KEYS) < _MAX_KEYS:
            _KEYS[name] = text
    return text


def _float_text(value: float) -> str:
    """Return ``value`` as json writes it: ``repr``, or NaN and the infinities by name."""
    if value != value:  # noqa: PLR0124 - NaN is the one float unequal to itself
        return "NaN"
    return _FLOAT_NAMES.get(value) or float.__repr__(value)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object on one line, redacted."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as a JSON line (without the trailing newline).

        The text is the one ``json.dumps(line, ensure_ascii=False,
        separators=(",", ":"), default=str)`` gives for the line's dict, but
        the keys and the values of the common types (an access line per
        request has only strings and numbers) are written directly: building
        the dict and running the encoder over it costs twice as much.
        """
        parts = [
            '{"ts":"',
            format_timestamp(record.created),
            _head(record.levelname, record.name),
            _encode_str(redact(record.getMessage())),
        ]
        error = self._error_text(record)
        if error:
            parts.append(',"error":')
            parts.append(_encode_str(redact(error)))
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                if type(key) is not str:
                    return self._format_as_dict(record, error, fields)
                if key in _FIXED_KEYS:
                    continue
                # Test the exact type: subclasses of str, int and float may
                # encode differently (json does not call their __repr__).
                kind = type(value)
                if kind is str:
                    text = _encode_str(redact(value))
                elif kind is int:
                    text = int.__repr__(value)
                elif kind is float:
                    text = _float_text(value)
                elif value is None:
                    text = "null"
                elif kind is bool:
                    text = "true" if value else "false"
                else:
                    text = _encode_line(_redact_value(value))
                parts.append(",")
                parts.append(_key(key))
                parts.append(text)
        parts.append("}")
        return "".join(parts)

    def _format_as_dict(
        self, record: logging.LogRecord, error: str | None, fields: dict[Any, Any]
    ) -> str:
        """Format through a dict and the encoder: for fields whose keys are not all text."""
        line: dict[Any, Any] = {
            "ts": format_timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        if error:
            line["error"] = redact(error)
        for key, value in fields.items():
            if key not in _FIXED_KEYS:
                line[key] = _redact_value(value)
        return _encode_line(line)

    @staticmethod
    def _error_text(record: logging.LogRecord) -> str | None:
        if record.exc_info and record.exc_info[0] is not None:
            return "".join(traceback.format_exception(*record.exc_info)).rstrip()
        if record.exc_text:
            return record.exc_text
        return None


class JsonLineHandler(logging.StreamHandler):
    """A stream handler that formats a record before it takes the handler's lock.

    :class:`logging.Handler` holds its lock while it formats, so threads logging
    at once (a web server's workers, each writing an access line) wait for each
    other's JSON encoding and redaction too. Here only the write and the flush
    are serialised; formatting is per record and needs no lock. Each line is
    written with one call, so lines never interleave.
    """

    def handle(self, record: logging.LogRecord) -> bool | logging.LogRecord:
        """Filter the record and, when it passes, emit it; return the filters' verdict."""
        verdict = self.filter(record)
        if isinstance(verdict, logging.LogRecord):  # Python 3.12: a filter may replace it
            record = verdict
        if verdict:
            self.emit(record)
        return verdict

    def emit(self, record: logging.LogRecord) -> None:
        """Format the record, then write and flush it under the handler's lock."""
        try:
            text = self.format(record) + self.terminator
            with self.lock:
                stream = self.stream
                stream.write(text)
                stream.flush()
        except RecursionError:
            raise
        except Exception:  # logging reports a failed write, never raises it
            self.handleError(record)


def configure_logging(level: str | int = "INFO", stream: IO[str] | None = None) -> logging.Handler:
    """Send every log record of the process to ``stream`` as JSON lines.

    Replaces handlers this function installed before, so calling it twice does
    not duplicate lines. Other handlers on the root logger are left in place.

    Args:
        level: A level name (validated like ``LOG_LEVEL``) or a logging level number.
        stream: Where lines go; standard output when omitted.

    Returns:
        The installed handler.
    """
    numeric = parse_log_level(level) if isinstance(level, str) else level
    handler = JsonLineHandler(stream if stream is not None else sys.stdout)
    handler.setFormatter(JsonFormatter())
    setattr(handler, _OWNED, True)
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, _OWNED, False):
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(numeric)
    return handler
