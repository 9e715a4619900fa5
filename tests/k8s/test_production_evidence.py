"""validate_production_evidence.py on fixture artifact trees."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.k8s.conftest import edit, run_hack

CAPACITY = """# Capacity baselines

**Capacity gate status:** PASS

| date | cluster | result |
|---|---|---|
| 2026-10-01 | staging-eu | BLOCKED (p99 over 500 ms) |
| 2026-11-20 | prod-eu | PASS |
"""
DRILL_OLD = "# DR drill 2026-08-01\n\nStatus: FAILED\n"
DRILL_NEW = (
    "# DR drill 2026-11-09\n\nStatus: COMPLETED\n\n## Drill\n\n"
    "- Scenario: prod-eu-etcd-restore\n\nRTO 6m 10s against 15m.\n"
)
SECURITY = """# Security controls validation

Security matrix result: APPROVED

| control | evidence | date |
|---|---|---|
| encryption at rest | KMS key rotation verified | 2026-11-18 |
| audit log sink | ConfigMap edits visible in the sink | 2026-11-18 |
"""
EKS = "examples/controller-egress/eks.patch.yaml"
GKE = "examples/controller-egress/gke.patch.yaml"
HANDOFF_ROWS = (
    f"| prod | 2026-10-02 | 192.0.2.0/26 | {EKS} | FAILED | j.doe |\n"
    f"| prod | 2026-11-21 | 192.0.2.0/26, 192.0.2.64/26 | {EKS} | PASS | a.smith |\n"
    f"| test | 2026-11-20 | 198.51.100.0/28 | {GKE} | PASSED | a.smith |\n"
)
HANDOFF = (
    """# Controller egress handoff

- Current status: APPROVED

| Environment | Date | API CIDRs | Patch file | Smoke result | Reviewer |
|---|---|---|---|---|---|
"""
    + HANDOFF_ROWS
)


@pytest.fixture()
def evidence(tree: Path) -> Path:
    # The fixture artifacts replace the repository's own (tests/docs checks those).
    folder = tree / "docs/operations-artifacts"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / "capacity-baselines.md").write_text(CAPACITY)
    (folder / "dr-drill-20260801.md").write_text(DRILL_OLD)
    (folder / "dr-drill-20261109.md").write_text(DRILL_NEW)
    (folder / "security-controls-validation.md").write_text(SECURITY)
    (folder / "controller-egress-handoff.md").write_text(HANDOFF)
    return folder


def gate(tree: Path, env: str = "prod"):
    return run_hack(tree, "validate_production_evidence.py", "--environment", env)


def failures(result) -> list[str]:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return [line for line in result.stderr.splitlines() if ": FAIL: " in line]


@pytest.mark.parametrize("env", ["prod", "test"])
def test_complete_evidence_passes(evidence: Path, env: str) -> None:
    result = gate(evidence.parents[1], env)
    assert result.returncode == 0, result.stderr
    assert f"production evidence for {env} is complete" in result.stdout


SEC = "security-controls-validation.md"
HAND = "controller-egress-handoff.md"
LATEST = "| 2026-11-21 | 192.0.2.0/26, 192.0.2.64/26 | examples/controller-egress/eks.patch.yaml"
GAPS = [
    ("capacity-baselines.md", "status:** PASS", "status:** BLOCKED", "gate status is 'BLOCKED'"),
    ("dr-drill-20261109.md", "Status: COMPLETED", "Status: PENDING", "Status is 'PENDING'"),
    (
        "dr-drill-20261109.md",
        "Scenario: prod-eu-etcd-restore",
        "Scenario: local-control-plane-loss",
        "'local-control-plane-loss' is a local rehearsal",
    ),
    (SEC, "result: APPROVED", "result: PENDING", "matrix result is 'PENDING'"),
    (SEC, "KMS key rotation verified", "<evidence link>", "placeholder '<evidence link>'"),
    (SEC, "| 2026-11-18 |\n| audit", "| YYYY-MM-DD |\n| audit", "placeholder 'YYYY-MM-DD'"),
    (HAND, "status: APPROVED", "status: PENDING", "Current status is 'PENDING'"),
    (HAND, "| PASS | a.smith", "| BLOCKED | a.smith", "smoke result is 'BLOCKED'"),
    (HAND, "| PASS | a.smith", "| PASS |  ", "no reviewer sign-off"),
    (HAND, "| PASS | a.smith", "| PASS | TBD", "still holds a placeholder: 'TBD'"),
    (
        HAND,
        LATEST,
        LATEST.replace("192.0.2.0/26, 192.0.2.64/26", "127.255.255.255/32"),
        "placeholder CIDR 127.255.255.255/32",
    ),
    (
        HAND,
        "64/26 | examples/controller-egress/eks",
        "64/26 | examples/controller-egress/eu",
        "does not exist",
    ),
]


@pytest.mark.parametrize(("artifact", "old", "new", "message"), GAPS)
def test_each_gap_fails_the_gate(evidence: Path, artifact, old, new, message) -> None:
    edit(evidence / artifact, old, new)
    problems = failures(gate(evidence.parents[1]))
    assert len(problems) == 1, problems
    assert message in problems[0]


def test_the_latest_drill_counts(evidence: Path) -> None:
    (evidence / "dr-drill-20261125.md").write_text("Status: FAILED\n")
    [problem] = failures(gate(evidence.parents[1]))
    assert "dr-drill-20261125.md: Status is 'FAILED'" in problem


def test_a_test_row_does_not_approve_prod(evidence: Path) -> None:
    text = (evidence / "controller-egress-handoff.md").read_text()
    (evidence / "controller-egress-handoff.md").write_text(
        "\n".join(line for line in text.splitlines() if not line.startswith("| prod"))
    )
    [problem] = failures(gate(evidence.parents[1], "prod"))
    assert "no dated row for environment prod" in problem
    assert gate(evidence.parents[1], "test").returncode == 0


def test_missing_artifacts_are_each_named(tree: Path) -> None:
    shutil.rmtree(tree / "docs/operations-artifacts")
    problems = failures(gate(tree))
    assert len(problems) == 4
    for name in ("capacity-baselines.md", "dr-drill-YYYYMMDD.md", "security-controls", "handoff"):
        assert any(name in p for p in problems), name


def test_environment_is_required(evidence: Path) -> None:
    result = run_hack(evidence.parents[1], "validate_production_evidence.py")
    assert result.returncode == 2
    assert "--environment" in result.stderr
