"""Run a local disaster-recovery drill and export its evidence with shipshape-journal.

Usage (from the repository root, with the project's virtualenv)::

    .venv/bin/python -m hack.local_dr_drill --out docs/operations-artifacts \
        [--journal /var/lib/shipshape/journal.db]

(a module, like ``python -m hack.demo``: it imports the toolkit ``tests.kubeapi``
from the repository root, without path tricks).

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
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hack.k8slib import CANONICAL_ORDER
from tests.kubeapi.cluster import Cluster, CommandFailed, Controller, ProcessExited
from tests.kubeapi.process import program, wait_for

NAMESPACE = "shipshape"
CONFIGMAPS = ("helloworld-config-test", "helloworld-config-prod")
POD_NAME = "helloworld-controller-0"
SCENARIO = "local-control-plane-loss"
#: The controller as the only actor: no election, a short debounce.
CONTROLLER_ENV = {"LEADER_ELECTION_ENABLED": "false", "DEBOUNCE_SECONDS": "1"}
TIMEOUT = 30.0


class DrillError(Exception):
    """A step of the drill did not happen; the message says which."""


def step(message: str) -> None:
    """Narrate one step on stderr (stdout carries export's output)."""
    print(f"drill: {message}", file=sys.stderr, flush=True)


class Drill:
    """The clusters, the controller and the files of one drill, all under a work directory.

    The clusters and the controller come from the toolkit's one harness
    (``tests/kubeapi/cluster.py``); the controller acts as the ServiceAccount
    ``helloworld-controller`` with the shipped Role.
    """

    def __init__(self, workdir: Path, journal: Path | None = None) -> None:
        self.workdir = workdir
        self.journal = journal or workdir / "journal" / f"{POD_NAME}.db"
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        self.env = {"HOME": str(workdir), "JOURNAL_URL": str(self.journal)}
        #: Runs the tools between the clusters (and after them): no KUBECONFIG there.
        self.offline = Cluster(workdir, namespace=NAMESPACE, env=self.env)
        self.current: Cluster | None = None
        self.controller: Controller | None = None

    # --- commands ------------------------------------------------------------

    @property
    def _cluster(self) -> Cluster:
        if self.current is None:
            raise DrillError("no cluster is up")
        return self.current

    def run(self, *args: str) -> str:
        """Run a command against the current cluster; fail the drill when it fails."""
        return self._cluster.run(*args)

    def kubectl(self, *args: str) -> str:
        """Run kubectl against the current API server."""
        return self._cluster.kubectl(*args)

    def journal_cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run shipshape-journal on the controller's journal."""
        result = (self.current or self.offline).run_result(program("shipshape-journal"), *args)
        if check and result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise DrillError(f"shipshape-journal {args[0]} failed: {detail[-1] if detail else ''}")
        return result

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
    def cluster(self, name: str) -> Iterator[Cluster]:
        """Run an API test server with the manifests applied; kill it (and all) on exit."""
        cluster = Cluster(self.workdir / name, namespace=NAMESPACE, env=self.env).start()
        self.current = cluster
        try:
            cluster.apply(*CANONICAL_ORDER)
            yield cluster
        finally:
            self.kill_controller()
            cluster.lose_server()
            cluster.stop()
            self.current = None

    def start_controller(self) -> None:
        """Start the controller as the only actor (its listing is waited on by the caller)."""
        self.controller = self._cluster.controller(
            POD_NAME, journal=self.journal, env=CONTROLLER_ENV
        ).start(ready=False)

    def kill_controller(self) -> None:
        """Kill the controller the way a lost node does (no clean shutdown)."""
        if self.controller is not None:
            self.controller.kill()
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
                lambda: set(CONFIGMAPS) <= run.observed_after(0),
                "the controller's initial list",
                TIMEOUT,
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
                TIMEOUT,
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
                TIMEOUT,
            )
            served = run.kubectl(
                "-n", NAMESPACE, "get", "configmap", "helloworld-config-test",
                "-o", "jsonpath={.data.MESSAGE}",
            )  # fmt: skip
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
    parser = argparse.ArgumentParser(
        prog="python -m hack.local_dr_drill", description=__doc__.splitlines()[0]
    )
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
        except (DrillError, CommandFailed, ProcessExited, TimeoutError, FileNotFoundError) as exc:
            print(f"local_dr_drill: error: {exc}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    raise SystemExit(main())
