#!/usr/bin/env python3
"""Check that every runbook, script and workflow applies the manifests in one order.

Usage (from the repository root)::

    python3 hack/validate_deployment_order.py

The canonical order is ``k8s/namespace``, ``k8s/istio-ingress``,
``k8s/overlays/test``, ``k8s/overlays/prod``, ``k8s/monitoring``,
``k8s/controller``. The check fails when

- a directory of that order is missing or has no kustomization.yaml, or a
  kustomization under k8s/ is neither in the order nor a known base or
  variant (a variant, such as ``k8s/controller-cluster``, stands in for its
  step of the order);
- a run of ``kubectl apply -k`` lines, or a list of bare ``k8s/...`` paths, in
  any Markdown file, shell script or workflow goes out of order, skips a step
  in the middle, repeats one, or applies a base (``k8s/base``, ``k8s/istio``)
  on its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import k8slib

SCRIPT = "validate_deployment_order"
APPLY = re.compile(r"kubectl\s+apply\s+(?:[^\n]*\s)?-k\s+(?:\./)?(k8s/[\w./-]+?)/?(?:\s|$)")
BARE = re.compile(r"^\s*(?:[-*]\s+|\d+\.\s+)?`?(?:\./)?(k8s/[\w./-]+?)/?`?\s*$")
SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__", ".pytest_cache", ".ruff_cache"}


def scanned_files(root: Path) -> Iterator[Path]:
    """Yield the Markdown files, shell scripts and CI workflows of the repository."""
    for path in sorted(root.rglob("*")):
        if any(part in SKIP_DIRS for part in path.relative_to(root).parts):
            continue
        if not path.is_file():
            continue
        relative = path.relative_to(root).as_posix()
        workflow = relative.startswith(".github/workflows/") and path.suffix in {".yml", ".yaml"}
        if path.suffix in {".md", ".sh"} or relative == ".ci/run" or workflow:
            yield path


def runs(text: str) -> Iterator[tuple[int, str, list[str]]]:
    """Yield (first line, kind, directories) for each run of apply or bare-path lines.

    Blank lines and comment lines do not break a run; any other line does.
    """
    current: list[str] = []
    kind = ""
    start = 0

    def flush() -> Iterator[tuple[int, str, list[str]]]:
        if current:
            yield start, kind, list(current)

    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        apply_match = APPLY.search(line)
        bare_match = BARE.match(line)
        line_kind = "apply" if apply_match else "list" if bare_match else ""
        if not line_kind:
            if stripped and not stripped.startswith("#"):
                yield from flush()
                current = []
            continue
        if line_kind != kind and current:
            yield from flush()
            current = []
        if not current:
            start, kind = number, line_kind
        current.append((apply_match or bare_match).group(1))
    yield from flush()


def check_run(where: str, kind: str, directories: list[str]) -> list[str]:
    """Check one run against the canonical order."""
    order = k8slib.CANONICAL_ORDER
    # A bare list names an apply order only when all its entries are steps.
    if kind == "list" and (len(directories) < 2 or any(d not in order for d in directories)):
        return []
    problems = []
    # A variant stands for its step (k8s/controller-cluster for k8s/controller).
    directories = [k8slib.VARIANTS.get(d, d) for d in directories]
    for directory in directories:
        if directory in k8slib.BASES:
            problems.append(f"{where}: applies {directory}, a base only applied through overlays")
        elif directory not in order:
            problems.append(f"{where}: applies {directory}, which is not in the canonical order")
    steps = [order.index(d) for d in directories if d in order]
    if len(steps) > 1:
        expected = list(range(steps[0], steps[0] + len(steps)))
        if steps != expected:
            wanted = " -> ".join(order[steps[0] : steps[0] + len(steps)])
            problems.append(
                f"{where}: order {' -> '.join(directories)} drifts from the canonical {wanted}"
            )
    return problems


def check_layout(root: Path) -> list[str]:
    """Check that the ordered directories exist and nothing else is applied."""
    problems = []
    for directory in k8slib.CANONICAL_ORDER + k8slib.BASES:
        if not (root / directory / "kustomization.yaml").is_file():
            problems.append(f"{directory}: missing kustomization.yaml")
    for directory in k8slib.VARIANTS:
        if not (root / directory / "kustomization.yaml").is_file():
            problems.append(f"{directory}: missing kustomization.yaml")
    known = set(k8slib.CANONICAL_ORDER) | set(k8slib.BASES) | set(k8slib.VARIANTS)
    for path in sorted((root / "k8s").rglob("kustomization.yaml")):
        directory = path.parent.relative_to(root).as_posix()
        if directory not in known:
            problems.append(f"{directory}: a kustomization outside the canonical order")
    return problems


def main() -> int:
    """Check the layout and every apply sequence found in the repository."""
    args = k8slib.base_parser(__doc__.splitlines()[0]).parse_args()
    root: Path = args.root
    problems = check_layout(root)
    sequences = 0
    for path in scanned_files(root):
        text = path.read_text(encoding="utf-8", errors="replace")
        for line, kind, directories in runs(text):
            sequences += 1
            where = f"{path.relative_to(root).as_posix()}:{line}"
            problems += check_run(where, kind, directories)
    return k8slib.report(
        SCRIPT,
        problems,
        f"{sequences} apply sequence(s) follow {' -> '.join(k8slib.CANONICAL_ORDER)}",
    )


if __name__ == "__main__":
    k8slib.run(SCRIPT, main)
