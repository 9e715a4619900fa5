"""The ControllerRevisions of StatefulSets and DaemonSets, kept as their real controllers
keep them, read by the real kubectl: `rollout history`, `rollout undo`, `get
controllerrevisions`."""

from __future__ import annotations

import json
import re

from tests.kubeapi import KubeApiServer
from tests.kubeapi.helpers import assert_undo_refusals
from tests.kubeapi.pytest_plugin import Kubectl


def _workload(kind: str, name: str, image: str = "nginx:1.27", *, history: int | None = None):
    replicas = "\n  replicas: 2" if kind == "StatefulSet" else ""
    limit = f"\n  revisionHistoryLimit: {history}" if history is not None else ""
    return f"""apiVersion: apps/v1
kind: {kind}
metadata: {{name: {name}, annotations: {{team: blue}}}}
spec:{replicas}{limit}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}, tier: db}}}}
    spec: {{containers: [{{name: main, image: "{image}"}}]}}
"""


def _revisions(server: KubeApiServer, ns: str, owner: str) -> dict[int, dict]:
    """The ControllerRevisions `owner` controls, by revision."""
    return {
        cr["revision"]: cr
        for cr in server.list("controllerrevisions", namespace=ns)
        if any(ref["name"] == owner for ref in cr["metadata"].get("ownerReferences", ()))
    }


def _settled(
    server: KubeApiServer, ns: str, name: str, resource: str, numbers: list[int]
) -> dict[int, dict]:
    """Wait until the rollout is complete and `name` has exactly the revisions `numbers`."""

    def settled() -> dict[int, dict] | None:
        server.wait_for_rollout(name, ns, resource)
        revisions = _revisions(server, ns, name)
        return revisions if sorted(revisions) == numbers else None

    return server.wait_for(settled, 10, f"revisions {numbers} of {name}")


def _image(revision: dict) -> str:
    return revision["data"]["spec"]["template"]["spec"]["containers"][0]["image"]


def _history(kubectl: Kubectl, ns: str, workload: str) -> list[str]:
    out = kubectl("-n", ns, "rollout", "history", workload).stdout
    title, header, *rows = out.strip().splitlines()
    assert title.strip().endswith(f"/{workload.split('/')[1]}")
    assert header.split() == ["REVISION", "CHANGE-CAUSE"]
    return [re.sub(r"\s+", " ", line.strip()) for line in rows]


