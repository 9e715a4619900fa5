#!/usr/bin/env python3
"""Strict gate: the operational evidence for a release must be complete and approved.

Usage (from the repository root)::

    python3 hack/validate_production_evidence.py --environment prod

Reads docs/operations-artifacts/ (formats in docs/manifests.md):

- ``capacity-baselines.md``: ``Capacity gate status: S``;
- the latest ``dr-drill-YYYYMMDD.md``: ``Status: COMPLETED``, from a cluster: a
  local rehearsal (scenario named ``local-...``, as ``python -m hack.local_dr_drill``
  records it) proves the procedure, not the production recovery;
- ``security-controls-validation.md``: ``Security matrix result: S`` and no
  placeholder anywhere (PENDING, BLOCKED, TBD, TODO, <angle placeholders>,
  YYYY-MM-DD);
- ``controller-egress-handoff.md``: ``Current status: S`` and, in its table, the
  latest row for the environment: a real date, the API CIDRs (not the
  placeholder), an existing patch file, a reviewer and ``Smoke result: S``;

where S is one of APPROVED, PASS, PASSED, READY, COMPLETED. Any other value
(PENDING, BLOCKED, FAILED, a placeholder) fails the gate.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from pathlib import Path

import k8slib

SCRIPT = "validate_production_evidence"
ARTIFACTS = Path("docs/operations-artifacts")
ACCEPTED = {"APPROVED", "PASS", "PASSED", "READY", "COMPLETED"}
DRILL = re.compile(r"^dr-drill-(\d{8})\.md$")
LOCAL_SCENARIO = re.compile(r"^- Scenario:\s*(local-\S*)", re.MULTILINE)
PLACEHOLDER = re.compile(
    r"\b(PENDING|BLOCKED|TBD|TODO|FIXME|CHANGEME|REPLACE[_ ]?ME|YYYY-?MM-?DD|YYYYMMDD)\b"
    r"|<[A-Za-z][A-Za-z0-9 _./-]*>",
    re.IGNORECASE,
)
REQUIRED_COLUMNS = ("environment", "date", "cidr", "patch", "smoke", "reviewer")


def read(root: Path, name: str) -> str:
    """Return an artifact's text, or raise naming the missing artifact."""
    path = root / ARTIFACTS / name
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        raise k8slib.ValidationError(f"{ARTIFACTS / name}: required artifact is missing") from None


def field(text: str, label: str) -> str | None:
    """Return the value of the first ``Label: VALUE`` line (Markdown emphasis allowed)."""
    pattern = re.compile(
        rf"^[ \t]*(?:[-*][ \t]+)?(?:\*\*|__)?{re.escape(label)}(?:\*\*|__)?[ \t]*:"
        rf"[ \t]*(?:\*\*|__)?[ \t]*`?([^`*\n]*?)`?(?:\*\*|__)?[ \t]*$",
        re.IGNORECASE | re.MULTILINE,
    )
    match = pattern.search(text)
    return match.group(1).strip() if match else None


def check_status(where: str, text: str, label: str, accepted: set[str]) -> list[str]:
    """Check a ``Label: STATUS`` line against the accepted statuses."""
    value = field(text, label)
    if value is None:
        return [f"{where}: no '{label}:' line"]
    if value.upper() not in accepted:
        return [f"{where}: {label} is {value!r}, needs one of {', '.join(sorted(accepted))}"]
    return []


def latest_drill(root: Path) -> Path:
    """Return the DR drill report with the latest date in its name."""
    folder = root / ARTIFACTS
    drills = sorted(
        (match.group(1), path)
        for path in (folder.iterdir() if folder.is_dir() else [])
        if (match := DRILL.match(path.name))
    )
    if not drills:
        raise k8slib.ValidationError(f"{ARTIFACTS}/dr-drill-YYYYMMDD.md: no DR drill report")
    return drills[-1][1]


def table_rows(text: str) -> tuple[list[str], list[list[str]]]:
    """Return the header and rows of the first Markdown table naming every required column."""
    lines = [line.strip() for line in text.splitlines()]
    for index, line in enumerate(lines):
        if not line.startswith("|"):
            continue
        header = [cell.strip().lower() for cell in line.strip("|").split("|")]
        if all(any(column in cell for cell in header) for column in REQUIRED_COLUMNS):
            rows = []
            for row in lines[index + 2 :]:
                if not row.startswith("|"):
                    break
                rows.append([cell.strip() for cell in row.strip("|").split("|")])
            return header, rows
    return [], []


