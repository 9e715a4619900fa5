"""`metav1.Time` and `metav1.MicroTime` as the real server decodes and encodes them.

Both decode with Go's `time.Parse`: `Time` with RFC 3339
(`2006-01-02T15:04:05Z07:00`, where a fraction after the seconds is accepted
and dropped), `MicroTime` with `2006-01-02T15:04:05.000000Z07:00`, which takes
exactly six fractional digits: `2026-01-01T10:00:00Z` and nine-digit
nanoseconds are refused. A value that does not parse fails the whole decode
(400) with Go's own message, and a value that does is stored in UTC, in the
layout's form, as the real server writes it back.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta

TIME = "2006-01-02T15:04:05Z07:00"
MICRO_TIME = "2006-01-02T15:04:05.000000Z07:00"
# After the year: the literal before each number, the layout's element, whether
# it takes exactly two digits, and its range (the day is checked at the end).
_FIELDS: tuple[tuple[str, str, bool, tuple[int, int, str] | None], ...] = (
    ("-", "01", True, (1, 12, "month")),
    ("-", "02", True, None),
    ("T", "15", False, (0, 23, "hour")),
    (":", "04", True, (0, 59, "minute")),
    (":", "05", True, (0, 59, "second")),
)


class TimeError(ValueError):
    """A value Go's `time.Parse` refuses (the message is Go's)."""


def _quote(text: str) -> str:
    out = []
    for char in text:
        if " " <= char < "\x7f":
            out.append("\\" + char if char in '"\\' else char)
        else:
            out.extend(f"\\x{byte:02x}" for byte in char.encode())
    return '"' + "".join(out) + '"'


def _digit(text: str, index: int) -> bool:
    return len(text) > index and "0" <= text[index] <= "9"


def _digits(text: str) -> bool:
    return bool(text) and all("0" <= char <= "9" for char in text)


def parse(value: str, layout: str) -> datetime:
    """Parse `value` as Go parses it with `layout` (`TIME` or `MICRO_TIME`).

    Raises:
        TimeError: With Go's message (`parsing time "x" as "...": cannot parse "x" as "2006"`).
    """
    head = f"parsing time {_quote(value)}"

    def bad(elem: str, rest: str) -> TimeError:
        return TimeError(
            f"{head} as {_quote(layout)}: cannot parse {_quote(rest)} as {_quote(elem)}"
        )

    def out_of_range(what: str) -> TimeError:
        return TimeError(f"{head}: {what} out of range")

    rest = value
    if len(rest) < 4 or not _digits(rest[:4]):
        raise bad("2006", rest)
    year, rest = int(rest[:4]), rest[4:]
    numbers = []
    for prefix, elem, fixed, limit in _FIELDS:
        if not rest.startswith(prefix):
            raise bad(prefix, rest)
        rest = rest[1:]
        if not _digit(rest, 0) or (fixed and not _digit(rest, 1)):
            raise bad(elem, rest)
        width = 2 if _digit(rest, 1) else 1
        number, rest = int(rest[:width]), rest[width:]
        if limit is not None and not limit[0] <= number <= limit[1]:
            raise out_of_range(limit[2])
        numbers.append(number)
    micros = 0
    if layout == MICRO_TIME:
        if len(rest) < 7 or rest[0] not in ".," or not _digits(rest[1:7]):
            raise bad(".000000", rest)
        micros, rest = int(rest[1:7]), rest[7:]
    elif len(rest) >= 2 and rest[0] in ".," and _digit(rest, 1):
        end = 2
        while _digit(rest, end):
            end += 1
        rest = rest[end:]
    offset = 0
    if rest.startswith("Z"):
        rest = rest[1:]
    else:
        if len(rest) < 6 or rest[3] != ":" or not _digits(rest[1:3] + rest[4:6]):
            raise bad("Z07:00", rest)
        hours, minutes = int(rest[1:3]), int(rest[4:6])
        if hours > 24 or minutes > 60:
            raise out_of_range(
                "time zone offset minute" if minutes > 60 else "time zone offset hour"
            )
        if rest[0] not in "+-":
            raise bad("Z07:00", rest)
        offset = (hours * 60 + minutes) * (1 if rest[0] == "+" else -1)
        rest = rest[6:]
    if rest:
        raise TimeError(f"{head}: extra text: {_quote(rest)}")
    month, day, hour, minute, second = numbers
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        raise out_of_range("day")
    moment = datetime(year, month, day, hour, minute, second, micros, tzinfo=UTC)
    return moment - timedelta(minutes=offset)


def normalise(value: str, layout: str) -> str:
    """Return `value` as the real server stores it: parsed, in UTC, in the layout's form.

    Raises:
        TimeError: The value does not parse.
    """
    moment = parse(value, layout)
    if layout == MICRO_TIME:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
