"""What the decision core knows about the cluster: small immutable views.

The Kubernetes adapter turns API objects into these views; the core never sees
an API object, and a ConfigMap's values never get this far (only hashes do).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class Target:
    """The ``app``/``env`` label pair that links a ConfigMap to its Deployments."""

    app: str
    env: str

    def as_dict(self) -> dict[str, str]:
        """Return the pair as a JSON-ready mapping."""
        return {"app": self.app, "env": self.env}


@dataclass(frozen=True)
class ConfigMapView:
    """One ConfigMap as the core sees it.

    Attributes:
        name: The ConfigMap's name.
        target: Its ``app``/``env`` labels, or ``None`` when one is missing.
        data_hash: SHA-256 of ``data`` and ``binaryData`` (see :mod:`.hashing`).
        key_digests: ``(key, digest)`` pairs, sorted, used only to name the
            keys that changed; never journaled.
        resource_version: The object's ``metadata.resourceVersion``.
    """

    name: str
    target: Target | None
    data_hash: str
    key_digests: tuple[tuple[str, str], ...] = ()
    resource_version: str = ""

    @property
    def keys(self) -> tuple[str, ...]:
        """Return the key names, sorted."""
        return tuple(key for key, _ in self.key_digests)


@dataclass(frozen=True)
class RolloutStatus:
    """The parts of a Deployment's spec and status that tell a rollout's progress."""

    generation: int = 0
    observed_generation: int = 0
    replicas: int = 1
    status_replicas: int = 0
    updated_replicas: int = 0
    available_replicas: int = 0
    progress_deadline_exceeded: bool = False


@dataclass(frozen=True)
class DeploymentView:
    """One Deployment as the core sees it.

    Attributes:
        name: The Deployment's name.
        target: Its ``app``/``env`` labels, or ``None`` when one is missing.
        applied_hash: The config hash it last rolled out with (its
            ``shipshape.io/config-hash`` metadata annotation), ``None`` when it
            has never been adopted.
        resource_version: The object's ``metadata.resourceVersion``.
        rollout: Its rollout progress.
    """

    name: str
    target: Target | None
    applied_hash: str | None
    resource_version: str = ""
    rollout: RolloutStatus = field(default_factory=RolloutStatus)
