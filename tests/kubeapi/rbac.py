"""RBAC, judged like the real authorizer: identities, rule matching, reviews and 403s.

The order of the real API server is kept: a user in `system:masters` is allowed
everything before RBAC is asked (the privileged-group authorizer); everyone else
is judged by the Roles, ClusterRoles, RoleBindings and ClusterRoleBindings in
the store. A request is allowed when any rule bound to the user allows it:

- ClusterRoleBindings bind their ClusterRole's rules everywhere;
- RoleBindings in the request's namespace bind their Role's (or ClusterRole's)
  rules in that namespace only;
- a rule allows a resource request when its verbs (or `*`), apiGroups (or `*`;
  `""` is the core group), resources and resourceNames all match, and a
  non-resource request when its verbs and nonResourceURLs match.

Resources match as the real `ResourceMatches` does: `*` matches everything,
`deployments` matches the resource only, `deployments/scale` the subresource
only, and `*/scale` that subresource of every resource. A rule with
resourceNames matches only requests that name one of them, so `create`,
`deletecollection`, and `list`/`watch` without a `metadata.name` field
selector, never match it.

Bindings are also validated here (`binding_causes`, called by the store's
validation hook); escalation prevention is in escalation.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import ApiError

if TYPE_CHECKING:
    from .resources import Registry
    from .store import Obj, Store

MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
SA_PREFIX = "system:serviceaccount:"
SA_GROUP = "system:serviceaccounts"
RBAC_GROUP = "rbac.authorization.k8s.io"


@dataclass(frozen=True)
class UserInfo:
    """Who is asking: a user name and groups (always with `system:authenticated`)."""

    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""

    def to_json(self) -> dict[str, Any]:
        """Return the `UserInfo` object of reviews."""
        info: dict[str, Any] = {"username": self.name, "groups": list(self.groups)}
        if self.uid:
            info["uid"] = self.uid
        return info


def service_account_user(namespace: str, name: str) -> str:
    """Return the user name of a ServiceAccount (`system:serviceaccount:NS:NAME`)."""
    return f"{SA_PREFIX}{namespace}:{name}"


def parse_service_account(user: str) -> tuple[str, str] | None:
    """Return `(namespace, name)` of a ServiceAccount user name, or None."""
    if not user.startswith(SA_PREFIX):
        return None
    namespace, sep, name = user[len(SA_PREFIX) :].partition(":")
    return (namespace, name) if sep and namespace and name and ":" not in name else None


def user_info(name: str, groups: tuple[str, ...] | list[str] = (), uid: str = "") -> UserInfo:
    """Return a user with the groups the real authenticators add.

    A ServiceAccount's user name brings `system:serviceaccounts` and
    `system:serviceaccounts:NS`; every authenticated user is in
    `system:authenticated`.
    """
    all_groups = list(groups)
    sa = parse_service_account(name)
    if sa is not None:
        all_groups += [SA_GROUP, f"{SA_GROUP}:{sa[0]}"]
    all_groups.append(AUTHENTICATED)
    return UserInfo(name, tuple(dict.fromkeys(all_groups)), uid)


@dataclass(frozen=True)
class Attributes:
    """One request as the authorizer sees it (k8s `authorizer.Attributes`).

    Attributes:
        user: Who asks.
        verb: `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
            `deletecollection`, `impersonate`, ...; for non-resource paths the
            lower-case HTTP method.
        resource_request: Whether it is about an API resource (else a path).
        api_group: The resource's API group (`""`: core).
        resource: The plural (`deployments`).
        subresource: `status`, `scale`, `token` or `""`.
        namespace: The namespace, or `""` (a Namespace's own path: its name).
        name: The object name (also from a `metadata.name` field selector on list
            and watch, as the real request-info parser sets it).
        path: The request path (non-resource requests).
    """

    user: UserInfo
    verb: str
    resource_request: bool = True
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""


@dataclass
class Decision:
    """An authorizer's answer: `allowed`, and the reason RBAC gives."""

    allowed: bool
    reason: str = ""
    errors: list[str] = field(default_factory=list)


# --- rule matching (our reading of the RBAC authorizer's rule helpers) ------------------


def verb_matches(rule: Obj, verb: str) -> bool:
    """Return whether a rule's verbs cover a verb."""
    verbs = rule.get("verbs") or []
    return "*" in verbs or verb in verbs


def api_group_matches(rule: Obj, group: str) -> bool:
    """Return whether a rule's apiGroups cover a group (`""` is the core group)."""
    groups = rule.get("apiGroups") or []
    return "*" in groups or group in groups


def resource_matches(rule: Obj, resource: str, subresource: str) -> bool:
    """Return whether a rule's resources cover `resource[/subresource]`."""
    combined = f"{resource}/{subresource}" if subresource else resource
    for wanted in rule.get("resources") or []:
        if wanted in ("*", combined):
            return True
        if subresource and wanted.startswith("*/") and wanted[2:] == subresource:
            return True
    return False


def resource_name_matches(rule: Obj, name: str) -> bool:
    """Return whether a rule's resourceNames (none: any name) cover a name."""
    names = rule.get("resourceNames") or []
    return not names or (bool(name) and name in names)


def non_resource_url_matches(rule: Obj, path: str) -> bool:
    """Return whether a rule's nonResourceURLs cover a path (`*` and `PREFIX*` globs)."""
    for url in rule.get("nonResourceURLs") or []:
        if url in ("*", path):
            return True
        if url.endswith("*") and path.startswith(url[:-1]):
            return True
    return False


def rule_allows(attrs: Attributes, rule: Obj) -> bool:
    """Return whether one PolicyRule allows a request."""
    if not verb_matches(rule, attrs.verb):
        return False
    if attrs.resource_request:
        return (
            api_group_matches(rule, attrs.api_group)
            and resource_matches(rule, attrs.resource, attrs.subresource)
            and resource_name_matches(rule, attrs.name)
        )
    return non_resource_url_matches(rule, attrs.path)


def subject_matches(subject: Obj, user: UserInfo, binding_namespace: str) -> bool:
    """Return whether a binding's subject is this user (or one of its groups)."""
    kind = subject.get("kind")
    name = subject.get("name", "")
    if kind == "User":
        return user.name == name
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return bool(namespace) and user.name == service_account_user(namespace, name)
    return False


def _describe_subject(subject: Obj, binding_namespace: str) -> str:
    if subject.get("kind") == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return f'ServiceAccount "{subject.get("name")}/{namespace}"'
    return f'{subject.get("kind")} "{subject.get("name")}"'


# --- the authorizer ---------------------------------------------------------------------


@dataclass
class _Grant:
    """Rules one binding grants, with how the real authorizer would name it."""

    rules: list[Obj]
    binding: str
    role: str
    subject: str


class Authorizer:
    """Judges requests by the RBAC objects in the store.

    Args:
        store: The object store (Roles, Bindings).
        registry: The resource types.
    """

    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        self.registry = registry

    def _items(self, key: str, namespace: str | None) -> list[Obj]:
        rtype = self.registry.by_key(key)
        assert rtype is not None
        with self.store.lock:
            items, _rv, _c, _r = self.store.list(rtype, namespace, [], [])
        return items

    def role(self, kind: str, name: str, namespace: str) -> Obj | None:
        """Return the Role (in `namespace`) or ClusterRole a roleRef names, or None."""
        key = f"{'roles' if kind == 'Role' else 'clusterroles'}.{RBAC_GROUP}"
        rtype = self.registry.by_key(key)
        assert rtype is not None
        return self.store.find(rtype, namespace if kind == "Role" else "", name)

    def grants(
        self, user: UserInfo, namespace: str, *, registry_wording: bool = False
    ) -> tuple[list[_Grant], list[str]]:
        """Return the rules bound to a user in a namespace (`""`: cluster-wide only),
        and the errors met (a binding to a missing role), as RBAC reports them
        (the authorizer names a missing `role.rbac...`; the escalation check,
        reading the registry, `roles.rbac...`: `registry_wording`)."""
        grants: list[_Grant] = []
        errors: list[str] = []
        sources = [(b, "") for b in self._items(f"clusterrolebindings.{RBAC_GROUP}", None)]
        if namespace:
            sources += [
                (b, namespace) for b in self._items(f"rolebindings.{RBAC_GROUP}", namespace)
            ]
        for binding, binding_ns in sources:
            subject = next(
                (s for s in binding.get("subjects") or [] if subject_matches(s, user, binding_ns)),
                None,
            )
            if subject is None:
                continue
            ref = binding.get("roleRef") or {}
            kind, role_name = ref.get("kind", ""), ref.get("name", "")
            if not binding_ns and kind != "ClusterRole":
                continue
            role = self.role(kind, role_name, binding_ns)
            if role is None:
                plural = "s" if registry_wording else ""
                errors.append(f'{kind.lower()}{plural}.{RBAC_GROUP} "{role_name}" not found')
                continue
            name = binding["metadata"]["name"]
            grants.append(
                _Grant(
                    list(role.get("rules") or []),
                    f'RoleBinding "{name}/{binding_ns}"'
                    if binding_ns
                    else f'ClusterRoleBinding "{name}"',
                    f'{kind} "{role_name}"',
                    _describe_subject(subject, binding_ns),
                )
            )
        return grants, errors

    def authorize(self, attrs: Attributes) -> Decision:
        """Judge one request."""
        if MASTERS in attrs.user.groups:
            return Decision(True, "")
        grants, errors = self.grants(attrs.user, attrs.namespace)
        for grant in grants:
            if any(rule_allows(attrs, rule) for rule in grant.rules):
                return Decision(
                    True, f"RBAC: allowed by {grant.binding} of {grant.role} to {grant.subject}"
                )
        reason = ""
        if errors:
            reason = "RBAC: " + (errors[0] if len(errors) == 1 else f"[{', '.join(errors)}]")
        return Decision(False, reason, errors)

    def rules_review(self, user: UserInfo, namespace: str) -> dict[str, Any]:
        """Return the status of a SelfSubjectRulesReview: the rules that apply in a namespace."""
        grants, errors = self.grants(user, namespace)
        resource_rules: list[Obj] = []
        non_resource_rules: list[Obj] = []
        for grant in grants:
            for rule in grant.rules:
                if rule.get("nonResourceURLs"):
                    non_resource_rules.append(
                        {
                            "verbs": rule.get("verbs") or [],
                            "nonResourceURLs": rule["nonResourceURLs"],
                        }
                    )
                else:
                    entry = {
                        k: rule[k]
                        for k in ("verbs", "apiGroups", "resources", "resourceNames")
                        if rule.get(k)
                    }
                    entry.setdefault("apiGroups", [])
                    resource_rules.append(entry)
        status: dict[str, Any] = {
            "resourceRules": resource_rules,
            "nonResourceRules": non_resource_rules,
            "incomplete": False,
        }
        if errors:
            status["evaluationError"] = "; ".join(errors)
        return status


# --- validation of bindings (our reading of pkg/apis/rbac/validation) ---------------------

Cause = tuple[str, str, str]
_SUBJECT_KINDS = ("ServiceAccount", "User", "Group")


def _unsupported(field: str, value: str, supported: tuple[str, ...]) -> Cause:
    """Return a `field.NotSupported` cause."""
    shown = ", ".join(f'"{v}"' for v in supported)
    message = f"Unsupported value: {json.dumps(value)}: supported values: {shown}"
    return ("FieldValueNotSupported", field, message)


def _path_segment_problems(name: str) -> list[str]:
    """Return why a name is no path segment (what RBAC asks of role names)."""
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in "/%" if c in name]


def role_ref(binding: Obj) -> tuple[str, str, str]:
    """Return a binding's `(apiGroup, kind, name)`, its apiGroup defaulted as v1 does."""
    ref = binding.get("roleRef") or {}
    return (ref.get("apiGroup") or RBAC_GROUP, ref.get("kind") or "", ref.get("name") or "")


def _subject_causes(subject: Obj, cluster_wide: bool, path: str) -> list[Cause]:
    """Return the problems of one binding subject (`path`: `subjects[i]`)."""
    kind, name = subject.get("kind") or "", subject.get("name") or ""
    # v1 defaults a subject's apiGroup: "" for a ServiceAccount, RBAC's for the others
    group = subject.get("apiGroup") or ("" if kind == "ServiceAccount" else RBAC_GROUP)
    causes: list[Cause] = []
    if not name:
        causes.append(("FieldValueRequired", f"{path}.name", "Required value"))
    if kind == "ServiceAccount":
        if group:
            causes.append(_unsupported(f"{path}.apiGroup", group, ("",)))
        if cluster_wide and not subject.get("namespace"):
            causes.append(("FieldValueRequired", f"{path}.namespace", "Required value"))
    elif kind in ("User", "Group"):
        if not name:
            what = f"{kind.lower()} name cannot be empty"
            causes.append(("FieldValueInvalid", f"{path}.name", f'Invalid value: "": {what}'))
        if group != RBAC_GROUP:
            causes.append(_unsupported(f"{path}.apiGroup", group, (RBAC_GROUP,)))
    else:
        causes.append(_unsupported(f"{path}.kind", kind, _SUBJECT_KINDS))
    return causes


def binding_causes(kind: str, obj: Obj, old: Obj | None) -> list[Cause]:
    """Return why the real server would refuse to store a RoleBinding or ClusterRoleBinding.

    Its roleRef must name a role of RBAC's group (a ClusterRoleBinding only a
    ClusterRole), by a name that is a path segment; each subject must have a
    name, a known kind and its group, and a ServiceAccount subject of a
    ClusterRoleBinding its namespace. An update may not change the roleRef
    (what a binding grants is judged when it is made). Other kinds: no causes.
    """
    if kind not in ("RoleBinding", "ClusterRoleBinding"):
        return []
    cluster_wide = kind == "ClusterRoleBinding"
    group, role_kind, name = role_ref(obj)
    causes: list[Cause] = []
    if group != RBAC_GROUP:
        causes.append(_unsupported("roleRef.apiGroup", group, (RBAC_GROUP,)))
    role_kinds = ("ClusterRole",) if cluster_wide else ("Role", "ClusterRole")
    if role_kind not in role_kinds:
        causes.append(_unsupported("roleRef.kind", role_kind, role_kinds))
    if not name:
        causes.append(("FieldValueRequired", "roleRef.name", "Required value"))
    for problem in _path_segment_problems(name):
        causes.append(
            ("FieldValueInvalid", "roleRef.name", f"Invalid value: {json.dumps(name)}: {problem}")
        )
    for index, subject in enumerate(obj.get("subjects") or []):
        causes += _subject_causes(subject, cluster_wide, f"subjects[{index}]")
    if old is not None and role_ref(old) != (group, role_kind, name):
        fields = ", ".join(
            f"{key}:{json.dumps(value)}"
            for key, value in zip(
                ("APIGroup", "Kind", "Name"), (group, role_kind, name), strict=True
            )
        )
        shown = f"rbac.RoleRef{{{fields}}}"
        causes.append(
            ("FieldValueInvalid", "roleRef", f"Invalid value: {shown}: cannot change roleRef")
        )
    return causes


# --- errors -----------------------------------------------------------------------------


def forbidden(attrs: Attributes, reason: str = "") -> ApiError:
    """Return the 403 of a denied request, worded as the real API server words it.

    `deployments.apps "x" is forbidden: User "U" cannot patch resource
    "deployments/scale" in API group "apps" in the namespace "ns"`; `... at the
    cluster scope`; `forbidden: User "U" cannot get path "/metrics"`.
    """
    user = attrs.user.name
    if not attrs.resource_request:
        text = f'User "{user}" cannot {attrs.verb} path "{attrs.path}"'
        if reason:
            text += f": {reason}"
        return ApiError(403, f"forbidden: {text}", details={})
    resource = attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")
    scope = f' in the namespace "{attrs.namespace}"' if attrs.namespace else " at the cluster scope"
    text = (
        f'User "{user}" cannot {attrs.verb} resource "{resource}" '
        f'in API group "{attrs.api_group}"{scope}'
    )
    if reason:
        text += f": {reason}"
    qualified = f"{attrs.resource}.{attrs.api_group}" if attrs.api_group else attrs.resource
    target = f'{qualified} "{attrs.name}"' if attrs.name else qualified
    details: dict[str, Any] = {}
    if attrs.name:
        details["name"] = attrs.name
    if attrs.api_group:
        details["group"] = attrs.api_group
    details["kind"] = attrs.resource
    return ApiError(403, f"{target} is forbidden: {text}", details=details)


# --- the default roles every cluster has ------------------------------------------------

_DISCOVERY_URLS = [
    "/api",
    "/api/*",
    "/apis",
    "/apis/*",
    "/healthz",
    "/livez",
    "/openapi",
    "/openapi/*",
    "/readyz",
    "/version",
    "/version/",
]

DEFAULT_CLUSTER_ROLES: dict[str, list[Obj]] = {
    "cluster-admin": [
        {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
        {"nonResourceURLs": ["*"], "verbs": ["*"]},
    ],
    "system:basic-user": [
        {
            "apiGroups": ["authorization.k8s.io"],
            "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
            "verbs": ["create"],
        },
        {
            "apiGroups": ["authentication.k8s.io"],
            "resources": ["selfsubjectreviews"],
            "verbs": ["create"],
        },
    ],
    "system:discovery": [{"nonResourceURLs": _DISCOVERY_URLS, "verbs": ["get"]}],
    "system:public-info-viewer": [
        {
            "nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"],
            "verbs": ["get"],
        }
    ],
}
DEFAULT_BINDINGS: dict[str, str] = {
    "cluster-admin": MASTERS,
    "system:basic-user": AUTHENTICATED,
    "system:discovery": AUTHENTICATED,
    "system:public-info-viewer": AUTHENTICATED,
}


def seed_default_roles(store: Store, registry: Registry) -> None:
    """Store the bootstrap ClusterRoles and ClusterRoleBindings a cluster starts with."""
    role_type = registry.by_key(f"clusterroles.{RBAC_GROUP}")
    binding_type = registry.by_key(f"clusterrolebindings.{RBAC_GROUP}")
    assert role_type is not None and binding_type is not None
    labels = {"kubernetes.io/bootstrapping": "rbac-defaults"}
    annotations = {"rbac.authorization.kubernetes.io/autoupdate": "true"}
    for name, rules in DEFAULT_CLUSTER_ROLES.items():
        meta = {"name": name, "labels": labels, "annotations": annotations}
        store.seed(role_type, {"metadata": meta, "rules": rules})
        store.seed(
            binding_type,
            {
                "metadata": dict(meta),
                "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": name},
                "subjects": [
                    {"apiGroup": RBAC_GROUP, "kind": "Group", "name": DEFAULT_BINDINGS[name]}
                ],
            },
        )
