"""Builders of realistic controller record chains with chosen timestamps.

Replay, drill and CLI tests describe what a controller did as a short script
(observed, scheduled, planned, patched, ...) at given seconds after a fixed
moment, so that the expected projections can be read off the script.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from journal import Journal, Record, kinds

BASE = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
NAMESPACE = "shipshape"


def at(seconds: float) -> datetime:
    """Return the moment ``seconds`` after :data:`BASE`."""
    return BASE + timedelta(seconds=seconds)


def workload(name: str) -> str:
    """The object column of a workload: ``statefulset/db`` as given, a bare name a Deployment's."""
    return name if "/" in name else f"deployment/{name}"


def data_hash(text: str) -> str:
    """Return a SHA-256 like the controller's hash of a ConfigMap's data."""
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Controller:
    """Writes one controller replica's records into its journal.

    Attributes:
        journal: The replica's journal (opened with the replica's actor).
        epoch: The leader epoch stamped on leader actions (``None``: not leading).
        namespace: The namespace of the records it writes.
    """

    journal: Journal
    epoch: int | None = None
    namespace: str = NAMESPACE

    def _append(self, kind: str, t: float, **fields: Any) -> Record:
        return self.journal.append(kind, namespace=self.namespace, ts=at(t), **fields)

    def started(self, t: float, debounce: float | None = None) -> Record:
        data = {"debounce_seconds": debounce} if debounce is not None else {}
        return self._append(kinds.CONTROLLER_STARTED, t, data=data)

    def observed(
        self,
        t: float,
        cm: str,
        value: str,
        *,
        event: str = "MODIFIED",
        corr: str | None = None,
        rv: str | None = None,
        source: str | None = None,
    ) -> Record:
        data: dict[str, Any] = {
            "event_type": event,
            "resource_version": rv or str(int(t * 10)),
            "data_hash": data_hash(value),
            "changed_keys": ["MESSAGE"] if event == "MODIFIED" else [],
        }
        if event == "DELETED":
            data.pop("data_hash")
        if source is not None:
            data["source"] = source
        return self._append(
            kinds.CONFIGMAP_OBSERVED,
            t,
            object=f"configmap/{cm}",
            correlation_id=corr,
            data=data,
        )

    def scheduled(self, t: float, cm: str, corr: str) -> Record:
        return self._append(
            kinds.DEBOUNCE_SCHEDULED,
            t,
            object=f"configmap/{cm}",
            correlation_id=corr,
            leader_epoch=self.epoch,
            data={"fire_at": at(t + 5).isoformat()},
        )

    def skipped(self, t: float, cm: str, reason: str, corr: str | None = None) -> Record:
        return self._append(
            kinds.DEBOUNCE_SKIPPED,
            t,
            object=f"configmap/{cm}",
            correlation_id=corr,
            leader_epoch=self.epoch,
            data={"reason": reason},
        )

    def _restart(
        self,
        kind: str,
        t: float,
        target: tuple[str, str, str, str | None],
        **extra: Any,
    ) -> Record:
        deployment, cm, value, corr = target
        return self._append(
            kind,
            t,
            object=workload(deployment),
            correlation_id=corr,
            leader_epoch=self.epoch,
            data={"configmap": cm, "data_hash": data_hash(value), **extra},
        )

    def planned(self, t: float, deployment: str, cm: str, value: str, corr: str | None) -> Record:
        return self._restart(kinds.RESTART_PLANNED, t, (deployment, cm, value, corr))

    def patched(
        self,
        t: float,
        deployment: str,
        cm: str,
        value: str,
        corr: str | None,
        *,
        generation: int | None = None,
    ) -> Record:
        extra = {} if generation is None else {"generation": generation}
        return self._restart(kinds.RESTART_PATCHED, t, (deployment, cm, value, corr), **extra)

    def superseded(
        self, t: float, deployment: str, cm: str, value: str, corr: str | None, *, applied: str
    ) -> Record:
        """The conditional patch found ``applied``'s hash already there: no roll."""
        return self._restart(
            kinds.RESTART_SUPERSEDED,
            t,
            (deployment, cm, value, corr),
            reason="precondition-failed",
            applied_hash=data_hash(applied),
            planned_hash=data_hash(value),
        )

    def deployment(
        self, t: float, deployment: str, applied: str | None, generation: int, *, event="MODIFIED"
    ) -> Record:
        """A ``deployment.observed``: the hash applied on the pod template, the generation."""
        return self._append(
            kinds.DEPLOYMENT_OBSERVED,
            t,
            object=workload(deployment),
            data={
                "event_type": event,
                "source": "watch",
                "resource_version": str(int(t * 10)),
                "target": None,
                "applied_hash": None if applied is None else data_hash(applied),
                "generation": generation,
            },
        )

    def retry(self, t: float, deployment: str, cm: str, value: str, corr: str | None) -> Record:
        return self._restart(kinds.RESTART_RETRY, t, (deployment, cm, value, corr), attempt=1)

    def failed(self, t: float, deployment: str, cm: str, value: str, corr: str | None) -> Record:
        return self._restart(kinds.RESTART_FAILED, t, (deployment, cm, value, corr))

    def dropped(self, t: float, deployment: str, cm: str, value: str, corr: str | None) -> Record:
        return self._restart(
            kinds.RESTART_DROPPED, t, (deployment, cm, value, corr), reason="lost leadership"
        )

    def rollout(self, t: float, deployment: str, corr: str | None, *, ok: bool = True) -> Record:
        kind = kinds.ROLLOUT_COMPLETED if ok else kinds.ROLLOUT_TIMEOUT
        return self._append(kind, t, object=workload(deployment), correlation_id=corr)

    def restart_chain(
        self, t: float, cm: str, deployment: str, value: str, *, patch_after: float = 5.5
    ) -> str:
        """Write a whole change: observed, scheduled, planned, patched, rollout completed."""
        corr = str(uuid.uuid4())
        self.observed(t, cm, value, corr=corr)
        self.scheduled(t + 0.01, cm, corr)
        self.planned(t + patch_after - 0.5, deployment, cm, value, corr)
        self.patched(t + patch_after, deployment, cm, value, corr)
        self.rollout(t + patch_after + 20, deployment, corr)
        return corr

    def acquired(self, t: float, epoch: int) -> Record:
        self.epoch = epoch
        return self._append(
            kinds.LEADER_ACQUIRED,
            t,
            object="lease/helloworld-controller-leader",
            leader_epoch=epoch,
            data={"epoch": epoch},
        )

    def released(self, t: float) -> Record:
        record = self._append(
            kinds.LEADER_RELEASED,
            t,
            object="lease/helloworld-controller-leader",
            leader_epoch=self.epoch,
        )
        self.epoch = None
        return record

    def lost(self, t: float) -> Record:
        record = self._append(
            kinds.LEADER_LOST,
            t,
            object="lease/helloworld-controller-leader",
            leader_epoch=self.epoch,
        )
        self.epoch = None
        return record

    def observed_leader(self, t: float, holder: str, epoch: int) -> Record:
        return self._append(
            kinds.LEADER_OBSERVED,
            t,
            object="lease/helloworld-controller-leader",
            data={"holder": holder, "epoch": epoch},
        )

    def note(self, t: float, text: str, **data: Any) -> Record:
        return self.journal.append(kinds.OPERATOR_NOTE, ts=at(t), data={"text": text, **data})


