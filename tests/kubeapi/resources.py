"""The catalogue of resource types the test server serves, built-in and custom."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    """One REST resource (`deployments.apps`), served under one or more versions.

    Objects are stored once per resource, whatever version they were written in;
    like a CRD with the `None` conversion strategy, reading them under another
    served version only rewrites `apiVersion`.

    Attributes:
        group: The API group (`""` for the core group).
        versions: Served versions, preferred first.
        kind: The object kind (`Deployment`).
        plural: The resource name in URLs (`deployments`).
        namespaced: Whether objects live in a namespace.
        short_names: Short names `kubectl` accepts (`deploy`).
        categories: Categories such as `all`.
        subresources: Served subresources (`status`, `scale`).
        custom: Whether the type is backed by a CustomResourceDefinition
            (no strategic merge patch; delete returns the object).
        generation: Whether `metadata.generation` is kept and bumped on changes
            outside `metadata` and `status`.
        field_selectors: Extra dotted fields usable in `fieldSelector`
            (besides `metadata.name` and `metadata.namespace`).
        verbs: The verbs the resource supports.
    """

    group: str
    versions: tuple[str, ...]
    kind: str
    plural: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    custom: bool = False
    generation: bool = False
    field_selectors: tuple[str, ...] = ()
    verbs: tuple[str, ...] = VERBS

    @property
    def singular(self) -> str:
        """Return the singular resource name (`deployment`)."""
        return self.kind.lower()

    @property
    def key(self) -> str:
        """Return `plural.group` (or `plural` in the core group): the storage key."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def preferred_version(self) -> str:
        """Return the preferred (first) served version."""
        return self.versions[0]

    def api_version(self, version: str | None = None) -> str:
        """Return the `apiVersion` string for a served version (default: preferred)."""
        version = version or self.preferred_version
        return f"{self.group}/{version}" if self.group else version

    @property
    def has_status(self) -> bool:
        """Return whether `status` is a subresource (so main updates keep it)."""
        return "status" in self.subresources


_WORKLOAD = ("status", "scale")

