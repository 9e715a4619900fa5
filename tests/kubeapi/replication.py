"""ReplicationController status, as the replication manager reports it during a rollout.

An RC has no rollout strategy of its own: a template change is picked up as
pods are replaced. The simulation reports the new `observedGeneration` at once
with no replica ready, then, after the rollout delay, every replica ready and
available (`fullyLabeledReplicas` too).
"""

from __future__ import annotations

from typing import Any

KEY = "replicationcontrollers"


def progressing(obj: dict[str, Any], changed_template: bool) -> dict[str, Any]:
    """Return the status while a new generation is being rolled out."""
    spec = obj.get("spec") or {}
    old = obj.get("status") or {}
    replicas = int(spec.get("replicas", 1))
    ready = 0 if changed_template else min(old.get("readyReplicas", 0), replicas)
    status = {
        "observedGeneration": obj["metadata"].get("generation", 1),
        "replicas": replicas,
        "fullyLabeledReplicas": replicas,
        "readyReplicas": ready,
        "availableReplicas": ready,
    }
    return {k: v for k, v in status.items() if v or k in ("observedGeneration", "replicas")}


def complete(obj: dict[str, Any]) -> dict[str, Any]:
    """Return the status once every replica runs the current template."""
    replicas = int((obj.get("spec") or {}).get("replicas", 1))
    status = {
        "observedGeneration": obj["metadata"].get("generation", 1),
        "replicas": replicas,
        "fullyLabeledReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
    }
    return {k: v for k, v in status.items() if v or k in ("observedGeneration", "replicas")}


def is_rolled_out(obj: dict[str, Any]) -> bool:
    """Return whether every replica of the current generation is ready."""
    status = obj.get("status") or {}
    replicas = int((obj.get("spec") or {}).get("replicas", 1))
    return (
        status.get("observedGeneration") == obj["metadata"].get("generation", 1)
        and status.get("readyReplicas", 0) >= replicas
    )
