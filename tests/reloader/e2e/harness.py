"""Running the real ``shipshape-controller`` against the Kubernetes API test server.

Everything here waits on conditions with deadlines (never fixed sleeps as
synchronisation), and every process started is killed in teardown.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from prometheus_client.parser import text_string_to_metric_families

from hack import child_process
from journal import Journal
from tests.kubeapi import KubeApiServer

T = TypeVar("T")
NS = "shipshape"


def wait_for(
    condition: Callable[[], T], what: str, timeout: float = 20.0, interval: float = 0.02
) -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    try:
        return child_process.wait_for(condition, what, timeout, interval)
    except TimeoutError as error:  # a test's failure, not an error of the code under test
        raise AssertionError(str(error)) from None


def controller_command() -> list[str]:
    """The installed console script (falls back to the module when not on PATH)."""
    script = shutil.which("shipshape-controller") or str(
        Path(sys.executable).with_name("shipshape-controller")
    )
    if Path(script).exists():
        return [script]
    return [sys.executable, "-c", "from reloader.runtime.main import main; main()"]


class Controller:
    """One ``shipshape-controller`` process, its logs, endpoints and journal."""

    def __init__(
        self,
        server: KubeApiServer,
        workdir: Path,
        *,
        name: str = "helloworld-controller-0",
        client: str = "controller",
        journal: Path | None = None,
        env: dict[str, str] | None = None,
        user: int | None = None,
    ) -> None:
        self.server = server
        self.workdir = workdir
        self.name = name
        self.journal_path = journal or workdir / f"{name}.db"
        if server.clients.get(client) is None:
            server.add_client(client)
        self.client = client
        self.kubeconfig = server.write_kubeconfig(workdir / f"kubeconfig-{client}", client, NS)
        self.env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "NAMESPACE": NS,
            "POD_NAME": name,
            "DEBOUNCE_SECONDS": "1",
            "LEADER_ELECTION_ENABLED": "false",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": "0",
            "JOURNAL_URL": str(self.journal_path),
            "LOG_LEVEL": "INFO",
            "RESYNC_SECONDS": "1",
            "RETRY_BASE_SECONDS": "0.1",
            "RETRY_MAX_SECONDS": "0.5",
            "WATCH_TIMEOUT_SECONDS": "5",
            "SHUTDOWN_TIMEOUT_SECONDS": "10",
            **(env or {}),
        }
        self.user = user
        self.process: subprocess.Popen[str] | None = None
        self.logs: list[dict[str, Any]] = []
        self.raw_stdout: list[str] = []
        self.stderr = ""
        self.port: int | None = None
        self._reader: threading.Thread | None = None

    # ------------------------------------------------------------- lifecycle

    def start(self, *, ready: bool = True) -> Controller:
        """Start the process; by default wait until ``/readyz`` answers 200."""
        self.logs, self.raw_stdout, self.port = [], [], None
        self.process = subprocess.Popen(
            controller_command(),
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            user=self.user,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if ready:
            self.wait_ready()
        return self

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.raw_stdout.append(line)
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            self.logs.append(entry)
            if entry.get("msg") == "controller starting":
                self.port = int(entry["http_port"])

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until the process serves ``/readyz`` 200 (leader, synced, journal writable)."""

        def ready() -> bool:
            self._check_alive()
            return self.port is not None and self.get("/readyz")[0] == 200

        wait_for(ready, f"{self.name} to be ready", timeout)

    def _check_alive(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            self.stderr = self.process.stderr.read() if self.process.stderr else ""
            raise AssertionError(
                f"{self.name} exited with {self.process.returncode}: {self.stderr}"
                f"{''.join(self.raw_stdout[-20:])}"
            )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send ``sig`` and return the exit code (fails if it does not exit in time)."""
        assert self.process is not None
        self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=timeout)
        finally:
            self.kill()
        if self._reader is not None:
            self._reader.join(5)
        self.stderr = self.process.stderr.read() if self.process.stderr else ""
        return code

    def kill(self) -> None:
        """Kill the process if it still runs (teardown)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # -------------------------------------------------------------- endpoints

    def get(self, path: str) -> tuple[int, str]:
        """GET an endpoint; return status and body (status 0 when unreachable)."""
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.port}{path}", timeout=5
            ) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except (urllib.error.URLError, OSError):
            self._check_alive()  # a dead process explains itself
            return 0, ""

    def get_json(self, path: str) -> tuple[int, Any]:
        status, body = self.get(path)
        return status, json.loads(body) if body else None

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        """The value of one sample on ``/metrics`` (0 when absent)."""
        status, text = self.get("/metrics")
        assert status == 200, status
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in (labels or {}).items()
                ):
                    return sample.value
        return 0.0

    # ---------------------------------------------------------------- journal

    def records(self, kinds: Iterable[str] | None = None) -> list[Any]:
        """Every record of this controller's journal (optionally only some kinds)."""
        if not self.journal_path.exists():
            return []
        journal = Journal.open(str(self.journal_path), readonly=True)
        try:
            wanted = set(kinds) if kinds is not None else None
            return [r for r in journal.read() if wanted is None or r.kind in wanted]
        finally:
            journal.close()

    def wait_record(
        self, condition: Callable[[Any], bool], what: str, timeout: float = 20.0
    ) -> Any:
        """Wait for a journal record matching ``condition``; return it."""

        def found() -> Any:
            if self.process is not None and self.process.poll() is None:
                pass
            return next((r for r in self.records() if condition(r)), None)

        return wait_for(found, what, timeout, interval=0.05)

    def quiesce(self, after_seq: int, timeout: float = 20.0) -> None:
        """Wait until both watches relisted after ``after_seq`` (everything was seen twice)."""

        def relisted() -> bool:
            resources = {
                r.data.get("resource")
                for r in self.records({"watch.relisted"})
                if r.seq > after_seq and r.data.get("reason") == "resync"
            }
            return resources >= {"configmaps", "deployments"}

        wait_for(relisted, "a resync of both watches", timeout, interval=0.05)


