"""Server-side apply and managedFields, judged by the real kubectl and the real client."""

from __future__ import annotations

import copy
import json

import pytest
import yaml
from kubernetes import client, utils
from kubernetes.client.rest import ApiException

from tests.kubeapi import KubeApiServer
from tests.kubeapi.pytest_plugin import Kubectl

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
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
        env: [{name: MESSAGE, value: hello}, {name: COLOUR, value: blue}]
"""


def _get(kubectl: Kubectl, ns: str, *args: str) -> dict:
    return json.loads(kubectl("-n", ns, "get", *args, "-o", "json", "--show-managed-fields").stdout)


def _managed(obj: dict) -> dict[tuple[str, str], dict]:
    return {(e["manager"], e["operation"]): e for e in obj["metadata"].get("managedFields", [])}


def test_apply_creates_and_records_the_appliers_fields(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns = kubeapi_namespace
    out = kubectl("-n", ns, "apply", "--server-side", "--field-manager=gitops", "-f", "-",
                  input=DEPLOYMENT)  # fmt: skip
    assert out.stdout.strip() == "deployment.apps/web serverside-applied"
    shown = yaml.safe_load(
        kubectl("-n", ns, "get", "deploy", "web", "-o", "yaml", "--show-managed-fields").stdout
    )
    entry = _managed(shown)[("gitops", "Apply")]
    assert entry["apiVersion"] == "apps/v1"
    assert entry["fieldsType"] == "FieldsV1"
    assert entry["time"].endswith("Z")
    fields = entry["fieldsV1"]
    assert fields["f:metadata"] == {"f:labels": {"f:app": {}}}
    container = fields["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"app"}']
    assert container["."] == {}
    assert set(container["f:env"]) == {'k:{"name":"MESSAGE"}', 'k:{"name":"COLOUR"}'}
    # Ports are keyed by containerPort and protocol, the protocol defaulted.
    assert list(container["f:ports"]) == ['k:{"containerPort":8080,"protocol":"TCP"}']
    # Defaults the server filled in belong to nobody; the selector is atomic.
    assert "f:revisionHistoryLimit" not in fields["f:spec"]
    assert fields["f:spec"]["f:selector"] == {}
    # kubectl hides managedFields unless asked.
    plain = yaml.safe_load(kubectl("-n", ns, "get", "deploy", "web", "-o", "yaml").stdout)
    assert "managedFields" not in plain["metadata"]
    # Applying the same manifest again changes nothing.
    rv = kubeapi_server.wait_for_rollout("web", ns)["metadata"]["resourceVersion"]
    kubectl(
        "-n", ns, "apply", "--server-side", "--field-manager=gitops", "-f", "-", input=DEPLOYMENT
    )
    assert _get(kubectl, ns, "deploy", "web")["metadata"]["resourceVersion"] == rv


def test_conflict_names_the_owner_and_force_takes_the_field(
    kubectl: Kubectl, kubeapi_namespace: str
):
    ns = kubeapi_namespace
    kubectl("-n", ns, "apply", "-f", "-", input=DEPLOYMENT)  # client-side apply: an Update
    created = _get(kubectl, ns, "deploy", "web")
    assert ("kubectl-client-side-apply", "Update") in _managed(created)
    changed = DEPLOYMENT.replace("replicas: 2", "replicas: 5")
    refused = kubectl("-n", ns, "apply", "--server-side", "--field-manager=gitops", "-f", "-",
                      input=changed, check=False)  # fmt: skip
    assert refused.returncode == 1
    assert (
        'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: '
        ".spec.replicas" in refused.stderr
    )
    assert "--force-conflicts" in refused.stderr
    assert _get(kubectl, ns, "deploy", "web")["spec"]["replicas"] == 2
    kubectl("-n", ns, "apply", "--server-side", "--field-manager=gitops", "--force-conflicts",
            "-f", "-", input=changed)  # fmt: skip
    forced = _get(kubectl, ns, "deploy", "web")
    assert forced["spec"]["replicas"] == 5
    owners = [
        m for m, e in _managed(forced).items() if "f:replicas" in e["fieldsV1"].get("f:spec", {})
    ]
    assert owners == [("gitops", "Apply")]
    # kubectl moved the client-side apply's fields to the server-side applier (as it
    # does on a cluster, by rewriting managedFields in a patch the server honours).
    assert ("kubectl-client-side-apply", "Update") not in _managed(forced)


def test_conflicts_with_several_fields_and_managers(
    kubeapi_server: KubeApiServer, kubeapi_namespace
):
    ns = kubeapi_namespace
    apps = client.AppsV1Api(kubeapi_server.api_client())
    body = yaml.safe_load(DEPLOYMENT)
    apps.patch_namespaced_deployment("web", ns, body, field_manager="alice",
                                     _content_type="application/apply-patch+yaml")  # fmt: skip
    body["spec"]["replicas"] = 7
    body["spec"]["template"]["spec"]["containers"][0]["image"] = "web:2"
    with pytest.raises(ApiException) as caught:
        apps.patch_namespaced_deployment("web", ns, body, field_manager="bob",
                                         _content_type="application/apply-patch+yaml")  # fmt: skip
    status = json.loads(caught.value.body)
    assert caught.value.status == 409
    assert status["reason"] == "Conflict"
    assert status["message"] == (
        'Apply failed with 2 conflicts: conflicts with "alice":\n'
        "- .spec.replicas\n"
        '- .spec.template.spec.containers[name="app"].image'
    )
    assert {c["field"] for c in status["details"]["causes"]} == {
        ".spec.replicas", '.spec.template.spec.containers[name="app"].image'}  # fmt: skip
    assert {c["reason"] for c in status["details"]["causes"]} == {"FieldManagerConflict"}
    # Applying the same values is no conflict: the fields become shared.
    body["spec"]["replicas"] = 2
    body["spec"]["template"]["spec"]["containers"][0]["image"] = "web:1"
    apply = {"_content_type": "application/apply-patch+yaml"}
    shared = apps.patch_namespaced_deployment("web", ns, body, field_manager="bob", **apply)
    owners = {
        e.manager
        for e in shared.metadata.managed_fields
        if "f:replicas" in e.fields_v1.get("f:spec", {})
    }
    assert owners == {"alice", "bob"}
    # Forcing takes a field away from its other owners.
    body["spec"]["replicas"] = 3
    forced = apps.patch_namespaced_deployment(
        "web", ns, body, field_manager="bob", force=True, **apply
    )
    owners = {
        e.manager
        for e in forced.metadata.managed_fields
        if "f:replicas" in e.fields_v1.get("f:spec", {})
    }
    assert owners == {"bob"}
    assert forced.spec.replicas == 3


def test_fields_a_manager_stops_applying_are_removed_unless_others_own_them(
    kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns = kubeapi_namespace
    apps = client.AppsV1Api(kubeapi_server.api_client())
    body = yaml.safe_load(DEPLOYMENT)
    apply = dict(_content_type="application/apply-patch+yaml")
    apps.patch_namespaced_deployment("web", ns, body, field_manager="gitops", **apply)
    # Another manager takes the pod template's annotations and a label of its own.
    apps.patch_namespaced_deployment(
        "web", ns,
        {"metadata": {"labels": {"team": "a"}},
         "spec": {"template": {"metadata": {"annotations": {"x/y": "1"}}}}},
        field_manager="other",
    )  # fmt: skip
    # gitops drops the COLOUR variable and its label: both go (gitops alone owned them).
    body["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "MESSAGE", "value": "hello"}
    ]
    del body["metadata"]["labels"]
    apps.patch_namespaced_deployment("web", ns, body, field_manager="gitops", **apply)
    live = kubeapi_server.get("deployments", "web", ns)
    container = live["spec"]["template"]["spec"]["containers"][0]
    assert container["env"] == [{"name": "MESSAGE", "value": "hello"}]
    assert live["metadata"]["labels"] == {"team": "a"}
    assert live["spec"]["template"]["metadata"]["annotations"] == {"x/y": "1"}


def test_apply_needs_a_field_manager_and_other_writes_get_a_default(
    kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns = kubeapi_namespace
    api = kubeapi_server.api_client()
    core = client.CoreV1Api(api)
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}
    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_config_map("c", ns, body,
                                         _content_type="application/apply-patch+yaml")  # fmt: skip
    assert caught.value.status == 422
    assert "fieldManager: Required value" in json.loads(caught.value.body)["message"]
    created = core.create_namespaced_config_map(ns, body)
    entries = created.metadata.managed_fields
    agent = api.user_agent.split("/")[0]
    assert [(e.manager, e.operation) for e in entries] == [(agent, "Update")]
    assert entries[0].fields_v1 == {"f:data": {".": {}, "f:a": {}}}


def test_delete_answers_what_the_real_server_answers(
    kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns = kubeapi_namespace
    core = client.CoreV1Api(kubeapi_server.api_client())
    core.create_namespaced_service(
        ns, {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}], "selector": {"a": "b"}}}
    )
    deleted = core.delete_namespaced_service("web", ns)
    assert isinstance(deleted, client.V1Service)
    assert deleted.metadata.name == "web"
    core.create_namespaced_config_map(ns, {"metadata": {"name": "c"}})
    status = core.delete_namespaced_config_map("c", ns, _preload_content=False)
    body = json.loads(status.data)
    assert (body["kind"], body["status"], body["details"]["name"]) == ("Status", "Success", "c")


MIXED = """\
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config}
data: {A: "1"}
---
apiVersion: v1
kind: ReplicationController
metadata: {name: legacy}
spec:
  replicas: 2
  selector: {app: legacy}
  template:
    metadata: {labels: {app: legacy}}
    spec:
      containers: [{name: app, image: legacy:1}]
