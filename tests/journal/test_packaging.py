"""The journal works from an installed wheel, wherever it is started."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

from journal.schema import HEAD
from tests.journal.helpers import ROOT

PACKAGES = ("journal", "cli", "records", "telemetry", "reloader", "webapp")


def test_an_installed_wheel_carries_and_finds_its_migrations(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    wheels = tmp_path / "wheels"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(wheels), str(source)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("shipshape-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {
        "journal/migrations/env.py",
        "journal/migrations/script.py.mako",
        "journal/migrations/versions/0001_create_journal_records.py",
    } <= names

    site = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site),
         str(wheel)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = (
        "import journal\n"
        "from journal import Journal, kinds, verify\n"
        "with Journal.open('j.db', actor='a') as j:\n"
        "    j.append(kinds.OPERATOR_NOTE, data={'text': 'x'})\n"
        "    print(journal.__file__, j.revision, verify(j).ok)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=elsewhere,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    location, revision, ok = result.stdout.split()
    assert location.startswith(str(site))
    assert (revision, ok) == (HEAD, "True")
