"""The per-kind rules and immutable fields of validation, judged through real HTTP and kubectl.

Each case is one the real API server (1.37) refuses with 422 Invalid; the
expected texts are its `field.Error`s (pkg/apis/*/validation, apimachinery).
"""

from __future__ import annotations

import copy
import json

import pytest
import yaml
from kubernetes import client

from tests.kubeapi import KubeApiServer
from tests.kubeapi.pytest_plugin import Kubectl
from tests.kubeapi.test_validation import _deployment

LABEL_REGEX = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
SUBDOMAIN_RULE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
    f"regex used for validation is '{LABEL_REGEX}(\\.{LABEL_REGEX})*')"
)
POD_UPDATABLE = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
    "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be "
    "set to 1 if it was previously negative)"
)


def _refused(call) -> list[str]:
    """Run a client call that must fail with 422 Invalid; return its causes as `field: message`."""
    with pytest.raises(client.ApiException) as err:
        call()
    body = json.loads(err.value.body)
    assert (err.value.status, body["reason"]) == (422, "Invalid"), body
    return [f"{c['field']}: {c['message']}" for c in body["details"]["causes"]]


def _pod(name: str = "p") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Always",
            "containers": [{"name": "app", "image": "web:1", "command": ["serve"]}],
        },
    }


def test_pod_secret_and_claim_fields_are_immutable_on_update(
    kubeapi_server: KubeApiServer, kubeapi_namespace: str, kubectl: Kubectl
):
    ns = kubeapi_namespace
    core = client.CoreV1Api(kubeapi_server.api_client())
    core.create_namespaced_pod(ns, _pod())
    for change in ({"restartPolicy": "Never"}, {"containers": [{"name": "app", "command": ["x"]}]}):
        causes = _refused(
            lambda change=change: core.patch_namespaced_pod("p", ns, {"spec": change})
        )
        assert len(causes) == 1 and causes[0].startswith(f"spec: Forbidden: {POD_UPDATABLE}\n")
    # The mutable fields: images, added tolerations, a first or lower deadline.
    allowed = {
        "containers": [{"name": "app", "image": "web:2"}],
        "tolerations": [{"key": "k", "operator": "Exists"}],
        "activeDeadlineSeconds": 60,
    }
    core.patch_namespaced_pod("p", ns, {"spec": allowed})
    assert _refused(
        lambda: core.patch_namespaced_pod("p", ns, {"spec": {"activeDeadlineSeconds": 90}})
    ) == [
        "spec.activeDeadlineSeconds: Invalid value: 90: "
        "must be less than or equal to previous value"
    ]
    assert _refused(
        lambda: core.patch_namespaced_pod("p", ns, {"spec": {"tolerations": []}})
    ) == ["spec.tolerations: Forbidden: existing toleration can not be modified except its "
          "tolerationSeconds"]  # fmt: skip
    # kubectl apply of a changed restartPolicy: the message a kubectl user meets.
    changed = yaml.safe_dump({**_pod(), "spec": {**_pod()["spec"], "restartPolicy": "Never"}})
    result = kubectl("-n", ns, "apply", "-f", "-", input=changed, check=False)
    assert result.returncode == 1
    assert f'The Pod "p" is invalid: spec: Forbidden: {POD_UPDATABLE}\n' in result.stderr
    assert kubeapi_server.get("pods", "p", ns)["spec"]["restartPolicy"] == "Always"

    core.create_namespaced_secret(ns, {"metadata": {"name": "s"}, "data": {"a": "YQ=="}})
    tls = {"type": "kubernetes.io/tls", "data": {"tls.crt": "YQ==", "tls.key": "YQ=="}}
    assert _refused(lambda: core.patch_namespaced_secret("s", ns, tls)) == [
        'type: Invalid value: "kubernetes.io/tls": field is immutable'
    ]
    # Immutable ConfigMaps and Secrets keep their data (this already held).
    core.create_namespaced_config_map(
        ns, {"metadata": {"name": "c"}, "data": {"k": "v"}, "immutable": True}
    )
    assert _refused(lambda: core.patch_namespaced_config_map("c", ns, {"data": {"k": "w"}})) == [
        "data: Forbidden: field is immutable when `immutable` is set"
    ]

    claim = {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    core.create_namespaced_persistent_volume_claim(ns, claim)
    causes = _refused(
        lambda: core.patch_namespaced_persistent_volume_claim(
            "data", ns, {"spec": {"accessModes": ["ReadWriteMany"]}}
        )
    )
    assert len(causes) == 1 and causes[0].startswith(
        "spec: Forbidden: spec is immutable after creation except resources.requests and "
        "volumeAttributesClassName for bound claims\n"
    )
    core.patch_namespaced_persistent_volume_claim(
        "data", ns, {"spec": {"volumeAttributesClassName": "fast"}}
    )


def _with(path: str, value) -> dict:
    """A valid Deployment with one field (a dotted path under `spec`) set to `value`."""
    obj = _deployment()
    *parents, last = path.split(".")
    node = obj["spec"]
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return obj


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            "strategy",
            {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}},
            "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` "
            "is 'Recreate'",
        ),
        (
            "strategy.rollingUpdate",
            {"maxSurge": 0, "maxUnavailable": 0},
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when "
            "`maxSurge` is 0",
        ),
        (
            "strategy.type",
            "Bogus",
            'spec.strategy: Unsupported value: {"Type":"Bogus","RollingUpdate":null}: supported '
            'values: "Recreate", "RollingUpdate"',
        ),
        (
            "progressDeadlineSeconds",
            5,
            "spec.progressDeadlineSeconds: Invalid value: 5: must be greater than minReadySeconds",
        ),
        (
            "revisionHistoryLimit",
            -1,
            "spec.revisionHistoryLimit: Invalid value: -1: must be greater than or equal to 0",
        ),
        (
            "strategy.rollingUpdate",
            {"maxUnavailable": "120%"},
            'spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "120%": must not be '
            "greater than 100%",
        ),
    ],
    ids=["recreate-rolling", "zero-zero", "bogus-type", "deadline", "history", "over-100"],
)
def test_deployments_the_real_server_refuses(
    kubeapi_server: KubeApiServer, kubeapi_namespace: str, *, path, value, message
):
    apps = client.AppsV1Api(kubeapi_server.api_client())
    obj = _with(path, value)
    if path == "progressDeadlineSeconds":
        obj["spec"]["minReadySeconds"] = 5
    assert _refused(lambda: apps.create_namespaced_deployment(kubeapi_namespace, obj)) == [message]
    assert kubeapi_server.get("deployments", "web", kubeapi_namespace) is None


