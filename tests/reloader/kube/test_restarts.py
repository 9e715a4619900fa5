"""The restart and adoption patches, the restart's Event and error classification, over HTTP."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from kubernetes.client.exceptions import ApiException

from reloader.core import PatchAdopt, PatchRestart, WarnWorkload
from reloader.kube.client import make_api_client
from reloader.kube.errors import classify
from reloader.kube.restarts import DeploymentPatcher, is_refused
from reloader.kube.views import configmap_view, deployment_view
from tests.kubeapi import KubeApiServer
from tests.reloader.e2e.harness import NS, configmap, deployment, ensure_namespace, wait_for

HASH = "ab" * 32
NOW = datetime(2026, 11, 26, 10, 0, 0, tzinfo=UTC)


@pytest.fixture
def kube(kubeapi_private_server: KubeApiServer) -> KubeApiServer:
    ensure_namespace(kubeapi_private_server)
    kubeapi_private_server.create(deployment("helloworld-test", "test", replicas=2))
    return kubeapi_private_server


@pytest.fixture
def patcher(kube, tmp_path):
    kube.add_client("controller")
    api = make_api_client(str(kube.write_kubeconfig(tmp_path / "kc", "controller", NS)))
    return DeploymentPatcher(api, NS, "helloworld-controller-0")


def restart_action(deployment_name="helloworld-test") -> PatchRestart:
    return PatchRestart(
        deployment_name, "helloworld-config-test", "c0ffee00-0000-5000-8000-000000000001", HASH, 1
    )


def test_the_restart_patch_rolls_the_pods_and_records_the_applied_hash(kube, patcher):
    patched = patcher.restart(restart_action(), NOW)
    assert patched["metadata"]["generation"] == 2
    annotations = patched["metadata"]["annotations"]
    assert annotations["shipshape.io/config-hash"] == HASH
    assert annotations["shipshape.io/configmap"] == "helloworld-config-test"
    assert annotations["shipshape.io/correlation-id"] == "c0ffee00-0000-5000-8000-000000000001"
    revisions = kube.revisions("helloworld-test", NS)
    assert len(revisions) == 2
    assert revisions[-1].annotations == {
        "shipshape.io/restarted-at": "2026-11-26T10:00:00Z",
        "shipshape.io/config-hash": HASH,
    }
    rolled = wait_for(
        lambda: (
            (d := kube.get("deployments", "helloworld-test", NS))
            and d["status"].get("observedGeneration") == 2
            and d["status"].get("updatedReplicas") == 2
            and d
        ),
        "the rollout",
    )
    view = deployment_view(rolled)
    assert view.applied_hash == HASH and view.rollout.available_replicas == 2


def test_adoption_annotates_the_deployment_without_rolling_it(kube, patcher):
    patcher.adopt(PatchAdopt("helloworld-test", "c0ffee00-0000-5000-8000-000000000001", HASH))
    current = kube.get("deployments", "helloworld-test", NS)
    assert current["metadata"]["annotations"]["shipshape.io/config-hash"] == HASH
    # A real API server raises a Deployment's generation for its annotations
    # too (not a StatefulSet's or DaemonSet's); the pods do not roll.
    assert current["metadata"]["generation"] == 2
    assert len(kube.revisions("helloworld-test", NS)) == 1


def test_each_restart_gets_an_event_on_the_deployment(kube, patcher):
    patched = patcher.restart(restart_action(), NOW)
    patcher.record_event(restart_action(), patched, NOW)
    [event] = kube.list("events", namespace=NS)
    assert event["involvedObject"]["kind"] == "Deployment"
    assert event["involvedObject"]["name"] == "helloworld-test"
    assert event["involvedObject"]["uid"] == patched["metadata"]["uid"]
    assert event["reason"] == "ConfigMapChanged" and event["type"] == "Normal"
    assert event["reportingInstance"] == "helloworld-controller-0"
    assert "helloworld-config-test" in event["message"] and HASH[:12] in event["message"]


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (
            lambda k: k.deny(verb="patch", resource="deployments", client="controller"),
            ("forbidden", False, 403),
        ),
        (
            lambda k: k.fail(503, count=1, verb="patch", client="controller"),
            ("server-error", True, 503),
        ),
        (
            lambda k: k.fail(401, count=1, verb="patch", client="controller"),
            ("unauthorized", True, 401),
        ),
        (
            lambda k: k.fail(429, count=1, verb="patch", client="controller"),
            ("throttled", True, 429),
        ),
        (
            lambda k: k.fail(409, count=1, verb="patch", client="controller"),
            ("conflict", True, 409),
        ),
        (lambda k: k.delete("deployments", "helloworld-test", NS), ("not-found", False, 404)),
    ],
)
def test_api_failures_are_classified_for_the_retry_decision(kube, patcher, fault, expected):
    fault(kube)
    with pytest.raises(ApiException) as caught:
        patcher.restart(restart_action(), NOW)
    failure = classify(caught.value)
    assert (failure.reason, failure.retriable, failure.status) == expected
    assert "\n" not in failure.message and failure.message.startswith(str(expected[2]))


def test_a_dead_server_is_a_retriable_connection_failure(kube, patcher):
    kube.stop()
    with pytest.raises(Exception) as caught:  # whatever urllib3 raises
        patcher.restart(restart_action(), NOW)
    failure = classify(caught.value)
    assert (
        failure.retriable and failure.reason in ("connection", "timeout") and failure.status is None
    )


def test_views_keep_hashes_and_key_names_only():
    view = configmap_view(
        configmap(
            "helloworld-config-test", {"PASSWORD": "hunter2"}, "test", binary={"cert": "AAAA"}
        )
    )
    assert view.keys == ("PASSWORD", "cert")
    assert "hunter2" not in repr(view) and "AAAA" not in repr(view)
    assert view.target is not None and (view.target.app, view.target.env) == ("helloworld", "test")
    unlabelled = configmap_view({"metadata": {"name": "x", "labels": {"app": "helloworld"}}})
    assert unlabelled.target is None
    stuck = deployment_view(
        {
            "metadata": {"name": "d", "generation": 3, "labels": {}},
            "spec": {},
            "status": {
                "observedGeneration": 3,
                "conditions": [
                    {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
                ],
            },
        }
    )
    assert stuck.rollout.progress_deadline_exceeded and stuck.rollout.replicas == 1
    assert stuck.applied_hash is None


def test_a_restart_decided_on_an_old_version_is_refused_and_writes_nothing(kube, patcher):
    decided_on = kube.get("deployments", "helloworld-test", NS)["metadata"]["resourceVersion"]
    first = replace(restart_action(), resource_version=decided_on)
    patched = patcher.restart(first, NOW)
    assert patched["metadata"]["annotations"]["shipshape.io/config-hash"] == HASH
    # A second patch decided on the same state (a restarted process's) cannot land.
    second = replace(first, data_hash="cd" * 32, correlation_id="c0ffee00-second")
    with pytest.raises(ApiException) as refused:
        patcher.restart(second, NOW)
    assert refused.value.status == 409 and is_refused(refused.value)
    assert classify(refused.value).reason == "conflict"
    assert len(kube.revisions("helloworld-test", NS)) == 2, "one rollout, not two"
    current = patcher.read("helloworld-test")
    assert deployment_view(current).applied_hash == HASH
    assert patcher.read("no-such-deployment") is None


def test_an_adoption_decided_on_an_old_version_is_refused(kube, patcher):
    decided_on = kube.get("deployments", "helloworld-test", NS)["metadata"]["resourceVersion"]
    kube.patch("deployments", "helloworld-test", {"metadata": {"labels": {"x": "y"}}}, namespace=NS)
    adoption = PatchAdopt(
        "helloworld-test", "c0ffee00-0000-5000-8000-000000000001", HASH, decided_on
    )
    with pytest.raises(ApiException) as refused:
        patcher.adopt(adoption)
    assert is_refused(refused.value)
    annotations = kube.get("deployments", "helloworld-test", NS)["metadata"].get("annotations")
    assert "shipshape.io/config-hash" not in (annotations or {})


def test_api_error_text_is_redacted_before_it_is_bounded(kube, patcher):
    # A server echoing a credential back, in a message longer than any journal field:
    # the quoted value straddles the 512-character bound.
    secret = "hunter2-" + "s" * 100
    message = (
        "x" * 440 + f' password="{secret}" Authorization: Bearer abcdef0123456789 ' + "y" * 4000
    )
    kube.fail(500, count=1, verb="patch", client="controller", message=message)
    with pytest.raises(ApiException) as caught:
        patcher.restart(restart_action(), NOW)
    failure = classify(caught.value)
    assert failure.status == 500
    assert len(failure.message) <= 512 and failure.message.endswith("...")
    assert "hunter2" not in failure.message and "abcdef0123456789" not in failure.message
    assert 'password="[REDACTED]"' in failure.message


def test_a_secrets_restart_event_names_the_secret_and_a_prefix_of_its_keyed_hash(kube, patcher):
    action = PatchRestart(
        "helloworld-test",
        "secret/helloworld-credentials",
        "c0ffee00-0000-5000-8000-000000000002",
        "hmac-sha256:" + "cd" * 32,
        1,
    )
    patcher.record_event(action, patcher.restart(action, NOW), NOW)
    [event] = kube.list("events", namespace=NS)
    assert event["reason"] == "SecretChanged"
    assert event["message"] == (
        "Restarted because Secret helloworld-credentials changed "
        "(config hash cdcdcdcdcdcd, correlation id c0ffee00-0000-5000-8000-000000000002)"
    )


def test_a_workload_in_another_namespace_is_patched_read_and_evented_there(kube, patcher):
    kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "elsewhere"}})
    other = deployment("helloworld-test", "test", replicas=1)
    other["metadata"]["namespace"] = "elsewhere"
    kube.create(other)
    action = replace(restart_action(), namespace="elsewhere")
    patcher.record_event(action, patcher.restart(action, NOW), NOW)
    assert patcher.read("helloworld-test", "elsewhere")["metadata"]["namespace"] == "elsewhere"
    assert deployment_view(patcher.read("helloworld-test", "elsewhere")).applied_hash == HASH
    assert deployment_view(patcher.read("helloworld-test")).applied_hash is None
    assert [e["involvedObject"]["namespace"] for e in kube.list("events")] == ["elsewhere"]


@pytest.mark.parametrize(
    ("kind", "api_kind"), [("statefulset", "StatefulSet"), ("daemonset", "DaemonSet")]
)
def test_a_restart_event_names_the_workloads_own_kind(kube, patcher, kind, api_kind):
    # `kubectl describe statefulset db` lists the Events whose involvedObject
    # is that StatefulSet: an Event naming a Deployment of that name is lost.
    labels = {"app": "db"}
    spec = {
        "selector": {"matchLabels": labels},
        "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "db", "image": "registry.example/db:1"}]},
        },
    }
    if kind == "statefulset":
        spec |= {"replicas": 1, "serviceName": "db"}
    metadata = {"name": "db", "namespace": NS}
    kube.create({"apiVersion": "apps/v1", "kind": api_kind, "metadata": metadata, "spec": spec})
    action = replace(restart_action("db"), kind=kind)
    patched = patcher.restart(action, NOW)
    patcher.record_event(action, patched, NOW)
    [event] = kube.list("events", namespace=NS)
    involved = event["involvedObject"]
    assert (involved["apiVersion"], involved["kind"], involved["name"]) == (
        "apps/v1",
        api_kind,
        "db",
    )
    assert involved["uid"] == patched["metadata"]["uid"]


@pytest.mark.parametrize(
    ("kind", "api_version", "api_kind"),
    [("configmap", "v1", "ConfigMap"), ("statefulset", "apps/v1", "StatefulSet")],
)
def test_a_warning_event_names_its_object_and_is_bounded(
    kube, patcher, kind, api_version, api_kind
):
    patcher.warn(WarnWorkload(NS, kind, "helloworld-x", "bad value " + "x" * 2000), NOW)
    [event] = kube.list("events", namespace=NS)
    assert (event["type"], event["reason"]) == ("Warning", "InvalidAnnotation")
    involved = event["involvedObject"]
    assert (involved["apiVersion"], involved["kind"], involved["name"]) == (
        api_version,
        api_kind,
        "helloworld-x",
    )
    assert len(event["message"]) == 1024 and event["message"].startswith("bad value x")


def test_both_replicas_warning_about_one_problem_make_one_event(kube, patcher, tmp_path):
    """Leader and standby both see a bad annotation value and both report it: the
    Event's name comes from the problem, so the second create is refused (409) and
    taken as done, and the docs' one Warning Event per object and problem holds."""
    kube.add_client("standby")
    api = make_api_client(str(kube.write_kubeconfig(tmp_path / "kc2", "standby", NS)))
    standby = DeploymentPatcher(api, NS, "helloworld-controller-1")
    problem = WarnWorkload(NS, "deployment", "helloworld-test", "auto='yes' is not true")
    patcher.warn(problem, NOW)
    standby.warn(problem, NOW)
    [event] = kube.list("events", namespace=NS)
    assert event["reason"] == "InvalidAnnotation"
    other = replace(problem, message="auto='no way' is not true")
    standby.warn(other, NOW)
    assert len(kube.list("events", namespace=NS)) == 2, "another problem: another Event"
