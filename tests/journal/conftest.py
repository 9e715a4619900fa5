"""Fixtures for the journal's tests: real SQLite files in a temporary directory."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from journal import Journal
from tests.journal.builders import Controller
from tests.journal.helpers import ROOT

ACTOR = "helloworld-controller-0"


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    """Where the test's journal lives (not created yet)."""
    return tmp_path / "journal.db"


@pytest.fixture
def open_journal() -> Iterator[Callable[..., Journal]]:
    """Open journals (``Journal.open`` arguments) and close them all after the test."""
    opened: list[Journal] = []

    def opener(*args: object, **kwargs: object) -> Journal:
        journal = Journal.open(*args, **kwargs)  # type: ignore[arg-type]
        opened.append(journal)
        return journal

    yield opener
    for journal in opened:
        journal.close()


@pytest.fixture
def writer(journal_path: Path, open_journal: Callable[..., Journal]) -> Journal:
    """A writer on a new journal, as the controller replica ``helloworld-controller-0``."""
    return open_journal(journal_path, actor=ACTOR)


@pytest.fixture
def controller(writer: Journal) -> Controller:
    """A controller replica writing realistic record chains into ``writer``."""
    return Controller(writer)


@pytest.fixture
def spawn() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start processes (cwd: the repository root); every one is killed after the test."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str, **kwargs: object) -> subprocess.Popen[str]:
        options: dict[str, object] = {
            "cwd": ROOT,
            "stdout": subprocess.PIPE,
            "stderr": subprocess.PIPE,
            "text": True,
        }
        options.update(kwargs)
        process = subprocess.Popen(list(args), **options)  # type: ignore[call-overload]
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def start_writer(
    spawn: Callable[..., subprocess.Popen[str]],
) -> Callable[..., subprocess.Popen[str]]:
    """Start ``tests.journal.workers`` appending COUNT records (0: forever) to PATH."""

    def start(path: Path, count: int, actor: str = "worker") -> subprocess.Popen[str]:
        return spawn(sys.executable, "-m", "tests.journal.workers", str(path), str(count), actor)

    return start
