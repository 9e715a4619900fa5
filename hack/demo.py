"""``make demo``: the whole Shipshape loop on 127.0.0.1, narrated, in under a minute.

Usage, from the repository root with the project's virtualenv (``make demo``)::

    python -m hack.demo [--out DIR] [--keep DIR]

Each step is one function below, run in order:

1. the Kubernetes API test server (``tests/kubeapi``) starts;
2. ``kubectl apply -k`` applies the manifests in the canonical order, the
   controller's ServiceAccount and Role among them;
3. a stand-in kubelet (``tests/kubeapi/kubelet.py``) runs ``shipshape-web`` for
   the ``helloworld-test`` and ``helloworld-prod`` Deployments;
4. two ``shipshape-controller`` replicas start, one journal and one API client
   each, acting as the ServiceAccount ``helloworld-controller`` (judged by the
   shipped Role, as on a cluster); one takes the Lease, the other stands by;
5. ``kubectl patch`` changes ``helloworld-config-test``: the leader restarts
   ``helloworld-test``, the kubelet replaces its pod, and ``/`` serves the new
   message;
6. a DR drill: the leader is killed (SIGKILL, its Lease not released), the
   standby takes over (``/leadz``), the killed replica is started again on its
   journal as its StatefulSet would, and both drill marks are journaled;
7. the new leader restarts ``helloworld-prod`` for a change of its ConfigMap;
8. both replicas stop in order (SIGTERM);
9. ``shipshape-journal replay --strict --check`` over both journals, and
   ``verify`` of each;
10. ``shipshape-journal export dr-drill`` writes the drill's evidence to
    ``--out`` (default: a new temporary directory, named at the end).

Exit status: 0 when every step happened; 1 when one did not (one line names
the step and what is missing); 128 + the signal's number after Ctrl-C or
SIGTERM. In every case every process the demo started is stopped first: each
runs in its own process group, stopped as a group in ``finally``.

The processes are started by the toolkit's one harness
(``tests/kubeapi/cluster.py``); this module holds the steps and their narration.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from hack.k8slib import CANONICAL_ORDER
from tests.kubeapi.cluster import Cluster, CommandFailed, Controller, ProcessExited, http_get
from tests.kubeapi.kubelet import Kubelet, Pod
from tests.kubeapi.process import wait_for

NAMESPACE = "shipshape"
REPLICAS = ("helloworld-controller-0", "helloworld-controller-1")
DRILL_SCENARIO = "leader-pod-loss"
#: The controllers' settings, beyond identity, client and journal: a short
#: debounce and Lease so that a change and a failover each take seconds.
CONTROLLER_ENV = {
    "DEBOUNCE_SECONDS": "1",
    "LEADER_ELECTION_ENABLED": "true",
    "LEADER_ELECTION_LEASE_DURATION_SECONDS": "4",
    "LEADER_ELECTION_RENEW_DEADLINE_SECONDS": "3",
    "LEADER_ELECTION_RETRY_PERIOD_SECONDS": "1",
    "SHUTDOWN_TIMEOUT_SECONDS": "5",
}


class StepFailed(Exception):
    """A step did not happen; the message says what is missing."""


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived; unwinds the steps like KeyboardInterrupt."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Demo:
    """The demo's processes and files, and one method per step."""

    def __init__(
        self, workdir: Path, out: Path | None, say: Callable[[str], None], *, kept: bool = False
    ) -> None:
        self.workdir = workdir
        #: Where the drill's evidence goes; None: a new temporary directory, made when needed.
        self.out = out
        self.say = say
        #: Whether the work directory outlives the demo (``--keep``).
        self.kept = kept
        #: The one harness: the server, the kubelet and the replicas, in process groups.
        self.cluster = Cluster(workdir, namespace=NAMESPACE)
        self.kubelet: Kubelet | None = None
        #: The replicas, each with its own API client acting as the ServiceAccount.
        self.replicas: list[Controller] = []
        self.leader: Controller | None = None
        self.standby: Controller | None = None
        #: The replica killed in the drill and started again: its journal holds both marks.
        self.drilled: Controller | None = None

    # ----------------------------------------------------------------- steps

    def start_api_server(self) -> None:
        """Start the Kubernetes API test server in a process group of its own."""
        try:
            self.cluster.start()
        except RuntimeError as error:
            raise StepFailed(str(error).splitlines()[0]) from error
        self.replicas = [self.cluster.controller(name, env=CONTROLLER_ENV) for name in REPLICAS]
        self.say(f"Kubernetes API test server at {self.cluster.url} (python -m tests.kubeapi)")

    def apply_manifests(self) -> None:
        """Apply every kustomization in the canonical order with the real kubectl."""
        try:
            applied = self.cluster.apply(*CANONICAL_ORDER)
        except CommandFailed as error:
            raise StepFailed(str(error)) from error
        core = [
            f"namespace/{NAMESPACE}",
            *(f"configmap/helloworld-config-{env}" for env in ("test", "prod")),
            *(f"deployment/helloworld-{env}" for env in ("test", "prod")),
        ]
        self.kubectl("-n", NAMESPACE, "get", *core, "-o", "name")
        self.say(
            f"kubectl apply -k {' '.join(CANONICAL_ORDER)}: {applied} objects, among them "
            + ", ".join(core)
        )

    def start_kubelet(self) -> None:
        """Start the stand-in kubelet and wait for a ready pod of each Deployment."""
        self.kubelet = self.cluster.kubelet()
        for env in ("test", "prod"):
            pod = self.wait_pod(f"helloworld-{env}", lambda pod: True, 20.0)
            self.say(f"helloworld-{env}: shipshape-web at {pod.url} says {self.greeting(pod)!r}")

    def start_controllers(self) -> None:
        """Start both replicas; wait for one leader, one standby, and both Deployments adopted."""
        for replica in self.replicas:
            self.start_replica(replica)
        self.leader = wait_for(
            lambda: next(
                (r for r in self.replicas if (self.leadz(r) or {}).get("is_leader")), None
            ),
            "a replica taking the Lease",
            15.0,
        )
        self.standby = next(r for r in self.replicas if r is not self.leader)
        wait_for(
            lambda: (self.leadz(self.standby) or {}).get("leader") == self.leader.name,
            f"{self.standby.name} seeing {self.leader.name} lead",
            10.0,
        )
        wait_for(self.leader.ready, f"{self.leader.name} /readyz 200", 10.0)
        for env in ("test", "prod"):
            wait_for(
                lambda env=env: self.deployment_annotation(f"helloworld-{env}"),
                f"the adoption of helloworld-{env}",
                10.0,
            )
        leadz = self.leader.leadz()
        self.say(
            f"{self.leader.name} leads (epoch {leadz['epoch']}), {self.standby.name} stands by; "
            "both Deployments adopted (config hash annotated, no rollout)"
        )

    def change_test_message(self) -> None:
        """Patch the test ConfigMap; see the leader restart helloworld-test and / change."""
        self.change_message("test", self.leader)

    def fail_over(self) -> None:
        """A drill: kill the leader; the standby takes over; the killed pod comes back."""
        lost, survivor = self.leader, self.standby
        self.journal_cli(
            "note", f"demo drill: {lost.name} is lost", "--drill", "start",
            "--scenario", DRILL_SCENARIO, "--journal", str(lost.journal_path),
        )  # fmt: skip
        self.drilled = lost
        start_seq = max(r.seq for r in lost.records({"operator.note"}))
        lost.kill()
        killed = time.monotonic()
        self.say(f"drill start journaled; killed {lost.name} with SIGKILL (Lease not released)")
        leadz = wait_for(
            lambda: (self.leadz(survivor) or {}).get("is_leader") and survivor.leadz(),
            f"{survivor.name} taking over the Lease",
            20.0,
        )
        wait_for(survivor.ready, f"{survivor.name} /readyz 200", 10.0)
        self.say(
            f"{survivor.name} took over after {time.monotonic() - killed:.1f} s: "
            f"/leadz {json.dumps(leadz)}"
        )
        self.start_replica(lost)
        wait_for(
            lambda: (self.leadz(lost) or {}).get("leader") == survivor.name,
            f"the restarted {lost.name} standing by",
            10.0,
        )
        observed = {"configmap/helloworld-config-test", "configmap/helloworld-config-prod"}
        wait_for(
            lambda: observed <= {r.object for r in lost.records({"configmap.observed"}, start_seq)},
            f"the restarted {lost.name} listing both ConfigMaps again",
            10.0,
        )
        self.journal_cli(
            "note", f"demo drill: {lost.name} is back as standby", "--drill", "end",
            "--journal", str(lost.journal_path),
        )  # fmt: skip
        self.leader, self.standby = survivor, lost
        self.say(
            f"{lost.name} restarted on its journal as its StatefulSet would: it stands by and "
            "listed both ConfigMaps again; drill end journaled"
        )

    def change_prod_message(self) -> None:
        """Patch the prod ConfigMap; see the new leader restart helloworld-prod."""
        self.change_message("prod", self.leader)

    def stop_controllers(self) -> None:
        """Stop both replicas with SIGTERM, standby first; each must exit 0."""
        codes = {}
        for replica in (self.standby, self.leader):
            codes[replica.name] = replica.stop(timeout=15.0)
        if any(codes.values()):
            raise StepFailed(f"the replicas exited with {codes}")
        self.say(f"stopped {', '.join(codes)} with SIGTERM: both exited 0, the Lease released")

    def replay_and_verify(self) -> None:
        """Replay both journals merged (anomalies and decision check), then verify each."""
        journals = [arg for r in self.replicas for arg in ("--journal", str(r.journal_path))]
        self.say(
            "shipshape-journal replay --strict --check, both journals merged (its 'Restart SLO' "
            "and 'leaderless gap' figures are the thresholds it judges by, not measurements):"
        )
        self.show(self.journal_cli("replay", "--strict", "--check", *journals))
        for replica in self.replicas:
            self.say(f"shipshape-journal verify ({replica.name}):")
            self.show(self.journal_cli("verify", "--journal", str(replica.journal_path)))

    def export_drill(self) -> None:
        """Export the drill's evidence from the journal holding both marks."""
        if self.out is None:
            self.out = Path(tempfile.mkdtemp(prefix="shipshape-demo-evidence-"))
        self.out.mkdir(parents=True, exist_ok=True)
        output = self.journal_cli(
            "export",
            "dr-drill",
            "--out",
            str(self.out),
            "--journal",
            str(self.drilled.journal_path),
        )
        self.show(output)
        report = next(
            (
                line.split(":", 1)[1].strip()
                for line in output.splitlines()
                if line.startswith("report:")
            ),
            None,
        )
        if "Status: COMPLETED" not in output or report is None:
            raise StepFailed(f"export dr-drill wrote no COMPLETED report: {output.strip()}")
        self.say(f"DR-drill evidence (Status: COMPLETED): {report}")

    # --------------------------------------------------------------- helpers

    def start_replica(self, replica: Controller) -> None:
        """Start (or restart) one replica and wait for its HTTP port."""
        replica.start(ready=False)
        replica.wait_started(15.0)

    @staticmethod
    def leadz(replica: Controller) -> dict[str, Any] | None:
        """Return a replica's ``/leadz`` answer (None when it does not answer).

        Raises:
            ProcessExited: The replica has exited (the step fails).
        """
        status, body = replica.get_json("/leadz")
        return body if status == 200 else None

    def change_message(self, env: str, leader: Controller) -> None:
        """Patch ``helloworld-config-ENV``; wait for the restart, the new pod and its answer."""
        deployment = f"helloworld-{env}"
        before = self.wait_pod(deployment, lambda pod: True, 5.0)
        message = f"Hello from the Shipshape demo ({env}, {time.strftime('%H:%M:%S')})"
        patch = json.dumps({"data": {"MESSAGE": message}})
        self.kubectl(
            "-n", NAMESPACE, "patch", "configmap", f"helloworld-config-{env}",
            "--type", "merge", "-p", patch,
        )  # fmt: skip
        self.say(f"kubectl patch configmap helloworld-config-{env} --type merge -p '{patch}'")
        pod = self.wait_pod(deployment, lambda pod: pod.number > before.number, 15.0)
        revision = self.cluster.api.revisions(deployment, NAMESPACE)[-1]
        if revision["actor"] != leader.name:
            raise StepFailed(f"{deployment} was rolled by {revision['actor']}, not {leader.name}")
        wait_for(
            lambda: any(
                r.object == f"deployment/{deployment}"
                for r in leader.records({"rollout.completed"})
            ),
            f"{leader.name} journaling the end of the rollout of {deployment}",
            10.0,
        )
        served = self.greeting(pod)
        if served != message:
            raise StepFailed(f"{deployment} serves {served!r}, not {message!r}")
        self.say(
            f"{leader.name} restarted {deployment} (revision {revision['number']}); the kubelet "
            f"replaced its pod: GET {pod.url}/ -> {served!r}"
        )

    def wait_pod(self, deployment: str, condition: Callable[[Pod], bool], timeout: float) -> Pod:
        """Wait for a ready pod of ``deployment`` meeting ``condition``; surface kubelet errors."""

        def found() -> Pod | None:
            errors = self.kubelet.errors()
            if errors:
                raise StepFailed(f"kubelet: {errors[-1]}")
            pod = self.kubelet.pod(deployment)
            return pod if pod is not None and condition(pod) else None

        try:
            return wait_for(found, f"a new pod of {deployment}", timeout)
        except TimeoutError as error:
            watch_errors = self.kubelet.watch_errors()
            if watch_errors:
                raise StepFailed(f"{error} (kubelet watch: {watch_errors[-1]})") from error
            raise

    @staticmethod
    def greeting(pod: Pod) -> str | None:
        """Return the message a pod serves on ``/`` (JSON form), None when it does not answer."""
        status, body = http_get(f"{pod.url}/", 3.0, accept="application/json")
        try:
            return json.loads(body)["message"] if status == 200 else None
        except (ValueError, KeyError, TypeError):
            return None

    def deployment_annotation(self, deployment: str) -> str:
        """Return the Deployment's ``shipshape.io/config-hash`` annotation ('' when absent)."""
        return self.kubectl(
            "-n", NAMESPACE, "get", "deployment", deployment,
            "-o", r"jsonpath={.metadata.annotations.shipshape\.io/config-hash}",
        )  # fmt: skip

    def kubectl(self, *args: str) -> str:
        """Run the real kubectl as the admin client; return its output."""
        try:
            return self.cluster.kubectl(*args)
        except (CommandFailed, FileNotFoundError) as error:
            raise StepFailed(str(error)) from error

    def journal_cli(self, *args: str) -> str:
        """Run shipshape-journal; return its output."""
        try:
            return self.cluster.journal_cli(*args)
        except (CommandFailed, FileNotFoundError) as error:
            raise StepFailed(str(error)) from error

    def show(self, output: str) -> None:
        """Print a command's output, indented under the narration."""
        for line in output.rstrip().splitlines():
            self.say(f"    {line}")

    def cleanup(self) -> None:
        """Stop everything started, whatever state the steps left it in."""
        self.cluster.stop()


