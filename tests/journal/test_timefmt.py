"""``--since``/``--until`` values, durations and the canonical timestamp."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from journal.timefmt import format_ts, parse_duration, parse_time, parse_ts

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-26T10:00:00Z", datetime(2026, 11, 26, 10, tzinfo=UTC)),
        ("2026-11-26T10:00:00.123456Z", datetime(2026, 11, 26, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2026-11-26T10:00:00.5z", datetime(2026, 11, 26, 10, 0, 0, 500000, tzinfo=UTC)),
        ("2026-11-26t11:00:00+01:00", datetime(2026, 11, 26, 10, tzinfo=UTC)),
        ("2026-11-26 04:30:00-05:30", datetime(2026, 11, 26, 10, tzinfo=UTC)),
        ("2026-11-26T10:00:00.123456789Z", datetime(2026, 11, 26, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2026-11-26", datetime(2026, 11, 26, tzinfo=UTC)),
        ("-10m", NOW - timedelta(minutes=10)),
        ("-2h", NOW - timedelta(hours=2)),
        ("-1d", NOW - timedelta(days=1)),
        ("-30s", NOW - timedelta(seconds=30)),
        ("-1w", NOW - timedelta(weeks=1)),
        ("now", NOW),
        ("  -10m ", NOW - timedelta(minutes=10)),
    ],
)
def test_accepted_times(text, expected):
    assert parse_time(text, NOW) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "10m",
        "+10m",
        "-10",
        "-10x",
        "-1.5h",
        "--10m",
        "2026-11-26T10:00:00",  # no offset: ambiguous
        "2026-11-26T25:00:00Z",
        "2026-02-30T10:00:00Z",
        "2026-11-26T10:00Z",
        "26/11/2026",
        "1732615200",
        "-99999999999999d",
        "0001-01-01T00:00:00+01:00",  # valid text, but year 0 in UTC
        "9999-12-31T23:59:59-01:00",  # valid text, but year 10000 in UTC
    ],
)
def test_refused_times_name_the_value(text):
    with pytest.raises(ValueError, match="invalid time") as raised:
        parse_time(text, NOW)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30d", timedelta(days=30)), ("12h", timedelta(hours=12)), ("2w", timedelta(weeks=2))],
)
def test_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["0d", "-1d", "30", "d", "1.5d", "30 days", ""])
def test_refused_durations(text):
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_canonical_timestamp_round_trips_and_is_fixed_width():
    moment = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    text = format_ts(moment)
    assert text == "2026-01-02T03:04:05.000006Z"
    assert parse_ts(text) == moment
    with pytest.raises(ValueError, match="canonical"):
        parse_ts("2026-01-02T03:04:05Z")
    with pytest.raises(ValueError, match="time zone"):
        format_ts(moment.replace(tzinfo=None))


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00.000000Z"),
        (datetime(931, 10, 9, 1, 2, 3, tzinfo=UTC), "0931-10-09T01:02:03.000000Z"),
        (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "9999-12-31T23:59:59.999999Z"),
    ],
)
def test_years_before_1000_are_four_digits_so_text_order_is_time_order(moment, text):
    assert format_ts(moment) == text
    assert parse_ts(text) == moment
    assert (text < format_ts(datetime(2026, 1, 1, tzinfo=UTC))) == (moment.year < 2026)


def test_one_instant_in_any_zone_is_one_text_and_naive_is_refused_after_it():
    utc = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    plus_two = utc.astimezone(timezone(timedelta(hours=2)))
    texts = [format_ts(m) for m in (utc, plus_two, utc, plus_two)]
    assert texts == ["2026-01-02T03:04:05.000006Z"] * 4
    assert format_ts(utc + timedelta(microseconds=1)) == "2026-01-02T03:04:05.000007Z"
    with pytest.raises(ValueError, match="time zone"):
        format_ts(utc.replace(tzinfo=None))
    with pytest.raises(ValueError, match="time zone"):
        format_ts(plus_two.replace(tzinfo=None))