BUILTIN_TYPES: tuple[ResourceType, ...] = (
    # core/v1
    ResourceType(
        "",
        ("v1",),
        "Namespace",
        "namespaces",
        False,
        ("ns",),
        (),
        ("status",),
        field_selectors=("status.phase",),
    ),
    ResourceType("", ("v1",), "ConfigMap", "configmaps", True, ("cm",)),
    ResourceType("", ("v1",), "Secret", "secrets", True, (), (), (), field_selectors=("type",)),
    ResourceType("", ("v1",), "Service", "services", True, ("svc",), ("all",), ("status",)),
    ResourceType("", ("v1",), "ServiceAccount", "serviceaccounts", True, ("sa",), (), ("token",)),
    ResourceType(
        "",
        ("v1",),
        "Event",
        "events",
        True,
        ("ev",),
        (),
        (),
        field_selectors=(
            "involvedObject.kind",
            "involvedObject.name",
            "involvedObject.namespace",
            "involvedObject.uid",
            "reason",
            "type",
            "source",
        ),
    ),
    ResourceType(
        "",
        ("v1",),
        "Pod",
        "pods",
        True,
        ("po",),
        ("all",),
        ("status",),
        field_selectors=("spec.nodeName", "status.phase", "spec.serviceAccountName"),
    ),
    ResourceType("", ("v1",), "Endpoints", "endpoints", True, ("ep",)),
    ResourceType(
        "",
        ("v1",),
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        True,
        ("pvc",),
        (),
        ("status",),
    ),
    ResourceType(
        "", ("v1",), "PersistentVolume", "persistentvolumes", False, ("pv",), (), ("status",)
    ),
    ResourceType("", ("v1",), "Node", "nodes", False, ("no",), (), ("status",)),
    ResourceType("", ("v1",), "ResourceQuota", "resourcequotas", True, ("quota",), (), ("status",)),
    ResourceType("", ("v1",), "LimitRange", "limitranges", True, ("limits",)),
    ResourceType(
        "",
        ("v1",),
        "ReplicationController",
        "replicationcontrollers",
        True,
        ("rc",),
        ("all",),
        _WORKLOAD,
        generation=True,
    ),
    # apiregistration.k8s.io/v1: stored only (no aggregated API servers run).
    ResourceType(
        "apiregistration.k8s.io",
        ("v1",),
        "APIService",
        "apiservices",
        False,
        (),
        ("api-extensions",),
        ("status",),
    ),
    # apps/v1
    ResourceType(
        "apps",
        ("v1",),
        "Deployment",
        "deployments",
        True,
        ("deploy",),
        ("all",),
        _WORKLOAD,
        generation=True,
    ),
    ResourceType(
        "apps",
        ("v1",),
        "StatefulSet",
        "statefulsets",
        True,
        ("sts",),
        ("all",),
        _WORKLOAD,
        generation=True,
    ),
    ResourceType(
        "apps",
        ("v1",),
        "ReplicaSet",
        "replicasets",
        True,
        ("rs",),
        ("all",),
        _WORKLOAD,
        generation=True,
    ),
    ResourceType(
        "apps",
        ("v1",),
        "DaemonSet",
        "daemonsets",
        True,
        ("ds",),
        ("all",),
        ("status",),
        generation=True,
    ),
    ResourceType("apps", ("v1",), "ControllerRevision", "controllerrevisions", True),
    # batch/v1
    ResourceType("batch", ("v1",), "Job", "jobs", True, (), ("all",), ("status",), generation=True),
    ResourceType(
        "batch",
        ("v1",),
        "CronJob",
        "cronjobs",
        True,
        ("cj",),
        ("all",),
        ("status",),
        generation=True,
    ),
    # coordination.k8s.io/v1
    ResourceType("coordination.k8s.io", ("v1",), "Lease", "leases", True),
    # rbac.authorization.k8s.io/v1
    ResourceType("rbac.authorization.k8s.io", ("v1",), "Role", "roles", True),
    ResourceType("rbac.authorization.k8s.io", ("v1",), "RoleBinding", "rolebindings", True),
    ResourceType("rbac.authorization.k8s.io", ("v1",), "ClusterRole", "clusterroles", False),
    ResourceType(
        "rbac.authorization.k8s.io", ("v1",), "ClusterRoleBinding", "clusterrolebindings", False
    ),
    # networking.k8s.io/v1
    ResourceType(
        "networking.k8s.io",
        ("v1",),
        "NetworkPolicy",
        "networkpolicies",
        True,
        ("netpol",),
        (),
        (),
        generation=True,
    ),
    ResourceType(
        "networking.k8s.io",
        ("v1",),
        "Ingress",
        "ingresses",
        True,
        ("ing",),
        (),
        ("status",),
        generation=True,
    ),
    ResourceType("networking.k8s.io", ("v1",), "IngressClass", "ingressclasses", False),
    # policy/v1
    ResourceType(
        "policy",
        ("v1",),
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        True,
        ("pdb",),
        (),
        ("status",),
        generation=True,
    ),
    # autoscaling/v2
    ResourceType(
        "autoscaling",
        ("v2",),
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        True,
        ("hpa",),
        ("all",),
        ("status",),
    ),
    # storage, scheduling, discovery
    ResourceType("storage.k8s.io", ("v1",), "StorageClass", "storageclasses", False, ("sc",)),
    ResourceType("scheduling.k8s.io", ("v1",), "PriorityClass", "priorityclasses", False, ("pc",)),
    ResourceType("discovery.k8s.io", ("v1",), "EndpointSlice", "endpointslices", True),
    ResourceType("events.k8s.io", ("v1",), "Event", "events", True, ("ev",)),
    # authorization.k8s.io/v1 and authentication.k8s.io/v1: answered by RBAC and
    # the token issuer (access.py), never stored.
    *(
        ResourceType(group, ("v1",), kind, kind.lower() + "s", namespaced, verbs=("create",))
        for group, kind, namespaced in (
            ("authorization.k8s.io", "SelfSubjectAccessReview", False),
            ("authorization.k8s.io", "SelfSubjectRulesReview", False),
            ("authorization.k8s.io", "SubjectAccessReview", False),
            ("authorization.k8s.io", "LocalSubjectAccessReview", True),
            ("authentication.k8s.io", "SelfSubjectReview", False),
            ("authentication.k8s.io", "TokenReview", False),
        )
    ),
    # apiextensions.k8s.io/v1: creating a CRD registers its kind.
    ResourceType(
        "apiextensions.k8s.io",
        ("v1",),
        "CustomResourceDefinition",
        "customresourcedefinitions",
        False,
        ("crd", "crds"),
        (),
        ("status",),
        generation=True,
    ),
)


