"""The pre-deploy validators in hack/: each passes on the real tree and catches
exactly the violation it exists for in a mutated copy."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.k8s.conftest import VARIANTS, edit, run_hack

EGRESS_PATCHES = (
    "examples/controller-apiserver-cidr-patch.yaml",
    "examples/controller-egress/eks.patch.yaml",
    "examples/controller-egress/gke.patch.yaml",
    "examples/controller-egress/aks.patch.yaml",
)
MANIFEST_ARGS = (
    "--overlay",
    "test",
    "--overlay",
    "prod",
    *(arg for patch in EGRESS_PATCHES for arg in ("--controller-egress-patch", patch)),
)


def fails_with(result, *fragments: str) -> None:
    """Assert a validator exited 1 and named the problem, without a traceback."""
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    for fragment in fragments:
        assert fragment in output, output


@pytest.mark.parametrize(
    ("script", "args"),
    [
        ("validate_manifests.py", MANIFEST_ARGS),
        ("check_immutable_images.py", ()),
        ("check_doc_links.py", ()),
        ("validate_release_metadata.py", ()),
        ("validate_deployment_order.py", ()),
        ("validate_trivyignore.py", ()),
    ],
)
def test_validators_pass_on_the_real_tree(tree: Path, script: str, args: tuple[str, ...]) -> None:
    result = run_hack(tree, script, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert ": OK: " in result.stdout


# --- validate_manifests.py ----------------------------------------------------


def test_manifests_catch_common_labels_rewriting_external_peers(tree: Path) -> None:
    edit(
        tree / "k8s/overlays/prod/kustomization.yaml",
        "labels:\n",
        "commonLabels:\n  tier: web\nlabels:\n",
    )
    result = run_hack(tree, "validate_manifests.py", "--overlay", "prod")
    fails_with(result, "k8s/overlays/prod: NetworkPolicy helloworld-prod", "istio-system")
    assert "k8s/overlays/test" not in result.stderr


def test_manifests_catch_a_namespace_in_an_overlay(tree: Path) -> None:
    (tree / "k8s/overlays/test/namespace.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shipshape\n"
    )
    edit(
        tree / "k8s/overlays/test/kustomization.yaml",
        "  - ../../istio\n",
        "  - ../../istio\n  - namespace.yaml\n",
    )
    fails_with(run_hack(tree, "validate_manifests.py", "--overlay", "test"), "emits a Namespace")


def test_manifests_catch_a_vhost_drifting_from_the_gateway(tree: Path) -> None:
    edit(
        tree / "k8s/istio-ingress/ratelimit-envoyfilter.yaml",
        "name: prod.helloworld.shipshape.example.com:443",
        "name: prod.helloworld.shipshape.example.com:8443",
    )
    fails_with(
        run_hack(tree, "validate_manifests.py"),
        "has no vhost prod.helloworld.shipshape.example.com:443",
    )


def test_manifests_catch_a_virtualservice_pointing_at_the_other_env(tree: Path) -> None:
    edit(
        tree / "k8s/overlays/test/istio-routing.yaml",
        "host: helloworld-test.shipshape.svc.cluster.local\n            port",
        "host: helloworld-prod.shipshape.svc.cluster.local\n            port",
    )
    fails_with(
        run_hack(tree, "validate_manifests.py", "--overlay", "test"),
        "VirtualService helloworld-virtualservice-test routes to helloworld-prod",
    )


def test_manifests_catch_a_service_selector_missing_env(tree: Path) -> None:
    edit(
        tree / "k8s/overlays/prod/env-selectors.yaml",
        "spec:\n  selector:\n    env: prod\n",
        "spec:\n  selector:\n    tier: web\n",
    )
    fails_with(
        run_hack(tree, "validate_manifests.py", "--overlay", "prod"),
        "Service helloworld-prod selector",
    )


def test_manifests_catch_public_metrics(tree: Path) -> None:
    edit(
        tree / "k8s/istio/authorizationpolicy.yaml",
        "              - /metrics\n              - /metrics/*\n    - from",
        "              - /healthz\n    - from",
    )
    fails_with(run_hack(tree, "validate_manifests.py"), "reach /metrics")


def test_manifests_catch_an_egress_patch_keeping_the_placeholder(tree: Path) -> None:
    patch = tree / "examples/controller-egress/gke.patch.yaml"
    edit(patch, "cidr: 198.51.100.0/28", "cidr: 127.255.255.255/32")
    result = run_hack(tree, "validate_manifests.py", *MANIFEST_ARGS)
    fails_with(result, "examples/controller-egress/gke.patch.yaml: the placeholder CIDR")
    assert "eks.patch.yaml" not in result.stderr


def test_manifests_catch_an_egress_patch_opening_everything(tree: Path) -> None:
    edit(
        tree / "examples/controller-egress/aks.patch.yaml",
        "cidr: 203.0.113.10/32",
        "cidr: 0.0.0.0/0",
    )
    result = run_hack(
        tree,
        "validate_manifests.py",
        "--controller-egress-patch",
        "examples/controller-egress/aks.patch.yaml",
    )
    fails_with(result, "0.0.0.0/0 opens API egress to everything")


def test_manifests_report_a_missing_patch_file(tree: Path) -> None:
    result = run_hack(tree, "validate_manifests.py", "--controller-egress-patch", "nope.yaml")
    fails_with(result, "nope.yaml: no such file")


def test_manifests_report_a_broken_kustomization_in_one_line(tree: Path) -> None:
    edit(tree / "k8s/overlays/test/kustomization.yaml", "  - ../../base\n", "  - ../../basis\n")
    result = run_hack(tree, "validate_manifests.py", "--overlay", "test")
    fails_with(result, "k8s/overlays/test: kustomize failed")


TEST_ROUTING = "k8s/overlays/test/istio-routing.yaml"
AKS = "examples/controller-egress/aks.patch.yaml"
AKS_API_RULE = "        - ipBlock:\n            cidr: 203.0.113.10/32\n"
#: (file, old, new, arguments, what the finding says): one broken invariant each.
MANIFEST_GAPS = [
    (
        "k8s/overlays/test/kustomization.yaml",
        "namespace: shipshape",
        "namespace: elsewhere",
        ("--overlay", "test"),
        "is in namespace 'elsewhere', not shipshape",
    ),
    (
        "k8s/overlays/test/env-selectors.yaml",
        "    matchLabels:\n      env: test\n---\napiVersion: v1\nkind: Service",
        "    matchLabels:\n      env: prod\n---\napiVersion: v1\nkind: Service",
        ("--overlay", "test"),
        "Deployment helloworld-test selector is",
    ),
    (
        "k8s/base/deployment.yaml",
        'value: "8080"',
        'value: "9090"',
        ("--overlay", "test"),
        "Deployment helloworld-test must set PORT=8080",
    ),
    (
        TEST_ROUTING,
        "  dnsNames:\n    - test.helloworld",
        "  dnsNames:\n    - www.helloworld",
        ("--overlay", "test"),
        "Certificate helloworld-cert-test does not cover test.helloworld",
    ),
    (
        TEST_ROUTING,
        "credentialName: helloworld-tls-test",
        "credentialName: helloworld-tls-prod",
        ("--overlay", "test"),
        "uses secret helloworld-tls-prod",
    ),
    (
        TEST_ROUTING,
        "number: 8080",
        "number: 9090",
        ("--overlay", "test"),
        "routes to port 9090, Service port is 8080",
    ),
    (
        "k8s/istio/peerauthentication.yaml",
        "mode: STRICT",
        "mode: PERMISSIVE",
        ("--overlay", "test"),
        "no STRICT PeerAuthentication",
    ),
    (
        "k8s/istio/authorizationpolicy.yaml",
        "  action: ALLOW\n",
        "  action: DENY\n",
        ("--overlay", "test"),
        "helloworld-allow-ingress-only-test must be an ALLOW policy",
    ),
    (
        "k8s/istio/authorizationpolicy.yaml",
        "- cluster.local/ns/monitoring/sa/prometheus-k8s\n      to:\n        - operation:\n"
        "            methods:",
        "- cluster.local/ns/monitoring/sa/grafana\n      to:\n        - operation:\n"
        "            methods:",
        ("--overlay", "test"),
        "does not let cluster.local/ns/monitoring/sa/prometheus-k8s scrape /metrics",
    ),
    (
        "k8s/istio-ingress/ratelimit-envoyfilter.yaml",
        "name: test.helloworld.shipshape.example.com:443",
        "name: test.helloworld.shipshape.example.com:8443",
        (),
        "vhost test.helloworld.shipshape.example.com:8443 matches no Gateway host",
    ),
    (
        "k8s/controller-cluster/clusterrole.yaml",
        'resources: ["configmaps"]',
        'resources: ["*"]',
        (),
        "k8s/controller-cluster: a ClusterRole grants a wildcard",
    ),
    (
        "k8s/controller-cluster/kustomization.yaml",
        'value: "*"',
        "value: team-a,team-b",
        (),
        "k8s/controller-cluster: WATCH_NAMESPACES must be * and the selector empty",
    ),
    (
        AKS,
        "        - port: 53\n          protocol: UDP\n        - port: 53\n",
        "        - port: 5353\n          protocol: UDP\n        - port: 5353\n",
        ("--controller-egress-patch", AKS),
        "the patched policy allows no DNS egress (port 53)",
    ),
    (
        AKS,
        "cidr: 203.0.113.10/32",
        "cidr: 203.0.113.10/24",
        ("--controller-egress-patch", AKS),
        "'203.0.113.10/24' is not a valid CIDR",
    ),
    (
        AKS,
        "        - port: 443\n",
        "        - port: 6443\n",
        ("--controller-egress-patch", AKS),
        "the patched policy allows no API egress on TCP/443",
    ),
    (
        AKS,
        AKS_API_RULE,
        AKS_API_RULE + "        - namespaceSelector: {}\n",
        ("--controller-egress-patch", AKS),
        "API egress must be ipBlock entries only",
    ),
]


@pytest.mark.parametrize("gap", MANIFEST_GAPS, ids=[gap[4] for gap in MANIFEST_GAPS])
def test_manifests_catch_each_broken_invariant(tree: Path, gap: tuple) -> None:
    path, old, new, args, finding = gap
    edit(tree / path, old, new)
    fails_with(run_hack(tree, "validate_manifests.py", *args), finding)


# --- check_immutable_images.py ------------------------------------------------


def test_images_catch_a_tag(tree: Path) -> None:
    edit(
        tree / "k8s/controller/kustomization.yaml",
        "    digest: sha256:8a9031b0c57c827a85efb17938764fb4dcb2246d2fd02d0320adf4310c3b8b4d",
        "    newTag: v0.1.0",
    )
    result = run_hack(tree, "check_immutable_images.py")
    fails_with(result, "StatefulSet helloworld-controller container controller uses", "sets newTag")
    assert "helloworld-prod" not in result.stderr


# --- check_doc_links.py -------------------------------------------------------


def test_doc_links_catch_a_missing_runbook_section(tree: Path) -> None:
    edit(tree / "docs/runbooks/alerts.md", "## KubePodHighMemory\n", "## Pod memory\n")
    result = run_hack(tree, "check_doc_links.py")
    fails_with(result, "alert KubePodHighMemory runbook_url", "#kubepodhighmemory")
    assert "KubePodCrashLooping" not in result.stderr


def test_doc_links_catch_a_broken_relative_link(tree: Path) -> None:
    (tree / "docs/runbooks/alerts.md").open("a").write("\nSee [the map](../nowhere.md).\n")
    fails_with(run_hack(tree, "check_doc_links.py"), "../nowhere.md: no such file")


# --- validate_release_metadata.py ---------------------------------------------


def test_release_metadata_catches_a_version_mismatch(tree: Path) -> None:
    edit(tree / "telemetry/buildinfo.py", 'VERSION = "0.1.0"', 'VERSION = "0.1.1"')
    fails_with(run_hack(tree, "validate_release_metadata.py"), "telemetry/buildinfo.py=0.1.1")


def test_release_metadata_checks_the_tag(tree: Path) -> None:
    fails_with(run_hack(tree, "validate_release_metadata.py", "--tag", "v9.9.9"), "tag 'v9.9.9'")
    assert run_hack(tree, "validate_release_metadata.py", "--tag", "v0.1.0").returncode == 0


@pytest.mark.parametrize(
    ("heading", "message"),
    [
        ("## [0.1] - 2026-11-26", "newest version '0.1' is not semantic"),
        ("## [0.1.0]", "[0.1.0] has no date"),
        ("## [0.1.0] - 2026-02-30", "date '2026-02-30' is not YYYY-MM-DD"),
    ],
)
def test_release_metadata_catches_a_bad_changelog_heading(
    tree: Path, heading: str, message: str
) -> None:
    edit(tree / "CHANGELOG.md", "## [0.1.0] - 2026-11-26", heading)
    fails_with(run_hack(tree, "validate_release_metadata.py"), message)


def test_release_metadata_wants_the_v_of_a_release_tag(tree: Path) -> None:
    fails_with(run_hack(tree, "validate_release_metadata.py", "--tag", "0.1.0"), "want v0.1.0")


# --- validate_deployment_order.py ---------------------------------------------


def test_deployment_order_catches_swapped_steps(tree: Path) -> None:
    doc = tree / "docs/manifests.md"
    edit(
        doc,
        "kubectl apply -k k8s/monitoring\nkubectl apply -k k8s/controller\n",
        "kubectl apply -k k8s/controller\nkubectl apply -k k8s/monitoring\n",
    )
    fails_with(run_hack(tree, "validate_deployment_order.py"), "docs/manifests.md:", "drifts")


@pytest.mark.parametrize(
    "steps",
    [
        ("k8s/namespace", "k8s/overlays/test"),  # skips k8s/istio-ingress
        ("k8s/namespace", "k8s/istio-ingress", "k8s/istio-ingress"),  # repeats a step
    ],
)
def test_deployment_order_catches_a_skipped_or_repeated_step(
    tree: Path, steps: tuple[str, ...]
) -> None:
    lines = "".join(f"kubectl apply -k {step}\n" for step in steps)
    (tree / "docs/extra.md").write_text(f"```bash\n{lines}```\n")
    fails_with(run_hack(tree, "validate_deployment_order.py"), "docs/extra.md:2: order", "drifts")


def test_deployment_order_catches_a_directory_outside_the_order(tree: Path) -> None:
    (tree / "docs/extra.md").write_text("```bash\nkubectl apply -k k8s/elsewhere\n```\n")
    fails_with(
        run_hack(tree, "validate_deployment_order.py"),
        "docs/extra.md:2: applies k8s/elsewhere, which is not in the canonical order",
    )


def test_deployment_order_reads_through_comments_and_splits_apply_from_lists(
    tree: Path,
) -> None:
    # An apply line, then a bare list: two sequences, each in order.
    (tree / "docs/extra.md").write_text(
        "kubectl apply -k k8s/monitoring\n- k8s/namespace\n- k8s/istio-ingress\n"
    )
    result = run_hack(tree, "validate_deployment_order.py")
    assert result.returncode == 0, result.stderr
    # A comment does not end a sequence: the swap across it is caught.
    (tree / "docs/extra.md").write_text(
        "kubectl apply -k k8s/controller\n# then\nkubectl apply -k k8s/monitoring\n"
    )
    fails_with(run_hack(tree, "validate_deployment_order.py"), "docs/extra.md:1: order")


def test_deployment_order_reads_shell_scripts_too(tree: Path) -> None:
    (tree / "hack/deploy-extra.sh").write_text(
        "#!/bin/sh\nkubectl apply -k k8s/controller\nkubectl apply -k k8s/monitoring\n"
    )
    fails_with(run_hack(tree, "validate_deployment_order.py"), "hack/deploy-extra.sh:2: order")


@pytest.mark.parametrize("variant", VARIANTS)
def test_deployment_order_catches_a_variant_without_its_kustomization(
    tree: Path, variant: str
) -> None:
    (tree / variant / "kustomization.yaml").unlink()
    fails_with(
        run_hack(tree, "validate_deployment_order.py"), f"{variant}: missing kustomization.yaml"
    )


def test_deployment_order_catches_a_base_applied_alone(tree: Path) -> None:
    (tree / "docs/extra.md").write_text("```bash\nkubectl apply -k k8s/base\n```\n")
    fails_with(run_hack(tree, "validate_deployment_order.py"), "docs/extra.md:2: applies k8s/base")


def test_deployment_order_catches_an_unlisted_kustomization(tree: Path) -> None:
    (tree / "k8s/extra").mkdir()
    (tree / "k8s/extra/kustomization.yaml").write_text("resources: []\n")
    fails_with(run_hack(tree, "validate_deployment_order.py"), "k8s/extra: a kustomization")


# --- validate_trivyignore.py --------------------------------------------------


def trivyignore(tree: Path, body: str) -> None:
    (tree / ".trivyignore").write_text("# header\n\n" + body)


def test_trivyignore_accepts_an_explained_expiring_entry(tree: Path) -> None:
    trivyignore(tree, "# reason: not reachable\n# owner: platform\nCVE-2026-12345 exp:2026-12-01\n")
    result = run_hack(tree, "validate_trivyignore.py", "--today", "2026-11-26")
    assert result.returncode == 0, result.stderr
    assert "1 accepted finding" in result.stdout


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("# reason: x\n# owner: y\nCVE-2026-12345\n", "has no expiry"),
        ("# reason: x\n# owner: y\nCVE-2026-12345 exp:2026-11-01\n", "expired on 2026-11-01"),
        ("# reason: x\n# owner: y\nCVE-2026-12345 exp:2027-06-01\n", "more than 90 days ahead"),
        ("# owner: y\nCVE-2026-12345 exp:2026-12-01\n", "no '# reason:'"),
        ("# reason: x\n# owner: y\nbogus-id exp:2026-12-01\n", "is not a CVE"),
        (
            "# reason: x\n# owner: y\nCVE-2026-1234 exp:2026-12-01\n\n"
            "# reason: x\n# owner: y\nCVE-2026-1234 exp:2026-12-02\n",
            "already listed",
        ),
        ("# reason: x\nCVE-2026-12345 exp:2026-12-01\n", "no '# owner:'"),
        ("# reason: x\n# owner: y\nCVE-2026-12345 until 2026-12-01\n", "is not 'ID exp:"),
        ("# reason: x\n# owner: y\nCVE-2026-12345 exp:2026-13-01\n", "is not YYYY-MM-DD"),
        ("# reason:\n# owner: y\nCVE-2026-12345 exp:2026-12-01\n", "no '# reason:'"),
        # A blank line ends an entry's comments: they explain nothing below it.
        ("# reason: x\n# owner: y\n\nCVE-2026-12345 exp:2026-12-01\n", "no '# reason:'"),
        (
            "# reason: x\n# owner: y\nCVE-2026-1111 exp:2026-12-01\nCVE-2026-2222 exp:2026-12-01\n",
            "CVE-2026-2222 has no '# reason:'",
        ),
    ],
)
def test_trivyignore_catches_bad_entries(tree: Path, body: str, message: str) -> None:
    trivyignore(tree, body)
    fails_with(run_hack(tree, "validate_trivyignore.py", "--today", "2026-11-26"), message)


def test_trivyignore_accepts_an_expiry_exactly_max_days_ahead(tree: Path) -> None:
    trivyignore(tree, "# reason: x\n# owner: y\nCVE-2026-12345 exp:2027-02-24\n")
    result = run_hack(tree, "validate_trivyignore.py", "--today", "2026-11-26")
    assert result.returncode == 0, result.stderr


def test_trivyignore_must_exist(tree: Path) -> None:
    (tree / ".trivyignore").unlink()
    fails_with(run_hack(tree, "validate_trivyignore.py"), ".trivyignore: cannot read")


@pytest.mark.parametrize("variant", VARIANTS)
def test_deployment_order_takes_a_controller_variant_in_place_of_its_step(
    tree: Path, variant: str
) -> None:
    (tree / "docs/extra.md").write_text(
        f"```bash\nkubectl apply -k k8s/monitoring\nkubectl apply -k {variant}\n```\n"
    )
    result = run_hack(tree, "validate_deployment_order.py")
    assert result.returncode == 0, result.stderr
    (tree / "docs/extra.md").write_text(
        f"```bash\nkubectl apply -k {variant}\nkubectl apply -k k8s/monitoring\n```\n"
    )
    fails_with(run_hack(tree, "validate_deployment_order.py"), "docs/extra.md:", "drifts")


def test_manifests_catch_secrets_in_the_cluster_variant_without_them(tree: Path) -> None:
    edit(
        tree / "k8s/controller-cluster/clusterrole.yaml",
        'resources: ["configmaps"]',
        'resources: ["configmaps", "secrets"]',
    )
    fails_with(
        run_hack(tree, "validate_manifests.py"),
        "k8s/controller-cluster: Secrets verbs ['list', 'watch'], expected []",
    )


def test_manifests_catch_a_variant_role_that_grows_beyond_the_lease(tree: Path) -> None:
    edit(
        tree / "k8s/controller-cluster/kustomization.yaml",
        'resources: ["leases"]\n            verbs: ["create"]',
        'resources: ["leases", "pods"]\n            verbs: ["create"]',
    )
    fails_with(
        run_hack(tree, "validate_manifests.py"),
        "k8s/controller-cluster: the namespaced Role must grant only the Lease",
    )


# --- validate_manifests.py: the namespace-list controller variant ----------------

NAMESPACES = "k8s/controller-namespaces"
#: Built on k8s/controller-namespaces, so a break there shows in it as well.
NAMESPACES_SECRETS = "k8s/controller-namespaces-secrets"
NAMESPACES_KUSTOMIZATION = f"{NAMESPACES}/kustomization.yaml"
NAMESPACES_BINDINGS = f"{NAMESPACES}/rolebindings.yaml"
#: The end of team-a's RoleBinding, the first of the file.
TEAM_A_GRANT = (
    "  kind: ClusterRole\n  name: shipshape-helloworld-controller-namespaced\n"
    "subjects:\n  - kind: ServiceAccount\n    name: helloworld-controller\n"
    "    namespace: shipshape\n---\n"
)
BINDING = """---
apiVersion: rbac.authorization.k8s.io/v1
kind: {kind}
metadata:
  name: {name}
  namespace: {namespace}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: shipshape-helloworld-controller-namespaced
