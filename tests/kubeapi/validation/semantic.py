"""The semantic checks the real API server's validation makes for the kinds we use.

Each returns `(reason, field, message)` causes worded as the server's
`field.Error`s print (`spec.replicas: Invalid value: -1: must be greater than or
equal to 0`). Names, labels, annotations and ConfigMap/Secret keys are checked
by `kinds.validate`; these add the workload, Service, Lease and Event rules.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

Cause = tuple[str, str, str]

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_IANA_SVC_NAME = re.compile(r"^[-a-z0-9]+$")
DNS_LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")
_RESTART_ALWAYS_ONLY = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")
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


def go_value(value: Any) -> str:
    """Render a value as Go's `%#v` does in `Invalid value: ...` (for the types we meet)."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if value is None:
        return "null"
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        inner = ", ".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in sorted(value.items()))
        return f"map[string]string{{{inner}}}"
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def selector_matches(selector: dict[str, Any], labels: dict[str, Any]) -> bool:
    """Return whether a LabelSelector (`matchLabels`, `matchExpressions`) selects labels."""
    for key, want in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != want:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op = expr.get("key"), expr.get("operator")
        values = expr.get("values") or []
        if (
            (op == "In" and labels.get(key) not in values)
            or (op == "NotIn" and key in labels and labels[key] in values)
            or (op == "Exists" and key not in labels)
            or (op == "DoesNotExist" and key in labels)
        ):
            return False
    return True


def _port_number(value: Any, field: str, causes: list[Cause], required: bool = True) -> None:
    if value in (None, 0):
        if required:
            causes.append(("FieldValueRequired", field, "Required value"))
        return
    if isinstance(value, int) and not 1 <= value <= 65535:
        causes.append(
            (
                "FieldValueInvalid",
                field,
                f"Invalid value: {value}: must be between 1 and 65535, inclusive",
            )
        )


def _port_name(name: Any, field: str, causes: list[Cause]) -> None:
    if not isinstance(name, str) or not name:
        return
    problems = []
    if len(name) > 15:
        problems.append("must be no more than 15 characters")
    if not _IANA_SVC_NAME.match(name):
        problems.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if "--" in name:
        problems.append("must not contain consecutive hyphens")
    if not re.search("[a-z]", name):
        problems.append("must contain at least one letter (a-z)")
    if name.startswith("-") or name.endswith("-"):
        problems.append("must not begin or end with a hyphen")
    if problems:
        causes.append(
            ("FieldValueInvalid", field, f"Invalid value: {json.dumps(name)}: {problems[0]}")
        )


def pod_spec_causes(spec: Any, path: str, kind: str, claims: tuple[str, ...] = ()) -> list[Cause]:
    """Return the problems of a PodSpec at `path` (`spec.template.spec`).

    `claims` are the StatefulSet's volume claim templates, which pods mount as volumes.
    """
    causes: list[Cause] = []
    if not isinstance(spec, dict):
        return [("FieldValueRequired", f"{path}.containers", "Required value")]
    containers = spec.get("containers")
    if not containers:
        causes.append(("FieldValueRequired", f"{path}.containers", "Required value"))
    seen: set[str] = set()
    volumes = {v.get("name") for v in spec.get("volumes") or [] if isinstance(v, dict)}
    volumes.update(claims)
    for group in ("initContainers", "containers"):
        for index, container in enumerate(spec.get(group) or []):
            if not isinstance(container, dict):
                continue
            where = f"{path}.{group}[{index}]"
            name = container.get("name")
            if not name:
                causes.append(("FieldValueRequired", f"{where}.name", "Required value"))
            elif not (len(name) <= 63 and _DNS_LABEL.match(name)):
                causes.append(
                    (
                        "FieldValueInvalid",
                        f"{where}.name",
                        f"Invalid value: {json.dumps(name)}: {DNS_LABEL_MESSAGE}",
                    )
                )
            elif name in seen:
                causes.append(
                    ("FieldValueDuplicate", f"{where}.name", f"Duplicate value: {json.dumps(name)}")
                )
            else:
                seen.add(name)
            if not container.get("image"):
                causes.append(("FieldValueRequired", f"{where}.image", "Required value"))
            for pindex, port in enumerate(container.get("ports") or []):
                if not isinstance(port, dict):
                    continue
                ppath = f"{where}.ports[{pindex}]"
                _port_number(port.get("containerPort"), f"{ppath}.containerPort", causes)
                _port_number(port.get("hostPort"), f"{ppath}.hostPort", causes, required=False)
                _port_name(port.get("name"), f"{ppath}.name", causes)
            for mindex, mount in enumerate(container.get("volumeMounts") or []):
                if isinstance(mount, dict) and mount.get("name") not in volumes:
                    causes.append(
                        (
                            "FieldValueNotFound",
                            f"{where}.volumeMounts[{mindex}].name",
                            f"Not found: {json.dumps(mount.get('name'))}",
                        )
                    )
    restart = spec.get("restartPolicy")
    if kind in _RESTART_ALWAYS_ONLY and restart not in (None, "Always"):
        causes.append(
            (
                "FieldValueNotSupported",
                f"{path}.restartPolicy",
                f'Unsupported value: {json.dumps(restart)}: supported values: "Always"',
            )
        )
    return causes


