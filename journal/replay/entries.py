"""What replay keeps per ConfigMap and per restart, and how each is reported."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from journal.replay.rows import CORR, SEQ, TS


@dataclass(slots=True)
class Change:
    seq: int
    ts: str
    correlation_id: str | None
    source: int


@dataclass(slots=True)
class ConfigMapState:
    name: str
    namespace: str | None
    data_hash: str | None = None
    deleted: bool = False
    observations: int = 0
    last_observation: Sequence[Any] | None = None
    last_source: int = 0
    # The observation that last changed the data and the hash it reported
    # (made an object only for the report: changes can be frequent).
    last_change: tuple[Sequence[Any], str | None, int] | None = None
    last_restart: dict[str, Any] | None = None
    restarts: int = 0
    pending: Change | None = None
    consumed: Change | None = None
    settled_all: str | None = None
    settled: dict[str, str] = field(default_factory=dict)

    def to_json(self, pending: bool, journals: Sequence[str] | None = None) -> dict[str, Any]:
        """Return the ConfigMap's report; ``journals`` (merged replays) names cited journals."""
        document = {
            "namespace": self.namespace,
            "data_hash": self.data_hash,
            "deleted": self.deleted,
            "observations": self.observations,
            "last_change": (
                None
                if self.last_change is None
                else {
                    "seq": self.last_change[0][SEQ],
                    "ts": self.last_change[0][TS],
                    "correlation_id": self.last_change[0][CORR],
                    "data_hash": self.last_change[1],
                }
            ),
            "last_restart": self.last_restart,
            "restarts": self.restarts,
            "pending": pending,
            "pending_since": (
                None if self.pending is None else {"seq": self.pending.seq, "ts": self.pending.ts}
            ),
        }
        if journals is not None:
            if self.last_change is not None:
                document["last_change"]["journal"] = journals[self.last_change[2]]
            if self.pending is not None:
                document["pending_since"]["journal"] = journals[self.pending.source]
        return document


def cited_restart(
    seq: int,
    ts: str,
    deployment: str,
    correlation_id: str | None,
    *,
    workload: str,
    journal: str | None,
) -> dict[str, Any]:
    """A ConfigMap's ``last_restart``: the seq and time of the roll, and what it rolled.

    ``workload`` is named unless it is a Deployment; ``journal`` only in a
    merged replay, where seqs are per journal.
    """
    document: dict[str, Any] = {
        "seq": seq,
        "ts": ts,
        "deployment": deployment,
        "correlation_id": correlation_id,
    }
    if not workload.startswith("deployment/"):
        document["workload"] = workload
    if journal is not None:
        document["journal"] = journal
    return document


@dataclass(slots=True)
class RestartEntry:
    """One planned (or, when the window starts late, patched) restart.

    Slots, not a dict: a replay may hold hundreds of thousands of them.
    """

    seq: int
    ts: str
    namespace: str | None
    deployment: str
    configmap: str | None
    correlation_id: str | None
    data_hash: str | None
    actor: str
    leader_epoch: int | None
    journal: str | None = None
    change: Change | None = None
    change_seq: int | None = None
    outcome: str = "pending"
    outcome_seq: int | None = None
    patched_ts: str | None = None
    latency_seconds: float | None = None
    retries: int = 0
    rollout: str | None = None
    rollout_seq: int | None = None
    # Set only in a merged replay: the journals of ``change_seq`` and
    # ``outcome_seq`` (a change or a landing may be seen by another replica).
    change_journal: str | None = None
    outcome_journal: str | None = None
    # Bookkeeping, not reported: ``restart.planned`` records of this restart,
    # where its outcome was journaled, when its pods rolled, the generation its
    # patch answered with, and whether restart_without_change reported it.
    attempts: int = 1
    outcome_source: int = 0
    rolled_ts: str | None = None
    generation: int | None = None
    flagged: bool = False
    # The workload as ``kind/name`` (``deployment`` above is its name alone).
    workload: str = ""

    def to_json(self) -> dict[str, Any]:
        """Return the restart as an object of ``replay -o json``'s ``restarts``."""
        entry = {
            "seq": self.seq,
            "ts": self.ts,
            "namespace": self.namespace,
            "deployment": self.deployment,
            "configmap": self.configmap,
            "correlation_id": self.correlation_id,
            "data_hash": self.data_hash,
            "actor": self.actor,
            "leader_epoch": self.leader_epoch,
            "change_seq": self.change_seq,
            "outcome": self.outcome,
            "outcome_seq": self.outcome_seq,
            "patched_ts": self.patched_ts,
            "latency_seconds": self.latency_seconds,
            "retries": self.retries,
            "rollout": self.rollout,
            "rollout_seq": self.rollout_seq,
        }
        if not self.workload.startswith("deployment/"):
            # A StatefulSet's or DaemonSet's restart says which (a Deployment's
            # is as it always was).
            entry["workload"] = self.workload
        if self.journal is not None:
            entry["journal"] = self.journal
            entry["change_journal"] = self.change_journal
            entry["outcome_journal"] = self.outcome_journal
        return entry


__all__ = ["Change", "ConfigMapState", "RestartEntry"]
