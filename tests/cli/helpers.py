"""Helpers for the CLI's tests."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    """What a run of ``shipshape-journal`` produced."""

    code: int
    out: str
    err: str


def one_error_line(outcome: Outcome | subprocess.CompletedProcess[str]) -> str:
    """Return the single error line on stderr; fail unless there is exactly one."""
    err = outcome.err if isinstance(outcome, Outcome) else outcome.stderr
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one error line, got: {err!r}"
    assert lines[0].startswith("Error: "), lines[0]
    assert "Traceback" not in err
    return lines[0]
