"""Shared helpers for the pre-deploy validators in ``hack/``.

The validators run with a plain ``python3`` from the repository root (the
standard library plus PyYAML, which the ``kubernetes`` client already needs).
They render manifests with ``kustomize build`` when a standalone kustomize is on
PATH, else with ``kubectl kustomize``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

try:
    import yaml
except ImportError:  # pragma: no cover - depends on the interpreter used
    sys.stderr.write("error: PyYAML is required (pip install pyyaml, or use the project's .venv)\n")
    raise SystemExit(2) from None

#: The apply order of the runbook: every runbook, release artifact and script
#: that applies the manifests must follow it (validate_deployment_order.py).
CANONICAL_ORDER: tuple[str, ...] = (
    "k8s/namespace",
    "k8s/istio-ingress",
    "k8s/overlays/test",
    "k8s/overlays/prod",
    "k8s/monitoring",
    "k8s/controller",
)

#: Kustomize bases that are never applied on their own.
BASES: tuple[str, ...] = ("k8s/base", "k8s/istio")

#: Variants applied in place of a step of the canonical order (never beside it):
#: the controller with cluster scope, without and with Secrets, and the
#: controller for a list of namespaces.
VARIANTS: dict[str, str] = {
    "k8s/controller-cluster": "k8s/controller",
    "k8s/controller-cluster-secrets": "k8s/controller",
    "k8s/controller-namespaces": "k8s/controller",
    "k8s/controller-namespaces-secrets": "k8s/controller",
}

NAMESPACE = "shipshape"
ENVIRONMENTS: tuple[str, ...] = ("test", "prod")
#: The deny-by-default placeholder for the controller's API egress.
API_EGRESS_PLACEHOLDER = "127.255.255.255/32"

Manifest = dict[str, Any]


class ValidationError(Exception):
    """A problem the validator reports as one line and a non-zero exit."""


def default_root() -> Path:
    """Return the repository this copy of ``hack/`` belongs to."""
    return Path(__file__).resolve().parent.parent


def base_parser(description: str) -> argparse.ArgumentParser:
    """Return an argument parser with the ``--root`` option every validator takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--root",
        type=Path,
        default=default_root(),
        help="repository root (default: the repository holding this script)",
    )
    return parser


def kustomize_command(directory: Path) -> list[str]:
    """Return the command that renders ``directory``."""
    if shutil.which("kustomize"):
        return ["kustomize", "build", str(directory)]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize", str(directory)]
    raise ValidationError("neither kustomize nor kubectl is on PATH; one is needed to render")


def render(directory: Path) -> list[Manifest]:
    """Render a kustomization directory and return its objects.

    Raises:
        ValidationError: the directory is missing or kustomize rejects it.
    """
    if not (directory / "kustomization.yaml").is_file():
        raise ValidationError(f"{directory}: no kustomization.yaml")
    result = subprocess.run(
        kustomize_command(directory), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        detail = result.stderr.strip().splitlines()
        raise ValidationError(
            f"{directory}: kustomize failed: {detail[-1] if detail else 'no output'}"
        )
    return parse_documents(result.stdout, str(directory))


def parse_documents(text: str, origin: str) -> list[Manifest]:
    """Parse a multi-document YAML stream, dropping empty documents."""
    try:
        return [doc for doc in yaml.safe_load_all(text) if doc]
    except yaml.YAMLError as exc:
        raise ValidationError(f"{origin}: not valid YAML: {exc}") from None


def load_yaml_file(path: Path) -> Any:
    """Load one YAML document from ``path``."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValidationError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ValidationError(f"{path}: not valid YAML: {exc}") from None


def find(objects: Iterable[Manifest], kind: str, name: str | None = None) -> list[Manifest]:
    """Return the objects of ``kind`` (and ``name``, when given)."""
    return [
        obj
        for obj in objects
        if obj.get("kind") == kind and (name is None or obj["metadata"].get("name") == name)
    ]


def one(objects: Iterable[Manifest], kind: str, name: str, where: str) -> Manifest:
    """Return the single object of ``kind``/``name`` or raise naming what is missing."""
    found = find(objects, kind, name)
    if len(found) != 1:
        raise ValidationError(f"{where}: expected one {kind} {name}, found {len(found)}")
    return found[0]


def pod_specs(obj: Manifest) -> Iterator[Manifest]:
    """Yield the pod specs an object carries (workloads, CronJobs, bare Pods)."""
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind == "Pod":
        yield spec
    elif kind == "CronJob":
        yield spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec", {})
    elif kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}:
        yield spec.get("template", {}).get("spec", {})


def containers(pod_spec: Manifest) -> Iterator[Manifest]:
    """Yield every container of a pod spec, init and ephemeral ones included."""
    for field in ("initContainers", "containers", "ephemeralContainers"):
        yield from pod_spec.get(field) or []


def report(script: str, problems: list[str], ok_message: str) -> int:
    """Print the outcome and return the process exit code."""
    if problems:
        for problem in problems:
            sys.stderr.write(f"{script}: FAIL: {problem}\n")
        sys.stderr.write(f"{script}: {len(problems)} problem(s) found\n")
        return 1
    print(f"{script}: OK: {ok_message}")
    return 0


def run(script: str, main_fn: Callable[[], int]) -> None:
    """Run a validator's main, turning ``ValidationError`` into one line and exit 1."""
    try:
        code = main_fn()
    except ValidationError as exc:
        sys.stderr.write(f"{script}: FAIL: {exc}\n")
        code = 1
    raise SystemExit(code)
