"""``make demo`` end to end: ``python -m hack.demo`` as a subprocess, as the Makefile runs it."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hack.demo_run import DemoRun, leftovers, marked

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


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[DemoRun]:
    run = DemoRun(tmp_path)
    yield run
    run.kill()


def test_the_demo_runs_every_step_narrated_and_leaves_nothing_behind(
    finished_demo: DemoRun,
) -> None:
    demo = finished_demo
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
    # --keep kept the work directory: both replicas' journals among it.
    assert demo.kept is not None
    assert sorted(p.name for p in (demo.kept / "journals").glob("*.db")) == [
        "helloworld-controller-0.db",
        "helloworld-controller-1.db",
    ]


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


def test_a_step_that_does_not_happen_fails_the_demo_naming_it(demo: DemoRun) -> None:
    # Kill the standby just as the drill begins: nobody is left to take over.
    demo.wait_line("demo: [6/10] failover drill")
    standby = re.search(
        r"^demo: helloworld-controller-\d leads .*, (helloworld-controller-\d) stands by;",
        demo.output,
        re.MULTILINE,
    )
    assert standby, demo.output
    [(pid, _command)] = marked(demo.run_id, POD_NAME=standby[1])
    os.kill(pid, signal.SIGKILL)

    code = demo.wait(timeout=60)

    assert code == 1, demo.output
    assert re.search(
        rf"^demo: FAILED at step 6/10 \(failover drill\): {standby[1]} exited with -9",
        demo.output,
        re.MULTILINE,
    ), demo.output
    assert "demo: [7/10]" not in demo.output
    assert leftovers(demo.run_id) == []
