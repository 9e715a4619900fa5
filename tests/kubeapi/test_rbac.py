"""RBAC, impersonation and ServiceAccount tokens, judged through real kubectl and the
real Python client."""

from __future__ import annotations

import json
from pathlib import Path

import kubernetes.client
import pytest
import yaml
from kubernetes.client.rest import ApiException

from tests.kubeapi import KubeApiServer
from tests.kubeapi.pytest_plugin import Kubectl

REPO = Path(__file__).resolve().parents[2]


def _apply(server: KubeApiServer, text: str, namespace: str) -> None:
    for doc in yaml.safe_load_all(text):
        if doc:
            doc.setdefault("metadata", {}).setdefault("namespace", namespace)
            server.apply(doc)


def _can_i(kubectl: Kubectl, *args: str) -> str:
    """Return `yes` or `no` (the first word kubectl prints), checking the exit status."""
    result = kubectl("auth", "can-i", *args, check=False)
    answer = result.stdout.split()[0] if result.stdout.split() else result.stderr
    assert result.returncode == (0 if answer == "yes" else 1), result
    return answer


def _sa(ns: str, name: str) -> str:
    return f"--as=system:serviceaccount:{ns}:{name}"


def _role_ref(kind: str, name: str) -> dict[str, str]:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name}


DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
        },
    },
}

RBAC = """
apiVersion: v1
kind: ServiceAccount
metadata: {name: bot}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader}
rules:
  - apiGroups: [""]
    resources: ["configmaps"]
    verbs: ["get", "list", "watch"]
  - apiGroups: ["apps"]
    resources: ["deployments/scale"]
    verbs: ["patch"]
  - apiGroups: [""]
    resources: ["secrets"]
    resourceNames: ["only-this"]
    verbs: ["get", "list"]
  - apiGroups: ["batch"]
    resources: ["*"]
    verbs: ["*"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: bot-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects: [{kind: ServiceAccount, name: bot}]
"""


