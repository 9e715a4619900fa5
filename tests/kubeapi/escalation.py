"""RBAC escalation prevention: nobody grants, through a Role or a binding, what they lack.

Our reading of the real RBAC storage (`pkg/registry/rbac/*/policybased`), run by
the store's write hook (`validation.check`) on every create, update and patch of
a Role, ClusterRole, RoleBinding or ClusterRoleBinding made over HTTP, with the
object as it will be stored, before validation (a 403 comes before a 422):

- a user in `system:masters` may write anything;
- a Role or ClusterRole may be written by whoever has `escalate` on it, a
  binding by whoever has `bind` on the role it names;
- anyone else must already hold every rule it grants, in the request's
  namespace (a binding's role must exist: 404 otherwise), and only `*` on
  everything may set an aggregationRule.

Rules are compared as the real `Covers` does: each granted rule is broken down
into rules of one verb, group, resource (and name) or URL, each of which some
held rule must cover; the 403 lists what is missing, merged by resource.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import ApiError, not_found
from .rbac import MASTERS, RBAC_GROUP, Attributes, Authorizer, UserInfo, role_ref

if TYPE_CHECKING:
    from .store import Obj

_GUARDED = {
    "Role": "roles",
    "ClusterRole": "clusterroles",
    "RoleBinding": "rolebindings",
    "ClusterRoleBinding": "clusterrolebindings",
}
_FULL_AUTHORITY: list[Obj] = [
    {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
    {"nonResourceURLs": ["*"], "verbs": ["*"]},
]
# Metadata a write may change without being judged again (what the garbage
# collector writes), and what this server itself keeps up to date.
_GC_FIELDS = ("ownerReferences", "finalizers", "managedFields", "resourceVersion")


@dataclass(frozen=True)
class Requester:
    """Who writes an RBAC object, as the escalation check sees the request.

    Attributes:
        authorizer: The authorizer judging them.
        user: Who writes.
        namespace: The request's namespace (`""`: cluster-scoped).
        name: The name in the request's path (`""` for a create).
    """

    authorizer: Authorizer
    user: UserInfo
    namespace: str
    name: str

    def may(self, verb: str, resource: str, name: str, group: str = RBAC_GROUP) -> bool:
        """Return whether RBAC allows this user `verb` on an RBAC resource here."""
        attrs = Attributes(
            self.user, verb, api_group=group, resource=resource, namespace=self.namespace, name=name
        )
        return self.authorizer.authorize(attrs).allowed

    def missing(self, rules: list[Obj]) -> str:
        """Return why granting `rules` escalates (the rules this user lacks), or ""."""
        grants, errors = self.authorizer.grants(self.user, self.namespace, registry_wording=True)
        held = [rule for grant in grants for rule in grant.rules]
        lacking = [
            sub
            for rule in rules
            for sub in _breakdown(rule)
            if not any(_covers(h, sub) for h in held)
        ]
        if not lacking:
            return ""
        text = (
            f"user {json.dumps(self.user.name)} (groups={_go_strings(self.user.groups)}) is "
            "attempting to grant RBAC permissions not currently held:\n"
            + "\n".join(sorted({_compact_string(rule) for rule in _compact(lacking)}))
        )
        if errors:  # one aggregate error, printed in a list
            joined = errors[0] if len(errors) == 1 else f"[{', '.join(errors)}]"
            text += f"; resolution errors: [{joined}]"
        return text


_requester: ContextVar[Requester | None] = ContextVar("kubeapi_rbac_requester", default=None)


@contextlib.contextmanager
def acting_as(requester: Requester) -> Iterator[None]:
    """Judge the RBAC objects written while serving one request by its requester."""
    token = _requester.set(requester)
    try:
        yield
    finally:
        _requester.reset(token)


def _breakdown(rule: Obj) -> list[Obj]:
    """Split a rule into rules of one verb and one group, resource, name or URL each."""
    verbs = rule.get("verbs") or []
    names: list[str | None] = list(rule.get("resourceNames") or []) or [None]
    subrules: list[Obj] = [
        {"apiGroups": [g], "resources": [r], "verbs": [v]} | ({"resourceNames": [n]} if n else {})
        for g in rule.get("apiGroups") or []
        for r in rule.get("resources") or []
        for v in verbs
        for n in names
    ]
    urls = rule.get("nonResourceURLs") or []
    return subrules + [{"nonResourceURLs": [u], "verbs": [v]} for u in urls for v in verbs]


def _covers(owner: Obj, sub: Obj) -> bool:
    """Return whether a held rule covers a broken-down one (`*` in a held field covers all)."""

    def covered(key: str, also: Callable[[str, list[str]], bool] | None = None) -> bool:
        held = owner.get(key) or []
        wanted = sub.get(key) or []
        return "*" in held or all(w in held or (also is not None and also(w, held)) for w in wanted)

    def star_subresource(resource: str, held: list[str]) -> bool:
        return "/" in resource and f"*/{resource.split('/', 1)[1]}" in held

    owner_names, sub_names = owner.get("resourceNames") or [], sub.get("resourceNames") or []
    names_ok = not owner_names or (bool(sub_names) and all(n in owner_names for n in sub_names))
    urls = owner.get("nonResourceURLs") or []
    urls_ok = all(
        any(u == w or (u.endswith("*") and w.startswith(u.rstrip("*"))) for u in urls)
        for w in sub.get("nonResourceURLs") or []
    )
    return (
        covered("verbs")
        and covered("apiGroups")
        and covered("resources", star_subresource)
        and names_ok
        and urls_ok
    )


def _compact(rules: list[Obj]) -> list[Obj]:
    """Merge the verbs of broken-down rules on the same group, resource and name."""
    merged: dict[tuple[str, ...], Obj] = {}
    others: list[Obj] = []
    for rule in rules:
        if rule.get("nonResourceURLs"):
            others.append(rule)
            continue
        key = (rule["apiGroups"][0], rule["resources"][0], *(rule.get("resourceNames") or []))
        if key in merged:
            merged[key]["verbs"] = merged[key]["verbs"] + rule["verbs"]
        else:
            merged[key] = dict(rule)
    return others + list(merged.values())


def _go_strings(values: tuple[str, ...] | list[str]) -> str:
    """Render a list of strings as Go's `%q` does: `["a" "b"]`."""
    return "[" + " ".join(json.dumps(v) for v in values) + "]"