subjects:
  - kind: ServiceAccount
    name: helloworld-controller
    namespace: shipshape
"""
#: (file, old, new, what the finding says): one broken invariant each.
NAMESPACES_GAPS = [
    (
        NAMESPACES_KUSTOMIZATION,
        "value: team-a,team-b",
        'value: "*"',
        f"{NAMESPACES}: WATCH_NAMESPACES must list namespaces (not *) and the selector be empty",
    ),
    (
        NAMESPACES_KUSTOMIZATION,
        "value: team-a,team-b",
        "value: team-a,Team_B",
        f"{NAMESPACES}: WATCH_NAMESPACES must list namespaces (not *) and the selector be empty",
    ),
    (
        NAMESPACES_KUSTOMIZATION,
        "value: team-a,team-b",
        "value: team-a,team-b,team-c",
        f"{NAMESPACES}: 0 RoleBindings in team-c, expected 1",
    ),
    (
        NAMESPACES_KUSTOMIZATION,
        "value: team-a,team-b",
        "value: team-a",
        f"{NAMESPACES}: RoleBinding helloworld-controller in team-b, "
        "a namespace WATCH_NAMESPACES does not list",
    ),
    (
        f"{NAMESPACES}/clusterrole.yaml",
        'resources: ["configmaps"]',
        'resources: ["configmaps", "secrets"]',
        f"{NAMESPACES}: Secrets verbs ['list', 'watch'], expected []",
    ),
    (
        NAMESPACES_BINDINGS,
        TEAM_A_GRANT,
        TEAM_A_GRANT.replace("shipshape-helloworld-controller-namespaced", "admin"),
        f"{NAMESPACES}: RoleBinding helloworld-controller in team-a must bind a ClusterRole "
        "of the variant to ServiceAccount shipshape/helloworld-controller",
    ),
    (
        NAMESPACES_BINDINGS,
        TEAM_A_GRANT,
        TEAM_A_GRANT.replace("    namespace: shipshape\n", "    namespace: team-a\n"),
        f"{NAMESPACES}: RoleBinding helloworld-controller in team-a must bind a ClusterRole "
        "of the variant to ServiceAccount shipshape/helloworld-controller",
    ),
]
NAMESPACES_GAP_IDS = (
    "star",
    "not-a-label",
    "listed-unbound",
    "bound-unlisted",
    "secrets",
    "other-role",
    "other-subject",
)
#: How many findings each gap also gives k8s/controller-namespaces-secrets,
#: which inherits it (team-b's two RoleBindings when team-b is unlisted; none
#: for Secrets, which that variant grants).
NAMESPACES_GAP_INHERITED = (1, 1, 1, 2, 0, 1, 1)


def findings(result, variant: str) -> list[str]:
    """The FAIL lines of a validator's output that are about ``variant``."""
    return [line for line in result.stderr.splitlines() if f": FAIL: {variant}: " in line]


