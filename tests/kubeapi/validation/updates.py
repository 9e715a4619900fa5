"""The fields an update may not change, as the real registries' `ValidateUpdate` judge them.

`update_causes(kind, new, old)` compares the object about to be stored (before
defaults) with the stored one: a Secret's `type`; a Pod's spec beyond its
mutable fields (images, `activeDeadlineSeconds`, added tolerations, ...); a
PersistentVolumeClaim's spec beyond `resources.requests` (of a bound claim) and
`volumeAttributesClassName`; a StatefulSet's spec beyond its updatable fields.
The selectors of workloads, a Service's `clusterIP` and the data of immutable
ConfigMaps and Secrets are judged by `kinds.validate_update`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from .meta import Cause, go_value

_INT32_MAX = 2**31 - 1
_POD_UPDATABLE = ",".join(
    (
        "`spec.containers[*].image`",
        "`spec.initContainers[*].image`",
        "`spec.activeDeadlineSeconds`",
        "`spec.tolerations` (only additions to existing tolerations)",
        "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously "
        "negative)",
    )
)
_PVC_IMMUTABLE = (
    "spec is immutable after creation except resources.requests and volumeAttributesClassName "
    "for bound claims"
)
# StatefulSetSpec fields an update may change (the rest are forbidden).
_STATEFULSET_MUTABLE = (
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "revisionHistoryLimit",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
)


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def _semantic(value: Any) -> Any:
    """Drop what Go's semantic equality cannot tell from absent: nulls and empty lists."""
    if isinstance(value, dict):
        return {k: _semantic(v) for k, v in value.items() if v is not None and v != []}
    if isinstance(value, list):
        return [_semantic(item) for item in value]
    return value


def _spec_diff(type_name: str, old: dict[str, Any], new: dict[str, Any]) -> str:
    """Return a short diff of two specs in the shape of Go's `cmp.Diff` (changed fields only)."""
    lines = [f"  {type_name}{{"]
    for key in dict.fromkeys([*old, *new]):
        if old.get(key) != new.get(key):
            name = key[:1].upper() + key[1:]
            if key in old:
                lines.append(f"- \t{name}: {json.dumps(old[key], separators=(',', ':'))},")
            if key in new:
                lines.append(f"+ \t{name}: {json.dumps(new[key], separators=(',', ':'))},")
    lines.append("  }")
    return "\n".join(lines) + "\n"


def _secret_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """A Secret's `type` is immutable (an omitted type is defaulted to `Opaque`)."""
    new_type = new.get("type") or "Opaque"
    if new_type == (old.get("type") or "Opaque"):
        return []
    return [
        ("FieldValueInvalid", "type", f"Invalid value: {go_value(new_type)}: field is immutable")
    ]


def _tolerations_removed(new: list[Any], old: list[Any]) -> bool:
    """Whether an existing toleration is gone or changed (beyond its `tolerationSeconds`)."""

    def key(toleration: Any) -> Any:
        if not isinstance(toleration, dict):
            return toleration
        return {k: v for k, v in toleration.items() if k != "tolerationSeconds"}

    kept = [key(t) for t in new]
    return any(key(t) not in kept for t in old)


