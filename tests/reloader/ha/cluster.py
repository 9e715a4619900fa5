"""Several ``shipshape-controller`` replicas electing a leader on the API test server.

Each replica is a real subprocess (``tests/kubeapi/cluster.py``) with its own
journal and its own API client (``controller-N``, acting as the ServiceAccount
``helloworld-controller``), so a fault can target one replica's requests. The lease
timings are short but legal (whole seconds): lease 3 s, renew deadline 2 s,
retry period 1 s. Everything waits on conditions with deadlines.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from tests.kubeapi import KubeApiServer
from tests.kubeapi.cluster import Cluster, Controller
from tests.kubeapi.process import program
from tests.reloader.e2e.harness import NS, configmap, controller, deployment, wait_for

LEASE = "helloworld-controller-leader"
LEASE_SECONDS = 3
RENEW_SECONDS = 2
RETRY_SECONDS = 1
DEBOUNCE = 1.0
ELECTION_ENV = {
    "LEADER_ELECTION_ENABLED": "true",
    "LEADER_ELECTION_LEASE_NAME": LEASE,
    "LEADER_ELECTION_LEASE_DURATION_SECONDS": str(LEASE_SECONDS),
    "LEADER_ELECTION_RENEW_DEADLINE_SECONDS": str(RENEW_SECONDS),
    "LEADER_ELECTION_RETRY_PERIOD_SECONDS": str(RETRY_SECONDS),
    "DEBOUNCE_SECONDS": str(DEBOUNCE),
    # A slower resync than the single-replica tests: every relist is journaled
    # by every replica, and these tests do not rely on it to notice changes.
    "RESYNC_SECONDS": "5",
}


def leadz(replica: Controller) -> dict[str, Any] | None:
    """The replica's ``/leadz`` (None when it does not answer, or is not running)."""
    return replica.leadz()


class Replicas:
    """N controller replicas named ``helloworld-controller-I`` with clients ``controller-I``."""

    def __init__(self, cluster: Cluster, count: int, env: dict[str, str] | None = None) -> None:
        assert cluster.server is not None
        self.kube = cluster.server
        self.all = [
            controller(
                cluster,
                name=f"helloworld-controller-{i}",
                client=f"controller-{i}",
                env={**ELECTION_ENV, **(env or {})},
            )
            for i in range(count)
        ]

    def __iter__(self) -> Iterator[Controller]:
        return iter(self.all)

    def __getitem__(self, index: int) -> Controller:
        return self.all[index]

    # ----------------------------------------------------------- lifecycle

    def start(self, replicas: Iterable[Controller] | None = None) -> None:
        """Start replicas (all by default) and wait until each serves its endpoints."""
        chosen = list(replicas) if replicas is not None else self.all
        for replica in chosen:
            replica.start(ready=False)
        for replica in chosen:
            wait_serving(replica)

    def kill_all(self) -> None:
        for replica in self.all:
            replica.kill()

    @property
    def running(self) -> list[Controller]:
        return [replica for replica in self.all if replica.running]

    # ----------------------------------------------------------- leadership

    def leaders(self) -> list[Controller]:
        """The running replicas whose ``/leadz`` says they lead."""
        return [r for r in self.running if (leadz(r) or {}).get("is_leader")]

    def agreed_leader(self, among: Iterable[Controller] | None = None) -> Controller | None:
        """The one leader, if exactly one leads and every other running replica names it."""
        replicas = list(among) if among is not None else self.running
        views = {r.name: leadz(r) for r in replicas}
        if any(view is None for view in views.values()):
            return None
        leaders = [r for r in replicas if views[r.name]["is_leader"]]
        if len(leaders) != 1:
            return None
        leader = leaders[0]
        epochs = {view["epoch"] for view in views.values()}
        named = {view["leader"] for view in views.values()}
        return leader if named == {leader.name} and len(epochs) == 1 else None

    def wait_leader(self, exclude: Iterable[Controller] = (), timeout: float = 20.0) -> Controller:
        """Wait until one running replica leads (not one of ``exclude``); return it."""
        excluded = {r.name for r in exclude}

        def found() -> Controller | None:
            leaders = [r for r in self.leaders() if r.name not in excluded]
            return leaders[0] if len(leaders) == 1 else None

        return wait_for(found, "a leader", timeout, interval=0.02)

    def wait_agreed_leader(self, timeout: float = 20.0) -> Controller:
        return wait_for(self.agreed_leader, "every replica to agree on one leader", timeout)

    def lease(self) -> dict[str, Any]:
        return self.kube.get("leases", LEASE, NS) or {}

    # ----------------------------------------------------------- evidence

    def journals(self) -> list[Path]:
        return [r.journal_path for r in self.all if r.journal_path.exists()]

    def replay(self, *args: str) -> dict[str, Any]:
        """``shipshape-journal replay`` over every replica's journal, merged (JSON)."""
        command = [program("shipshape-journal"), "replay", "-o", "json", *args]
        for path in self.journals():
            command += ["--journal", str(path)]
        result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
        assert result.returncode in (0, 1), result.stderr
        return json.loads(result.stdout)

    def check(self) -> list[dict[str, Any]]:
        """``replay --check`` of each journal on its own: the decisions that differ."""
        differences = []
        for path in self.journals():
            result = subprocess.run(
                [
                    program("shipshape-journal"),
                    "replay",
                    "--journal",
                    str(path),
                    "--check",
                    "-o",
                    "json",
                ],
                capture_output=True,
                text=True,
                check=False,
                timeout=120,
            )
            assert result.returncode in (0, 1), result.stderr
            differences += json.loads(result.stdout)["check"]["differences"]
        return differences


def wait_serving(replica: Controller, timeout: float = 30.0) -> None:
    """Wait until the replica answers ``/healthz`` 200 (leader or not)."""
    replica.wait_serving(timeout)


def kill(replica: Controller, sig: int = signal.SIGKILL) -> float:
    """Send ``sig``; return the monotonic time it was sent (SIGKILL: also reap it)."""
    assert replica.process is not None
    sent = time.monotonic()
    replica.process.send_signal(sig)
    if sig == signal.SIGKILL:
        replica.process.wait(10)
    return sent


def anomalies(report: dict[str, Any], *types: str) -> list[dict[str, Any]]:
    return [a for a in report["anomalies"] if not types or a["type"] in types]


def pairs(kube: KubeApiServer, envs: Iterable[str]) -> list[tuple[str, str]]:
    """Create ``helloworld-config-ENV`` and ``helloworld-ENV`` for each env."""
    made = []
    for env in envs:
        cm, dep = f"helloworld-config-{env}", f"helloworld-{env}"
        kube.create(configmap(cm, {"MESSAGE": f"hello {env}"}, env))
        kube.create(deployment(dep, env))
        made.append((cm, dep))
    return made


def adopted(kube: KubeApiServer, deployments: Iterable[str]) -> bool:
    """Whether every Deployment carries the applied-hash annotation (adopted by a leader)."""
    for name in deployments:
        annotations = (kube.get("deployments", name, NS) or {}).get("metadata", {})
        if not (annotations.get("annotations") or {}).get("shipshape.io/config-hash"):
            return False
    return True