# ------------------------------------------------------------------ cluster


def configmap(
    name: str,
    data: dict[str, str] | None = None,
    env: str = "test",
    *,
    binary: dict[str, str] | None = None,
    app: str = "helloworld",
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": NS, "labels": {"app": app, "env": env}},
        "data": data or {},
    }
    if binary:
        obj["binaryData"] = binary
    return obj


def deployment(
    name: str,
    env: str = "test",
    *,
    replicas: int = 1,
    app: str = "helloworld",
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    labels = {"app": app, "env": env}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": labels,
            "annotations": annotations or {},
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {"name": "app", "image": "registry.example/helloworld@sha256:" + "0" * 64}
                    ]
                },
            },
        },
    }


def set_data(server: KubeApiServer, name: str, data: dict[str, str]) -> dict[str, Any]:
    """Replace a ConfigMap's data (a merge patch that also removes keys no longer present)."""
    current = server.get("configmaps", name, NS) or {}
    patch = {key: None for key in (current.get("data") or {}) if key not in data}
    patch.update(data)
    return server.patch("configmaps", name, {"data": patch}, namespace=NS)


def applied_hash(server: KubeApiServer, name: str) -> str | None:
    """The config hash recorded on a Deployment (set by adoption or a restart)."""
    annotations = (server.get("deployments", name, NS) or {}).get("metadata", {}).get("annotations")
    return (annotations or {}).get("shipshape.io/config-hash")


def restarts(server: KubeApiServer, name: str) -> int:
    """How many times the Deployment's pod template changed since it was created."""
    return len(server.revisions(name, NS)) - 1


def ensure_namespace(server: KubeApiServer) -> None:
    if server.get("namespaces", NS) is None:
        server.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})


class ReadOnly:
    """Makes the journal's files read-only under a running writer, then writable again.

    The journal keeps its SQLite connection (and so its file descriptors) open,
    so changing the file mode would not stop a running writer; making the
    database and its WAL immutable (``chattr +i``, as root or through ``sudo``)
    does, as a volume remounted read-only would. The shared-memory file is left
    alone: SQLite maps it, and an immutable mapping would kill the process.
    """

    def __init__(self, journal: Path) -> None:
        self.paths = [journal, journal.with_name(journal.name + "-wal")]
        self.prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]

    def _chattr(self, flag: str) -> None:
        for path in self.paths:
            result = subprocess.run(
                [*self.prefix, "chattr", flag, str(path)],
                capture_output=True,
                text=True,
                check=False,
            )
            assert result.returncode == 0, f"chattr {flag} {path} failed: {result.stderr}"

    def __enter__(self) -> ReadOnly:
        self._chattr("+i")
        return self

    def __exit__(self, *exc: object) -> None:
        self._chattr("-i")
