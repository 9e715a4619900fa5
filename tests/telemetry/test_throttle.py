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
