"""What the decision core knows about the cluster: small immutable views.

The Kubernetes adapter turns API objects into these views; the core never sees
an API object, and a ConfigMap's values never get this far (only hashes do).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reloader.core.optin import OptIn

#: The kinds of source (lower case, as in record objects ``configmap/NAME``).
CONFIGMAP = "configmap"
SECRET = "secret"  # noqa: S105 - a kind, not a credential
#: The workload kinds (lower case, as in record objects ``deployment/NAME``).
DEPLOYMENT = "deployment"
STATEFULSET = "statefulset"
DAEMONSET = "daemonset"
WORKLOAD_KINDS = (DEPLOYMENT, STATEFULSET, DAEMONSET)

#: ``(namespace, kind, name)`` of a workload or a source.
Key = tuple[str, str, str]


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
        namespace: Its namespace ("" in views built by hand: the controller's).
        kind: ``configmap`` or ``secret`` (whose hashes are keyed).
        ignore: Its ``ignore`` annotation: it restarts nothing.
        match: Its ``match`` annotation (for workloads with ``search``).
        warnings: Annotation values it carries that could not be understood.
    """

    name: str
    target: Target | None
    data_hash: str
    key_digests: tuple[tuple[str, str], ...] = ()
    resource_version: str = ""
    namespace: str = ""
    kind: str = CONFIGMAP
    ignore: bool = False
    match: bool = False
    warnings: tuple[str, ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        """Return the key names, sorted."""
        return tuple(key for key, _ in self.key_digests)

    @property
    def label(self) -> str:
        """The name it goes by in records: ``NAME`` for a ConfigMap, ``secret/NAME``."""
        return self.name if self.kind == CONFIGMAP else f"{self.kind}/{self.name}"


#: A ConfigMap or a Secret (``kind``); a Secret's hashes are keyed (HMAC).
SourceView = ConfigMapView


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
    # A StatefulSet's rollingUpdate.partition: the ordinals below it keep the
    # old template, so its rollout ends with that many replicas not updated.
    partition: int = 0
    # A StatefulSet's or DaemonSet's updateStrategy OnDelete: a pod takes a new
    # template only once deleted, so there is no rollout to follow.
    on_delete: bool = False


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
        namespace: Its namespace ("" in views built by hand: the controller's).
        kind: ``deployment``, ``statefulset`` or ``daemonset``.
        optin: Its opt-in annotations, parsed (:mod:`.optin`); None: the label
            rule only. ``target`` is the label rule (Deployments only).
        debounce_seconds: Its ``shipshape.io/debounce``, or None.
        warnings: Annotation values it carries that could not be understood.
    """

    name: str
    target: Target | None
    applied_hash: str | None
    resource_version: str = ""
    rollout: RolloutStatus = field(default_factory=RolloutStatus)
    namespace: str = ""
    kind: str = DEPLOYMENT
    optin: OptIn | None = field(default=None, compare=False)
    debounce_seconds: float | None = None
    warnings: tuple[str, ...] = ()


#: A Deployment, StatefulSet or DaemonSet (``kind``).
WorkloadView = DeploymentView