def _custom(  # noqa: PLR0917 - one row of the catalogue table below
    group: str,
    versions: tuple[str, ...],
    kind: str,
    plural: str,
    short_names: tuple[str, ...] = (),
    categories: tuple[str, ...] = (),
    namespaced: bool = True,
) -> ResourceType:
    return ResourceType(
        group,
        versions,
        kind,
        plural,
        namespaced,
        short_names,
        categories,
        ("status",),
        custom=True,
        generation=True,
    )


_ISTIO_NET = ("v1", "v1beta1", "v1alpha3")
_ISTIO_SEC = ("v1", "v1beta1")
_PROM = ("prometheus-operator",)

# The custom kinds installed in our clusters (Istio, cert-manager, the Prometheus
# operator), pre-registered as if their CRDs were installed.
PREINSTALLED_CUSTOM_TYPES: tuple[ResourceType, ...] = (
    _custom(
        "networking.istio.io",
        _ISTIO_NET,
        "Gateway",
        "gateways",
        ("gw",),
        ("istio-io", "networking-istio-io"),
    ),
    _custom(
        "networking.istio.io",
        _ISTIO_NET,
        "VirtualService",
        "virtualservices",
        ("vs",),
        ("istio-io", "networking-istio-io"),
    ),
    _custom(
        "networking.istio.io",
        _ISTIO_NET,
        "DestinationRule",
        "destinationrules",
        ("dr",),
        ("istio-io", "networking-istio-io"),
    ),
    _custom(
        "networking.istio.io",
        _ISTIO_NET,
        "ServiceEntry",
        "serviceentries",
        ("se",),
        ("istio-io", "networking-istio-io"),
    ),
    _custom(
        "networking.istio.io",
        _ISTIO_NET,
        "Sidecar",
        "sidecars",
        (),
        ("istio-io", "networking-istio-io"),
    ),
    _custom(
        "networking.istio.io",
        ("v1alpha3",),
        "EnvoyFilter",
        "envoyfilters",
        (),
        ("istio-io", "networking-istio-io"),
    ),
    _custom(
        "security.istio.io",
        _ISTIO_SEC,
        "AuthorizationPolicy",
        "authorizationpolicies",
        ("ap",),
        ("istio-io", "security-istio-io"),
    ),
    _custom(
        "security.istio.io",
        _ISTIO_SEC,
        "PeerAuthentication",
        "peerauthentications",
        ("pa",),
        ("istio-io", "security-istio-io"),
    ),
    _custom(
        "security.istio.io",
        _ISTIO_SEC,
        "RequestAuthentication",
        "requestauthentications",
        ("ra",),
        ("istio-io", "security-istio-io"),
    ),
    _custom(
        "telemetry.istio.io",
        ("v1", "v1alpha1"),
        "Telemetry",
        "telemetries",
        ("telemetry",),
        ("istio-io", "telemetry-istio-io"),
    ),
    _custom(
        "cert-manager.io",
        ("v1",),
        "Certificate",
        "certificates",
        ("cert", "certs"),
        ("cert-manager",),
    ),
    _custom(
        "cert-manager.io",
        ("v1",),
        "CertificateRequest",
        "certificaterequests",
        ("cr", "crs"),
        ("cert-manager",),
    ),
    _custom("cert-manager.io", ("v1",), "Issuer", "issuers", (), ("cert-manager",)),
    _custom(
        "cert-manager.io",
        ("v1",),
        "ClusterIssuer",
        "clusterissuers",
        (),
        ("cert-manager",),
        namespaced=False,
    ),
    _custom(
        "monitoring.coreos.com", ("v1",), "ServiceMonitor", "servicemonitors", ("smon",), _PROM
    ),
    _custom("monitoring.coreos.com", ("v1",), "PodMonitor", "podmonitors", ("pmon",), _PROM),
    _custom(
        "monitoring.coreos.com", ("v1",), "PrometheusRule", "prometheusrules", ("promrule",), _PROM
    ),
    _custom("monitoring.coreos.com", ("v1",), "Prometheus", "prometheuses", ("prom",), _PROM),
    _custom("monitoring.coreos.com", ("v1",), "Alertmanager", "alertmanagers", ("am",), _PROM),
    _custom("monitoring.coreos.com", ("v1",), "Probe", "probes", ("prb",), _PROM),
    _custom(
        "monitoring.coreos.com",
        ("v1alpha1",),
        "AlertmanagerConfig",
        "alertmanagerconfigs",
        ("amcfg",),
        _PROM,
    ),
)


