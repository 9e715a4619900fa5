"""Reading settings from environment variables, with one-line errors.

The controller and the web app take their configuration from the environment
only. Every read goes through these functions so that a bad value stops
start-up with one line naming the variable, and so that a test can find every
variable the code reads and compare the list with
``docs/reference/configuration.md``.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping

# One label of a host name (RFC 1123): letters, digits and inner hyphens.
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")

# The number forms a variable accepts: ASCII decimal digits, a leading "-" (so
# a negative value is reported against its minimum), and for decimal numbers
# a fraction after one ".". No "+", no "_" separators, no exponent, no other
# script's digits, no "inf" or "nan" (Python's int() and float() take them all).
_WHOLE_NUMBER = re.compile(r"-?[0-9]+", re.ASCII)
_DECIMAL_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", re.ASCII)


class ConfigError(ValueError):
    """A setting's value is invalid; the message names the variable."""

    def __init__(
        self, variable: str, value: str | None, problem: str, *, inline: bool = False
    ) -> None:
        """``inline`` shows the value as ``VARIABLE=value`` up front, not ``(got ...)`` after.

        That suits a conflict between variables: ``invalid A=5: must not
        exceed B (1)`` reads as one rule about both.
        """
        self.variable = variable
        self.value = value
        self.problem = problem
        if inline and value is not None:
            super().__init__(f"invalid {variable}={value}: {problem}")
            return
        shown = "" if value is None else f" (got {value!r})"
        super().__init__(f"invalid {variable}: {problem}{shown}")


def env_str(environ: Mapping[str, str], name: str, default: str) -> str:
    """Return the variable's value, or ``default`` when it is unset or blank."""
    value = _raw(environ, name).strip()
    return value or default


def _raw(environ: Mapping[str, str], name: str) -> str:
    """The variable's value as set; refused when its bytes are not UTF-8 text.

    Python hands such bytes over as lone surrogates (PEP 383), which no log
    line, journal record or HTTP answer can carry: better one line at
    start-up than a failure at the first use.
    """
    value = environ.get(name, "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(name, value, "must be UTF-8 text") from None
    return value


def env_int(
    environ: Mapping[str, str],
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    """Return the variable as a whole number within ``[minimum, maximum]``."""
    raw = _raw(environ, name).strip()
    if not raw:
        return default
    if not _WHOLE_NUMBER.fullmatch(raw):
        raise ConfigError(name, raw, "must be a whole number")
    try:
        value = int(raw, 10)
    except ValueError:  # more digits than int() converts
        raise ConfigError(name, raw, "must be a whole number") from None
    _check_range(name, raw, value, minimum, maximum)
    return value


def env_float(
    environ: Mapping[str, str],
    name: str,
    default: float,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float:
    """Return the variable as a finite number within ``[minimum, maximum]``."""
    raw = _raw(environ, name).strip()
    if not raw:
        return default
    if not _DECIMAL_NUMBER.fullmatch(raw):
        if raw.strip("+-").lower() in _NOT_FINITE:
            raise ConfigError(name, raw, "must be a finite number")
        raise ConfigError(name, raw, "must be a number")
    value = float(raw)
    if not math.isfinite(value):  # more digits than a float holds
        raise ConfigError(name, raw, "must be a finite number")
    _check_range(name, raw, value, minimum, maximum)
    return value


_NOT_FINITE = frozenset({"inf", "infinity", "nan"})


def env_host(environ: Mapping[str, str], name: str, default: str) -> str:
    """Return the variable as an address to bind: an IPv4 or IPv6 address, or a host name.

    Checked by form only (no name lookup): ``999.1.1.1`` or ``my_host`` stop
    start-up here instead of deep inside the server.
    """
    raw = _raw(environ, name).strip()
    if not raw:
        return default
    try:
        ipaddress.ip_address(raw)
    except ValueError:
        labels = raw.removesuffix(".").split(".")
        # An all-digit last label makes it a malformed IPv4 address, not a name.
        if (
            len(raw) > 253
            or not all(_LABEL.fullmatch(label) for label in labels)
            or (labels[-1].isdigit())
        ):
            raise ConfigError(name, raw, "must be an IP address or a host name") from None
    return raw


_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def env_bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    """Return the variable as a boolean (``true/false``, ``1/0``, ``yes/no``, ``on/off``)."""
    raw = _raw(environ, name).strip()
    if not raw:
        return default
    lowered = raw.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(name, raw, "must be true or false")


def env_choice(
    environ: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]
) -> str:
    """Return the variable's value, which must be one of ``choices`` (case-insensitive)."""
    raw = _raw(environ, name).strip()
    if not raw:
        return default
    for choice in choices:
        if raw.lower() == choice.lower():
            return choice
    raise ConfigError(name, raw, f"must be one of {', '.join(choices)}")


def _check_range(
    name: str, raw: str, value: float, minimum: float | None, maximum: float | None
) -> None:
    if minimum is not None and value < minimum:
        raise ConfigError(name, raw, f"must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise ConfigError(name, raw, f"must be at most {maximum}")
