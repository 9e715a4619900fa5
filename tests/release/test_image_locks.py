"""The images' hash-locked dependencies (``requirements/image*.txt``, ``make lock``).

The Dockerfiles install these files with ``pip --require-hashes --no-deps`` and
then the project with ``--no-deps --no-build-isolation``, so the files alone
decide what an image holds. These tests keep them exact (every pin ``==`` with
hashes), inside ``pyproject.toml``'s ranges, in agreement with each other, and
complete and minimal: a real pip installs the otel lock into a fresh virtualenv
exactly as the build stage does, and the dependency closure read from the
installed metadata must be each lock's package set.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import packaging
import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.release.conftest import REPO

LOCKS = {"image.txt": (), "image-otel.txt": ("otel",)}
HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")
#: Only needed to build the project; the Dockerfiles remove it afterwards.
BUILD_ONLY = {"setuptools"}


@dataclass(frozen=True)
class Pin:
    """One locked requirement: exact version, platform marker and file hashes."""

    name: str
    version: str
    marker: str | None
    hashes: frozenset[str]


def read_lock(name: str) -> dict[str, Pin]:
    """Parse a pip requirements file written by ``uv pip compile --generate-hashes``."""
    text = (REPO / "requirements" / name).read_text()
    entries = re.sub(r"\\\n", " ", text).splitlines()
    pins: dict[str, Pin] = {}
    for entry in entries:
        line = entry.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        spec, _, _ = line.partition(" --hash=")
        requirement = Requirement(spec)
        [specifier] = list(requirement.specifier) or [None]
        assert specifier is not None and specifier.operator == "==", f"{name}: {spec} not pinned"
        key = canonicalize_name(requirement.name)
        assert key not in pins, f"{name}: {key} locked twice"
        pins[key] = Pin(
            key,
            specifier.version,
            str(requirement.marker) if requirement.marker else None,
            frozenset(HASH.findall(line)),
        )
    return pins


def project_requirements(extras: tuple[str, ...]) -> list[Requirement]:
    """The runtime requirements of ``pyproject.toml`` with ``extras``, and its build backend."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    found = [Requirement(r) for r in project["project"]["dependencies"]]
    for extra in extras:
        found += [Requirement(r) for r in project["project"]["optional-dependencies"][extra]]
    found += [Requirement(r) for r in project["build-system"]["requires"]]
    build_in = (REPO / "requirements" / "build.in").read_text().splitlines()
    found += [Requirement(r) for r in build_in if r.strip() and not r.startswith("#")]
    return found


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_pin_is_exact_and_hashed(lock: str) -> None:
    pins = read_lock(lock)
    assert len(pins) > 20, f"{lock} holds only {sorted(pins)}"
    unhashed = sorted(pin.name for pin in pins.values() if not pin.hashes)
    assert not unhashed, f"{lock}: no --hash for {unhashed}; run `make lock`"


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_pins_satisfy_the_projects_ranges(lock: str) -> None:
    pins = read_lock(lock)
    for requirement in project_requirements(LOCKS[lock]):
        pin = pins.get(canonicalize_name(requirement.name))
        assert pin is not None, f"{lock} lacks {requirement.name}; run `make lock`"
        assert requirement.specifier.contains(pin.version, prereleases=True), (
            f"{lock} pins {pin.name}=={pin.version} outside {requirement}; run `make lock`"
        )


def test_the_two_locks_agree() -> None:
    base, otel = read_lock("image.txt"), read_lock("image-otel.txt")
    missing = sorted(set(base) - set(otel))
    assert not missing, f"image-otel.txt lacks {missing}"
    differ = sorted(name for name in base if base[name] != otel[name])
    assert not differ, f"the locks pin {differ} differently; run `make lock`"


def test_the_dockerfiles_install_only_from_the_locks() -> None:
    for dockerfile in ("webapp/Dockerfile", "reloader/Dockerfile"):
        text = (REPO / dockerfile).read_text().replace("\\\n", " ")
        installs = [line for line in text.splitlines() if "pip install" in line]
        assert installs, dockerfile
        for line in installs:
            for command in line.split("&&"):
                if "pip install" not in command:
                    continue
                assert "--no-deps" in command, f"{dockerfile}: {command.strip()} resolves"
                if "-r " in command:
                    assert "--require-hashes" in command, f"{dockerfile}: {command.strip()}"
                    assert "requirements/image" in command, f"{dockerfile}: {command.strip()}"
                else:
                    assert "--no-build-isolation" in command, (
                        f"{dockerfile}: {command.strip()} fetches an unlocked build backend"
                    )


CLOSURE = """
import json, sys
from importlib.metadata import distribution
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

def closure(extras):
    seen, todo = set(), [("shipshape", frozenset(extras))]
    while todo:
        name, wanted = todo.pop()
        for text in distribution(name).requires or []:
            req = Requirement(text)
            if req.marker and not any(
                req.marker.evaluate({"extra": e}) for e in (wanted or {""})
            ):
                continue
            key = canonicalize_name(req.name)
            if key not in seen:
                seen.add(key)
                todo.append((key, frozenset(req.extras)))
    return sorted(seen)
print(json.dumps({"base": closure(()), "otel": closure(["otel"])}))
"""


@pytest.mark.timeout(600)
def test_a_real_pip_installs_the_lock_as_the_image_build_does(tmp_path: Path) -> None:
    venv = tmp_path / "image"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = str(venv / "bin" / "python")
    pip = [sys.executable, "-m", "pip", "--python", python, "--disable-pip-version-check"]

    def run(*args: str) -> str:
        done = subprocess.run(
            [*pip, *args], cwd=REPO, capture_output=True, text=True, check=False, timeout=540
        )
        assert done.returncode == 0, f"pip {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    lock = REPO / "requirements" / "image-otel.txt"
    run("install", "--quiet", "--no-compile", "--require-hashes", "--no-deps", "-r", str(lock))
    run("install", "--quiet", "--no-compile", "--no-deps", "--no-build-isolation", str(REPO))
    run("uninstall", "--quiet", "--yes", *sorted(BUILD_ONLY))
    run("check")
    # packaging is not in the image: lend it this interpreter's copy (the
    # package alone, no metadata, so it is not counted as installed).
    lent = tmp_path / "lent"
    shutil.copytree(Path(packaging.__file__).parent, lent / "packaging")
    done = subprocess.run(
        [python, "-c", CLOSURE],
        env={"PYTHONPATH": str(lent), "PYTHONNOUSERSITE": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(done.stdout)
    for lock_name, key in (("image.txt", "base"), ("image-otel.txt", "otel")):
        pins = read_lock(lock_name).values()
        # A universal lock may hold pins for other platforms; this is the image's.
        locked = {p.name for p in pins if not p.marker or Marker(p.marker).evaluate()}
        locked -= BUILD_ONLY
        needed = set(found[key])
        assert needed <= locked, f"{lock_name} lacks {sorted(needed - locked)}; run `make lock`"
        assert locked <= needed, f"{lock_name} holds unused {sorted(locked - needed)}"
    # The console scripts' modules import with nothing but the locked packages.
    for module in ("webapp.main", "reloader.runtime.main", "cli.main", "telemetry.tracing"):
        subprocess.run([python, "-c", f"import {module}"], check=True, cwd=tmp_path, timeout=60)
