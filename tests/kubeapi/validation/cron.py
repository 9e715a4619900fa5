"""A CronJob's `schedule`, parsed as the real server parses it (robfig/cron's standard parser).

Five fields (minute, hour, day of month, month, day of week: numbers, names,
`*`/`?`, ranges, steps and lists) or a descriptor (`@hourly`, `@every 1h30m`,
...). `schedule_problem` returns the parser's error text, which the server
reports as `spec.schedule: Invalid value: "...": <text>`.
"""

from __future__ import annotations

import re

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (lowest, highest, names) of each field in order.
_FIELDS: tuple[tuple[int, int, dict[str, int]], ...] = (
    (0, 59, {}),
    (0, 23, {}),
    (1, 31, {}),
    (1, 12, {name: number for number, name in enumerate(_MONTHS, start=1)}),
    (0, 6, {name: number for number, name in enumerate(_DAYS)}),
)
_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_DURATION = re.compile(r"^[-+]?(\d+(\.\d*)?(ns|us|µs|ms|s|m|h))+$|^0$")
_GO_INT = re.compile(r"^[-+]?\d+$")


def _number(text: str, names: dict[str, int]) -> int:
    """Parse a number or a name, with robfig/cron's messages.

    Raises:
        ValueError: The parser's text for a value that is neither.
    """
    if text.lower() in names:
        return names[text.lower()]
    if not _GO_INT.match(text):
        raise ValueError(
            f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": invalid syntax'
        )
    number = int(text)
    if number < 0:
        raise ValueError(f"negative number ({number}) not allowed: {text}")
    return number


def _check_range(expr: str, lowest: int, highest: int, names: dict[str, int]) -> None:
    """Check one `a-b/step` expression of a field.

    Raises:
        ValueError: The parser's text for a malformed or out-of-range expression.
    """
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    if low_and_high[0] in ("*", "?"):
        start, end = lowest, highest
    else:
        start = _number(low_and_high[0], names)
        if len(low_and_high) == 1:
            end = start
        elif len(low_and_high) == 2:
            end = _number(low_and_high[1], names)
        else:
            raise ValueError(f"too many hyphens: {expr}")
    step = 1
    if len(range_and_step) == 2:
        step = _number(range_and_step[1], {})
        if len(low_and_high) == 1:
            end = highest
    elif len(range_and_step) > 2:
        raise ValueError(f"too many slashes: {expr}")
    if start < lowest:
        raise ValueError(f"beginning of range ({start}) below minimum ({lowest}): {expr}")
    if end > highest:
        raise ValueError(f"end of range ({end}) above maximum ({highest}): {expr}")
    if start > end:
        raise ValueError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise ValueError(f"step of range should be a positive number: {expr}")


def _descriptor_problem(descriptor: str) -> str | None:
    """Return why an `@...` descriptor does not parse, or None."""
    if descriptor in _DESCRIPTORS:
        return None
    if not descriptor.startswith("@every "):
        return f"unrecognized descriptor: {descriptor}"
    duration = descriptor.removeprefix("@every ")
    if _DURATION.match(duration):
        return None
    return f'failed to parse duration {descriptor}: time: invalid duration "{duration}"'


def schedule_problem(schedule: str) -> str | None:
    """Return why a schedule does not parse, in robfig/cron's words, or None when it does."""
    if schedule.startswith(("TZ=", "CRON_TZ=")):
        schedule = schedule.partition(" ")[2].strip()
    if not schedule:
        return "empty spec string"
    if schedule.startswith("@"):
        return _descriptor_problem(schedule)
    fields = schedule.split()
    if len(fields) != len(_FIELDS):
        shown = "[" + " ".join(fields) + "]"
        return f"expected exactly {len(_FIELDS)} fields, found {len(fields)}: {shown}"
    try:
        for text, (lowest, highest, names) in zip(fields, _FIELDS, strict=True):
            for expr in (part for part in text.split(",") if part):
                _check_range(expr, lowest, highest, names)
    except ValueError as err:
        return str(err)
    return None