def _compact_string(rule: Obj) -> str:
    """Render a rule as the escalation error lists it: `{APIGroups:[""], Verbs:["get"]}`."""
    fields = (
        ("APIGroups", "apiGroups"),
        ("Resources", "resources"),
        ("NonResourceURLs", "nonResourceURLs"),
        ("ResourceNames", "resourceNames"),
        ("Verbs", "verbs"),
    )
    shown = [f"{label}:{_go_strings(rule[key])}" for label, key in fields if rule.get(key)]
    return "{" + ", ".join(shown) + "}"


def _only_gc_fields_change(obj: Obj, old: Obj) -> bool:
    def without_gc_fields(o: Obj) -> Obj:
        meta = {k: v for k, v in (o.get("metadata") or {}).items() if k not in _GC_FIELDS}
        return o | {"metadata": meta}

    return without_gc_fields(obj) == without_gc_fields(old)


def _has_aggregation_rule(role: Obj | None) -> bool:
    return bool(role and ((role.get("aggregationRule") or {}).get("clusterRoleSelectors")))


def confirm_no_escalation(kind: str, obj: Obj, old: Obj | None) -> None:
    """Refuse a Role or binding write that grants what its writer does not hold.

    As the real RBAC storage: `system:masters` may write anything; a role may
    be written by whoever has `escalate` on it, a binding by whoever has
    `bind` on its role; anyone else must already hold every rule granted
    (here, in the request's namespace), and only `*` on everything may set an
    aggregationRule. Writes changing only ownerReferences and finalizers, and
    writes outside an HTTP request (the Python API), are not judged.

    Raises:
        ApiError: 403 `roles.rbac.authorization.k8s.io "x" is forbidden: user
            "U" (groups=[...]) is attempting to grant RBAC permissions not
            currently held:\n{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}`;
            404 when a binding's role does not exist.
    """
    requester = _requester.get()
    plural = _GUARDED.get(kind)
    if requester is None or plural is None or MASTERS in requester.user.groups:
        return
    if old is not None and _only_gc_fields_change(obj, old):
        return
    name = (obj.get("metadata") or {}).get("name", "")
    if kind in ("Role", "ClusterRole"):
        if requester.may("escalate", plural, requester.name):
            return
        rules = obj.get("rules") or []
    else:
        group, role_kind, role_name = role_ref(obj)
        if role_kind not in ("Role", "ClusterRole"):
            return  # validation refuses it
        role_plural = f"{role_kind.lower()}s"
        if requester.may("bind", role_plural, role_name, group):
            return
        role = requester.authorizer.role(role_kind, role_name, requester.namespace)
        if role is None:
            raise not_found(role_plural, RBAC_GROUP, role_name)
        rules = role.get("rules") or []
    why = requester.missing(rules)
    aggregates = _has_aggregation_rule(obj) or _has_aggregation_rule(old)
    if not why and kind == "ClusterRole" and aggregates and requester.missing(_FULL_AUTHORITY):
        why = "must have cluster-admin privileges to use the aggregationRule"
    if why:
        details = {"name": name, "group": RBAC_GROUP, "kind": plural}
        raise ApiError(403, f'{plural}.{RBAC_GROUP} "{name}" is forbidden: {why}', details=details)
