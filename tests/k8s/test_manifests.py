"""The rendered manifests: structure the runbook and contracts require."""

from __future__ import annotations

import copy
import re

import pytest

from tests.k8s.conftest import APPLIED, BASES, VARIANTS, Render

ENVS = ("test", "prod")
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def pod_specs(render: Render):
    for obj in render.objects:
        if obj["kind"] in {"Deployment", "StatefulSet"}:
            yield obj, obj["spec"]["template"]["spec"]


def test_every_directory_renders(renders: dict[str, Render]) -> None:
    assert set(renders) == set(APPLIED + BASES + VARIANTS)
    assert all(r.objects for r in renders.values())


def test_only_the_namespace_directory_owns_the_namespace(renders: dict[str, Render]) -> None:
    owners = [d for d, r in renders.items() if "Namespace" in r.kinds()]
    assert owners == ["k8s/namespace"]
    namespace = renders["k8s/namespace"].one("Namespace", "shipshape")
    assert namespace["metadata"]["labels"]["istio-injection"] == "enabled"


@pytest.mark.parametrize("env", ENVS)
def test_overlay_objects_are_named_and_labelled_for_their_environment(
    renders: dict[str, Render], env: str
) -> None:
    render = renders[f"k8s/overlays/{env}"]
    for obj in render.objects:
        assert obj["metadata"]["namespace"] == "shipshape"
        assert obj["metadata"]["name"].endswith(f"-{env}")
        assert obj["metadata"]["labels"]["env"] == env
    expected = {
        ("ConfigMap", f"helloworld-config-{env}"),
        ("Deployment", f"helloworld-{env}"),
        ("Service", f"helloworld-{env}"),
        ("Gateway", f"helloworld-gateway-{env}"),
        ("VirtualService", f"helloworld-virtualservice-{env}"),
        ("DestinationRule", f"helloworld-destinationrule-{env}"),
        ("Certificate", f"helloworld-cert-{env}"),
        ("AuthorizationPolicy", f"helloworld-allow-ingress-only-{env}"),
        ("NetworkPolicy", f"helloworld-{env}"),
    }
    names = {(o["kind"], o["metadata"]["name"]) for o in render.objects}
    assert expected <= names
    assert "ServiceMonitor" not in render.kinds() and "PrometheusRule" not in render.kinds()
    peer = [o for o in render.objects if o["kind"] == "PeerAuthentication"]
    assert [p["spec"]["mtls"]["mode"] for p in peer] == ["STRICT"]
    assert peer[0]["spec"]["selector"]["matchLabels"] == {"app": "helloworld", "env": env}


def test_only_prod_autoscales_and_has_a_disruption_budget(renders: dict[str, Render]) -> None:
    prod = renders["k8s/overlays/prod"]
    hpa = prod.one("HorizontalPodAutoscaler", "helloworld-prod")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "helloworld-prod"
    pdb = prod.one("PodDisruptionBudget", "helloworld-prod")
    assert pdb["spec"]["selector"]["matchLabels"] == {"app": "helloworld", "env": "prod"}
    test_kinds = renders["k8s/overlays/test"].kinds()
    assert "HorizontalPodAutoscaler" not in test_kinds and "PodDisruptionBudget" not in test_kinds


