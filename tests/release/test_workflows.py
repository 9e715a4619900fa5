"""The GitHub workflows, checked statically (they cannot run here).

Valid against SchemaStore's workflow schema; every job has steps; every action
pinned by commit SHA; every ``make`` target, script and repository path they
name exists; job and step output references resolve; every ``run:`` block is
shellcheck-clean; and they do what the runbook's release and base-image
sections list.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from tests.release.conftest import REPO, require_tool

WORKFLOWS = REPO / ".github/workflows"
NAMES = ("ci.yml", "release.yml")
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(?:/[\w./-]+)?@[0-9a-f]{40}$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$")
MAKE = re.compile(r"(?:^|[;&|]\s*|\$\(\s*)make\s+((?:[\w.-]+\s*)+)", re.MULTILINE)
#: A path into the repository: these top-level directories, or a dotted file.
REPO_PATH = re.compile(
    r"(?<![\w/.$-])(?:\./)?((?:hack|scripts|examples|k8s|docs|webapp|reloader|journal|cli|"
    r"telemetry|tests|\.github|\.ci)/[\w./-]*[\w-]|\.trivyignore|\.dockerignore)"
)
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def load(name: str) -> dict:
    """Load a workflow; YAML 1.1 reads the ``on`` key as True, so restore it."""
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    if True in data:
        data["on"] = data.pop(True)
    return data


def steps(workflow: dict):
    """Yield (job id, job, step) for every step of a workflow."""
    for job_id, job in workflow["jobs"].items():
        for step in job.get("steps") or []:
            yield job_id, job, step


def strings(value):
    """Yield every string inside a YAML value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


@pytest.fixture(scope="module", params=NAMES)
def workflow(request) -> tuple[str, dict]:
    return request.param, load(request.param)


