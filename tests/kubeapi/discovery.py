"""Discovery and OpenAPI documents: what `kubectl` reads before it acts.

`kubectl` asks `/api` and `/apis` for aggregated discovery
(`apidiscovery.k8s.io/v2`) and falls back to the legacy per-group documents; both
are served. For `apply` and `create` it reads the OpenAPI v3 index and the
document of each group-version to learn that the server validates fields itself
(the `fieldValidation` parameter of PATCH). The documents carry no schemas: their
PATCH operations do not offer strategic merge, so `kubectl` computes strategic
merge patches of built-in kinds from its compiled-in types and JSON merge patches
of custom kinds, exactly as it does against a real server without a schema for them.
OpenAPI v2 is not served (404), which `kubectl` tolerates when v3 is present.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .resources import Registry, ResourceType, version_priority

KUBERNETES_VERSION = {"major": "1", "minor": "37", "gitVersion": "v1.37.0-kubeapi"}
AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"

_BUILTIN_GROUP_ORDER = (
    "",
    "apiregistration.k8s.io",
    "apps",
    "events.k8s.io",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "networking.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
    "node.k8s.io",
    "discovery.k8s.io",
)
_SUBRESOURCE_VERBS = ["get", "patch", "update"]


def version_info() -> dict[str, Any]:
    """Return the `/version` document."""
    return {
        **KUBERNETES_VERSION,
        "gitCommit": "0" * 40,
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.26",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def _group_order(group: str) -> tuple[int, str]:
    if group in _BUILTIN_GROUP_ORDER:
        return (_BUILTIN_GROUP_ORDER.index(group), "")
    return (len(_BUILTIN_GROUP_ORDER), group)


def _types_at(registry: Registry, group: str, version: str) -> list[ResourceType]:
    return sorted(
        (t for t in registry.all() if t.group == group and version in t.versions),
        key=lambda t: t.plural,
    )


def _storage_hash(rtype: ResourceType) -> str:
    return hashlib.sha256(rtype.key.encode()).hexdigest()[:11]


def api_versions(host: str) -> dict[str, Any]:
    """Return `/api` (legacy form)."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
    }


def _group_entry(group: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(registry: Registry) -> dict[str, Any]:
    """Return `/apis` (legacy form)."""
    groups = registry.group_versions()
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group_entry(g, groups[g]) for g in sorted(groups, key=_group_order) if g != ""],
    }


def api_group(registry: Registry, group: str) -> dict[str, Any] | None:
    """Return `/apis/GROUP`, or None for an unknown group."""
    versions = registry.group_versions().get(group)
    if not versions or group == "":
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(group, versions)}


def api_resource_list(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    """Return `/api/v1` or `/apis/GROUP/VERSION`, or None when nothing is served there."""
    types = _types_at(registry, group, version)
    if not types:
        return None
    resources: list[dict[str, Any]] = []
    for rtype in types:
        entry: dict[str, Any] = {
            "name": rtype.plural,
            "singularName": rtype.singular,
            "namespaced": rtype.namespaced,
            "kind": rtype.kind,
            "verbs": list(rtype.verbs),
            "storageVersionHash": _storage_hash(rtype),
        }
        if rtype.short_names:
            entry["shortNames"] = list(rtype.short_names)
        if rtype.categories:
            entry["categories"] = list(rtype.categories)
        resources.append(entry)
        for sub in rtype.subresources:
            sub_entry: dict[str, Any] = {
                "name": f"{rtype.plural}/{sub}",
                "singularName": "",
                "namespaced": rtype.namespaced,
                "kind": rtype.kind,
                "verbs": _SUBRESOURCE_VERBS,
            }
            if sub == "scale":
                sub_entry.update(group="autoscaling", version="v1", kind="Scale")
            elif sub == "token":
                sub_entry.update(
                    group="authentication.k8s.io",
                    version="v1",
                    kind="TokenRequest",
                    verbs=["create"],
                )
            resources.append(sub_entry)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


def _aggregated_resource(rtype: ResourceType, version: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": rtype.plural,
        "responseKind": {"group": rtype.group, "version": version, "kind": rtype.kind},
        "scope": "Namespaced" if rtype.namespaced else "Cluster",
        "singularResource": rtype.singular,
        "verbs": list(rtype.verbs),
    }
    if rtype.short_names:
        entry["shortNames"] = list(rtype.short_names)
    if rtype.categories:
        entry["categories"] = list(rtype.categories)
    subresources = []
    for sub in rtype.subresources:
        kind = (
            {"group": "autoscaling", "version": "v1", "kind": "Scale"}
            if sub == "scale"
            else {"group": rtype.group, "version": version, "kind": rtype.kind}
        )
        verbs = _SUBRESOURCE_VERBS
        if sub == "token":
            kind, verbs = (
                {"group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest"},
                ["create"],
            )
        subresources.append({"subresource": sub, "responseKind": kind, "verbs": verbs})
    if subresources:
        entry["subresources"] = subresources
    return entry


def aggregated(registry: Registry, legacy: bool, api_version: str) -> dict[str, Any]:
    """Return the aggregated discovery document of `/api` (legacy) or `/apis`."""
    groups = registry.group_versions()
    items = []
    for group in sorted(groups, key=_group_order):
        if (group == "") != legacy:
            continue
        versions = []
        for version in sorted(groups[group], key=version_priority):
            versions.append(
                {
                    "version": version,
                    "resources": [
                        _aggregated_resource(t, version)
                        for t in _types_at(registry, group, version)
                    ],
                    "freshness": "Current",
                }
            )
        items.append({"metadata": {"name": group, "creationTimestamp": None}, "versions": versions})
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": api_version,
        "metadata": {},
        "items": items,
    }


