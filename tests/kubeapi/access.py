"""Who is calling and may they: the HTTP layer's authentication, impersonation,
authorization and the review and token endpoints (see rbac.py and tokens.py)."""

from __future__ import annotations

import contextlib
import copy
from typing import TYPE_CHECKING, Any

from . import escalation, rbac
from .errors import ApiError, not_found, qualified
from .faults import Client, RequestAttributes
from .store import rfc3339

if TYPE_CHECKING:
    from .httpapi import Route
    from .server import KubeApiServer
    from .store import Obj

AUTHZ_GROUP = "authorization.k8s.io"
AUTHN_GROUP = "authentication.k8s.io"


def authenticate(api: KubeApiServer, token: str) -> Client | None:
    """Return the client a bearer token belongs to, or None (401).

    Registered clients are known by their tokens; a client registered for a
    ServiceAccount authenticates only while that ServiceAccount exists. Tokens
    from a TokenRequest authenticate until they expire or their ServiceAccount
    (by uid) is gone.
    """
    client = api.clients.by_token(token)
    sa_type = api.registry.by_key("serviceaccounts")
    assert sa_type is not None
    if client is not None:
        if client.service_account:
            namespace, _, name = client.service_account.partition("/")
            if api.store.find(sa_type, namespace, name) is None:
                return None
        return client
    issued = api.tokens.lookup(token)
    if issued is None:
        return None
    sa = api.store.find(sa_type, issued.namespace, issued.name)
    if sa is None or sa["metadata"].get("uid") != issued.uid:
        return None
    user = rbac.service_account_user(issued.namespace, issued.name)
    return Client(user, token, user, service_account=f"{issued.namespace}/{issued.name}")


def user_of(client: Client) -> rbac.UserInfo:
    """Return the user (name and groups) a client acts as."""
    return rbac.user_info(client.user, client.groups)


def impersonate(api: KubeApiServer, client: Client, user: str, groups: list[str]) -> Client:
    """Return the identity a request impersonates, after checking the `impersonate` verb.

    Raises:
        ApiError: 403 when the caller may not impersonate that user or a group.
    """
    requester = user_of(client)
    sa = rbac.parse_service_account(user)
    checks = []
    if sa is not None:
        checks.append(
            rbac.Attributes(
                requester, "impersonate", api_group="", resource="serviceaccounts",
                namespace=sa[0], name=sa[1],
            )
        )  # fmt: skip
    else:
        checks.append(rbac.Attributes(requester, "impersonate", resource="users", name=user))
    checks += [
        rbac.Attributes(requester, "impersonate", resource="groups", name=group) for group in groups
    ]
    for attrs in checks:
        decision = api.authorizer.authorize(attrs)
        if not decision.allowed:
            raise rbac.forbidden(attrs, decision.reason)
    return Client(user, "", user, groups=tuple(groups))


def _name_from_field_selector(query: dict[str, str]) -> str:
    """Return the name a `metadata.name=NAME` field selector asks for, or "".

    As the real request-info parser: only an exact match counts, and only a
    name that could be a path segment (no `/` or `%`, not `.` or `..`).
    """
    for term in (query.get("fieldSelector") or "").split(","):
        key, sep, value = term.partition("=")
        if sep and key.strip() == "metadata.name":
            name = value.lstrip("=").strip()
            valid = name not in (".", "..") and "/" not in name and "%" not in name
            return name if valid else ""
    return ""


def request_namespace(route: Route) -> str:
    """Return the namespace attribute the real server authorizes a request with.

    It comes from the path: `/api/v1/namespaces/NAME` (and its `status` and
    `finalize`) has namespace NAME, so a RoleBinding in NAME grants verbs on
    that Namespace object; listing or creating namespaces is cluster-scoped.
    """
    if route.rtype.group == "" and route.rtype.plural == "namespaces":
        return route.name
    return route.namespace


def authorize_resource(
    api: KubeApiServer,
    client: Client,
    route: Route,
    attrs: RequestAttributes,
    query: dict[str, str],
) -> None:
    """Refuse a resource request RBAC (or a configured denial) does not allow.

    Raises:
        ApiError: 403 Forbidden, worded as the real server words it.
    """
    name = route.name
    if not name and route.verb in ("list", "watch"):
        # (a deletecollection has no name: resourceNames never allow it)
        name = _name_from_field_selector(query)
    request = rbac.Attributes(
        user_of(client),
        route.verb,
        api_group=route.rtype.group,
        resource=route.rtype.plural,
        subresource=route.subresource,
        namespace=request_namespace(route),
        name=name,
    )
    decision = api.authorizer.authorize(request)
    if not decision.allowed:
        raise rbac.forbidden(request, decision.reason)
    if api.denied(attrs):
        raise rbac.forbidden(request)


