"""The cluster-scope variants of the controller's manifests, held to k8s/controller.

``validate_manifests.py`` runs :func:`check_controller_variant` on each
variant: the same StatefulSet as k8s/controller but for the scope settings,
a namespaced Role for the Lease alone, ClusterRoles without wildcards, and
Secrets only in the ``-secrets`` variant.
"""

from __future__ import annotations

import copy

from k8slib import Manifest, ValidationError, find, one


def granted(role: Manifest) -> set[tuple[str, str, str]]:
    """Return the ``(apiGroup, resource, verb)`` triples of a Role or ClusterRole."""
    return {
        (group, resource, verb)
        for rule in role.get("rules") or []
        for group in rule.get("apiGroups") or []
        for resource in rule.get("resources") or []
        for verb in rule.get("verbs") or []
    }


def check_controller_variant(
    where: str, objects: list[Manifest], controller: list[Manifest]
) -> list[str]:
    """Check a cluster-scope variant: the same controller, wider RBAC, Secrets only when named.

    Its StatefulSet is k8s/controller's; the namespaced Role keeps only the
    Lease; nothing grants a wildcard, and only the ``-secrets`` variant
    grants Secrets (list and watch, never get).
    """
    problems: list[str] = []
    try:
        ours = one(objects, "StatefulSet", "helloworld-controller", where)
        theirs = one(controller, "StatefulSet", "helloworld-controller", "k8s/controller")
        role = one(objects, "Role", "helloworld-controller", where)
    except ValidationError as exc:
        return [str(exc)]
    secrets_variant = where.endswith("-secrets")
    ours, scope_problems = without_scope(ours, secrets_variant, where)
    problems += scope_problems
    if ours != without_scope(theirs, False, "k8s/controller")[0]:
        problems.append(f"{where}: its StatefulSet differs from k8s/controller's")
    if {resource for _, resource, _ in granted(role)} != {"leases"}:
        problems.append(f"{where}: the namespaced Role must grant only the Lease")
    cluster: set[tuple[str, str, str]] = set()
    for cluster_role in find(objects, "ClusterRole"):
        cluster |= granted(cluster_role)
    if not cluster:
        problems.append(f"{where}: no ClusterRole")
    if any("*" in triple for triple in cluster):
        problems.append(f"{where}: a ClusterRole grants a wildcard")
    secrets = {verb for _, resource, verb in cluster if resource == "secrets"}
    wanted = {"list", "watch"} if where.endswith("-secrets") else set()
    if secrets != wanted:
        problems.append(f"{where}: Secrets verbs {sorted(secrets)}, expected {sorted(wanted)}")
    return problems


#: The settings by which a cluster-scope variant's StatefulSet may differ.
SCOPE_ENV = (
    "WATCH_NAMESPACES",
    "CONFIGMAP_LABEL_SELECTOR",
    "WATCH_SECRETS",
    "SECRET_HASH_KEY_FILE",
)
SECRET_HASH_VOLUME = "secret-hash"  # noqa: S105 - a volume name


def without_scope(sts: Manifest, secrets: bool, where: str) -> tuple[Manifest, list[str]]:
    """The StatefulSet without its scope settings, and what is wrong with those.

    A cluster variant sets ``WATCH_NAMESPACES=*`` and an empty selector; the
    ``-secrets`` variant also ``WATCH_SECRETS=true`` with its key file mounted
    read-only from a Secret (volume ``secret-hash``). Nothing else may differ.
    """
    sts = copy.deepcopy(sts)
    problems: list[str] = []
    pod = ((sts.get("spec") or {}).get("template") or {}).get("spec") or {}
    for container in pod.get("containers") or []:
        env = container.get("env") or []
        found = {e.get("name"): e.get("value") for e in env if e.get("name") in SCOPE_ENV}
        container["env"] = [e for e in env if e.get("name") not in SCOPE_ENV]
        mounts = container.get("volumeMounts") or []
        keyed = [m for m in mounts if m.get("name") == SECRET_HASH_VOLUME]
        container["volumeMounts"] = [m for m in mounts if m.get("name") != SECRET_HASH_VOLUME]
        if where == "k8s/controller" or container.get("name") != "controller":
            continue
        if found.get("WATCH_NAMESPACES") != "*" or found.get("CONFIGMAP_LABEL_SELECTOR") != "":
            problems.append(f"{where}: WATCH_NAMESPACES must be * and the selector empty")
        if secrets != (found.get("WATCH_SECRETS") == "true"):
            problems.append(f"{where}: WATCH_SECRETS must be true only in the -secrets variant")
        if secrets and (not found.get("SECRET_HASH_KEY_FILE") or not keyed
                        or not all(m.get("readOnly") for m in keyed)):  # fmt: skip
            problems.append(f"{where}: the Secret hash key must be mounted read-only")
    pod["volumes"] = [v for v in pod.get("volumes") or [] if v.get("name") != SECRET_HASH_VOLUME]
    return sts, problems
