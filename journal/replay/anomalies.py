"""Anomalies: where they are recorded, and those judged at the window's end.

Handlers report what one record shows (a dropped restart, a split-brain) as
they go, through :class:`Anomalies`. What only the whole window can show is
judged here by :func:`judge_window` once the last record is in: restarts
that never got an answer (``planned_without_outcome``, or settled as
``landed``/``lost`` by later ``deployment.observed`` records), a Deployment
that rolled one hash twice (``duplicate_rollout``) and a change nothing
restarted (``change_without_restart``).
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from journal.replay.entries import cited_restart
from journal.replay.rows import ACTOR, CORR, SEQ, TS, seconds
from records import source_object

if TYPE_CHECKING:
    from journal.replay.entries import ConfigMapState, RestartEntry
    from journal.replay.restarts import Restarts

ANOMALY_TYPES: tuple[str, ...] = (
    "change_without_restart",
    "restart_without_change",
    "planned_without_outcome",
    "dropped_restart",
    "overlapping_leaders",
    "leaderless_gap",
    "slo_breach",
    "rollout_timeout",
    "duplicate_rollout",
    "clock_skew",
)


class Anomalies:
    """The anomalies found so far, each pointing at the seq (and journal) that shows it."""

    def __init__(self, journals: Sequence[str]) -> None:
        """Start empty; ``journals`` names the journals of a merged replay."""
        self.journals = journals
        self.merged = len(journals) > 1
        self.found: list[dict[str, Any]] = []

    def cite(self, seq: int | None, source: int) -> str:
        """Name a seq in a message: ``seq N``, and its journal in a merged replay."""
        if self.merged:
            return f"seq {seq} of {self.journals[source]}"
        return f"seq {seq}"

    def report(
        self, kind: str, row: Sequence[Any], source: int, message: str, **extra: Any
    ) -> None:
        """Record an anomaly that the record ``row`` of journal ``source`` shows."""
        self.at(
            kind,
            row[SEQ],
            row[TS],
            source,
            message,
            actor=row[ACTOR],
            correlation_id=row[CORR],
            **extra,
        )

    def at(
        self,
        kind: str,
        seq: int,
        ts: str,
        source: int,
        message: str,
        *,
        actor: str | None = None,
        correlation_id: str | None = None,
        **extra: Any,
    ) -> None:
        """Record an anomaly at ``seq`` (and ``ts``) of journal ``source``."""
        entry = {
            "type": kind,
            "seq": seq,
            "ts": ts,
            "actor": actor,
            "correlation_id": correlation_id,
            "message": message,
            **extra,
        }
        if self.merged:
            entry["journal"] = self.journals[source]
        self.found.append(entry)

    def in_order(self) -> list[dict[str, Any]]:
        """The anomalies in time order (then seq)."""
        return sorted(self.found, key=lambda a: (a["ts"], a["seq"]))


def judge_window(restarts: Restarts, anomalies: Anomalies, end: str | None, slo: float) -> None:
    """Judge the restarts still unanswered when the window ends at ``end``."""
    unanswered = restarts.unanswered
    if end is not None:
        end_seconds = seconds(end)
        for entry in restarts.inflight.values():
            age = end_seconds - seconds(entry.ts)
            if age > slo:
                entry.outcome = "none"
                source = source_of(anomalies, entry)
                unanswered.append((entry, source, f" {age:.0f} s later"))
    for entry, source, why in sorted(unanswered, key=lambda item: item[0].ts):
        _resolve(restarts, anomalies, entry, source, why)
    _duplicate_rollouts(restarts, anomalies)


def still_pending(cm: ConfigMapState, anomalies: Anomalies, end: str | None, slo: float) -> bool:
    """Tell whether a ConfigMap's change is pending; one older than the SLO is an anomaly."""
    change = cm.pending
    if change is None:
        return False
    if end is None:
        return True
    age = seconds(end) - seconds(change.ts)
    if age <= slo:
        return True
    anomalies.at(
        "change_without_restart",
        change.seq,
        change.ts,
        change.source,
        f"{source_object(cm.name)} changed at seq {change.seq} and nothing restarted "
        f"its Deployments in the {age:.0f} s that followed (SLO {slo:g} s)",
        correlation_id=change.correlation_id,
    )
    return False


def source_of(anomalies: Anomalies, entry: RestartEntry) -> int:
    """The journal index of a restart's intent."""
    return anomalies.journals.index(entry.journal) if entry.journal else 0


def _after(entry: RestartEntry, source: int, ts: str, fact_source: int, seq: int) -> bool:
    """Tell whether a record (``ts``, journal, seq) follows the restart's intent."""
    if fact_source == source:
        return seq > entry.seq
    return ts > entry.ts


