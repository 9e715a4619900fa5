"""Fixtures for the controller's end-to-end tests: a private API server and controller processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.kubeapi import KubeApiServer
from tests.reloader.e2e.harness import Controller, ensure_namespace


@pytest.fixture
def kube(kubeapi_private_server: KubeApiServer) -> KubeApiServer:
    """An API server of the test's own (faults, compaction and rollouts are per test)."""
    ensure_namespace(kubeapi_private_server)
    return kubeapi_private_server


@pytest.fixture
def controllers(kube: KubeApiServer, tmp_path: Path) -> Iterator[Callable[..., Controller]]:
    """Build controller processes against ``kube``; every one is killed after the test."""
    made: list[Controller] = []

    def make(**kwargs) -> Controller:
        controller = Controller(kube, kwargs.pop("workdir", tmp_path), **kwargs)
        made.append(controller)
        return controller

    yield make
    for controller in made:
        controller.kill()