def wants_aggregated(accept: str) -> str | None:
    """Return the aggregated discovery content type an `Accept` header asks for, or None."""
    for part in accept.split(","):
        params = {}
        for piece in part.split(";")[1:]:
            key, _, value = piece.strip().partition("=")
            params[key] = value
        if params.get("g") == "apidiscovery.k8s.io" and params.get("as") == "APIGroupDiscoveryList":
            if params.get("v") == "v2":
                return AGGREGATED_V2
            if params.get("v") == "v2beta1":
                return AGGREGATED_V2BETA1
    return None


# --- OpenAPI v3 ----------------------------------------------------------------------------

_QUERY_PARAMS = ("dryRun", "fieldManager", "fieldValidation", "force", "pretty")


def _gv_path(group: str, version: str) -> str:
    return f"api/{version}" if group == "" else f"apis/{group}/{version}"


def _operation(
    rtype: ResourceType, version: str, action: str, patch: bool = False
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": f"{action}{rtype.kind}",
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {
            "group": rtype.group,
            "version": version,
            "kind": rtype.kind,
        },
        "parameters": [
            {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
            for name in _QUERY_PARAMS
        ],
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": {}}}}
        },
    }
    if patch:
        op["requestBody"] = {
            "content": {
                "application/json-patch+json": {"schema": {}},
                "application/merge-patch+json": {"schema": {}},
                "application/apply-patch+yaml": {"schema": {}},
            },
            "required": True,
        }
    elif action in ("post", "put"):
        op["requestBody"] = {"content": {"*/*": {"schema": {}}}, "required": True}
    return op


def openapi_v3_document(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    """Return the OpenAPI v3 document of one group-version, or None if not served."""
    types = _types_at(registry, group, version)
    if not types:
        return None
    prefix = "/" + _gv_path(group, version)
    paths: dict[str, Any] = {}
    for rtype in types:
        base = f"{prefix}/namespaces/{{namespace}}" if rtype.namespaced else prefix
        paths[f"{base}/{rtype.plural}"] = {
            "get": _operation(rtype, version, "list"),
            "post": _operation(rtype, version, "post"),
        }
        paths[f"{base}/{rtype.plural}/{{name}}"] = {
            "get": _operation(rtype, version, "get"),
            "put": _operation(rtype, version, "put"),
            "patch": _operation(rtype, version, "patch", patch=True),
            "delete": _operation(rtype, version, "delete"),
        }
    from .openapi import component_schemas  # here: it imports this module's package

    kinds = tuple((rtype.group, version, rtype.kind) for rtype in types)
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION["gitVersion"]},
        "paths": paths,
        # The kinds' schemas, for `kubectl explain` (custom resources have none).
        "components": {"schemas": component_schemas(kinds)},
    }


def openapi_v3_index(registry: Registry) -> dict[str, Any]:
    """Return `/openapi/v3`: each group-version with a content-addressed URL."""
    paths = {}
    for group, versions in registry.group_versions().items():
        for version in versions:
            document = openapi_v3_document(registry, group, version)
            digest = hashlib.sha512(json.dumps(document, sort_keys=True).encode()).hexdigest()
            path = _gv_path(group, version)
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest[:64].upper()}"}
    return {"paths": paths}
