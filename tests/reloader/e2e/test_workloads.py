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
import subprocess
from pathlib import Path
from typing import Any

import yaml

from journal import Journal
from records import kinds as k
from reloader.core import data_hash
from tests.kubeapi import KubeApiServer
from tests.kubeapi.cluster import Cluster, Controller
from tests.reloader.e2e.harness import NS, controller, wait_for
from tests.reloader.e2e.test_controller import replay_check

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


def configmap(
    name: str, ns: str, data: dict[str, str], annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns, "annotations": annotations or {}},
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


def rolled_once(ctl: Controller, obj: str, ns: str) -> None:
    """Wait for the rollout of ``obj`` in ``ns`` to complete; it must be its only restart."""
    ctl.wait_record(
        lambda r: r.kind == k.ROLLOUT_COMPLETED and r.object == obj and r.namespace == ns,
        f"{ns}/{obj} restarted",
        timeout=30,
    )
    ctl.quiesce(ctl.records()[-1].seq)
    assert len(patched(ctl, obj, ns)) == 1, "exactly once"


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
    db = workload(
        "StatefulSet",
        "db",
        a,
        AUTO,
        {
            "containers": [container()],
            "volumes": [{"name": "cfg", "configMap": {"name": "db-config"}}],
        },
    )
    # Partitioned: ordinal 0 keeps the old template, as kubectl's "partitioned
    # roll out complete" allows; the rollout is verified all the same.
    db["spec"] |= {
        "replicas": 3,
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}},
    }
    kube.apply(db)
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
    rolled_once(ctl, "deployment/api", a)  # restarted for its Secret, exactly once
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
    # One restart counted per workload, by kind and namespace.
    for kind, name, ns in (
        ("statefulset", "db", a),
        ("daemonset", "agent", b),
        ("deployment", "api", a),
    ):
        labels = {"deployment": name, "kind": kind, "workload_namespace": ns}
        assert ctl.metric("configmap_reload_restarts_total", labels) == 1, labels
    status, metrics = ctl.get("/metrics")
    assert status == 200
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
        "metrics": metrics,
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
    # The decisions re-run from the journal alone: none differs.
    replay_check(ctl.journal_path)


def test_on_delete_workloads_are_patched_and_their_rollouts_not_followed(
    cluster: Cluster, kube: KubeApiServer
) -> None:
    """Under updateStrategy OnDelete no pod takes a new template until somebody
    deletes it (kubectl will not follow such a rollout either): the restart ends
    at the patch, with rollout.skipped. Followed, each would hold the only
    rollout slot until its rollout timed out, and then report a timeout."""
    cluster_rbac(kube)
    a, b = TEAMS
    for name, ns, kind in (("db", a, "StatefulSet"), ("agent", b, "DaemonSet")):
        kube.apply(configmap(f"{name}-config", ns, {"MODE": "one"}))
        obj = workload(
            kind,
            name,
            ns,
            AUTO,
            {"containers": [container(envFrom=[{"configMapRef": {"name": f"{name}-config"}}])]},
        )
        obj["spec"]["updateStrategy"] = {"type": "OnDelete"}
        kube.apply(obj)
    ctl = controller(
        cluster,
        env={
            "WATCH_NAMESPACES": ",".join(TEAMS),
            "CONFIGMAP_LABEL_SELECTOR": "",
            "MAX_CONCURRENT_ROLLOUTS": "1",
            "ROLLOUT_TIMEOUT_SECONDS": "60",
        },
    ).start()
    wait_for(lambda: applied(kube, "statefulsets", "db", a), "the StatefulSet adopted")
    wait_for(lambda: applied(kube, "daemonsets", "agent", b), "the DaemonSet adopted")
    kube.patch("configmaps", "db-config", {"data": {"MODE": "two"}}, namespace=a)
    kube.patch("configmaps", "agent-config", {"data": {"MODE": "two"}}, namespace=b)
    for obj, ns in (("statefulset/db", a), ("daemonset/agent", b)):
        skipped = ctl.wait_record(
            lambda r, obj=obj, ns=ns: (
                r.kind == k.ROLLOUT_SKIPPED and r.object == obj and r.namespace == ns
            ),
            f"{obj} patched, its rollout left to whoever deletes its pods",
            timeout=20,
        )
        assert skipped.data["reason"] == "on-delete"
        [patch] = patched(ctl, obj, ns)
        assert patch.correlation_id == skipped.correlation_id
    # The template changed; no pod did (the test server's controllers, as the real ones).
    assert len(kube.revisions("db", a, "statefulsets")) == 2
    assert ctl.metric("configmap_reload_rollouts_total", {"outcome": "timeout"}) == 0
    assert ctl.stop() == 0
    assert not ctl.records([k.ROLLOUT_TIMEOUT, k.ROLLOUT_COMPLETED])
    report = replay_check(ctl.journal_path)
    assert sorted(r["rollout"] for r in report["restarts"]) == ["skipped", "skipped"]


