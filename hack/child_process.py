"""Long-running child processes for the local demo, each in its own process group.

A :class:`Child` starts its command in a new session, so a Ctrl-C at the
terminal reaches only the parent, which then stops its children in the order it
chooses; stopping signals the whole group, so nothing the child started
survives it. The child's output goes to a log file, read back for the JSON log
lines the Shipshape programs write (``telemetry.logs``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T | None], what: str, timeout: float, interval: float = 0.05
) -> T:
    """Poll ``condition`` until it returns something truthy and return that.

    Raises:
        TimeoutError: ``condition`` stayed falsy for ``timeout`` seconds; the
            message names ``what``.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} did not happen within {timeout:g} s")
        time.sleep(interval)


def program(name: str) -> str:
    """Return the path of a console script of this virtualenv, else of one on PATH.

    Raises:
        FileNotFoundError: Neither exists; the message says how to install it.
    """
    local = Path(sys.executable).with_name(name)
    found = str(local) if local.exists() else shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} is not installed (run `make install`)")
    return found


class Child:
    """One child process in its own process group, its stdout and stderr in ``log``.

    Args:
        name: What the child is, for messages (``helloworld-controller-0``).
        command: The program and its arguments.
        env: The child's whole environment.
        log: File receiving the child's output (appended to).
        cwd: The child's working directory (default: the parent's).
    """

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        *,
        env: Mapping[str, str],
        log: Path,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.command = list(command)
        self.env = dict(env)
        self.log = log
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Child:
        """Start the command in a new session (its own process group)."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int | None:
        """The process id, once started."""
        return self.process.pid if self.process else None

    @property
    def running(self) -> bool:
        """Whether the process was started and has not exited."""
        return self.process is not None and self.process.poll() is None

    def exited(self) -> str | None:
        """Return a one-line reason when the process has exited, else None."""
        if self.process is None or self.process.poll() is None:
            return None
        lines = (
            self.log.read_text(errors="replace").strip().splitlines() if self.log.exists() else []
        )
        last = lines[-1] if lines else "(no output)"
        return f"{self.name} exited with {self.process.returncode}: {last}"

    def log_size(self) -> int:
        """Return the log's size in bytes (0 before it exists), an offset for :meth:`log_entry`."""
        return self.log.stat().st_size if self.log.exists() else 0

    def log_entry(self, message: str, offset: int = 0) -> dict[str, Any] | None:
        """Return the first JSON log line after byte ``offset`` whose ``msg`` starts ``message``.

        A ``msg`` may carry formatted arguments (``listening on 127.0.0.1:8080``);
        the line's structured fields hold the values (``port``).
        """
        if not self.log.exists():
            return None
        with self.log.open("rb") as log:
            log.seek(offset)
            text = log.read().decode(errors="replace")
        for line in text.splitlines():
            if not line.startswith("{"):
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if str(entry.get("msg", "")).startswith(message):
                return entry
        return None

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the child's whole process group, while the child is not yet reaped."""
        if self.running:
            self._signal_group(sig)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the group, wait up to ``timeout`` seconds, then SIGKILL what is left of it.

        Returns:
            The exit status, or None when the child was never started.
        """
        if self.process is None:
            return None
        if self.running:
            self._signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
            # Right after the wait: the group id cannot have been reused yet.
            self._signal_group(signal.SIGKILL)
        return self.process.wait()

    def kill(self) -> int | None:
        """SIGKILL the group and reap the child (as a lost node would: no clean shutdown)."""
        if self.process is None:
            return None
        if self.running:
            self._signal_group(signal.SIGKILL)
        return self.process.wait()

    def _signal_group(self, sig: signal.Signals) -> None:
        # Only called while the child is alive or just reaped, so its pid is still
        # its group's id: a child reaped long ago might share its pid with a stranger.
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
