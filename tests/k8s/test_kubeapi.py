"""The manifests and the ConfigMap backup script against the Kubernetes API test server.

Real kubectl, real HTTP: every directory is applied in the runbook's order, and
scripts/backup-configmaps.sh backs up and restores ConfigMaps through kubectl.
Each test runs on a server of its own, so the fixed namespaces (shipshape,
istio-system) do not collide with other tests.
"""

from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path

import pytest

from tests.k8s.conftest import APPLIED, REPO, require_tool

SCRIPT = REPO / "scripts" / "backup-configmaps.sh"
NAMESPACES_VARIANT = REPO / "k8s" / "controller-namespaces"
NAMESPACES_SECRETS_VARIANT = REPO / "k8s" / "controller-namespaces-secrets"
CONTROLLER = "system:serviceaccount:shipshape:helloworld-controller"


@pytest.fixture()
def cluster(kubeapi_private_server, kubectl_for):
    """kubectl for a private server that already has Istio's namespace."""
    require_tool("jq")
    kubectl = kubectl_for(kubeapi_private_server)
    if kubectl("get", "namespace", "istio-system", check=False).returncode != 0:
        kubectl("create", "namespace", "istio-system")
    return kubectl


def apply_all(kubectl) -> None:
    for directory in APPLIED:
        result = kubectl("apply", "-k", str(REPO / directory))
        assert "created" in result.stdout or "configured" in result.stdout, directory


def backup_script(kubectl, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args],
        cwd=cwd,
        env=kubectl.env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def configmap(kubectl, name: str) -> dict:
    return json.loads(kubectl("-n", "shipshape", "get", "configmap", name, "-o", "json").stdout)


def test_every_directory_applies_in_the_runbook_order(cluster) -> None:
    apply_all(cluster)
    listed = cluster(
        "-n", "shipshape", "get",
        "deployments,statefulsets,services,configmaps,networkpolicies,"
        "gateways,virtualservices,destinationrules,certificates,authorizationpolicies,"
        "peerauthentications,servicemonitors,prometheusrules,"
        "horizontalpodautoscalers,poddisruptionbudgets,roles,rolebindings,serviceaccounts",
        "-o", "name",
    ).stdout.split()  # fmt: skip
    for expected in (
        "deployment.apps/helloworld-test",
        "deployment.apps/helloworld-prod",
        "statefulset.apps/helloworld-controller",
        "configmap/helloworld-config-test",
        "configmap/helloworld-config-prod",
        "gateway.networking.istio.io/helloworld-gateway-prod",
        "virtualservice.networking.istio.io/helloworld-virtualservice-test",
        "authorizationpolicy.security.istio.io/helloworld-allow-ingress-only-prod",
        "servicemonitor.monitoring.coreos.com/helloworld",
        "prometheusrule.monitoring.coreos.com/helloworld-alerts",
        "horizontalpodautoscaler.autoscaling/helloworld-prod",
        "poddisruptionbudget.policy/helloworld-prod",
        "role.rbac.authorization.k8s.io/helloworld-controller",
    ):
        assert expected in listed
    cluster("-n", "istio-system", "get", "envoyfilter", "helloworld-ingress-ratelimit")
    # A second pass creates nothing and changes nothing. kubectl always sends a
    # PodDisruptionBudget's selector again (its patch strategy is "replace"),
    # so it reports those as "configured" even when nothing differs.
    for directory in APPLIED:
        result = cluster("apply", "-k", str(REPO / directory))
        for line in result.stdout.splitlines():
            assert line.endswith(" unchanged") or line.startswith("poddisruptionbudget"), line


def can_i(cluster, *args: str) -> str:
    """``kubectl auth can-i ARGS`` as the controller's ServiceAccount: ``yes`` or ``no``."""
    return cluster("auth", "can-i", *args, "--as", CONTROLLER, check=False).stdout.strip()