def fails_in_the_namespace_lists(result, finding: str, inherited: int) -> None:
    """Assert one finding for k8s/controller-namespaces, ``inherited`` for the
    variant built on it, and none for anything else."""
    fails_with(result, finding)
    assert len(findings(result, NAMESPACES)) == 1, result.stderr
    assert len(findings(result, NAMESPACES_SECRETS)) == inherited, result.stderr
    assert result.stderr.count(": FAIL: ") == 1 + inherited, result.stderr


@pytest.mark.parametrize(
    ("gap", "inherited"),
    list(zip(NAMESPACES_GAPS, NAMESPACES_GAP_INHERITED, strict=True)),
    ids=NAMESPACES_GAP_IDS,
)
def test_manifests_catch_each_broken_namespace_list_invariant(
    tree: Path, gap: tuple, inherited: int
) -> None:
    path, old, new, finding = gap
    edit(tree / path, old, new)
    result = run_hack(tree, "validate_manifests.py")
    fails_in_the_namespace_lists(result, finding, inherited)


@pytest.mark.parametrize(
    ("kind", "name", "namespace", "finding"),
    [
        (
            "ClusterRoleBinding",
            "shipshape-helloworld-controller-namespaced",
            "shipshape",
            f"{NAMESPACES}: has a ClusterRoleBinding; a namespace list needs RoleBindings",
        ),
        ("RoleBinding", "extra", "team-a", f"{NAMESPACES}: 2 RoleBindings in team-a, expected 1"),
        (
            "RoleBinding",
            "extra",
            "team-c",
            f"{NAMESPACES}: RoleBinding extra in team-c, a namespace WATCH_NAMESPACES "
            "does not list",
        ),
    ],
    ids=("cluster-role-binding", "second-in-team-a", "unlisted-team-c"),
)
def test_manifests_catch_a_binding_added_to_the_namespace_list(
    tree: Path, kind: str, name: str, namespace: str, finding: str
) -> None:
    with (tree / NAMESPACES_BINDINGS).open("a", encoding="utf-8") as bindings:
        bindings.write(BINDING.format(kind=kind, name=name, namespace=namespace))
    result = run_hack(tree, "validate_manifests.py")
    fails_in_the_namespace_lists(result, finding, 1)


