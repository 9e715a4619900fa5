"""Any workload that opts in, Secrets and two namespaces, against the API test server.

The controller runs as its ServiceAccount under the cluster variant's RBAC
(``k8s/controller-cluster-secrets``: the namespaced Role cut down to the Lease,
a ClusterRole for what it watches and patches, another for Secrets), with
``WATCH_NAMESPACES=team-a,team-b`` and ``WATCH_SECRETS=true``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

from records import kinds as k
from reloader.core import data_hash
from tests.kubeapi import KubeApiServer
from tests.kubeapi.cluster import Cluster
from tests.reloader.e2e.harness import NS, controller, wait_for

ROOT = Path(__file__).resolve().parents[3]
TEAMS = ("team-a", "team-b")
AUTO = {"reloader.stakater.com/auto": "true"}
PASSWORD = "correct-horse-battery-staple"
PASSWORD_2 = "tr0ub4dor&3"
IMAGE = "registry.example/helloworld@sha256:" + "0" * 64


def cluster_rbac(kube: KubeApiServer) -> None:
    """Apply the -secrets variant's cluster RBAC and cut the Role down to the Lease, as it does."""
    for variant in ("controller-cluster", "controller-cluster-secrets"):
        for obj in yaml.safe_load_all((ROOT / "k8s" / variant / "clusterrole.yaml").read_text()):
            if obj:
                kube.apply(obj)
    for name in TEAMS:
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


def workload(kind: str, name: str, ns: str, annotations: dict, pod_spec: dict) -> dict[str, Any]:
    labels = {"app": name}
    spec: dict[str, Any] = {
        "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels}, "spec": pod_spec},
    }
    if kind != "DaemonSet":
        spec["replicas"] = 1
    if kind == "StatefulSet":
        spec["serviceName"] = name
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": ns, "annotations": annotations},
        "spec": spec,
    }


def container(**extra: Any) -> dict[str, Any]:
    return {"name": "app", "image": IMAGE, **extra}


def configmap(name: str, ns: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns},
        "data": data,
    }


def secret(name: str, ns: str, password: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": ns},
        "type": "Opaque",
        "data": {"password": base64.b64encode(password.encode()).decode()},
    }


def applied(kube: KubeApiServer, resource: str, name: str, ns: str) -> str | None:
    obj = kube.get(resource, name, ns) or {}
    return ((obj.get("metadata") or {}).get("annotations") or {}).get("shipshape.io/config-hash")


def patched(ctl, obj: str, ns: str) -> list[Any]:
    return [r for r in ctl.records([k.RESTART_PATCHED]) if r.object == obj and r.namespace == ns]


def test_statefulsets_daemonsets_and_secrets_across_two_namespaces(
    cluster: Cluster, kube: KubeApiServer, tmp_path: Path
) -> None:
    cluster_rbac(kube)
    key = tmp_path / "secret-hash.key"
    key.write_bytes(b"0123456789abcdef0123456789abcdef")
    a, b = TEAMS
    kube.apply(configmap("db-config", a, {"MODE": "one"}))
    kube.apply(configmap("agent-config", b, {"LEVEL": "info"}))
    kube.apply(secret("api-secret", a, PASSWORD))
    kube.apply(
        workload(
            "StatefulSet",
            "db",
            a,
            AUTO,
            {
                "containers": [container()],
                "volumes": [{"name": "cfg", "configMap": {"name": "db-config"}}],
            },
        )
    )
    kube.apply(
        workload(
            "DaemonSet",
            "agent",
            b,
            AUTO,
            {"containers": [container(envFrom=[{"configMapRef": {"name": "agent-config"}}])]},
        )
    )
    kube.apply(
        workload(
            "Deployment",
            "api",
            a,
            {"secret.reloader.stakater.com/reload": "api-secret"},
            {"containers": [container()]},
        )
    )
    ctl = controller(
        cluster,
        env={
            "WATCH_NAMESPACES": ",".join(TEAMS),
            "WATCH_SECRETS": "true",
            "SECRET_HASH_KEY_FILE": str(key),
            "CONFIGMAP_LABEL_SELECTOR": "",  # every ConfigMap: annotations decide
        },
    ).start()

    # The first sync adopts each workload: its current hash, no rollout.
    wait_for(lambda: applied(kube, "statefulsets", "db", a), "the StatefulSet adopted")
    wait_for(lambda: applied(kube, "daemonsets", "agent", b), "the DaemonSet adopted")
    adopted = wait_for(lambda: applied(kube, "deployments", "api", a), "the Deployment adopted")
    assert adopted.startswith("hmac-sha256:"), "a Secret's hash is keyed"

    kube.patch("configmaps", "db-config", {"data": {"MODE": "two"}}, namespace=a)
    kube.patch("configmaps", "agent-config", {"data": {"LEVEL": "debug"}}, namespace=b)
    for obj, ns in (("statefulset/db", a), ("daemonset/agent", b)):
        ctl.wait_record(
            lambda r, obj=obj, ns=ns: (
                r.kind == k.ROLLOUT_COMPLETED and r.object == obj and r.namespace == ns
            ),
            f"the rollout of {obj} verified",
            timeout=30,
        )
    assert len(kube.revisions("db", a, "statefulsets")) == 2
    assert len(kube.revisions("agent", b, "daemonsets")) == 2

    kube.patch(
        "secrets",
        "api-secret",
        {"data": {"password": base64.b64encode(PASSWORD_2.encode()).decode()}},
        namespace=a,
    )
    ctl.wait_record(
        lambda r: r.kind == k.ROLLOUT_COMPLETED and r.object == "deployment/api",
        "the Deployment restarted for its Secret",
        timeout=30,
    )
    seq = ctl.records()[-1].seq
    ctl.quiesce(seq)
    assert len(patched(ctl, "deployment/api", a)) == 1, "exactly once"
    assert len(kube.revisions("api", a)) == 2
    event = wait_for(
        lambda: next(
            (
                e
                for e in kube.list("events", a)
                if e.get("reason") == "SecretChanged" and e["involvedObject"]["name"] == "api"
            ),
            None,
        ),
        "the restart's Event",
    )
    assert event["involvedObject"]["kind"] == "Deployment"
    assert ctl.stop() == 0

    # Nothing the controller wrote holds the Secret's values or a plain hash of them.
    forbidden = set()
    for value in (PASSWORD, PASSWORD_2):
        encoded = base64.b64encode(value.encode()).decode()
        forbidden |= {
            value,
            encoded,
            hashlib.sha256(value.encode()).hexdigest(),
            hashlib.sha256(encoded.encode()).hexdigest(),
            data_hash({"password": encoded}, None),
            data_hash({"password": value}, None),
        }
    written = {
        "journal": ctl.journal_path.read_bytes().decode("utf-8", "replace"),
        "log": ctl.log.read_text(encoding="utf-8", errors="replace"),
    }
    for resource, name, ns in (
        ("deployments", "api", a),
        ("statefulsets", "db", a),
        ("daemonsets", "agent", b),
    ):
        written[f"{resource}/{name}"] = json.dumps(kube.get(resource, name, ns))
    written["events"] = json.dumps([kube.list("events", ns) for ns in (*TEAMS, NS)])
    for where, text in written.items():
        for needle in forbidden:
            assert needle not in text, f"a Secret value or plain hash in the {where}"
    assert "hmac-sha256:" in written["journal"]