def _pod_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """A Pod's spec is fixed but for images, a lower deadline and added tolerations."""
    new_spec, old_spec = _semantic(_spec(new)), _semantic(_spec(old))
    for group in ("containers", "initContainers"):
        if len(new_spec.get(group) or []) != len(old_spec.get(group) or []):
            message = "Forbidden: pod updates may not add or remove containers"
            return [("FieldValueForbidden", f"spec.{group}", message)]
    causes: list[Cause] = []
    deadline, old_deadline = (
        new_spec.get("activeDeadlineSeconds"),
        old_spec.get("activeDeadlineSeconds"),
    )
    where = "spec.activeDeadlineSeconds"
    if isinstance(deadline, int):
        if not 0 <= deadline <= _INT32_MAX:
            message = f"must be between 0 and {_INT32_MAX}, inclusive"
            return [("FieldValueInvalid", where, f"Invalid value: {deadline}: {message}")]
        if isinstance(old_deadline, int) and old_deadline < deadline:
            message = "must be less than or equal to previous value"
            return [("FieldValueInvalid", where, f"Invalid value: {deadline}: {message}")]
    elif old_deadline is not None:
        message = "must not update from a positive integer to nil value"
        causes.append(("FieldValueInvalid", where, f"Invalid value: null: {message}"))
    if _tolerations_removed(new_spec.get("tolerations") or [], old_spec.get("tolerations") or []):
        message = "Forbidden: existing toleration can not be modified except its tolerationSeconds"
        causes.append(("FieldValueForbidden", "spec.tolerations", message))
    munged = copy.deepcopy(new_spec)
    for group in ("containers", "initContainers"):
        for container, before in zip(
            munged.get(group) or [], old_spec.get(group) or [], strict=False
        ):
            if isinstance(container, dict) and isinstance(before, dict):
                container["image"] = before.get("image")
    for field in ("activeDeadlineSeconds", "tolerations", "schedulingGates"):
        munged.pop(field, None)
        if field in old_spec:
            munged[field] = old_spec[field]
    grace = old_spec.get("terminationGracePeriodSeconds")
    if isinstance(grace, int) and grace < 0 and munged.get("terminationGracePeriodSeconds") == 1:
        munged["terminationGracePeriodSeconds"] = grace
    if munged != old_spec:
        message = (
            f"Forbidden: pod updates may not change fields other than {_POD_UPDATABLE}\n"
            + _spec_diff("core.PodSpec", old_spec, munged)
        )
        causes.append(("FieldValueForbidden", "spec", message))
    return causes


def _pvc_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """A claim's spec is fixed but for its storage request (once bound) and attributes class.

    A `volumeName` and a `storageClassName` may each be set once, where the
    stored claim has none.
    """
    new_spec, old_spec = _semantic(_spec(new)), _semantic(_spec(old))
    munged = copy.deepcopy(new_spec)
    for settable in ("volumeName", "storageClassName"):
        if not old_spec.get(settable):
            munged.pop(settable, None)
    old_cmp = {
        k: v for k, v in old_spec.items() if k not in ("volumeName", "storageClassName") or v
    }
    munged.pop("volumeAttributesClassName", None)
    if "volumeAttributesClassName" in old_cmp:
        munged["volumeAttributesClassName"] = old_cmp["volumeAttributesClassName"]
    bound = ((old.get("status") or {}).get("phase")) == "Bound"
    requests = (munged.get("resources") or {}).get("requests")
    if bound and isinstance(requests, dict):
        old_storage = ((old_spec.get("resources") or {}).get("requests") or {}).get("storage")
        requests["storage"] = old_storage
    if munged == old_cmp:
        return []
    message = f"Forbidden: {_PVC_IMMUTABLE}\n" + _spec_diff(
        "core.PersistentVolumeClaimSpec", old_cmp, munged
    )
    return [("FieldValueForbidden", "spec", message)]


def _statefulset_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """A StatefulSet may change only its updatable fields; one the new spec leaves out is
    defaulted (to what the old one holds)."""
    new_spec, old_spec = _spec(new), _spec(old)
    fixed = {k for k in new_spec if k not in _STATEFULSET_MUTABLE}
    if all(new_spec.get(k) == old_spec.get(k) for k in fixed):
        return []
    return [
        (
            "FieldValueForbidden",
            "spec",
            "Forbidden: updates to statefulset spec for fields other than 'replicas', "
            "'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', "
            "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
        )
    ]


_BY_KIND: dict[str, Callable[[dict[str, Any], dict[str, Any]], list[Cause]]] = {
    "Secret": _secret_update,
    "Pod": _pod_update,
    "PersistentVolumeClaim": _pvc_update,
    "StatefulSet": _statefulset_update,
}


def update_causes(kind: str, new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """Return the changes of an update the real server forbids for this kind."""
    rules = _BY_KIND.get(kind)
    return rules(new, old) if rules is not None else []