def test_admin_may_do_anything_and_a_service_account_only_what_its_role_allows(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns = kubeapi_namespace
    _apply(kubeapi_server, RBAC, ns)
    assert _can_i(kubectl, "delete", "nodes") == "yes"
    assert _can_i(kubectl, "*", "*", "-n", ns) == "yes"
    bot = _sa(ns, "bot")
    assert _can_i(kubectl, "list", "configmaps", "-n", ns, bot) == "yes"
    assert _can_i(kubectl, "watch", "configmaps", "-n", ns, bot) == "yes"
    assert _can_i(kubectl, "create", "configmaps", "-n", ns, bot) == "no"
    assert _can_i(kubectl, "list", "configmaps", "-n", "default", bot) == "no"
    assert _can_i(kubectl, "list", "configmaps", "--all-namespaces", bot) == "no"
    # subresources: `deployments/scale` is not `deployments`, nor the other way round
    assert _can_i(kubectl, "patch", "deployments", "--subresource=scale", "-n", ns, bot) == "yes"
    assert _can_i(kubectl, "patch", "deployments", "-n", ns, bot) == "no"
    assert _can_i(kubectl, "get", "configmaps", "--subresource=status", "-n", ns, bot) == "no"
    # resourceNames: only that name, and never an unnamed list
    assert _can_i(kubectl, "get", "secrets/only-this", "-n", ns, bot) == "yes"
    assert _can_i(kubectl, "get", "secrets/other", "-n", ns, bot) == "no"
    assert _can_i(kubectl, "list", "secrets", "-n", ns, bot) == "no"
    # `*` verbs and resources within one group
    assert _can_i(kubectl, "deletecollection", "cronjobs", "-n", ns, bot) == "yes"
    assert _can_i(kubectl, "create", "jobs", "-n", ns, bot) == "yes"
    assert _can_i(kubectl, "create", "deployments", "-n", ns, bot) == "no"
    # another ServiceAccount of the namespace is bound to nothing
    assert _can_i(kubectl, "get", "configmaps", "-n", ns, _sa(ns, "other")) == "no"


def test_cluster_roles_bind_through_role_bindings_and_cluster_role_bindings(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns = kubeapi_namespace
    role = f"{ns}-lease-keeper"
    kubectl("create", "clusterrole", role, "--verb=get,update", "--resource=leases")
    kubectl("create", "clusterrole", f"{ns}-ns-lister", "--verb=list", "--resource=namespaces")
    try:
        kubectl("-n", ns, "create", "rolebinding", "keeper", f"--clusterrole={role}",
                f"--serviceaccount={ns}:keeper")  # fmt: skip
        kubectl("create", "clusterrolebinding", f"{ns}-lister", f"--clusterrole={ns}-ns-lister",
                "--user=jane", "--group=auditors")  # fmt: skip
        keeper = _sa(ns, "keeper")
        # a ClusterRole bound by a RoleBinding grants its rules in that namespace only
        assert _can_i(kubectl, "update", "leases.coordination.k8s.io", "-n", ns, keeper) == "yes"
        assert _can_i(kubectl, "update", "leases", "-n", "default", keeper) == "no"
        # a ClusterRoleBinding grants them everywhere, to a user or to a group
        assert _can_i(kubectl, "list", "namespaces", "--as=jane") == "yes"
        assert _can_i(kubectl, "list", "namespaces", "--as=bob") == "no"
        assert _can_i(kubectl, "list", "namespaces", "--as=bob", "--as-group=auditors") == "yes"
        # every ServiceAccount is in system:serviceaccounts and system:serviceaccounts:NS
        kubectl("-n", ns, "create", "rolebinding", "all-sa", f"--clusterrole={role}",
                f"--group=system:serviceaccounts:{ns}")  # fmt: skip
        assert _can_i(kubectl, "get", "leases", "-n", ns, _sa(ns, "anyone")) == "yes"
        # the reason RBAC gives when a binding names a missing role
        kubectl("-n", ns, "create", "rolebinding", "dangling", "--role=missing", "--user=eve")
        denied = kubectl("auth", "can-i", "get", "pods", "-n", ns, "--as=eve", check=False)
        assert denied.stdout.strip() == (
            'no - RBAC: role.rbac.authorization.k8s.io "missing" not found'
        )
    finally:
        kubectl("delete", "clusterrole", role, f"{ns}-ns-lister")
        kubectl("delete", "clusterrolebinding", f"{ns}-lister")


def test_a_denied_request_is_a_403_with_the_real_message(
    kubectl: Kubectl, kubectl_for, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns = kubeapi_namespace
    _apply(kubeapi_server, RBAC, ns)
    bot = kubectl_for(kubeapi_server, "rbac-bot", namespace=ns, service_account=f"{ns}/bot")
    assert bot("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}").stdout == (
        f"system:serviceaccount:{ns}:bot"
    )
    kubeapi_server.apply(DEPLOYMENT | {"metadata": {"name": "web", "namespace": ns}})
    # (kubectl patch reads the object first, which the Role does not allow either)
    refused = bot(
        "-n", ns, "patch", "deployment", "web", "-p", '{"spec":{"paused":true}}', check=False
    )
    assert refused.returncode == 1
    assert (
        f'Error from server (Forbidden): deployments.apps "web" is forbidden: User '
        f'"system:serviceaccount:{ns}:bot" cannot get resource "deployments" in API group '
        f'"apps" in the namespace "{ns}"'
    ) in refused.stderr
    listed = bot("get", "nodes", check=False)
    assert (
        f'nodes is forbidden: User "system:serviceaccount:{ns}:bot" cannot list resource '
        '"nodes" in API group "" at the cluster scope'
    ) in listed.stderr
    # the real Python client: deployments/scale is allowed, deployments/status is not
    api = kubernetes.client.AppsV1Api(kubeapi_server.api_client("rbac-bot"))
    assert (
        api.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 3}}).spec.replicas
        == 3
    )
    with pytest.raises(ApiException) as caught:
        api.patch_namespaced_deployment_status("web", ns, {"status": {"replicas": 9}})
    body = json.loads(caught.value.body)
    assert (caught.value.status, body["reason"]) == (403, "Forbidden")
    assert body["message"] == (
        f'deployments.apps "web" is forbidden: User "system:serviceaccount:{ns}:bot" cannot '
        f'patch resource "deployments/status" in API group "apps" in the namespace "{ns}"'
    )
    assert body["details"] == {"name": "web", "group": "apps", "kind": "deployments"}
    # non-resource paths: discovery is allowed to everyone, other paths are not
    core = kubernetes.client.CoreApi(kubeapi_server.api_client("rbac-bot"))
    assert core.get_api_versions().versions == ["v1"]
    metrics = bot("get", "--raw", "/metrics", check=False)
    assert (
        f'Error from server (Forbidden): forbidden: User "system:serviceaccount:{ns}:bot" '
        'cannot get path "/metrics"'
    ) in metrics.stderr


