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
    Target,
    data_hash,
    key_digests,
)

# Annotations the controller writes.
CONFIG_HASH = "shipshape.io/config-hash"
RESTARTED_AT = "shipshape.io/restarted-at"
CONFIGMAP = "shipshape.io/configmap"
CORRELATION_ID = "shipshape.io/correlation-id"

# The labels linking a ConfigMap to the Deployments it configures.
APP_LABEL = "app"
ENV_LABEL = "env"


def target_of(labels: Mapping[str, str] | None) -> Target | None:
    """Return the ``app``/``env`` pair of ``labels``, or None when one is missing or empty."""
    labels = labels or {}
    app, env = labels.get(APP_LABEL), labels.get(ENV_LABEL)
    if not app or not env:
        return None
    return Target(app, env)


def configmap_view(obj: Mapping[str, Any]) -> ConfigMapView:
    """Return the core's view of a ConfigMap object: its hash, never its values."""
    metadata = obj.get("metadata") or {}
    data = obj.get("data") or {}
    binary = obj.get("binaryData") or {}
    return ConfigMapView(
        name=metadata["name"],
        target=target_of(metadata.get("labels")),
        data_hash=data_hash(data, binary),
        key_digests=key_digests(data, binary),
        resource_version=str(metadata.get("resourceVersion") or ""),
    )


def deployment_view(obj: Mapping[str, Any]) -> DeploymentView:
    """Return the core's view of a Deployment object: labels, applied hash, rollout status."""
    metadata = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    annotations = metadata.get("annotations") or {}
    conditions = status.get("conditions") or []
    deadline_exceeded = any(
        c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded"
        for c in conditions
    )
    replicas = spec.get("replicas")
    return DeploymentView(
        name=metadata["name"],
        target=target_of(metadata.get("labels")),
        applied_hash=annotations.get(CONFIG_HASH) or None,
        resource_version=str(metadata.get("resourceVersion") or ""),
        rollout=RolloutStatus(
            generation=int(metadata.get("generation") or 0),
            observed_generation=int(status.get("observedGeneration") or 0),
            replicas=1 if replicas is None else int(replicas),
            status_replicas=int(status.get("replicas") or 0),
            updated_replicas=int(status.get("updatedReplicas") or 0),
            available_replicas=int(status.get("availableReplicas") or 0),
            progress_deadline_exceeded=deadline_exceeded,
        ),
    )
