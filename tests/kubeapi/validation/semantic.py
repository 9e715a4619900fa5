"""The semantic checks the real API server's validation makes for the kinds we use.

Each returns `(reason, field, message)` causes worded as the server's
`field.Error`s print (`spec.replicas: Invalid value: -1: must be greater than or
equal to 0`). Names, labels, annotations and ConfigMap/Secret keys are checked
by `meta`; these add the workload, Service, Secret, Lease, Event, Job,
PodDisruptionBudget and HorizontalPodAutoscaler rules. What an update may not
change is judged by `updates`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from . import cron
from .meta import (
    Cause,
    annotation_causes,
    dns1123_label,
    go_struct,
    go_value,
    label_causes,
    nonnegative,
    regex_error,
)
from .strategies import daemonset_strategy_causes, statefulset_strategy_causes, surge_struct

_IANA_SVC_NAME = re.compile(r"^[-a-z0-9]+$")
_PERCENT_FMT = "[0-9]+%"
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")
_RESTART_ALWAYS_ONLY = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")
NODE_PORTS = range(30000, 32768)
# The keys each Secret type must hold (`data` and `stringData` together).
_SECRET_KEYS = {
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
}


def _int_or_percent(value: Any) -> int:
    """The number an IntOrString stands for (`getIntOrPercentValue`; a bad string is 0)."""
    if isinstance(value, str):
        digits = value.removesuffix("%")
        return int(digits) if digits.isdigit() else 0
    return value if isinstance(value, int) else 0


def _int_or_percent_causes(value: Any, field: str, at_most_100: bool = True) -> list[Cause]:
    """A non-negative integer or a percentage, no more than 100% (`IsNotMoreThan100Percent`)."""
    if isinstance(value, str):
        if not re.fullmatch(_PERCENT_FMT, value):
            rule = regex_error(
                "a valid percent string must be a numeric string followed by an ending '%'",
                _PERCENT_FMT,
                "1%",
                "93%",
            )
            return [("FieldValueInvalid", field, f"Invalid value: {go_value(value)}: {rule}")]
        if at_most_100 and int(value[:-1]) > 100:
            message = f"Invalid value: {go_value(value)}: must not be greater than 100%"
            return [("FieldValueInvalid", field, message)]
        return []
    return nonnegative(value, field)


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
            problems = dns1123_label(name) if isinstance(name, str) and name else []
            if not name:
                causes.append(("FieldValueRequired", f"{where}.name", "Required value"))
            elif problems:
                causes += [
                    (
                        "FieldValueInvalid",
                        f"{where}.name",
                        f"Invalid value: {json.dumps(name)}: {p}",
                    )
                    for p in problems
                ]
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
    # The real ValidatePodTemplateSpec names these `spec.template.labels` (no `metadata`).
    template_meta = template.get("metadata") if isinstance(template.get("metadata"), dict) else {}
    causes += label_causes(template_meta.get("labels"), "spec.template.labels")
    causes += annotation_causes(template_meta.get("annotations"), "spec.template.annotations")
    claims = tuple(
        (c.get("metadata") or {}).get("name")
        for c in spec.get("volumeClaimTemplates") or []
        if isinstance(c, dict)
    )
    causes.extend(pod_spec_causes(template.get("spec"), "spec.template.spec", kind, claims))
    if kind == "Deployment":
        causes.extend(_deployment_causes(spec))
    elif kind == "StatefulSet":
        causes.extend(statefulset_strategy_causes(spec))
    elif kind == "DaemonSet":
        causes.extend(daemonset_strategy_causes(spec))
    return causes


def _strategy_causes(strategy: dict[str, Any]) -> list[Cause]:
    """A Deployment's strategy, as defaulted: `RollingUpdate` with 25%/25% unless given."""
    kind = strategy.get("type") or "RollingUpdate"
    rolling = strategy.get("rollingUpdate")
    where = "spec.strategy"
    if kind == "Recreate":
        if rolling is None:
            return []
        message = "Forbidden: may not be specified when strategy `type` is 'Recreate'"
        return [("FieldValueForbidden", f"{where}.rollingUpdate", message)]
    if kind != "RollingUpdate":
        rendered = go_struct({"Type": kind, "RollingUpdate": surge_struct(rolling)})
        return [
            (
                "FieldValueNotSupported",
                where,
                f'Unsupported value: {rendered}: supported values: "Recreate", "RollingUpdate"',
            )
        ]
    rolling = rolling if isinstance(rolling, dict) else {}
    unavailable = rolling.get("maxUnavailable", "25%")
    surge = rolling.get("maxSurge", "25%")
    at = f"{where}.rollingUpdate"
    causes = _int_or_percent_causes(unavailable, f"{at}.maxUnavailable", at_most_100=False)
    causes += _int_or_percent_causes(surge, f"{at}.maxSurge", at_most_100=False)
    if _int_or_percent(unavailable) == 0 and _int_or_percent(surge) == 0:
        message = f"Invalid value: {go_value(unavailable)}: may not be 0 when `maxSurge` is 0"
        causes.append(("FieldValueInvalid", f"{at}.maxUnavailable", message))
    if isinstance(unavailable, str) and _int_or_percent(unavailable) > 100:
        message = f"Invalid value: {go_value(unavailable)}: must not be greater than 100%"
        causes.append(("FieldValueInvalid", f"{at}.maxUnavailable", message))
    return causes


