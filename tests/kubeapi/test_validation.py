"""Validation judged by the real kubectl and the real `kubernetes` client (issue 15, 1 and 6)."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from tests.kubeapi import KubeApiServer
from tests.kubeapi.pytest_plugin import Kubectl
from tests.kubeapi.validation import SCHEMA_VERSION

ROOT = Path(__file__).resolve().parents[2]
#: The runbook's apply order and the bases, written out as tests/k8s/conftest.py
#: does (the toolkit's tests import neither hack/ nor other tests packages).
APPLIED = (
    "k8s/namespace",
    "k8s/istio-ingress",
    "k8s/overlays/test",
    "k8s/overlays/prod",
    "k8s/monitoring",
    "k8s/controller",
)
BASES = ("k8s/base", "k8s/istio")

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: web:1
        ports: [{containerPort: 8080}]
"""

CANNOT = 'Deployment in version "v1" cannot be handled as a Deployment: '


def _deployment(name: str = "web", labels: dict | None = None) -> dict:
    obj = yaml.safe_load(DEPLOYMENT)
    obj["metadata"]["name"] = name
    if labels is not None:
        obj["spec"]["template"]["metadata"]["labels"] = labels
    return obj


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "replicas: 2",
            'replicas: "two"',
            'Error from server (BadRequest): error when creating "STDIN": '
            + CANNOT
            + "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas "
            "of type int32",
        ),
        (
            "replicas: 2",
            "replica: 2",
            'Error from server (BadRequest): error when creating "STDIN": '
            + CANNOT
            + 'strict decoding error: unknown field "spec.replica"',
        ),
        (
            "metadata: {labels: {app: web}}",
            "metadata: {labels: {app: other}}",
            # Kubernetes 1.34+ renders a map as JSON (before: map[string]string{...}).
            'The Deployment "web" is invalid: spec.template.metadata.labels: Invalid value: '
            '{"app":"other"}: `selector` does not match template `labels`',
        ),
        (
            "containerPort: 8080",
            'containerPort: "http"',
            'Error from server (BadRequest): error when creating "STDIN": '
            + CANNOT
            + "json: cannot unmarshal string into Go struct field ContainerPort.spec.template."
            "spec.containers.ports.containerPort of type int32",
        ),
    ],
    ids=["replicas-string", "unknown-field", "selector-mismatch", "containerport-string"],
)
def test_kubectl_apply_refuses_the_bad_deployments_of_the_issue(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str, *, old, new, message
):
    bad = DEPLOYMENT.replace(old, new)
    assert bad != DEPLOYMENT
    result = kubectl("-n", kubeapi_namespace, "apply", "-f", "-", input=bad, check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == message
    assert kubeapi_server.get("deployments", "web", kubeapi_namespace) is None


def test_kubectl_field_validation_warn_and_ignore(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns = kubeapi_namespace
    bad = DEPLOYMENT.replace("replicas: 2", "replicas: 3\n  paused: false\n  replica: 2")
    warned = kubectl("-n", ns, "apply", "--validate=warn", "-f", "-", input=bad)
    assert warned.stdout.strip() == "deployment.apps/web created"
    assert 'Warning: unknown field "spec.replica"' in warned.stderr
    stored = kubeapi_server.get("deployments", "web", ns)
    assert "replica" not in stored["spec"] and stored["spec"]["replicas"] == 3
    ignored = kubectl(
        "-n",
        ns,
        "create",
        "--validate=false",
        "-f",
        "-",
        input=bad.replace("name: web", "name: web2"),
    )
    assert ignored.stdout.strip() == "deployment.apps/web2 created"
    assert "Warning" not in ignored.stderr
    assert "replica" not in kubeapi_server.get("deployments", "web2", ns)["spec"]
    # An update through kubectl apply (a strategic merge patch) is judged by its result.
    refused = kubectl("-n", ns, "apply", "-f", "-", input=bad, check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip().endswith('strict decoding error: unknown field "spec.replica"')


def _post(server: KubeApiServer, path: str, body: str, method: str = "POST", ctype=None):
    context = ssl.create_default_context(cafile=str(server.ca_file))
    request = urllib.request.Request(
        server.url + path,
        data=body.encode(),
        method=method,
        headers={
            "Authorization": f"Bearer {server.admin.token}",
            "Content-Type": ctype or "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, context=context) as response:
            return response.status, json.load(response), response.headers.get_all("Warning") or []
    except urllib.error.HTTPError as err:
        return err.code, json.load(err), err.headers.get_all("Warning") or []


DUPLICATED = """{"apiVersion": "apps/v1", "kind": "Deployment",
 "metadata": {"name": "dup", "name": "dup", "unknownMeta": 1},
 "spec": {"unknown1": 1, "paused": true, "paused": false,
  "selector": {"matchLabels": {"app": "web"}},
  "template": {"metadata": {"labels": {"app": "web"}},
   "spec": {"containers": [{"name": "app", "image": "web:1", "unknownNested": 1,
    "imagePullPolicy": "Always", "imagePullPolicy": "Never"}]}}}}"""


def test_duplicate_and_unknown_fields_in_each_mode(
    kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    path = f"/apis/apps/v1/namespaces/{kubeapi_namespace}/deployments"
    problems = [
        'duplicate field "metadata.name"',
        'unknown field "metadata.unknownMeta"',
        'unknown field "spec.unknown1"',
        'duplicate field "spec.paused"',
        'unknown field "spec.template.spec.containers[0].unknownNested"',
        'duplicate field "spec.template.spec.containers[0].imagePullPolicy"',
    ]
    code, status, _ = _post(kubeapi_server, path + "?fieldValidation=Strict", DUPLICATED)
    assert (code, status["reason"]) == (400, "BadRequest")
    assert status["message"] == CANNOT + "strict decoding error: " + ", ".join(problems)
    code, created, warnings = _post(kubeapi_server, path + "?fieldValidation=Warn", DUPLICATED)
    assert code == 201
    assert [w.split(" ", 2)[2] for w in warnings] == [json.dumps(p) for p in problems]
    container = created["spec"]["template"]["spec"]["containers"][0]
    assert "unknownNested" not in container and container["imagePullPolicy"] == "Never"
    assert created["spec"]["paused"] is False and "unknownMeta" not in created["metadata"]
    ignored = DUPLICATED.replace('"dup", "name": "dup"', '"dup2"')
    code, _obj, warnings = _post(kubeapi_server, path + "?fieldValidation=Ignore", ignored)
    assert (code, warnings) == (201, [])
    code, status, _ = _post(kubeapi_server, path + "?fieldValidation=Bogus", ignored)
    assert code == 400 and "fieldValidation" in status["message"]
    # A merge patch: the patch's duplicates first, then the result's unknown fields.
    patch = '{"spec": {"paused": true, "paused": false, "zeta": 1, "alpha": 2}}'
    code, status, _ = _post(
        kubeapi_server,
        path + "/dup?fieldValidation=Strict",
        patch,
        method="PATCH",
        ctype="application/merge-patch+json",
    )
    assert (code, status["message"]) == (
        400,
        'strict decoding error: duplicate field "spec.paused", unknown field "spec.alpha", '
        'unknown field "spec.zeta"',
    )


def _causes(err: client.ApiException) -> list[tuple[str, str]]:
    body = json.loads(err.body)
    assert (err.status, body["reason"]) == (422, "Invalid")
    return [(c["reason"], c["field"]) for c in body["details"]["causes"]]


def test_client_create_and_every_patch_type_are_judged_by_their_result(
    kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns = kubeapi_namespace
    apps = client.AppsV1Api(kubeapi_server.api_client())
    empty = _deployment("empty")
    empty["spec"]["template"]["spec"]["containers"] = []
    empty["spec"]["replicas"] = -1
    with pytest.raises(client.ApiException) as err:
        apps.create_namespaced_deployment(ns, empty)
    assert _causes(err.value) == [
        ("FieldValueInvalid", "spec.replicas"),
        ("FieldValueRequired", "spec.template.spec.containers"),
    ]
    assert (
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0"
        in json.loads(err.value.body)["message"]
    )
    apps.create_namespaced_deployment(ns, _deployment())
    mismatch = {"spec": {"template": {"metadata": {"labels": {"app": "other"}}}}}
    for call in (
        lambda: apps.patch_namespaced_deployment("web", ns, mismatch),  # strategic
        lambda: apps.patch_namespaced_deployment(
            "web", ns, mismatch, _content_type="application/merge-patch+json"
        ),
        lambda: apps.patch_namespaced_deployment(
            "web",
            ns,
            [{"op": "replace", "path": "/spec/template/metadata/labels/app", "value": "x"}],
        ),
    ):
        with pytest.raises(client.ApiException) as err:
            call()
        assert _causes(err.value) == [("FieldValueInvalid", "spec.template.metadata.labels")]
    with pytest.raises(client.ApiException) as err:
        apps.patch_namespaced_deployment(
            "web", ns, [{"op": "remove", "path": "/spec/template/spec/containers/0/image"}]
        )
    assert _causes(err.value) == [("FieldValueRequired", "spec.template.spec.containers[0].image")]
    # A wrong type in a patch is a 422 on the field `patch`, as the real server says it.
    with pytest.raises(client.ApiException) as err:
        apps.patch_namespaced_deployment("web", ns, {"spec": {"replicas": "two"}})
    assert _causes(err.value) == [("FieldValueInvalid", "patch")]
    assert json.loads(err.value.body)["message"].endswith(
        "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas "
        "of type int32"
    )
    assert kubeapi_server.get("deployments", "web", ns)["spec"]["replicas"] == 2


def test_a_lease_needs_a_positive_duration_and_no_negative_transitions(
    kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    leases = client.CoordinationV1Api(kubeapi_server.api_client())
    bad = {
        "metadata": {"name": "lock"},
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 0, "leaseTransitions": -1},
    }
    with pytest.raises(client.ApiException) as err:
        leases.create_namespaced_lease(kubeapi_namespace, bad)
    assert _causes(err.value) == [
        ("FieldValueInvalid", "spec.leaseDurationSeconds"),
        ("FieldValueInvalid", "spec.leaseTransitions"),
    ]
    assert (
        "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"
        in (json.loads(err.value.body)["message"])
    )
    # Several errors print as Go prints an aggregate: in brackets, comma-separated.
    assert json.loads(err.value.body)["message"] == (
        'Lease.coordination.k8s.io "lock" is invalid: [spec.leaseDurationSeconds: Invalid '
        "value: 0: must be greater than 0, spec.leaseTransitions: Invalid value: -1: must be "
        "greater than or equal to 0]"
    )
    good = {"metadata": {"name": "lock"}, "spec": {"leaseDurationSeconds": 1}}
    leases.create_namespaced_lease(kubeapi_namespace, good)
    with pytest.raises(client.ApiException) as err:
        leases.patch_namespaced_lease(
            "lock", kubeapi_namespace, {"spec": {"leaseDurationSeconds": -5}}
        )
    assert _causes(err.value) == [("FieldValueInvalid", "spec.leaseDurationSeconds")]
    assert kubeapi_server.get("leases", "lock", kubeapi_namespace)["spec"] == {
        "leaseDurationSeconds": 1
    }


def test_times_decode_as_go_parses_them_and_are_stored_in_utc(
    kubeapi_server: KubeApiServer, kubeapi_namespace: str, kubectl: Kubectl
):
    # A Lease's times are MicroTimes: exactly six fractional digits. The typed
    # client turns a whole-second time into "+00:00" without any: refused.
    leases = client.CoordinationV1Api(kubeapi_server.api_client())
    micro = '"2006-01-02T15:04:05.000000Z07:00"'
    lease = {"metadata": {"name": "lock"}, "spec": {"renewTime": "2026-01-01T10:00:00Z"}}
    with pytest.raises(client.ApiException) as err:
        leases.create_namespaced_lease(kubeapi_namespace, lease)
    assert err.value.status == 400
    assert json.loads(err.value.body)["message"] == (
        'Lease in version "v1" cannot be handled as a Lease: parsing time '
        f'"2026-01-01T10:00:00+00:00" as {micro}: cannot parse "+00:00" as ".000000"'
    )
    yaml_lease = "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: lock}\n"
    nanos = yaml_lease + 'spec: {renewTime: "2026-01-01T10:00:00.123456789Z"}\n'
    result = kubectl("apply", "-n", kubeapi_namespace, "-f", "-", input=nanos, check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'Error from server (BadRequest): error when creating "STDIN": Lease in version "v1" '
        'cannot be handled as a Lease: parsing time "2026-01-01T10:00:00.123456789Z" as '
        f'{micro}: cannot parse "789Z" as "Z07:00"'
    )
    assert kubeapi_server.get("leases", "lock", kubeapi_namespace) is None
    good = yaml_lease + 'spec: {acquireTime: "2026-01-01T10:00:00.500000+02:00"}\n'
    kubectl("apply", "-n", kubeapi_namespace, "-f", "-", input=good)
    stored = kubeapi_server.get("leases", "lock", kubeapi_namespace)
    assert stored["spec"]["acquireTime"] == "2026-01-01T08:00:00.500000Z"
    # A Time (an Event's timestamps) is RFC 3339: a fraction is dropped, a
    # zone becomes UTC, and what is not a time is refused.
    event = f"""\
apiVersion: v1
kind: Event
metadata: {{name: e}}
involvedObject: {{kind: ConfigMap, name: c, namespace: {kubeapi_namespace}}}
reason: Changed
firstTimestamp: "2026-01-01 10:00:00"
"""
    result = kubectl("apply", "-n", kubeapi_namespace, "-f", "-", input=event, check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'Error from server (BadRequest): error when creating "STDIN": Event in version "v1" '
        'cannot be handled as a Event: parsing time "2026-01-01 10:00:00" as '
        '"2006-01-02T15:04:05Z07:00": cannot parse " 10:00:00" as "T"'
    )
    event = event.replace("2026-01-01 10:00:00", "2026-01-01T10:00:00.25-01:30")
    kubectl("apply", "-n", kubeapi_namespace, "-f", "-", input=event)
    stored = kubeapi_server.get("events", "e", kubeapi_namespace)
    assert stored["firstTimestamp"] == "2026-01-01T11:30:00Z"


def test_an_event_lives_in_the_namespace_of_its_object(
    kubeapi_server: KubeApiServer, kubeapi_namespace: str, kubectl: Kubectl
):
    event = f"""\
apiVersion: v1
kind: Event
metadata: {{name: restarted, namespace: {kubeapi_namespace}}}
involvedObject: {{apiVersion: apps/v1, kind: Deployment, name: web, namespace: default}}
reason: ConfigMapChanged
"""
    result = kubectl("create", "-f", "-", input=event, check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'The Event "restarted" is invalid: involvedObject.namespace: Invalid value: "default": '
        "does not match event.namespace"
    )
    # An object without a namespace (a Node) has its old-style Events in default.
    node = event.replace("kind: Deployment", "kind: Node").replace(", namespace: default", "")
    result = kubectl("create", "-f", "-", input=node, check=False)
    assert 'involvedObject.namespace: Invalid value: ""' in result.stderr
    assert kubeapi_server.list("events", kubeapi_namespace) == []
    kubectl(
        "create",
        "-f",
        "-",
        input=event.replace("namespace: default", f"namespace: {kubeapi_namespace}"),
    )
    kubectl("create", "-n", "default", "-f", "-", input=node.replace(kubeapi_namespace, "default"))
    kubeapi_server.delete("events", "restarted", "default")


def test_secret_data_and_binary_data_are_base64_as_go_decodes_it(
    kubeapi_server: KubeApiServer, kubeapi_namespace: str, kubectl: Kubectl
):
    secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {password: hunter2}\n"
    result = kubectl("apply", "-n", kubeapi_namespace, "-f", "-", input=secret, check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'Error from server (BadRequest): error when creating "STDIN": Secret in version "v1" '
        "cannot be handled as a Secret: illegal base64 data at input byte 4"
    )
    core = client.CoreV1Api(kubeapi_server.api_client())
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_config_map(
            kubeapi_namespace, {"metadata": {"name": "c"}, "binaryData": {"b": "YQ"}}
        )
    assert json.loads(err.value.body)["message"].endswith("illegal base64 data at input byte 0")
    # Line breaks are skipped, and the value is stored as Go encodes it again.
    body = {"metadata": {"name": "s"}, "data": {"password": "aHVu\ndGVyMg=="}}
    core.create_namespaced_secret(kubeapi_namespace, body)
    stored = kubeapi_server.get("secrets", "s", kubeapi_namespace)
    assert stored["data"] == {"password": "aHVudGVyMg=="}


def test_a_configmap_key_in_both_data_and_binary_data_is_refused(
    kubeapi_namespace: str, kubectl: Kubectl
):
    both = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: both}\n"
        "data: {k: plain}\nbinaryData: {k: YQ==}\n"
    )
    result = kubectl("create", "-n", kubeapi_namespace, "-f", "-", input=both, check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'The ConfigMap "both" is invalid: data[k]: Invalid value: "k": '
        "duplicate of key present in binaryData"
    )
    apart = both.replace("binaryData: {k:", "binaryData: {b:")
    kubectl("create", "-n", kubeapi_namespace, "-f", "-", input=apart)


def test_names_required_fields_and_immutable_selectors(
    kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns = kubeapi_namespace
    api = kubeapi_server.api_client()
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    bad = _deployment()
    bad["spec"]["template"]["spec"]["containers"][0]["name"] = "App_1"
    with pytest.raises(client.ApiException) as err:
        apps.create_namespaced_deployment(ns, bad)
    assert _causes(err.value) == [("FieldValueInvalid", "spec.template.spec.containers[0].name")]
    assert "a lowercase RFC 1123 label must consist of" in json.loads(err.value.body)["message"]
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {}}
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_service(ns, service)
    assert _causes(err.value) == [("FieldValueRequired", "spec.ports")]
    set_spec = {
        "serviceName": "db",
        "selector": {"matchLabels": {"app": "db"}},
        "template": {
            "metadata": {"labels": {"app": "db"}},
            "spec": {"containers": [{"name": "db", "image": "db:1"}]},
        },
    }
    for kind, create, patch in (
        ("Deployment", apps.create_namespaced_deployment, apps.patch_namespaced_deployment),
        ("StatefulSet", apps.create_namespaced_stateful_set, apps.patch_namespaced_stateful_set),
        ("DaemonSet", apps.create_namespaced_daemon_set, apps.patch_namespaced_daemon_set),
    ):
        spec = dict(set_spec)
        if kind != "StatefulSet":
            del spec["serviceName"]
        create(
            ns, {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "db"}, "spec": spec}
        )
        moved = {
            "spec": {
                "selector": {"matchLabels": {"app": "db2"}},
                "template": {"metadata": {"labels": {"app": "db2"}}},
            }
        }
        with pytest.raises(client.ApiException) as err:
            patch("db", ns, moved)
        # A StatefulSet allows changes to a few fields only, as the real server says.
        want = ("FieldValueForbidden", "spec") if kind == "StatefulSet" else (
            "FieldValueInvalid", "spec.selector")  # fmt: skip
        assert want in _causes(err.value), kind
    with pytest.raises(client.ApiException) as err:
        apps.patch_namespaced_stateful_set("db", ns, {"spec": {"serviceName": "other"}})
    assert _causes(err.value) == [("FieldValueForbidden", "spec")]


WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["size"],
                                "properties": {
                                    "size": {"type": "integer", "minimum": 1},
                                    "colour": {"type": "string", "enum": ["red", "blue"]},
                                    "extra": {
                                        "type": "object",
                                        "x-kubernetes-preserve-unknown-fields": True,
                                    },
                                },
                            }
                        },
                    }
                },
            }
        ],
    },
}


