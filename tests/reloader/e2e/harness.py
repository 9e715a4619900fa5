"""The end-to-end tests' knobs over the one harness (``tests/kubeapi/cluster.py``).

The controller runs as the real ``shipshape-controller`` against the API test
server, as the ServiceAccount ``helloworld-controller`` with the shipped Role.
Everything here waits on conditions with deadlines (never fixed sleeps as
synchronisation), and every process started is killed in teardown.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tests.kubeapi import KubeApiServer, process
from tests.kubeapi.cluster import QUICK_CONTROLLER_ENV, Cluster, Controller

T = TypeVar("T")
NS = "shipshape"
#: The single-replica tests' settings (the toolkit's, shared with its own tests).
CONTROLLER_ENV = QUICK_CONTROLLER_ENV

__all__ = ["NS", "Cluster", "Controller", "cluster", "controller", "wait_for"]


def wait_for(
    condition: Callable[[], T], what: str, timeout: float = 20.0, interval: float = 0.02
) -> T:
    """Poll ``condition`` until it returns something truthy; fail the test after ``timeout`` s.

    The toolkit's :func:`tests.kubeapi.process.wait_for`, whose ``TimeoutError``
    becomes an ``AssertionError``: a test's failure, not an error of the code under test.
    """
    try:
        return process.wait_for(condition, what, timeout, interval)
    except TimeoutError as error:
        raise AssertionError(str(error)) from None


def ensure_namespace(server: KubeApiServer) -> None:
    """Create the test namespace on an in-process server when it is missing."""
    if server.get("namespaces", NS) is None:
        server.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})


def cluster(kube: KubeApiServer, workdir: Path) -> Cluster:
    """A cluster over an in-process server: the namespace and the controller's RBAC applied."""
    return Cluster(workdir, server=kube, namespace=NS).start().prepare()


def controller(
    cluster: Cluster,
    *,
    name: str = "helloworld-controller-0",
    client: str = "controller",
    env: dict[str, str] | None = None,
) -> Controller:
    """A controller (not started) with the e2e settings, acting as the ServiceAccount."""
    return cluster.controller(name, client=client, env={**CONTROLLER_ENV, **(env or {})})


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


class ReadOnly:
    """Makes the journal's files read-only under a running writer, then writable again.

    The journal keeps its SQLite connection (and so its file descriptors) open,
    so changing the file mode would not stop a running writer; making the
    database and its WAL immutable (``chattr +i``, as root or through ``sudo``)
    does, as a volume remounted read-only would. The shared-memory file is left
    alone: SQLite maps it, and an immutable mapping would kill the process.
    """

    def __init__(self, journal: Path) -> None:
        wal = journal.with_name(journal.name + "-wal")
        self.paths = [journal, wal] if wal.exists() else [journal]  # no WAL: none open
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
