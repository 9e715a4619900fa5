#!/usr/bin/env python3
"""Check that every container image the manifests deploy is pinned by digest.

Usage (from the repository root)::

    python3 hack/check_immutable_images.py

Renders every directory of the apply order and fails on any container (init
and ephemeral containers included) whose image is not ``NAME@sha256:<64 hex>``,
and on any kustomization ``images:`` entry that sets a tag instead of a digest.
A tag may be moved to other content; a digest cannot.
"""

from __future__ import annotations

import re
from pathlib import Path

import k8slib

SCRIPT = "check_immutable_images"
DIGEST_IMAGE = re.compile(r"^[a-z0-9][a-z0-9._/:-]*@sha256:[0-9a-f]{64}$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def check_rendered(root: Path, directory: str) -> tuple[list[str], int]:
    """Check the images of one rendered directory; return problems and images seen."""
    problems = []
    seen = 0
    for obj in k8slib.render(root / directory):
        for pod_spec in k8slib.pod_specs(obj):
            for container in k8slib.containers(pod_spec):
                seen += 1
                image = container.get("image", "")
                if not DIGEST_IMAGE.match(image):
                    problems.append(
                        f"{directory}: {obj['kind']} {obj['metadata']['name']} container "
                        f"{container.get('name')} uses {image!r}, not NAME@sha256:<digest>"
                    )
    return problems, seen


def check_kustomizations(root: Path) -> list[str]:
    """Check that kustomization ``images:`` entries pin digests, never tags."""
    problems = []
    for path in sorted((root / "k8s").rglob("kustomization.yaml")):
        document = k8slib.load_yaml_file(path) or {}
        for entry in document.get("images") or []:
            where = f"{path.relative_to(root)}: image {entry.get('name')}"
            if "newTag" in entry:
                problems.append(f"{where} sets newTag {entry['newTag']!r}; pin a digest")
            if not DIGEST.match(str(entry.get("digest", ""))):
                problems.append(f"{where} has no sha256 digest")
    return problems


def main() -> int:
    """Check every applied directory and the kustomization image entries."""
    args = k8slib.base_parser(__doc__.splitlines()[0]).parse_args()
    problems: list[str] = []
    total = 0
    for directory in k8slib.CANONICAL_ORDER:
        found, seen = check_rendered(args.root, directory)
        problems += found
        total += seen
    problems += check_kustomizations(args.root)
    if total == 0:
        problems.append("no container images found in the rendered manifests")
    return k8slib.report(SCRIPT, problems, f"all {total} container images are pinned by digest")


if __name__ == "__main__":
    k8slib.run(SCRIPT, main)
