"""The view per workload: what replay knows of each Deployment, StatefulSet and DaemonSet.

Built once at the window's end from the restarts (:class:`RestartEntry`,
already judged) and the ``deployment.observed`` facts the projection keeps,
so the feed loop pays nothing for it. Keyed ``namespace/kind/name``
(``kind/name`` for records without a namespace), in key order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from journal.replay.entries import RestartEntry

#: Outcomes that rolled the workload's pods.
_ROLLED = ("patched", "landed")


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
    views: dict[str, dict[str, Any]] = {}
    outcomes: dict[str, Counter[str]] = {}
    last: dict[str, RestartEntry] = {}

    def view(namespace: str | None, workload: str) -> dict[str, Any]:
        key = workload_id(namespace, workload)
        found = views.get(key)
        if found is None:
            kind, _, name = workload.partition("/")
            found = views[key] = {
                "namespace": namespace,
                "kind": kind,
                "name": name,
                "restarts": 0,
                "retries": 0,
                "pending": 0,
                "outcomes": {},
                "last_restart": None,
                "applied_hash": None,
                "observations": 0,
            }
            outcomes[key] = Counter()
        return found

    for entry in restarts:
        if only is not None and entry.workload != only:
            continue
        found = view(entry.namespace, entry.workload)
        key = workload_id(entry.namespace, entry.workload)
        found["restarts"] += 1
        found["retries"] += entry.retries
        outcomes[key][entry.outcome] += 1
        if entry.outcome == "pending":
            found["pending"] += 1
        if entry.outcome in _ROLLED and entry.rolled_ts is not None:
            previous = last.get(key)
            if previous is None or (previous.rolled_ts or "") <= entry.rolled_ts:
                last[key] = entry
    for (namespace, workload), observed in facts.items():
        if only is not None and workload != only:
            continue
        found = view(namespace, workload)
        found["observations"] = len(observed)
    for key, found in views.items():
        found["outcomes"] = dict(sorted(outcomes[key].items()))
        rolled = last.get(key)
        if rolled is not None:
            found["last_restart"] = _last_restart(rolled, journals)
        found["applied_hash"] = _applied(
            rolled, facts.get((found["namespace"], f"{found['kind']}/{found['name']}"))
        )
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