def test_each_statefulset_template_gets_a_controllerrevision_that_history_lists(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns, server = kubeapi_namespace, kubeapi_server
    kubectl("-n", ns, "create", "-f", "-", input=_workload("StatefulSet", "db"))
    [first] = _settled(server, ns, "db", "statefulsets", [1]).values()
    sts = server.get("statefulsets", "db", ns)
    digest = first["metadata"]["labels"]["controller.kubernetes.io/hash"]
    assert first["metadata"]["name"] == f"db-{digest}"
    assert sts["status"]["currentRevision"] == sts["status"]["updateRevision"] == f"db-{digest}"
    assert first["metadata"]["labels"] == {
        "app": "db",
        "tier": "db",
        "controller.kubernetes.io/hash": digest,
    }
    assert first["metadata"]["annotations"] == {"team": "blue"}
    assert first["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "name": "db",
            "uid": sts["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    template = first["data"]["spec"]["template"]
    assert template.pop("$patch") == "replace"
    assert template == sts["spec"]["template"]

    kubectl("-n", ns, "set", "image", "statefulset/db", "main=nginx:1.28")
    revisions = _settled(server, ns, "db", "statefulsets", [1, 2])
    assert _image(revisions[2]) == "nginx:1.28"
    status = server.get("statefulsets", "db", ns)["status"]
    assert status["updateRevision"] == status["currentRevision"] == revisions[2]["metadata"]["name"]
    kubectl("-n", ns, "scale", "statefulset/db", "--replicas=3")  # no new template, no revision
    assert sorted(_settled(server, ns, "db", "statefulsets", [1, 2])) == [1, 2]

    assert _history(kubectl, ns, "statefulset/db") == ["1 <none>", "2 <none>"]
    detail = kubectl("-n", ns, "rollout", "history", "statefulset/db", "--revision=1").stdout
    assert detail.startswith("statefulset.apps/db with revision #1\nPod Template:\n")
    assert re.search(r"\n\s+Image:\s+nginx:1\.27\n", detail)
    missing = kubectl("-n", ns, "rollout", "history", "sts/db", "--revision=7", check=False)
    assert missing.returncode == 1 and "unable to find the specified revision" in missing.stderr

    table = kubectl("-n", ns, "get", "controllerrevisions").stdout.splitlines()
    assert table[0].split() == ["NAME", "CONTROLLER", "REVISION", "AGE"]
    rows = sorted((line.split()[:3] for line in table[1:]), key=lambda row: row[2])
    assert rows == [
        [revisions[1]["metadata"]["name"], "statefulset.apps/db", "1"],
        [revisions[2]["metadata"]["name"], "statefulset.apps/db", "2"],
    ]


def test_statefulset_rollout_undo_renumbers_the_old_revision(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns, server = kubeapi_namespace, kubeapi_server
    kubectl("-n", ns, "create", "-f", "-", input=_workload("StatefulSet", "db"))
    _settled(server, ns, "db", "statefulsets", [1])
    kubectl("-n", ns, "set", "image", "statefulset/db", "main=nginx:1.28")
    names = {
        n: cr["metadata"]["name"]
        for n, cr in _settled(server, ns, "db", "statefulsets", [1, 2]).items()
    }

    undo = kubectl("-n", ns, "rollout", "undo", "statefulset/db")
    assert undo.stdout.strip() == "statefulset.apps/db rolled back"
    revisions = _settled(server, ns, "db", "statefulsets", [2, 3])
    # The template of revision 1 came back: its ControllerRevision is now revision 3.
    assert revisions[3]["metadata"]["name"] == names[1] and _image(revisions[3]) == "nginx:1.27"
    sts = server.get("statefulsets", "db", ns)
    assert sts["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert sts["status"]["updateRevision"] == names[1]
    assert _history(kubectl, ns, "statefulset/db") == ["2 <none>", "3 <none>"]

    to = kubectl("-n", ns, "rollout", "undo", "statefulset/db", "--to-revision=2")
    assert to.stdout.strip() == "statefulset.apps/db rolled back"
    revisions = _settled(server, ns, "db", "statefulsets", [3, 4])
    assert revisions[4]["metadata"]["name"] == names[2]
    assert_undo_refusals(kubectl, ns, "statefulset/db", current=4)


def test_daemonset_history_and_undo(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns, server = kubeapi_namespace, kubeapi_server
    kubectl("-n", ns, "create", "-f", "-", input=_workload("DaemonSet", "agent"))
    [first] = _settled(server, ns, "agent", "daemonsets", [1]).values()
    assert first["metadata"]["ownerReferences"][0]["kind"] == "DaemonSet"
    kubectl("-n", ns, "set", "image", "daemonset/agent", "main=nginx:1.28")
    _settled(server, ns, "agent", "daemonsets", [1, 2])
    assert _history(kubectl, ns, "daemonset/agent") == ["1 <none>", "2 <none>"]
    detail = kubectl("-n", ns, "rollout", "history", "daemonset/agent", "--revision=2").stdout
    assert detail.startswith("daemonset.apps/agent with revision #2\nPod Template:\n")
    assert re.search(r"\n\s+Image:\s+nginx:1\.28\n", detail)

    undo = kubectl("-n", ns, "rollout", "undo", "daemonset/agent")
    assert undo.stdout.strip() == "daemonset.apps/agent rolled back"
    revisions = _settled(server, ns, "agent", "daemonsets", [2, 3])
    assert revisions[3]["metadata"]["name"] == first["metadata"]["name"]
    ds = server.get("daemonsets", "agent", ns)
    assert ds["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    table = kubectl("-n", ns, "get", "controllerrevisions", "--no-headers").stdout.split()
    assert "daemonset.apps/agent" in table


def test_history_limit_and_deletion_with_the_workload(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns, server = kubeapi_namespace, kubeapi_server
    kubectl("-n", ns, "create", "-f", "-", input=_workload("StatefulSet", "db", history=1))
    kubectl("-n", ns, "create", "-f", "-", input=_workload("DaemonSet", "agent"))
    _settled(server, ns, "db", "statefulsets", [1])
    # The live revision and one old one (revisionHistoryLimit: 1) are kept.
    for tag, kept in (("1.28", [1, 2]), ("1.29", [2, 3]), ("1.30", [3, 4])):
        kubectl("-n", ns, "set", "image", "statefulset/db", f"main=nginx:{tag}")
        revisions = _settled(server, ns, "db", "statefulsets", kept)
    assert _image(revisions[4]) == "nginx:1.30"
    assert _history(kubectl, ns, "statefulset/db") == ["3 <none>", "4 <none>"]
    kubectl("-n", ns, "patch", "statefulset/db", "-p", '{"spec":{"revisionHistoryLimit":0}}')
    kubectl("-n", ns, "set", "image", "statefulset/db", "main=nginx:1.31")
    _settled(server, ns, "db", "statefulsets", [5])

    _settled(server, ns, "agent", "daemonsets", [1])
    kubectl("-n", ns, "delete", "statefulset/db", "daemonset/agent")
    server.wait_for(
        lambda: not server.list("controllerrevisions", namespace=ns), 10, "revisions deleted"
    )


def test_revision_is_not_negative_and_data_is_immutable(kubectl: Kubectl, kubeapi_namespace: str):
    ns = kubeapi_namespace
    body = """apiVersion: apps/v1
kind: ControllerRevision
metadata: {name: by-hand}
data: {spec: {template: {}}}
revision: REVISION
"""
    negative = kubectl(
        "-n", ns, "create", "-f", "-", input=body.replace("REVISION", "-1"), check=False
    )
    assert negative.returncode == 1
    assert (
        'The ControllerRevision "by-hand" is invalid: revision: Invalid value: -1: '
        "must be greater than or equal to 0" in negative.stderr
    )
    kubectl("-n", ns, "create", "-f", "-", input=body.replace("REVISION", "1"))
    changed = kubectl(
        "-n",
        ns,
        "patch",
        "controllerrevision/by-hand",
        "--type=merge",
        "-p",
        '{"data":{"x":1}}',
        check=False,
    )
    assert changed.returncode == 1
    assert "data: Invalid value: field is immutable" in changed.stderr
    renumbered = kubectl(
        "-n", ns, "patch", "controllerrevision/by-hand", "--type=merge", "-p", '{"revision":5}'
    )
    assert renumbered.stdout.strip() == "controllerrevision.apps/by-hand patched"


def test_a_template_with_html_and_non_ascii_text_is_seen_as_running_when_undone_to(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    """The server writes JSON as Go does (raw UTF-8; <, > and & escaped), so kubectl,
    which compares a revision's bytes with its own encoding, knows the running one."""
    ns, server = kubeapi_namespace, kubeapi_server
    text = "<b>café & crème</b>\u2028"
    manifest = _workload("StatefulSet", "db").replace(
        'image: "nginx:1.27"', f"image: nginx, env: [{{name: GREETING, value: {json.dumps(text)}}}]"
    )
    kubectl("-n", ns, "create", "-f", "-", input=manifest)
    _settled(server, ns, "db", "statefulsets", [1])
    same = kubectl("-n", ns, "rollout", "undo", "statefulset/db", "--to-revision=1")
    assert "skipped rollback (current template already matches revision 1)" in same.stdout
    raw = kubectl("get", "--raw", f"/apis/apps/v1/namespaces/{ns}/statefulsets/db").stdout
    assert "café" in raw and "\\u003cb\\u003e" in raw and "\\u0026" in raw
    assert "\\u2028" in raw and "\u2028" not in raw
    assert json.loads(raw)["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] == text


def test_get_shows_the_real_columns_of_the_three_workload_kinds(
    kubectl: Kubectl, kubeapi_server: KubeApiServer, kubeapi_namespace: str
):
    ns, server = kubeapi_namespace, kubeapi_server
    kubectl("-n", ns, "create", "-f", "-", input=_workload("StatefulSet", "db"))
    agent = _workload("DaemonSet", "agent").replace(
        "spec: {containers:", "spec: {nodeSelector: {disk: ssd, zone: a}, containers:"
    )
    kubectl("-n", ns, "create", "-f", "-", input=agent)
    _settled(server, ns, "db", "statefulsets", [1])
    _settled(server, ns, "agent", "daemonsets", [1])
    nodes = str(server.get("daemonsets", "agent", ns)["status"]["desiredNumberScheduled"])

    header, row = kubectl("-n", ns, "get", "ds", "-o", "wide").stdout.splitlines()
    assert header.split() == [
        "NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE", "SELECTOR",
        "AGE", "CONTAINERS", "IMAGES", "SELECTOR",
    ]  # fmt: skip
    cells = row.split()
    assert cells[:7] == ["agent", nodes, nodes, nodes, nodes, nodes, "disk=ssd,zone=a"]
    assert cells[8:] == ["main", "nginx:1.27", "app=agent"]
    header, row = kubectl("-n", ns, "get", "sts", "-o", "wide").stdout.splitlines()
    assert header.split() == ["NAME", "READY", "AGE", "CONTAINERS", "IMAGES"]
    assert row.split()[:2] == ["db", "2/2"] and row.split()[3:] == ["main", "nginx:1.27"]

    kubectl("-n", ns, "create", "deployment", "web", "--image=nginx:1.27", "--replicas=2")
    server.wait_for_rollout("web", ns, "deployments")
    header, row = kubectl("-n", ns, "get", "deploy", "-o", "wide").stdout.splitlines()
    assert header.split() == [
        "NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR",
    ]  # fmt: skip
    cells = row.split()
    assert cells[:4] == ["web", "2/2", "2", "2"] and cells[5:] == ["nginx", "nginx:1.27", "app=web"]
