"""Fixtures for the high-availability tests: a private API server and controller replicas."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.kubeapi import KubeApiServer
from tests.reloader.e2e.harness import ensure_namespace
from tests.reloader.ha.cluster import Replicas


@pytest.fixture
def kube(kubeapi_private_server: KubeApiServer) -> KubeApiServer:
    """An API server of the test's own (faults and partitions are per test)."""
    ensure_namespace(kubeapi_private_server)
    return kubeapi_private_server


@pytest.fixture
def replicas(kube: KubeApiServer, tmp_path: Path) -> Iterator[Callable[..., Replicas]]:
    """Build replica sets against ``kube``; every process is killed after the test."""
    made: list[Replicas] = []

    def make(count: int = 2, **env: str) -> Replicas:
        group = Replicas(kube, tmp_path, count, env)
        made.append(group)
        return group

    yield make
    for group in made:
        group.kill_all()