def apply_in_teams(cluster, variant: Path, binding: str) -> None:
    """Create team-a, team-b and team-c, then apply ``variant``, which lists the first two.

    It must bind ``binding`` in each listed namespace, and nothing cluster-wide.
    """
    for namespace in ("team-a", "team-b", "team-c"):
        cluster("create", "namespace", namespace)
    result = cluster("apply", "-k", str(variant))
    created = f"rolebinding.rbac.authorization.k8s.io/{binding} created"
    assert result.stdout.count(created) == 2, result.stdout
    assert cluster("get", "clusterrolebindings", "-o", "name").stdout.count("shipshape") == 0


def test_the_namespace_list_variant_grants_its_namespaces_only(cluster) -> None:
    cluster("apply", "-k", str(REPO / "k8s/namespace"))
    # Its RoleBindings live in the watched namespaces, which must exist first.
    early = cluster("apply", "-k", str(NAMESPACES_VARIANT), check=False)
    assert early.returncode != 0 and "team-a" in early.stderr, early.stdout + early.stderr
    apply_in_teams(cluster, NAMESPACES_VARIANT, "helloworld-controller")
    for namespace in ("team-a", "team-b"):
        binding = cluster("-n", namespace, "get", "rolebinding", "helloworld-controller",
                          "-o", "jsonpath={.roleRef.kind}/{.roleRef.name}")  # fmt: skip
        assert binding.stdout == "ClusterRole/shipshape-helloworld-controller-namespaced"

    can = functools.partial(can_i, cluster)
    for namespace in ("team-a", "team-b"):
        assert can("watch", "configmaps", "-n", namespace) == "yes"
        assert can("patch", "deployments.apps", "-n", namespace) == "yes"
        assert can("create", "events", "-n", namespace) == "yes"
        assert can("list", "secrets", "-n", namespace) == "no"
    assert can("list", "configmaps", "-n", "team-c") == "no"
    assert can("list", "configmaps", "-n", "shipshape") == "no"
    assert can("list", "configmaps", "--all-namespaces") == "no"
    assert can("create", "leases.coordination.k8s.io", "-n", "shipshape") == "yes"


def test_the_namespace_list_with_secrets_lists_and_watches_them_there_only(cluster) -> None:
    cluster("apply", "-k", str(REPO / "k8s/namespace"))
    apply_in_teams(cluster, NAMESPACES_SECRETS_VARIANT, "helloworld-controller-secrets")
    for namespace in ("team-a", "team-b"):
        bindings = cluster("-n", namespace, "get", "rolebindings", "-o",
                           "jsonpath={range .items[*]}{.metadata.name}={.roleRef.kind}/"
                           "{.roleRef.name} {end}")  # fmt: skip
        assert sorted(bindings.stdout.split()) == [
            "helloworld-controller-secrets="
            "ClusterRole/shipshape-helloworld-controller-namespaced-secrets",
            "helloworld-controller=ClusterRole/shipshape-helloworld-controller-namespaced",
        ]

    can = functools.partial(can_i, cluster)
    for namespace in ("team-a", "team-b"):
        assert can("list", "secrets", "-n", namespace) == "yes"
        assert can("watch", "secrets", "-n", namespace) == "yes"
        assert can("get", "secrets", "-n", namespace) == "no"
        assert can("get", "secrets/api-secret", "-n", namespace) == "no"
        assert can("watch", "configmaps", "-n", namespace) == "yes"
    for namespace in ("team-c", "shipshape"):
        for verb in ("list", "watch", "get"):
            assert can(verb, "secrets", "-n", namespace) == "no", (verb, namespace)
    for verb in ("list", "watch", "get"):
        assert can(verb, "secrets", "--all-namespaces") == "no", verb
    assert can("create", "leases.coordination.k8s.io", "-n", "shipshape") == "yes"


