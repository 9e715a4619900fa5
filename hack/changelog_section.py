#!/usr/bin/env python3
"""Print one released version's section of CHANGELOG.md: the GitHub Release notes.

Usage (from the repository root)::

    python3 hack/changelog_section.py 0.1.0 > release-notes.md

Prints the body of ``## [0.1.0] - YYYY-MM-DD`` (without the heading) up to the
next ``## `` heading. Fails when the version has no dated section or the
section is empty: a release without notes is a release nobody can review.
"""

from __future__ import annotations

import re
from pathlib import Path

import k8slib

SCRIPT = "changelog_section"
HEADING = re.compile(r"^##\s+\[(?P<version>[^\]]+)\](?:\s+-\s+(?P<date>\S+))?\s*$")


def section(text: str, version: str) -> str:
    """Return the body of the version's section, stripped of surrounding blank lines."""
    lines = text.splitlines()
    start = None
    for index, line in enumerate(lines):
        match = HEADING.match(line)
        if start is None:
            if match and match["version"] == version:
                if not match["date"]:
                    raise k8slib.ValidationError(f"CHANGELOG.md: [{version}] has no release date")
                start = index + 1
        elif line.startswith("## "):
            return "\n".join(lines[start:index]).strip()
    if start is None:
        raise k8slib.ValidationError(f"CHANGELOG.md: no section for version {version}")
    return "\n".join(lines[start:]).strip()


def main() -> int:
    """Print the section, or fail naming what is missing."""
    parser = k8slib.base_parser(__doc__.splitlines()[0])
    parser.add_argument("version", help="the released version, without the leading v")
    args = parser.parse_args()
    path: Path = args.root / "CHANGELOG.md"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise k8slib.ValidationError(f"CHANGELOG.md: cannot read: {exc.strerror}") from None
    body = section(text, args.version.removeprefix("v"))
    if not body:
        raise k8slib.ValidationError(f"CHANGELOG.md: the [{args.version}] section is empty")
    print(body)
    return 0


if __name__ == "__main__":
    k8slib.run(SCRIPT, main)
