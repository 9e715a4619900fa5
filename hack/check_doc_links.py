#!/usr/bin/env python3
"""Check that documentation links and alert runbook links resolve inside the repository.

Usage (from the repository root)::

    python3 hack/check_doc_links.py

- Every relative Markdown link ``[text](path#anchor)`` in README.md,
  CHANGELOG.md and the Markdown under docs/ and examples/ must name an existing
  file, and its anchor an existing heading (GitHub's heading slugs) or an
  explicit ``<a id="...">``. External (http, https, mailto) links are not
  fetched.
- Every alert in k8s/monitoring/prometheusrule.yaml must carry a
  ``runbook_url`` annotation under the repository's documentation base
  (``--runbook-base``) that names an existing file and an existing heading
  whose slug is the alert name in lower case: one runbook section per alert.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import k8slib

SCRIPT = "check_doc_links"
RUNBOOK_BASE = "https://github.com/shipshape/shipshape/blob/main/"
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
EXPLICIT_ANCHOR = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"")
FENCE = re.compile(r"^\s*(```|~~~)")
EXTERNAL = ("http://", "https://", "mailto:")
RULES = "k8s/monitoring/prometheusrule.yaml"


def slug(heading: str) -> str:
    """Return GitHub's anchor slug for a heading text."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def prose_lines(text: str) -> Iterator[tuple[int, str]]:
    """Yield (number, line) for the lines of Markdown outside fenced code blocks."""
    fenced = False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


def anchors(path: Path, cache: dict[Path, set[str]]) -> set[str]:
    """Return the anchors a Markdown file defines."""
    if path not in cache:
        found: set[str] = set()
        counts: dict[str, int] = {}
        text = path.read_text(encoding="utf-8", errors="replace")
        for _, line in prose_lines(text):
            heading = HEADING.match(line)
            if heading:
                base = slug(heading.group(1))
                n = counts.get(base, 0)
                counts[base] = n + 1
                found.add(base if n == 0 else f"{base}-{n}")
            found.update(EXPLICIT_ANCHOR.findall(line))
        cache[path] = found
    return cache[path]


def markdown_files(root: Path) -> Iterator[Path]:
    """Yield the Markdown files whose links are checked."""
    for name in ("README.md", "CHANGELOG.md"):
        if (root / name).is_file():
            yield root / name
    for folder in ("docs", "examples"):
        if (root / folder).is_dir():
            yield from sorted((root / folder).rglob("*.md"))


def check_target(root: Path, source: Path, target: str, cache: dict[Path, set[str]]) -> str | None:
    """Return a problem with one relative link target, or None when it resolves."""
    path_part, _, anchor = target.partition("#")
    resolved = (source.parent / path_part).resolve() if path_part else source.resolve()
    try:
        resolved.relative_to(root.resolve())
    except ValueError:
        return f"{target} leaves the repository"
    if not resolved.exists():
        return f"{target}: no such file"
    if anchor:
        if resolved.suffix != ".md" or resolved.is_dir():
            return f"{target}: anchors are only checked in Markdown files"
        if anchor not in anchors(resolved, cache):
            shown = resolved.relative_to(root.resolve()).as_posix()
            return f"{target}: no heading or anchor #{anchor} in {shown}"
    return None


def check_markdown(root: Path, cache: dict[Path, set[str]]) -> tuple[list[str], int]:
    """Check every relative link in the documentation."""
    problems = []
    checked = 0
    for path in markdown_files(root):
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in prose_lines(text):
            for target in LINK.findall(line):
                if target.startswith(EXTERNAL):
                    continue
                checked += 1
                problem = check_target(root, path, target, cache)
                if problem:
                    problems.append(f"{path.relative_to(root).as_posix()}:{number}: {problem}")
    return problems, checked


def check_runbook_urls(root: Path, base: str, cache: dict[Path, set[str]]) -> tuple[list[str], int]:
    """Check the runbook_url of every alert in the PrometheusRule."""
    problems = []
    rule_file = k8slib.load_yaml_file(root / RULES) or {}
    alerts = [
        rule
        for group in (rule_file.get("spec") or {}).get("groups") or []
        for rule in group.get("rules") or []
        if "alert" in rule
    ]
    for rule in alerts:
        name = rule["alert"]
        url = (rule.get("annotations") or {}).get("runbook_url")
        where = f"{RULES}: alert {name}"
        if not url:
            problems.append(f"{where} has no runbook_url annotation")
            continue
        if not url.startswith(base):
            problems.append(f"{where} runbook_url {url} is not under {base}")
            continue
        target = url[len(base) :]
        if not target.partition("#")[2]:
            problems.append(f"{where} runbook_url {url} names no section (#anchor)")
            continue
        problem = check_target(root, root / "README.md", target, cache)
        if problem:
            problems.append(f"{where} runbook_url: {problem}")
        elif (anchor := target.partition("#")[2]) != name.lower():
            problems.append(f"{where} runbook_url points at #{anchor}, not #{name.lower()}")
    return problems, len(alerts)


def main() -> int:
    """Check documentation links and alert runbook links."""
    parser = k8slib.base_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--runbook-base", default=RUNBOOK_BASE, help="URL prefix that maps to the repository root"
    )
    args = parser.parse_args()
    root: Path = args.root
    cache: dict[Path, set[str]] = {}
    problems, links = check_markdown(root, cache)
    runbook_problems, alerts = check_runbook_urls(root, args.runbook_base, cache)
    problems += runbook_problems
    summary = f"{links} documentation link(s) and {alerts} alert runbook link(s) resolve"
    return k8slib.report(SCRIPT, problems, summary)


if __name__ == "__main__":
    k8slib.run(SCRIPT, main)
