"""``make demo`` end to end: ``python -m hack.demo`` as a subprocess, as the Makefile runs it.

Every process the demo starts inherits its environment, so a marker variable
set here finds any process left behind, however it was started (the API
server, the controllers, the web app pods, kubectl).
"""

from __future__ import annotations

import os
import re
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
STEPS = (
    "API server",
    "manifests",
    "kubelet",
    "controllers",
    "test change",
    "failover drill",
    "prod change",
    "controllers stop",
    "replay and verify",
    "drill evidence",
)

pytestmark = pytest.mark.slow


def leftovers(run_id: str) -> list[str]:
    """Return ``pid command`` of every live process carrying this run's marker."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            if f"{MARKER}={run_id}".encode() in environ:
                command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                found.append(f"{proc.name} {command}")
        except OSError:  # gone meanwhile, or a zombie
            continue
    return found


class DemoRun:
    """``python -m hack.demo`` in a subprocess, its output collected line by line."""

    def __init__(self, tmp_path: Path) -> None:
        self.run_id = uuid.uuid4().hex
        self.out = tmp_path / "evidence"
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hack.demo", "--out", str(self.out)],
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


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[DemoRun]:
    run = DemoRun(tmp_path)
    yield run
    run.kill()


def test_the_demo_runs_every_step_narrated_and_leaves_nothing_behind(demo: DemoRun) -> None:
    code = demo.wait()
    output = demo.output
    assert code == 0, output

    narrated = re.findall(r"^demo: \[(\d+)/(\d+)\] (.+)$", output, re.MULTILINE)
    assert narrated == [(str(n), str(len(STEPS)), name) for n, name in enumerate(STEPS, 1)]
    # The loop: a ConfigMap change restarts its Deployment and the new pod serves it.
    for env in ("test", "prod"):
        assert re.search(
            rf"^demo: helloworld-controller-\d restarted helloworld-{env} \(revision 2\); "
            rf"the kubelet replaced its pod: GET http://127\.0\.0\.1:\d+/ -> "
            rf"'Hello from the Shipshape demo \({env}, [\d:]+\)'$",
            output,
            re.MULTILINE,
        ), env
    # The failover: the standby leads with a newer epoch.
    takeover = re.search(
        r"^demo: (helloworld-controller-\d) took over after [\d.]+ s: /leadz (.+)$",
        output,
        re.MULTILINE,
    )
    assert takeover, output
    assert f'"leader": "{takeover[1]}", "is_leader": true' in takeover[2]
    # The journals: no anomaly, no differing decision, both chains intact.
    assert re.search(r"^demo:     Anomalies: 0$", output, re.MULTILINE), output
    assert re.search(r"^demo:     Check .*: 0 difference\(s\)", output, re.MULTILINE), output
    assert len(re.findall(r"^demo:     OK: \d+ records, head [0-9a-f]{64}$", output, re.M)) == 2
    # The drill's evidence, COMPLETED.
    [report] = demo.out.glob("dr-drill-*.md")
    assert re.search(r"^Status: COMPLETED$", report.read_text(), re.MULTILINE)
    assert "Scenario: leader-pod-loss" in report.read_text()
    assert list(demo.out.glob("dr-drill-*.manifest.json"))
    assert list(demo.out.glob("dr-drill-*.journal.db"))
    assert re.search(r"^demo: done: 10 steps in [\d.]+ s; every process stopped$", output, re.M)
    assert leftovers(demo.run_id) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_demo_stops_every_process_it_started(
    demo: DemoRun, sig: signal.Signals
) -> None:
    # By the change step the API server, both pods and both controllers run.
    demo.wait_line("demo: [5/10] test change")
    assert len(leftovers(demo.run_id)) >= 5, leftovers(demo.run_id)

    demo.signal_group(sig)
    code = demo.wait(timeout=60)

    assert code == 128 + sig, demo.output
    assert f"demo: interrupted by {sig.name} during step 5/10 (test change)" in demo.output
    assert leftovers(demo.run_id) == []