@pytest.mark.parametrize("env", ENVS)
def test_app_reads_its_message_from_its_configmap(renders: dict[str, Render], env: str) -> None:
    render = renders[f"k8s/overlays/{env}"]
    deployment = render.one("Deployment", f"helloworld-{env}")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env_vars = {v["name"]: v for v in container["env"]}
    assert env_vars["MESSAGE"]["valueFrom"]["configMapKeyRef"] == {
        "name": f"helloworld-config-{env}",
        "key": "MESSAGE",
    }
    assert env_vars["APP_ENV"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.labels['env']"
    assert deployment["spec"]["template"]["metadata"]["labels"]["env"] == env
    assert env_vars["PORT"]["value"] == "8080"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert "MESSAGE" in render.one("ConfigMap", f"helloworld-config-{env}")["data"]


def test_controller_statefulset_matches_the_contract(renders: dict[str, Render]) -> None:
    controller = renders["k8s/controller"]
    sts = controller.one("StatefulSet", "helloworld-controller")
    spec = sts["spec"]
    assert spec["replicas"] == 2
    assert spec["serviceName"] == "helloworld-controller"
    [claim] = spec["volumeClaimTemplates"]
    container = spec["template"]["spec"]["containers"][0]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == "/var/lib/shipshape"
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"http": 8080}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
    env = {v["name"]: v for v in container["env"]}
    assert env["JOURNAL_URL"]["value"] == "sqlite:////var/lib/shipshape/journal.db"
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["CONFIGMAP_LABEL_SELECTOR"]["value"] == "app=helloworld"
    assert env["LEADER_ELECTION_LEASE_NAME"]["value"] == "helloworld-controller-leader"
    assert env["HTTP_PORT"]["value"] == "8080"
    expected = {
        "NAMESPACE", "CONFIGMAP_LABEL_SELECTOR", "DEBOUNCE_SECONDS", "WATCH_TIMEOUT_SECONDS",
        "LEADER_ELECTION_ENABLED", "LEADER_ELECTION_LEASE_NAME",
        "LEADER_ELECTION_LEASE_DURATION_SECONDS", "LEADER_ELECTION_RENEW_DEADLINE_SECONDS",
        "LEADER_ELECTION_RETRY_PERIOD_SECONDS", "POD_NAME", "HTTP_PORT", "JOURNAL_URL",
        "LOG_LEVEL",
    }  # fmt: skip
    assert set(env) == expected
    lease = [int(env[f"LEADER_ELECTION_{k}_SECONDS"]["value"]) for k in ("LEASE_DURATION",
             "RENEW_DEADLINE", "RETRY_PERIOD")]  # fmt: skip
    assert lease[0] > lease[1] > 1.2 * lease[2]


def test_controller_rbac_is_least_privilege(renders: dict[str, Render]) -> None:
    role = renders["k8s/controller"].one("Role", "helloworld-controller")
    granted = {
        (group, resource, verb, tuple(rule.get("resourceNames", ())))
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    lease = ("helloworld-controller-leader",)
    assert granted == {
        ("", "configmaps", "list", ()),
        ("", "configmaps", "watch", ()),
        *(
            ("apps", kind, verb, ())
            for kind in ("deployments", "statefulsets", "daemonsets")
            for verb in ("get", "list", "watch", "patch")
        ),
        ("", "events", "create", ()),
        ("coordination.k8s.io", "leases", "create", ()),
        ("coordination.k8s.io", "leases", "get", lease),
        ("coordination.k8s.io", "leases", "update", lease),
    }
    assert "ClusterRole" not in renders["k8s/controller"].kinds()
    binding = renders["k8s/controller"].one("RoleBinding", "helloworld-controller")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "helloworld-controller", "namespace": "shipshape"}
    ]


