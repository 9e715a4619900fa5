"""The app and controller Dockerfiles, checked statically (no Docker engine runs here).

Parsed with BuildKit's own parser (the ``dockerfile`` package) and linted with
hadolint: bases pinned by digest, a non-root numeric user that matches the
manifests, no build tools in the final stage, our console scripts as
entrypoints, the commit baked in, and every file they copy present in the
build context after ``.dockerignore``.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import dockerfile
import pytest
import yaml

from tests.release.conftest import REPO, require_tool

DIGEST_BASE = re.compile(r"^[a-z0-9][a-z0-9._/-]*:[\w.-]+@sha256:[0-9a-f]{64}$")
#: Packages and tools that compile or fetch code; none belongs in a final stage.
BUILD_TOOLS = re.compile(
    r"\b(apt-get|apt|apk|yum|dnf|microdnf|pip|pip3|gcc|g\+\+|cc|clang|make|cmake|"
    r"build-essential|python3?-dev|libc-dev|git|curl|wget)\b"
)


@dataclass(frozen=True)
class Image:
    """One Dockerfile and the manifest workload that runs its image."""

    dockerfile: str
    manifest: str
    kind: str
    container: str


IMAGES = {
    "app": Image("webapp/Dockerfile", "k8s/base/deployment.yaml", "Deployment", "helloworld"),
    "controller": Image(
        "reloader/Dockerfile", "k8s/controller/statefulset.yaml", "StatefulSet", "controller"
    ),
}


@dataclass
class Stage:
    """One build stage: its base, alias and instructions."""

    base: str
    alias: str | None
    commands: list[dockerfile.Command] = field(default_factory=list)

    def of(self, instruction: str) -> list[dockerfile.Command]:
        """Return the stage's commands of one instruction."""
        return [c for c in self.commands if c.cmd == instruction]


def stages(path: Path) -> tuple[list[dockerfile.Command], list[Stage]]:
    """Parse a Dockerfile into its global ARGs and its stages."""
    prelude: list[dockerfile.Command] = []
    result: list[Stage] = []
    for command in dockerfile.parse_file(str(path)):
        if command.cmd == "FROM":
            words = list(command.value)
            alias = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            result.append(Stage(words[0], alias))
        elif result:
            result[-1].commands.append(command)
        else:
            prelude.append(command)
    return prelude, result


def workload_container(image: Image) -> dict:
    """Return the manifest's container (with the pod security context) for an image."""
    manifest = yaml.safe_load((REPO / image.manifest).read_text())
    assert manifest["kind"] == image.kind
    pod = manifest["spec"]["template"]["spec"]
    [container] = [c for c in pod["containers"] if c["name"] == image.container]
    return {"pod": pod.get("securityContext", {}), **container}


