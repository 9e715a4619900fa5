"""The `/_kubeapi` admin HTTP API: the server's Python API for other processes.

Every endpoint takes and returns JSON and needs an admin client's bearer token
(the one in the kubeconfig the server writes at start-up). README.md lists them.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from .errors import ApiError, bad_request

if TYPE_CHECKING:
    from .server import KubeApiServer

_FAULT_FIELDS = {
    "kind",
    "status",
    "verb",
    "resource",
    "client",
    "namespace",
    "name",
    "count",
    "seconds",
    "delay",
    "message",
    "retryAfter",
    "mode",
}


def _body(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError as err:
        raise bad_request(f"admin request body is not JSON: {err}") from err
    if not isinstance(value, dict):
        raise bad_request("admin request body must be a JSON object")
    return value


def _settings(api: KubeApiServer) -> dict[str, Any]:
    return {
        "rolloutDelay": api.rollout_delay,
        "bookmarkInterval": api.bookmark_interval,
        "defaultWatchTimeout": api.default_watch_timeout,
        "daemonSetNodes": api.rollouts.nodes,
    }


def handle_admin(
    api: KubeApiServer, method: str, path: str, query: dict[str, str], raw: bytes
) -> tuple[int, Any]:
    """Serve one admin request; return `(status, JSON payload)`.

    Raises:
        ApiError: 400 for a bad request, 404 for an unknown endpoint.
    """
    parts = path.strip("/").split("/")[1:]
    body = _body(raw)
    try:
        return _dispatch(api, method, parts, query, body)
    except (ValueError, TypeError, KeyError) as err:
        raise bad_request(f"admin request rejected: {err}") from err


def _dispatch(  # noqa: PLR0911 - one return per endpoint
    api: KubeApiServer, method: str, parts: list[str], query: dict[str, str], body: dict[str, Any]
) -> tuple[int, Any]:
    match method, parts:
        case "GET", ["info"]:
            return 200, {
                "url": api.url,
                "resourceVersion": api.resource_version,
                "watches": api.watch_count(),
                **_settings(api),
            }
        case "POST", ["clients"]:
            client = api.add_client(
                body["name"],
                user=body.get("user"),
                admin=bool(body.get("admin")),
                groups=body.get("groups"),
                service_account=body.get("serviceAccount"),
            )
            return 201, {
                "name": client.name,
                "user": client.user,
                "groups": list(client.groups),
                "serviceAccount": client.service_account or None,
                "token": client.token,
                "kubeconfig": api.kubeconfig_text(client.name, body.get("namespace")),
            }
        case "POST", ["tokens", namespace, name]:
            seconds = int(body.get("expirationSeconds") or 3600)
            return 201, {"token": api.create_token(namespace, name, seconds)}
        case "GET", ["faults"]:
            return 200, [rule.to_json() for rule in api.faults.rules()]
        case "POST", ["faults"]:
            unknown = set(body) - _FAULT_FIELDS
            if unknown:
                raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
            kind = body.get("kind", "error")
            if kind == "partition":
                if not body.get("client") or body.get("seconds") is None:
                    raise ValueError("a partition needs 'client' and 'seconds'")
                rule = api.partition(
                    body["client"], float(body["seconds"]), body.get("mode", "drop")
                )
            else:
                rule = api.faults.add(
                    kind,
                    status=body.get("status"),
                    verb=body.get("verb"),
                    resource=body.get("resource"),
                    client=body.get("client"),
                    namespace=body.get("namespace"),
                    name=body.get("name"),
                    count=body.get("count"),
                    seconds=body.get("seconds"),
                    latency=float(body.get("delay") or 0.0),
                    message=body.get("message"),
                    retry_after=body.get("retryAfter"),
                )
            return 201, rule.to_json()
        case "DELETE", ["faults"]:
            api.clear_faults()
            return 200, {"cleared": True}
        case "DELETE", ["faults", rule_id]:
            if not api.remove_fault(int(rule_id)):
                raise ApiError(404, f"no fault rule {rule_id}")
            return 200, {"removed": int(rule_id)}
        case "GET", ["watches"]:
            return 200, [
                {"client": w.client, "resource": w.rtype.key, "namespace": w.namespace}
                for w in api.store.watchers()
            ]
        case "POST", ["watches", "cut"]:
            closed = api.cut_watches(
                body.get("client"), body.get("resource"), bool(body.get("abrupt"))
            )
            return 200, {"closed": closed}
        case "POST", ["compact"]:
            return 200, {"resourceVersion": api.compact()}
        case "GET", ["revisions", resource, namespace, name]:
            return 200, [asdict(r) for r in api.revisions(name, namespace, resource)]
        case "GET", ["requests"]:
            records = api.requests(
                client=query.get("client"),
                verb=query.get("verb"),
                resource=query.get("resource"),
                namespace=query.get("namespace"),
                name=query.get("name"),
            )
            return 200, [asdict(r) for r in records]
        case "DELETE", ["requests"]:
            api.clear_requests()
            return 200, {"cleared": True}
        case "GET", ["settings"]:
            return 200, _settings(api)
        case "PUT" | "PATCH", ["settings"]:
            if "rolloutDelay" in body:
                delay = body["rolloutDelay"]
                api.rollout_delay = None if delay is None else float(delay)
            if "bookmarkInterval" in body:
                api.bookmark_interval = float(body["bookmarkInterval"])
            if "daemonSetNodes" in body:
                nodes = int(body["daemonSetNodes"])
                if nodes < 0:
                    raise ValueError("daemonSetNodes must not be negative")
                api.rollouts.nodes = nodes
            if "defaultWatchTimeout" in body:
                api.default_watch_timeout = float(body["defaultWatchTimeout"])
            return 200, _settings(api)
    raise ApiError(404, f"no admin endpoint {method} /_kubeapi/{'/'.join(parts)}")
