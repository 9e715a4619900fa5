"""What the benchmarks compute from their samples, in one place."""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Iterator


def percentile(values: list[float], fraction: float) -> float:
    """The sample at ``fraction`` of the way through the sorted values (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def stat_cpu(path: str | os.PathLike[str]) -> tuple[float, float]:
    """User and system CPU seconds from a ``/proc/PID/stat`` or ``/proc/PID/task/TID/stat`` file.

    The process's file counts every thread of it; a task's, that thread only.
    """
    with open(path, encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()  # the name may hold spaces
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def thread_usage() -> tuple[float, float]:
    """The calling thread's user and system CPU seconds so far."""
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return usage.ru_utime, usage.ru_stime


def paced(count: int, per_second: float) -> Iterator[int]:
    """Yield ``0`` to ``count - 1``, each no sooner than ``i / per_second`` after the first.

    A load that falls behind (a slow request) catches up without sleeping,
    so the whole takes ``count / per_second`` seconds however the requests vary.
    """
    begin = time.monotonic()
    for i in range(count):
        delay = begin + i / per_second - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        yield i
