"""What is particular to some kinds: defaults, validation, immutable fields.

The store calls these hooks on every write, the way the API server's per-kind
registry strategies do (`PrepareForCreate`, `Validate`, `ValidateUpdate`).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

from .errors import bad_request, invalid
from .resources import ResourceType
from .validation.meta import PATH_SEGMENT_NAMED, nonnegative

_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")

MAX_CONFIG_BYTES = 1024 * 1024


def _name_problem(kind: str, name: str) -> str | None:
    """The path-segment rule of the kinds `validation.meta` leaves their names to.

    Every other kind's name, labels and annotations are judged there, before
    these hooks.
    """
    if kind not in PATH_SEGMENT_NAMED:
        return None
    return None if name and "/" not in name and name not in (".", "..") else "may not contain '/'"


def validate(rtype: ResourceType, obj: dict[str, Any]) -> None:
    """Validate an object about to be stored.

    Raises:
        ApiError: 422 Invalid naming every problem found.
    """
    meta = obj["metadata"]
    name = meta.get("name", "")
    causes: list[tuple[str, str, str]] = []
    problem = _name_problem(rtype.kind, name)
    if problem:
        causes.append(("FieldValueInvalid", "metadata.name", problem))
    # A value that is not a string never decodes on a real server (400).
    for field in ("labels", "annotations"):
        for key, value in (meta.get(field) or {}).items():
            if not isinstance(value, str):
                raise bad_request(f"metadata.{field}[{key}] must be a string")
    if rtype.kind in ("ConfigMap", "Secret"):
        causes.extend(_config_causes(obj))
    if rtype.kind == "ControllerRevision":  # `data` is required by the schema
        causes.extend(nonnegative(obj.get("revision"), "revision"))
    if causes:
        raise invalid(rtype.kind, rtype.group, name, causes)


def _config_causes(obj: dict[str, Any]) -> list[tuple[str, str, str]]:
    causes = []
    total = 0
    for field in ("data", "binaryData", "stringData"):
        for key, value in (obj.get(field) or {}).items():
            if len(key) > 253 or not _CONFIG_KEY.match(key):
                causes.append(
                    (
                        "FieldValueInvalid",
                        f"{field}[{key}]",
                        f'Invalid value: "{key}": a valid config key must consist of '
                        "alphanumeric characters, '-', '_' or '.'",
                    )
                )
            if not isinstance(value, str):
                causes.append(("FieldValueTypeInvalid", f"{field}[{key}]", "must be a string"))
            else:
                total += len(value)
    binary = obj.get("binaryData") or {}
    for key in obj.get("data") or {}:
        if key in binary:  # a ConfigMap's two maps may not share a key
            causes.append(
                (
                    "FieldValueInvalid",
                    f"data[{key}]",
                    f'Invalid value: "{key}": duplicate of key present in binaryData',
                )
            )
    if total > MAX_CONFIG_BYTES:
        causes.append(
            ("FieldValueTooLong", "data", f"Too long: must have at most {MAX_CONFIG_BYTES} bytes")
        )
    return causes


# The registries whose strategy answers AllowUnconditionalUpdate false (a PUT
# must name the resourceVersion it replaces) besides custom resources, and
# those whose AllowCreateOnUpdate is true (a PUT of a missing object creates it).
_CONDITIONAL_UPDATE = {
    "leases.coordination.k8s.io",
    "customresourcedefinitions.apiextensions.k8s.io",
}
_CREATE_ON_UPDATE = {"leases.coordination.k8s.io"}


def create_on_update(rtype: ResourceType) -> bool:
    """Whether a PUT of a missing object creates it, as the type's real registry does."""
    return rtype.key in _CREATE_ON_UPDATE


def check_put_version(rtype: ResourceType, name: str, body: dict[str, Any]) -> None:
    """Refuse a PUT without `metadata.resourceVersion` where the real registry does.

    Raises:
        ApiError: 422 `leases.coordination.k8s.io "x" is invalid: metadata.resourceVersion:
            Invalid value: 0x0: must be specified for an update`.
    """
    if body.get("metadata", {}).get("resourceVersion"):
        return
    if rtype.custom or rtype.key in _CONDITIONAL_UPDATE:
        message = "Invalid value: 0x0: must be specified for an update"
        # The real error names the resource (plural) where others name the kind.
        cause = ("FieldValueInvalid", "metadata.resourceVersion", message)
        raise invalid(rtype.plural, rtype.group, name, [cause])


