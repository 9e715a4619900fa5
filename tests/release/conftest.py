"""Helpers for the release tests: the repository root, tools and hack/ scripts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def require_tool(name: str) -> str:
    """Return the path of a command-line tool, failing (never skipping) when it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is not on PATH; `make test` installs it (pyproject.toml's dev extra "
            "into .venv, or scripts/system-tools.sh from the distribution)",
            pytrace=False,
        )
    return path


def run_script(*args: str | Path, cwd: Path = REPO, env: dict | None = None):
    """Run a hack/ Python script with this interpreter; return the completed process."""
    return subprocess.run(
        [sys.executable, *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
