"""Independent checkers over the rendered manifests: kubernetes-validate, the
upstream CRD schemas, checkov and yamllint."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.k8s.conftest import APPLIED, REPO, VARIANTS, Render

KUBERNETES_VERSION = "1.33.0"
CHECKOV = REPO / ".venv" / "tools" / "checkov" / "bin" / "checkov"
SCHEMAS = yaml.safe_load((Path(__file__).parent / "crd_schemas.yaml").read_text())
CUSTOM_GROUPS = {entry["group"] for entry in SCHEMAS}


def is_custom(obj: dict) -> bool:
    return obj["apiVersion"].split("/")[0] in CUSTOM_GROUPS


# --- core kinds -------------------------------------------------------------


@pytest.mark.parametrize("directory", APPLIED + VARIANTS)
def test_core_objects_validate_strictly(renders: dict[str, Render], directory: str) -> None:
    core = [o for o in renders[directory].objects if not is_custom(o)]
    for obj in core:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    assert core or directory in {"k8s/istio-ingress", "k8s/monitoring"}


def test_kubernetes_validate_rejects_a_bad_field(renders: dict[str, Render]) -> None:
    deployment = copy.deepcopy(renders["k8s/overlays/prod"].one("Deployment", "helloworld-prod"))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["paht"] = (
        "/healthz"
    )
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


# --- custom kinds against the upstream CRD schemas --------------------------


def schema_errors(value: Any, schema: dict, path: str) -> list[str]:
    """Check ``value`` against a structural CRD schema; unknown fields are errors."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    if schema.get("x-kubernetes-int-or-string"):
        ok = isinstance(value, (int, str)) and not isinstance(value, bool)
        return [] if ok else [f"{path}: not an int or string"]
    checker = {"object": object_errors, "array": array_errors}.get(schema.get("type", ""))
    if checker is None:
        checker = scalar_errors if schema.get("type") in SCALARS else untyped
    return checker(value, schema, path)


def untyped(value: Any, schema: dict, path: str) -> list[str]:
    """Report a schema node without a type (a mistake in the kept schemas)."""
    return [f"{path}: schema has no type"]


def object_errors(value: Any, schema: dict, path: str) -> list[str]:
    """Check an object: required keys, known properties, typed additional properties."""
    if not isinstance(value, dict):
        return [f"{path}: expected an object"]
    errors = [f"{path}.{key}: required" for key in schema.get("required", []) if key not in value]
    properties = schema.get("properties")
    for key, item in value.items():
        if properties is not None and key in properties:
            errors += schema_errors(item, properties[key], f"{path}.{key}")
        elif "additionalProperties" in schema:
            errors += schema_errors(item, schema["additionalProperties"], f"{path}.{key}")
        else:
            errors.append(f"{path}.{key}: not in the upstream schema")
    return errors


def array_errors(value: Any, schema: dict, path: str) -> list[str]:
    """Check every item of an array."""
    if not isinstance(value, list):
        return [f"{path}: expected an array"]
    return [
        error
        for index, item in enumerate(value)
        for error in schema_errors(item, schema["items"], f"{path}[{index}]")
    ]


SCALARS = {"string": str, "integer": int, "boolean": bool}


def scalar_errors(value: Any, schema: dict, path: str) -> list[str]:
    """Check a string, integer or boolean against its type and constraints."""
    kind = schema["type"]
    if not isinstance(value, SCALARS[kind]) or (kind == "integer" and isinstance(value, bool)):
        return [f"{path}: expected {kind}, got {value!r}"]
    errors = []
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not one of {schema['enum']}")
    if "pattern" in schema and not re.search(schema["pattern"], value):
        errors.append(f"{path}: {value!r} does not match {schema['pattern']}")
    if "minLength" in schema and len(value) < schema["minLength"]:
        errors.append(f"{path}: shorter than {schema['minLength']}")
    if "minimum" in schema and value < schema["minimum"]:
        errors.append(f"{path}: below {schema['minimum']}")
    if "maximum" in schema and value > schema["maximum"]:
        errors.append(f"{path}: above {schema['maximum']}")
    return errors