def rbac(role: dict) -> set[tuple[str, str, str, tuple[str, ...]]]:
    return {
        (group, resource, verb, tuple(rule.get("resourceNames", ())))
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


CLUSTER_RBAC = {
    ("", "configmaps", "list", ()),
    ("", "configmaps", "watch", ()),
    *(
        ("apps", kind, verb, ())
        for kind in ("deployments", "statefulsets", "daemonsets")
        for verb in ("get", "list", "watch", "patch")
    ),
    ("", "events", "create", ()),
}
LEASE_ONLY = {
    ("coordination.k8s.io", "leases", "create", ()),
    ("coordination.k8s.io", "leases", "get", ("helloworld-controller-leader",)),
    ("coordination.k8s.io", "leases", "update", ("helloworld-controller-leader",)),
}


#: The variants with cluster scope (the namespace lists are held apart).
CLUSTER_VARIANTS = tuple(v for v in VARIANTS if v.startswith("k8s/controller-cluster"))
NAMESPACES_VARIANT = "k8s/controller-namespaces"
NAMESPACES_SECRETS_VARIANT = "k8s/controller-namespaces-secrets"
CONTROLLER_ACCOUNT = {
    "kind": "ServiceAccount",
    "name": "helloworld-controller",
    "namespace": "shipshape",
}


def controller_container(sts: dict) -> dict:
    """Return the StatefulSet's container ``controller``."""
    (container,) = [
        c for c in sts["spec"]["template"]["spec"]["containers"] if c["name"] == "controller"
    ]
    return container


def test_the_variants_are_cluster_scoped_or_the_namespace_list() -> None:
    assert set(VARIANTS) == {*CLUSTER_VARIANTS, NAMESPACES_VARIANT, NAMESPACES_SECRETS_VARIANT}
    assert len(CLUSTER_VARIANTS) == 2


@pytest.mark.parametrize("variant", CLUSTER_VARIANTS)
def test_cluster_scope_rbac_is_exactly_what_it_needs(
    renders: dict[str, Render], variant: str
) -> None:
    render = renders[variant]
    cluster = render.one("ClusterRole", "shipshape-helloworld-controller")
    assert rbac(cluster) == CLUSTER_RBAC
    binding = render.one("ClusterRoleBinding", "shipshape-helloworld-controller")
    assert binding["roleRef"]["name"] == "shipshape-helloworld-controller"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "helloworld-controller", "namespace": "shipshape"}
    ]
    # The Lease stays namespaced, in the controller's namespace, and is all the Role keeps.
    role = render.one("Role", "helloworld-controller")
    assert role["metadata"]["namespace"] == "shipshape"
    assert rbac(role) == LEASE_ONLY
    # Same controller as k8s/controller; only the RBAC and the scope settings
    # differ (every namespace and ConfigMap; Secrets with their key in -secrets).
    base = renders["k8s/controller"]
    sts = copy.deepcopy(render.one("StatefulSet", "helloworld-controller"))
    pod = sts["spec"]["template"]["spec"]
    container = controller_container(sts)
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["WATCH_NAMESPACES"] == "*" and env["CONFIGMAP_LABEL_SELECTOR"] == ""
    scope = {"WATCH_NAMESPACES", "WATCH_SECRETS", "SECRET_HASH_KEY_FILE"}
    if variant.endswith("-secrets"):
        assert env["WATCH_SECRETS"] == "true"
        assert env["SECRET_HASH_KEY_FILE"] == "/etc/shipshape/secret-hash/key"
        (mount,) = [m for m in container["volumeMounts"] if m["name"] == "secret-hash"]
        assert mount["readOnly"] is True
        (volume,) = [v for v in pod["volumes"] if v["name"] == "secret-hash"]
        assert volume["secret"]["secretName"] == "helloworld-controller-secret-hash"
        container["volumeMounts"].remove(mount)
        pod["volumes"].remove(volume)
    else:
        assert "WATCH_SECRETS" not in env
    container["env"] = [e for e in container["env"] if e["name"] not in scope]
    base_container = controller_container(base.one("StatefulSet", "helloworld-controller"))
    base_env = {e["name"]: e for e in base_container["env"]}
    assert {e["name"]: e for e in container["env"]} == {
        **base_env,
        "CONFIGMAP_LABEL_SELECTOR": {"name": "CONFIGMAP_LABEL_SELECTOR", "value": ""},
    }
    container["env"] = base_container["env"]
    assert sts == base.one("StatefulSet", "helloworld-controller")
    secrets = [
        r for r in render.objects if r["kind"] == "ClusterRole" and "secrets" in str(r["rules"])
    ]
    if variant.endswith("-secrets"):
        (role_secrets,) = secrets
        assert rbac(role_secrets) == {("", "secrets", "list", ()), ("", "secrets", "watch", ())}
        binding = render.one("ClusterRoleBinding", "shipshape-helloworld-controller-secrets")
        assert binding["roleRef"]["name"] == "shipshape-helloworld-controller-secrets"
    else:
        assert secrets == []


def test_the_namespace_list_binds_its_cluster_role_in_each_listed_namespace_only(
    renders: dict[str, Render],
) -> None:
    render = renders[NAMESPACES_VARIANT]
    assert "ClusterRoleBinding" not in render.kinds()
    assert "secrets" not in render.text
    cluster = render.one("ClusterRole", "shipshape-helloworld-controller-namespaced")
    assert [o for o in render.objects if o["kind"] == "ClusterRole"] == [cluster]
    assert rbac(cluster) == CLUSTER_RBAC
    grants = {
        b["metadata"]["namespace"]: b
        for b in render.objects
        if b["kind"] == "RoleBinding" and b["roleRef"]["kind"] == "ClusterRole"
    }
    assert sorted(grants) == ["team-a", "team-b"]
    for binding in grants.values():
        assert binding["metadata"]["name"] == "helloworld-controller"
        assert binding["roleRef"]["name"] == "shipshape-helloworld-controller-namespaced"
        assert binding["subjects"] == [CONTROLLER_ACCOUNT]
    role = render.one("Role", "helloworld-controller")
    assert role["metadata"]["namespace"] == "shipshape"
    assert rbac(role) == LEASE_ONLY
    # Same controller as k8s/controller but for the namespace list and the selector.
    base = renders["k8s/controller"].one("StatefulSet", "helloworld-controller")
    sts = copy.deepcopy(render.one("StatefulSet", "helloworld-controller"))
    container = controller_container(sts)
    base_env = {e["name"]: e for e in controller_container(base)["env"]}
    assert {e["name"]: e for e in container["env"]} == {
        **base_env,
        "CONFIGMAP_LABEL_SELECTOR": {"name": "CONFIGMAP_LABEL_SELECTOR", "value": ""},
        "WATCH_NAMESPACES": {"name": "WATCH_NAMESPACES", "value": "team-a,team-b"},
    }
    container["env"] = controller_container(base)["env"]
    assert sts == base


