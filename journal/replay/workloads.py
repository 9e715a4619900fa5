"""The view per workload: what replay knows of each Deployment, StatefulSet and DaemonSet.

Built once at the window's end from the restarts (:class:`RestartEntry`,
already judged) and the ``deployment.observed`` facts the projection keeps,
so the feed loop pays nothing for it. Keyed ``namespace/kind/name``
(``kind/name`` for records without a namespace), in key order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from operator import attrgetter
from typing import Any

from journal.replay.entries import RestartEntry

#: Outcomes that rolled the workload's pods.
_ROLLED = ("patched", "landed")
_outcome_of = attrgetter("outcome")
_retries_of = attrgetter("retries")


def workload_id(namespace: str | None, workload: str) -> str:
    """The view's key of a workload: ``namespace/kind/name``, or ``kind/name`` without one."""
    return f"{namespace}/{workload}" if namespace else workload


def workloads_view(
    restarts: Iterable[RestartEntry],
    facts: dict[tuple[str | None, str], list[tuple[str, int, int, str | None, int | None]]],
    journals: Sequence[str] | None = None,
    only: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Return ``replay -o json``'s ``workloads``.

    Args:
        restarts: Every restart of the window, judged (outcomes final).
        facts: (namespace, ``kind/name``) -> its observed facts
            ``(ts, source, seq, applied hash, generation)`` in order.
        journals: The journals' names in a merged replay (cited seqs name theirs).
        only: Keep this workload only (``kind/name``), in any namespace.
    """
    # Grouped first (one dict lookup per restart), then counted per group.
    groups: dict[tuple[str | None, str], list[RestartEntry]] = {}
    for entry in restarts:
        key = (entry.namespace, entry.workload)
        group = groups.get(key)
        if group is None:
            groups[key] = [entry]
        else:
            group.append(entry)
    if only is not None:
        groups = {key: group for key, group in groups.items() if key[1] == only}
    views: dict[str, dict[str, Any]] = {}
    for namespace, workload in facts:
        if only is None or workload == only:
            groups.setdefault((namespace, workload), [])
    for (namespace, workload), group in groups.items():
        kind, _, name = workload.partition("/")
        outcomes = Counter(map(_outcome_of, group))
        rolled = None
        for entry in group:
            if (
                entry.outcome in _ROLLED
                and entry.rolled_ts is not None
                and (rolled is None or (rolled.rolled_ts or "") <= entry.rolled_ts)
            ):
                rolled = entry
        observed = facts.get((namespace, workload))
        views[workload_id(namespace, workload)] = {
            "namespace": namespace,
            "kind": kind,
            "name": name,
            "restarts": len(group),
            "retries": sum(map(_retries_of, group)),
            "pending": outcomes.get("pending", 0),
            "outcomes": dict(sorted(outcomes.items())),
            "last_restart": None if rolled is None else _last_restart(rolled, journals),
            "applied_hash": _applied(rolled, observed),
            "observations": len(observed) if observed else 0,
        }
    return dict(sorted(views.items()))


def _last_restart(entry: RestartEntry, journals: Sequence[str] | None) -> dict[str, Any]:
    """The last roll: the seq and time it was patched (or seen landed), what it rolled."""
    document = {
        "seq": entry.outcome_seq,
        "ts": entry.rolled_ts,
        "outcome": entry.outcome,
        "configmap": entry.configmap,
        "data_hash": entry.data_hash,
        "correlation_id": entry.correlation_id,
    }
    if journals is not None:
        document["journal"] = journals[entry.outcome_source]
    return document


def _applied(
    rolled: RestartEntry | None,
    observed: list[tuple[str, int, int, str | None, int | None]] | None,
) -> str | None:
    """The hash last known on the pod template: the later of the last roll and observation."""
    fact = observed[-1] if observed else None
    if rolled is None:
        return None if fact is None else fact[3]
    if fact is None or (rolled.rolled_ts or "") > fact[0]:
        return rolled.data_hash
    return fact[3]


__all__ = ["workload_id", "workloads_view"]
