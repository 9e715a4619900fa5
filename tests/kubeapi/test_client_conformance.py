"""Conformance of the test server with the real `kubernetes` Python client over HTTPS."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from kubernetes import client, watch

from tests.kubeapi import KubeApiServer
from tests.kubeapi.helpers import WatchThread, drain, status_of


@pytest.fixture
def api(kubeapi_server: KubeApiServer) -> Iterator[client.ApiClient]:
    with kubeapi_server.api_client() as api_client:
        yield api_client


@pytest.fixture
def core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


def _cm(name: str, labels: dict[str, str] | None = None, **data: str) -> dict:
    return {"metadata": {"name": name, "labels": labels or {}}, "data": data}


def test_list_then_watch_resumes_exactly_after_the_list(core, kubeapi_namespace):
    ns = kubeapi_namespace
    core.create_namespaced_config_map(ns, _cm("a", x="1"))
    listed = core.list_namespaced_config_map(ns)
    assert [i.metadata.name for i in listed.items] == ["a"]
    core.create_namespaced_config_map(ns, _cm("b", x="1"))
    core.patch_namespaced_config_map("a", ns, {"data": {"x": "2"}})
    core.delete_namespaced_config_map("b", ns)

    stream = watch.Watch().stream(
        core.list_namespaced_config_map, ns,
        resource_version=listed.metadata.resource_version, timeout_seconds=1,
    )  # fmt: skip
    events = [(e["type"], e["object"].metadata.name) for e in stream]
    assert events == [("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]

    # Resuming from the last event's resourceVersion replays nothing.
    last = core.list_namespaced_config_map(ns).metadata.resource_version
    assert (
        drain(
            watch.Watch().stream(
                core.list_namespaced_config_map, ns, resource_version=last, timeout_seconds=1
            )
        )
        == []
    )


def test_resource_versions_are_one_global_increasing_counter(core, kubeapi_namespace):
    ns = kubeapi_namespace
    first = core.create_namespaced_config_map(ns, _cm("one"))
    secret = core.create_namespaced_secret(
        ns, {"metadata": {"name": "s"}, "stringData": {"k": "v"}}
    )
    second = core.patch_namespaced_config_map("one", ns, {"data": {"k": "v"}})
    versions = [int(o.metadata.resource_version) for o in (first, secret, second)]
    assert versions == sorted(versions) and len(set(versions)) == 3
    assert first.metadata.uid == second.metadata.uid
    assert first.metadata.creation_timestamp is not None
    assert secret.type == "Opaque" and secret.data == {"k": "dg=="}


def test_watch_without_resource_version_starts_with_the_current_state(core, kubeapi_namespace):
    ns = kubeapi_namespace
    core.create_namespaced_config_map(ns, _cm("present"))
    events = drain(watch.Watch().stream(core.list_namespaced_config_map, ns, timeout_seconds=1))
    assert [(e["type"], e["object"].metadata.name) for e in events] == [("ADDED", "present")]


def test_selectors_filter_lists_and_watches(core, kubeapi_namespace):
    ns = kubeapi_namespace
    core.create_namespaced_config_map(ns, _cm("web-test", {"app": "web", "env": "test"}))
    core.create_namespaced_config_map(ns, _cm("web-prod", {"app": "web", "env": "prod"}))
    core.create_namespaced_config_map(ns, _cm("db", {"app": "db"}))
    names = lambda result: sorted(i.metadata.name for i in result.items)  # noqa: E731
    assert names(core.list_namespaced_config_map(ns, label_selector="app=web")) == [
        "web-prod", "web-test"]  # fmt: skip
    assert names(core.list_namespaced_config_map(ns, label_selector="env in (prod),app")) == [
        "web-prod"]  # fmt: skip
    assert names(core.list_namespaced_config_map(ns, label_selector="!env")) == ["db"]
    assert names(core.list_namespaced_config_map(ns, field_selector="metadata.name=db")) == ["db"]
    with pytest.raises(client.ApiException) as err:
        core.list_namespaced_config_map(ns, field_selector="data.x=1")
    assert err.value.status == 400

    # An object leaving a watch's selector is DELETED for that watch; one joining, ADDED.
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    core.patch_namespaced_config_map("web-test", ns, {"metadata": {"labels": {"app": "old"}}})
    core.patch_namespaced_config_map("db", ns, {"metadata": {"labels": {"app": "web"}}})
    events = drain(
        watch.Watch().stream(
            core.list_namespaced_config_map, ns, label_selector="app=web",
            resource_version=rv, timeout_seconds=1,
        )
    )  # fmt: skip
    assert [(e["type"], e["object"].metadata.name) for e in events] == [
        ("DELETED", "web-test"), ("ADDED", "db")]  # fmt: skip


def test_watch_sends_bookmarks_when_allowed(kubeapi_private_server):
    kubeapi_private_server.bookmark_interval = 0.1
    with kubeapi_private_server.api_client() as api_client:
        core = client.CoreV1Api(api_client)
        core.create_namespaced_config_map("default", _cm("x"))
        rv = core.list_namespaced_config_map("default").metadata.resource_version
        events = drain(
            watch.Watch().stream(
                core.list_namespaced_config_map, "default", resource_version=rv,
                allow_watch_bookmarks=True, timeout_seconds=1,
            )
        )  # fmt: skip
        bookmarks = [e for e in events if e["type"] == "BOOKMARK"]
        assert bookmarks, events
        assert int(bookmarks[-1]["raw_object"]["metadata"]["resourceVersion"]) >= int(rv)
        without = drain(
            watch.Watch().stream(
                core.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=1
            )
        )
        assert without == []


def test_send_initial_events_ends_with_an_annotated_bookmark(core, kubeapi_namespace):
    ns = kubeapi_namespace
    core.create_namespaced_config_map(ns, _cm("a"))
    events = drain(
        watch.Watch().stream(
            core.list_namespaced_config_map, ns, send_initial_events=True,
            resource_version_match="NotOlderThan", allow_watch_bookmarks=True, timeout_seconds=1,
        )
    )  # fmt: skip
    assert [e["type"] for e in events][:2] == ["ADDED", "BOOKMARK"]
    annotations = events[1]["raw_object"]["metadata"]["annotations"]
    assert annotations == {"k8s.io/initial-events-end": "true"}


def test_list_options_the_real_server_refuses_are_422(core, kubeapi_namespace):
    refused = (
        ({"resource_version_match": "NotOlderThan"}, "resourceVersionMatch is forbidden unless"),
        ({"send_initial_events": True}, "sendInitialEvents is forbidden for list"),
        ({"watch": True, "send_initial_events": True}, "sendInitialEvents requires setting"),
    )
    for options, why in refused:
        with pytest.raises(client.ApiException) as err:
            core.list_namespaced_config_map(kubeapi_namespace, **options)
        status = status_of(err.value)
        assert status["code"] == 422 and status["details"]["kind"] == "ListOptions"
        assert status["message"].startswith('ListOptions.meta.k8s.io "" is invalid: ')
        assert why in status["message"]


def test_too_old_resource_version_gets_410_after_compaction(kubeapi_private_server):
    with kubeapi_private_server.api_client() as api_client:
        core = client.CoreV1Api(api_client)
        old = core.list_namespaced_config_map("default").metadata.resource_version
        core.create_namespaced_config_map("default", _cm("x"))
        kubeapi_private_server.compact()
        with pytest.raises(client.ApiException) as err:
            drain(
                watch.Watch().stream(
                    core.list_namespaced_config_map, "default", resource_version=old,
                    timeout_seconds=1,
                )
            )  # fmt: skip
        assert err.value.status == 410
        assert "Expired" in err.value.reason
        # A list at an exact resourceVersion the history no longer holds is 410 too.
        with pytest.raises(client.ApiException) as err:
            core.list_namespaced_config_map(
                "default", resource_version=old, resource_version_match="Exact"
            )
        assert err.value.status == 410


def test_history_is_bounded_and_old_versions_expire():
    with KubeApiServer(history_size=20) as server, server.api_client() as api_client:
        core = client.CoreV1Api(api_client)
        start = core.list_namespaced_config_map("default").metadata.resource_version
        for i in range(30):
            core.create_namespaced_config_map("default", _cm(f"c{i}"))
        assert len(server.store.history()) == 20
        with pytest.raises(client.ApiException) as err:
            drain(
                watch.Watch().stream(
                    core.list_namespaced_config_map, "default", resource_version=start,
                    timeout_seconds=1,
                )
            )  # fmt: skip
        assert err.value.status == 410
        recent = str(server.resource_version - 5)
        events = drain(
            watch.Watch().stream(
                core.list_namespaced_config_map, "default", resource_version=recent,
                timeout_seconds=1,
            )
        )  # fmt: skip
        assert [e["object"].metadata.name for e in events] == [f"c{i}" for i in range(25, 30)]


def test_paged_list_is_a_consistent_snapshot(core, kubeapi_namespace):
    ns = kubeapi_namespace
    for name in ("a", "b", "c", "d"):
        core.create_namespaced_config_map(ns, _cm(name))
    page = core.list_namespaced_config_map(ns, limit=2)
    assert [i.metadata.name for i in page.items] == ["a", "b"]
    assert page.metadata.remaining_item_count == 2
    core.delete_namespaced_config_map("c", ns)
    core.create_namespaced_config_map(ns, _cm("e"))
    rest = core.list_namespaced_config_map(ns, limit=5, _continue=page.metadata._continue)
    assert [i.metadata.name for i in rest.items] == ["c", "d"]
    assert rest.metadata.resource_version == page.metadata.resource_version


def test_create_collision_is_409_already_exists(core, kubeapi_namespace):
    core.create_namespaced_config_map(kubeapi_namespace, _cm("dup"))
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_config_map(kubeapi_namespace, _cm("dup"))
    status = status_of(err.value)
    assert (err.value.status, status["reason"]) == (409, "AlreadyExists")
    assert status["details"] == {"name": "dup", "kind": "configmaps"}
    assert status["message"] == 'configmaps "dup" already exists'


def test_stale_update_is_409_conflict(core, kubeapi_namespace):
    ns = kubeapi_namespace
    original = core.create_namespaced_config_map(ns, _cm("cfg", x="1"))
    core.patch_namespaced_config_map("cfg", ns, {"data": {"x": "2"}})
    original.data = {"x": "3"}
    with pytest.raises(client.ApiException) as err:
        core.replace_namespaced_config_map("cfg", ns, original)
    status = status_of(err.value)
    assert (err.value.status, status["reason"]) == (409, "Conflict")
    assert "the object has been modified" in status["message"]
    # A patch carrying a stale resourceVersion is refused the same way.
    with pytest.raises(client.ApiException) as err:
        core.patch_namespaced_config_map(
            "cfg", ns, {"metadata": {"resourceVersion": original.metadata.resource_version}}
        )
    assert err.value.status == 409
    assert core.read_namespaced_config_map("cfg", ns).data == {"x": "2"}


def test_missing_objects_and_namespaces_are_404_status(core, kubeapi_namespace):
    with pytest.raises(client.ApiException) as err:
        core.read_namespaced_config_map("nope", kubeapi_namespace)
    status = status_of(err.value)
    assert status["kind"] == "Status" and status["reason"] == "NotFound"
    assert status["message"] == 'configmaps "nope" not found'
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_config_map("no-such-namespace", _cm("x"))
    assert status_of(err.value)["message"] == 'namespaces "no-such-namespace" not found'
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_config_map(kubeapi_namespace, _cm("Bad_Name"))
    assert (err.value.status, status_of(err.value)["reason"]) == (422, "Invalid")


def _deployment(name: str, image: str = "web:1") -> dict:
    labels = {"app": name}
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {"name": "app", "image": image, "env": [{"name": "A", "value": "1"}]},
                        {"name": "sidecar", "image": "proxy:1"},
                    ]
                },
            },
        },
    }


def test_patch_types_merge_strategic_and_json(api, kubeapi_namespace):
    apps = client.AppsV1Api(api)
    ns = kubeapi_namespace
    apps.create_namespaced_deployment(ns, _deployment("web"))
    # Strategic merge: containers and env merge by name.
    apps.patch_namespaced_deployment(
        "web", ns,
        {"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "web:2", "env": [{"name": "B", "value": "2"}]}]}}}},
    )  # fmt: skip
    containers = apps.read_namespaced_deployment("web", ns).spec.template.spec.containers
    assert [(c.name, c.image) for c in containers] == [("app", "web:2"), ("sidecar", "proxy:1")]
    assert [(e.name, e.value) for e in containers[0].env] == [("A", "1"), ("B", "2")]
    # JSON merge patch replaces lists wholesale.
    apps.patch_namespaced_deployment(
        "web", ns,
        {"spec": {"template": {"spec": {"containers": [{"name": "only", "image": "x"}]}}}},
        _content_type="application/merge-patch+json",
    )  # fmt: skip
    containers = apps.read_namespaced_deployment("web", ns).spec.template.spec.containers
    assert [c.name for c in containers] == ["only"]
    # JSON patch: operations, and a failed test is 422.
    apps.patch_namespaced_deployment(
        "web", ns, [{"op": "replace", "path": "/spec/replicas", "value": 3}]
    )
    assert apps.read_namespaced_deployment("web", ns).spec.replicas == 3
    with pytest.raises(client.ApiException) as err:
        apps.patch_namespaced_deployment(
            "web", ns, [{"op": "test", "path": "/spec/replicas", "value": 9}]
        )
    assert err.value.status == 422


def test_strategic_merge_patch_of_a_custom_kind_is_415(api, kubeapi_namespace):
    custom = client.CustomObjectsApi(api)
    args = ("networking.istio.io", "v1", kubeapi_namespace, "virtualservices")
    custom.create_namespaced_custom_object(
        *args, {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                "metadata": {"name": "vs"}, "spec": {"hosts": ["a"]}},
    )  # fmt: skip
    patched = custom.patch_namespaced_custom_object(*args, "vs", {"spec": {"gateways": ["gw"]}})
    assert patched["spec"] == {"hosts": ["a"], "gateways": ["gw"]}
    # Stored once, served under every version of its group.
    old = custom.get_namespaced_custom_object(
        "networking.istio.io", "v1alpha3", kubeapi_namespace, "virtualservices", "vs"
    )
    assert old["apiVersion"] == "networking.istio.io/v1alpha3" and old["spec"] == patched["spec"]
    with pytest.raises(client.ApiException) as err:
        custom.patch_namespaced_custom_object(
            *args, "vs", {"spec": {}}, _content_type="application/strategic-merge-patch+json"
        )
    assert (err.value.status, status_of(err.value)["reason"]) == (415, "UnsupportedMediaType")


def test_generation_follows_spec_changes_and_status_is_a_subresource(
    api, kubeapi_namespace, kubeapi_server
):
    apps = client.AppsV1Api(api)
    ns = kubeapi_namespace
    created = apps.create_namespaced_deployment(ns, _deployment("gen"))
    assert created.metadata.generation == 1
    labelled = apps.patch_namespaced_deployment("gen", ns, {"metadata": {"labels": {"x": "y"}}})
    assert labelled.metadata.generation == 1
    scaled = apps.patch_namespaced_deployment("gen", ns, {"spec": {"replicas": 5}})
    assert scaled.metadata.generation == 2
    # The server's rollout writes status until the scale-up is done: let it
    # finish, so that the status written below is the only writer's.
    kubeapi_server.wait_for_rollout("gen", ns)
    # Writing status through the main resource is ignored; /status writes only status.
    apps.patch_namespaced_deployment("gen", ns, {"status": {"replicas": 42}})
    assert (apps.read_namespaced_deployment("gen", ns).status.replicas or 0) != 42
    apps.patch_namespaced_deployment_status(
        "gen", ns, {"status": {"replicas": 42}, "spec": {"replicas": 9}}
    )
    after = apps.read_namespaced_deployment("gen", ns)
    assert after.status.replicas == 42 and after.spec.replicas == 5


def test_deployment_rolls_out_and_keeps_template_revisions(kubeapi_server, api, kubeapi_namespace):
    apps = client.AppsV1Api(api)
    ns = kubeapi_namespace
    apps.create_namespaced_deployment(ns, _deployment("roll"))
    kubeapi_server.wait_for_rollout("roll", ns)
    apps.patch_namespaced_deployment(
        "roll", ns,
        {"spec": {"template": {"metadata": {"annotations": {"shipshape.io/config-hash": "abc"}}}}},
    )  # fmt: skip
    done = kubeapi_server.wait_for_rollout("roll", ns)
    assert done["status"]["updatedReplicas"] == done["status"]["availableReplicas"] == 2
    # On the way, the status observed generation 2 before any replica was updated.
    statuses = [
        e.obj.get("status", {})
        for e in kubeapi_server.events("deployments", ns)
        if e.obj.get("status", {}).get("observedGeneration") == 2
    ]
    assert statuses[0].get("updatedReplicas", 0) == 0
    assert statuses[-1]["updatedReplicas"] == 2
    assert done["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    revisions = kubeapi_server.revisions("roll", ns)
    assert [r.number for r in revisions] == [1, 2]
    assert revisions[1].annotations == {"shipshape.io/config-hash": "abc"}
    assert revisions[1].actor == "admin"
    # A change outside the pod template is no new revision.
    apps.patch_namespaced_deployment("roll", ns, {"spec": {"replicas": 3}})
    assert len(kubeapi_server.revisions("roll", ns)) == 2


def test_lease_create_race_has_exactly_one_winner(kubeapi_server, kubeapi_namespace):
    ns = kubeapi_namespace
    results: list[str] = []
    barrier = threading.Barrier(6)

    def contend(identity: str) -> None:
        with kubeapi_server.api_client(identity) as api_client:
            coordination = client.CoordinationV1Api(api_client)
            lease = {"metadata": {"name": "leader"},
                     "spec": {"holderIdentity": identity, "leaseDurationSeconds": 15}}  # fmt: skip
            barrier.wait()
            try:
                coordination.create_namespaced_lease(ns, lease)
                results.append("created")
            except client.ApiException as err:
                results.append(status_of(err)["reason"])

    threads = [threading.Thread(target=contend, args=(f"r{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == ["AlreadyExists"] * 5 + ["created"]


def test_lease_update_race_is_optimistic(kubeapi_server, kubeapi_namespace):
    ns = kubeapi_namespace
    with kubeapi_server.api_client() as api_client:
        client.CoordinationV1Api(api_client).create_namespaced_lease(
            ns, {"metadata": {"name": "leader"}, "spec": {"holderIdentity": "old"}}
        )
    results: dict[str, str] = {}
    barrier = threading.Barrier(5)

    def take_over(identity: str) -> None:
        with kubeapi_server.api_client(identity) as api_client:
            coordination = client.CoordinationV1Api(api_client)
            lease = coordination.read_namespaced_lease("leader", ns)
            barrier.wait()
            lease.spec.holder_identity = identity
            lease.spec.lease_transitions = (lease.spec.lease_transitions or 0) + 1
            try:
                coordination.replace_namespaced_lease("leader", ns, lease)
                results[identity] = "won"
            except client.ApiException as err:
                results[identity] = status_of(err)["reason"]

    threads = [threading.Thread(target=take_over, args=(f"r{i}",)) for i in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    winners = [k for k, v in results.items() if v == "won"]
    assert len(winners) == 1 and sorted(results.values()).count("Conflict") == 4
    assert kubeapi_server.get("leases", "leader", ns)["spec"] == {
        "holderIdentity": winners[0], "leaseTransitions": 1}  # fmt: skip


def test_a_lease_put_needs_its_version_and_creates_a_missing_lease(
    kubeapi_server, kubeapi_namespace
):
    # As the real Lease registry: no unconditional update, but create on update.
    ns = kubeapi_namespace
    with kubeapi_server.api_client() as api_client:
        leases = client.CoordinationV1Api(api_client)
        leases.create_namespaced_lease(ns, {"metadata": {"name": "leader"}, "spec": {}})
        blind = {"metadata": {"name": "leader"}, "spec": {"holderIdentity": "me"}}
        with pytest.raises(client.ApiException) as err:
            leases.replace_namespaced_lease("leader", ns, blind)
        assert status_of(err.value)["code"] == 422
        assert status_of(err.value)["message"] == (
            'leases.coordination.k8s.io "leader" is invalid: metadata.resourceVersion: '
            "Invalid value: 0x0: must be specified for an update"
        )
        assert "holderIdentity" not in kubeapi_server.get("leases", "leader", ns)["spec"]
        gone = {
            "metadata": {"name": "gone", "resourceVersion": "1"},
            "spec": {"holderIdentity": "me"},
        }
        _, code, _ = leases.replace_namespaced_lease_with_http_info("gone", ns, gone)
        assert code == 201
        assert kubeapi_server.get("leases", "gone", ns)["spec"] == {"holderIdentity": "me"}
        vs = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
              "metadata": {"name": "vs"}, "spec": {"hosts": ["a"]}}  # fmt: skip
        custom = client.CustomObjectsApi(api_client)
        args = ("networking.istio.io", "v1", ns, "virtualservices")
        custom.create_namespaced_custom_object(*args, vs)
        with pytest.raises(client.ApiException) as err:
            custom.replace_namespaced_custom_object(*args, "vs", vs)
        assert status_of(err.value)["details"]["causes"][0]["field"] == "metadata.resourceVersion"
    # Creating by PUT also needs `create`: the real handler asks the authorizer again.
    kubeapi_server.create({"apiVersion": "v1", "kind": "ServiceAccount",
                           "metadata": {"name": "elector", "namespace": ns}})  # fmt: skip
    for kind, rules in (
        ("Role", [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                   "verbs": ["update"]}]),
        ("RoleBinding", None),
    ):  # fmt: skip
        obj = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
               "metadata": {"name": "elector", "namespace": ns}}  # fmt: skip
        if rules:
            obj["rules"] = rules
        else:
            obj["roleRef"] = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                              "name": "elector"}  # fmt: skip
            obj["subjects"] = [{"kind": "ServiceAccount", "name": "elector", "namespace": ns}]
        kubeapi_server.create(obj)
    kubeapi_server.add_client("elector", service_account=f"{ns}/elector")
    with kubeapi_server.api_client("elector") as api_client:
        leases = client.CoordinationV1Api(api_client)
        other = {"metadata": {"name": "other"}, "spec": {"holderIdentity": "me"}}
        with pytest.raises(client.ApiException) as err:
            leases.replace_namespaced_lease("other", ns, other)
        assert status_of(err.value)["code"] == 403
        assert status_of(err.value)["message"].startswith(
            'leases.coordination.k8s.io "other" is forbidden:'
        )
    assert kubeapi_server.get("leases", "other", ns) is None


def test_dry_run_takes_only_all(kubeapi_server, core, kubeapi_namespace):
    # dry_run="true" is a common slip: a real server refuses it, it never writes.
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_config_map(kubeapi_namespace, _cm("dry"), dry_run="true")
    assert status_of(err.value)["code"] == 422
    assert status_of(err.value)["message"] == (
        'CreateOptions.meta.k8s.io "" is invalid: dryRun: '
        'Unsupported value: []string{"true"}: supported values: "All"'
    )
    assert kubeapi_server.get("configmaps", "dry", kubeapi_namespace) is None
    core.create_namespaced_config_map(kubeapi_namespace, _cm("dry"), dry_run="All")
    assert kubeapi_server.get("configmaps", "dry", kubeapi_namespace) is None
    core.create_namespaced_config_map(kubeapi_namespace, _cm("dry", A="1"))
    with pytest.raises(client.ApiException) as err:
        core.patch_namespaced_config_map(
            "dry", kubeapi_namespace, {"data": {"A": "2"}}, dry_run="1"
        )
    assert status_of(err.value)["details"]["kind"] == "PatchOptions"
    assert kubeapi_server.get("configmaps", "dry", kubeapi_namespace)["data"] == {"A": "1"}


def test_namespace_deletion_removes_what_it_held(kubeapi_server, core):
    core.create_namespace({"metadata": {"name": "doomed"}})
    core.create_namespaced_config_map("doomed", _cm("a"))
    rv = core.list_config_map_for_all_namespaces().metadata.resource_version
    deleted = core.delete_namespace("doomed")
    # As the real server does, the answer is the namespace, now terminating.
    assert deleted["status"] == {"phase": "Terminating"}
    assert deleted["metadata"]["deletionTimestamp"]
    events = drain(
        watch.Watch().stream(
            core.list_config_map_for_all_namespaces, resource_version=rv, timeout_seconds=1
        )
    )
    assert [(e["type"], e["object"].metadata.name) for e in events] == [("DELETED", "a")]
    assert kubeapi_server.get("namespaces", "doomed") is None
    with pytest.raises(client.ApiException) as err:
        core.read_namespaced_config_map("a", "doomed")
    assert err.value.status == 404


def test_finalizers_hold_deletion_until_removed(core, kubeapi_namespace):
    ns = kubeapi_namespace
    core.create_namespaced_config_map(
        ns, {"metadata": {"name": "held", "finalizers": ["example.com/keep"]}}
    )
    core.delete_namespaced_config_map("held", ns)
    held = core.read_namespaced_config_map("held", ns)
    assert held.metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map(
        "held", ns, {"metadata": {"finalizers": None}}, _content_type="application/merge-patch+json"
    )
    with pytest.raises(client.ApiException) as err:
        core.read_namespaced_config_map("held", ns)
    assert err.value.status == 404


def test_requests_without_the_token_are_401(kubeapi_server):
    configuration = client.Configuration()
    configuration.host = kubeapi_server.url
    configuration.ssl_ca_cert = str(kubeapi_server.ca_file)
    with client.ApiClient(configuration) as anonymous:
        with pytest.raises(client.ApiException) as err:
            client.CoreV1Api(anonymous).list_namespace()
        assert (err.value.status, status_of(err.value)["reason"]) == (401, "Unauthorized")
        assert client.VersionApi(anonymous).get_code().major == "1"


def test_watch_stream_in_a_thread_sees_changes_live(core, kubeapi_namespace):
    ns = kubeapi_namespace
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    stream = WatchThread(core.list_namespaced_config_map, ns, resource_version=rv)
    try:
        core.create_namespaced_config_map(ns, _cm("live"))
        event = stream.next()
        assert (event["type"], event["object"].metadata.name) == ("ADDED", "live")
    finally:
        stream.stop()