def failover_drill(
    zero: Controller, one: Controller, before: Callable[[], object] | None = None
) -> tuple[Record, Record, Record]:
    """Write a DR drill: replica 0 leads, the drill kills it, the standby (1) takes over.

    ``before`` writes more records between t=4 and t=99, before the start mark.
    Returns the start mark (in 0's journal), the takeover and the end mark (in 1's).
    """
    for replica in (zero, one):
        replica.started(0)
    zero.acquired(1, epoch=1)
    one.observed_leader(1.5, "helloworld-controller-0", 1)
    for replica in (zero, one):
        replica.observed(2, "helloworld-config-test", "test-v1", event="ADDED")
        replica.observed(3, "helloworld-config-prod", "prod-v1", event="ADDED")
    zero.skipped(3.1, "helloworld-config-test", "adopted")
    zero.skipped(3.2, "helloworld-config-prod", "adopted")
    if before is not None:
        before()
    start = zero.note(100, "kill the leader", drill="start", scenario="leader-loss")
    takeover = one.acquired(160, epoch=2)  # replica 0 died without a word
    one.observed(161, "helloworld-config-test", "test-v1", event="ADDED")
    one.observed(162, "helloworld-config-prod", "prod-v1", event="ADDED")
    end = one.note(300, "standby leads", drill="end")
    return start, takeover, end
