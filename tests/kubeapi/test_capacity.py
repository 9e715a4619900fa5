"""Three controllers with long-lived watches and kubectl at once, in bounded memory."""

from __future__ import annotations

import threading

from kubernetes import client

from tests.kubeapi import KubeApiServer
from tests.kubeapi.helpers import WatchThread

CHANGES = 8


def _renew_until(stop: threading.Event, api: client.CoordinationV1Api, identity: str,
                 outcomes: list[str]) -> None:  # fmt: skip
    """Try to take or renew the lease, as leader election does, until told to stop."""
    while not stop.wait(0.02):
        try:
            lease = api.read_namespaced_lease("helloworld-controller-leader", "shipshape")
            lease.spec.holder_identity = identity
            api.replace_namespaced_lease("helloworld-controller-leader", "shipshape", lease)
            outcomes.append("renewed")
        except client.ApiException as err:
            outcomes.append(str(err.status))


def test_three_controllers_and_kubectl_share_the_server(kubectl_for, tmp_path):
    with KubeApiServer(history_size=100, request_log_size=500) as server:
        server.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shipshape"}})
        server.create({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "helloworld-config-test", "namespace": "shipshape",
                                    "labels": {"app": "helloworld", "env": "test"}},
                       "data": {"MESSAGE": "0"}})  # fmt: skip
        server.create({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                       "metadata": {"name": "helloworld-controller-leader",
                                    "namespace": "shipshape"},
                       "spec": {"holderIdentity": "nobody"}})  # fmt: skip
        stop = threading.Event()
        controllers = []
        for i in range(3):
            identity = f"controller-{i}"
            api_client = server.api_client(identity)
            core = client.CoreV1Api(api_client)
            coordination = client.CoordinationV1Api(api_client)
            configmaps = WatchThread(
                core.list_namespaced_config_map, "shipshape", label_selector="app=helloworld"
            )
            leases = WatchThread(coordination.list_namespaced_lease, "shipshape")
            outcomes: list[str] = []
            renewer = threading.Thread(
                target=_renew_until, args=(stop, coordination, identity, outcomes), daemon=True
            )
            renewer.start()
            controllers.append((identity, api_client, configmaps, leases, renewer, outcomes))
        server.wait_for(lambda: server.watch_count() == 6, what="six watches")

        kubectl = kubectl_for(server)
        for n in range(1, CHANGES + 1):
            kubectl("-n", "shipshape", "patch", "configmap", "helloworld-config-test",
                    "--type", "merge", "-p", f'{{"data":{{"MESSAGE":"{n}"}}}}')  # fmt: skip
        assert "helloworld-config-test" in kubectl("-n", "shipshape", "get", "cm").stdout
        stop.set()

        for identity, api_client, configmaps, leases, renewer, outcomes in controllers:
            events = configmaps.take(CHANGES + 1)
            assert [e["type"] for e in events] == ["ADDED"] + ["MODIFIED"] * CHANGES, identity
            assert [e["object"].data["MESSAGE"] for e in events] == [
                str(n) for n in range(CHANGES + 1)]  # fmt: skip
            versions = [int(e["object"].metadata.resource_version) for e in events]
            assert versions == sorted(versions)
            assert leases.next()["type"] == "ADDED"
            renewer.join(10)
            assert "renewed" in outcomes and set(outcomes) <= {"renewed", "409"}, outcomes
            configmaps.stop()
            leases.stop()
            api_client.close()

        # Memory stays bounded however long the run: history, request log, watch queues.
        assert len(server.store.history()) <= 100
        assert len(server.requests()) <= 500
        assert all(w.pending() == 0 for w in server.store.watchers())
        holder = server.get("leases", "helloworld-controller-leader", "shipshape")
        assert holder["spec"]["holderIdentity"] in {"controller-0", "controller-1", "controller-2"}


def test_a_watch_too_slow_to_keep_up_is_cut_not_buffered_forever():
    with KubeApiServer(watch_queue_size=5) as server:
        ns_type = server.resolve("configmaps")
        watcher = server.store.watch(
            ns_type, "default", [], [], resource_version=str(server.resource_version),
            send_initial_events=False, client="slow",
        )  # fmt: skip
        for i in range(10):
            server.create({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": f"c{i}", "namespace": "default"}})  # fmt: skip
        assert watcher.closed == "overflow" and watcher.pending() == 0
        assert server.watch_count(client="slow") == 0