# --- validate_manifests.py: the namespace list with Secrets ----------------------

NAMESPACES_SECRETS_KUSTOMIZATION = f"{NAMESPACES_SECRETS}/kustomization.yaml"
NAMESPACES_SECRETS_ROLE = f"{NAMESPACES_SECRETS}/clusterrole.yaml"
NAMESPACES_SECRETS_BINDINGS = f"{NAMESPACES_SECRETS}/rolebindings.yaml"
SECRETS_ROLE = "shipshape-helloworld-controller-namespaced-secrets"
SECRETS_ROLES = f"['shipshape-helloworld-controller-namespaced', '{SECRETS_ROLE}']"
#: The end of team-a's Secrets RoleBinding, the first of the file.
TEAM_A_SECRETS_GRANT = (
    f"  kind: ClusterRole\n  name: {SECRETS_ROLE}\n"
    "subjects:\n  - kind: ServiceAccount\n    name: helloworld-controller\n"
    "    namespace: shipshape\n---\n"
)
#: (file, old, new, what the finding says): one broken invariant each.
NAMESPACES_SECRETS_GAPS = [
    (
        NAMESPACES_SECRETS_BINDINGS,
        TEAM_A_SECRETS_GRANT,
        TEAM_A_SECRETS_GRANT.replace(SECRETS_ROLE, "shipshape-helloworld-controller-namespaced"),
        f"{NAMESPACES_SECRETS}: the RoleBindings in team-a bind ClusterRoles "
        "['shipshape-helloworld-controller-namespaced', "
        f"'shipshape-helloworld-controller-namespaced'], expected each of {SECRETS_ROLES} once",
    ),
    (
        NAMESPACES_SECRETS_BINDINGS,
        TEAM_A_SECRETS_GRANT,
        TEAM_A_SECRETS_GRANT.replace("    namespace: shipshape\n", "    namespace: team-a\n"),
        f"{NAMESPACES_SECRETS}: RoleBinding helloworld-controller-secrets in team-a must bind "
        "a ClusterRole of the variant to ServiceAccount shipshape/helloworld-controller",
    ),
    (
        NAMESPACES_SECRETS_ROLE,
        'verbs: ["list", "watch"]',
        'verbs: ["get", "list", "watch"]',
        f"{NAMESPACES_SECRETS}: Secrets verbs ['get', 'list', 'watch'], expected ['list', 'watch']",
    ),
    (
        NAMESPACES_SECRETS_KUSTOMIZATION,
        'name: WATCH_SECRETS\n                    value: "true"',
        'name: WATCH_SECRETS\n                    value: "false"',
        f"{NAMESPACES_SECRETS}: WATCH_SECRETS must be true only in the -secrets variant",
    ),
    (
        NAMESPACES_SECRETS_KUSTOMIZATION,
        "mountPath: /etc/shipshape/secret-hash\n                    readOnly: true",
        "mountPath: /etc/shipshape/secret-hash\n                    readOnly: false",
        f"{NAMESPACES_SECRETS}: the Secret hash key must be mounted read-only",
    ),
]
NAMESPACES_SECRETS_GAP_IDS = (
    "bound-twice",
    "other-subject",
    "get",
    "no-watch-secrets",
    "key-writable",
)