def test_names_and_labels_get_the_real_length_and_format_messages(
    kubeapi_server: KubeApiServer, kubeapi_namespace: str, kubectl: Kubectl
):
    ns = kubeapi_namespace
    core = client.CoreV1Api(kubeapi_server.api_client())
    long = "a" * 254
    assert _refused(
        lambda: core.create_namespaced_config_map(ns, {"metadata": {"name": long}})
    ) == [f'metadata.name: Invalid value: "{long}": must be no more than 253 characters']
    value = "v" * 64
    assert _refused(
        lambda: core.create_namespaced_config_map(
            ns, {"metadata": {"name": "c", "labels": {"k": value}}}
        )
    ) == [f'metadata.labels: Invalid value: "{value}": must be no more than 63 bytes']
    service = {"metadata": {"name": "1web"}, "spec": {"ports": [{"port": 80}]}}
    assert _refused(lambda: core.create_namespaced_service(ns, service)) == [
        'metadata.name: Invalid value: "1web": a DNS-1035 label must consist of lower case '
        "alphanumeric characters or '-', start with an alphabetic character, and end with an "
        "alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is "
        "'[a-z]([-a-z0-9]*[a-z0-9])?')"
    ]
    result = kubectl("-n", ns, "create", "configmap", "Bad_Name", check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'error: failed to create configmap: ConfigMap "Bad_Name" is invalid: metadata.name: '
        'Invalid value: "Bad_Name": ' + SUBDOMAIN_RULE
    )


