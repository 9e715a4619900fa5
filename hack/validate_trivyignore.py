#!/usr/bin/env python3
"""Check that every accepted vulnerability in .trivyignore is explained and expires.

Usage (from the repository root)::

    python3 hack/validate_trivyignore.py [--today YYYY-MM-DD] [--max-days 90]

Each entry is a ``# reason: ...`` and a ``# owner: ...`` comment followed by
``ID exp:YYYY-MM-DD`` (Trivy's expiry syntax). The check fails on an entry
without a reason or owner, without an expiry, already expired, expiring more
than ``--max-days`` ahead, with an unknown ID format, or listed twice. A file
with no entries passes; a missing file fails.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import k8slib

SCRIPT = "validate_trivyignore"
ENTRY = re.compile(r"^(?P<id>\S+)(?:\s+exp:(?P<exp>\S+))?\s*$")
IDENTIFIER = re.compile(
    r"^(CVE-\d{4}-\d{4,}|GHSA(-[23456789cfghjmpqrvwx]{4}){3}|AVD-[A-Z]+-\d{4}|[A-Z]+-\d{3,}-\d{4,})$"
)
META = re.compile(r"^#\s*(?P<key>reason|owner)\s*:\s*(?P<value>.*\S)?\s*$", re.IGNORECASE)


def check(path: Path, today: dt.date, max_days: int) -> tuple[list[str], int]:
    """Check the file and return its problems and its number of entries."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise k8slib.ValidationError(f"{path.name}: cannot read: {exc.strerror}") from None
    problems: list[str] = []
    meta: dict[str, str] = {}
    seen: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        where = f"{path.name}:{number}"
        if not line:
            meta = {}
            continue
        if line.startswith("#"):
            match = META.match(line)
            if match and match["value"]:
                meta[match["key"].lower()] = match["value"]
            continue
        entry = ENTRY.match(line)
        if entry is None:
            problems.append(f"{where}: {line!r} is not 'ID exp:YYYY-MM-DD'")
            meta = {}
            continue
        identifier = entry["id"]
        if not IDENTIFIER.match(identifier):
            problems.append(f"{where}: {identifier!r} is not a CVE, GHSA or Trivy check ID")
        if identifier in seen:
            problems.append(f"{where}: {identifier} is already listed on line {seen[identifier]}")
        seen.setdefault(identifier, number)
        for key in ("reason", "owner"):
            if key not in meta:
                problems.append(f"{where}: {identifier} has no '# {key}:' comment above it")
        problems += check_expiry(where, identifier, entry["exp"], today, max_days)
        meta = {}
    return problems, len(seen)


def check_expiry(
    where: str, identifier: str, expiry: str | None, today: dt.date, max_days: int
) -> list[str]:
    """Check that an entry expires, in the future, within the allowed horizon."""
    if expiry is None:
        return [f"{where}: {identifier} has no expiry (add exp:YYYY-MM-DD)"]
    try:
        date = dt.date.fromisoformat(expiry)
    except ValueError:
        return [f"{where}: {identifier} expiry {expiry!r} is not YYYY-MM-DD"]
    if date < today:
        return [f"{where}: {identifier} expired on {date}; re-assess it or remove it"]
    if (date - today).days > max_days:
        return [f"{where}: {identifier} expires {date}, more than {max_days} days ahead"]
    return []


def main() -> int:
    """Check the repository's .trivyignore."""
    parser = k8slib.base_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--today",
        type=dt.date.fromisoformat,
        default=dt.datetime.now(dt.UTC).date(),
        help="the date expiries are compared with (default: today, UTC)",
    )
    parser.add_argument("--max-days", type=int, default=90, help="longest allowed expiry")
    args = parser.parse_args()
    problems, entries = check(args.root / ".trivyignore", args.today, args.max_days)
    summary = f"{entries} accepted finding(s), each explained and expiring"
    return k8slib.report(SCRIPT, problems, summary)


if __name__ == "__main__":
    k8slib.run(SCRIPT, main)
