"""The production evidence in docs/operations-artifacts/: the gate fails on the
real tree for exactly the evidence only a cluster can give, and passes once a
copy of the same files is filled in the way the files themselves ask."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.release.conftest import REPO, run_script

ARTIFACTS = "docs/operations-artifacts"
EGRESS_PATCH = "examples/controller-egress/eks.patch.yaml"


def gate(root: Path, environment: str = "prod"):
    return run_script(
        REPO / "hack/validate_production_evidence.py",
        "--root",
        root,
        "--environment",
        environment,
    )


def failures(result) -> list[str]:
    assert "Traceback" not in result.stderr
    return [
        line.split(": FAIL: ", 1)[1] for line in result.stderr.splitlines() if ": FAIL: " in line
    ]


@pytest.fixture()
def copy(tmp_path: Path) -> Path:
    """A copy of what the gate reads: the artifacts and the patch files they name."""
    root = tmp_path / "repo"
    shutil.copytree(REPO / ARTIFACTS, root / ARTIFACTS)
    shutil.copytree(REPO / "examples", root / "examples")
    return root


def test_the_gate_fails_on_the_real_tree_for_the_right_reasons() -> None:
    result = gate(REPO)
    assert result.returncode == 1
    problems = failures(result)
    joined = "\n".join(problems)
    assert "required artifact is missing" not in joined, "every artifact file exists"
    assert "capacity-baselines.md: Capacity gate status is 'BLOCKED'" in joined
    assert "security-controls-validation.md: Security matrix result is 'PENDING'" in joined
    assert "controller-egress-handoff.md: Current status is 'PENDING'" in joined
    assert "controller-egress-handoff.md: no dated row for environment prod" in joined
    drills = sorted((REPO / ARTIFACTS).glob("dr-drill-*.md"))
    if drills:
        # A local rehearsal may be COMPLETED, but it is not evidence from a cluster.
        text = drills[-1].read_text()
        status = re.search(r"^Status:\s*(\S+)", text, re.MULTILINE)
        assert status, f"{drills[-1].name} has no Status line"
        local = re.search(r"^- Scenario:\s*local-", text, re.MULTILINE) is not None
        assert (drills[-1].name in joined) == (status.group(1) != "COMPLETED" or local)
        if local:
            assert f"{drills[-1].name}: scenario 'local-" in joined
    else:
        assert "dr-drill-YYYYMMDD.md: no DR drill report" in joined
    # Nothing else: every other problem is a placeholder the security matrix marks.
    others = [
        p
        for p in problems
        if not re.search(
            r"capacity-baselines|dr-drill|Security matrix result|"
            r"security-controls-validation.md:\d+: placeholder 'PENDING'|controller-egress",
            p,
        )
    ]
    assert not others, others


def fill(root: Path) -> None:
    """Fill the copy's evidence the way its files describe, with made-up cluster evidence."""
    folder = root / ARTIFACTS
    capacity = folder / "capacity-baselines.md"
    capacity.write_text(
        capacity.read_text().replace("Capacity gate status: BLOCKED", "Capacity gate status: PASS")
        + "| 2026-12-01 | prod-eu | ingress | digests | 180 | 120 ms | 300 ms | 0.1 % "
        "| 1 change | none | PASS |\n"
    )
    security = folder / "security-controls-validation.md"
    text = security.read_text().replace(
        "Security matrix result: PENDING", "Security matrix result: PASS"
    )
    security.write_text(text.replace("PENDING", "checked 2026-12-01 by a.smith"))
    handoff = folder / "controller-egress-handoff.md"
    text = handoff.read_text().replace("Current status: PENDING", "Current status: APPROVED")
    for environment in ("test", "prod"):
        text = text.replace(
            f"| {environment} | PENDING | PENDING | PENDING | PENDING | PENDING |",
            f"| {environment} | 2026-12-01 | 192.0.2.0/26, 192.0.2.64/26 | {EGRESS_PATCH} "
            "| PASS | a.smith |",
        )
    handoff.write_text(text)
    # A drill on a cluster, newer than the local rehearsal the repository holds.
    (folder / "dr-drill-20261201.md").write_text(
        "# DR drill 2026-12-01\n\nStatus: COMPLETED\n\n## Drill\n\n"
        "- Scenario: prod-eu-etcd-restore\n\nRTO 9m 12s (target 15m).\n"
    )


@pytest.mark.parametrize("environment", ["prod", "test"])
def test_a_filled_copy_passes(copy: Path, environment: str) -> None:
    fill(copy)
    result = gate(copy, environment)
    assert result.returncode == 0, result.stderr
    assert f"production evidence for {environment} is complete" in result.stdout


@pytest.mark.parametrize(
    ("artifact", "undo", "message"),
    [
        ("capacity-baselines.md", ("status: PASS", "status: BLOCKED"), "Capacity gate status"),
        (
            "security-controls-validation.md",
            ("checked 2026-12-01 by a.smith |\n| API audit", "PENDING |\n| API audit"),
            "placeholder 'PENDING'",
        ),
        (
            "controller-egress-handoff.md",
            ("| prod | 2026-12-01 | 192.0.2.0/26", "| prod | 2026-12-01 | 127.255.255.255/32"),
            "placeholder CIDR 127.255.255.255/32",
        ),
    ],
)
def test_one_gap_left_in_a_filled_copy_fails_it(
    copy: Path, artifact: str, undo: tuple[str, str], message: str
) -> None:
    fill(copy)
    path = copy / ARTIFACTS / artifact
    text = path.read_text()
    assert text.count(undo[0]) == 1, undo[0]
    path.write_text(text.replace(*undo))
    result = gate(copy)
    assert result.returncode == 1
    [problem] = failures(result)
    assert message in problem