_METHOD_VERBS = {
    "GET": "get",
    "POST": "create",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}


def authorize_unserved(
    api: KubeApiServer, client: Client, method: str, path: str, query: dict[str, str]
) -> None:
    """Authorize a resource path the server does not serve, before it is a 404.

    The real server authorizes every request from its path before routing, so a
    caller RBAC does not allow gets 403 even for a resource that does not exist.
    The attributes come from the path as its request-info parser reads it.

    Raises:
        ApiError: 403 Forbidden, worded as for any resource request.
    """
    parts = path.strip("/").split("/")
    group, parts = ("", parts[2:]) if parts[0] == "api" else (parts[1], parts[3:])
    verb = _METHOD_VERBS.get(method, method.lower())
    if parts and parts[0] == "watch":
        verb, parts = "watch", parts[1:]
    namespace = ""
    if parts and parts[0] == "namespaces" and len(parts) > 1:
        namespace = parts[1]
        if len(parts) > 2 and parts[2] not in ("status", "finalize"):
            parts = parts[2:]
    resource = parts[0] if parts else ""
    name = parts[1] if len(parts) > 1 else ""
    subresource = parts[2] if len(parts) > 2 else ""
    if not name and verb == "get":
        verb = "watch" if query.get("watch") in ("true", "1") else "list"
    if not name and verb == "delete":
        verb = "deletecollection"
    request = rbac.Attributes(
        user_of(client),
        verb,
        api_group=group,
        resource=resource,
        subresource=subresource,
        namespace=namespace,
        name=name,
    )
    decision = api.authorizer.authorize(request)
    if not decision.allowed:
        raise rbac.forbidden(request, decision.reason)


def acting_as(
    api: KubeApiServer, client: Client, route: Route
) -> contextlib.AbstractContextManager[None]:
    """Serve a resource request's writes as its client: the RBAC objects it writes
    are checked for escalation (`escalation.confirm_no_escalation`) against that user."""
    requester = escalation.Requester(api.authorizer, user_of(client), route.namespace, route.name)
    return escalation.acting_as(requester)


def authorize_create_on_update(api: KubeApiServer, client: Client, route: Route) -> None:
    """Refuse a PUT that would create its object unless the user may also `create` it.

    The real update handler asks the authorizer once more (verb `create`, the
    same name) and words a refusal without the usual `User ... cannot` text.

    Raises:
        ApiError: 403 `leases.coordination.k8s.io "x" is forbidden: REASON`.
    """
    request = rbac.Attributes(
        user_of(client),
        "create",
        api_group=route.rtype.group,
        resource=route.rtype.plural,
        subresource=route.subresource,
        namespace=request_namespace(route),
        name=route.name,
    )
    decision = api.authorizer.authorize(request)
    if not decision.allowed:
        target = f'{qualified(route.rtype.plural, route.rtype.group)} "{route.name}"'
        details = {"name": route.name, "group": route.rtype.group, "kind": route.rtype.plural}
        raise ApiError(403, f"{target} is forbidden: {decision.reason}", details=details)


def authorize_path(api: KubeApiServer, client: Client, method: str, path: str) -> None:
    """Refuse a non-resource request (discovery, OpenAPI, ...) RBAC does not allow.

    Raises:
        ApiError: 403 `forbidden: User "U" cannot get path "/x"`.
    """
    request = rbac.Attributes(user_of(client), method.lower(), resource_request=False, path=path)
    decision = api.authorizer.authorize(request)
    if not decision.allowed:
        raise rbac.forbidden(request, decision.reason)


def serves(route: Route) -> bool:
    """Return whether a route is a review or a TokenRequest (answered here, never stored)."""
    return route.rtype.group in (AUTHZ_GROUP, AUTHN_GROUP) or route.subresource == "token"


