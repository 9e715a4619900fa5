"""resourceVersions a client asks for that the server has not reached yet."""

from __future__ import annotations

import threading
import time

import pytest
from kubernetes import client

from tests.kubeapi import KubeApiServer
from tests.kubeapi.helpers import status_of


def test_a_list_not_older_than_a_future_version_waits_then_times_out(
    kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    # As the real watch cache: wait up to 3 s for the version, then 504.
    ns = kubeapi_namespace
    with kubeapi_server.api_client() as api_client:
        core = client.CoreV1Api(api_client)
        ahead = kubeapi_server.resource_version + 1
        writer = threading.Timer(
            0.5,
            kubeapi_server.create,
            [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": ns}}],
        )
        writer.start()
        listed = core.list_namespaced_config_map(ns, resource_version=str(ahead))
        assert int(listed.metadata.resource_version) >= ahead
        assert [cm.metadata.name for cm in listed.items] == ["a"]
        far = kubeapi_server.resource_version + 1000
        started = time.monotonic()
        with pytest.raises(client.ApiException) as err:
            core.list_namespaced_config_map(ns, resource_version=str(far))
        assert time.monotonic() - started >= 2.9
        status = status_of(err.value)
        assert (status["code"], status["reason"]) == (504, "Timeout")
        assert status["message"] == (
            f"Timeout: Too large resource version: {far}, "
            f"current: {kubeapi_server.resource_version}"
        )
        assert status["details"]["causes"] == [
            {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}
        ]
        assert err.value.headers["Retry-After"] == "1"
