"""Processes of the toolkit: polling, console scripts, children in process groups, the server.

- :func:`wait_for` is the one polling loop of the tests and tools;
- :func:`program` is the one way to find a console script (this virtualenv's
  first, then ``PATH``);
- :class:`Child` runs a long-lived program in a process group of its own, its
  output in a log file read back for the JSON log lines the Shipshape programs
  write (``telemetry.logs``);
- :class:`ServerProcess` runs ``python -m tests.kubeapi`` in a child process,
  and :class:`AdminClient` drives it through its admin HTTP API.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import selectors
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def wait_for(
    condition: Callable[[], T | None],
    what: str = "condition",
    timeout: float = 10.0,
    interval: float = 0.05,
) -> T:
    """Poll ``condition`` every ``interval`` seconds until it returns something truthy; return it.

    The one polling loop of the tests and tools: a test that wants a test failure
    rather than an error wraps it (``tests/reloader/e2e/harness.py``).

    Raises:
        TimeoutError: ``condition`` stayed falsy for ``timeout`` seconds; the
            message names ``what``.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} did not happen within {timeout:g} s")
        time.sleep(interval)


def program(name: str) -> str:
    """Return the path of a console script of this virtualenv, else of one on PATH.

    Raises:
        FileNotFoundError: Neither exists; the message says how to install it.
    """
    local = Path(sys.executable).with_name(name)
    found = str(local) if local.exists() else shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} is not installed (run `make install`)")
    return found


