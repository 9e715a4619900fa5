"""Fixtures for the high-availability tests: a private API server and controller replicas."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.kubeapi import KubeApiServer
from tests.kubeapi.cluster import Cluster
from tests.reloader.e2e import harness
from tests.reloader.ha.cluster import Replicas


@pytest.fixture
def cluster(kubeapi_private_server: KubeApiServer, tmp_path: Path) -> Iterator[Cluster]:
    """The one harness over an API server of the test's own (faults and partitions are per
    test), with the namespace and the controller's ServiceAccount and Role."""
    made = harness.cluster(kubeapi_private_server, tmp_path)
    yield made
    for controller in made.controllers:
        controller.kill()


@pytest.fixture
def kube(cluster: Cluster) -> KubeApiServer:
    """The test's API server, in this process."""
    assert cluster.server is not None
    return cluster.server


@pytest.fixture
def replicas(cluster: Cluster) -> Callable[..., Replicas]:
    """Build replica sets against ``kube``; every process is killed after the test."""

    def make(count: int = 2, **env: str) -> Replicas:
        return Replicas(cluster, count, env)

    return make
