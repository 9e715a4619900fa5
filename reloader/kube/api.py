"""A lean door to the Kubernetes REST API through the ``kubernetes`` client's ``ApiClient``.

The controller needs five calls: list and watch ConfigMaps and Deployments,
patch a Deployment, create an Event. The client's generated API classes
(``CoreV1Api`` and friends) build validators for hundreds of methods when
constructed, which costs about 25 MiB of a controller whose whole budget is
120 MiB; this module uses the same ``ApiClient`` (configuration, token, TLS,
connection pool, request serialisation, ``ApiException``) without them.
Responses are returned raw (urllib3), so watch streams can be read as they come.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

Timeout = float | tuple[float, float]

CONFIGMAPS = "/api/v1/namespaces/{namespace}/configmaps"
DEPLOYMENTS = "/apis/apps/v1/namespaces/{namespace}/deployments"
DEPLOYMENT = "/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
EVENTS = "/api/v1/namespaces/{namespace}/events"

#: The list/watch path of each resource, in one namespace and cluster-wide.
NAMESPACED = {
    "configmaps": CONFIGMAPS,
    "secrets": "/api/v1/namespaces/{namespace}/secrets",
    "deployments": DEPLOYMENTS,
    "statefulsets": "/apis/apps/v1/namespaces/{namespace}/statefulsets",
    "daemonsets": "/apis/apps/v1/namespaces/{namespace}/daemonsets",
}
CLUSTER = {
    "configmaps": "/api/v1/configmaps",
    "secrets": "/api/v1/secrets",
    "deployments": "/apis/apps/v1/deployments",
    "statefulsets": "/apis/apps/v1/statefulsets",
    "daemonsets": "/apis/apps/v1/daemonsets",
}
#: One workload of each kind (lower case, as records name them).
WORKLOAD = {
    "deployment": DEPLOYMENT,
    "statefulset": "/apis/apps/v1/namespaces/{namespace}/statefulsets/{name}",
    "daemonset": "/apis/apps/v1/namespaces/{namespace}/daemonsets/{name}",
}
#: The API kind of each workload kind.
API_KIND = {"deployment": "Deployment", "statefulset": "StatefulSet", "daemonset": "DaemonSet"}


class KubeApi:
    """Raw requests through an ``ApiClient``: its auth, TLS and errors, none of its models."""

    def __init__(self, api_client: client.ApiClient) -> None:
        """Send requests through ``api_client``."""
        self.api_client = api_client

    def request(
        self,
        method: str,
        path: str,
        *,
        path_params: Mapping[str, str],
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str | None = None,
        timeout: Timeout | None = None,
    ) -> Any:
        """Send one request; return the raw urllib3 response (the caller reads or streams it).

        Raises:
            ApiException: The server answered with a status outside 2xx.
            urllib3.exceptions.HTTPError: The request did not get an answer.
        """
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        params = self.api_client.param_serialize(
            method=method,
            resource_path=path,
            path_params=dict(path_params),
            query_params=[(k, _query_value(v)) for k, v in (query or {}).items() if v is not None],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self.api_client.call_api(*params, _request_timeout=timeout)
        if not 200 <= response.status <= 299:
            response.read()
            raise ApiException.from_response(http_resp=response, body=None, data=None)
        return response.response

    def json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """Send one request and return its JSON body."""
        response = self.request(method, path, **kwargs)
        try:
            return json.loads(response.data)
        finally:
            response.release_conn()


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
