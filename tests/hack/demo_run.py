"""Running ``python -m hack.demo`` as a subprocess, as the Makefile does, for tests and benchmarks.

Every process the demo starts inherits its environment, so a marker variable
set here finds any process left behind, however it was started (the API
server, the controllers, the web app pods, kubectl).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MARKER = "SHIPSHAPE_DEMO_TEST_RUN"


def marked(run_id: str, **env: str) -> list[tuple[int, str]]:
    """Return ``(pid, command line)`` of every live process carrying this run's marker.

    Keyword arguments narrow it to processes whose environment also holds
    those variables with those values (``POD_NAME="helloworld-controller-1"``).
    """
    wanted = {f"{MARKER}={run_id}".encode(), *(f"{k}={v}".encode() for k, v in env.items())}
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if wanted <= set((proc / "environ").read_bytes().split(b"\0")):
                command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                found.append((int(proc.name), command.strip()))
        except OSError:  # gone meanwhile, or a zombie
            continue
    return found


def leftovers(run_id: str) -> list[str]:
    """Return ``pid command`` of every live process carrying this run's marker."""
    return [f"{pid} {command}" for pid, command in marked(run_id)]


class DemoRun:
    """``python -m hack.demo`` in a subprocess, its output collected line by line."""

    def __init__(self, tmp_path: Path, *, keep: bool = False) -> None:
        self.run_id = uuid.uuid4().hex
        self.out = tmp_path / "evidence"
        #: The work directory the demo keeps (``--keep``): logs, journals, kubeconfigs.
        self.kept = tmp_path / "kept" if keep else None
        self.lines: list[str] = []
        #: When each line arrived (monotonic seconds), for the benchmark.
        self.arrivals: list[float] = []
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hack.demo",
                "--out",
                str(self.out),
                *(("--keep", str(self.kept)) if self.kept is not None else ()),
            ],
            cwd=ROOT,
            env={**os.environ, MARKER: self.run_id},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # Its own process group, like a shell job: a Ctrl-C reaches the whole group.
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.arrivals.append(time.monotonic())
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_line(self, text: str, timeout: float = 60.0) -> None:
        """Wait until a line containing ``text`` was printed."""
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"no line with {text!r}:\n{self.output}")
            time.sleep(0.05)

    def wait(self, timeout: float = 90.0) -> int:
        """Wait for the demo to exit; return its status."""
        code = self.process.wait(timeout)
        self._reader.join(5)
        return code

    def signal_group(self, sig: signal.Signals) -> None:
        """Signal the demo's process group, as the terminal does on Ctrl-C."""
        os.killpg(self.process.pid, sig)

    def kill(self) -> None:
        """Teardown: kill the demo and anything it left (found by the marker)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for entry in leftovers(self.run_id):
            os.kill(int(entry.split()[0]), signal.SIGKILL)


@pytest.fixture(scope="session")
def finished_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    """One whole demo run, with ``--keep``, shared by every test that reads its results.

    The demo is the slowest thing the suite starts; the tests of its narration
    and of the documentation's worked examples (run on its journals) share it.
    Tests must copy what they change out of ``kept``.
    """
    run = DemoRun(tmp_path_factory.mktemp("demo"), keep=True)
    try:
        run.wait()
        yield run
    finally:
        run.kill()
