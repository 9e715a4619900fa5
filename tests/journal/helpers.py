"""Small helpers shared by the journal and CLI tests."""

from __future__ import annotations

import select
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    """Poll ``predicate`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def read_lines(process: subprocess.Popen[str], count: int, timeout: float = 30.0) -> list[str]:
    """Read ``count`` lines from a process's stdout, failing after ``timeout`` seconds.

    Waits with ``select`` on the pipe (never blocks past the deadline) and
    fails early if the process exits, quoting its stderr.
    """
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while len(lines) < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            pytest.fail(f"timed out after {timeout} s with {len(lines)} of {count} lines")
        ready, _, _ = select.select([process.stdout], [], [], min(remaining, 0.5))
        if not ready:
            continue
        line = process.stdout.readline()
        if not line:
            error = process.stderr.read() if process.stderr is not None else ""
            pytest.fail(f"process ended after {len(lines)} of {count} lines: {error}")
        lines.append(line)
    return lines