def test_valid_against_the_workflow_schema() -> None:
    checker = require_tool("check-jsonschema")
    result = subprocess.run(
        [checker, "--builtin-schema", "vendor.github-workflows", *(WORKFLOWS / n for n in NAMES)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    dependabot = subprocess.run(
        [checker, "--builtin-schema", "vendor.dependabot", REPO / ".github/dependabot.yml"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert dependabot.returncode == 0, dependabot.stdout + dependabot.stderr


def test_every_job_has_steps_and_every_step_acts(workflow) -> None:
    name, data = workflow
    assert data["jobs"], f"{name} has no jobs"
    for job_id, job in data["jobs"].items():
        assert job.get("steps"), f"{name}: job {job_id} has no steps"
        assert job.get("timeout-minutes"), f"{name}: job {job_id} has no timeout"
        for step in job["steps"]:
            assert ("run" in step) != ("uses" in step), f"{name}: {job_id} step {step}"


def test_actions_are_pinned_by_commit_sha_with_their_version_named(workflow) -> None:
    name, _ = workflow
    seen = 0
    for number, line in enumerate((WORKFLOWS / name).read_text().splitlines(), start=1):
        match = USES_LINE.match(line)
        if not match:
            continue
        seen += 1
        ref, rest = match.groups()
        assert PINNED.match(ref), f"{name}:{number}: {ref} is not pinned to a commit SHA"
        assert re.match(r"\s+#\s*v\d", rest), f"{name}:{number}: name the version after the SHA"
    assert seen


def test_the_same_action_is_pinned_to_one_sha_everywhere() -> None:
    pins: dict[str, set[str]] = {}
    for name in NAMES:
        for _, _, step in steps(load(name)):
            if "uses" in step:
                action, _, sha = step["uses"].partition("@")
                pins.setdefault(action, set()).add(sha)
    drifting = {action: shas for action, shas in pins.items() if len(shas) > 1}
    assert not drifting


def test_every_make_target_exists(workflow) -> None:
    name, data = workflow
    targets = set()
    for _, _, step in steps(data):
        for match in MAKE.finditer(step.get("run", "")):
            targets.update(match.group(1).split())
    assert targets, f"{name} calls no make target"
    make = require_tool("make")
    for target in sorted(targets):
        # A dry run: exit 2 and "No rule to make target" when it does not exist.
        result = subprocess.run(
            [make, "-n", target], cwd=REPO, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"{name}: make {target}: {result.stderr.strip()}"


def test_every_script_and_path_exists(workflow) -> None:
    name, data = workflow
    found = set()
    for _, _, step in steps(data):
        for text in strings({k: v for k, v in step.items() if k in ("run", "with")}):
            for path in REPO_PATH.findall(EXPRESSION.sub("", text)):
                found.add(path.rstrip("/"))
    assert found
    for path in sorted(found):
        assert (REPO / path).exists(), f"{name} names {path}, which does not exist"
        if path.endswith(".sh"):
            mode = subprocess.run(
                ["git", "ls-files", "-s", path],
                cwd=REPO,
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            assert (REPO / path).stat().st_mode & 0o111, f"{path} is not executable"
            assert not mode or mode.startswith("100755"), f"{path} is not 100755 in git"


def test_needs_and_output_references_resolve(workflow) -> None:
    name, data = workflow
    jobs = data["jobs"]
    for job_id, job in jobs.items():
        needs = job.get("needs") or []
        needs = [needs] if isinstance(needs, str) else needs
        for need in needs:
            assert need in jobs, f"{name}: {job_id} needs unknown job {need}"
        step_ids = {step.get("id") for step in job["steps"]}
        texts = list(strings(job))
        for text in texts:
            for expression in EXPRESSION.findall(text):
                for other, output in re.findall(r"needs\.([\w-]+)\.outputs\.([\w-]+)", expression):
                    assert other in needs, f"{name}: {job_id} reads {other} without needing it"
                    declared = (jobs[other].get("outputs") or {}).keys()
                    assert output in declared, f"{name}: {other} has no output {output}"
                for step_id in re.findall(r"steps\.([\w-]+)\.outputs", expression):
                    assert step_id in step_ids, f"{name}: {job_id} has no step id {step_id}"
                for key in re.findall(r"matrix\.([\w-]+)", expression):
                    include = (job.get("strategy") or {}).get("matrix", {}).get("include", [])
                    assert include and all(key in row for row in include), (
                        f"{name}: {job_id} reads matrix.{key}, which its matrix lacks"
                    )


def test_run_blocks_are_shellcheck_clean(workflow, tmp_path: Path) -> None:
    _, data = workflow
    shellcheck = require_tool("shellcheck")
    scripts = []
    for job_id, _, step in steps(data):
        if "run" in step:
            # Expressions are substituted before the shell runs: stand in a word.
            body = EXPRESSION.sub("GHA_EXPRESSION", step["run"])
            path = tmp_path / f"{job_id}-{len(scripts)}.sh"
            # GitHub runs `bash --noprofile --norc -eo pipefail {0}`.
            path.write_text(f"#!/usr/bin/env bash\nset -eo pipefail\n{body}\n")
            scripts.append(path)
    result = subprocess.run(
        [shellcheck, "--severity=style", *map(str, scripts)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout


# --- What the runbook asks of the workflows ------------------------------------------


def runs(data: dict, job: str) -> str:
    """Return every run block of one job."""
    return "\n".join(step.get("run", "") for step in data["jobs"][job]["steps"])


def uses(data: dict, job: str) -> list[dict]:
    """Return the action steps of one job."""
    return [step for step in data["jobs"][job]["steps"] if "uses" in step]


def test_ci_runs_check_ci_core_and_the_monday_base_image_refresh() -> None:
    data = load("ci.yml")
    assert "make check-ci-core" in runs(data, "check-ci-core")
    [cron] = [entry["cron"] for entry in data["on"]["schedule"]]
    _minute, _hour, day, month, weekday = cron.split()
    assert (day, month, weekday) == ("*", "*", "1"), f"{cron} is not weekly on Monday"
    job = data["jobs"]["base-image-refresh"]
    assert "schedule" in job["if"]
    assert job["continue-on-error"] is True, "the refresh is non-blocking"
    build = runs(data, "base-image-refresh")
    for dockerfile in ("webapp/Dockerfile", "reloader/Dockerfile"):
        assert re.search(rf"docker build --pull --no-cache -f {dockerfile}", build), dockerfile
    scans = [s for s in uses(data, "base-image-refresh") if "trivy-action" in s["uses"]]
    assert len(scans) == 2
    [upload] = [s for s in uses(data, "base-image-refresh") if "upload-artifact" in s["uses"]]
    assert upload["with"]["name"] == "base-image-refresh-reports"
    assert upload["if"] == "always()"
    assert {s["with"]["output"].split("/")[0] for s in scans} == {upload["with"]["path"].strip("/")}


def test_release_verifies_a_signed_annotated_tag_first() -> None:
    data = load("release.yml")
    assert data["on"]["push"]["tags"], "releases start from a tag push"
    script = runs(data, "verify-tag")
    assert 'git cat-file -t "refs/tags/' in script, "the tag must be an annotated tag object"
    assert ".verification.verified" in script, "GitHub must have verified the signature"
    needs = {
        job: {spec["needs"]} if isinstance(spec.get("needs"), str) else set(spec.get("needs", []))
        for job, spec in data["jobs"].items()
    }
    for job in ("gates", "images", "kind-smoke", "release-manifests", "github-release"):
        assert "verify-tag" in needs[job] or needs[job] & {"gates", "images"}, job


def test_release_gates_are_the_runbooks() -> None:
    data = load("release.yml")
    script = runs(data, "gates")
    assert 'hack/validate_release_metadata.py --tag "$TAG"' in script
    assert "make validate" in script
    assert "hack/validate_production_evidence.py --environment prod" in script
    assert "gates" in data["jobs"]["images"]["needs"], "nothing is built before the gates pass"
    make = subprocess.run(
        [require_tool("make"), "-n", "validate"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    for validator in (
        "validate_manifests.py",
        "check_immutable_images.py",
        "check_doc_links.py",
        "validate_release_metadata.py",
        "validate_deployment_order.py",
        "validate_trivyignore.py",
    ):
        assert f"hack/{validator}" in make, f"make validate does not run {validator}"


def test_release_builds_scans_signs_and_attests_both_images() -> None:
    data = load("release.yml")
    job = data["jobs"]["images"]
    assert {row["dockerfile"] for row in job["strategy"]["matrix"]["include"]} == {
        "webapp/Dockerfile",
        "reloader/Dockerfile",
    }
    assert job["permissions"]["id-token"] == "write", "keyless signing needs the OIDC token"
    [build] = [s for s in uses(data, "images") if "build-push-action" in s["uses"]]
    tags = build["with"]["tags"]
    assert ":v${{ needs.verify-tag.outputs.version }}" in tags
    assert ":sha-${{ github.sha }}" in tags
    assert build["with"]["sbom"] is True
    assert build["with"]["provenance"].startswith("mode=")
    assert "GIT_COMMIT=${{ github.sha }}" in build["with"]["build-args"]
    [trivy] = [s for s in uses(data, "images") if "trivy-action" in s["uses"]]
    assert trivy["with"]["exit-code"] == "1"
    assert trivy["with"]["trivyignores"] == ".trivyignore"
    assert "steps.build.outputs.digest" in trivy["with"]["image-ref"], "scan what was pushed"
    assert 'cosign sign --yes "$IMAGE"' in runs(data, "images")
    assert any("attest-build-provenance" in s["uses"] for s in uses(data, "images"))


def test_release_smoke_tests_the_released_digests_then_ships_the_bundle() -> None:
    data = load("release.yml")
    smoke = runs(data, "kind-smoke")
    assert "./hack/e2e-kind.sh" in smoke
    assert 'APP_IMAGE="$(cat digests/app)"' in smoke
    assert "cosign verify" in smoke
    bundle = data["jobs"]["release-manifests"]
    assert "kind-smoke" in bundle["needs"], "no bundle for images that failed the smoke test"
    assert "hack/render_release_manifests.py" in runs(data, "release-manifests")
    [upload] = [s for s in uses(data, "release-manifests") if "upload-artifact" in s["uses"]]
    assert upload["with"]["name"] == "release-manifests-v${{ needs.verify-tag.outputs.version }}"
    publish = runs(data, "github-release")
    assert "gh release create" in publish and "gh release edit" in publish
    assert "release-notes.md" in publish
    assert "hack/changelog_section.py" in runs(data, "gates")


def test_e2e_kind_is_shellcheck_clean() -> None:
    result = subprocess.run(
        [require_tool("shellcheck"), "--severity=style", "hack/e2e-kind.sh"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout


def test_e2e_kind_help_and_a_missing_tool() -> None:
    script = REPO / "hack/e2e-kind.sh"
    helped = subprocess.run([script, "--help"], capture_output=True, text=True, check=False)
    assert helped.returncode == 0
    assert "APP_IMAGE" in helped.stdout and "set -euo" not in helped.stdout
    with tempfile.TemporaryDirectory() as empty:
        # Only bash and coreutils' dirname on PATH: the script names the first tool it lacks.
        for tool in ("bash", "dirname"):
            Path(empty, tool).symlink_to(require_tool(tool))
        missing = subprocess.run(
            [require_tool("bash"), script],
            capture_output=True,
            text=True,
            check=False,
            env={"PATH": empty},
        )
    assert missing.returncode == 2, missing.stderr
    assert missing.stderr.strip() == "e2e-kind: docker is not installed (see --help)"
    half = subprocess.run(
        [script],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "APP_IMAGE": "example.org/a@sha256:" + "0" * 64},
    )
    assert half.returncode == 2
    assert "set both APP_IMAGE and CONTROLLER_IMAGE" in half.stderr
