"""Fixtures for the CLI's tests: the command run in-process or as a real process."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from cli.main import main
from tests.cli.helpers import Outcome
from tests.journal.conftest import open_journal, spawn, start_writer  # noqa: F401 - shared fixtures
from tests.journal.signing_helpers import write_key_pair
from tests.kubeapi.process import program


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Callable[..., Outcome]:
    """Run ``shipshape-journal ARGS`` in this process (``main(argv)``), capturing its output."""

    def invoke(*args: str | Path) -> Outcome:
        capsys.readouterr()
        code = main([str(arg) for arg in args])
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return invoke


@pytest.fixture
def executable() -> str:
    """The installed ``shipshape-journal`` console script."""
    return program("shipshape-journal")


@pytest.fixture
def run_process(executable: str, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the console script as a real process (cwd: the test's tmp dir)."""

    def invoke(*args: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
        options: dict[str, object] = {"cwd": tmp_path, "capture_output": True, "text": True}
        options.update(kwargs)
        return subprocess.run(  # type: ignore[call-overload]
            [executable, *map(str, args)], check=False, timeout=60, **options
        )

    return invoke


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    """An Ed25519 signing key file and its public key file (PEM)."""
    return write_key_pair(tmp_path, "signing")