def validate_update(rtype: ResourceType, new: dict[str, Any], old: dict[str, Any]) -> None:
    """Reject changes to fields the real server makes immutable.

    Raises:
        ApiError: 422 Invalid.
    """
    name = old["metadata"]["name"]
    causes = []
    if rtype.kind in ("ConfigMap", "Secret") and old.get("immutable"):
        for field in ("data", "binaryData"):
            if new.get(field) != old.get(field):
                causes.append(
                    (
                        "FieldValueForbidden",
                        field,
                        "Forbidden: field is immutable when `immutable` is set",
                    )
                )
        if not new.get("immutable"):
            causes.append(
                (
                    "FieldValueForbidden",
                    "immutable",
                    "Forbidden: field is immutable when `immutable` is set",
                )
            )
    if rtype.kind in ("Deployment", "StatefulSet", "ReplicaSet", "DaemonSet"):
        old_selector = (old.get("spec") or {}).get("selector")
        if old_selector is not None and (new.get("spec") or {}).get("selector") != old_selector:
            causes.append(
                ("FieldValueInvalid", "spec.selector", "Invalid value: field is immutable")
            )
    if rtype.kind == "ControllerRevision" and new.get("data") != old.get("data"):
        causes.append(("FieldValueInvalid", "data", "Invalid value: field is immutable"))
    if rtype.kind == "Service":
        old_ip = (old.get("spec") or {}).get("clusterIP")
        new_ip = (new.get("spec") or {}).get("clusterIP")
        if old_ip and new_ip not in (None, "", old_ip):
            causes.append(
                ("FieldValueInvalid", "spec.clusterIP", "Invalid value: field is immutable")
            )
    if causes:
        raise invalid(rtype.kind, rtype.group, name, causes)


def apply_defaults(
    rtype: ResourceType,
    obj: dict[str, Any],
    old: dict[str, Any] | None,
    allocate_ip: Callable[[], str],
) -> None:
    """Fill in the defaults the real server adds, in place.

    Args:
        rtype: The object's resource type.
        obj: The object about to be stored.
        old: The stored object it replaces, or None on create.
        allocate_ip: Returns a fresh cluster IP for a new Service.
    """
    kind = rtype.kind
    if kind == "Namespace":
        meta = obj["metadata"]
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        if old is None:
            obj["status"] = {"phase": "Active"}
    elif kind == "Secret":
        if not obj.get("type"):
            obj["type"] = "Opaque"
        string_data = obj.pop("stringData", None)
        if string_data:
            data = obj.setdefault("data", {})
            for key, value in string_data.items():
                data[key] = base64.b64encode(str(value).encode()).decode()
    elif kind == "Deployment":
        spec = obj.setdefault("spec", {})
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxSurge", "25%")
            rolling.setdefault("maxUnavailable", "25%")
        _default_pod_template(spec)
    elif kind == "StatefulSet":
        spec = obj.setdefault("spec", {})
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("podManagementPolicy", "OrderedReady")
        strategy = spec.setdefault("updateStrategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            strategy.setdefault("rollingUpdate", {}).setdefault("partition", 0)
        spec.setdefault(
            "persistentVolumeClaimRetentionPolicy",
            {"whenDeleted": "Retain", "whenScaled": "Retain"},
        )
        _default_pod_template(spec)
    elif kind == "DaemonSet":
        spec = obj.setdefault("spec", {})
        spec.setdefault("revisionHistoryLimit", 10)
        strategy = spec.setdefault("updateStrategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxUnavailable", 1)
            rolling.setdefault("maxSurge", 0)
        _default_pod_template(spec)
    elif kind == "Service":
        _default_service(obj, old, allocate_ip)
    elif kind == "ReplicationController":
        spec = obj.setdefault("spec", {})
        spec.setdefault("replicas", 1)
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
        if labels and not spec.get("selector"):
            spec["selector"] = dict(labels)
        _default_pod_template(spec)


def _default_pod_template(spec: dict[str, Any]) -> None:
    template = spec.get("template")
    if not isinstance(template, dict):
        return
    pod = template.setdefault("spec", {})
    pod.setdefault("restartPolicy", "Always")
    pod.setdefault("terminationGracePeriodSeconds", 30)
    pod.setdefault("dnsPolicy", "ClusterFirst")
    pod.setdefault("schedulerName", "default-scheduler")
    pod.setdefault("securityContext", {})
    for container in pod.get("containers") or []:
        if not isinstance(container, dict):
            continue
        image = str(container.get("image", ""))
        latest = ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")
        container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("resources", {})
        for port in container.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")


def _default_service(
    obj: dict[str, Any], old: dict[str, Any] | None, allocate_ip: Callable[[], str]
) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if "port" in port:
                port.setdefault("targetPort", port["port"])
    if spec.get("clusterIP") in (None, ""):
        old_ip = ((old or {}).get("spec") or {}).get("clusterIP")
        if old_ip:
            spec["clusterIP"] = old_ip
        else:
            spec["clusterIP"] = allocate_ip()
    if spec["clusterIP"] != "None":
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    obj.setdefault("status", {"loadBalancer": {}})


def check_type(obj: Any, what: str) -> dict[str, Any]:
    """Return the body if it is an object with a metadata map.

    Raises:
        ApiError: 400 BadRequest.
    """
    if not isinstance(obj, dict):
        raise bad_request(f"{what}: the request body must be a JSON object")
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise bad_request(f"{what}: metadata must be an object")
    return obj
