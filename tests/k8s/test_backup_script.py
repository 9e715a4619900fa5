"""scripts/backup-configmaps.sh: lint and the checks it makes before touching a cluster.

The backup and restore round trip against the Kubernetes API test server is in
test_kubeapi.py.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from tests.k8s.conftest import REPO, require_tool

SCRIPT = REPO / "scripts" / "backup-configmaps.sh"


def run(*args: str, cwd: Path, env: dict[str, str] | None = None):
    return subprocess.run(
        [str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True, check=False, env=env
    )


def write_backup(folder: Path, namespace: str = "shipshape") -> Path:
    folder.mkdir()
    document = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "helloworld-config-test", "namespace": namespace},
        "data": {"MESSAGE": "hi"},
    }
    (folder / "helloworld-config-test.json").write_text(json.dumps(document, sort_keys=True))
    digests = [
        f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n"
        for path in sorted(folder.glob("*.json"))
    ]
    (folder / "SHA256SUMS").write_text("".join(digests))
    return folder


def test_script_is_shellcheck_clean() -> None:
    result = subprocess.run(
        [require_tool("shellcheck"), str(SCRIPT)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    for args in ((), ("restore",), ("frobnicate",), ("backup", "a", "b")):
        result = run(*args, cwd=tmp_path)
        assert result.returncode == 2, args
        assert result.stderr.startswith("usage:")


def test_restore_refuses_what_is_not_a_backup(tmp_path: Path) -> None:
    require_tool("jq")
    result = run("restore", "missing", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (
        1,
        "backup-configmaps: error: missing is not a directory\n",
    )
    (tmp_path / "empty").mkdir()
    result = run("restore", "empty", cwd=tmp_path)
    assert result.returncode == 1 and "has no SHA256SUMS" in result.stderr


def test_restore_refuses_an_edited_backup(tmp_path: Path) -> None:
    backup = write_backup(tmp_path / "b")
    path = backup / "helloworld-config-test.json"
    path.write_text(path.read_text().replace("hi", "ho"))
    result = run("restore", "b", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (
        1,
        "backup-configmaps: error: b/helloworld-config-test.json does not match its SHA256SUMS"
        " digest (corrupt or edited backup); nothing was restored\n",
    )


def test_restore_refuses_another_namespace(tmp_path: Path) -> None:
    write_backup(tmp_path / "b", namespace="other")
    result = run("restore", "b", cwd=tmp_path)
    assert result.returncode == 1
    assert "is not a ConfigMap of namespace shipshape" in result.stderr
