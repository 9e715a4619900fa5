"""A logging filter that lets a noisy logger speak once per interval.

waitress warns ``Task queue depth is N`` for every request queued behind busy
worker threads: at saturation that is one line per request, which costs CPU
when CPU is short and buries everything else. Throttled, the warning still
says the server is saturated, once per interval, with a count of the lines
held back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable


class Throttle(logging.Filter):
    """Passes one record per ``interval_seconds``; the next one passed carries ``suppressed``."""

    def __init__(
        self, interval_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """Throttle to one record per ``interval_seconds`` of ``clock``."""
        super().__init__()
        self._interval = interval_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._next_allowed = float("-inf")
        self._suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        """Return whether ``record`` may pass; count it when it may not."""
        now = self._clock()
        with self._lock:
            if now < self._next_allowed:
                self._suppressed += 1
                return False
            self._next_allowed = now + self._interval
            suppressed, self._suppressed = self._suppressed, 0
        if suppressed:
            fields = getattr(record, "fields", None)
            record.fields = {
                **(fields if isinstance(fields, dict) else {}),
                "suppressed": suppressed,
            }
        return True