def _deployment_causes(spec: dict[str, Any]) -> list[Cause]:
    """A Deployment's strategy, `minReadySeconds`, `revisionHistoryLimit` and progress deadline.

    The deadline defaults to 600 seconds and must exceed `minReadySeconds`.
    """
    strategy = spec.get("strategy") if isinstance(spec.get("strategy"), dict) else {}
    causes = _strategy_causes(strategy)
    min_ready = spec.get("minReadySeconds") or 0
    causes += nonnegative(min_ready, "spec.minReadySeconds")
    causes += nonnegative(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit")
    deadline = spec.get("progressDeadlineSeconds")
    deadline = 600 if deadline is None else deadline
    causes += nonnegative(deadline, "spec.progressDeadlineSeconds")
    if isinstance(deadline, int) and isinstance(min_ready, int) and deadline <= min_ready:
        message = f"Invalid value: {deadline}: must be greater than minReadySeconds"
        causes.append(("FieldValueInvalid", "spec.progressDeadlineSeconds", message))
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
        causes.extend(_node_port_causes(port.get("nodePort"), kind, f"{where}.nodePort"))
    return causes


def _node_port_causes(node_port: Any, service_type: str, field: str) -> list[Cause]:
    """A node port: not on a ClusterIP Service, and in the allocator's range (30000-32767)."""
    if not isinstance(node_port, int) or node_port == 0:
        return []
    if service_type == "ClusterIP":
        return [
            ("FieldValueForbidden", field, "Forbidden: may not be used when `type` is 'ClusterIP'")
        ]
    if node_port in NODE_PORTS:
        return []
    message = (
        f"Invalid value: {node_port}: provided port is not in the valid range. "
        f"The range of valid ports is {NODE_PORTS.start}-{NODE_PORTS.stop - 1}"
    )
    return [("FieldValueInvalid", field, message)]


def _secret_causes(obj: dict[str, Any]) -> list[Cause]:
    """The keys a Secret of a built-in type must hold (`stringData` counts, as it is merged)."""
    kind = obj.get("type") or "Opaque"
    keys = set(obj.get("data") or {}) | set(obj.get("stringData") or {})
    if kind == "kubernetes.io/basic-auth":
        needed = () if keys & {"username", "password"} else ("username", "password")
    elif kind == "kubernetes.io/service-account-token":
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        key = "kubernetes.io/service-account.name"
        return (
            []
            if annotations.get(key)
            else [("FieldValueRequired", f"metadata.annotations[{key}]", "Required value")]
        )
    else:
        needed = tuple(k for k in _SECRET_KEYS.get(kind, ()) if k not in keys)
    return [("FieldValueRequired", f"data[{key}]", "Required value") for key in needed]


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


def _job_spec_causes(job: dict[str, Any], path: str, kind: str) -> list[Cause]:
    """A Job's pod template; its `restartPolicy` must be `OnFailure` or `Never`.

    An omitted policy is defaulted to `Always`, so it is refused the same way.
    """
    template = job.get("template") if isinstance(job.get("template"), dict) else {}
    pod = template.get("spec") if isinstance(template.get("spec"), dict) else {}
    causes = pod_spec_causes(template.get("spec"), f"{path}.template.spec", kind)
    restart = pod.get("restartPolicy")
    where = f"{path}.template.spec.restartPolicy"
    supported = '"OnFailure", "Never"'
    if restart in (None, "", "Always"):
        causes.append(("FieldValueRequired", where, f"Required value: valid values: {supported}"))
    elif restart not in ("OnFailure", "Never"):
        message = f"Unsupported value: {go_value(restart)}: supported values: {supported}"
        causes.append(("FieldValueNotSupported", where, message))
    return causes


def _job_causes(obj: dict[str, Any]) -> list[Cause]:
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    return _job_spec_causes(spec, "spec", "Job")


def _cronjob_causes(obj: dict[str, Any]) -> list[Cause]:
    """A CronJob's schedule (robfig/cron's standard syntax, no `TZ=`) and its Job template."""
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    causes: list[Cause] = []
    schedule = spec.get("schedule")
    if not schedule:
        causes.append(("FieldValueRequired", "spec.schedule", "Required value"))
    elif isinstance(schedule, str):
        problem = cron.schedule_problem(schedule)
        if problem:
            causes.append(
                (
                    "FieldValueInvalid",
                    "spec.schedule",
                    f"Invalid value: {go_value(schedule)}: {problem}",
                )
            )
        if "TZ" in schedule:
            message = "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
            causes.append(
                (
                    "FieldValueInvalid",
                    "spec.schedule",
                    f"Invalid value: {go_value(schedule)}: {message}",
                )
            )
    job = (spec.get("jobTemplate") or {}).get("spec") or {}
    return causes + _job_spec_causes(job, "spec.jobTemplate.spec", "CronJob")


def _pdb_causes(obj: dict[str, Any]) -> list[Cause]:
    """A PodDisruptionBudget sets `minAvailable` or `maxUnavailable`, not both."""
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    lowest, highest = spec.get("minAvailable"), spec.get("maxUnavailable")
    causes: list[Cause] = []
    if lowest is not None and highest is not None:
        selector = spec.get("selector") if isinstance(spec.get("selector"), dict) else None
        if selector is not None:
            selector = {
                k: selector[k] for k in ("matchLabels", "matchExpressions") if selector.get(k)
            }
        rendered = go_struct(
            {
                "MinAvailable": lowest,
                "Selector": selector,
                "MaxUnavailable": highest,
                "UnhealthyPodEvictionPolicy": spec.get("unhealthyPodEvictionPolicy"),
            }
        )
        message = f"Invalid value: {rendered}: minAvailable and maxUnavailable cannot be both set"
        causes.append(("FieldValueInvalid", "spec", message))
    for field, value in (("minAvailable", lowest), ("maxUnavailable", highest)):
        if value is not None:
            causes += _int_or_percent_causes(value, f"spec.{field}")
    return causes


def _hpa_causes(obj: dict[str, Any]) -> list[Cause]:
    """An autoscaler's bounds: `minReplicas >= 1` (its default), `maxReplicas >= minReplicas`."""
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    lowest, highest = spec.get("minReplicas"), spec.get("maxReplicas")
    causes: list[Cause] = []
    if isinstance(lowest, int) and lowest < 1:
        message = f"Invalid value: {lowest}: must be greater than or equal to 1"
        causes.append(("FieldValueInvalid", "spec.minReplicas", message))
    if isinstance(highest, int):
        if highest < 1:
            message = f"Invalid value: {highest}: must be greater than 0"
            causes.append(("FieldValueInvalid", "spec.maxReplicas", message))
        if highest < (lowest if isinstance(lowest, int) else 1):
            message = f"Invalid value: {highest}: must be greater than or equal to `minReplicas`"
            causes.append(("FieldValueInvalid", "spec.maxReplicas", message))
    return causes


#: The rules of the kinds that are not workloads (those share ``_workload_causes``).
_BY_KIND: dict[str, Callable[[dict[str, Any]], list[Cause]]] = {
    "Pod": lambda obj: pod_spec_causes(obj.get("spec"), "spec", "Pod"),
    "Job": _job_causes,
    "CronJob": _cronjob_causes,
    "Service": _service_causes,
    "Secret": _secret_causes,
    "PodDisruptionBudget": _pdb_causes,
    "HorizontalPodAutoscaler": _hpa_causes,
    "Lease": _lease_causes,
    "Event": _event_causes,
}


def causes(kind: str, obj: dict[str, Any]) -> list[Cause]:
    """Return the semantic problems of an object about to be stored."""
    if kind in WORKLOADS:
        return _workload_causes(kind, obj)
    rules = _BY_KIND.get(kind)
    return rules(obj) if rules is not None else []
