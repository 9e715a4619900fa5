"""The restart patch, the adoption patch and the Kubernetes Event of each restart."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from reloader.core import PatchAdopt, PatchRestart, WarnWorkload
from reloader.kube.api import API_KIND, EVENTS, WORKLOAD, KubeApi
from reloader.kube.views import CONFIG_HASH, CONFIGMAP, CORRELATION_ID, RESTARTED_AT

log = logging.getLogger(__name__)

MERGE_PATCH = "application/merge-patch+json"
EVENT_REASON = "ConfigMapChanged"
SECRET_EVENT_REASON = "SecretChanged"  # noqa: S105 - an Event reason, not a credential
WARNING_REASON = "InvalidAnnotation"
COMPONENT = "shipshape-controller"
# Connect and read timeouts of one patch: short, because the caller retries.
_TIMEOUT = (5.0, 15.0)


def restart_patch(action: PatchRestart, restarted_at: str) -> dict[str, Any]:
    """Return the merge patch that rolls a Deployment for ``action``.

    The pod template's annotations change, which makes the Deployment roll its
    pods; the Deployment's own annotations record the applied hash (read back
    by the level-triggered decision), the ConfigMap and the correlation id.
    ``metadata.resourceVersion`` makes it conditional (see :func:`_precondition`).
    """
    return {
        "metadata": {
            **_precondition(action.resource_version),
            "annotations": {
                CONFIG_HASH: action.data_hash,
                CONFIGMAP: action.configmap,
                CORRELATION_ID: action.correlation_id,
                RESTARTED_AT: restarted_at,
            },
        },
        "spec": {
            "template": {
                "metadata": {
                    "annotations": {RESTARTED_AT: restarted_at, CONFIG_HASH: action.data_hash}
                }
            }
        },
    }


def adopt_patch(action: PatchAdopt) -> dict[str, Any]:
    """Return the merge patch that adopts a Deployment: its metadata only, no rollout."""
    return {
        "metadata": {
            **_precondition(action.resource_version),
            "annotations": {CONFIG_HASH: action.data_hash},
        }
    }


def _precondition(resource_version: str) -> dict[str, str]:
    """The write's precondition: the resourceVersion the decision was made on.

    A merge patch that carries ``metadata.resourceVersion`` is applied only if
    the object still has that version; otherwise the API answers 409 Conflict
    and writes nothing. Two patches decided on the same state can therefore
    not both land: the first changes the version the second depends on.
    """
    return {"resourceVersion": resource_version} if resource_version else {}


def is_refused(error: BaseException) -> bool:
    """Whether ``error`` is a failed precondition of a conditional write (409 Conflict)."""
    return isinstance(error, ApiException) and error.status == 409


def timestamp(moment: datetime) -> str:
    """Format a UTC time as Kubernetes does (RFC 3339, seconds, ``Z``)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class DeploymentPatcher:
    """Sends the controller's writes to the API: patches and Events."""

    def __init__(self, api_client: client.ApiClient, namespace: str, identity: str) -> None:
        """Write as ``identity`` (the Event's reporting instance).

        ``namespace`` is where a workload named without one lives (the
        controller's own); every action names its workload's namespace and kind.
        """
        self.namespace = namespace
        self.identity = identity
        self._api = KubeApi(api_client)

    def restart(self, action: PatchRestart, now: datetime) -> dict[str, Any]:
        """Send the restart patch; return the patched Deployment (a JSON dict).

        Raises:
            ApiException or a urllib3 error: The patch failed (see ``errors.classify``).
        """
        return self._patch(
            action.namespace, action.kind, action.deployment, restart_patch(action, timestamp(now))
        )

    def adopt(self, action: PatchAdopt) -> None:
        """Send the adoption patch (metadata annotation only)."""
        self._patch(action.namespace, action.kind, action.deployment, adopt_patch(action))

    def read(
        self, name: str, namespace: str = "", kind: str = "deployment"
    ) -> dict[str, Any] | None:
        """Read the Deployment again (None when it is gone): after a refused precondition.

        Raises:
            ApiException or a urllib3 error: The read failed (other than 404).
        """
        try:
            return self._api.json(
                "GET",
                WORKLOAD[kind],
                path_params={"namespace": namespace or self.namespace, "name": name},
                timeout=_TIMEOUT,
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def _patch(self, namespace: str, kind: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._api.json(
            "PATCH",
            WORKLOAD[kind],
            path_params={"namespace": namespace or self.namespace, "name": name},
            query={"fieldManager": COMPONENT},
            body=body,
            content_type=MERGE_PATCH,
            timeout=_TIMEOUT,
        )

    def record_event(self, action: PatchRestart, deployment: dict[str, Any], now: datetime) -> None:
        """Create a ``Normal`` Event on the workload telling why it was restarted.

        A Secret's hash is keyed (HMAC): only its first 12 hex digits are shown.
        """
        metadata = deployment.get("metadata") or {}
        namespace = action.namespace or self.namespace
        secret = action.configmap.startswith("secret/")
        what = f"Secret {action.configmap[7:]}" if secret else f"ConfigMap {action.configmap}"
        digest = action.data_hash.rsplit(":", 1)[-1][:12]
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{action.deployment}.", "namespace": namespace},
            "involvedObject": {
                "apiVersion": "apps/v1",
                "kind": API_KIND[action.kind],
                "name": action.deployment,
                "namespace": namespace,
                "uid": metadata.get("uid"),
                "resourceVersion": metadata.get("resourceVersion"),
            },
            "reason": SECRET_EVENT_REASON if secret else EVENT_REASON,
            "message": (
                f"Restarted because {what} changed "
                f"(config hash {digest}, correlation id {action.correlation_id})"
            ),
            "type": "Normal",
            "source": {"component": COMPONENT},
            "reportingComponent": f"shipshape.io/{COMPONENT}",
            "reportingInstance": self.identity,
            "firstTimestamp": timestamp(now),
            "lastTimestamp": timestamp(now),
            "count": 1,
        }
        self._post_event(namespace, body)

    def warn(self, action: WarnWorkload, now: datetime) -> None:
        """Create a ``Warning`` Event on a workload, ConfigMap or Secret (bad annotation values).

        Every replica reports what it sees, so the Event's name is derived from the
        object and the problem: the second replica's create is refused (409) and
        taken as done, leaving one Event per object and problem.
        """
        api_version = "v1" if action.kind in ("configmap", "secret") else "apps/v1"
        kind = {"configmap": "ConfigMap", "secret": "Secret", **API_KIND}[action.kind]
        problem = f"{action.namespace}/{action.kind}/{action.name}\n{action.message}"
        digest = hashlib.sha256(problem.encode("utf-8")).hexdigest()[:16]
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{action.name[:200].rstrip('-.')}.{digest}",
                "namespace": action.namespace,
            },
            "involvedObject": {
                "apiVersion": api_version,
                "kind": kind,
                "name": action.name,
                "namespace": action.namespace,
            },
            "reason": WARNING_REASON,
            "message": action.message[:1024],
            "type": "Warning",
            "source": {"component": COMPONENT},
            "reportingComponent": f"shipshape.io/{COMPONENT}",
            "reportingInstance": self.identity,
            "firstTimestamp": timestamp(now),
            "lastTimestamp": timestamp(now),
            "count": 1,
        }
        try:
            self._post_event(action.namespace, body)
        except ApiException as error:
            if error.status != 409:  # AlreadyExists: this problem is reported already
                raise

    def _post_event(self, namespace: str, body: dict[str, Any]) -> None:
        self._api.json(
            "POST",
            EVENTS,
            path_params={"namespace": namespace},
            body=body,
            content_type="application/json",
            timeout=_TIMEOUT,
        )
