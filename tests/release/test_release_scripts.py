"""The release helpers in hack/: the manifest bundle, the release notes and the smoke-test CRDs."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.release.conftest import REPO, run_script

APP = "ghcr.io/example/shipshape-helloworld@sha256:" + "a" * 64
CONTROLLER = "ghcr.io/example/shipshape-controller@sha256:" + "b" * 64
BUNDLE_FILES = [
    "01-namespace.yaml",
    "02-istio-ingress.yaml",
    "03-overlays-test.yaml",
    "04-overlays-prod.yaml",
    "05-monitoring.yaml",
    "06-controller.yaml",
]


def container_images(path: Path) -> list[tuple[str, str, str]]:
    """Return (kind, name, image) for every container in a rendered file."""
    found = []
    for obj in yaml.safe_load_all(path.read_text()):
        if obj and obj["kind"] in {"Deployment", "StatefulSet"}:
            for container in obj["spec"]["template"]["spec"]["containers"]:
                found.append((obj["kind"], obj["metadata"]["name"], container["image"]))
    return found


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("release") / "release-manifests-v0.1.0"
    result = run_script(
        "hack/render_release_manifests.py",
        "--app-image",
        APP,
        "--controller-image",
        CONTROLLER,
        "--out",
        out,
    )
    assert result.returncode == 0, result.stderr
    return out


def test_the_bundle_pins_every_workload_to_the_released_digests(bundle: Path) -> None:
    assert sorted(p.name for p in bundle.glob("*.yaml")) == BUNDLE_FILES
    images = {file: container_images(bundle / file) for file in BUNDLE_FILES}
    assert images["03-overlays-test.yaml"] == [("Deployment", "helloworld-test", APP)]
    assert images["04-overlays-prod.yaml"] == [("Deployment", "helloworld-prod", APP)]
    assert images["06-controller.yaml"] == [("StatefulSet", "helloworld-controller", CONTROLLER)]
    text = "".join((bundle / f).read_text() for f in BUNDLE_FILES)
    assert "registry.example.com" not in text, "a placeholder image survived"


def test_the_bundle_is_the_rendered_repository(bundle: Path) -> None:
    prod = list(yaml.safe_load_all((bundle / "04-overlays-prod.yaml").read_text()))
    kinds = sorted(obj["kind"] for obj in prod)
    assert "HorizontalPodAutoscaler" in kinds and "PodDisruptionBudget" in kinds
    assert "Namespace" not in kinds, "overlays never emit the Namespace"
    namespace = list(yaml.safe_load_all((bundle / "01-namespace.yaml").read_text()))
    assert [o["metadata"]["name"] for o in namespace if o["kind"] == "Namespace"] == ["shipshape"]


def test_the_bundle_carries_the_handoff_templates_readme_and_checksums(bundle: Path) -> None:
    egress = sorted(p.name for p in (bundle / "controller-egress").iterdir())
    assert egress == [
        "aks.patch.yaml",
        "controller-apiserver-cidr-patch.yaml",
        "controller-egress-handoff.md",
        "eks.patch.yaml",
        "gke.patch.yaml",
    ]
    assert (bundle / "controller-egress/eks.patch.yaml").read_bytes() == (
        REPO / "examples/controller-egress/eks.patch.yaml"
    ).read_bytes()
    template = (bundle / "controller-egress/controller-egress-handoff.md").read_text()
    assert "| Environment | Date | API CIDRs | Patch file | Smoke result | Reviewer |" in template
    assert APP in template and CONTROLLER in template
    readme = (bundle / "README.md").read_text()
    applies = re.findall(r"^kubectl apply -f (\S+)$", readme, re.MULTILINE)
    assert applies == BUNDLE_FILES, "the README applies the files in the canonical order"
    assert (bundle / "images.txt").read_text() == f"app {APP}\ncontroller {CONTROLLER}\n"
    sums = dict(
        reversed(line.split("  ", 1)) for line in (bundle / "SHA256SUMS").read_text().splitlines()
    )
    files = sorted(
        p.relative_to(bundle).as_posix()
        for p in bundle.rglob("*")
        if p.is_file() and p.name != "SHA256SUMS"
    )
    assert sorted(sums) == files
    for name, digest in sums.items():
        assert hashlib.sha256((bundle / name).read_bytes()).hexdigest() == digest, name


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--app-image", "ghcr.io/example/app:v0.1.0", "--controller-image", CONTROLLER],
            "--app-image 'ghcr.io/example/app:v0.1.0' is not REPO@sha256:<64 hex>",
        ),
        (
            ["--app-image", APP, "--controller-image", "ghcr.io/x/c@sha256:abc"],
            "--controller-image 'ghcr.io/x/c@sha256:abc' is not",
        ),
    ],
)
def test_unpinned_images_are_refused(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_script("hack/render_release_manifests.py", *args, "--out", tmp_path / "b")
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "b").exists()


def test_tags_only_with_allow_tags_and_never_over_an_existing_bundle(tmp_path: Path) -> None:
    args = ["--app-image", "shipshape/helloworld:e2e-1", "--controller-image", "shipshape/c:e2e"]
    result = run_script(
        "hack/render_release_manifests.py", *args, "--out", tmp_path / "b", "--allow-tags"
    )
    assert result.returncode == 0, result.stderr
    assert container_images(tmp_path / "b/03-overlays-test.yaml")[0][2] == args[1]
    again = run_script(
        "hack/render_release_manifests.py", *args, "--out", tmp_path / "b", "--allow-tags"
    )
    assert again.returncode == 1
    assert "already exists" in again.stderr


# --- release notes --------------------------------------------------------------------


def test_release_notes_are_the_versions_changelog_section() -> None:
    result = run_script("hack/changelog_section.py", "v0.1.0")
    assert result.returncode == 0, result.stderr
    changelog = (REPO / "CHANGELOG.md").read_text()
    body = changelog.split("## [0.1.0] - ", 1)[1].split("\n", 1)[1]
    body = body.split("\n## ", 1)[0].strip()
    assert result.stdout.strip() == body
    assert result.stdout.startswith("### Added")


@pytest.mark.parametrize(
    ("changelog", "version", "message"),
    [
        ("## [Unreleased]\n\n## [0.1.0] - 2026-11-26\n- x\n", "0.2.0", "no section for version"),
        ("## [0.2.0]\n- x\n", "0.2.0", "has no release date"),
        ("## [0.2.0] - 2026-12-01\n\n## [0.1.0] - 2026-11-26\n- x\n", "0.2.0", "is empty"),
    ],
)
def test_release_notes_refuse_a_missing_undated_or_empty_section(
    tmp_path: Path, changelog: str, version: str, message: str
) -> None:
    (tmp_path / "CHANGELOG.md").write_text(changelog)
    result = run_script(REPO / "hack/changelog_section.py", "--root", tmp_path, version)
    assert result.returncode == 1
    assert message in result.stderr
    assert result.stdout == ""


# --- the kind smoke test's CRDs ---------------------------------------------------


def test_smoke_crds_register_every_custom_kind_the_bundle_uses(bundle: Path) -> None:
    result = run_script("hack/e2e_crds.py")
    assert result.returncode == 0, result.stderr
    crds = list(yaml.safe_load_all(result.stdout))
    registered = set()
    for crd in crds:
        kubernetes_validate.validate(crd, "1.32.0", strict=True)
        spec = crd["spec"]
        assert crd["metadata"]["name"] == f"{spec['names']['plural']}.{spec['group']}"
        assert sum(v["storage"] for v in spec["versions"]) == 1
        registered |= {
            f"{spec['group']}/{v['name']}/{spec['names']['kind']}" for v in spec["versions"]
        }
    used = set()
    for file in BUNDLE_FILES:
        for obj in yaml.safe_load_all((bundle / file).read_text()):
            group = obj["apiVersion"].rpartition("/")[0]
            if "." in group and not group.endswith("k8s.io"):
                used.add(f"{obj['apiVersion']}/{obj['kind']}")
    assert used, "the bundle uses custom kinds"
    assert used <= registered, used - registered
    plurals = {crd["spec"]["names"]["kind"]: crd["spec"]["names"]["plural"] for crd in crds}
    assert plurals["AuthorizationPolicy"] == "authorizationpolicies"
    assert plurals["EnvoyFilter"] == "envoyfilters"
