#!/usr/bin/env python3
"""Render the release manifest bundle: every applied directory, pinned to released images.

Usage (from the repository root)::

    python3 hack/render_release_manifests.py \\
        --app-image ghcr.io/OWNER/shipshape-helloworld@sha256:<digest> \\
        --controller-image ghcr.io/OWNER/shipshape-controller@sha256:<digest> \\
        --out release-manifests-vX.Y.Z

Writes into ``--out`` (which must not exist yet):

- ``01-namespace.yaml`` ... ``06-controller.yaml``: each directory of the apply
  order rendered with kustomize, with the app and controller images replaced
  by the released references;
- ``controller-egress/``: the egress patch starters of ``examples/`` and a
  ``controller-egress-handoff.md`` row template to fill in for the target
  cluster, plus ``networkpolicy-probe-allow/``;
- ``images.txt``, ``README.md`` (apply order and hand-off steps) and
  ``SHA256SUMS`` over every file.

Images must be pinned by digest (``REPO@sha256:<64 hex>``); ``--allow-tags``
accepts ``REPO:TAG`` too, for a smoke test of locally built images only.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import k8slib

SCRIPT = "render_release_manifests"
#: The image names the bases use; their kustomizations map them to registries.
APP_NAME = "shipshape/helloworld"
CONTROLLER_NAME = "shipshape/controller"
DIGEST_REF = re.compile(r"^[a-z0-9][a-z0-9._/:-]*@sha256:[0-9a-f]{64}$")
TAG_REF = re.compile(r"^[a-z0-9][a-z0-9._/:-]*/[a-z0-9._-]+:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
EGRESS_TEMPLATES = (
    "examples/controller-apiserver-cidr-patch.yaml",
    "examples/controller-egress/eks.patch.yaml",
    "examples/controller-egress/gke.patch.yaml",
    "examples/controller-egress/aks.patch.yaml",
)
PROBE_TEMPLATES = (
    "examples/networkpolicy-probe-allow/app-kubelet-probes.yaml",
    "examples/networkpolicy-probe-allow/controller-kubelet-probes.yaml",
)


def bundle_name(index: int, directory: str) -> str:
    """Return the bundle file of one applied directory: ``03-overlays-test.yaml``."""
    return f"{index:02d}-{directory.removeprefix('k8s/').replace('/', '-')}.yaml"


def check_reference(option: str, ref: str, allow_tags: bool) -> None:
    """Reject an image reference that is not pinned (or tagged, when allowed)."""
    if DIGEST_REF.match(ref) or (allow_tags and TAG_REF.match(ref)):
        return
    wanted = "REPO@sha256:<64 hex>" + (" or REPO:TAG" if allow_tags else "")
    raise k8slib.ValidationError(f"{option} {ref!r} is not {wanted}")


def registry_names(root: Path) -> dict[str, str]:
    """Map each base image name to the repository its kustomization renders it as."""
    names: dict[str, str] = {}
    for path in sorted((root / "k8s").rglob("kustomization.yaml")):
        for entry in (k8slib.load_yaml_file(path) or {}).get("images") or []:
            if entry.get("name") in (APP_NAME, CONTROLLER_NAME):
                names[entry["name"]] = entry.get("newName", entry["name"])
    missing = {APP_NAME, CONTROLLER_NAME} - names.keys()
    if missing:
        raise k8slib.ValidationError(
            f"no kustomization images: entry for {', '.join(sorted(missing))}"
        )
    return names


def repository(image: str) -> str:
    """Return an image reference without its digest or tag."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return name[: len(name) - len(last)] + last.split(":", 1)[0]


def pin_images(
    objects: list[k8slib.Manifest], replacements: dict[str, str], where: str
) -> tuple[list[str], int]:
    """Replace the released images in place; return problems and replacements made."""
    problems = []
    replaced = 0
    for obj in objects:
        for pod_spec in k8slib.pod_specs(obj):
            for container in k8slib.containers(pod_spec):
                image = container.get("image", "")
                new = replacements.get(repository(image))
                if new is not None:
                    container["image"] = new
                    replaced += 1
                elif not DIGEST_REF.match(image):
                    problems.append(
                        f"{where}: {obj['kind']} {obj['metadata']['name']} container "
                        f"{container.get('name')} uses {image!r}, not a pinned or released image"
                    )
    return problems, replaced


def dump(objects: list[k8slib.Manifest]) -> str:
    """Serialise objects as one multi-document YAML stream, keys in their rendered order."""
    return k8slib.yaml.safe_dump_all(objects, sort_keys=False, default_flow_style=False)


