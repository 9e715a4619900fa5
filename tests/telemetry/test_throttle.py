"""The throttle: one record per interval, and a count of the ones held back."""

import io
import json
import logging

from telemetry.logs import JsonFormatter
from telemetry.throttle import Throttle


def test_one_record_per_interval_with_the_count_held_back():
    now = [100.0]
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("tests.throttle")
    log.propagate = False
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    throttle = Throttle(10.0, clock=lambda: now[0])
    log.addFilter(throttle)
    try:
        for depth in range(1, 6):
            log.warning("Task queue depth is %d", depth)
        now[0] += 9.9
        log.warning("Task queue depth is 6")
        now[0] += 0.1
        log.warning("Task queue depth is 7")
        log.warning("Task queue depth is 8")
    finally:
        log.removeFilter(throttle)
        log.removeHandler(handler)
        log.propagate = True
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert [line["msg"] for line in lines] == ["Task queue depth is 1", "Task queue depth is 7"]
    assert "suppressed" not in lines[0]
    assert lines[1]["suppressed"] == 5


def test_the_count_starts_again_and_the_records_own_fields_stay():
    now = [100.0]
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    throttle = Throttle(10.0, clock=lambda: now[0])
    handler.addFilter(throttle)
    log = logging.getLogger("tests.throttle.fields")
    log.propagate = False
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        for depth in (1, 2, 3):
            log.warning("Task queue depth is %d", depth, extra={"fields": {"depth": depth}})
        now[0] += 10
        log.warning("Task queue depth is 4", extra={"fields": {"depth": 4}})
        now[0] += 10
        log.warning("Task queue depth is 5", extra={"fields": {"depth": 5}})
    finally:
        log.removeHandler(handler)
        log.propagate = True
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert [(line["depth"], line.get("suppressed")) for line in lines] == [
        (1, None),
        (4, 2),
        (5, None),
    ]
