"""The update strategies of StatefulSets and DaemonSets, checked as the real server's
`ValidateStatefulSetSpec` and `ValidateDaemonSetUpdateStrategy` check them.

They run on the object as defaulted (`kinds.py`): a `RollingUpdate` StatefulSet has
`rollingUpdate.partition: 0`, a `RollingUpdate` DaemonSet `maxUnavailable: 1` and
`maxSurge: 0`; a strategy of another type gets no defaults. A StatefulSet under
`OnDelete` may not keep a `rollingUpdate` (so a merge patch that only sets
`type: OnDelete` on a defaulted StatefulSet is refused, as on a real cluster);
its partition may not be negative; any other type is refused. Values are rendered
as `json.Marshal` of the internal Go structs (their field names, no json tags).
"""

from __future__ import annotations

import json
from typing import Any

from .meta import Cause

_WHERE = "spec.updateStrategy"


def _go_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _sts_rolling(rolling: Any) -> Any:
    if not isinstance(rolling, dict):
        return None
    return {
        "Partition": rolling.get("partition", 0),
        "MaxUnavailable": rolling.get("maxUnavailable"),
    }


def _ds_rolling(rolling: Any) -> Any:
    if not isinstance(rolling, dict):
        return None
    return {
        "MaxUnavailable": rolling.get("maxUnavailable", 0),
        "MaxSurge": rolling.get("maxSurge", 0),
    }


def statefulset_strategy_causes(spec: dict[str, Any]) -> list[Cause]:
    """A StatefulSet's `updateStrategy`: its type, and what `rollingUpdate` may hold."""
    strategy = spec.get("updateStrategy")
    if not isinstance(strategy, dict):
        return []
    kind = strategy.get("type") or "RollingUpdate"  # the default, whenever it is empty
    rolling = strategy.get("rollingUpdate")
    causes: list[Cause] = []
    if kind == "OnDelete" and rolling is not None:
        message = (
            f"Invalid value: {_go_json(_sts_rolling(rolling))}: "
            "only allowed for updateStrategy 'RollingUpdate'"
        )
        causes.append(("FieldValueInvalid", f"{_WHERE}.rollingUpdate", message))
    elif kind == "RollingUpdate" and isinstance(rolling, dict):
        partition = rolling.get("partition")
        if isinstance(partition, int) and not isinstance(partition, bool) and partition < 0:
            message = f"Invalid value: {partition}: must be greater than or equal to 0"
            causes.append(("FieldValueInvalid", f"{_WHERE}.rollingUpdate.partition", message))
    elif kind not in ("OnDelete", "RollingUpdate"):
        rendered = _go_json({"Type": kind, "RollingUpdate": _sts_rolling(rolling)})
        message = f"Invalid value: {rendered}: must be 'RollingUpdate' or 'OnDelete'"
        causes.append(("FieldValueInvalid", _WHERE, message))
    return causes


def daemonset_strategy_causes(spec: dict[str, Any]) -> list[Cause]:
    """A DaemonSet's `updateStrategy` type (`OnDelete` may keep a `rollingUpdate`)."""
    strategy = spec.get("updateStrategy")
    if not isinstance(strategy, dict):
        return []
    kind = strategy.get("type") or "RollingUpdate"
    if kind in ("OnDelete", "RollingUpdate"):
        return []
    rendered = _go_json({"Type": kind, "RollingUpdate": _ds_rolling(strategy.get("rollingUpdate"))})
    message = f'Unsupported value: {rendered}: supported values: "RollingUpdate", "OnDelete"'
    return [("FieldValueNotSupported", _WHERE, message)]