def readme(files: list[str], app_image: str, controller_image: str) -> str:
    """Return the bundle's README: what is in it and the order to apply it in."""
    apply_lines = "\n".join(f"kubectl apply -f {name}" for name in files)
    return f"""# Shipshape release manifests

Rendered from the tagged commit with the released images:

- app: `{app_image}`
- controller: `{controller_image}`

Apply in this order (the repository's canonical order; each file is one
directory of `k8s/`):

```bash
{apply_lines}
```

Before production hand-off, replace the controller's placeholder API egress
with the patch for the target cluster (`controller-egress/`), record the
resolved CIDRs, the patch file and the smoke result in
`docs/operations-artifacts/controller-egress-handoff.md` (a row template is in
`controller-egress/controller-egress-handoff.md`), and, where the CNI needs
it, add the kubelet probe allow rules of `networkpolicy-probe-allow/` with
your node CIDR. `SHA256SUMS` covers every file here.
"""


HANDOFF_TEMPLATE = """# Controller egress hand-off row (template)

Copy one row per target cluster into
`docs/operations-artifacts/controller-egress-handoff.md` once the
controller-to-API smoke check has passed (docs/runbooks/operations.md,
"Controller API egress"). Every cell is required; the production evidence
gate rejects the placeholders below.

| Environment | Date | API CIDRs | Patch file | Smoke result | Reviewer |
|---|---|---|---|---|---|
| <test or prod> | YYYY-MM-DD | <CIDR>, <CIDR> | {patch} | PENDING | <name> |

Release: {version_line}
"""


def write_bundle(root: Path, out: Path, app_image: str, controller_image: str) -> list[str]:
    """Render and write the bundle; return problems (nothing is left behind on one)."""
    names = registry_names(root)
    replacements = {names[APP_NAME]: app_image, names[CONTROLLER_NAME]: controller_image}
    rendered: dict[str, str] = {}
    problems: list[str] = []
    counts = {"app": 0, "controller": 0}
    for index, directory in enumerate(k8slib.CANONICAL_ORDER, start=1):
        objects = k8slib.render(root / directory)
        found, replaced = pin_images(objects, replacements, directory)
        problems += found
        counts["controller" if directory == "k8s/controller" else "app"] += replaced
        rendered[bundle_name(index, directory)] = dump(objects)
    for image, count in counts.items():
        if count == 0:
            problems.append(f"no container of the {image} image found to pin")
    if problems:
        return problems

    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name, text in rendered.items():
        (staging / name).write_text(text, encoding="utf-8")
    for folder, templates in (
        ("controller-egress", EGRESS_TEMPLATES),
        ("networkpolicy-probe-allow", PROBE_TEMPLATES),
    ):
        (staging / folder).mkdir()
        for template in templates:
            source = root / template
            if not source.is_file():
                shutil.rmtree(staging)
                return [f"{template}: missing template"]
            shutil.copyfile(source, staging / folder / source.name)
    (staging / "controller-egress" / "controller-egress-handoff.md").write_text(
        HANDOFF_TEMPLATE.format(
            patch="examples/controller-egress/<provider>.patch.yaml",
            version_line=f"app `{app_image}`, controller `{controller_image}`",
        ),
        encoding="utf-8",
    )
    (staging / "images.txt").write_text(
        f"app {app_image}\ncontroller {controller_image}\n", encoding="utf-8"
    )
    (staging / "README.md").write_text(
        readme(list(rendered), app_image, controller_image), encoding="utf-8"
    )
    sums = [
        f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.relative_to(staging).as_posix()}"
        for path in sorted(staging.rglob("*"))
        if path.is_file()
    ]
    (staging / "SHA256SUMS").write_text("\n".join(sums) + "\n", encoding="utf-8")
    staging.rename(out)
    return []


def main() -> int:
    """Render the bundle for the images given on the command line."""
    parser = k8slib.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--app-image", required=True, help="released app image reference")
    parser.add_argument(
        "--controller-image", required=True, help="released controller image reference"
    )
    parser.add_argument("--out", type=Path, required=True, help="bundle directory to create")
    parser.add_argument(
        "--allow-tags", action="store_true", help="accept REPO:TAG (local smoke tests only)"
    )
    args = parser.parse_args()
    check_reference("--app-image", args.app_image, args.allow_tags)
    check_reference("--controller-image", args.controller_image, args.allow_tags)
    if args.out.exists():
        raise k8slib.ValidationError(f"{args.out}: already exists; choose a new directory")
    problems = write_bundle(args.root, args.out, args.app_image, args.controller_image)
    return k8slib.report(SCRIPT, problems, f"release manifests written to {args.out}")


if __name__ == "__main__":
    k8slib.run(SCRIPT, main)