def crd_errors(obj: dict) -> list[str]:
    group, _, version = obj["apiVersion"].rpartition("/")
    entry = next((e for e in SCHEMAS if e["group"] == group and e["kind"] == obj["kind"]), None)
    name = f"{obj['kind']} {obj['metadata']['name']}"
    if entry is None:
        return [f"{name}: no upstream schema kept for {group}/{obj['kind']}"]
    if version not in entry["served"]:
        return [f"{name}: {obj['apiVersion']} is not served (served: {entry['served']})"]
    return schema_errors(obj.get("spec"), entry["spec"], f"{name}.spec")


def custom_objects(renders: dict[str, Render]) -> list[dict]:
    return [o for d in APPLIED for o in renders[d].objects if is_custom(o)]


def test_custom_resources_use_only_upstream_fields(renders: dict[str, Render]) -> None:
    objects = custom_objects(renders)
    kinds = {o["kind"] for o in objects}
    assert kinds == {e["kind"] for e in SCHEMAS}, "a kept schema is unused or a kind is missing"
    errors = [e for obj in objects for e in crd_errors(obj)]
    assert errors == []


@pytest.mark.parametrize(
    ("kind", "mutate", "message"),
    [
        ("Gateway", lambda o: o["spec"]["servers"][0]["tls"].update(mode="STRICT"), "not one of"),
        ("VirtualService", lambda o: o["spec"].update(host="x"), "not in the upstream schema"),
        (
            "ServiceMonitor",
            lambda o: o["spec"]["endpoints"][0].update(scheme="HTTPS"),
            "not one of",
        ),
        ("PrometheusRule", lambda o: o["spec"]["groups"][0]["rules"][0].pop("expr"), "required"),
        ("Certificate", lambda o: o.update(apiVersion="cert-manager.io/v1alpha2"), "not served"),
        (
            "EnvoyFilter",
            lambda o: o["spec"]["configPatches"][0].update(applyTo="ROUTE"),
            "not one of",
        ),
    ],
)
def test_crd_check_catches_mistakes(renders: dict[str, Render], kind, mutate, message) -> None:
    obj = copy.deepcopy(next(o for o in custom_objects(renders) if o["kind"] == kind))
    assert crd_errors(obj) == []
    mutate(obj)
    assert any(message in error for error in crd_errors(obj))


# --- checkov ----------------------------------------------------------------


def test_checkov_passes_with_explained_skips(renders: dict[str, Render], tmp_path: Path) -> None:
    if not CHECKOV.is_file():
        pytest.fail(f"checkov is missing at {CHECKOV}; run `make checkov`", pytrace=False)
    for directory in APPLIED + VARIANTS:
        (tmp_path / (directory.replace("/", "_") + ".yaml")).write_text(renders[directory].text)
    result = subprocess.run(
        [
            str(CHECKOV),
            "-d",
            str(tmp_path),
            "--framework",
            "kubernetes",
            "--skip-download",
            "--compact",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )
    report = json.loads(result.stdout)
    report = report if isinstance(report, dict) else report[0]
    failed = [f"{c['check_id']} {c['resource']}" for c in report["results"]["failed_checks"]]
    assert failed == []
    assert report["summary"]["passed"] > 200
    assert report["summary"]["parsing_errors"] == 0
    skipped = report["results"]["skipped_checks"]
    assert {c["check_id"] for c in skipped} == {"CKV_K8S_38", "CKV2_K8S_5"}
    # Reading Secrets is skipped on the bindings that exist for it, nowhere else:
    # every namespace's, and each listed namespace's.
    assert {c["resource"] for c in skipped if c["check_id"] == "CKV2_K8S_5"} == {
        "ClusterRoleBinding.default.shipshape-helloworld-controller-secrets",
        "RoleBinding.team-a.helloworld-controller-secrets",
        "RoleBinding.team-b.helloworld-controller-secrets",
    }
    for check in skipped:
        reason = (check.get("check_result") or {}).get("suppress_comment", "")
        assert len(reason) > 20, f"{check['check_id']} skipped without a reason"


# --- yamllint -----------------------------------------------------------------


def test_yaml_files_lint_clean() -> None:
    targets = ["k8s", "examples", "tests/k8s/promtool", "tests/k8s/crd_schemas.yaml"]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "yamllint",
            "-c",
            "tests/k8s/yamllint.yaml",
            "-f",
            "parsable",
            *targets,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
