"""The three console scripts answer ``--help`` and ``--version`` and refuse stray words.

``shipshape-web`` and ``shipshape-controller`` take their configuration from
the environment only: asking them for help must not start a server, and an
argument they do not know is a usage error (exit 2), not silently ignored.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from telemetry.buildinfo import VERSION

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"])


def run(script: str, *args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run an installed console script with no settings at all, from an empty directory."""
    path = Path(sys.executable).with_name(script)
    if not path.exists():
        pytest.fail(f"{script} is not installed in this virtualenv; run `make install`")
    # No KUBECONFIG, journal or port: a program that started anyway would fail
    # or bind, and the test would see it (or time out).
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "PORT": "1"}
    return subprocess.run(
        [str(path), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_every_console_script_is_covered() -> None:
    assert SCRIPTS == ["shipshape-controller", "shipshape-journal", "shipshape-web"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_describes_the_program_and_starts_nothing(script: str, tmp_path: Path) -> None:
    result = run(script, "--help", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Usage: {script} "), result.stdout
    assert "--version" in result.stdout
    assert result.stderr == ""
    assert list(tmp_path.iterdir()) == [], "--help created files"
    if script != "shipshape-journal":
        assert "docs/reference/configuration.md" in result.stdout


@pytest.mark.parametrize("script", SCRIPTS)
def test_version_prints_the_build_version(script: str, tmp_path: Path) -> None:
    for flag in ("--version", "-V"):
        result = run(script, flag, tmp_path=tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"{script}, version {VERSION}\n"


@pytest.mark.parametrize("script", ["shipshape-controller", "shipshape-web"])
@pytest.mark.parametrize(
    ("argument", "words"),
    [("--port=9000", ["No such option", "--port"]), ("serve", ["unexpected extra argument"])],
)
def test_a_stray_argument_is_a_usage_error_not_ignored(
    script: str, argument: str, words: list[str], tmp_path: Path
) -> None:
    result = run(script, argument, tmp_path=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    error = result.stderr.splitlines()[-1]
    assert error.startswith("Error: ") and all(w in error for w in words), result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []
