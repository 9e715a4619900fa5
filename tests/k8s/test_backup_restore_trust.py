"""scripts/backup-configmaps.sh restores only what SHA256SUMS vouches for.

Real kubectl against the shared Kubernetes API test server, each test in a
namespace of its own (the script's NAMESPACE). A restore must refuse, with one
line naming the file and before writing anything, a backup holding a file
SHA256SUMS does not list, a file whose digest differs, or a SHA256SUMS line
naming something that is not a file of the backup; and it leaves no temporary
files behind, also when interrupted.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.k8s.conftest import REPO, require_tool

SCRIPT = REPO / "scripts" / "backup-configmaps.sh"
NAMES = ("helloworld-config-prod", "helloworld-config-test")


@pytest.fixture
def seeded(kubectl, kubeapi_namespace):
    """The namespace with two ConfigMaps the script selects (app=helloworld)."""
    require_tool("jq")
    for name in NAMES:
        kubectl(
            "-n", kubeapi_namespace, "create", "configmap", name, "--from-literal=MESSAGE=saved"
        )  # fmt: skip
        kubectl("-n", kubeapi_namespace, "label", "configmap", name, "app=helloworld")
    return kubeapi_namespace


class Script:
    """Runs the script for one namespace, with a TMPDIR of its own to look into."""

    def __init__(self, kubectl, namespace: str, workdir: Path) -> None:
        self.kubectl = kubectl
        self.namespace = namespace
        self.cwd = workdir / "work"
        self.cwd.mkdir()
        self.tmpdir = workdir / "tmp"
        self.tmpdir.mkdir()
        self.env = {**kubectl.env, "NAMESPACE": namespace, "TMPDIR": str(self.tmpdir)}

    def __call__(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SCRIPT), *args], cwd=self.cwd, env={**self.env, **env},
            capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip

    def message(self, name: str) -> str:
        result = self.kubectl("-n", self.namespace, "get", "configmap", name, "-o", "json")
        return json.loads(result.stdout)["data"]["MESSAGE"]

    def exists(self, name: str) -> bool:
        result = self.kubectl("-n", self.namespace, "get", "configmap", name, check=False)
        return result.returncode == 0

    def change_live(self) -> None:
        """Give every live ConfigMap a message no backup holds."""
        for name in NAMES:
            self.kubectl("-n", self.namespace, "patch", "configmap", name, "--type", "merge",
                         "-p", '{"data": {"MESSAGE": "live"}}')  # fmt: skip

    def assert_nothing_applied(self) -> None:
        assert {name: self.message(name) for name in NAMES} == dict.fromkeys(NAMES, "live")
        assert not self.exists("extra")

    def leftovers(self) -> list[str]:
        return sorted(os.listdir(self.tmpdir)) + sorted(
            path.name for path in self.cwd.iterdir() if path.name.startswith(".")
        )


@pytest.fixture
def script(kubectl, seeded, tmp_path) -> Script:
    return Script(kubectl, seeded, tmp_path)


def backed_up(script: Script) -> Path:
    result = script("backup", "b")
    assert result.returncode == 0, result.stderr
    script.change_live()
    return script.cwd / "b"


def configmap_file(namespace: str, name: str, message: str) -> str:
    document = {
        "apiVersion": "v1", "kind": "ConfigMap", "data": {"MESSAGE": message},
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "helloworld"}},
    }  # fmt: skip
    return json.dumps(document, sort_keys=True)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def refused(result: subprocess.CompletedProcess[str], line: str) -> None:
    assert result.returncode == 1, result.stdout
    assert result.stderr == f"backup-configmaps: error: {line}\n"
    assert result.stdout == ""


def test_a_file_sha256sums_does_not_list_is_refused(script: Script) -> None:
    backup = backed_up(script)
    (backup / "extra.json").write_text(configmap_file(script.namespace, "extra", "planted"))
    refused(
        script("restore", "b"),
        "b/extra.json is not listed in SHA256SUMS (a file added to the backup)"
        "; nothing was restored",
    )
    script.assert_nothing_applied()


def test_an_unlisted_file_is_refused_even_when_it_is_not_json(script: Script) -> None:
    backup = backed_up(script)
    (backup / "notes.txt").write_text("kept by hand\n")
    refused(
        script("restore", "b"),
        "b/notes.txt is not listed in SHA256SUMS (a file added to the backup)"
        "; nothing was restored",
    )
    script.assert_nothing_applied()


def test_a_file_edited_after_the_backup_is_refused(script: Script) -> None:
    backup = backed_up(script)
    path = backup / "helloworld-config-test.json"
    path.write_text(path.read_text().replace("saved", "edited"))
    refused(
        script("restore", "b"),
        "b/helloworld-config-test.json does not match its SHA256SUMS digest "
        "(corrupt or edited backup); nothing was restored",
    )
    script.assert_nothing_applied()


def test_a_file_listed_with_another_digest_is_refused(script: Script) -> None:
    backup = backed_up(script)
    sums = backup / "SHA256SUMS"
    listed = digest(backup / "helloworld-config-prod.json")
    sums.write_text(sums.read_text().replace(listed, "0" * 64))
    refused(
        script("restore", "b"),
        "b/helloworld-config-prod.json does not match its SHA256SUMS digest "
        "(corrupt or edited backup); nothing was restored",
    )
    script.assert_nothing_applied()


def test_a_file_listed_but_missing_is_refused(script: Script) -> None:
    backup = backed_up(script)
    (backup / "helloworld-config-prod.json").unlink()
    refused(
        script("restore", "b"),
        "b/helloworld-config-prod.json is listed in SHA256SUMS but missing; nothing was restored",
    )
    script.assert_nothing_applied()


@pytest.mark.parametrize(
    "listed",
    ["../outside.json", "sub/extra.json", ".hidden.json", "-x.json", "extra.yaml", "EXTRA.json"],
)
def test_a_listed_name_that_is_not_a_configmap_file_of_the_backup_is_refused(
    script: Script, listed: str
) -> None:
    backup = backed_up(script)
    # The named file exists and its digest is right: only the name is wrong.
    target = backup / listed
    target.parent.mkdir(exist_ok=True)
    target.write_text(configmap_file(script.namespace, "extra", "planted"))
    with (backup / "SHA256SUMS").open("a") as sums:
        sums.write(f"{digest(target)}  {listed}\n")
    refused(
        script("restore", "b"),
        f"b/SHA256SUMS line 3 names {listed}, which is not a ConfigMap file of this backup"
        "; nothing was restored",
    )
    script.assert_nothing_applied()


def test_a_malformed_or_duplicated_sha256sums_line_is_refused(script: Script) -> None:
    backup = backed_up(script)
    sums = backup / "SHA256SUMS"
    original = sums.read_text()
    sums.write_text(original + "not a checksum line\n")
    refused(
        script("restore", "b"),
        "b/SHA256SUMS line 3 is not '<sha256>  NAME.json'; nothing was restored",
    )
    sums.write_text(original + original.splitlines(keepends=True)[0])
    refused(
        script("restore", "b"),
        "b/SHA256SUMS line 3 lists helloworld-config-prod.json again; nothing was restored",
    )
    sums.write_text("")
    refused(script("restore", "b"), "b/SHA256SUMS lists no ConfigMap file; nothing was restored")
    script.assert_nothing_applied()


def test_a_sound_backup_still_restores_and_leaves_no_temporary_files(script: Script) -> None:
    backed_up(script)
    result = script("restore", "b")
    assert result.returncode == 0, result.stderr
    assert {name: script.message(name) for name in NAMES} == dict.fromkeys(NAMES, "saved")
    assert script.leftovers() == []
    (script.cwd / "b" / "stray.json").write_text("{}")
    assert script("restore", "b").returncode == 1
    assert script.leftovers() == []


def slow_kubectl(script: Script, when: str) -> tuple[str, Path]:
    """A KUBECTL running the real kubectl, after a pause when its arguments contain ``when``."""
    mark = script.tmpdir.parent / "paused"
    wrapper = script.tmpdir.parent / "kubectl-slow"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *"{when}"*) : >"{mark}"; sleep 60 ;; esac\n'
        f'exec "{require_tool("kubectl")}" "$@"\n'
    )
    wrapper.chmod(0o755)
    return str(wrapper), mark


def interrupted(script: Script, sent: signal.Signals, when: str, *args: str) -> str:
    """Run the script with a slow kubectl, signal its process group in the pause; its stderr."""
    kubectl, mark = slow_kubectl(script, when)
    process = subprocess.Popen(
        [str(SCRIPT), *args], cwd=script.cwd, env={**script.env, "KUBECTL": kubectl},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not mark.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, f"kubectl was never called with {when}"
            time.sleep(0.05)
        # As Ctrl-C or a stopping job runner would: the whole process group.
        os.killpg(process.pid, sent)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 128 + sent, stderr
    return stderr


@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_an_interrupted_restore_applies_nothing_and_leaves_nothing(
    script: Script, sent: signal.Signals
) -> None:
    backed_up(script)
    interrupted(script, sent, "--dry-run=server", "restore", "b")
    assert script.leftovers() == []
    script.assert_nothing_applied()


@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_an_interrupted_backup_leaves_nothing(script: Script, sent: signal.Signals) -> None:
    interrupted(script, sent, "get configmaps", "backup", "out/b")
    assert script.leftovers() == []
    assert sorted(os.listdir(script.cwd / "out")) == []