def test_custom_resources_follow_their_crd_schema(
    kubeapi_private_server: KubeApiServer, kubectl_for
):
    server = kubeapi_private_server
    kubectl = kubectl_for(server)
    kubectl("apply", "-f", "-", input=json.dumps(WIDGET_CRD))
    widget = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: default}\n"
    bad = kubectl(
        "apply", "-f", "-", input=widget + "spec: {size: big, colour: green}", check=False
    )
    assert bad.returncode == 1
    assert bad.stderr.strip() == (
        'The Widget "w" is invalid: \n'
        '* spec.colour: Unsupported value: "green": supported values: "red", "blue"\n'
        '* spec.size: Invalid value: "string": spec.size in body must be of type integer: "string"'
    )
    small = kubectl("apply", "-f", "-", input=widget + "spec: {size: 0}", check=False)
    assert (
        "spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1"
        in (small.stderr)
    )
    missing = kubectl("apply", "-f", "-", input=widget + "spec: {colour: red}", check=False)
    assert 'The Widget "w" is invalid: spec.size: Required value' in missing.stderr
    unknown = widget + "spec: {size: 2, shape: round, extra: {anything: [1]}}"
    strict = kubectl("apply", "-f", "-", input=unknown, check=False)
    assert strict.stderr.strip().endswith(
        'Widget in version "v1" cannot be handled as a Widget: strict decoding error: '
        'unknown field "spec.shape"'
    )
    kubectl("apply", "--validate=warn", "-f", "-", input=unknown)
    assert server.get("widgets.example.com", "w", "default")["spec"] == {
        "size": 2,
        "extra": {"anything": [1]},
    }