def test_metadata_owner_references_finalizers_and_generate_name(
    kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    core = client.CoreV1Api(kubeapi_server.api_client())
    owner = {"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "u1"}
    bad = {
        "name": "c",
        "ownerReferences": [
            {**owner, "uid": "", "controller": True},
            {**owner, "name": "o2", "controller": True},
        ],
        "finalizers": ["Bad Finalizer"],
    }
    causes = _refused(
        lambda: core.create_namespaced_config_map(kubeapi_namespace, {"metadata": bad})
    )
    assert causes[0] == "metadata.ownerReferences[0].uid: Required value: must not be empty"
    assert causes[1].startswith("metadata.ownerReferences: Invalid value: [{")
    assert causes[1].endswith(
        'Only one reference can have Controller set to true. Found "true" in references for '
        "ConfigMap/o and ConfigMap/o2"
    )
    assert causes[2].startswith(
        'metadata.finalizers: Invalid value: "Bad Finalizer": name part must consist of '
        "alphanumeric characters, '-', '_' or '.'"
    )
    generated = {"metadata": {"generateName": "Bad_"}}
    causes = _refused(lambda: core.create_namespaced_config_map(kubeapi_namespace, generated))
    assert [c.split(":", 1)[0] for c in causes] == ["metadata.generateName", "metadata.name"]
    assert all(c.endswith(SUBDOMAIN_RULE) for c in causes)


def test_other_kinds_the_real_server_refuses(kubeapi_server: KubeApiServer, kubeapi_namespace: str):
    ns = kubeapi_namespace
    api = kubeapi_server.api_client()
    core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
    policy, scaling = client.PolicyV1Api(api), client.AutoscalingV2Api(api)
    pdb = {
        "metadata": {"name": "b"},
        "spec": {"minAvailable": 1, "maxUnavailable": 1, "selector": {"matchLabels": {"a": "b"}}},
    }
    assert _refused(lambda: policy.create_namespaced_pod_disruption_budget(ns, pdb)) == [
        'spec: Invalid value: {"MinAvailable":1,"Selector":{"matchLabels":{"a":"b"}},'
        '"MaxUnavailable":1,"UnhealthyPodEvictionPolicy":null}: minAvailable and '
        "maxUnavailable cannot be both set"
    ]
    hpa = {
        "metadata": {"name": "h"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 5,
            "maxReplicas": 2,
        },
    }
    assert _refused(lambda: scaling.create_namespaced_horizontal_pod_autoscaler(ns, hpa)) == [
        "spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`"
    ]
    secret = {"metadata": {"name": "t"}, "type": "kubernetes.io/tls", "data": {"tls.crt": "YQ=="}}
    assert _refused(lambda: core.create_namespaced_secret(ns, secret)) == [
        "data[tls.key]: Required value"
    ]
    service = {
        "metadata": {"name": "np"},
        "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 80}]},
    }
    assert _refused(lambda: core.create_namespaced_service(ns, service)) == [
        "spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. "
        "The range of valid ports is 30000-32767"
    ]
    pod = {"spec": {"restartPolicy": "Always", "containers": [{"name": "c", "image": "i"}]}}
    job = {"metadata": {"name": "j"}, "spec": {"template": copy.deepcopy(pod)}}
    assert _refused(lambda: batch.create_namespaced_job(ns, job)) == [
        'spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"'
    ]
    pod["spec"]["restartPolicy"] = "Never"
    cron = {
        "metadata": {"name": "cj"},
        "spec": {"schedule": "not a schedule", "jobTemplate": {"spec": {"template": pod}}},
    }
    assert _refused(lambda: batch.create_namespaced_cron_job(ns, cron)) == [
        'spec.schedule: Invalid value: "not a schedule": expected exactly 5 fields, found 3: '
        "[not a schedule]"
    ]
    cron["spec"]["schedule"] = "*/5 1-3 * jan mon"
    batch.create_namespaced_cron_job(ns, cron)


def test_core_events_are_named_freely_as_on_a_real_server(
    kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    # core/v1 Event validation skips the object-metadata name rules (backward
    # compatibility): client-go names Events NAME.HEX, and a generateName
    # ending in "." (the controller's) is taken as it is. Only a path segment
    # is refused.
    ns = kubeapi_namespace
    core = client.CoreV1Api(kubeapi_server.api_client())
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": "helloworld-test.", "namespace": ns},
        "involvedObject": {"kind": "Deployment", "name": "helloworld-test", "namespace": ns},
        "reason": "Restarted",
        "message": "restarted",
        "type": "Normal",
    }
    created = core.create_namespaced_event(ns, event)
    assert created.metadata.name.startswith("helloworld-test.")
    assert len(created.metadata.name) > len("helloworld-test.")
    # Names that are not DNS subdomains, as client-go's recorders and others make.
    for name in ("Web_1.17c2a", "web.17C2A"):
        core.create_namespaced_event(ns, {**event, "metadata": {"name": name, "namespace": ns}})
    # A ConfigMap is still judged by the subdomain rule, prefix included.
    causes = _refused(
        lambda: core.create_namespaced_config_map(
            ns, {"metadata": {"generateName": "helloworld-test."}}
        )
    )
    assert causes[0].startswith('metadata.generateName: Invalid value: "helloworld-test."')