"""

APISERVICE = """\
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1beta1.metrics.k8s.io}
spec:
  group: metrics.k8s.io
  version: v1beta1
  groupPriorityMinimum: 100
  versionPriority: 100
  service: {name: metrics-server, namespace: kube-system}
"""


@pytest.mark.parametrize("apply", [False, True])
def test_create_from_yaml_and_directory(
    kubeapi_server: KubeApiServer, kubeapi_namespace: str, tmp_path, apply: bool
):
    ns = kubeapi_namespace
    api = kubeapi_server.api_client()
    source = tmp_path / "mixed.yaml"
    source.write_text(MIXED + "---\n" + DEPLOYMENT)
    created = utils.create_from_yaml(api, str(source), namespace=ns, apply=apply)
    assert len(created) == 4
    kinds = {o["kind"] for o in kubeapi_server.list("services", ns)}
    assert kinds == {"Service"}
    assert kubeapi_server.get("replicationcontrollers", "legacy", ns) is not None
    rc = kubeapi_server.wait_for_rollout("legacy", ns, resource="replicationcontrollers")
    assert rc["status"]["readyReplicas"] == 2
    folder = tmp_path / "dir"
    folder.mkdir()
    (folder / "apiservice.yaml").write_text(APISERVICE)
    (folder / "cm.yaml").write_text(MIXED.split("---\n")[1].replace("web-config", "other"))
    utils.create_from_directory(api, str(folder), namespace=ns, apply=apply)
    assert kubeapi_server.get("apiservices", "v1beta1.metrics.k8s.io") is not None
    assert kubeapi_server.get("configmaps", "other", ns) is not None
    kubeapi_server.delete("apiservices", "v1beta1.metrics.k8s.io")
    if apply:  # applying again is a no-op, not an AlreadyExists
        utils.create_from_yaml(api, str(source), namespace=ns, apply=True)


def test_replication_controller_rolls_out_with_kubectl(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns = kubeapi_namespace
    rc = MIXED.split("---\n")[2]
    kubectl("-n", ns, "apply", "--server-side", "-f", "-", input=rc)
    kubeapi_server.wait_for_rollout("legacy", ns, resource="replicationcontrollers")
    kubectl("-n", ns, "apply", "--server-side", "-f", "-", input=rc.replace("legacy:1", "legacy:2"))
    live = kubeapi_server.get("replicationcontrollers", "legacy", ns)
    assert live["metadata"]["generation"] == 2
    assert len(kubeapi_server.revisions("legacy", ns, "replicationcontrollers")) == 2
    done = kubeapi_server.wait_for_rollout("legacy", ns, resource="replicationcontrollers")
    assert done["status"]["observedGeneration"] == 2
    listed = kubectl("-n", ns, "get", "rc", "-o", "name").stdout.split()
    assert listed == ["replicationcontroller/legacy"]
    resources = kubectl("api-resources", "--api-group=apiregistration.k8s.io", "-o", "name")
    assert resources.stdout.split() == ["apiservices.apiregistration.k8s.io"]


def _server_side(kubectl: Kubectl, ns: str, manifest: str, *flags: str, check: bool = True):
    """Run `kubectl apply --server-side` (with `flags`) of a manifest in a namespace."""
    return kubectl(
        "-n", ns, "apply", "--server-side", *flags, "-f", "-", input=manifest, check=check
    )


def _owners(obj: dict, *path: str) -> set[str]:
    """Return the managers whose managedFields reach the `fieldsV1` path given."""
    owners = set()
    for entry in obj["metadata"].get("managedFields", []):
        node = entry["fieldsV1"]
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None:
            owners.add(entry["manager"])
    return owners


def test_kubectl_upgrades_a_client_side_applied_object_without_conflicts(
    kubectl: Kubectl, kubeapi_namespace: str
):
    ns = kubeapi_namespace
    kubectl("-n", ns, "apply", "-f", "-", input=DEPLOYMENT)  # client-side apply
    new_image = DEPLOYMENT.replace("web:1", "web:2")
    image = '.spec.template.spec.containers[name="app"].image'
    # Another manager gets no allowance for the last-applied fields.
    gitops = _server_side(kubectl, ns, new_image, "--field-manager=gitops", check=False)
    assert gitops.returncode == 1
    assert (
        'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: '
        + image
    ) in gitops.stderr
    # A field changed since the client-side apply is a conflict still, and the
    # only one reported: the image is as last applied, so it is not.
    kubectl("-n", ns, "patch", "deploy", "web", "--field-manager=ops", "--type=merge",
            "-p", '{"spec": {"replicas": 3}}')  # fmt: skip
    refused = _server_side(kubectl, ns, new_image.replace("replicas: 2", "replicas: 4"),
                           check=False)  # fmt: skip
    assert refused.returncode == 1
    assert (
        'Apply failed with 1 conflict: conflict with "ops" using apps/v1: .spec.replicas'
        in refused.stderr
    )
    assert image not in refused.stderr
    # Only unchanged last-applied fields conflict: the apply goes through as forced.
    applied = _server_side(kubectl, ns, new_image.replace("replicas: 2", "replicas: 3"))
    assert applied.stdout.strip() == "deployment.apps/web serverside-applied"
    live = _get(kubectl, ns, "deploy", "web")
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "web:2"
    container = ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"app"}')
    assert _owners(live, *container, "f:image") == {"kubectl"}
    assert _owners(live, "f:spec", "f:replicas") == {"kubectl", "ops"}
    # The server rewrote the annotation to the applied configuration.
    annotation = live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    assert annotation.endswith("}\n")
    last = json.loads(annotation)
    assert last["spec"]["template"]["spec"]["containers"][0]["image"] == "web:2"
    assert last["spec"]["replicas"] == 3


def test_an_apply_may_not_set_managed_fields(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns = kubeapi_namespace
    entry = {"manager": "someone", "operation": "Apply", "apiVersion": "v1",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:a": {}}}}  # fmt: skip
    manifest = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "c", "managedFields": [entry]},
                "data": {"a": "1"}}  # fmt: skip
    refused = _server_side(kubectl, ns, json.dumps(manifest), check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "Error from server (BadRequest): metadata.managedFields must be nil"
    )
    core = client.CoreV1Api(kubeapi_server.api_client())
    apply = {"field_manager": "m", "_content_type": "application/apply-patch+yaml"}
    manifest["metadata"]["managedFields"] = []  # an empty list is no nil either
    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_config_map("c", ns, manifest, **apply)
    status = json.loads(caught.value.body)
    assert (caught.value.status, status["reason"]) == (400, "BadRequest")
    assert status["message"] == "metadata.managedFields must be nil"
    assert kubeapi_server.get("configmaps", "c", ns) is None
    # null is nil: the apply goes through and records the applier's fields only.
    manifest["metadata"]["managedFields"] = None
    created = core.patch_namespaced_config_map("c", ns, manifest, **apply)
    assert [(e.manager, e.operation) for e in created.metadata.managed_fields] == [("m", "Apply")]
    assert created.metadata.managed_fields[0].fields_v1 == {"f:data": {"f:a": {}}}
    _server_side(
        kubectl, ns, json.dumps({**manifest, "metadata": {"name": "c"}, "data": {"b": "2"}})
    )
    shown = _get(kubectl, ns, "configmap", "c")
    assert shown["data"] == {"a": "1", "b": "2"}
    assert _managed(shown)[("kubectl", "Apply")]["fieldsV1"] == {"f:data": {"f:b": {}}}


GADGET_CRD = yaml.safe_load("""\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Gadget, plural: gadgets, singular: gadget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              items:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [name]
                items:
                  type: object
                  required: [name]
                  properties: {name: {type: string}, value: {type: string}}
              tags: {type: array, x-kubernetes-list-type: set, items: {type: string}}
              notes: {type: array, items: {type: string}}
