"""Fault injection, through the Python API and the `/_kubeapi` admin HTTP API."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import urllib3
from kubernetes import client, watch

from tests.kubeapi import KubeApiServer
from tests.kubeapi.helpers import WatchThread, status_of
from tests.kubeapi.process import AdminClient, AdminError


@pytest.fixture
def server(kubeapi_private_server: KubeApiServer) -> KubeApiServer:
    return kubeapi_private_server


@pytest.fixture
def admin_http(server: KubeApiServer) -> AdminClient:
    return AdminClient(server.url, server.admin.token, server.ca_pem)


def _core(server: KubeApiServer, name: str) -> client.CoreV1Api:
    api_client = server.api_client(name)
    # No client-side retries: every request reaches the server exactly once.
    api_client.rest_client.pool_manager.connection_pool_kw["retries"] = False
    return client.CoreV1Api(api_client)


@pytest.fixture
def clients(server: KubeApiServer) -> Iterator[dict[str, client.CoreV1Api]]:
    apis = {name: _core(server, name) for name in ("controller-0", "controller-1")}
    yield apis
    for api in apis.values():
        api.api_client.close()


def _cm(name: str) -> dict:
    return {"metadata": {"name": name}, "data": {"k": "v"}}


def test_fail_next_n_matching_requests(server, clients):
    c0, c1 = clients["controller-0"], clients["controller-1"]
    c0.create_namespaced_config_map("default", _cm("cfg"))
    rule = server.fail(503, count=2, verb="patch", resource="configmaps", client="controller-0")
    for _ in range(2):
        with pytest.raises(client.ApiException) as err:
            c0.patch_namespaced_config_map("cfg", "default", {"data": {"k": "x"}})
        assert (err.value.status, status_of(err.value)["reason"]) == (503, "ServiceUnavailable")
        assert err.value.headers["Retry-After"] == "1"
    c1.read_namespaced_config_map("cfg", "default")  # another client, another verb: untouched
    c0.read_namespaced_config_map("cfg", "default")
    c0.patch_namespaced_config_map("cfg", "default", {"data": {"k": "x"}})
    assert rule.hits == 2 and server.faults.rules() == []


@pytest.mark.parametrize(("status", "reason"), [(500, "InternalError"), (429, "TooManyRequests"),
                                                (409, "Conflict")])  # fmt: skip
def test_injected_errors_carry_the_real_reason(server, clients, status, reason):
    server.fail(status, count=1, resource="configmaps", message="boom")
    with pytest.raises(client.ApiException) as err:
        clients["controller-0"].list_namespaced_config_map("default")
    body = status_of(err.value)
    assert (err.value.status, body["reason"], body["message"]) == (status, reason, "boom")


def test_fail_for_a_while(server, clients):
    c0 = clients["controller-0"]
    server.fail(500, seconds=0.5, client="controller-0")
    with pytest.raises(client.ApiException):
        c0.list_namespaced_config_map("default")

    def recovered() -> bool:
        try:
            c0.list_namespaced_config_map("default")
        except client.ApiException:
            return False
        return True

    server.wait_for(recovered, timeout=10, what="the fault to expire")


def test_latency_delays_matching_requests(server, clients):
    server.add_latency(0.3, count=1, verb="list", client="controller-0")
    started = time.monotonic()
    clients["controller-0"].list_namespaced_config_map("default")
    assert time.monotonic() - started >= 0.3


def test_the_request_log_stamps_a_request_when_it_arrives(server, clients):
    # A delayed request is logged at its arrival: a test that reads the log
    # for requests "after" some moment must not count one whose effect was
    # visible before it (the delay is served before the request's work).
    server.add_latency(0.3, count=1, verb="list", client="controller-0")
    before = time.time()
    clients["controller-0"].list_namespaced_config_map("default")
    after = time.time()
    # The entry is written once the answer is sent: it may come just after it.
    [logged] = server.wait_for(
        lambda: server.requests(client="controller-0", verb="list"), what="the list logged"
    )
    assert before <= logged.at
    assert logged.duration >= 0.3
    assert logged.at + logged.duration <= after


def test_clearing_the_request_log_drops_requests_still_being_answered(server, clients):
    # The log entry is written after the answer: a client that has its answer,
    # then clears the log, must not find that request logged after the clear.
    delay = server.add_latency(0.5, count=1, verb="list", client="controller-0")
    slow = threading.Thread(
        target=clients["controller-0"].list_namespaced_config_map, args=("default",)
    )
    slow.start()
    server.wait_for(lambda: delay.hits == 1, what="the request to be waiting out its latency")
    server.clear_requests()
    slow.join(10)
    clients["controller-1"].list_namespaced_config_map("default")
    # Its entry too is written after its answer: wait for it, then see that
    # it is the only one.
    server.wait_for(lambda: server.requests(client="controller-1"), what="controller-1 logged")
    assert [(r.client, r.verb) for r in server.requests()] == [("controller-1", "list")]


def test_cut_watches_ends_streams_cleanly_or_abruptly(server, clients):
    c0, c1 = clients["controller-0"], clients["controller-1"]
    w0 = WatchThread(c0.list_namespaced_config_map, "default", resource_version="1")
    w1 = WatchThread(c1.list_namespaced_config_map, "default", resource_version="1")
    server.wait_for(lambda: server.watch_count() == 2)
    assert server.cut_watches(client="controller-0") == 1
    # The Python client restarts a cleanly ended watch from its last resourceVersion.
    server.wait_for(
        lambda: (
            len(server.requests(client="controller-0", verb="watch")) == 1
            and server.watch_count(client="controller-0") == 1
        )
    )
    assert w0.error is None
    assert server.cut_watches(client="controller-1", abrupt=True) == 1
    assert w1.done.wait(10)
    assert isinstance(w1.error, urllib3.exceptions.ProtocolError)
    w0.stop()


def test_partition_cuts_one_client_off_for_a_while(server, clients):
    c0, c1 = clients["controller-0"], clients["controller-1"]
    w0 = WatchThread(c0.list_namespaced_config_map, "default", resource_version="1")
    server.wait_for(lambda: server.watch_count(client="controller-0") == 1)
    server.partition("controller-0", seconds=0.5)
    assert w0.done.wait(10) and w0.error is not None
    with pytest.raises(urllib3.exceptions.HTTPError):
        c0.list_namespaced_config_map("default")
    c1.list_namespaced_config_map("default")
    assert [r.status for r in server.requests(client="controller-0", verb="list")] == [0]

    def healed() -> bool:
        try:
            c0.list_namespaced_config_map("default")
        except urllib3.exceptions.HTTPError:
            return False
        return True

    server.wait_for(healed, timeout=10, what="the partition to end")


def test_hanging_partition_holds_requests_until_it_ends(server, clients):
    server.partition("controller-0", seconds=0.3, mode="hang")
    started = time.monotonic()
    with pytest.raises(urllib3.exceptions.HTTPError):
        clients["controller-0"].list_namespaced_config_map("default")
    assert time.monotonic() - started >= 0.3


def test_compact_makes_old_watches_410(server, clients):
    c0 = clients["controller-0"]
    rv = c0.list_namespaced_config_map("default").metadata.resource_version
    c0.create_namespaced_config_map("default", _cm("x"))
    assert server.compact() == server.resource_version
    with pytest.raises(client.ApiException) as err:
        list(watch.Watch().stream(c0.list_namespaced_config_map, "default",
                                  resource_version=rv, timeout_seconds=1))  # fmt: skip
    assert err.value.status == 410


def test_deny_is_an_rbac_403(server, clients):
    server.deny(client="controller-1", verb=["create", "update"], resource="leases")
    coordination = client.CoordinationV1Api(clients["controller-1"].api_client)
    with pytest.raises(client.ApiException) as err:
        coordination.create_namespaced_lease("default", {"metadata": {"name": "l"}})
    status = status_of(err.value)
    assert (err.value.status, status["reason"]) == (403, "Forbidden")
    assert status["message"] == (
        'leases.coordination.k8s.io is forbidden: User "controller-1" cannot create resource '
        '"leases" in API group "coordination.k8s.io" in the namespace "default"'
    )
    coordination.list_namespaced_lease("default")


def test_admin_http_api_drives_the_same_faults(server, admin_http, clients, tmp_path):
    c0 = clients["controller-0"]
    rule = admin_http.fail(500, verb="list", client="controller-0", count=1)
    assert admin_http.faults()[0]["id"] == rule["id"]
    with pytest.raises(client.ApiException) as err:
        c0.list_namespaced_config_map("default")
    assert err.value.status == 500
    admin_http.deny(verb="get", resource="secrets")
    with pytest.raises(client.ApiException) as err:
        c0.read_namespaced_secret("s", "default")
    assert err.value.status == 403
    admin_http.clear_faults()
    assert admin_http.faults() == []

    kubeconfig = admin_http.write_kubeconfig(tmp_path / "kc", "controller-2", namespace="default")
    assert "controller-2" in kubeconfig.read_text()
    assert server.clients.get("controller-2") is not None

    w0 = WatchThread(c0.list_namespaced_config_map, "default", resource_version="1")
    server.wait_for(lambda: server.watch_count(client="controller-0") == 1)
    assert admin_http.watches() == [
        {"client": "controller-0", "resource": "configmaps", "namespace": "default"}]  # fmt: skip
    assert admin_http.cut_watches(client="controller-0", abrupt=True) == 1
    assert w0.done.wait(10)

    admin_http.partition("controller-0", 0.2)
    with pytest.raises(urllib3.exceptions.HTTPError):
        c0.list_namespaced_config_map("default")
    assert admin_http.compact() == server.resource_version
    assert admin_http.settings(rolloutDelay=None)["rolloutDelay"] is None
    assert server.rollout_delay is None
    assert admin_http.requests(client="controller-0", verb="list")[0]["status"] == 500
    with pytest.raises(AdminError, match="unknown fault fields"):
        admin_http.request("POST", "faults", {"kind": "error", "status": 500, "bogus": 1})


def test_admin_api_needs_an_admin_token(server):
    outsider = AdminClient(server.url, server.add_client("controller-0").token, server.ca_pem)
    with pytest.raises(AdminError, match="403"):
        outsider.faults()


def test_a_lost_response_leaves_the_write_stored_and_the_client_unanswered(server, clients):
    c0 = clients["controller-0"]
    c0.create_namespaced_config_map("default", _cm("cfg"))
    rule = server.lose_response(
        count=1, verb="update", resource="configmaps", client="controller-0"
    )
    current = c0.read_namespaced_config_map("cfg", "default")
    current.data = {"k": "stored"}
    with pytest.raises(urllib3.exceptions.HTTPError):
        c0.replace_namespaced_config_map("cfg", "default", current)
    # The server did the write; only its answer was lost.
    stored = server.get("configmaps", "cfg", "default")
    assert stored["data"] == {"k": "stored"}
    assert stored["metadata"]["resourceVersion"] != current.metadata.resource_version
    # Logged once the handler is done, which may be just after the client saw the reset.
    (logged,) = server.wait_for(
        lambda: server.requests(client="controller-0", verb="update"), what="the request logged"
    )
    assert logged.status == 200
    # The next request, on a new connection, is answered.
    assert c0.read_namespaced_config_map("cfg", "default").data == {"k": "stored"}
    assert rule.hits == 1 and server.faults.rules() == []


def test_a_lost_response_fault_through_the_admin_api(server, admin_http, clients):
    rule = admin_http.request("POST", "/faults", {"kind": "lose", "verb": "create"})
    assert (rule["kind"], rule["verbs"]) == ("lose", ["create"])
    with pytest.raises(urllib3.exceptions.HTTPError):
        clients["controller-1"].create_namespaced_config_map("default", _cm("made"))
    assert server.get("configmaps", "made", "default") is not None