def test_the_schema_is_the_one_of_the_version_the_server_reports(
    kubeapi_server: KubeApiServer, kubectl: Kubectl
):
    version = json.loads(kubectl("version", "-o", "json").stdout)["serverVersion"]
    assert f"{version['major']}.{version['minor']}.0" == SCHEMA_VERSION


def _crds_with_upstream_schemas() -> list[dict]:
    """The e2e CRDs, with each kind's spec schema from tests/k8s/crd_schemas.yaml."""
    printed = subprocess.run(
        [sys.executable, "hack/e2e_crds.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    entries = {
        e["kind"]: e for e in yaml.safe_load((ROOT / "tests/k8s/crd_schemas.yaml").read_text())
    }
    crds = []
    for crd in yaml.safe_load_all(printed):
        spec_schema = entries[crd["spec"]["names"]["kind"]]["spec"]
        for version in crd["spec"]["versions"]:
            version["schema"]["openAPIV3Schema"]["properties"]["spec"] = spec_schema
        crds.append(crd)
    return crds


def test_every_shipped_directory_passes_strict_validation(
    kubeapi_private_server: KubeApiServer, kubectl_for
):
    kubectl = kubectl_for(kubeapi_private_server)
    crds = _crds_with_upstream_schemas()
    kubectl("apply", "-f", "-", input=yaml.safe_dump_all(crds))
    applied = []
    for directory in (*APPLIED, *BASES):
        result = kubectl("apply", "-k", str(ROOT / directory), check=False)
        assert result.returncode == 0, f"{directory}:\n{result.stderr}"
        assert "Warning" not in result.stderr, f"{directory}:\n{result.stderr}"
        applied.extend(result.stdout.splitlines())
    assert any(line.startswith("deployment.apps/") for line in applied)
    assert any(line.startswith("gateway.networking.istio.io/") for line in applied)
    # The schemas bite: a misspelt field of a shipped custom kind is refused.
    gateway = next(
        obj
        for obj in yaml.safe_load_all(kubectl("kustomize", str(ROOT / "k8s/overlays/test")).stdout)
        if obj and obj["kind"] == "Gateway"
    )
    gateway["spec"]["selectr"] = gateway["spec"].pop("selector", {})
    refused = kubectl("apply", "-f", "-", input=json.dumps(gateway), check=False)
    assert 'strict decoding error: unknown field "spec.selectr"' in refused.stderr
