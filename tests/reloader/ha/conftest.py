"""Fixtures for the high-availability tests: a private API server and controller replicas."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.kubeapi.cluster import Cluster
from tests.reloader.ha.cluster import Replicas


@pytest.fixture
def replicas(cluster: Cluster) -> Callable[..., Replicas]:
    """Build replica sets against ``kube``; every process is killed after the test."""

    def make(count: int = 2, **env: str) -> Replicas:
        return Replicas(cluster, count, env)

    return make