def check_handoff(root: Path, environment: str) -> list[str]:
    """Check the controller egress handoff for the target environment."""
    where = f"{ARTIFACTS}/controller-egress-handoff.md"
    text = read(root, "controller-egress-handoff.md")
    problems = check_status(where, text, "Current status", ACCEPTED)
    header, rows = table_rows(text)
    if not header:
        return [*problems, f"{where}: no table with columns {', '.join(REQUIRED_COLUMNS)}"]

    def column(row: list[str], name: str) -> str:
        index = next(i for i, cell in enumerate(header) if name in cell)
        return row[index].strip("` ") if index < len(row) else ""

    dated = []
    for row in rows:
        if column(row, "environment").lower() != environment:
            continue
        try:
            dated.append((dt.date.fromisoformat(column(row, "date")), row))
        except ValueError:
            problems.append(
                f"{where}: {environment} row dated {column(row, 'date')!r}, not YYYY-MM-DD"
            )
    if not dated:
        return [*problems, f"{where}: no dated row for environment {environment}"]
    date, row = max(dated, key=lambda item: item[0])
    cells = {name: column(row, name) for name in REQUIRED_COLUMNS}
    return problems + check_handoff_row(
        root, f"{where}: latest {environment} row ({date})", row, cells
    )


def check_handoff_row(root: Path, where: str, row: list[str], cells: dict[str, str]) -> list[str]:
    """Check one handoff row: sign-off, smoke result, patch file and CIDRs."""
    # The smoke result is judged on its own below; every other cell must be filled in.
    problems = [
        f"{where} still holds a placeholder: {cell!r}"
        for cell in row
        if cell != cells["smoke"] and PLACEHOLDER.search(cell)
    ]
    if cells["smoke"].upper() not in ACCEPTED:
        problems.append(
            f"{where}: smoke result is {cells['smoke']!r}, needs one of {sorted(ACCEPTED)}"
        )
    if cells["reviewer"] in {"", "-", "—"}:
        problems.append(f"{where}: no reviewer sign-off")
    patch = cells["patch"]
    if not patch or not (root / patch).is_file():
        problems.append(f"{where}: patch file {patch!r} does not exist in the repository")
    cidrs = [c.strip("` ") for c in re.split(r"[,;\s]+", cells["cidr"]) if c.strip("` ")]
    if not cidrs:
        problems.append(f"{where}: no API CIDRs recorded")
    for cidr in cidrs:
        try:
            ipaddress.ip_network(cidr, strict=True)
        except ValueError:
            problems.append(f"{where}: {cidr!r} is not a CIDR")
            continue
        if cidr == k8slib.API_EGRESS_PLACEHOLDER:
            problems.append(f"{where}: records the placeholder CIDR {cidr}")
    return problems


def check_capacity(root: Path) -> list[str]:
    """Check the capacity baseline gate."""
    where = f"{ARTIFACTS}/capacity-baselines.md"
    return check_status(
        where, read(root, "capacity-baselines.md"), "Capacity gate status", ACCEPTED
    )


def check_drill(root: Path) -> list[str]:
    """Check the latest DR drill report."""
    path = latest_drill(root)
    text = path.read_text(encoding="utf-8")
    where = f"{ARTIFACTS}/{path.name}"
    problems = check_status(where, text, "Status", {"COMPLETED"})
    local = LOCAL_SCENARIO.search(text)
    if local:
        problems.append(
            f"{where}: scenario {local.group(1)!r} is a local rehearsal, not a drill on a cluster"
        )
    return problems


def check_security(root: Path) -> list[str]:
    """Check the security controls matrix, which must hold no placeholder at all."""
    where = f"{ARTIFACTS}/security-controls-validation.md"
    text = read(root, "security-controls-validation.md")
    problems = check_status(where, text, "Security matrix result", ACCEPTED)
    for number, line in enumerate(text.splitlines(), start=1):
        match = PLACEHOLDER.search(line)
        if match and field(line, "Security matrix result") is None:
            problems.append(f"{where}:{number}: placeholder {match.group(0)!r} left")
    return problems


def main() -> int:
    """Check every required artifact for the target environment."""
    parser = k8slib.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--environment", required=True, choices=k8slib.ENVIRONMENTS)
    args = parser.parse_args()
    root: Path = args.root
    checks = (
        lambda: check_capacity(root),
        lambda: check_drill(root),
        lambda: check_security(root),
        lambda: check_handoff(root, args.environment),
    )
    problems: list[str] = []
    for check in checks:
        try:
            problems += check()
        except k8slib.ValidationError as exc:
            problems.append(str(exc))
    return k8slib.report(
        SCRIPT, problems, f"production evidence for {args.environment} is complete and approved"
    )


if __name__ == "__main__":
    k8slib.run(SCRIPT, main)
