#!/usr/bin/env python3
"""Check that the release version agrees everywhere it is written.

Usage (from the repository root)::

    python3 hack/validate_release_metadata.py [--tag vX.Y.Z]

The newest released section of CHANGELOG.md (``## [X.Y.Z] - YYYY-MM-DD``; an
``[Unreleased]`` section above it is allowed), ``version`` in pyproject.toml and
``VERSION`` in telemetry/buildinfo.py must be the same version; with ``--tag``
the release tag must be ``v`` plus that version.
"""

from __future__ import annotations

import ast
import datetime as dt
import re
import tomllib
from pathlib import Path

import k8slib

SCRIPT = "validate_release_metadata"
SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
HEADING = re.compile(r"^##\s+\[(?P<version>[^\]]+)\](?:\s+-\s+(?P<date>\S+))?\s*$")


def changelog_version(path: Path) -> tuple[str, str | None]:
    """Return the newest released version in the changelog and its date."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise k8slib.ValidationError(f"{path.name}: cannot read: {exc.strerror}") from None
    for line in lines:
        match = HEADING.match(line)
        if match and match["version"].lower() != "unreleased":
            return match["version"], match["date"]
    raise k8slib.ValidationError(
        f"{path.name}: no released version heading like '## [X.Y.Z] - YYYY-MM-DD'"
    )


def pyproject_version(path: Path) -> str:
    """Return ``project.version`` from pyproject.toml."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise k8slib.ValidationError(f"{path.name}: cannot read: {exc}") from None
    version = data.get("project", {}).get("version")
    if not isinstance(version, str):
        raise k8slib.ValidationError(f"{path.name}: no static project.version")
    return version


def runtime_version(path: Path) -> str:
    """Return the ``VERSION`` constant of telemetry/buildinfo.py without importing it."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError) as exc:
        raise k8slib.ValidationError(f"{path}: cannot read: {exc}") from None
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            if isinstance(target, ast.Name) and target.id == "VERSION":
                value = node.value
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    return value.value
                raise k8slib.ValidationError(f"{path}: VERSION is not a string literal")
    raise k8slib.ValidationError(f"{path}: no VERSION constant")


def main() -> int:
    """Compare the changelog, pyproject and runtime versions (and the tag)."""
    parser = k8slib.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--tag", help="release tag to check, e.g. v1.2.3")
    args = parser.parse_args()
    root: Path = args.root

    changelog, date = changelog_version(root / "CHANGELOG.md")
    versions = {
        "CHANGELOG.md": changelog,
        "pyproject.toml": pyproject_version(root / "pyproject.toml"),
        "telemetry/buildinfo.py": runtime_version(root / "telemetry" / "buildinfo.py"),
    }
    problems = []
    if not SEMVER.match(changelog):
        problems.append(f"CHANGELOG.md: newest version {changelog!r} is not semantic (X.Y.Z)")
    if date is None:
        problems.append(f"CHANGELOG.md: [{changelog}] has no date (## [X.Y.Z] - YYYY-MM-DD)")
    else:
        try:
            dt.date.fromisoformat(date)
        except ValueError:
            problems.append(f"CHANGELOG.md: [{changelog}] date {date!r} is not YYYY-MM-DD")
    if len(set(versions.values())) != 1:
        found = ", ".join(f"{where}={version}" for where, version in versions.items())
        problems.append(f"versions disagree: {found}")
    if args.tag is not None and args.tag != f"v{changelog}":
        problems.append(f"tag {args.tag!r} does not match version {changelog} (want v{changelog})")
    return k8slib.report(SCRIPT, problems, f"version {changelog} is consistent")


if __name__ == "__main__":
    k8slib.run(SCRIPT, main)
