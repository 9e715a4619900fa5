"""The commands in the runbooks name things that exist, the way they exist.

Every repository path and ``make`` target the operations and disaster-recovery
runbooks mention exists; no command addresses the controller as a Deployment
(it is the StatefulSet ``helloworld-controller``); every procedure of the
runbook we were given has its counterpart here.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.release.conftest import REPO, require_tool

DOCS = ("docs/runbooks/operations.md", "docs/runbooks/disaster-recovery.md", "README.md")
PATH = re.compile(
    r"(?<![\w/.$<-])(?:\./)?((?:hack|scripts|examples|k8s|webapp|reloader|telemetry|"
    r"\.github)/[\w./-]*[\w-])"
)
MAKE = re.compile(r"`make ([\w-]+)`|^\s*make ([\w-]+)\s*$", re.MULTILINE)
DEPLOYMENT_CONTROLLER = re.compile(
    r"(?:deployment|deploy)[/ ]+helloworld-controller\b|"
    r"get\s+(?:deployment|deploy)\s+helloworld-controller\b"
)


@pytest.fixture(scope="module", params=DOCS)
def doc(request) -> tuple[str, str]:
    return request.param, (REPO / request.param).read_text(encoding="utf-8")


def test_every_repository_path_exists(doc) -> None:
    name, text = doc
    # An all-capitals component is a placeholder to fill in (`hack/NAME.py`).
    paths = {p for p in PATH.findall(text) if not re.search(r"/[A-Z_]+(?:\.\w+)?$", p)}
    assert paths, f"{name} names no repository path"
    missing = sorted(p for p in paths if not (REPO / p.rstrip("/")).exists())
    assert not missing, f"{name} names paths that do not exist: {missing}"


def test_every_make_target_exists(doc) -> None:
    name, text = doc
    targets = {a or b for a, b in MAKE.findall(text)}
    make = require_tool("make")
    for target in sorted(targets):
        result = subprocess.run(
            [make, "-n", target], cwd=REPO, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"{name}: make {target}: {result.stderr.strip()}"


def test_the_controller_is_never_addressed_as_a_deployment(doc) -> None:
    name, text = doc
    wrong = [
        f"{name}:{number}: {line.strip()}"
        for number, line in enumerate(text.splitlines(), start=1)
        if DEPLOYMENT_CONTROLLER.search(line)
    ]
    assert not wrong, "the controller is statefulset/helloworld-controller:\n" + "\n".join(wrong)


def test_the_controller_pattern_catches_the_old_forms() -> None:
    for line in (
        "kubectl -n shipshape logs deployment/helloworld-controller",
        "kubectl -n shipshape port-forward deploy/helloworld-controller 8080:8080",
        "kubectl -n shipshape get deploy helloworld-controller -o jsonpath=...",
    ):
        assert DEPLOYMENT_CONTROLLER.search(line), line
    for line in (
        "kubectl -n shipshape rollout status statefulset/helloworld-controller",
        "kubectl -n shipshape logs deployment/helloworld-test",
    ):
        assert not DEPLOYMENT_CONTROLLER.search(line), line


#: Every procedure of the operations runbook we were given, and the heading of
#: ours that carries it (after adapting it to what we built).
PROCEDURES = {
    "Namespace Ownership": "namespace-and-monitoring-ownership",
    "Monitoring Prerequisites": "monitoring-prerequisites",
    "Alert routing ownership matrix": "alert-routing",
    "Configuration Reference": "operations-runbook",  # linked from the introduction
    "Pre-Deploy Validation": "pre-deploy-validation",
    "Strict Production Evidence Gate": "production-evidence-gate",
    "Deployment Order": "deployment-order",
    "Post-Deploy Health Checks": "post-deploy-checks",
    "Validate Metrics and Alert Objects": "post-deploy-checks",
    "Validate Probe Reachability Under NetworkPolicy": "probes-under-default-deny-networkpolicies",
    "Validate Controller API Egress Policy": "controller-api-egress",
    "HPA Prerequisites and Preflight": "hpa-prerequisites-and-fallback",
    "Validate ConfigMap-Driven Restart Semantics": "configmap-changes-and-restarts",
    "Istio Routing Verification": "istio-routing",
    "Validate Ingress Rate Limiting": "ingress-rate-limiting",
    "Immutable Release Flow": "immutable-images-and-rollback",
    "Emergency Rollback Procedure": "emergency-rollback",
    "DR: Namespace Accidentally Deleted": "the-namespace-was-deleted",
    "DR: ConfigMap Corruption / Bad Config Push": "a-bad-config-push",
    "Backup Procedure (Config)": "configuration-backups-and-restores",
    "DR: Full Cluster Failure": "disaster-recovery.md",
    "Chaos Drills": "chaos-drills",
    "Multi-Cluster / Multi-Region Strategy": "multi-cluster-and-multi-region",
    "Kubernetes Cluster Upgrade": "kubernetes",
    "Istio Upgrade": "istio",
    "cert-manager Upgrade": "cert-manager",
    "Python Dependency Upgrades": "python-dependencies",
    "Alert Runbooks": "alerts.md",
    "Logging": "logging",
    "Distributed Tracing": "tracing",
    "RTO/RPO Targets": "targets-rto-rpo-and-slos",
    "SLOs": "targets-rto-rpo-and-slos",
    "Capacity Baseline & HPA Validation": "capacity-baseline-and-hpa-validation",
    "Secrets Management & Rotation": "secrets-certificates-and-audit-logging",
    "Compliance Scope Notes": "compliance-scope",
    "Release & Tagging Process": "releases",
    "Scheduled Base-Image Rebuild & Rescan": "weekly-base-image-rebuild-and-rescan",
    "On-Call Escalation": "on-call-and-escalation",
    "Troubleshooting": "troubleshooting",
}


def slugs(text: str) -> set[str]:
    """Return the GitHub anchors of a Markdown text's headings (outside code)."""
    found, fenced = set(), False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and (match := re.match(r"^#{1,6}\s+(.*)$", line)):
            slug = re.sub(r"[^\w\- ]", "", match.group(1).replace("`", "").lower())
            found.add(slug.strip().replace(" ", "-"))
    return found


def test_every_procedure_of_the_given_runbook_has_its_section() -> None:
    text = (REPO / "docs/runbooks/operations.md").read_text(encoding="utf-8")
    anchors = slugs(text)
    for procedure, target in PROCEDURES.items():
        if target.endswith(".md"):
            assert f"]({target}" in text, f"{procedure}: no link to {target}"
        else:
            assert target in anchors, f"{procedure}: no section #{target}"


def test_disaster_recovery_has_the_anchors_the_runbook_links() -> None:
    anchors = slugs((REPO / "docs/runbooks/disaster-recovery.md").read_text(encoding="utf-8"))
    for provider in ("eks", "gke", "aks"):
        assert f"{provider}-control-plane-recovery" in anchors
    assert "restoring-the-journals" in anchors and "dr-drills" in anchors