class Child:
    """One child process in its own process group, its stdout and stderr in ``log``.

    Args:
        name: What the child is, for messages (``helloworld-controller-0``).
        command: The program and its arguments.
        env: The child's whole environment.
        log: File receiving the child's output (appended to).
        cwd: The child's working directory (default: the parent's).
    """

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        *,
        env: Mapping[str, str],
        log: Path,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.command = list(command)
        self.env = dict(env)
        self.log = log
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Child:
        """Start the command in a new session (its own process group)."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int | None:
        """The process id, once started."""
        return self.process.pid if self.process else None

    @property
    def running(self) -> bool:
        """Whether the process was started and has not exited."""
        return self.process is not None and self.process.poll() is None

    def exited(self) -> str | None:
        """Return a one-line reason when the process has exited, else None."""
        if self.process is None or self.process.poll() is None:
            return None
        lines = (
            self.log.read_text(errors="replace").strip().splitlines() if self.log.exists() else []
        )
        last = lines[-1] if lines else "(no output)"
        return f"{self.name} exited with {self.process.returncode}: {last}"

    def log_size(self) -> int:
        """Return the log's size in bytes (0 before it exists), an offset for :meth:`log_entry`."""
        return self.log.stat().st_size if self.log.exists() else 0

    def tail(self, lines: int = 20) -> str:
        """Return the last ``lines`` lines of the log ('' before it exists)."""
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def log_entry(self, message: str, offset: int = 0) -> dict[str, Any] | None:
        """Return the first JSON log line after byte ``offset`` whose ``msg`` starts ``message``.

        A ``msg`` may carry formatted arguments (``listening on 127.0.0.1:8080``);
        the line's structured fields hold the values (``port``).
        """
        if not self.log.exists():
            return None
        with self.log.open("rb") as log:
            log.seek(offset)
            text = log.read().decode(errors="replace")
        for line in text.splitlines():
            if not line.startswith("{"):
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if str(entry.get("msg", "")).startswith(message):
                return entry
        return None

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the child's whole process group, while the child is not yet reaped."""
        if self.running:
            self._signal_group(sig)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the group, wait up to ``timeout`` seconds, then SIGKILL what is left of it.

        Returns:
            The exit status, or None when the child was never started.
        """
        if self.process is None:
            return None
        if self.running:
            self._signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
            # Right after the wait: the group id cannot have been reused yet.
            self._signal_group(signal.SIGKILL)
        return self.process.wait()

    def kill(self) -> int | None:
        """SIGKILL the group and reap the child (as a lost node would: no clean shutdown)."""
        if self.process is None:
            return None
        if self.running:
            self._signal_group(signal.SIGKILL)
        return self.process.wait()

    def _signal_group(self, sig: signal.Signals) -> None:
        # Only called while the child is alive or just reaped, so its pid is still
        # its group's id: a child reaped long ago might share its pid with a stranger.
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)


class AdminError(RuntimeError):
    """The admin API answered with an error."""


class AdminClient:
    """The `/_kubeapi` admin HTTP API, for a server in another process.

    Args:
        url: The server's base URL.
        token: An admin client's bearer token.
        ca_pem: The CA certificate (PEM) for HTTPS, or None over HTTP.
    """

    def __init__(self, url: str, token: str, ca_pem: bytes | None = None) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self._context = ssl.create_default_context(cadata=ca_pem.decode()) if ca_pem else None

    @classmethod
    def from_kubeconfig(cls, path: str | Path) -> AdminClient:
        """Return a client for the server and admin token of a kubeconfig the server wrote."""
        config = yaml.safe_load(Path(path).read_text())
        cluster = config["clusters"][0]["cluster"]
        token = config["users"][0]["user"]["token"]
        ca = cluster.get("certificate-authority-data")
        return cls(cluster["server"], token, base64.b64decode(ca) if ca else None)

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Send one admin request and return its JSON answer.

        Raises:
            AdminError: The server answered with an error status.
        """
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.url}/_kubeapi/{path.lstrip('/')}",
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, context=self._context, timeout=30) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as err:
            raise AdminError(f"{method} {path}: {err.code} {err.read().decode()}") from err

    def fail(self, status: int, **match: Any) -> dict[str, Any]:
        """Add an error fault (see `KubeApiServer.fail`; `retry_after` is `retryAfter`)."""
        return self.request("POST", "faults", {"kind": "error", "status": status, **match})

    def add_latency(self, delay: float, **match: Any) -> dict[str, Any]:
        """Add a latency fault (see `KubeApiServer.add_latency`)."""
        return self.request("POST", "faults", {"kind": "latency", "delay": delay, **match})

    def deny(self, **match: Any) -> dict[str, Any]:
        """Add an RBAC denial (see `KubeApiServer.deny`)."""
        return self.request("POST", "faults", {"kind": "deny", **match})

    def partition(self, client: str, seconds: float, mode: str = "drop") -> dict[str, Any]:
        """Cut a client off for `seconds` (see `KubeApiServer.partition`)."""
        return self.request(
            "POST",
            "faults",
            {"kind": "partition", "client": client, "seconds": seconds, "mode": mode},
        )

    def faults(self) -> list[dict[str, Any]]:
        """Return the active fault rules."""
        return self.request("GET", "faults")

    def remove_fault(self, rule_id: int) -> None:
        """Remove one fault rule."""
        self.request("DELETE", f"faults/{rule_id}")

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self.request("DELETE", "faults")

    def cut_watches(
        self, client: str | None = None, resource: str | None = None, abrupt: bool = False
    ) -> int:
        """End open watches; return how many."""
        body = {"client": client, "resource": resource, "abrupt": abrupt}
        return self.request("POST", "watches/cut", body)["closed"]

    def watches(self) -> list[dict[str, Any]]:
        """Return the open watches (`client`, `resource`, `namespace`)."""
        return self.request("GET", "watches")

    def compact(self) -> int:
        """Drop the event history; return the resourceVersion it now starts after."""
        return self.request("POST", "compact")["resourceVersion"]

    def add_client(
        self, name: str, namespace: str | None = None, *, service_account: str | None = None
    ) -> dict[str, Any]:
        """Register a client (`service_account="NS/NAME"`: acting as that ServiceAccount,
        judged by RBAC); return `name`, `user`, `groups`, `token` and its `kubeconfig`."""
        body: dict[str, Any] = {"name": name, "namespace": namespace}
        if service_account is not None:
            body["serviceAccount"] = service_account
        return self.request("POST", "clients", body)

    def write_kubeconfig(
        self,
        path: str | Path,
        client: str,
        namespace: str | None = None,
        *,
        service_account: str | None = None,
    ) -> Path:
        """Write a client's kubeconfig to a file (mode 0600) and return its path."""
        target = Path(path)
        answer = self.add_client(client, namespace, service_account=service_account)
        target.write_text(answer["kubeconfig"])
        target.chmod(0o600)
        return target

    def create_token(self, namespace: str, name: str, expiration_seconds: int = 3600) -> str:
        """Return a bearer token for a ServiceAccount (as `kubectl create token`)."""
        body = {"expirationSeconds": expiration_seconds}
        return self.request("POST", f"tokens/{namespace}/{name}", body)["token"]

    def revisions(
        self, name: str, namespace: str, resource: str = "deployments"
    ) -> list[dict[str, Any]]:
        """Return a workload's pod-template revisions, oldest first."""
        return self.request("GET", f"revisions/{resource}/{namespace}/{name}")

    def requests(self, **filters: str) -> list[dict[str, Any]]:
        """Return logged requests filtered by `client`, `verb`, `resource`, `namespace`, `name`."""
        query = "&".join(f"{k}={v}" for k, v in filters.items() if v is not None)
        return self.request("GET", "requests" + (f"?{query}" if query else ""))

    def settings(self, **changes: Any) -> dict[str, Any]:
        """Change and return `rolloutDelay`, `bookmarkInterval`, `defaultWatchTimeout`."""
        if changes:
            return self.request("PUT", "settings", changes)
        return self.request("GET", "settings")

    def info(self) -> dict[str, Any]:
        """Return the server's URL, resourceVersion, open watch count and settings."""
        return self.request("GET", "info")