STEPS: tuple[tuple[str, Callable[[Demo], None]], ...] = (
    ("API server", Demo.start_api_server),
    ("manifests", Demo.apply_manifests),
    ("kubelet", Demo.start_kubelet),
    ("controllers", Demo.start_controllers),
    ("test change", Demo.change_test_message),
    ("failover drill", Demo.fail_over),
    ("prod change", Demo.change_prod_message),
    ("controllers stop", Demo.stop_controllers),
    ("replay and verify", Demo.replay_and_verify),
    ("drill evidence", Demo.export_drill),
)


def run(demo: Demo) -> int:
    """Run every step in order, then clean up; return the exit status.

    Raises:
        Interrupted: A signal arrived after the steps ended, before the clean-up
            began (the clean-up has run).
    """
    started = time.monotonic()
    current = "start"
    status = 0
    try:
        try:
            for number, (name, step) in enumerate(STEPS, start=1):
                current = f"step {number}/{len(STEPS)} ({name})"
                demo.say(f"[{number}/{len(STEPS)}] {name}")
                step(demo)
        except (StepFailed, TimeoutError, ProcessExited) as error:
            status = 1
            demo.say(f"FAILED at {current}: {error}")
            demo.say(
                f"logs, journals and kubeconfigs: {demo.workdir}"
                if demo.kept
                else "to keep the logs: make demo DEMO_ARGS='--keep DIR'"
            )
        except Interrupted as interrupt:
            status = 128 + interrupt.signum
            demo.say(f"interrupted by {interrupt} during {current}; stopping everything")
        except Exception as error:  # a bug: name the step, keep the traceback
            status = 1
            demo.say(f"FAILED at {current}: {type(error).__name__}: {error}")
            traceback.print_exc()
    finally:
        # A second Ctrl-C must not cut the clean-up short (it is bounded by timeouts).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        demo.cleanup()
    if status == 0:
        demo.say(
            f"done: {len(STEPS)} steps in {time.monotonic() - started:.1f} s; every process stopped"
        )
    return status


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise Interrupted(signum)


def main() -> int:
    """Parse the options, run the demo in a scratch directory, return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m hack.demo", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="directory for the DR-drill evidence (default: a new temporary directory)",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        help="keep the work directory (logs, journals, kubeconfigs) here; must not exist",
    )
    args = parser.parse_args()
    if args.keep and args.keep.exists():
        parser.error(f"--keep {args.keep}: already exists")
    if args.out and args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out}: not a directory")
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    out = args.out.resolve() if args.out else None
    with tempfile.TemporaryDirectory(prefix="shipshape-demo-") as scratch:
        workdir = args.keep.resolve() if args.keep else Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        demo = Demo(
            workdir, out, lambda line: print(f"demo: {line}", flush=True), kept=bool(args.keep)
        )
        try:
            return run(demo)
        except Interrupted as interrupt:
            return 128 + interrupt.signum


if __name__ == "__main__":
    sys.exit(main())
