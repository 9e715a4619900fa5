#!/usr/bin/env python3
"""Print CustomResourceDefinitions for the custom kinds our manifests use (kind smoke test).

Usage (from the repository root)::

    python3 hack/e2e_crds.py | kubectl apply -f -

A bare kind cluster has no Istio, cert-manager or Prometheus Operator, so the
API server would refuse our Gateways, Certificates and ServiceMonitors.
``hack/e2e-kind.sh`` registers their kinds with these definitions: one CRD per
kind listed in ``tests/k8s/crd_schemas.yaml`` (the kinds, groups and served
versions copied from the upstream CRDs), with specs left open. Nothing acts on
the objects there; the smoke test is about our images and our manifests, and
the unit tests check the fields against the upstream schemas.
"""

from __future__ import annotations

from pathlib import Path

import k8slib

SCRIPT = "e2e_crds"
SCHEMAS = Path("tests/k8s/crd_schemas.yaml")
OPEN_OBJECT = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def plural(kind: str) -> str:
    """Return the resource name Kubernetes conventions give a kind (lower case, plural)."""
    lower = kind.lower()
    if lower.endswith("y") and lower[-2:-1] not in "aeiou":
        return lower[:-1] + "ies"
    return lower + ("es" if lower.endswith(("s", "x", "ch", "sh")) else "s")


def definition(entry: dict) -> k8slib.Manifest:
    """Return the CRD for one entry of the schema file (its first served version is stored)."""
    kind, group, served = entry["kind"], entry["group"], list(entry["served"])
    name = plural(kind)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{name}.{group}",
            "labels": {"app.kubernetes.io/part-of": "shipshape-e2e"},
        },
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": name,
                "singular": kind.lower(),
            },
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": index == 0,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"spec": dict(OPEN_OBJECT), "status": dict(OPEN_OBJECT)},
                        }
                    },
                }
                for index, version in enumerate(served)
            ],
        },
    }


def main() -> int:
    """Print one CRD per custom kind as a YAML stream."""
    args = k8slib.base_parser(__doc__.splitlines()[0]).parse_args()
    entries = k8slib.load_yaml_file(args.root / SCHEMAS) or []
    if not entries:
        raise k8slib.ValidationError(f"{SCHEMAS}: no custom kinds listed")
    print(k8slib.yaml.safe_dump_all([definition(e) for e in entries], sort_keys=False), end="")
    return 0


if __name__ == "__main__":
    k8slib.run(SCRIPT, main)