def test_backup_and_restore_round_trip(cluster, tmp_path: Path) -> None:
    apply_all(cluster)
    first = backup_script(cluster, "backup", "b1", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "saved 2 ConfigMap(s) from shipshape to b1" in first.stdout
    files = sorted(p.name for p in (tmp_path / "b1").iterdir())
    assert files == ["SHA256SUMS", "helloworld-config-prod.json", "helloworld-config-test.json"]
    saved = json.loads((tmp_path / "b1/helloworld-config-test.json").read_text())
    assert set(saved["metadata"]) <= {"name", "namespace", "labels", "annotations"}
    assert saved["metadata"]["labels"]["env"] == "test"
    assert "kubectl.kubernetes.io/last-applied-configuration" not in saved["metadata"].get(
        "annotations", {}
    )
    # Deterministic: the same state gives the same bytes.
    assert backup_script(cluster, "backup", "b2", cwd=tmp_path).returncode == 0
    for name in files:
        assert (tmp_path / "b1" / name).read_bytes() == (tmp_path / "b2" / name).read_bytes()
    # An existing directory is never overwritten.
    again = backup_script(cluster, "backup", "b1", cwd=tmp_path)
    assert again.returncode == 1 and "already exists" in again.stderr

    # A bad push: test gets a new message and a stray key, prod is deleted.
    cluster("-n", "shipshape", "patch", "configmap", "helloworld-config-test", "--type", "merge",
            "-p", '{"data": {"MESSAGE": "broken", "EXTRA": "x"}}')  # fmt: skip
    cluster("-n", "shipshape", "delete", "configmap", "helloworld-config-prod")
    restored = backup_script(cluster, "restore", "b1", cwd=tmp_path)
    assert restored.returncode == 0, restored.stderr
    assert "restored 2 ConfigMap(s)" in restored.stdout
    for name in ("helloworld-config-test", "helloworld-config-prod"):
        live = configmap(cluster, name)
        want = json.loads((tmp_path / "b1" / f"{name}.json").read_text())
        assert live["data"] == want["data"]
        assert live["metadata"]["labels"] == want["metadata"]["labels"]


def test_restore_changes_nothing_when_the_dry_run_fails(cluster, tmp_path: Path) -> None:
    apply_all(cluster)
    assert backup_script(cluster, "backup", "b", cwd=tmp_path).returncode == 0
    cluster("-n", "shipshape", "patch", "configmap", "helloworld-config-test", "--type", "merge",
            "-p", '{"data": {"MESSAGE": "current"}}')  # fmt: skip
    # Make one file invalid for the server (a name Kubernetes rejects) and
    # re-seal the checksums so only the server can catch it.
    bad = tmp_path / "b" / "helloworld-config-prod.json"
    document = json.loads(bad.read_text())
    document["metadata"]["name"] = "Not_A_Valid_Name"
    bad.write_text(json.dumps(document, sort_keys=True))
    subprocess.run(["sh", "-c", "sha256sum -- *.json > SHA256SUMS"], cwd=tmp_path / "b", check=True)
    result = backup_script(cluster, "restore", "b", cwd=tmp_path)
    assert result.returncode == 1
    assert "server-side dry run rejected" in result.stderr
    assert configmap(cluster, "helloworld-config-test")["data"]["MESSAGE"] == "current"


def test_backup_reports_an_unreachable_cluster(tmp_path: Path) -> None:
    require_tool("jq")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n"
        "    server: https://127.0.0.1:9\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\n"
        "current-context: c\nusers:\n- name: u\n  user: {token: t}\n"
    )
    env = {"PATH": str(Path(require_tool("kubectl")).parent) + ":/usr/bin:/bin",
           "KUBECONFIG": str(kubeconfig), "HOME": str(tmp_path)}  # fmt: skip
    result = subprocess.run(
        [str(SCRIPT), "backup", "out"], cwd=tmp_path, env=env, capture_output=True, text=True,
        check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "cannot list ConfigMaps (app=helloworld) in namespace shipshape" in result.stderr
    assert not (tmp_path / "out").exists()
