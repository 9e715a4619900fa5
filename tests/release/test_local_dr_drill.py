"""python -m hack.local_dr_drill: a real local drill, exported by the CLI, is COMPLETED."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.release.conftest import run_script


def test_the_local_drill_completes_and_proves_rto_and_rpo(tmp_path: Path) -> None:
    out = tmp_path / "evidence"
    result = run_script("-m", "hack.local_dr_drill", "--out", out)
    assert result.returncode == 0, result.stderr
    [report] = out.glob("dr-drill-*.md")
    text = report.read_text()
    assert re.search(r"^Status: COMPLETED$", text, re.MULTILINE)
    assert "Scenario: local-control-plane-loss" in text
    # RPO: both ConfigMaps seen again, unchanged, after the restore.
    for configmap in ("helloworld-config-test", "helloworld-config-prod"):
        assert re.search(
            rf"^\| {configmap} \| (\w+) \(seq \d+\) \| \1 \(seq \d+\) \| ok \|$", text, re.MULTILINE
        ), configmap
    manifest = json.loads(next(out.glob("dr-drill-*.manifest.json")).read_text())
    assert manifest["status"] == "COMPLETED"
    assert manifest["rto"]["met"] and manifest["rpo"]["met"]
    assert next(out.glob("dr-drill-*.journal.db")).stat().st_size > 0
    narrated = [line for line in result.stderr.splitlines() if line.startswith("drill: ")]
    assert len(narrated) == 6, result.stderr
