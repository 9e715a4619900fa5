"""Run the test server as a separate process, and drive it through its admin HTTP API."""

from __future__ import annotations

import base64
import json
import os
import selectors
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]


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
