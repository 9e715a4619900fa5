"""``export dr-drill`` evidence of an older journal says which schema the journal had."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from journal import Journal
from journal.schema import HEAD, REVISIONS
from journal.snapshot import file_sha256
from tests.journal.builders import Controller

ROOT = Path(__file__).resolve().parents[2]
OLDER = REVISIONS[-2]


def _journal(path: Path) -> Path:
    with Journal.open(path, actor="helloworld-controller-0") as writer:
        controller = Controller(writer)
        controller.started(0)
        controller.acquired(1, epoch=1)
        controller.observed(2, "helloworld-config-test", "v1", event="ADDED")
        controller.note(100, "restore", drill="start")
        controller.observed(150, "helloworld-config-test", "v1", event="ADDED")
        controller.note(200, "restored", drill="end")
    return path


def test_the_manifest_names_the_older_schema_the_snapshot_was_upgraded_from(run, tmp_path):
    """The snapshot is at head; the journal it stands for was not, and the manifest says so."""
    current = _journal(tmp_path / "current.db")
    older = tmp_path / "older.db"
    older.write_bytes(current.read_bytes())
    migrated = subprocess.run(
        [str(Path(sys.executable).parent / "alembic"), "-x", f"journal={older}",
         "downgrade", OLDER],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert migrated.returncode == 0, migrated.stderr
    before = file_sha256(older)
    manifests = {}
    for name, path in (("current", current), ("older", older)):
        outcome = run("export", "dr-drill", "--out", tmp_path / name, "--journal", path)
        assert outcome.code == 0, outcome.err
        manifests[name] = json.loads(
            (tmp_path / name / "dr-drill-20261126.manifest.json").read_text()
        )
    (entry,) = manifests["older"]["journals"]
    assert (entry["schema_revision"], entry["source_schema_revision"]) == (HEAD, OLDER)
    assert "source_schema_revision" not in manifests["current"]["journals"][0]
    assert run(
        "db", "current", "--journal", tmp_path / "older" / entry["snapshot"]["file"]
    ).out == (f"{HEAD} (head)\n")
    assert file_sha256(older) == before