class ServerProcess:
    """`python -m tests.kubeapi` in a child process, stopped with SIGTERM.

    Args:
        workdir: Where to write the kubeconfig and the server's stderr log.
        args: Extra command-line arguments (e.g. `["--rollout-delay", "1"]`).
        startup_timeout: Seconds to wait for the `ready <url>` line.
        start_new_session: Run the server in a session (process group) of its own, so a
            Ctrl-C at the terminal reaches only the parent, which stops it (the demo).
    """

    def __init__(
        self,
        workdir: str | Path,
        args: list[str] | None = None,
        startup_timeout: float = 30.0,
        *,
        start_new_session: bool = False,
    ) -> None:
        self.workdir = Path(workdir)
        self.kubeconfig = self.workdir / "kubeconfig"
        self.log_file = self.workdir / "kubeapi.log"
        self.args = list(args or [])
        self.startup_timeout = startup_timeout
        self.start_new_session = start_new_session
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        self._admin: AdminClient | None = None

    def start(self) -> ServerProcess:
        """Start the server and wait for its `ready` line.

        Raises:
            RuntimeError: It exited or printed something else first, or timed out.
        """
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable, "-m", "tests.kubeapi", "--port", "0",
            "--kubeconfig", str(self.kubeconfig), *self.args,
        ]  # fmt: skip
        with self.log_file.open("w") as log:
            self.process = subprocess.Popen(
                command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=log, text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                start_new_session=self.start_new_session,
            )  # fmt: skip
        line = self._first_line()
        if not line.startswith("ready "):
            self.stop()
            raise RuntimeError(
                f"kubeapi server did not start: {line!r}; log: {self.log_file.read_text()}"
            )
        self.url = line.split(" ", 1)[1].strip()
        return self

    def _first_line(self) -> str:
        assert self.process is not None and self.process.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + self.startup_timeout
        try:
            while time.monotonic() < deadline:
                if selector.select(timeout=0.1):
                    return self.process.stdout.readline()
                if self.process.poll() is not None:
                    return f"<exited with {self.process.returncode}>"
            return "<timed out>"
        finally:
            selector.close()

    @property
    def admin(self) -> AdminClient:
        """Return the admin API client (authenticated with the written kubeconfig)."""
        if self._admin is None:
            self._admin = AdminClient.from_kubeconfig(self.kubeconfig)
        return self._admin

    def stop(self, timeout: float = 10.0) -> int | None:
        """Send SIGTERM, wait (then kill); return the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
