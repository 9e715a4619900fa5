"""The variants of the controller's manifests, held to k8s/controller.

``validate_manifests.py`` runs :func:`check_controller_variant` on each
variant: the same StatefulSet as k8s/controller but for the scope settings,
a namespaced Role for the Lease alone, ClusterRoles without wildcards, and
Secrets only in the variants whose name ends in ``-secrets``. A variant whose
name contains ``-namespaces`` watches a list of namespaces: no
ClusterRoleBinding, but one RoleBinding of each of its ClusterRoles in each
listed namespace (:func:`check_namespace_bindings`).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field

from k8slib import NAMESPACE, Manifest, ValidationError, find, one

#: The ServiceAccount the controller runs as, the one subject its bindings name.
SERVICE_ACCOUNT = {
    "kind": "ServiceAccount",
    "name": "helloworld-controller",
    "namespace": NAMESPACE,
}
#: A namespace name: an RFC 1123 label.
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


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
    """Check a variant: the same controller, wider RBAC, Secrets only when named.

    Its StatefulSet is k8s/controller's; the namespaced Role keeps only the
    Lease; nothing grants a wildcard, and only a ``-secrets`` variant grants
    Secrets (list and watch, never get). A ``-namespaces`` variant (also
    ``-namespaces-secrets``) has its bindings checked against its
    WATCH_NAMESPACES.
    """
    problems: list[str] = []
    try:
        ours = one(objects, "StatefulSet", "helloworld-controller", where)
        theirs = one(controller, "StatefulSet", "helloworld-controller", "k8s/controller")
        role = one(objects, "Role", "helloworld-controller", where)
    except ValidationError as exc:
        return [str(exc)]
    listed = is_namespace_list(where)
    with_secrets = where.endswith("-secrets")
    ours, scope = without_scope(ours)
    if scope is not None:
        problems += check_scope(where, scope, with_secrets, listed)
    if ours != without_scope(theirs)[0]:
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
    wanted = {"list", "watch"} if with_secrets else set()
    if secrets != wanted:
        problems.append(f"{where}: Secrets verbs {sorted(secrets)}, expected {sorted(wanted)}")
    if listed:
        namespaces = watched_namespaces((scope or Scope()).env.get("WATCH_NAMESPACES"))
        problems += check_namespace_bindings(where, objects, namespaces)
    return problems


def is_namespace_list(where: str) -> bool:
    """Whether a variant watches a list of namespaces: its name contains ``-namespaces``."""
    return "-namespaces" in where.rsplit("/", 1)[-1]


#: The settings by which a variant's StatefulSet may differ.
SCOPE_ENV = (
    "WATCH_NAMESPACES",
    "CONFIGMAP_LABEL_SELECTOR",
    "WATCH_SECRETS",
    "SECRET_HASH_KEY_FILE",
)
SECRET_HASH_VOLUME = "secret-hash"  # noqa: S105 - a volume name


@dataclass
class Scope:
    """The scope settings of the ``controller`` container: its SCOPE_ENV values and key mounts."""

    env: dict[str, str | None] = field(default_factory=dict)
    key_mounts: list[Manifest] = field(default_factory=list)


def without_scope(sts: Manifest) -> tuple[Manifest, Scope | None]:
    """The StatefulSet without its scope settings, and those of container ``controller``.

    The scope settings are the SCOPE_ENV variables and the Secret hash key
    (volume ``secret-hash`` and its mounts); the Scope is None when there is
    no ``controller`` container.
    """
    sts = copy.deepcopy(sts)
    scope = None
    pod = ((sts.get("spec") or {}).get("template") or {}).get("spec") or {}
    for container in pod.get("containers") or []:
        env = container.get("env") or []
        found = {e.get("name"): e.get("value") for e in env if e.get("name") in SCOPE_ENV}
        container["env"] = [e for e in env if e.get("name") not in SCOPE_ENV]
        mounts = container.get("volumeMounts") or []
        keyed = [m for m in mounts if m.get("name") == SECRET_HASH_VOLUME]
        container["volumeMounts"] = [m for m in mounts if m.get("name") != SECRET_HASH_VOLUME]
        if container.get("name") == "controller":
            scope = Scope(found, keyed)
    pod["volumes"] = [v for v in pod.get("volumes") or [] if v.get("name") != SECRET_HASH_VOLUME]
    return sts, scope


def check_scope(where: str, scope: Scope, secrets: bool, listed: bool) -> list[str]:
    """Check a variant's scope settings.

    A cluster variant sets ``WATCH_NAMESPACES=*``, a ``-namespaces``
    variant a comma-separated list of namespaces; both an empty selector. A
    ``-secrets`` variant also sets ``WATCH_SECRETS=true`` with its key file
    mounted read-only from a Secret (volume ``secret-hash``).
    """
    problems = []
    env = scope.env
    selector_empty = env.get("CONFIGMAP_LABEL_SELECTOR") == ""
    if listed:
        if watched_namespaces(env.get("WATCH_NAMESPACES")) is None or not selector_empty:
            problems.append(
                f"{where}: WATCH_NAMESPACES must list namespaces (not *) and the selector be empty"
            )
    elif env.get("WATCH_NAMESPACES") != "*" or not selector_empty:
        problems.append(f"{where}: WATCH_NAMESPACES must be * and the selector empty")
    if secrets != (env.get("WATCH_SECRETS") == "true"):
        problems.append(f"{where}: WATCH_SECRETS must be true only in the -secrets variant")
    keyed = scope.key_mounts
    if secrets and (not env.get("SECRET_HASH_KEY_FILE") or not keyed
                    or not all(m.get("readOnly") for m in keyed)):  # fmt: skip
        problems.append(f"{where}: the Secret hash key must be mounted read-only")
    return problems


def watched_namespaces(value: str | None) -> list[str] | None:
    """The namespaces of a WATCH_NAMESPACES list, or None unless each entry is a DNS label.

    Entries are trimmed and repeats dropped, as the controller does.
    """
    names = [name.strip() for name in (value or "").split(",")]
    if not all(DNS_LABEL.match(name) for name in names):
        return None
    return list(dict.fromkeys(names))


def check_namespace_bindings(
    where: str, objects: list[Manifest], namespaces: list[str] | None
) -> list[str]:
    """Check that each of the variant's ClusterRoles is bound in exactly the listed namespaces.

    No ClusterRoleBinding; in each listed namespace one RoleBinding per
    ClusterRole of the variant (besides the Lease's in the controller's
    namespace), each binding a ClusterRole of the variant to the controller's
    ServiceAccount, and every ClusterRole bound exactly once; no other
    RoleBinding in any namespace, the controller's included (but for the
    Lease's). Without a valid list (None, which :func:`check_scope` reports)
    only the ClusterRoleBinding is checked.
    """
    problems = []
    if find(objects, "ClusterRoleBinding"):
        problems.append(f"{where}: has a ClusterRoleBinding; a namespace list needs RoleBindings")
    if namespaces is None:
        return problems
    cluster_roles = {role["metadata"]["name"] for role in find(objects, "ClusterRole")}
    expected = max(len(cluster_roles), 1)
    grants = [b for b in find(objects, "RoleBinding") if not binds_the_lease(b)]
    for namespace in namespaces:
        here = [b for b in grants if b["metadata"].get("namespace") == namespace]
        if len(here) != expected:
            count = len(here)
            problems.append(f"{where}: {count} RoleBindings in {namespace}, expected {expected}")
            continue
        wrong = [b for b in here if not binds_controller(b, cluster_roles)]
        for binding in wrong:
            problems.append(
                f"{where}: RoleBinding {binding['metadata']['name']} in {namespace} must bind a "
                f"ClusterRole of the variant to ServiceAccount {NAMESPACE}/helloworld-controller"
            )
        if wrong:
            continue
        bound = sorted(b["roleRef"]["name"] for b in here)
        if bound != sorted(cluster_roles):
            problems.append(
                f"{where}: the RoleBindings in {namespace} bind ClusterRoles {bound}, "
                f"expected each of {sorted(cluster_roles)} once"
            )
    for binding in grants:
        namespace = binding["metadata"].get("namespace")
        if namespace not in namespaces:
            problems.append(
                f"{where}: RoleBinding {binding['metadata']['name']} in {namespace}, "
                "a namespace WATCH_NAMESPACES does not list"
            )
    return problems


def binds_the_lease(binding: Manifest) -> bool:
    """Whether a RoleBinding is k8s/controller's, of the namespaced Role (the Lease)."""
    ref = binding.get("roleRef") or {}
    return (
        binding["metadata"].get("namespace") == NAMESPACE
        and ref.get("kind") == "Role"
        and ref.get("name") == "helloworld-controller"
    )


def binds_controller(binding: Manifest, cluster_roles: set[str]) -> bool:
    """Whether a RoleBinding binds one of ``cluster_roles`` to the controller's account alone."""
    ref = binding.get("roleRef") or {}
    subjects = [
        {key: subject.get(key) for key in SERVICE_ACCOUNT}
        for subject in binding.get("subjects") or []
    ]
    return (
        ref.get("kind") == "ClusterRole"
        and ref.get("name") in cluster_roles
        and subjects == [SERVICE_ACCOUNT]
    )