@pytest.mark.parametrize("gap", NAMESPACES_SECRETS_GAPS, ids=NAMESPACES_SECRETS_GAP_IDS)
def test_manifests_catch_each_broken_namespace_secrets_invariant(tree: Path, gap: tuple) -> None:
    path, old, new, finding = gap
    edit(tree / path, old, new)
    result = run_hack(tree, "validate_manifests.py")
    fails_with(result, finding)
    assert result.stderr.count(": FAIL: ") == 1, result.stderr


def test_manifests_catch_the_secrets_cluster_role_unbound_in_a_listed_namespace(
    tree: Path,
) -> None:
    bindings = tree / NAMESPACES_SECRETS_BINDINGS
    first, team_b = bindings.read_text(encoding="utf-8").split("\n---\n")
    assert "namespace: team-b" in team_b
    bindings.write_text(first + "\n", encoding="utf-8")
    result = run_hack(tree, "validate_manifests.py")
    fails_with(result, f"{NAMESPACES_SECRETS}: 1 RoleBindings in team-b, expected 2")
    assert result.stderr.count(": FAIL: ") == 1, result.stderr


@pytest.mark.parametrize(
    ("kind", "name", "namespace", "finding"),
    [
        (
            "ClusterRoleBinding",
            SECRETS_ROLE,
            "shipshape",
            f"{NAMESPACES_SECRETS}: has a ClusterRoleBinding; a namespace list needs RoleBindings",
        ),
        (
            "RoleBinding",
            "extra",
            "team-a",
            f"{NAMESPACES_SECRETS}: 3 RoleBindings in team-a, expected 2",
        ),
        (
            "RoleBinding",
            "extra",
            "team-c",
            f"{NAMESPACES_SECRETS}: RoleBinding extra in team-c, a namespace WATCH_NAMESPACES "
            "does not list",
        ),
        (
            "RoleBinding",
            "extra",
            "shipshape",
            f"{NAMESPACES_SECRETS}: RoleBinding extra in shipshape, a namespace WATCH_NAMESPACES "
            "does not list",
        ),
    ],
    ids=("cluster-role-binding", "twice-in-team-a", "unlisted-team-c", "own-namespace"),
)
def test_manifests_catch_a_secrets_binding_added_to_the_namespace_list(
    tree: Path, kind: str, name: str, namespace: str, finding: str
) -> None:
    with (tree / NAMESPACES_SECRETS_BINDINGS).open("a", encoding="utf-8") as bindings:
        binding = BINDING.format(kind=kind, name=name, namespace=namespace)
        bindings.write(binding.replace("shipshape-helloworld-controller-namespaced", SECRETS_ROLE))
    result = run_hack(tree, "validate_manifests.py")
    fails_with(result, finding)
    assert result.stderr.count(": FAIL: ") == 1, result.stderr
    assert findings(result, NAMESPACES_SECRETS) == [f"validate_manifests: FAIL: {finding}"]


def test_manifests_catch_a_role_bound_in_the_controllers_namespace_beside_the_lease(
    tree: Path,
) -> None:
    with (tree / NAMESPACES_SECRETS_BINDINGS).open("a", encoding="utf-8") as bindings:
        binding = BINDING.format(kind="RoleBinding", name="extra", namespace="shipshape")
        bindings.write(binding.replace("  kind: ClusterRole\n", "  kind: Role\n"))
    result = run_hack(tree, "validate_manifests.py")
    fails_with(
        result,
        f"{NAMESPACES_SECRETS}: RoleBinding extra in shipshape, a namespace WATCH_NAMESPACES "
        "does not list",
    )
    assert result.stderr.count(": FAIL: ") == 1, result.stderr