def glob_regex(pattern: str) -> re.Pattern[str]:
    """Translate a .dockerignore pattern (Go's filepath.Match plus ``**``) to a regex."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i:]:
            end = pattern.index("]", i)
            out.append("[" + pattern[i + 1 : end].replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("^" + "".join(out) + "$")


def dockerignore_excludes(relative: str) -> bool:
    """Return whether .dockerignore keeps ``relative`` out of the build context.

    Docker's rules: patterns are matched in order and the last match wins; a
    pattern matching a directory also matches everything under it; ``!``
    re-includes; ``**`` matches any number of directories.
    """
    rules = []
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            rules.append((line.startswith("!"), glob_regex(line.lstrip("!").strip("/"))))
    parts = relative.strip("/").split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for negate, regex in rules:
        if any(regex.match(candidate) for candidate in candidates):
            excluded = not negate
    return excluded


@pytest.fixture(scope="module", params=sorted(IMAGES))
def image(request) -> tuple[Image, list[dockerfile.Command], list[Stage]]:
    spec = IMAGES[request.param]
    prelude, parsed = stages(REPO / spec.dockerfile)
    return spec, prelude, parsed


def test_every_base_is_pinned_by_digest_and_both_images_share_it(image) -> None:
    spec, prelude, parsed = image
    assert not [c for c in prelude if c.cmd == "ARG"], "no ARG may choose the base image"
    aliases: set[str] = set()
    bases = set()
    for stage in parsed:
        if stage.base not in aliases:
            assert DIGEST_BASE.match(stage.base), f"{spec.dockerfile}: {stage.base} not pinned"
            bases.add(stage.base)
        if stage.alias:
            aliases.add(stage.alias)
    # The virtualenv copied between stages links to the build stage's interpreter.
    assert len(bases) == 1, f"{spec.dockerfile}: stages use different bases {bases}"
    other = IMAGES["controller" if spec is IMAGES["app"] else "app"]
    assert bases == {s.base for s in stages(REPO / other.dockerfile)[1] if "@" in s.base}
    assert "slim" in next(iter(bases)), "the final image starts from a slim base"


def test_multi_stage_with_a_clean_final_stage(image) -> None:
    spec, _, parsed = image
    assert len(parsed) >= 2, f"{spec.dockerfile} is not multi-stage"
    final = parsed[-1]
    for command in final.of("RUN"):
        text = " ".join(command.value)
        # `python -m pip uninstall` removes the base's pip; nothing may install.
        installs = re.search(r"\b(install|add)\b", text.replace("install -d", ""))
        tools = {m.group(0) for m in BUILD_TOOLS.finditer(text)} - {"pip"}
        assert not tools, f"{spec.dockerfile}:{command.start_line} uses {tools} in the final stage"
        assert not (installs and "uninstall" not in text), (
            f"{spec.dockerfile}:{command.start_line} installs packages in the final stage"
        )
    copies = final.of("COPY") + final.of("ADD")
    assert copies, "the final stage copies the built virtualenv"
    for command in copies:
        assert any(flag.startswith("--from=") for flag in command.flags), (
            f"{spec.dockerfile}:{command.start_line}: the final stage copies only from a stage"
        )
    assert not final.of("ADD"), "ADD fetches and unpacks; COPY says what it does"


def test_runs_as_the_manifests_numeric_non_root_user(image) -> None:
    spec, _, parsed = image
    users = parsed[-1].of("USER")
    assert users, f"{spec.dockerfile}: the final stage sets no USER"
    uid, _, gid = users[-1].value[0].partition(":")
    assert uid.isdigit() and gid.isdigit(), "a numeric UID:GID lets runAsNonRoot verify it"
    assert int(uid) != 0 and int(gid) != 0
    container = workload_container(spec)
    for context in (container["pod"], container["securityContext"]):
        assert context["runAsUser"] == int(uid), f"{spec.manifest} runs as another UID"
        assert context["runAsGroup"] == int(gid), f"{spec.manifest} runs as another GID"


def test_entrypoint_is_our_console_script_and_the_manifest_command(image) -> None:
    spec, _, parsed = image
    [entrypoint] = parsed[-1].of("ENTRYPOINT")
    assert entrypoint.json, "exec form: the program is PID 1 and receives SIGTERM"
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert entrypoint.value[0] in scripts, f"{entrypoint.value[0]} is not a console script"
    assert list(entrypoint.value) == workload_container(spec)["command"]


def test_the_commit_is_baked_in(image) -> None:
    spec, _, parsed = image
    final = parsed[-1]
    assert any(c.value[0].split("=")[0] == "GIT_COMMIT" for c in final.of("ARG"))
    env = " ".join(" ".join(c.value) for c in final.of("ENV"))
    assert re.search(r"\bGIT_COMMIT\b\s*=?\s*\$\{?GIT_COMMIT\}?", env), (
        f"{spec.dockerfile}: ENV GIT_COMMIT=${{GIT_COMMIT}} missing (telemetry.buildinfo reads it)"
    )


def test_copied_files_exist_and_reach_the_build_context(image) -> None:
    spec, _, parsed = image
    copied = 0
    for stage in parsed:
        for command in stage.of("COPY"):
            if any(flag.startswith("--from=") for flag in command.flags):
                continue
            for source in command.value[:-1]:
                copied += 1
                path = REPO / source
                assert path.exists(), f"{spec.dockerfile}:{command.start_line}: {source} missing"
                assert not dockerignore_excludes(source), f".dockerignore drops {source}"
                if path.is_dir():
                    modules = [p.relative_to(REPO).as_posix() for p in path.rglob("*.py")]
                    assert modules, f"{source} holds no module"
                    dropped = [m for m in modules if dockerignore_excludes(m)]
                    assert not dropped, f".dockerignore drops {dropped[:3]}"
    assert copied >= 2


def test_the_image_copies_every_package_the_project_installs(image) -> None:
    spec, _, parsed = image
    found = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    packages = {pattern.rstrip("*") for pattern in found["find"]["include"]}
    copied = {
        source.strip("/")
        for stage in parsed
        for command in stage.of("COPY")
        if not command.flags
        for source in command.value[:-1]
    }
    assert packages <= copied, f"{spec.dockerfile} does not copy {packages - copied}"


def test_dockerignore_keeps_local_state_out() -> None:
    for path in (".venv/bin/python", "shipshape-journal.db", "journal/__pycache__/x.pyc", ".git"):
        assert dockerignore_excludes(path), path
    for path in ("pyproject.toml", "webapp/main.py", "journal/migrations/env.py"):
        assert not dockerignore_excludes(path), path


def test_hadolint_passes() -> None:
    hadolint = require_tool("hadolint")
    result = subprocess.run(
        [hadolint, "--failure-threshold", "info", *(i.dockerfile for i in IMAGES.values())],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