def crd_to_type(crd: dict[str, Any]) -> ResourceType:
    """Return the resource type a CustomResourceDefinition object declares.

    Raises:
        ValueError: The CRD lacks a group, names or a served version.
    """
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group = spec.get("group")
    kind = names.get("kind")
    plural = names.get("plural")
    versions = tuple(
        v["name"] for v in spec.get("versions") or [] if v.get("name") and v.get("served", True)
    )
    if not (group and kind and plural and versions):
        raise ValueError("spec.group, spec.names.kind, spec.names.plural and a served version")
    subresources: tuple[str, ...] = ()
    for version in spec.get("versions") or []:
        if "status" in (version.get("subresources") or {}):
            subresources = ("status",)
    return ResourceType(
        group,
        versions,
        kind,
        plural,
        spec.get("scope", "Namespaced") == "Namespaced",
        tuple(names.get("shortNames") or ()),
        tuple(names.get("categories") or ()),
        subresources,
        custom=True,
        generation=True,
    )


def type_to_crd(rtype: ResourceType) -> dict[str, Any]:
    """Return a CustomResourceDefinition object declaring a custom resource type."""
    names: dict[str, Any] = {
        "kind": rtype.kind,
        "listKind": f"{rtype.kind}List",
        "plural": rtype.plural,
        "singular": rtype.singular,
    }
    if rtype.short_names:
        names["shortNames"] = list(rtype.short_names)
    if rtype.categories:
        names["categories"] = list(rtype.categories)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": rtype.key},
        "spec": {
            "group": rtype.group,
            "names": names,
            "scope": "Namespaced" if rtype.namespaced else "Cluster",
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": index == 0,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                    "subresources": {"status": {}} if rtype.has_status else {},
                }
                for index, version in enumerate(rtype.versions)
            ],
        },
    }


@dataclass
class Registry:
    """The resource types being served, changing as CRDs come and go.

    Thread-safe: lookups read an immutable snapshot that every change replaces.
    """

    _types: dict[str, ResourceType] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    generation: int = 0

    @classmethod
    def default(cls) -> Registry:
        """Return a registry with the built-in and pre-installed custom types."""
        registry = cls()
        for rtype in BUILTIN_TYPES + PREINSTALLED_CUSTOM_TYPES:
            registry.add(rtype)
        return registry

    def add(self, rtype: ResourceType) -> None:
        """Serve a resource type (replacing one with the same key)."""
        with self._lock:
            types = dict(self._types)
            types[rtype.key] = rtype
            self._types = types
            self.generation += 1

    def remove(self, key: str) -> None:
        """Stop serving the resource type stored under `key`."""
        with self._lock:
            types = dict(self._types)
            types.pop(key, None)
            self._types = types
            self.generation += 1

    def all(self) -> list[ResourceType]:
        """Return every served type."""
        return list(self._types.values())

    def by_key(self, key: str) -> ResourceType | None:
        """Return the type stored under `plural.group`, or None."""
        return self._types.get(key)

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        """Return the type served at `group/version` under `plural`, or None."""
        rtype = self._types.get(f"{plural}.{group}" if group else plural)
        if rtype is None or version not in rtype.versions:
            return None
        return rtype

    def resolve(self, name: str) -> ResourceType:
        """Return the type a user names: `configmaps`, `deployments.apps`, `Lease`, `cm`.

        Raises:
            KeyError: No served type has that name.
        """
        types = self._types
        if name in types:
            return types[name]
        lowered = name.lower()
        for rtype in types.values():
            if lowered in (rtype.plural, rtype.singular, rtype.kind.lower(), *rtype.short_names):
                return rtype
        raise KeyError(f"no resource type named {name!r}")

    def group_versions(self) -> dict[str, list[str]]:
        """Return every group with its served versions, preferred first."""
        groups: dict[str, list[str]] = {}
        for rtype in self._types.values():
            versions = groups.setdefault(rtype.group, [])
            for version in rtype.versions:
                if version not in versions:
                    versions.append(version)
        for versions in groups.values():
            versions.sort(key=version_priority)
        return groups


def version_priority(version: str) -> tuple[int, int, int]:
    """Return a sort key that orders Kubernetes versions as the server does (GA first).

    `v2 > v1 > v1beta2 > v1beta1 > v1alpha1`, so sorting ascending by this key
    puts the preferred version first.
    """
    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not match:
        return (3, 0, 0)
    major = int(match.group(1))
    stage = {"alpha": 2, None: 0, "beta": 1}[match.group(2)]
    minor = int(match.group(3) or 0)
    return (stage, -major, -minor)
