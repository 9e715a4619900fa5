#!/usr/bin/env python3
"""Run a local disaster-recovery drill and export its evidence with shipshape-journal.

Usage (from the repository root, with the project's virtualenv)::

    .venv/bin/python hack/local_dr_drill.py --out docs/operations-artifacts \
        [--journal /var/lib/shipshape/journal.db]

Scenario ``local-control-plane-loss``, on 127.0.0.1 only: a Kubernetes API
test server (``tests/kubeapi``) stands in for the cluster and one
``shipshape-controller`` for the StatefulSet's leader.

1. The manifests are applied in the canonical order, the controller starts
   and a change to ``helloworld-config-test`` restarts ``helloworld-test``.
2. The ConfigMaps are backed up (``scripts/backup-configmaps.sh backup``), the
   drill's start is marked (``shipshape-journal note --drill start``) and the
   controller's journal is backed up (``shipshape-journal backup``).
3. Disaster: the API server and everything it stored are gone, the controller
   is killed and its journal file deleted.
4. Recovery: a new, empty API server; the manifests applied again from Git;
   the ConfigMaps restored from their backup; the journal restored from its
   backup and verified; the controller started on it, which lists and
   observes every ConfigMap again.
5. The end is marked and ``shipshape-journal export dr-drill --out DIR``
   writes ``dr-drill-YYYYMMDD.md``, the journal snapshot and its manifest.

The exit status is export's: 0 for a COMPLETED drill, 1 for a FAILED one; 2
when a step of the drill itself did not happen (one line says which).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hack.k8slib import CANONICAL_ORDER  # noqa: E402 - needs the root on sys.path
from tests.kubeapi.process import ServerProcess  # noqa: E402 - needs the root on sys.path

NAMESPACE = "shipshape"
CONFIGMAPS = ("helloworld-config-test", "helloworld-config-prod")
POD_NAME = "helloworld-controller-0"
SCENARIO = "local-control-plane-loss"


class DrillError(Exception):
    """A step of the drill did not happen; the message says which."""


def step(message: str) -> None:
    """Narrate one step on stderr (stdout carries export's output)."""
    print(f"drill: {message}", file=sys.stderr, flush=True)


def tool(name: str) -> str:
    """Return a console script of this virtualenv, or one from PATH."""
    local = Path(sys.executable).with_name(name)
    found = str(local) if local.exists() else shutil.which(name)
    if not found:
        raise DrillError(f"{name} is not installed (run `make install`)")
    return found


def wait_for(condition: Callable[[], object], what: str, timeout: float = 30.0) -> object:
    """Poll until ``condition`` returns something truthy, or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise DrillError(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(0.2)


class Drill:
    """The processes and files of one drill, all under a work directory."""

    def __init__(self, workdir: Path, journal: Path | None = None) -> None:
        self.workdir = workdir
        self.journal = journal or workdir / "journal" / f"{POD_NAME}.db"
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            # This virtualenv's kubectl and console scripts first.
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "HOME": str(workdir),
            "KUBECACHEDIR": str(workdir / "kube-cache"),
            "JOURNAL_URL": str(self.journal),
        }
        self.controller: subprocess.Popen[bytes] | None = None

    # --- commands ------------------------------------------------------------

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a command in the drill's environment; fail the drill when it fails."""
        result = subprocess.run(
            args, cwd=ROOT, env=self.env, capture_output=True, text=True, check=False
        )
        if check and result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise DrillError(f"{' '.join(args[:3])} failed: {detail[-1] if detail else ''}")
        return result

    def kubectl(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run kubectl against the current API server."""
        return self.run(tool("kubectl"), *args)

    def journal_cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run shipshape-journal on the controller's journal."""
        return self.run(tool("shipshape-journal"), *args, check=check)

    def records(self, *kinds: str) -> list[dict]:
        """Return the journal's records of the given kinds (every record when none)."""
        if not self.journal.exists():
            return []
        filters = [arg for kind in kinds for arg in ("--kind", kind)]
        result = self.journal_cli(
            "tail", "--after-cursor", "0", *filters, "-o", "json", check=False
        )
        return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]

    # --- the cluster -----------------------------------------------------------

    @contextmanager
    def cluster(self, name: str) -> Iterator[ServerProcess]:
        """Run an API test server with the manifests applied; kill it on exit."""
        server = ServerProcess(self.workdir / name, ["--namespace", NAMESPACE]).start()
        try:
            self.env["KUBECONFIG"] = str(server.kubeconfig)
            for directory in CANONICAL_ORDER:
                self.kubectl("apply", "-k", directory)
            yield server
        finally:
            server.process.kill()
            server.process.wait(timeout=10)

    def start_controller(self) -> None:
        """Start the controller as the only actor and wait until it has listed."""
        env = {
            **self.env,
            "NAMESPACE": NAMESPACE,
            "POD_NAME": POD_NAME,
            "LEADER_ELECTION_ENABLED": "false",
            "DEBOUNCE_SECONDS": "1",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": "0",
            "LOG_LEVEL": "WARNING",
        }
        log = (self.workdir / "controller.log").open("ab")
        self.controller = subprocess.Popen(
            [tool("shipshape-controller")], cwd=self.workdir, env=env, stdout=log, stderr=log
        )

    def kill_controller(self) -> None:
        """Kill the controller the way a lost node does (no clean shutdown)."""
        if self.controller and self.controller.poll() is None:
            self.controller.send_signal(signal.SIGKILL)
            self.controller.wait(timeout=10)
        self.controller = None

    def observed_after(self, seq: int) -> set[str]:
        """Return the ConfigMaps the controller has observed after ``seq``."""
        return {
            r["object"].split("/", 1)[1]
            for r in self.records("configmap.observed")
            if r["seq"] > seq and r["object"]
        }


def drill(workdir: Path, out: Path, journal: Path | None = None) -> int:
    """Run the scenario; return export's exit status."""
    run = Drill(workdir, journal)
    backup = workdir / "configmaps-backup"
    journal_backup = workdir / "journal-backup.db"
    try:
        with run.cluster("cluster-before"):
            step("cluster up, manifests applied in the canonical order; starting the controller")
            run.start_controller()
            wait_for(
                lambda: set(CONFIGMAPS) <= run.observed_after(0), "the controller's initial list"
            )
            message = f"drill message {int(time.time())}"
            run.kubectl(
                "-n", NAMESPACE, "patch", "configmap", "helloworld-config-test", "--type",
                "merge", "-p", json.dumps({"data": {"MESSAGE": message}}),
            )  # fmt: skip
            wait_for(
                lambda: any(
                    r["object"] == "deployment/helloworld-test"
                    for r in run.records("restart.patched")
                ),
                "the restart of helloworld-test",
            )
            step("changed helloworld-config-test and saw helloworld-test restarted")
            run.run("scripts/backup-configmaps.sh", "backup", str(backup))
            run.journal_cli(
                "note", "local drill: the API server and its data are lost",
                "--drill", "start", "--scenario", SCENARIO,
            )  # fmt: skip
            run.journal_cli("backup", "--out", str(journal_backup))
            step("ConfigMaps and journal backed up, drill start marked; losing everything")
            run.kill_controller()
        run.journal.unlink()
        for suffix in ("-wal", "-shm"):
            Path(f"{run.journal}{suffix}").unlink(missing_ok=True)

        with run.cluster("cluster-after"):
            step("new empty API server, manifests applied from Git; restoring the ConfigMaps")
            run.run("scripts/backup-configmaps.sh", "restore", str(backup))
            shutil.copyfile(journal_backup, run.journal)
            run.journal_cli("verify")
            start = max(r["seq"] for r in run.records())
            step("journal restored from its backup and verified; starting the controller")
            run.start_controller()
            wait_for(
                lambda: set(CONFIGMAPS) <= run.observed_after(start),
                "the controller observing every ConfigMap again",
            )
            served = run.kubectl(
                "-n", NAMESPACE, "get", "configmap", "helloworld-config-test",
                "-o", "jsonpath={.data.MESSAGE}",
            ).stdout  # fmt: skip
            if served != message:
                raise DrillError(f"helloworld-config-test holds {served!r} after the restore")
            run.journal_cli("note", "local drill: service restored", "--drill", "end")
            step("drill end marked; exporting the evidence")
            run.kill_controller()
    finally:
        run.kill_controller()
    out.mkdir(parents=True, exist_ok=True)
    result = run.journal_cli("export", "dr-drill", "--out", str(out), check=False)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.returncode


def main() -> int:
    """Parse the options and run the drill in a scratch directory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="directory for the evidence")
    parser.add_argument(
        "--keep", type=Path, help="keep the drill's work directory here (must not exist)"
    )
    parser.add_argument(
        "--journal",
        type=Path,
        help="the controller's journal file (must not exist; default: in the work directory). "
        "The evidence names it: /var/lib/shipshape/journal.db is the path in the pods",
    )
    args = parser.parse_args()
    if args.keep and args.keep.exists():
        parser.error(f"--keep {args.keep}: already exists")
    if args.journal and args.journal.exists():
        parser.error(f"--journal {args.journal}: already exists")
    with tempfile.TemporaryDirectory(prefix="shipshape-drill-") as scratch:
        workdir = args.keep.resolve() if args.keep else Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        try:
            return drill(workdir, args.out.resolve(), args.journal and args.journal.absolute())
        except DrillError as exc:
            print(f"local_dr_drill: error: {exc}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    raise SystemExit(main())
