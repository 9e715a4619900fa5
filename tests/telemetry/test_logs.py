"""JSON log lines: fixed keys, timestamps, levels, redaction of messages and errors."""

import io
import json
import logging
import random
import re
import threading
from datetime import UTC, datetime

import pytest

from telemetry.config import ConfigError
from telemetry.logs import JsonLineHandler, configure_logging, format_timestamp, parse_log_level

TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


@pytest.fixture
def stream():
    buffer = io.StringIO()
    handler = configure_logging("DEBUG", stream=buffer)
    yield buffer
    logging.getLogger().removeHandler(handler)


def lines(buffer):
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_each_record_is_one_json_object_with_the_fixed_keys(stream):
    logging.getLogger("reloader.watch").info("watch started for %s", "configmaps")
    (line,) = lines(stream)
    assert set(line) == {"ts", "level", "logger", "msg"}
    assert TS.match(line["ts"])
    assert line["level"] == "INFO"
    assert line["logger"] == "reloader.watch"
    assert line["msg"] == "watch started for configmaps"


def test_message_and_exception_text_are_redacted(stream):
    log = logging.getLogger("t")
    try:
        raise RuntimeError("login failed password=hunter2")
    except RuntimeError:
        log.exception("request with token=abc123 failed")
    (line,) = lines(stream)
    assert line["msg"] == "request with token=[REDACTED] failed"
    assert "hunter2" not in line["error"]
    assert "RuntimeError: login failed password=[REDACTED]" in line["error"]
    assert "\n" not in stream.getvalue().rstrip("\n")


def test_structured_fields_are_added_redacted_and_cannot_replace_fixed_keys(stream):
    logging.getLogger("web").info(
        "request",
        extra={"fields": {"status": 200, "query": "api_key=k", "msg": "spoof", "level": "X"}},
    )
    (line,) = lines(stream)
    assert line["status"] == 200
    assert line["query"] == "api_key=[REDACTED]"
    assert line["msg"] == "request"
    assert line["level"] == "INFO"


def test_level_filters_records():
    buffer = io.StringIO()
    handler = configure_logging("WARNING", stream=buffer)
    try:
        logging.getLogger("t").info("hidden")
        logging.getLogger("t").warning("shown")
    finally:
        logging.getLogger().removeHandler(handler)
    assert [line["msg"] for line in lines(buffer)] == ["shown"]


def test_configuring_twice_does_not_duplicate_lines():
    first, second = io.StringIO(), io.StringIO()
    configure_logging("INFO", stream=first)
    handler = configure_logging("INFO", stream=second)
    try:
        logging.getLogger("t").info("once")
    finally:
        logging.getLogger().removeHandler(handler)
    assert first.getvalue() == ""
    assert len(lines(second)) == 1


@pytest.mark.parametrize(
    ("value", "level"),
    [("DEBUG", 10), ("info", 20), (" WARNING ", 30), ("Error", 40), ("CRITICAL", 50)],
)
def test_log_level_accepts_the_five_names(value, level):
    assert parse_log_level(value) == level


@pytest.mark.parametrize("value", ["", "TRACE", "WARN", "verbose", "10"])
def test_log_level_rejects_anything_else_naming_the_variable(value):
    with pytest.raises(ConfigError) as caught:
        parse_log_level(value)
    assert str(caught.value).startswith("invalid LOG_LEVEL: must be one of DEBUG, INFO")


