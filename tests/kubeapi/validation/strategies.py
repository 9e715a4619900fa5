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

from typing import Any

from .meta import Cause, go_struct, nonnegative

_WHERE = "spec.updateStrategy"


def _sts_rolling(rolling: Any) -> Any:
    if not isinstance(rolling, dict):
        return None
    return {
        "Partition": rolling.get("partition", 0),
        "MaxUnavailable": rolling.get("maxUnavailable"),
    }


def surge_struct(rolling: Any) -> Any:
    """A Deployment's or DaemonSet's `rollingUpdate` as its internal Go struct (None: nil)."""
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
            f"Invalid value: {go_struct(_sts_rolling(rolling))}: "
            "only allowed for updateStrategy 'RollingUpdate'"
        )
        causes.append(("FieldValueInvalid", f"{_WHERE}.rollingUpdate", message))
    elif kind == "RollingUpdate" and isinstance(rolling, dict):
        causes += nonnegative(rolling.get("partition"), f"{_WHERE}.rollingUpdate.partition")
    elif kind not in ("OnDelete", "RollingUpdate"):
        rendered = go_struct({"Type": kind, "RollingUpdate": _sts_rolling(rolling)})
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
    rendered = go_struct(
        {"Type": kind, "RollingUpdate": surge_struct(strategy.get("rollingUpdate"))}
    )
    message = f'Unsupported value: {rendered}: supported values: "RollingUpdate", "OnDelete"'
    return [("FieldValueNotSupported", _WHERE, message)]
