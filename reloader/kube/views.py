"""From Kubernetes API objects (JSON dicts) to the decision core's views.

This is where a ConfigMap's values are hashed and dropped: nothing past this
module ever holds them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reloader.core import (
    ConfigMapView,
    DeploymentView,
    RolloutStatus,
    data_hash,
    key_digests,
    source_view,
    workload_view,
)
from reloader.core.optin import source_from_object, workload_from_object
from reloader.core.secrets import SecretHashKey, secret_hash, secret_key_digests

# Annotations the controller writes.
CONFIG_HASH = "shipshape.io/config-hash"
RESTARTED_AT = "shipshape.io/restarted-at"
CONFIGMAP = "shipshape.io/configmap"
CORRELATION_ID = "shipshape.io/correlation-id"


def configmap_view(obj: Mapping[str, Any]) -> ConfigMapView:
    """Return the core's view of a ConfigMap object: its hash, never its values."""
    metadata = obj.get("metadata") or {}
    data = obj.get("data") or {}
    binary = obj.get("binaryData") or {}
    return source_view(
        source_from_object(obj, "ConfigMap"),
        data_hash(data, binary),
        key_digests(data, binary),
        resource_version=str(metadata.get("resourceVersion") or ""),
    )


def secret_view(obj: Mapping[str, Any], key: SecretHashKey) -> ConfigMapView:
    """Return the core's view of a Secret: keyed hashes only (HMAC-SHA256), never values."""
    metadata = obj.get("metadata") or {}
    data = obj.get("data") or {}
    return source_view(
        source_from_object(obj, "Secret"),
        secret_hash(key, data),
        secret_key_digests(key, data),
        resource_version=str(metadata.get("resourceVersion") or ""),
    )


def deployment_view(obj: Mapping[str, Any], kind: str = "Deployment") -> DeploymentView:
    """Return the core's view of a workload: opt-in, applied hash, rollout status.

    ``kind`` is ``Deployment``, ``StatefulSet`` or ``DaemonSet`` (list items
    carry no kind); each reports its rollout in its own status fields.
    """
    metadata = obj.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    return workload_view(
        workload_from_object(obj, kind),
        annotations.get(CONFIG_HASH) or None,
        resource_version=str(metadata.get("resourceVersion") or ""),
        rollout=rollout_status(obj, kind),
    )


def rollout_status(obj: Mapping[str, Any], kind: str) -> RolloutStatus:
    """The rollout progress of a workload, as ``kubectl rollout status`` reads it per kind."""
    metadata = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    generation = int(metadata.get("generation") or 0)
    observed = int(status.get("observedGeneration") or 0)
    on_delete = (
        kind in ("StatefulSet", "DaemonSet")
        and (spec.get("updateStrategy") or {}).get("type") == "OnDelete"
    )
    if kind == "DaemonSet":
        desired = int(status.get("desiredNumberScheduled") or 0)
        updated = int(status.get("updatedNumberScheduled") or 0)
        return RolloutStatus(
            generation=generation,
            observed_generation=observed,
            replicas=desired,
            status_replicas=int(status.get("currentNumberScheduled") or 0),
            updated_replicas=updated,
            available_replicas=int(status.get("numberAvailable") or 0),
            on_delete=on_delete,
        )
    replicas = spec.get("replicas")
    conditions = status.get("conditions") or []
    deadline_exceeded = any(
        c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded"
        for c in conditions
    )
    return RolloutStatus(
        generation=generation,
        observed_generation=observed,
        replicas=1 if replicas is None else int(replicas),
        status_replicas=int(status.get("replicas") or 0),
        updated_replicas=int(status.get("updatedReplicas") or 0),
        available_replicas=int(status.get("availableReplicas") or 0),
        progress_deadline_exceeded=deadline_exceeded,
        partition=_partition(spec) if kind == "StatefulSet" else 0,
        on_delete=on_delete,
    )


def _partition(spec: Mapping[str, Any]) -> int:
    """A StatefulSet's ``rollingUpdate.partition`` (0 when none, or under ``OnDelete``)."""
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return 0
    partition = (strategy.get("rollingUpdate") or {}).get("partition")
    return partition if isinstance(partition, int) and partition > 0 else 0
