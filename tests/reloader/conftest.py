"""Fixtures shared by the controller's end-to-end and high-availability tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kubeapi import KubeApiServer
from tests.kubeapi.cluster import Cluster
from tests.reloader.e2e import harness


@pytest.fixture
def cluster(kubeapi_private_server: KubeApiServer, tmp_path: Path) -> Iterator[Cluster]:
    """The one harness over an API server of the test's own (faults, partitions and
    rollouts are per test), with the namespace and the controller's ServiceAccount and
    Role; every controller process it started is killed after the test."""
    made = harness.cluster(kubeapi_private_server, tmp_path)
    yield made
    for controller in made.controllers:
        controller.kill()


@pytest.fixture
def kube(cluster: Cluster) -> KubeApiServer:
    """The test's API server, in this process."""
    assert cluster.server is not None
    return cluster.server