def test_every_opt_in_rule_replays_from_the_journal_with_no_difference(
    cluster: Cluster, kube: KubeApiServer, tmp_path: Path
) -> None:
    """search/match, ignore, a reload pattern, a typed auto through a projected volume,
    a Secret's reload list and a per-workload debounce: ``replay --check`` re-runs them all,
    and reports the one decision changed in a copy of the journal."""
    cluster_rbac(kube)
    key = tmp_path / "secret-hash.key"
    key.write_bytes(b"0123456789abcdef0123456789abcdef")
    ns = TEAMS[0]
    match = {"reloader.stakater.com/match": "true"}
    kube.apply(configmap("web-config", ns, {"A": "1"}, match))
    kube.apply(configmap("web-flags", ns, {"F": "1"}, {**match, "shipshape.io/ignore": "true"}))
    kube.apply(configmap("cache-settings", ns, {"SIZE": "1"}))
    kube.apply(configmap("agent-config", ns, {"LEVEL": "info"}))
    kube.apply(secret("web-key", ns, PASSWORD))
    web_env = [{"name": "F", "valueFrom": {"configMapKeyRef": {"name": "web-flags", "key": "F"}}}]
    kube.apply(
        workload(
            "Deployment",
            "web",
            ns,
            {
                "reloader.stakater.com/search": "true",
                "secret.reloader.stakater.com/reload": "web-key",
                "shipshape.io/debounce": "2s",
            },
            {
                "containers": [container(env=web_env)],
                "volumes": [{"name": "cfg", "configMap": {"name": "web-config"}}],
            },
        )
    )
    kube.apply(
        workload(
            "StatefulSet",
            "cache",
            ns,
            {"configmap.reloader.stakater.com/reload": "cache-.*"},
            {"containers": [container()]},
        )
    )
    projected = {"sources": [{"configMap": {"name": "agent-config"}}]}
    kube.apply(
        workload(
            "DaemonSet",
            "agent",
            ns,
            {"shipshape.io/configmap-auto": "true"},
            {"containers": [container()], "volumes": [{"name": "p", "projected": projected}]},
        )
    )
    ctl = controller(
        cluster,
        env={
            "WATCH_NAMESPACES": ns,
            "WATCH_SECRETS": "true",
            "SECRET_HASH_KEY_FILE": str(key),
            "CONFIGMAP_LABEL_SELECTOR": "",
        },
    ).start()
    for resource, name in (
        ("deployments", "web"),
        ("statefulsets", "cache"),
        ("daemonsets", "agent"),
    ):
        wait_for(lambda r=resource, n=name: applied(kube, r, n, ns), f"{resource}/{name} adopted")

    def rolled(obj: str, count: int) -> None:
        ctl.wait_record(
            lambda r: (
                r.kind == k.ROLLOUT_COMPLETED
                and r.object == obj
                and len([x for x in ctl.records([k.ROLLOUT_COMPLETED]) if x.object == obj]) >= count
            ),
            f"rollout {count} of {obj} verified",
            timeout=30,
        )

    kube.patch("configmaps", "web-flags", {"data": {"F": "2"}}, namespace=ns)  # ignored
    kube.patch("configmaps", "web-config", {"data": {"A": "2"}}, namespace=ns)  # searched
    rolled("deployment/web", 1)
    kube.patch("configmaps", "cache-settings", {"data": {"SIZE": "2"}}, namespace=ns)
    kube.patch("configmaps", "agent-config", {"data": {"LEVEL": "debug"}}, namespace=ns)
    rolled("statefulset/cache", 1)
    rolled("daemonset/agent", 1)
    new_password = base64.b64encode(PASSWORD_2.encode()).decode()
    kube.patch("secrets", "web-key", {"data": {"password": new_password}}, namespace=ns)
    rolled("deployment/web", 2)
    ctl.quiesce(ctl.records()[-1].seq)
    assert ctl.stop() == 0

    records = ctl.records()
    assert [len(patched(ctl, obj, ns)) for obj in ("deployment/web", "statefulset/cache")] == [2, 1]
    assert len(patched(ctl, "daemonset/agent", ns)) == 1
    flags = [
        r for r in records if r.object == "configmap/web-flags" and r.kind.startswith("debounce")
    ]
    assert flags and all(r.data.get("targets", []) == [] for r in flags), "ignored: no target"
    web_windows = [
        r.data["due_in_seconds"]
        for r in records
        if r.kind == k.DEBOUNCE_SCHEDULED and r.data.get("targets") == ["web"]
    ]
    assert web_windows and set(web_windows) == {2.0}, "web's own debounce"
    web_planned = [
        r for r in records if r.kind == k.RESTART_PLANNED and r.object == "deployment/web"
    ]
    assert [r.data.get("source") for r in web_planned] == ["configmap/web-config", "secret/web-key"]
    observed = {r.object: r.data for r in records if r.kind == k.DEPLOYMENT_OBSERVED}
    assert observed["deployment/web"]["optin"] == {
        "configmap": {"search": True, "references": ["web-config", "web-flags"]},
        "secret": {"search": True, "reload": ["web-key"]},
        "debounce_seconds": 2.0,
    }
    assert observed["statefulset/cache"]["optin"] == {"configmap": {"reload": ["cache-.*"]}}
    assert observed["daemonset/agent"]["optin"] == {
        "configmap": {"auto": True, "references": ["agent-config"]}
    }
    replay_check(ctl.journal_path)

    # A copy of the journal with one decision changed: replay --check names it.
    tampered_path = tmp_path / "tampered.db"
    target = next(
        r for r in records if r.kind == k.RESTART_PLANNED and r.object == "statefulset/cache"
    )
    with Journal.open(f"sqlite:///{tampered_path}", actor=target.actor) as copy:
        for record in records:
            data = dict(record.data)
            if record.seq == target.seq:
                data["data_hash"] = data_hash({"SIZE": "3"}, None)
            copy.append(
                record.kind,
                namespace=record.namespace,
                object=record.object,
                correlation_id=record.correlation_id,
                leader_epoch=record.leader_epoch,
                data=data,
                ts=record.ts,
            )
    result = subprocess.run(
        ["shipshape-journal", "replay", "--journal", str(tampered_path), "--check", "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    differences = json.loads(result.stdout)["check"]["differences"]
    recorded = [d for d in differences if d["recorded"]]
    assert [d["recorded"].split()[:2] for d in recorded] == [
        ["restart.planned", "statefulset/cache"]
    ]
    assert [d["expected"].split()[:2] for d in differences if d["expected"]] == [
        ["restart.planned", "statefulset/cache"]
    ]
