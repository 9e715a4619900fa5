"""Fixtures for the controller's end-to-end tests: a private API server and controller processes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.kubeapi.cluster import Cluster, Controller
from tests.reloader.e2e import harness


@pytest.fixture
def controllers(cluster: Cluster) -> Callable[..., Controller]:
    """Build controller processes (``harness.controller``'s options) against ``kube``."""

    def make(**kwargs) -> Controller:
        return harness.controller(cluster, **kwargs)

    return make