def test_impersonation_needs_the_impersonate_verb(
    kubectl: Kubectl, kubectl_for, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns = kubeapi_namespace
    _apply(kubeapi_server, RBAC, ns)
    bot = kubectl_for(kubeapi_server, "rbac-bot-2", namespace=ns, service_account=f"{ns}/bot")
    # (--raw: kubectl's discovery client reports a 403 on discovery as "unknown")
    refused = bot("get", "--raw", f"/api/v1/namespaces/{ns}/configmaps", "--as=jane", check=False)
    assert (
        f'users "jane" is forbidden: User "system:serviceaccount:{ns}:bot" cannot impersonate '
        'resource "users" in API group "" at the cluster scope'
    ) in refused.stderr
    kubectl("-n", ns, "create", "role", "impersonator", "--verb=impersonate",
            "--resource=serviceaccounts", "--resource-name=bot")  # fmt: skip
    kubectl("-n", ns, "create", "rolebinding", "impersonator", "--role=impersonator",
            f"--serviceaccount={ns}:bot")  # fmt: skip
    assert bot("get", "configmaps", _sa(ns, "bot")).returncode == 0


def test_can_i_list_shows_the_rules_that_apply(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns = kubeapi_namespace
    _apply(kubeapi_server, RBAC, ns)
    listed = kubectl("auth", "can-i", "--list", "-n", ns, _sa(ns, "bot")).stdout
    rows = {" ".join(line.split()) for line in listed.splitlines()}
    assert "configmaps [] [] [get list watch]" in rows
    assert "secrets [] [only-this] [get list]" in rows
    assert "deployments.apps/scale [] [] [patch]" in rows
    assert "selfsubjectaccessreviews.authorization.k8s.io [] [] [create]" in rows
    admin = kubectl("auth", "can-i", "--list", "-n", ns).stdout
    assert "*.* [] [] [*]" in {" ".join(line.split()) for line in admin.splitlines()}


def test_a_created_token_authenticates_as_its_service_account_until_it_is_deleted(
    kubectl: Kubectl, kubectl_for, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns = kubeapi_namespace
    _apply(kubeapi_server, RBAC, ns)
    kubectl("-n", ns, "create", "configmap", "settings", "--from-literal=a=1")
    created = kubectl("-n", ns, "create", "token", "bot", "--duration=20m", "-o", "json")
    request = json.loads(created.stdout)
    assert request["kind"] == "TokenRequest"
    assert request["spec"]["expirationSeconds"] == 1200
    assert request["status"]["expirationTimestamp"].endswith("Z")
    token = request["status"]["token"]
    assert kubectl("-n", ns, "create", "token", "bot").stdout.strip().count(".") == 2
    as_bot = kubectl_for(kubeapi_server, "token-holder", namespace=ns, token=token)
    assert as_bot("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}").stdout == (
        f"system:serviceaccount:{ns}:bot"
    )
    assert as_bot("get", "configmap", "settings", "-o", "name").stdout.strip() == (
        "configmap/settings"
    )
    denied = as_bot("delete", "configmap", "settings", check=False)
    assert "cannot delete resource" in denied.stderr
    # the Python client with that token, and TokenReview, agree
    core = kubernetes.client.CoreV1Api(kubeapi_server.api_client(token=token))
    assert core.read_namespaced_config_map("settings", ns).data == {"a": "1"}
    review = kubernetes.client.AuthenticationV1Api(kubeapi_server.api_client()).create_token_review(
        {"spec": {"token": token}}
    )
    assert review.status.authenticated and review.status.user.username.endswith(f"{ns}:bot")
    # deleting the ServiceAccount ends the token, and a new one of that name does not revive it
    kubectl("-n", ns, "delete", "serviceaccount", "bot")
    gone = as_bot("get", "configmap", "settings", check=False)
    assert "Unauthorized" in gone.stderr
    kubectl("-n", ns, "create", "serviceaccount", "bot")
    assert "Unauthorized" in as_bot("get", "configmap", "settings", check=False).stderr


def test_a_token_for_a_missing_service_account_is_404(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    missing = kubectl("-n", kubeapi_namespace, "create", "token", "nobody", check=False)
    assert missing.returncode == 1
    assert 'failed to create token: serviceaccounts "nobody" not found' in missing.stderr
    assert kubeapi_server.requests(resource="serviceaccounts", name="nobody")[-1].status == 404
    short = kubectl("-n", kubeapi_namespace, "create", "serviceaccount", "brief")
    assert short.returncode == 0
    too_short = kubectl("-n", kubeapi_namespace, "create", "token", "brief", "--duration=5m",
                        check=False)  # fmt: skip
    assert "spec.expirationSeconds: Invalid value" in too_short.stderr


def test_the_shipped_controller_role_allows_exactly_what_the_controller_needs(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns = kubeapi_namespace
    manifests = REPO / "k8s" / "controller"
    rbac = (manifests / "rbac.yaml").read_text()
    # the RoleBinding names the ServiceAccount's namespace, as an overlay would set it
    rbac = rbac.replace("namespace: shipshape", f"namespace: {ns}")
    kubectl("-n", ns, "apply", "-f", str(manifests / "serviceaccount.yaml"))
    kubectl("-n", ns, "apply", "-f", "-", input=rbac)
    controller = _sa(ns, "helloworld-controller")
    allowed = [
        ("list", "configmaps"),
        ("watch", "configmaps"),
        ("get", "deployments.apps"),
        ("list", "deployments.apps"),
        ("watch", "deployments.apps"),
        ("patch", "deployments.apps"),
        *(
            (verb, f"{kind}.apps")
            for kind in ("statefulsets", "daemonsets")
            for verb in ("get", "list", "watch", "patch")
        ),
        ("create", "events"),
        ("create", "leases.coordination.k8s.io"),
        ("get", "leases.coordination.k8s.io/helloworld-controller-leader"),
        ("update", "leases.coordination.k8s.io/helloworld-controller-leader"),
    ]
    refused = [
        ("get", "configmaps/app-config"),
        ("delete", "deployments.apps"),
        ("update", "deployments.apps"),
        ("get", "secrets"),
        ("list", "secrets"),
        ("get", "leases.coordination.k8s.io/another-lease"),
        ("delete", "leases.coordination.k8s.io/helloworld-controller-leader"),
        ("create", "pods"),
        ("update", "statefulsets.apps"),
        ("delete", "daemonsets.apps"),
        ("patch", "replicasets.apps"),
        ("patch", "events"),
    ]
    for verb, what in allowed:
        assert _can_i(kubectl, verb, what, "-n", ns, controller) == "yes", (verb, what)
    for verb, what in refused:
        assert _can_i(kubectl, verb, what, "-n", ns, controller) == "no", (verb, what)
    assert _can_i(kubectl, "list", "configmaps", "-n", "default", controller) == "no"


def test_authorization_comes_before_the_resource_is_looked_up(
    kubectl_for, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    # The real server authorizes from the path before routing: a caller RBAC
    # does not allow gets 403, not 404, for a resource or subresource not served.
    ns = kubeapi_namespace
    _apply(kubeapi_server, RBAC, ns)
    bot = kubectl_for(kubeapi_server, "rbac-bot-3", namespace=ns, service_account=f"{ns}/bot")
    user = f"system:serviceaccount:{ns}:bot"
    for path, message in (
        (
            f"/apis/apps/v1/namespaces/{ns}/foobars",
            f'foobars.apps is forbidden: User "{user}" cannot list resource "foobars" '
            f'in API group "apps" in the namespace "{ns}"',
        ),
        (
            f"/api/v1/namespaces/{ns}/configmaps/x/status",
            f'configmaps "x" is forbidden: User "{user}" cannot get resource '
            f'"configmaps/status" in API group "" in the namespace "{ns}"',
        ),
    ):
        refused = bot("get", "--raw", path, check=False)
        assert refused.stderr.strip() == f"Error from server (Forbidden): {message}"
    admin = kubectl_for(kubeapi_server, namespace=ns)
    missing = admin("get", "--raw", f"/apis/apps/v1/namespaces/{ns}/foobars", check=False)
    assert "(NotFound)" in missing.stderr


def test_a_rule_with_resource_names_never_allows_a_deletecollection(
    kubectl: Kubectl, kubectl_for, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    # The real request-info parser takes a request's name from a `metadata.name`
    # field selector for list and watch only: a deletecollection has no name, so
    # a rule restricted by resourceNames never allows it.
    ns = kubeapi_namespace
    kubectl("-n", ns, "create", "serviceaccount", "collector")
    kubectl("-n", ns, "create", "role", "one-configmap", "--verb=deletecollection,list",
            "--resource=configmaps", "--resource-name=cm1b")  # fmt: skip
    kubectl("-n", ns, "create", "rolebinding", "collector", "--role=one-configmap",
            f"--serviceaccount={ns}:collector")  # fmt: skip
    kubectl("-n", ns, "create", "configmap", "cm1b")
    client = f"{ns}-collector"
    collector = kubectl_for(kubeapi_server, client, namespace=ns, service_account=f"{ns}/collector")
    assert _can_i(collector, "deletecollection", "configmaps") == "no"
    # a list naming it is allowed
    listed = collector("get", "configmaps", "--field-selector=metadata.name=cm1b", "-o", "name")
    assert listed.stdout.strip() == "configmap/cm1b"
    core = kubernetes.client.CoreV1Api(kubeapi_server.api_client(client))
    with pytest.raises(ApiException) as caught:
        core.delete_collection_namespaced_config_map(ns, field_selector="metadata.name=cm1b")
    body = json.loads(caught.value.body)
    assert (caught.value.status, body["reason"]) == (403, "Forbidden")
    assert body["message"] == (
        f'configmaps is forbidden: User "system:serviceaccount:{ns}:collector" cannot '
        f'deletecollection resource "configmaps" in API group "" in the namespace "{ns}"'
    )
    assert kubeapi_server.get("configmaps", "cm1b", ns) is not None


def test_a_role_binding_in_a_namespace_grants_verbs_on_that_namespace(
    kubectl: Kubectl, kubectl_for, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    # The path /api/v1/namespaces/NAME gives a request the namespace NAME, so a
    # RoleBinding there grants verbs on that Namespace object; a list of
    # namespaces stays cluster-scoped.
    ns = kubeapi_namespace
    kubectl("-n", ns, "create", "serviceaccount", "keeper")
    kubectl("-n", ns, "create", "role", "own-namespace", "--verb=get,patch",
            "--resource=namespaces")  # fmt: skip
    kubectl("-n", ns, "create", "rolebinding", "keeper", "--role=own-namespace",
            f"--serviceaccount={ns}:keeper")  # fmt: skip
    keeper = kubectl_for(kubeapi_server, f"{ns}-keeper", namespace=ns,
                         service_account=f"{ns}/keeper")  # fmt: skip
    assert _can_i(keeper, "get", f"namespaces/{ns}") == "yes"
    assert keeper("get", "namespace", ns, "-o", "name").stdout.strip() == f"namespace/{ns}"
    keeper("label", "namespace", ns, "team=blue")
    assert kubeapi_server.get("namespaces", ns)["metadata"]["labels"]["team"] == "blue"
    user = f"system:serviceaccount:{ns}:keeper"
    listed = keeper("get", "namespaces", check=False)
    assert (
        f'namespaces is forbidden: User "{user}" cannot list resource "namespaces" in API '
        'group "" at the cluster scope'
    ) in listed.stderr
    other = keeper("get", "namespace", "default", check=False)
    assert (
        f'namespaces "default" is forbidden: User "{user}" cannot get resource "namespaces" '
        'in API group "" in the namespace "default"'
    ) in other.stderr
    deleted = keeper("delete", "namespace", ns, check=False)
    assert (
        f'namespaces "{ns}" is forbidden: User "{user}" cannot delete resource "namespaces" '
        f'in API group "" in the namespace "{ns}"'
    ) in deleted.stderr


def test_a_binding_keeps_its_role_ref_and_is_validated_as_the_real_server_does(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns = kubeapi_namespace
    kubectl("-n", ns, "create", "rolebinding", "viewers", "--clusterrole=view", "--user=jane")
    patched = kubectl("-n", ns, "patch", "rolebinding", "viewers", "--type=merge",
                      "-p", '{"roleRef":{"name":"cluster-admin"}}', check=False)  # fmt: skip
    assert patched.returncode == 1
    assert (
        'The RoleBinding "viewers" is invalid: roleRef: Invalid value: rbac.RoleRef{APIGroup:'
        '"rbac.authorization.k8s.io", Kind:"ClusterRole", Name:"cluster-admin"}: '
        "cannot change roleRef"
    ) in patched.stderr
    assert kubeapi_server.get("rolebindings", "viewers", ns)["roleRef"]["name"] == "view"
    rbac = kubernetes.client.RbacAuthorizationV1Api(kubeapi_server.api_client())
    crb = f"{ns}-viewers"
    rbac.create_cluster_role_binding(
        {
            "metadata": {"name": crb},
            "roleRef": _role_ref("ClusterRole", "view"),
            "subjects": [{"kind": "ServiceAccount", "name": "bot", "namespace": ns}],
        }
    )
    try:
        with pytest.raises(ApiException) as caught:
            rbac.patch_cluster_role_binding(crb, {"roleRef": {"kind": "Role"}})
        body = json.loads(caught.value.body)
        assert (caught.value.status, body["reason"]) == (422, "Invalid")
        assert body["message"] == (
            f'ClusterRoleBinding.rbac.authorization.k8s.io "{crb}" is invalid: '
            '[roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole", '
            'roleRef: Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", '
            'Kind:"Role", Name:"view"}: cannot change roleRef]'
        )
    finally:
        rbac.delete_cluster_role_binding(crb)
    # a ClusterRoleBinding binds ClusterRoles only, and names a ServiceAccount's namespace
    with pytest.raises(ApiException) as caught:
        rbac.create_cluster_role_binding(
            {
                "metadata": {"name": crb},
                "roleRef": _role_ref("Role", "view"),
                "subjects": [{"kind": "ServiceAccount", "name": "bot"}],
            }
        )
    body = json.loads(caught.value.body)
    assert (caught.value.status, body["reason"]) == (422, "Invalid")
    assert body["message"] == (
        f'ClusterRoleBinding.rbac.authorization.k8s.io "{crb}" is invalid: '
        '[roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole", '
        "subjects[0].namespace: Required value]"
    )
    assert [(c["reason"], c["field"]) for c in body["details"]["causes"]] == [
        ("FieldValueNotSupported", "roleRef.kind"),
        ("FieldValueRequired", "subjects[0].namespace"),
    ]
    assert kubeapi_server.get("clusterrolebindings", crb) is None
    # a RoleBinding's ServiceAccount subject may leave out its namespace (the binding's)
    kubectl("-n", ns, "apply", "-f", "-", input=(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\n"
        "metadata: {name: local}\n"
        "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}\n"
        "subjects: [{kind: ServiceAccount, name: bot}]\n"
    ))  # fmt: skip
    assert kubeapi_server.get("rolebindings", "local", ns)["subjects"] == [
        {"kind": "ServiceAccount", "name": "bot"}
    ]


DELEGATE = """
apiVersion: v1
kind: ServiceAccount
metadata: {name: delegate}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: delegate}
rules:
  - apiGroups: [rbac.authorization.k8s.io]
    resources: [roles, rolebindings]
    verbs: [get, create, update, patch]
  - apiGroups: [""]
    resources: [configmaps]
    verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: delegate}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: delegate}
subjects: [{kind: ServiceAccount, name: delegate}]
"""


def test_a_role_or_binding_may_grant_only_what_its_writer_holds(
    kubectl: Kubectl, kubectl_for, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    # The real RBAC storage refuses a Role or binding that grants what its
    # writer lacks, unless the writer may `escalate` the role or `bind` it.
    ns = kubeapi_namespace
    _apply(kubeapi_server, DELEGATE, ns)
    delegate = kubectl_for(kubeapi_server, f"{ns}-delegate", namespace=ns,
                           service_account=f"{ns}/delegate")  # fmt: skip
    user = f"system:serviceaccount:{ns}:delegate"
    groups = f'["system:serviceaccounts" "system:serviceaccounts:{ns}" "system:authenticated"]'
    not_held = (
        f'user "{user}" (groups={groups}) is attempting to grant RBAC permissions not currently '
        "held:"
    )
    # what it holds it may grant
    delegate("create", "role", "cm-reader", "--verb=get,list", "--resource=configmaps")
    delegate("create", "rolebinding", "cm-reader", "--role=cm-reader", "--user=jane")
    # more it may not, on create or on update
    refused = delegate("create", "role", "secret-reader", "--verb=get,list",
                       "--resource=secrets,configmaps", check=False)  # fmt: skip
    assert (
        f'roles.rbac.authorization.k8s.io "secret-reader" is forbidden: {not_held}\n'
        '{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list"]}'
    ) in refused.stderr
    assert kubeapi_server.get("roles", "secret-reader", ns) is None
    patched = delegate("patch", "role", "cm-reader", "--type=json", "-p",
                       '[{"op":"add","path":"/rules/0/verbs/-","value":"delete"}]',
                       check=False)  # fmt: skip
    assert (
        f'roles.rbac.authorization.k8s.io "cm-reader" is forbidden: {not_held}\n'
        '{APIGroups:[""], Resources:["configmaps"], Verbs:["delete"]}'
    ) in patched.stderr
    assert kubeapi_server.get("roles", "cm-reader", ns)["rules"][0]["verbs"] == ["get", "list"]
    # a binding grants its role's rules: cluster-admin's are not held
    rbac = kubernetes.client.RbacAuthorizationV1Api(kubeapi_server.api_client(f"{ns}-delegate"))
    binding = {
        "metadata": {"name": "admins"},
        "roleRef": _role_ref("ClusterRole", "cluster-admin"),
        "subjects": [{"kind": "User", "name": "jane", "apiGroup": "rbac.authorization.k8s.io"}],
    }
    with pytest.raises(ApiException) as caught:
        rbac.create_namespaced_role_binding(ns, binding)
    body = json.loads(caught.value.body)
    assert (caught.value.status, body["reason"]) == (403, "Forbidden")
    assert body["message"] == (
        f'rolebindings.rbac.authorization.k8s.io "admins" is forbidden: {not_held}\n'
        '{APIGroups:["*"], Resources:["*"], Verbs:["*"]}\n{NonResourceURLs:["*"], Verbs:["*"]}'
    )
    assert body["details"] == {
        "name": "admins",
        "group": "rbac.authorization.k8s.io",
        "kind": "rolebindings",
    }
    # a binding's role must exist
    missing = delegate("create", "rolebinding", "dangling", "--role=missing", "--user=jane",
                       check=False)  # fmt: skip
    assert 'roles.rbac.authorization.k8s.io "missing" not found' in missing.stderr
    # `escalate` on roles and `bind` on a role lift the check
    kubectl("-n", ns, "create", "role", "delegate-more", "--verb=escalate", "--resource=roles")
    kubectl("-n", ns, "create", "role", "delegate-bind", "--verb=bind",
            "--resource=clusterroles", "--resource-name=cluster-admin")  # fmt: skip
    for role in ("delegate-more", "delegate-bind"):
        kubectl("-n", ns, "create", "rolebinding", role, f"--role={role}",
                f"--serviceaccount={ns}:delegate")  # fmt: skip
    delegate("create", "role", "secret-reader", "--verb=get,list", "--resource=secrets")
    rbac.create_namespaced_role_binding(ns, binding)
    assert kubeapi_server.get("rolebindings", "admins", ns)["roleRef"]["name"] == "cluster-admin"
