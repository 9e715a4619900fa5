"""Small helpers shared by the journal and CLI tests."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


class _Lines:
    """Lines of a process's stdout, read by a daemon thread into a queue."""

    _END = object()

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.queue: queue.Queue[object] = queue.Queue()
        self.thread = threading.Thread(target=self._pump, args=(process,), daemon=True)
        self.thread.start()

    def _pump(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        try:
            for line in process.stdout:
                self.queue.put(line)
        except ValueError:  # the pipe was closed by the test's teardown
            pass
        self.queue.put(self._END)


# One reader per process object (not per pid: pids are reused).
_readers: weakref.WeakKeyDictionary[subprocess.Popen[str], _Lines] = weakref.WeakKeyDictionary()


def read_lines(process: subprocess.Popen[str], count: int, timeout: float = 30.0) -> list[str]:
    """Read ``count`` lines from a process's stdout, failing after ``timeout`` seconds.

    A thread drains the pipe (so the process never blocks on a full pipe and
    no line waits in a buffer); this call waits on the queue with a deadline
    and fails early if the process ends, quoting its stderr.
    """
    reader = _readers.get(process)
    if reader is None:
        reader = _readers[process] = _Lines(process)
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while len(lines) < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            pytest.fail(f"timed out after {timeout} s with {len(lines)} of {count} lines")
        try:
            item = reader.queue.get(timeout=remaining)
        except queue.Empty:
            continue
        if item is _Lines._END:
            reader.queue.put(item)
            error = process.stderr.read() if process.stderr is not None else ""
            pytest.fail(f"process ended after {len(lines)} of {count} lines: {error}")
        lines.append(str(item))
    return lines


def rest_of_output(process: subprocess.Popen[str], timeout: float = 10.0) -> str:
    """Return what a finished process printed after the lines already read."""
    process.wait(timeout=timeout)
    reader = _readers.get(process)
    if reader is None:
        assert process.stdout is not None
        return process.stdout.read()
    reader.thread.join(timeout=timeout)
    parts = []
    while not reader.queue.empty():
        item = reader.queue.get()
        if item is not _Lines._END:
            parts.append(str(item))
    return "".join(parts)


def alembic(target: Path | str, *args: str) -> None:
    """Run the Alembic command line (the root ``alembic.ini``) on the journal ``target``."""
    program = Path(sys.executable).parent / "alembic"
    result = subprocess.run(
        [str(program), "-x", f"journal={target}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
