"""The one harness: a local cluster of the API test server, controllers and web apps.

:class:`Cluster` runs (or adopts) an API test server, applies manifests with
the real ``kubectl``, gives the controller the shipped ServiceAccount and Role
(``k8s/controller/serviceaccount.yaml`` and ``rbac.yaml``), and starts:

- ``shipshape-controller`` replicas (:class:`Controller`), each a real process
  in a process group of its own, with its own journal and its own API client
  acting as the ServiceAccount ``helloworld-controller``: judged by RBAC,
  never the admin;
- ``shipshape-web`` pods for the namespace's Deployments, through the
  stand-in kubelet (:mod:`tests.kubeapi.kubelet`).

The demo, the local DR drill, the end-to-end and chaos tests and the
benchmarks all start their processes here; their own modules only add their
knobs and their checks. Everything waits on conditions with deadlines
(:func:`tests.kubeapi.process.wait_for`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from journal import Journal

from .kubelet import Kubelet
from .process import REPO_ROOT, AdminClient, Child, ServerProcess, program, wait_for
from .server import KubeApiServer

#: The namespace of the shipped manifests (their RoleBinding names it).
NAMESPACE = "shipshape"
#: The controller's ServiceAccount and Role, as shipped.
SERVICE_ACCOUNT = "helloworld-controller"
#: Settings for a single controller in a test: a short debounce, a resync
#: every second and short backoffs keep each test to a few seconds.
QUICK_CONTROLLER_ENV = {
    "DEBOUNCE_SECONDS": "1",
    "LEADER_ELECTION_ENABLED": "false",
    "RESYNC_SECONDS": "1",
    "RETRY_BASE_SECONDS": "0.1",
    "RETRY_MAX_SECONDS": "0.5",
    "WATCH_TIMEOUT_SECONDS": "5",
    "SHUTDOWN_TIMEOUT_SECONDS": "10",
}
CONTROLLER_RBAC = (
    REPO_ROOT / "k8s" / "controller" / "serviceaccount.yaml",
    REPO_ROOT / "k8s" / "controller" / "rbac.yaml",
)


class ProcessExited(RuntimeError):
    """A process of the cluster exited while it was waited on; the message says how."""


class CommandFailed(RuntimeError):
    """A command (``kubectl``, ``shipshape-journal``) exited non-zero; one line says why."""


def controller_rbac(namespace: str = NAMESPACE) -> list[dict[str, Any]]:
    """Return the shipped ServiceAccount, Role and RoleBinding, for ``namespace``.

    The RoleBinding's subject names the namespace ``shipshape``; it is
    rewritten to ``namespace``, as ``kubectl apply -n`` alone would not.
    """
    objects = []
    for path in CONTROLLER_RBAC:
        for obj in yaml.safe_load_all(path.read_text()):
            if not obj:
                continue
            obj["metadata"]["namespace"] = namespace
            for subject in obj.get("subjects") or []:
                if subject.get("kind") == "ServiceAccount":
                    subject["namespace"] = namespace
            objects.append(obj)
    return objects


def http_get(url: str, timeout: float = 5.0, accept: str | None = None) -> tuple[int, str]:
    """GET ``url`` (``http://127.0.0.1:PORT/...``); return the status and the body.

    The status is 0 when nothing answers.
    """
    headers = {"Accept": accept} if accept else {}
    try:
        request = urllib.request.Request(url, headers=headers)
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except (urllib.error.URLError, OSError):
        return 0, ""


class Controller:
    """One ``shipshape-controller`` process: its endpoints, metrics, journal and log.

    Built by :meth:`Cluster.controller`. The process runs in a process group of
    its own; its output (JSON log lines) goes to ``log``.

    Attributes:
        name: Its ``POD_NAME`` (``helloworld-controller-0``).
        client: The API client it acts as (fault rules and revisions name it).
        kubeconfig: That client's kubeconfig.
        journal_path: Its journal file.
        env: Its whole environment.
        port: Its HTTP port, once it logged ``controller starting``.
    """

    def __init__(
        self, name: str, client: str, kubeconfig: Path, journal: Path, env: Mapping[str, str]
    ) -> None:
        self.name = name
        self.client = client
        self.kubeconfig = kubeconfig
        self.journal_path = journal
        self.env = dict(env)
        self.log = kubeconfig.parent / "logs" / f"{name}.log"
        self.child: Child | None = None
        self.port: int | None = None
        self._offset = 0

    # ------------------------------------------------------------- lifecycle

    def start(self, *, ready: bool = True, timeout: float = 30.0) -> Controller:
        """Start (or start again) the process; wait for its port, and by default ``/readyz`` 200."""
        self.journal_path.parent.mkdir(parents=True, exist_ok=True)
        self.port = None
        child = Child(self.name, [program("shipshape-controller")], env=self.env, log=self.log)
        self._offset = child.log_size()  # a restarted replica appends to its log
        self.child = child.start()
        if ready:
            self.wait_ready(timeout)
        return self

    def wait_started(self, timeout: float = 30.0) -> int:
        """Wait for the ``controller starting`` log line; return the HTTP port."""
        if self.port is None:
            entry = wait_for(
                lambda: (
                    self._check_alive()
                    or self._child.log_entry("controller starting", self._offset)
                ),
                f"{self.name} starting",
                timeout,
            )
            self.port = int(entry["http_port"])
        return self.port

    def wait_serving(self, timeout: float = 30.0) -> None:
        """Wait until ``/healthz`` answers 200 (leader or not)."""
        self.wait_started(timeout)
        wait_for(lambda: self.get("/healthz")[0] == 200, f"{self.name} to serve", timeout)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until ``/readyz`` answers 200 (leader, synced, journal writable)."""
        self.wait_started(timeout)
        wait_for(lambda: self.get("/readyz")[0] == 200, f"{self.name} to be ready", timeout)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send ``sig``; wait up to ``timeout`` seconds (then SIGKILL); return the exit status."""
        child = self._child
        if child.running:
            child.signal(signal.Signals(sig))
            try:
                return child.process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        return child.kill()

    def kill(self) -> None:
        """SIGKILL the process if it still runs (teardown, or a lost node)."""
        if self.child is not None:
            self.child.kill()

    @property
    def process(self) -> subprocess.Popen[bytes]:
        """The running (or last) process."""
        assert self._child.process is not None
        return self._child.process

    @property
    def running(self) -> bool:
        """Whether the process was started and has not exited."""
        return self.child is not None and self.child.running

    @property
    def _child(self) -> Child:
        if self.child is None:
            raise ProcessExited(f"{self.name} was never started")
        return self.child

    def _check_alive(self) -> None:
        exited = self._child.exited()
        if exited:
            raise ProcessExited(f"{exited}\n{self._child.tail()}")

    # -------------------------------------------------------------- endpoints

    def get(self, path: str) -> tuple[int, str]:
        """GET an endpoint; return status and body (0 when unreachable).

        Raises:
            ProcessExited: The process has exited (a dead process explains itself).
        """
        self._check_alive()
        if self.port is None:
            return 0, ""
        return http_get(f"http://127.0.0.1:{self.port}{path}")

    def get_json(self, path: str) -> tuple[int, Any]:
        """GET an endpoint; return status and the decoded JSON body (None when empty)."""
        status, body = self.get(path)
        return status, json.loads(body) if body else None

    def leadz(self) -> dict[str, Any] | None:
        """Return ``/leadz``, or None when it does not answer or the process is not running."""
        if not self.running or self.port is None:
            return None
        try:
            status, body = self.get_json("/leadz")
        except ProcessExited:  # it died meanwhile
            return None
        return body if status == 200 else None

    def ready(self) -> bool:
        """Return whether ``/readyz`` answers 200."""
        return self.get("/readyz")[0] == 200

    def metric(self, name: str, labels: Mapping[str, str] | None = None) -> float:
        """Return the value of one sample on ``/metrics`` (0 when absent)."""
        status, text = self.get("/metrics")
        if status != 200:
            raise ProcessExited(f"{self.name} /metrics answered {status}")
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in (labels or {}).items()
                ):
                    return sample.value
        return 0.0

    # ---------------------------------------------------------------- journal

    def records(self, kinds: Iterable[str] | None = None, after_seq: int = 0) -> list[Any]:
        """Return this controller's journal records after ``after_seq`` (of some kinds only)."""
        if not self.journal_path.exists():
            return []
        with Journal.open(str(self.journal_path), readonly=True) as journal:
            wanted = tuple(kinds) if kinds is not None else None
            return list(journal.read(after_seq, kinds=wanted))

    def wait_record(
        self, condition: Callable[[Any], bool], what: str, timeout: float = 20.0
    ) -> Any:
        """Wait for a journal record meeting ``condition``; return it."""
        return wait_for(
            lambda: next((r for r in self.records() if condition(r)), None), what, timeout
        )

    def quiesce(self, after_seq: int, timeout: float = 20.0) -> None:
        """Wait until both watches relisted after ``after_seq`` (everything was seen twice)."""

        def relisted() -> bool:
            resources = {
                r.data.get("resource")
                for r in self.records({"watch.relisted"}, after_seq)
                if r.data.get("reason") == "resync"
            }
            return resources >= {"configmaps", "deployments"}

        wait_for(relisted, "a resync of both watches", timeout)


class Cluster:
    """An API test server with the controller's RBAC, controllers and web apps.

    Args:
        workdir: Where kubeconfigs, logs, journals and pod logs go.
        server: An API test server running in this process (the tests' fixtures);
            None: :meth:`start` runs ``python -m tests.kubeapi`` in a process
            group of its own (the demo and the drill).
        namespace: The namespace of the controllers and apps.
        server_args: Extra arguments for the server process.
        env: Extra environment for every command and process.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        server: KubeApiServer | None = None,
        namespace: str = NAMESPACE,
        server_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.namespace = namespace
        self.server = server
        self.server_process: ServerProcess | None = None
        self._server_args = list(server_args)
        venv_bin = str(Path(sys.executable).parent)
        #: Every child's environment: this virtualenv's kubectl and console
        #: scripts first, kubectl's cache in the work directory.
        self.env = {
            **os.environ,
            "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "KUBECACHEDIR": str(workdir / "kube-cache"),
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.kubeconfig: Path | None = None
        self.controllers: list[Controller] = []
        self.kubelets: list[Kubelet] = []

    # ------------------------------------------------------------- the server

    def start(self) -> Cluster:
        """Start the server (unless one was given); write the admin kubeconfig.

        Raises:
            RuntimeError: The server process did not start.
        """
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.server is None:
            args = ["--namespace", self.namespace, *self._server_args]
            self.server_process = ServerProcess(
                self.workdir / "kubeapi", args, start_new_session=True
            ).start()
            self.kubeconfig = self.server_process.kubeconfig
        else:
            self.kubeconfig = self.server.write_kubeconfig(
                self.workdir / "kubeconfig-admin", "admin", self.namespace
            )
        self.env["KUBECONFIG"] = str(self.kubeconfig)
        return self

    @property
    def api(self) -> KubeApiServer | AdminClient:
        """The server's Python API in this process, or its admin HTTP API otherwise."""
        if self.server is not None:
            return self.server
        if self.server_process is None:
            raise RuntimeError("the cluster is not started")
        return self.server_process.admin

    @property
    def url(self) -> str:
        """The server's base URL."""
        return self.server.url if self.server is not None else self._process.url

    @property
    def _process(self) -> ServerProcess:
        if self.server_process is None:
            raise RuntimeError("the cluster is not started")
        return self.server_process

    def prepare(self) -> Cluster:
        """Create the namespace and apply the controller's ServiceAccount, Role and RoleBinding.

        In this process, through the server's Python API; otherwise with ``kubectl apply``.
        """
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}}
        objects = [namespace, *controller_rbac(self.namespace)]
        if self.server is not None:
            for obj in objects:
                self.server.apply(obj)
        else:
            self.run(program("kubectl"), "apply", "-f", "-", input=yaml.safe_dump_all(objects))
        return self

    def apply(self, *kustomizations: str) -> int:
        """``kubectl apply -k`` each directory in order; return how many objects were applied."""
        return sum(
            len(self.kubectl("apply", "-k", directory).splitlines()) for directory in kustomizations
        )

    # -------------------------------------------------------------- processes

    def controller(
        self,
        name: str = "helloworld-controller-0",
        *,
        client: str | None = None,
        journal: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Controller:
        """Build (not start) a controller replica acting as the ServiceAccount.

        Args:
            name: Its ``POD_NAME``.
            client: Its API client's name (default: ``name``); each replica has
                its own, so that faults and partitions can target one.
            journal: Its journal file (default: ``WORKDIR/journals/NAME.db``).
            env: Settings over the defaults (``NAMESPACE``, ``POD_NAME``,
                ``KUBECONFIG``, ``JOURNAL_URL``, ``HTTP_HOST=127.0.0.1``,
                ``HTTP_PORT=0``, ``LOG_LEVEL=INFO``).
        """
        client = client or name
        kubeconfig = self.api.write_kubeconfig(
            self.workdir / f"kubeconfig-{client}",
            client,
            self.namespace,
            service_account=f"{self.namespace}/{SERVICE_ACCOUNT}",
        )
        journal = journal or self.workdir / "journals" / f"{name}.db"
        settings = {
            **self.env,
            "KUBECONFIG": str(kubeconfig),
            "NAMESPACE": self.namespace,
            "POD_NAME": name,
            "JOURNAL_URL": str(journal),
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": "0",
            "LOG_LEVEL": "INFO",
            **(env or {}),
        }
        controller = Controller(name, client, kubeconfig, journal, settings)
        self.controllers.append(controller)
        return controller

    def kubelet(self, client: str = "kubelet") -> Kubelet:
        """Start the stand-in kubelet for the namespace's Deployments (pods log under ``pods/``)."""
        kubeconfig = self.api.write_kubeconfig(
            self.workdir / f"kubeconfig-{client}", client, self.namespace
        )
        kubelet = Kubelet(kubeconfig, self.namespace, self.workdir / "pods", self.env).start()
        self.kubelets.append(kubelet)
        return kubelet

    # --------------------------------------------------------------- commands

    def run(self, *command: str, input: str | None = None, timeout: float = 60.0) -> str:
        """Run a command to completion in the cluster's environment; return its stdout.

        Raises:
            CommandFailed: It exited non-zero; the message has its last error line.
        """
        result = self.run_result(*command, input=input, timeout=timeout)
        if result.returncode != 0:
            lines = (result.stderr.strip() or result.stdout.strip()).splitlines()
            name = " ".join([Path(command[0]).name, *command[1:2]])
            raise CommandFailed(
                f"{name} exited with {result.returncode}: {lines[-1] if lines else ''}"
            )
        return result.stdout

    def run_result(
        self, *command: str, input: str | None = None, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """Run a command to completion from the repository root; return it, whatever its status."""
        return subprocess.run(
            command, cwd=REPO_ROOT, env=self.env, input=input, capture_output=True,
            text=True, check=False, timeout=timeout,
        )  # fmt: skip

    def kubectl(self, *args: str) -> str:
        """Run the real kubectl as the admin; return its output."""
        return self.run(program("kubectl"), *args)

    def journal_cli(self, *args: str) -> str:
        """Run ``shipshape-journal``; return its output."""
        return self.run(program("shipshape-journal"), *args)

    # ---------------------------------------------------------------- the end

    def stop(self) -> None:
        """Stop every controller, kubelet (and its pods) and the server this cluster started."""
        for controller in self.controllers:
            if controller.child is not None:
                controller.child.stop(timeout=10.0)
        for kubelet in self.kubelets:
            kubelet.stop(timeout=10.0)
        if self.server_process is not None:
            self.server_process.stop()

    def lose_server(self) -> None:
        """SIGKILL the server process: it and everything it stored are gone (a disaster)."""
        process = self._process.process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        self._process.stop()

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
