"""Timestamps and durations: the journal's canonical form and the CLI's inputs.

A journal timestamp is RFC 3339 in UTC with exactly six fractional digits and
a ``Z`` (``2026-11-26T10:00:00.123456Z``). That text is what the hash chain
covers and what ``tail -o json`` prints; its fixed width makes text order equal
time order, which the ``ts`` index relies on.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta

_CANONICAL = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")

# RFC 3339 date-time (upper or lower case T/Z, optional fraction, offset
# required), or a full date alone (midnight UTC).
_RFC3339 = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[Tt ](?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d{1,9}))?"
    r"(?P<offset>[Zz]|[+-]\d{2}:\d{2}))?"
)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_RELATIVE = re.compile(r"-(?P<count>\d+)(?P<unit>[smhdw])")
_DURATION = re.compile(r"(?P<count>\d+)(?P<unit>[smhdw])")

TIME_HELP = "RFC 3339 (2026-11-26T10:00:00Z) or relative to now (-10m, -2h, -1d)"


def format_ts(moment: datetime) -> str:
    """Return the canonical text of an aware datetime (converted to UTC).

    Raises:
        ValueError: When ``moment`` is naive (no time zone).
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("timestamp must carry a time zone (UTC)")
    return _utc_text(moment)


@functools.lru_cache(maxsize=8)
def _utc_text(moment: datetime) -> str:
    """The text of an aware moment; cached, since the records of one decision share it.

    Aware datetimes are equal (and hash alike) when they name the same
    instant, whatever their zones, and the text is of that instant in UTC.
    """
    # Not strftime("%Y"): it writes the years before 1000 with fewer than four
    # digits ("931-10-09T..."), which would sort after "2026-..." as text.
    # isoformat pads the year to four digits, so the width is fixed.
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_ts(text: str) -> datetime:
    """Return the aware UTC datetime of a canonical journal timestamp.

    Raises:
        ValueError: When ``text`` is not in the canonical form.
    """
    if _CANONICAL.fullmatch(text) is None:
        raise ValueError(f"not a canonical journal timestamp: {text!r}")
    return datetime.fromisoformat(text)


def is_canonical_ts(text: str) -> bool:
    """Tell whether ``text`` is a canonical journal timestamp."""
    return _CANONICAL.fullmatch(text) is not None


def ts_seconds(text: str) -> float:
    """Return a canonical timestamp as seconds since the epoch (for arithmetic)."""
    return datetime.fromisoformat(text).timestamp()


def parse_time(text: str, now: datetime) -> datetime:
    """Parse a ``--since``/``--until`` value: RFC 3339 or relative (``-10m``).

    Args:
        text: ``2026-11-26T10:00:00Z``, ``2026-11-26T11:00:00+01:00``,
            ``2026-11-26`` (midnight UTC), ``now``, or ``-N`` followed by one of
            ``s m h d w``.
        now: The moment relative values count back from (aware).

    Returns:
        An aware UTC datetime.

    Raises:
        ValueError: With a one-line message naming the value and the forms accepted.
    """
    value = text.strip()
    if value == "now":
        return now.astimezone(UTC)
    relative = _RELATIVE.fullmatch(value)
    if relative:
        seconds = int(relative["count"]) * _UNITS[relative["unit"]]
        try:
            return now.astimezone(UTC) - timedelta(seconds=seconds)
        except OverflowError:
            raise ValueError(f"invalid time {text!r}: reaches back before year 1") from None
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise ValueError(f"invalid time {text!r}: expected {TIME_HELP}")
    frac = (match["frac"] or "")[:6].ljust(6, "0")
    offset = match["offset"]
    iso = match["date"]
    if match["time"]:
        tz = "+00:00" if offset in ("Z", "z") else offset
        iso = f"{iso}T{match['time']}.{frac}{tz}"
    else:
        iso = f"{iso}T00:00:00.000000+00:00"
    try:
        return datetime.fromisoformat(iso).astimezone(UTC)
    except ValueError as error:
        raise ValueError(f"invalid time {text!r}: {error}") from None
    except OverflowError:
        # 0001-01-01T00:00:00+01:00 or 9999-12-31T23:59:59-01:00: a valid text
        # whose instant in UTC falls outside the years 1 to 9999.
        raise ValueError(f"invalid time {text!r}: outside the years 1 to 9999 in UTC") from None


def parse_duration(text: str) -> timedelta:
    """Parse a positive duration such as ``30d``, ``12h``, ``90m`` or ``2w``.

    Raises:
        ValueError: With a one-line message naming the value.
    """
    match = _DURATION.fullmatch(text.strip())
    if match is None or int(match["count"]) == 0:
        raise ValueError(
            f"invalid duration {text!r}: expected a positive whole number and a unit "
            "(s, m, h, d, w), e.g. 30d"
        )
    try:
        return timedelta(seconds=int(match["count"]) * _UNITS[match["unit"]])
    except OverflowError:
        raise ValueError(f"invalid duration {text!r}: too large") from None


def utc_now() -> datetime:
    """Return the current time, aware, in UTC."""
    return datetime.now(UTC)