""")


def _gadget(name: str, **spec: object) -> dict:
    return {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": name},
            "spec": spec}  # fmt: skip


def test_crd_list_types_merge_by_key_and_by_value(
    kubeapi_private_server: KubeApiServer, kubectl_for
):
    server = kubeapi_private_server
    kubectl = kubectl_for(server)
    kubectl("apply", "-f", "-", input=json.dumps(GADGET_CRD))
    api = client.CustomObjectsApi(server.api_client())
    gadgets = ("example.com", "v1", "default", "gadgets")
    apply = {"_content_type": "application/apply-patch+yaml"}
    first = _gadget("g", items=[{"name": "a", "value": "1"}], tags=["x"], notes=["n1"])
    api.patch_namespaced_custom_object(*gadgets, "g", first, field_manager="alice", **apply)
    second = _gadget("g", items=[{"name": "b", "value": "2"}], tags=["y"])
    merged = api.patch_namespaced_custom_object(*gadgets, "g", second, field_manager="bob", **apply)
    assert merged["spec"]["items"] == [{"name": "a", "value": "1"}, {"name": "b", "value": "2"}]
    assert merged["spec"]["tags"] == ["x", "y"]
    assert merged["spec"]["notes"] == ["n1"]
    fields = {e["manager"]: e["fieldsV1"]["f:spec"] for e in merged["metadata"]["managedFields"]}
    item = {".": {}, "f:name": {}, "f:value": {}}
    assert fields["alice"]["f:items"] == {'k:{"name":"a"}': item}
    assert fields["alice"]["f:tags"] == {'v:"x"': {}}
    assert fields["alice"]["f:notes"] == {}  # an atomic list is one field
    assert fields["bob"]["f:items"] == {'k:{"name":"b"}': item}
    assert fields["bob"]["f:tags"] == {'v:"y"': {}}
    # Each owns its elements: changing the other's is a conflict on that element.
    second["spec"]["items"] = [{"name": "a", "value": "9"}]
    with pytest.raises(ApiException) as caught:
        api.patch_namespaced_custom_object(*gadgets, "g", second, field_manager="bob", **apply)
    assert caught.value.status == 409
    assert json.loads(caught.value.body)["message"] == (
        'Apply failed with 1 conflict: conflict with "alice": .spec.items[name="a"].value'
    )
    # An element its manager no longer applies goes; the other's stays.
    first["spec"]["tags"] = []
    kept = api.patch_namespaced_custom_object(*gadgets, "g", first, field_manager="alice", **apply)
    assert kept["spec"]["tags"] == ["y"]


def test_crd_keyed_lists_may_not_repeat_an_item(kubeapi_private_server: KubeApiServer, kubectl_for):
    server = kubeapi_private_server
    kubectl = kubectl_for(server)
    kubectl("apply", "-f", "-", input=json.dumps(GADGET_CRD))
    api = client.CustomObjectsApi(server.api_client())
    gadgets = ("example.com", "v1", "default", "gadgets")
    twice = _gadget(
        "d",
        items=[{"name": "a"}, {"name": "a", "value": "2"}, {"name": "a"}],
        tags=["x", "y", "x"],
        notes=["n", "n"],
    )
    with pytest.raises(ApiException) as caught:
        api.create_namespaced_custom_object(*gadgets, twice)
    status = json.loads(caught.value.body)
    assert (caught.value.status, status["reason"]) == (422, "Invalid")
    assert status["message"] == (
        'Gadget.example.com "d" is invalid: ['
        'spec.items[1]: Duplicate value: map[string]interface {}{"name":"a"}, '
        'spec.tags[2]: Duplicate value: "x"]'
    )
    assert [(c["reason"], c["field"]) for c in status["details"]["causes"]] == [
        ("FieldValueDuplicate", "spec.items[1]"),
        ("FieldValueDuplicate", "spec.tags[2]"),
    ]
    # An apply is refused before that, by the typed conversion of the configuration.
    with pytest.raises(ApiException) as caught:
        api.patch_namespaced_custom_object(
            *gadgets, "d", twice, field_manager="m", _content_type="application/apply-patch+yaml"
        )
    status = json.loads(caught.value.body)
    assert caught.value.status == 500
    assert "reason" not in status
    assert status["message"] == (
        "failed to create typed patch object (/d; example.com/v1, Kind=Gadget): errors:\n"
        '  .spec.items: duplicate entries for key [name="a"]\n'
        '  .spec.items: duplicate entries for key [name="a"]\n'
        '  .spec.tags: duplicate entries for key [="x"]'
    )
    # The same goes for the built-in kinds' keyed lists.
    deployment = yaml.safe_load(DEPLOYMENT)
    deployment["metadata"]["namespace"] = "default"
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    env.append({"name": "MESSAGE", "value": "again"})
    refused = kubectl(
        "apply", "--server-side", "-f", "-", input=json.dumps(deployment), check=False
    )
    assert refused.stderr.strip() == (
        "Error from server: failed to create typed patch object (default/web; apps/v1, "
        'Kind=Deployment): .spec.template.spec.containers[name="app"].env: duplicate entries '
        'for key [name="MESSAGE"]'
    )
    # A single item, or distinct ones, are fine.
    created = api.create_namespaced_custom_object(
        *gadgets,
        _gadget("d", items=[{"name": "a"}, {"name": "b"}], tags=["x", "y"], notes=["n", "n"]),
    )
    assert created["spec"]["tags"] == ["x", "y"]
    # Ratcheting: once `notes` is a set, an object that already repeats a note may
    # still be updated, but no write may start repeating one.
    as_set = copy.deepcopy(GADGET_CRD)
    spec_schema = as_set["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec_schema["properties"]["notes"]["x-kubernetes-list-type"] = "set"
    kubectl("apply", "-f", "-", input=json.dumps(as_set))
    patched = api.patch_namespaced_custom_object(*gadgets, "d", {"spec": {"tags": ["z"]}})
    assert patched["spec"]["notes"] == ["n", "n"]
    with pytest.raises(ApiException) as caught:
        api.create_namespaced_custom_object(*gadgets, _gadget("e", notes=["n", "n"]))
    assert json.loads(caught.value.body)["details"]["causes"][0]["field"] == "spec.notes[1]"