def _workload_causes(kind: str, obj: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = {}
    replicas = spec.get("replicas")
    if isinstance(replicas, int) and replicas < 0:
        causes.append(
            (
                "FieldValueInvalid",
                "spec.replicas",
                f"Invalid value: {replicas}: must be greater than or equal to 0",
            )
        )
    selector = spec.get("selector")
    template = spec.get("template") if isinstance(spec.get("template"), dict) else {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if selector is None:
        causes.append(("FieldValueRequired", "spec.selector", "Required value"))
    elif not (selector.get("matchLabels") or selector.get("matchExpressions")):
        causes.append(
            (
                "FieldValueInvalid",
                "spec.selector",
                f"Invalid value: {go_value(selector)}: empty selector is invalid for "
                f"{kind.lower()}",
            )
        )
    if selector is not None and not selector_matches(selector, labels):
        causes.append(
            (
                "FieldValueInvalid",
                "spec.template.metadata.labels",
                f"Invalid value: {go_value(labels)}: `selector` does not match template `labels`",
            )
        )
    claims = tuple(
        (c.get("metadata") or {}).get("name")
        for c in spec.get("volumeClaimTemplates") or []
        if isinstance(c, dict)
    )
    causes.extend(pod_spec_causes(template.get("spec"), "spec.template.spec", kind, claims))
    return causes


def _service_causes(obj: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    kind = spec.get("type") or "ClusterIP"
    ports = spec.get("ports") or []
    if not ports and kind != "ExternalName" and spec.get("clusterIP") != "None":
        causes.append(("FieldValueRequired", "spec.ports", "Required value"))
    names: set[str] = set()
    for index, port in enumerate(ports):
        if not isinstance(port, dict):
            continue
        where = f"spec.ports[{index}]"
        _port_number(port.get("port"), f"{where}.port", causes)
        name = port.get("name")
        if len(ports) > 1 and not name:
            causes.append(("FieldValueRequired", f"{where}.name", "Required value"))
        elif name in names:
            causes.append(
                ("FieldValueDuplicate", f"{where}.name", f"Duplicate value: {json.dumps(name)}")
            )
        elif name:
            names.add(name)
        target = port.get("targetPort")
        if isinstance(target, int):
            _port_number(target, f"{where}.targetPort", causes, required=False)
        elif isinstance(target, str):
            _port_name(target, f"{where}.targetPort", causes)
    return causes


def _lease_causes(obj: dict[str, Any]) -> list[Cause]:
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    causes: list[Cause] = []
    for field, lowest, wording in (
        ("leaseDurationSeconds", 1, "must be greater than 0"),
        ("leaseTransitions", 0, "must be greater than or equal to 0"),
    ):
        value = spec.get(field)
        if isinstance(value, int) and value < lowest:
            causes.append(
                ("FieldValueInvalid", f"spec.{field}", f"Invalid value: {value}: {wording}")
            )
    return causes


def _event_causes(obj: dict[str, Any]) -> list[Cause]:
    """A core/v1 Event lives in the namespace of the object it is about.

    Without `eventTime` (an old-style Event) the namespaces must be equal (an
    object without one: the Event in `default`); with it, an object without a
    namespace may have its Event in `default` or `kube-system`.
    """
    if obj.get("apiVersion") != "v1":
        return []
    involved = obj.get("involvedObject") if isinstance(obj.get("involvedObject"), dict) else {}
    theirs = involved.get("namespace") or ""
    ours = (obj.get("metadata") or {}).get("namespace") or ""
    if obj.get("eventTime"):
        fine = bool(theirs) or ours in ("default", "kube-system")
    else:
        fine = ours == theirs or (not theirs and ours == "default")
    if fine:
        return []
    message = f"Invalid value: {json.dumps(theirs)}: does not match event.namespace"
    return [("FieldValueInvalid", "involvedObject.namespace", message)]


def _job_causes(obj: dict[str, Any]) -> list[Cause]:
    template = (obj.get("spec") or {}).get("template") or {}
    return pod_spec_causes(template.get("spec"), "spec.template.spec", "Job")


def _cronjob_causes(obj: dict[str, Any]) -> list[Cause]:
    job = ((obj.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {}
    template = job.get("template") or {}
    return pod_spec_causes(template.get("spec"), "spec.jobTemplate.spec.template.spec", "CronJob")


#: The rules of the kinds that are not workloads (those share ``_workload_causes``).
_BY_KIND: dict[str, Callable[[dict[str, Any]], list[Cause]]] = {
    "Pod": lambda obj: pod_spec_causes(obj.get("spec"), "spec", "Pod"),
    "Job": _job_causes,
    "CronJob": _cronjob_causes,
    "Service": _service_causes,
    "Lease": _lease_causes,
    "Event": _event_causes,
}


def causes(kind: str, obj: dict[str, Any]) -> list[Cause]:
    """Return the semantic problems of an object about to be stored."""
    if kind in WORKLOADS:
        return _workload_causes(kind, obj)
    rules = _BY_KIND.get(kind)
    return rules(obj) if rules is not None else []


def update_causes(kind: str, new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """Return the problems of an update the real server forbids (beyond `kinds`)."""
    if kind != "StatefulSet":
        return []
    new_spec = new.get("spec") or {}
    old_spec = old.get("spec") or {}
    # A field the new spec leaves out is defaulted (to what the old one holds).
    fixed = {k for k in new_spec if k not in _STATEFULSET_MUTABLE}
    if any(new_spec.get(k) != old_spec.get(k) for k in fixed):
        return [
            (
                "FieldValueForbidden",
                "spec",
                "Forbidden: updates to statefulset spec for fields other than 'replicas', "
                "'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', "
                "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
            )
        ]
    return []