def test_timestamps_match_datetime_to_the_microsecond():
    rng = random.Random(7)
    moments = [rng.uniform(0, 4e9) for _ in range(5000)]
    moments += [1795692972.9999995, 1795692972.0000004, 1795692973.0, 0.0, 1e9 + 0.5e-6]
    for moment in moments:
        expected = datetime.fromtimestamp(moment, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert format_timestamp(moment) == expected, moment


class Secret(str):
    """A ``str`` subclass: not the exact type the formatter's fast path looks for."""


def test_field_values_of_every_type_are_logged_and_text_in_them_redacted(stream):
    logging.getLogger("web").info(
        "typed",
        extra={
            "fields": {
                "plain": "token=abc",
                "subclass": Secret("password=hunter2"),
                "count": 3,
                "ratio": 0.5,
                "flag": True,
                "nothing": None,
                "nested": {"inner": ["api_key=k", 7], "pair": ("secret=s", False)},
            }
        },
    )
    (line,) = lines(stream)
    assert line["plain"] == "token=[REDACTED]"
    assert line["subclass"] == "password=[REDACTED]"
    assert (line["count"], line["ratio"], line["flag"], line["nothing"]) == (3, 0.5, True, None)
    assert line["nested"] == {
        "inner": ["api_key=[REDACTED]", 7],
        "pair": ["secret=[REDACTED]", False],
    }


def test_lines_logged_from_many_threads_at_once_stay_whole(stream):
    # The handler formats outside its lock; each line must still be written whole.
    def log_many(worker):
        log = logging.getLogger(f"worker{worker}")
        for index in range(300):
            log.info("line %d", index, extra={"fields": {"worker": worker, "pad": "x" * 500}})

    threads = [threading.Thread(target=log_many, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    parsed = lines(stream)
    assert len(parsed) == 8 * 300
    for worker in range(8):
        indexes = [line["msg"] for line in parsed if line.get("worker") == worker]
        assert indexes == [f"line {index}" for index in range(300)]


def test_handler_filters_still_decide(stream):
    handler = next(h for h in logging.getLogger().handlers if isinstance(h, JsonLineHandler))
    dropper = logging.Filter("kept")
    handler.addFilter(dropper)
    try:
        logging.getLogger("dropped").info("no")
        logging.getLogger("kept").info("yes")
    finally:
        handler.removeFilter(dropper)
    assert [line["msg"] for line in lines(stream)] == ["yes"]


class BrokenStream(io.StringIO):
    def write(self, text):
        raise OSError("disk full")


def test_a_failing_stream_is_reported_not_raised_to_the_caller(capsys):
    handler = configure_logging("INFO", stream=BrokenStream())
    try:
        logging.getLogger("t").info("lost")
    finally:
        logging.getLogger().removeHandler(handler)
    assert "Logging error" in capsys.readouterr().err


class Opaque:
    def __str__(self):
        return "opaque"


def test_lines_are_encoded_as_json_dumps_would_encode_them(stream):
    # The formatter keeps one C encoder instead of json's per-call one; the
    # text must be the same, unusual values included.
    fields = {
        "text": 'é ✓ "quoted" \\ back\nslash \x00',
        "floats": [0.1, 1e300, -0.0, float("nan"), float("inf")],
        "big": 2**70,
        "object": Secret("plain"),
        "other": Opaque(),
        "nested": {"1": [{"a": None}], "2": ()},
    }
    logging.getLogger("enc").info("encoded", extra={"fields": fields})
    text = stream.getvalue().rstrip("\n")
    decoded = json.loads(text)
    expected = json.dumps(decoded, ensure_ascii=False, separators=(",", ":"))
    assert text == expected
    assert decoded["text"] == fields["text"]
    assert decoded["other"] == "opaque"


def test_top_level_field_values_are_encoded_as_json_dumps_would_encode_them(stream):
    # Strings, numbers, booleans and None at the top level are written without
    # the encoder; the text must be the encoder's all the same.
    fields = {
        "text": 'é ✓ "quoted" \\ back\nslash \x00 \u2028',
        "zero": 0,
        "negative": -7,
        "big": 2**70,
        "ratio": 0.1,
        "huge": 1e300,
        "negative_zero": -0.0,
        "nan": float("nan"),
        "inf": float("inf"),
        "minus_inf": float("-inf"),
        "yes": True,
        "no": False,
        "nothing": None,
        'key "quoted"\n': "value",
    }
    logging.getLogger("enc").info("encoded", extra={"fields": fields})
    text = stream.getvalue().rstrip("\n")
    decoded = json.loads(text)
    assert text == json.dumps(decoded, ensure_ascii=False, separators=(",", ":"))
    assert decoded["yes"] is True and decoded["no"] is False and decoded["nothing"] is None
    assert decoded["big"] == 2**70 and decoded["negative_zero"] == 0.0
    assert decoded['key "quoted"\n'] == "value"


def test_fields_with_keys_that_are_not_text_are_still_one_json_line(stream):
    logging.getLogger("enc").info("keys", extra={"fields": {1: "one", "two": "token=t"}})
    text = stream.getvalue().rstrip("\n")
    decoded = json.loads(text)
    assert (decoded["1"], decoded["two"]) == ("one", "token=[REDACTED]")
    assert text == json.dumps(decoded, ensure_ascii=False, separators=(",", ":"))


def test_fields_with_keys_that_are_not_text_keep_the_message_redacted_and_the_fixed_keys(stream):
    logging.getLogger("enc").warning(
        "login with token=t0k3n failed", extra={"fields": {2: "two", "msg": "spoof", "level": "X"}}
    )
    (line,) = lines(stream)
    assert line["msg"] == "login with token=[REDACTED] failed"
    assert line["level"] == "WARNING"
    assert line["2"] == "two"


def test_each_line_is_flushed_to_a_buffered_stream_as_it_is_logged():
    # Standard output into a pipe (a container's log) is block-buffered: a
    # line not flushed at once shows up kilobytes later, or never on a crash.
    sink = io.BytesIO()
    buffered = io.TextIOWrapper(sink, encoding="utf-8")
    handler = configure_logging("INFO", stream=buffered)
    try:
        logging.getLogger("t").info("controller starting")
        assert json.loads(sink.getvalue())["msg"] == "controller starting"
    finally:
        logging.getLogger().removeHandler(handler)