def serve(api: KubeApiServer, route: Route, body: Obj, client: Client) -> tuple[int, Obj]:
    """Answer a review or a TokenRequest; return `(status, object)`."""
    if route.subresource == "token":
        return _token_request(api, route, body)
    kind = route.rtype.kind
    spec = body.get("spec") or {}
    result: Obj = {
        "kind": kind,
        "apiVersion": route.rtype.api_version(route.version),
        "metadata": {"creationTimestamp": None},
        "spec": spec,
    }
    if kind == "SelfSubjectReview":
        result.pop("spec")
        result["status"] = {"userInfo": user_of(client).to_json()}
    elif kind == "TokenReview":
        result["status"] = _token_review(api, spec)
    elif kind == "SelfSubjectRulesReview":
        result["status"] = api.authorizer.rules_review(user_of(client), spec.get("namespace") or "")
    else:
        if kind == "SelfSubjectAccessReview":
            user, name = user_of(client), client.name
        else:
            user = rbac.user_info(
                spec.get("user") or "", spec.get("groups") or [], spec.get("uid") or ""
            )
            name = user.name
        if kind == "LocalSubjectAccessReview":
            attributes = spec.get("resourceAttributes") or {}
            if attributes.get("namespace") not in (None, "", route.namespace):
                raise ApiError(
                    400,
                    f"spec.resourceAttributes.namespace must match namespace: {route.namespace}",
                )
            spec.setdefault("resourceAttributes", {})["namespace"] = route.namespace
        result["status"] = _access_review(api, spec, user, name)
    return 201, result


def _access_review(api: KubeApiServer, spec: Obj, user: rbac.UserInfo, client: str) -> Obj:
    resource_attrs = spec.get("resourceAttributes")
    if resource_attrs:
        resource = resource_attrs.get("resource", "")
        try:
            key = api.registry.resolve(resource).key if resource else ""
        except KeyError:
            key = resource
        request = rbac.Attributes(
            user,
            resource_attrs.get("verb", ""),
            api_group=resource_attrs.get("group", ""),
            resource=resource,
            subresource=resource_attrs.get("subresource", ""),
            namespace=resource_attrs.get("namespace", ""),
            name=resource_attrs.get("name", ""),
        )
        fault_attrs = RequestAttributes(
            client=client,
            verb=request.verb,
            resource=resource,
            resource_key=key,
            subresource=request.subresource,
            namespace=request.namespace,
            name=request.name,
            group=request.api_group,
        )
    else:
        non_resource = spec.get("nonResourceAttributes") or {}
        request = rbac.Attributes(
            user,
            non_resource.get("verb", "get"),
            resource_request=False,
            path=non_resource.get("path", ""),
        )
        fault_attrs = RequestAttributes(client=client, verb=request.verb)
    decision = api.authorizer.authorize(request)
    status: Obj = {"allowed": decision.allowed}
    if decision.allowed and api.denied(fault_attrs):
        return {"allowed": False, "denied": True, "reason": "denied by a kubeapi test rule"}
    if decision.reason:
        status["reason"] = decision.reason
    return status


def _token_review(api: KubeApiServer, spec: Obj) -> Obj:
    client = authenticate(api, spec.get("token") or "")
    if client is None:
        return {"authenticated": False, "error": "invalid bearer token"}
    status: Obj = {"authenticated": True, "user": user_of(client).to_json()}
    issued = api.tokens.lookup(client.token) if client.token else None
    if issued is not None:
        status["audiences"] = list(issued.audiences)
        status["user"]["uid"] = issued.uid
    return status


def _token_request(api: KubeApiServer, route: Route, body: Obj) -> tuple[int, Obj]:
    from .tokens import ISSUER, expiration_of

    sa_type = api.registry.by_key("serviceaccounts")
    assert sa_type is not None
    sa = api.store.find(sa_type, route.namespace, route.name)
    if sa is None:
        raise not_found("serviceaccounts", "", route.name)
    spec = copy.deepcopy(body.get("spec") or {})
    seconds = expiration_of(spec, route.name)
    audiences = tuple(spec.get("audiences") or (ISSUER,))
    issued = api.tokens.issue(
        route.namespace,
        route.name,
        sa["metadata"]["uid"],
        expiration_seconds=seconds,
        audiences=audiences,
    )
    spec.update(audiences=list(audiences), expirationSeconds=seconds)
    spec.setdefault("boundObjectRef", None)
    meta = sa["metadata"]
    return 201, {
        "kind": "TokenRequest",
        "apiVersion": f"{AUTHN_GROUP}/v1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "creationTimestamp": meta.get("creationTimestamp"),
        },
        "spec": spec,
        "status": {"token": issued.token, "expirationTimestamp": rfc3339(issued.expires)},
    }


def describe(client: Client | None) -> dict[str, Any]:
    """Return a client's identity as JSON (for the admin API)."""
    if client is None:
        return {}
    info = user_of(client).to_json()
    if client.service_account:
        info["serviceAccount"] = client.service_account
    return info
