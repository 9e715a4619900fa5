"""The patch workers over the API test server, with the health and HTTP app they report to."""

from __future__ import annotations

import queue
from dataclasses import dataclass

import falcon.testing
from prometheus_client import CollectorRegistry

from reloader.kube.restarts import DeploymentPatcher
from reloader.runtime.executor import PatchExecutor
from reloader.runtime.health import Health
from reloader.runtime.http import create_app
from reloader.runtime.leadership import SoleActor
from reloader.runtime.metrics import ControllerMetrics
from tests.kubeapi import KubeApiServer
from tests.reloader.e2e.harness import NS

POD = "helloworld-controller-0"


@dataclass
class Workers:
    """Patch workers acting as the ServiceAccount ``controller``; call ``executor.shutdown()``."""

    executor: PatchExecutor
    outcomes: queue.Queue
    health: Health
    actor: SoleActor
    metrics: ControllerMetrics
    api: falcon.testing.TestClient


def patch_workers(server: KubeApiServer) -> Workers:
    """Workers whose outcomes go to ``outcomes`` and whose health ``api`` serves (synced)."""
    outcomes: queue.Queue = queue.Queue()
    health = Health()
    health.set_synced()
    actor = SoleActor(POD)
    metrics = ControllerMetrics(CollectorRegistry(), NS)
    executor = PatchExecutor(
        DeploymentPatcher(server.api_client("controller"), NS, POD),
        actor,
        outcomes.put,
        metrics,
        health=health,
    )
    api = falcon.testing.TestClient(create_app(health, actor, metrics.registry))
    return Workers(executor, outcomes, health, actor, metrics, api)
