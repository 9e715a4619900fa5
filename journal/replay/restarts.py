"""Restarts: ConfigMap changes, the restarts they cause, and how each one ended.

Per ConfigMap: its data hash, last change, last restart, restart count and
whether a change is still pending. Per restart (:class:`RestartEntry`): its
outcome, retries, rollout result and the latency from the change's
``configmap.observed`` to ``restart.patched``. The anomalies one record shows
are reported as they go: ``restart_without_change``, ``slo_breach``,
``dropped_restart``, ``rollout_timeout``; the rest are judged at the window's
end (:mod:`journal.replay.anomalies`) from what this module keeps.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Any

from journal.replay.anomalies import Anomalies
from journal.replay.entries import Change, ConfigMapState, RestartEntry, cited_restart
from journal.replay.rows import (
    ACTOR,
    CORR,
    DATA,
    EPOCH,
    KIND,
    NS,
    OBJ,
    SEQ,
    TS,
    Payloads,
    is_count,
    keys,
    reader,
    scan_json,
    seconds,
    source_label,
    workload_key,
)
from records import ConfigMapObserved, RestartPatched, RestartPlanned, source_object
from records import kinds as k

# The kinds met at every change read only the fields they need (the rest
# read the whole typed payload, Payloads.of).
# configmap.observed, the hottest kind (every relisted ConfigMap), reads its
# two fields inline by their catalogue-checked keys: no call per row.
_EVENT_TYPE, _DATA_HASH = keys(ConfigMapObserved, "event_type", "data_hash")
_NO_DATA: dict[str, Any] = {}  # read only
_NOT_LEADER = k.SKIP_NOT_LEADER  # read after every relisted ConfigMap: a global, not an attribute
# The objects of sources (the records about a ConfigMap or a Secret).
_SOURCE_PREFIXES = ("configmap/", "secret/")
_planned_fields = reader(RestartPlanned, "configmap", "data_hash")
_patched_fields = reader(RestartPatched, "configmap", "data_hash", "generation")


class Restarts:
    """ConfigMaps and restarts of a replay, built from the records fed in order."""

    def __init__(self, payloads: Payloads, anomalies: Anomalies) -> None:
        """Start empty; ``slo_seconds`` is set by the projector as settings change."""
        self._payloads = payloads
        self._anomalies = anomalies
        self._journals = anomalies.journals
        self._merged = anomalies.merged
        self.slo_seconds = 0.0
        self.configmaps: dict[tuple[str | None, str], ConfigMapState] = {}
        self._by_object: dict[str, ConfigMapState] = {}
        self._shared: dict[Any, Any] = {}
        self._corr_cm: dict[tuple[int, str], ConfigMapState] = {}
        self.inflight: dict[tuple[int, str, str], RestartEntry] = {}
        self._awaiting_rollout: dict[tuple[int, str, str], RestartEntry] = {}
        self.restarts: list[RestartEntry] = []
        self.latencies = array("d")
        # Restarts whose writer restarted before answering them, with what
        # planned_without_outcome would say if the journal cannot settle them.
        self.unanswered: list[tuple[RestartEntry, int, str]] = []
        # (namespace, workload) -> its deployment.observed facts, in order:
        # (ts, source, seq, applied hash, generation).
        self.deployments: dict[
            tuple[str | None, str], list[tuple[str, int, int, str | None, int | None]]
        ] = {}

    def handlers(self) -> dict[str, Any]:
        """The handler of each kind this module projects."""
        return {
            k.CONFIGMAP_OBSERVED: self.observed,
            k.DEBOUNCE_SCHEDULED: self.scheduled,
            k.DEBOUNCE_SKIPPED: self.skipped,
            k.RESTART_PLANNED: self.planned,
            k.RESTART_PATCHED: self.patched,
            k.RESTART_RETRY: self.retry,
            k.RESTART_FAILED: self.failed,
            k.RESTART_DROPPED: self.dropped,
            k.RESTART_SUPERSEDED: self.superseded,
            k.DEPLOYMENT_OBSERVED: self.deployment_observed,
            k.ROLLOUT_COMPLETED: self.rollout,
            k.ROLLOUT_TIMEOUT: self.rollout,
            k.ROLLOUT_SKIPPED: self.rollout,
        }

    # -- finding the ConfigMap ----------------------------------------------------

    def _configmap(self, namespace: str | None, name: str) -> ConfigMapState:
        key = (namespace, name)
        cm = self.configmaps.get(key)
        if cm is None:
            cm = self.configmaps[key] = ConfigMapState(name=name, namespace=namespace)
        return cm

    def _cm_of_object(self, namespace: str | None, obj: str) -> ConfigMapState:
        cm = self._by_object.get(obj)
        if cm is not None and cm.namespace == namespace:
            return cm
        cm = self._configmap(namespace, source_label(obj))
        if obj not in self._by_object and obj.startswith(_SOURCE_PREFIXES):
            # The common case: one namespace. Only sources' objects, so a
            # hit tells the handlers the object names a ConfigMap or Secret.
            self._by_object[obj] = cm
        return cm

    def _cm_for(
        self, row: Sequence[Any], source: int, configmap: Any = None
    ) -> ConfigMapState | None:
        """Find the source a record is about: its object, the payload's name, its change.

        ``configmap`` is the restart payload's field: a ConfigMap's name, or
        ``secret/NAME`` (the label :func:`source_label` gives a Secret too).
        """
        obj = row[OBJ]
        if obj is not None and obj.startswith(_SOURCE_PREFIXES):
            return self._cm_of_object(row[NS], obj)
        if isinstance(configmap, str) and configmap:
            return self._configmap(row[NS], source_label(configmap))
        corr = row[CORR]
        if corr is not None:
            return self._corr_cm.get((source, corr))
        return None

    def configmap_of(self, entry: RestartEntry) -> ConfigMapState | None:
        """The ConfigMap a restart was planned for, if known."""
        if not entry.configmap:
            return None
        return self.configmaps.get((entry.namespace, entry.configmap))

    # -- ConfigMaps and debounce --------------------------------------------------

    def observed(self, row: Sequence[Any], source: int) -> None:
        """``configmap.observed``: a hash seen; a change when it differs (or is MODIFIED)."""
        # The hottest handler (every relisted ConfigMap): lookups inlined.
        obj = row[OBJ]
        if not obj:
            return
        cm = self._by_object.get(obj)
        if cm is None or cm.namespace != row[NS]:
            cm = self._cm_of_object(row[NS], obj)
        # Observations carry a resource version: rarely worth the memo.
        try:  # parse_json, inlined: a call per row less
            data, _end = scan_json(row[DATA], 0)
        except (StopIteration, TypeError, ValueError):
            data = _NO_DATA
        if not isinstance(data, dict):
            data = _NO_DATA
        event_type, new_hash = data.get(_EVENT_TYPE), data.get(_DATA_HASH)
        cm.observations += 1
        corr = row[CORR]
        if corr is not None:
            self._corr_cm[(source, corr)] = cm
        first_sight = cm.last_observation is None
        cm.last_observation, cm.last_source = row, source
        previous = cm.data_hash
        if event_type == "DELETED":
            cm.deleted, cm.data_hash, cm.pending = True, None, None
            return
        cm.deleted = False
        cm.data_hash = new_hash if isinstance(new_hash, str) else None
        # A first sight is a baseline unless it reports a modification.
        changed = event_type == "MODIFIED" if first_sight else cm.data_hash != previous
        if not changed:
            return
        cm.last_change = (row, cm.data_hash, source)
        if cm.pending is None:
            cm.pending = Change(row[SEQ], row[TS], corr, source)

    def scheduled(self, row: Sequence[Any], source: int) -> None:
        """``debounce.scheduled``: the controller judged the last observation a change."""
        cm = self._cm_for(row, source)
        if cm is None or cm.pending is not None or cm.last_observation is None:
            return
        # The controller judged the last observation a change (e.g. a change
        # made while no controller ran): the change starts there, unless the
        # hash is one the Deployments already have.
        if cm.settled_all is None or cm.data_hash != cm.settled_all:
            seen = cm.last_observation
            cm.pending = Change(seen[SEQ], seen[TS], seen[CORR], cm.last_source)

    def skipped(self, row: Sequence[Any], source: int) -> None:
        """``debounce.skipped``: the change is settled (unless a standby skipped it)."""
        # After every relisted ConfigMap: the common lookup of _cm_for inlined.
        obj = row[OBJ]
        cm = self._by_object.get(obj) if obj is not None else None
        if cm is None or cm.namespace != row[NS]:  # only ConfigMaps are in _by_object
            cm = self._cm_for(row, source)
            if cm is None:
                return
        text = row[DATA]
        # A payload without the reason's text (nor an escape that could spell
        # it) has another reason: no need to parse it.
        maybe_not_leader = not isinstance(text, str) or _NOT_LEADER in text or "\\" in text
        if maybe_not_leader and self._payloads.of(row).reason == _NOT_LEADER:
            # A standby decided nothing: the Deployments' hashes are unknown to
            # it, so nothing is settled. Merged with the leader's journal, the
            # change stays pending until the leader acts on it; in one
            # standby's journal alone, the leader is out of sight.
            if not self._merged:
                cm.pending = None
            return
        cm.pending = None
        cm.settled_all = cm.data_hash
        if cm.settled:
            cm.settled.clear()
        if row[CORR] is not None:
            self._corr_cm.pop((source, row[CORR]), None)

    # -- restarts -----------------------------------------------------------------

    def planned(self, row: Sequence[Any], source: int) -> None:
        """``restart.planned``: a restart (or another attempt of one in flight)."""
        workload = workload_key(row[OBJ])
        corr = row[CORR]
        if corr is not None:
            entry = self.inflight.get((source, corr, workload))
            if entry is not None:
                # Another attempt of the same restart (same correlation id):
                # one restart, one more retry.
                entry.attempts += 1
                entry.retries = max(entry.retries, entry.attempts - 1)
                return
        configmap, target_hash = _planned_fields(self._payloads.data(row))
        cm = self._cm_for(row, source, configmap)
        if not isinstance(target_hash, str):
            target_hash = cm.data_hash if cm is not None else None
        change: Change | None = None
        if cm is not None:
            if cm.pending is not None:
                change = cm.consumed = cm.pending
                cm.pending = None
            elif cm.consumed is not None and cm.consumed.correlation_id == row[CORR]:
                change = cm.consumed  # another Deployment of the same change
            settled = cm.settled.get(workload, cm.settled_all)
            flagged = target_hash is not None and settled == target_hash
            if flagged:
                self._anomalies.report(
                    "restart_without_change",
                    row,
                    source,
                    f"restart of {workload} planned for data hash "
                    f"{target_hash[:12]} of {source_object(cm.name)}, which it already has",
                )
        entry = self._entry(row, source, workload, cm=cm, target_hash=target_hash, change=change)
        if cm is not None and flagged:
            entry.flagged = True
        self.restarts.append(entry)
        self.inflight[(source, row[CORR] or f"#{row[SEQ]}", workload)] = entry

    def _entry(
        self,
        row: Sequence[Any],
        source: int,
        workload: str,
        *,
        cm: ConfigMapState | None,
        target_hash: str | None,
        change: Change | None,
    ) -> RestartEntry:
        # Names repeat across restarts: keep one copy of each (fewer small
        # objects kept alive between pages, so less heap fragmentation).
        shared = self._shared
        merged = self._merged
        name = workload.partition("/")[2]
        return RestartEntry(
            seq=row[SEQ],
            ts=row[TS],
            namespace=shared.setdefault(row[NS], row[NS]),
            deployment=shared.setdefault(name, name),
            configmap=None if cm is None else cm.name,
            correlation_id=row[CORR],
            data_hash=target_hash,
            actor=shared.setdefault(row[ACTOR], row[ACTOR]),
            leader_epoch=row[EPOCH],
            journal=self._journals[source] if merged else None,
            change=change,
            change_seq=None if change is None else change.seq,
            change_journal=(
                self._journals[change.source] if change is not None and merged else None
            ),
            workload=shared.setdefault(workload, workload),
        )

    def _take_inflight(self, row: Sequence[Any], source: int, workload: str) -> RestartEntry | None:
        corr = row[CORR]
        if corr is not None:
            entry = self.inflight.pop((source, corr, workload), None)
            if entry is not None:
                return entry
        # Without a correlation id: the oldest open intent for the workload.
        for key, entry in self.inflight.items():
            if key[0] == source and key[2] == workload:
                del self.inflight[key]
                return entry
        return None

    def patched(self, row: Sequence[Any], source: int) -> None:
        """``restart.patched``: the restart landed; its latency and the SLO."""
        configmap, target_hash, generation = _patched_fields(self._payloads.data(row))
        workload = workload_key(row[OBJ])
        entry = self._take_inflight(row, source, workload)
        cm = self._cm_for(row, source, configmap)
        if entry is None:
            # The window starts after the intent: account the restart anyway.
            change = None
            if cm is not None and cm.pending is not None:
                change, cm.pending = cm.pending, None
            entry = self._entry(
                row,
                source,
                workload,
                cm=cm,
                target_hash=target_hash if isinstance(target_hash, str) else None,
                change=change,
            )
            self.restarts.append(entry)
        self._settle(entry, "patched", row, source)
        entry.patched_ts = entry.rolled_ts = row[TS]
        if is_count(generation):
            entry.generation = generation
        change, entry.change = entry.change, None
        if change is not None:
            latency = round(seconds(row[TS]) - seconds(change.ts), 6)
            entry.latency_seconds = latency
            self.latencies.append(latency)
            if latency > self.slo_seconds:
                self._anomalies.report(
                    "slo_breach",
                    row,
                    source,
                    f"{workload} patched {latency:.1f} s after the change at "
                    f"{self._anomalies.cite(change.seq, change.source)} "
                    f"(SLO {self.slo_seconds:g} s)",
                    latency_seconds=latency,
                )
        if cm is not None:
            cm.restarts += 1
            cm.last_restart = cited_restart(
                row[SEQ],
                row[TS],
                entry.deployment,
                row[CORR],
                workload=workload,
                journal=self._journals[source] if entry.journal is not None else None,
            )
            target = entry.data_hash or cm.data_hash
            if isinstance(target, str):
                cm.settled[workload] = target
        self._awaiting_rollout[(source, row[CORR] or "", workload)] = entry

    def _settle(self, entry: RestartEntry, outcome: str, row: Sequence[Any], source: int) -> None:
        entry.outcome = outcome
        entry.outcome_seq = row[SEQ]
        entry.outcome_source = source
        if entry.journal is not None:
            entry.outcome_journal = self._journals[source]

    def superseded(self, row: Sequence[Any], source: int) -> None:
        """``restart.superseded``: settled without a roll (the hash was applied already)."""
        workload = workload_key(row[OBJ])
        entry = self._take_inflight(row, source, workload)
        if entry is None:
            return
        self._settle(entry, "superseded", row, source)
        entry.change = None
        applied = self._payloads.of(row).applied_hash
        if not isinstance(applied, str):
            applied = entry.data_hash
        cm = self.configmap_of(entry)
        if cm is not None and isinstance(applied, str):
            cm.settled[workload] = applied

    def deployment_observed(self, row: Sequence[Any], source: int) -> None:
        """``deployment.observed``: the applied hash and generation, kept as evidence."""
        if not row[OBJ]:
            return
        workload = workload_key(row[OBJ])
        payload = self._payloads.of(row)
        applied, generation = payload.applied_hash, payload.generation
        facts = self.deployments.setdefault((row[NS], workload), [])
        facts.append(
            (
                row[TS],
                source,
                row[SEQ],
                applied if isinstance(applied, str) else None,
                generation if is_count(generation) else None,
            )
        )

    def retry(self, row: Sequence[Any], source: int) -> None:
        """``restart.retry``: one more retry of the restart in flight."""
        workload = workload_key(row[OBJ])
        corr = row[CORR]
        entry = self.inflight.get((source, corr, workload)) if corr is not None else None
        if entry is not None:
            entry.retries += 1

    def _restore_pending(self, entry: RestartEntry) -> None:
        change, entry.change = entry.change, None
        if change is None or entry.configmap is None:
            return
        cm = self.configmaps.get((entry.namespace, entry.configmap))
        if cm is not None and cm.pending is None:
            cm.pending = change

    def failed(self, row: Sequence[Any], source: int) -> None:
        """``restart.failed``: given up; the change is pending again."""
        self._ended_without_patch(row, source, "failed")

    def dropped(self, row: Sequence[Any], source: int) -> None:
        """``restart.dropped``: ended by shutdown; an anomaly."""
        entry = self._ended_without_patch(row, source, "dropped")
        reason = self._payloads.of(row).reason
        fallback = entry.workload if entry else "deployment/?"
        target = workload_key(row[OBJ]) if row[OBJ] else fallback
        self._anomalies.report(
            "dropped_restart",
            row,
            source,
            f"restart of {target} dropped"
            + (f": {reason}" if isinstance(reason, str) and reason else ""),
        )

    def _ended_without_patch(
        self, row: Sequence[Any], source: int, outcome: str
    ) -> RestartEntry | None:
        entry = self._take_inflight(row, source, workload_key(row[OBJ]))
        if entry is None:
            return None
        self._settle(entry, outcome, row, source)
        # The change is still not rolled out: it is pending again, and the
        # level-triggered resync should restart it later.
        self._restore_pending(entry)
        return entry

    def rollout(self, row: Sequence[Any], source: int) -> None:
        """``rollout.completed``/``timeout``/``skipped``: how the patched restart rolled.

        ``skipped``: an ``OnDelete`` workload, whose pods take the template only
        once deleted; the controller did not follow it (no anomaly).
        """
        workload = workload_key(row[OBJ])
        entry = self._awaiting_rollout.pop((source, row[CORR] or "", workload), None)
        result = {k.ROLLOUT_COMPLETED: "completed", k.ROLLOUT_SKIPPED: "skipped"}.get(
            row[KIND], "timeout"
        )
        if entry is not None:
            entry.rollout = result
            entry.rollout_seq = row[SEQ]
        if row[CORR] is not None:
            self._corr_cm.pop((source, row[CORR]), None)
        if result == "timeout":
            self._anomalies.report(
                "rollout_timeout",
                row,
                source,
                f"{workload} was patched but its rollout did not complete",
            )

    # -- a process restarted ---------------------------------------------------------

    def abandon(self, row: Sequence[Any], source: int) -> None:
        """A new process of the row's actor: its restarts still in flight lost their answer."""
        actor = row[ACTOR]
        for key, entry in list(self.inflight.items()):
            if key[0] == source and entry.actor == actor:
                # Judged at the end, from what the journal shows later.
                del self.inflight[key]
                entry.outcome = "abandoned"
                self.unanswered.append(
                    (
                        entry,
                        source,
                        f": {actor} restarted at {self._anomalies.cite(row[SEQ], source)}",
                    )
                )
                self._restore_pending(entry)


__all__ = ["Restarts"]