def _resolve(
    restarts: Restarts, anomalies: Anomalies, entry: RestartEntry, source: int, why: str
) -> None:
    """Settle a restart whose writer never answered it, from later evidence.

    ``landed``: a later ``deployment.observed`` of the Deployment reports
    the planned hash applied, at a generation no other restart's patch
    answered with (so this restart's patch brought it; the answer was
    lost). ``lost``: the Deployment was observed afterwards but not so.
    Otherwise the journal cannot tell: ``planned_without_outcome``.
    """
    key = (entry.namespace, entry.workload)
    facts = [
        fact
        for fact in restarts.deployments.get(key, ())
        if _after(entry, source, fact[0], fact[1], fact[2])
    ]
    if not facts:
        anomalies.at(
            "planned_without_outcome",
            entry.seq,
            entry.ts,
            source,
            f"restart of {entry.workload} planned at "
            f"{anomalies.cite(entry.seq, source)} has no outcome{why}",
            actor=entry.actor,
            correlation_id=entry.correlation_id,
        )
        return
    answered = {
        (other.data_hash, other.generation)
        for other in restarts.restarts
        if other is not entry
        and other.outcome == "patched"
        and other.generation is not None
        and other.workload == entry.workload
        and other.namespace == entry.namespace
    }
    landing = next(
        (
            fact
            for fact in facts
            if fact[3] is not None
            and fact[3] == entry.data_hash
            and (fact[4] is None or (fact[3], fact[4]) not in answered)
        ),
        None,
    )
    shown = landing or facts[0]
    entry.outcome = "landed" if landing is not None else "lost"
    entry.outcome_seq, entry.outcome_source = shown[2], shown[1]
    if entry.journal is not None:
        entry.outcome_journal = anomalies.journals[shown[1]]
    if landing is None:
        return
    entry.rolled_ts = landing[0]
    cm = restarts.configmap_of(entry)
    if cm is None:
        return
    cm.restarts += 1
    if cm.last_restart is None or cm.last_restart["ts"] <= landing[0]:
        cm.last_restart = cited_restart(
            landing[2],
            landing[0],
            entry.deployment,
            entry.correlation_id,
            workload=entry.workload,
            journal=anomalies.journals[landing[1]] if anomalies.merged else None,
        )
    if cm.pending is not None and cm.pending.seq == entry.change_seq:
        cm.pending = None  # the change it planned for did roll out


def _duplicate_rollouts(restarts: Restarts, anomalies: Anomalies) -> None:
    """Report a Deployment that rolled the same hash twice in a row."""
    # Per Deployment, in time order: rolls (patched or landed restarts)
    # and the applied hashes observed between them.
    events: dict[tuple[str | None, str], list[tuple[str, int, Any]]] = {}
    for entry in restarts.restarts:
        if entry.rolled_ts is not None and entry.outcome in ("patched", "landed"):
            key = (entry.namespace, entry.workload)
            events.setdefault(key, []).append((entry.rolled_ts, 1, entry))
    for key, rolls in events.items():
        facts = restarts.deployments.get(key)
        if facts:
            timeline = rolls + [(fact[0], 0, fact[3]) for fact in facts]
            timeline.sort(key=itemgetter(0, 1))
        else:
            timeline = rolls  # patched records: already in time order
        _duplicates_in(anomalies, timeline)


def _duplicates_in(anomalies: Anomalies, timeline: list[tuple[str, int, Any]]) -> None:
    previous: RestartEntry | None = None
    for _ts, what, item in timeline:
        if what == 0:
            if previous is not None and item is not None and item != previous.data_hash:
                previous = None  # another hash was applied in between
            continue
        entry = item
        if (
            previous is not None
            and entry.data_hash is not None
            and entry.data_hash == previous.data_hash
            and not entry.flagged
        ):
            anomalies.at(
                "duplicate_rollout",
                entry.outcome_seq if entry.outcome_seq is not None else entry.seq,
                entry.rolled_ts or entry.ts,
                entry.outcome_source,
                f"{entry.workload} rolled data hash {entry.data_hash[:12]} "
                f"twice in a row: the restart planned at "
                f"{anomalies.cite(previous.seq, source_of(anomalies, previous))} "
                f"({previous.outcome}) and the one planned at "
                f"{anomalies.cite(entry.seq, source_of(anomalies, entry))} ({entry.outcome})",
                actor=entry.actor,
                correlation_id=entry.correlation_id,
                first_seq=previous.seq,
            )
        previous = entry


__all__ = ["ANOMALY_TYPES", "Anomalies", "judge_window", "still_pending"]