def test_the_namespace_list_with_secrets_adds_their_list_and_watch_in_its_namespaces_only(
    renders: dict[str, Render],
) -> None:
    render = renders[NAMESPACES_SECRETS_VARIANT]
    plain = renders[NAMESPACES_VARIANT]
    assert "ClusterRoleBinding" not in render.kinds()
    # Secrets: one more ClusterRole, list and watch only, never get.
    secrets = render.one("ClusterRole", "shipshape-helloworld-controller-namespaced-secrets")
    assert rbac(secrets) == {("", "secrets", "list", ()), ("", "secrets", "watch", ())}
    assert secrets["metadata"]["labels"] == {
        "app": "helloworld-controller",
        "app.kubernetes.io/part-of": "shipshape",
        "app.kubernetes.io/component": "controller",
    }
    namespaced = render.one("ClusterRole", "shipshape-helloworld-controller-namespaced")
    assert rbac(namespaced) == CLUSTER_RBAC
    assert sorted(o["metadata"]["name"] for o in render.objects if o["kind"] == "ClusterRole") == [
        "shipshape-helloworld-controller-namespaced",
        "shipshape-helloworld-controller-namespaced-secrets",
    ]
    # Each ClusterRole bound once in each listed namespace, to the controller alone.
    grants: dict[str, dict[str, str]] = {}
    for binding in render.objects:
        if binding["kind"] == "RoleBinding" and binding["roleRef"]["kind"] == "ClusterRole":
            assert binding["subjects"] == [CONTROLLER_ACCOUNT]
            bound = grants.setdefault(binding["metadata"]["namespace"], {})
            assert binding["metadata"]["name"] not in bound
            bound[binding["metadata"]["name"]] = binding["roleRef"]["name"]
    assert grants == {
        namespace: {
            "helloworld-controller": "shipshape-helloworld-controller-namespaced",
            "helloworld-controller-secrets": "shipshape-helloworld-controller-namespaced-secrets",
        }
        for namespace in ("team-a", "team-b")
    }
    # The namespaced Role keeps the Lease alone: no Secrets in shipshape.
    role = render.one("Role", "helloworld-controller")
    assert role["metadata"]["namespace"] == "shipshape"
    assert rbac(role) == LEASE_ONLY
    # Everything else is k8s/controller-namespaces' but for the Secrets settings
    # of k8s/controller-cluster-secrets: WATCH_SECRETS and the key, read-only.
    added = {
        ("ClusterRole", "shipshape-helloworld-controller-namespaced-secrets"),
        ("RoleBinding", "helloworld-controller-secrets"),
        ("StatefulSet", "helloworld-controller"),
    }
    rest = [o for o in render.objects if (o["kind"], o["metadata"]["name"]) not in added]
    assert rest == [o for o in plain.objects if o["kind"] != "StatefulSet"]
    sts = copy.deepcopy(render.one("StatefulSet", "helloworld-controller"))
    pod = sts["spec"]["template"]["spec"]
    container = controller_container(sts)
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["WATCH_NAMESPACES"] == "team-a,team-b" and env["CONFIGMAP_LABEL_SELECTOR"] == ""
    assert env["WATCH_SECRETS"] == "true"
    assert env["SECRET_HASH_KEY_FILE"] == "/etc/shipshape/secret-hash/key"
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "secret-hash"]
    assert mount == {"name": "secret-hash", "mountPath": "/etc/shipshape/secret-hash",
                     "readOnly": True}  # fmt: skip
    (volume,) = [v for v in pod["volumes"] if v["name"] == "secret-hash"]
    assert volume["secret"] == {"secretName": "helloworld-controller-secret-hash",
                                "defaultMode": 0o400}  # fmt: skip
    container["volumeMounts"].remove(mount)
    pod["volumes"].remove(volume)
    secret_env = {"WATCH_SECRETS", "SECRET_HASH_KEY_FILE"}
    container["env"] = [e for e in container["env"] if e["name"] not in secret_env]
    assert sts == plain.one("StatefulSet", "helloworld-controller")
    # And the same Secrets settings as the cluster variant with Secrets.
    cluster = controller_container(
        renders["k8s/controller-cluster-secrets"].one("StatefulSet", "helloworld-controller")
    )
    ours = controller_container(render.one("StatefulSet", "helloworld-controller"))
    assert [e for e in ours["env"] if e["name"] in secret_env] == [
        e for e in cluster["env"] if e["name"] in secret_env
    ]


