"""Benchmark: how long ``make demo`` takes, in total and per step (goal: under a minute).

Runs ``python -m hack.demo`` once, as the Makefile does (without the install),
and times each step from its ``[n/N]`` line to the next. Run with
``make bench``; prints its figures and never fails for slowness.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.hack.demo_run import DemoRun

STEP = re.compile(r"^demo: \[(\d+)/(\d+)\] (.+)$")


def test_bench_demo_duration(tmp_path: Path) -> None:
    run = DemoRun(tmp_path)
    try:
        code = run.wait(timeout=300)
    finally:
        run.kill()
    assert code == 0, run.output
    ended = run.arrivals[-1]
    marks = [
        (STEP.match(line)[3], at)
        for line, at in zip(run.lines, run.arrivals, strict=True)
        if STEP.match(line)
    ]
    print(f"\nmake demo (python -m hack.demo): {ended - run.started:.1f} s in all, goal < 60 s")
    for (name, at), (_, next_at) in zip(marks, [*marks[1:], ("end", ended)], strict=True):
        print(f"  {name:<18} {next_at - at:5.1f} s")