def test_the_namespace_scoped_controller_grants_nothing_cluster_wide_nor_secrets(
    renders: dict[str, Render],
) -> None:
    assert "ClusterRoleBinding" not in renders["k8s/controller"].kinds()
    assert "secrets" not in renders["k8s/controller"].text


def test_controller_egress_ships_the_deny_placeholder(renders: dict[str, Render]) -> None:
    policy = renders["k8s/controller"].one("NetworkPolicy", "helloworld-controller")
    api = [r for r in policy["spec"]["egress"] if {"port": 443, "protocol": "TCP"} in r["ports"]]
    assert api == [
        {
            "to": [{"ipBlock": {"cidr": "127.255.255.255/32"}}],
            "ports": [{"port": 443, "protocol": "TCP"}],
        }
    ]
    dns = [r for r in policy["spec"]["egress"] if {"port": 53, "protocol": "UDP"} in r["ports"]]
    assert len(dns) == 1


def test_every_pod_is_hardened_and_pinned(renders: dict[str, Render]) -> None:
    seen = 0
    for directory in APPLIED:
        for obj, spec in pod_specs(renders[directory]):
            name = f"{directory} {obj['kind']} {obj['metadata']['name']}"
            assert spec["securityContext"]["runAsNonRoot"] is True, name
            assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
            for container in spec["containers"]:
                seen += 1
                context = container["securityContext"]
                assert context["readOnlyRootFilesystem"] is True, name
                assert context["allowPrivilegeEscalation"] is False, name
                assert context["capabilities"]["drop"] == ["ALL"], name
                assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name
                assert DIGEST.search(container["image"]), name
                for kind in ("requests", "limits"):
                    assert {"cpu", "memory"} <= set(container["resources"][kind]), name
    assert seen == 3


def test_metrics_are_closed_to_everyone_but_prometheus(renders: dict[str, Render]) -> None:
    prometheus = "cluster.local/ns/monitoring/sa/prometheus-k8s"
    for env in ENVS:
        render = renders[f"k8s/overlays/{env}"]
        allow = render.one("AuthorizationPolicy", f"helloworld-allow-ingress-only-{env}")
        for rule in allow["spec"]["rules"]:
            principals = rule["from"][0]["source"]["principals"]
            operation = rule["to"][0]["operation"]
            if principals == [prometheus]:
                assert operation["paths"] == ["/metrics"]
            else:
                assert "/metrics" in operation["notPaths"]
        deny = render.one("AuthorizationPolicy", f"helloworld-deny-public-metrics-{env}")
        assert deny["spec"]["action"] == "DENY"
        assert deny["spec"]["rules"][0]["from"][0]["source"]["notPrincipals"] == [prometheus]


def test_ratelimit_envoyfilter_limits_each_host(renders: dict[str, Render]) -> None:
    envoy_filter = renders["k8s/istio-ingress"].one("EnvoyFilter", "helloworld-ingress-ratelimit")
    assert envoy_filter["metadata"]["namespace"] == "istio-system"
    vhosts = {}
    for patch in envoy_filter["spec"]["configPatches"]:
        vhost = patch["match"].get("routeConfiguration", {}).get("vhost", {}).get("name")
        if vhost:
            vhosts[vhost] = patch["patch"]["value"]["typed_per_filter_config"][
                "envoy.filters.http.local_ratelimit"
            ]["value"]
    assert set(vhosts) == {f"{env}.helloworld.shipshape.example.com:443" for env in ENVS}
    for config in vhosts.values():
        assert config["token_bucket"] == {
            "max_tokens": 120,
            "tokens_per_fill": 120,
            "fill_interval": "60s",
        }
        assert {"key": "x-shipshape-ratelimited", "value": "true"} in [
            h["header"] for h in config["response_headers_to_add"]
        ]


def test_monitoring_scrapes_both_environments_with_the_env_label(
    renders: dict[str, Render],
) -> None:
    monitoring = renders["k8s/monitoring"]
    app = monitoring.one("ServiceMonitor", "helloworld")
    assert app["spec"]["targetLabels"] == ["env"]
    assert app["spec"]["selector"]["matchLabels"] == {"app": "helloworld"}
    controller = monitoring.one("ServiceMonitor", "helloworld-controller")
    assert controller["spec"]["selector"]["matchLabels"] == {"app": "helloworld-controller"}
    assert [o["kind"] for o in monitoring.objects].count("PrometheusRule") == 1
