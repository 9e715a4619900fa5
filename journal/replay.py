"""Projections for ``replay``: rebuild what happened from the records alone.

One streaming pass over the records (one journal in seq order, or several
replicas' journals merged by time) builds:

- per ConfigMap: its data hash, last change, last restart, restart count and
  whether a change is still pending;
- every restart with its outcome, retries, rollout result and the latency
  from the change's ``configmap.observed`` to ``restart.patched``;
- latency percentiles (p50, p95, max);
- the leader terms (who led, under which epoch, from when to when);
- the anomalies, each pointing at the seq that shows it.

Anomaly types (docs/journal.md explains each with an example):

``change_without_restart``
    A ConfigMap's data changed and no restart, skip decision or failure
    followed within the restart SLO (``DEBOUNCE_SECONDS + 30 s``).
``restart_without_change``
    A restart was planned for a data hash the Deployment already had (settled
    by an earlier restart or an ``unchanged``/``adopted`` skip): a restart storm.
``planned_without_outcome``
    ``restart.planned`` never got an answer (``restart.patched``/``failed``/
    ``dropped``/``superseded``) because the controller restarted in between or
    none followed within the SLO, and the journal cannot settle it either: no
    ``deployment.observed`` of the Deployment follows it. (With one, the
    restart is ``landed`` or ``lost`` instead, see :meth:`Projector.finish`.)
``duplicate_rollout``
    One Deployment rolled the same data hash twice in a row (two ``patched``
    or ``landed`` restarts with no other applied hash observed between them),
    unless ``restart_without_change`` already reported the second one.
``dropped_restart``
    A ``restart.dropped`` record.
``overlapping_leaders``
    Two leaders at once: a replica acted under an epoch after another replica
    acquired a newer one (split-brain), or two acquisitions claim one epoch.
``leaderless_gap``
    No leader for longer than the threshold (default 30 s) between
    consecutive terms.
``slo_breach``
    ``configmap.observed`` to ``restart.patched`` took longer than the SLO.
``rollout_timeout``
    A ``rollout.timeout`` record: pods were patched but did not roll out.

Times that judge "too late" are measured against the last record of the
replayed window, never the wall clock, so a replay of an old journal gives
the same answer every time. The data fields read from each kind are listed in
docs/journal.md.
"""

from __future__ import annotations

import json
import math
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import IO, TYPE_CHECKING, Any

from journal import kinds as k
from journal.filters import Filters
from journal.merge import merged_rows
from journal.models import records

if TYPE_CHECKING:
    from journal.store import Journal

#: ``DEBOUNCE_SECONDS`` when no ``controller.started`` record says otherwise.
DEFAULT_DEBOUNCE_SECONDS = 5.0
#: The restart SLO allows ``DEBOUNCE_SECONDS`` plus this (the watch timeout).
SLO_MARGIN_SECONDS = 30.0
#: A leaderless stretch longer than this is an anomaly.
DEFAULT_LEADERLESS_GAP_SECONDS = 30.0

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
)

# Columns replay reads, in this order.
REPLAY_COLUMNS = (
    records.c.seq,
    records.c.ts,
    records.c.kind,
    records.c.namespace,
    records.c.object,
    records.c.correlation_id,
    records.c.actor,
    records.c.leader_epoch,
    records.c.data,
)
_SEQ, _TS, _KIND, _NS, _OBJ, _CORR, _ACTOR, _EPOCH, _DATA = range(9)
# Larger pages than interactive reads: fewer statements per million records.
REPLAY_PAGE_SIZE = 5000

# A standby's window closing without a decision (``debounce.skipped``).
_NOT_LEADER = "not-leader"

# Kinds done by the leader: acting under a superseded epoch is split-brain.
_LEADER_ACTIONS = frozenset(
    {k.RESTART_PLANNED, k.RESTART_PATCHED, k.RESTART_RETRY, k.RESTART_FLUSHED}
)


def _seconds(ts: str) -> float:
    return datetime.fromisoformat(ts).timestamp()


def _name(obj: str | None) -> str | None:
    if not obj:
        return None
    return obj.split("/", 1)[1] if "/" in obj else obj


# The C scanner behind json.loads, called directly: payloads are the journal's
# own canonical JSON, and a replay parses hundreds of thousands of them.
_scan_json = json.JSONDecoder().scan_once


def _parse_data(text: Any) -> dict[str, Any]:
    try:
        value, _end = _scan_json(text, 0)
    except (StopIteration, TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


# Short payloads repeat (``{"reason":"unchanged"}`` after every relisted
# ConfigMap, a leader's ``{"epoch":3,"holder":...}``): a projector parses each
# distinct one once. Bounded, so memory stays constant over any journal.
_MEMO_TEXT_MAX = 96
_MEMO_ENTRIES = 4096
_kind_of = itemgetter(_KIND)


def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """Return the nearest-rank percentile of already sorted values (``None`` if empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(slots=True)
class _Change:
    seq: int
    ts: str
    correlation_id: str | None
    source: int


@dataclass(slots=True)
class _ConfigMap:
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
    pending: _Change | None = None
    consumed: _Change | None = None
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
                    "seq": self.last_change[0][_SEQ],
                    "ts": self.last_change[0][_TS],
                    "correlation_id": self.last_change[0][_CORR],
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


@dataclass(slots=True)
class _Term:
    actor: str
    epoch: int | None
    start: str
    start_seq: int
    source: int
    how: str
    end: str | None = None
    end_seq: int | None = None
    end_reason: str | None = None
    end_source: int = 0

    def to_json(self, journals: Sequence[str] | None = None) -> dict[str, Any]:
        """Return the term; ``journals`` (merged replays) names the journal of each seq."""
        document = {
            "actor": self.actor,
            "epoch": self.epoch,
            "start": self.start,
            "end": self.end,
            "start_seq": self.start_seq,
            "end_seq": self.end_seq,
            "end_reason": self.end_reason,
            "how": self.how,
        }
        if journals is not None:
            document["journal"] = journals[self.source]
            document["end_journal"] = None if self.end_seq is None else journals[self.end_source]
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
    change: _Change | None = None
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
        if self.journal is not None:
            entry["journal"] = self.journal
            entry["change_journal"] = self.change_journal
            entry["outcome_journal"] = self.outcome_journal
        return entry


# ``replay -o json`` is indented by two spaces. Restarts are flat objects of
# scalars, so the C encoder (used by ``json.dumps`` only without ``indent``)
# writes a list of them in nearly their indented form when the item separator
# carries the line break and the indentation of their keys (level 3: document,
# "restarts", object); only the boundaries between objects need re-indenting.
# A string never holds a raw line break, so the boundary text is unambiguous.
_RESTART_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",\n      ", ": "))
_RESTART_BOUNDARY = ("},\n      {", "\n    },\n    {\n      ")
# Restarts converted per ``write()``: few calls, and never all of them in memory.
_RESTARTS_PER_WRITE = 1000


def _indented(value: Any) -> str:
    """Return ``value`` as ``json.dump(..., indent=2)`` writes it one level down."""
    # Strings never hold a raw line break, so every one is indentation.
    return json.dumps(value, ensure_ascii=False, indent=2).replace("\n", "\n  ")


def _write_restarts(stream: IO[str], restarts: Sequence[RestartEntry]) -> None:
    """Write ``restarts`` as ``json.dump(..., indent=2)`` would at level one."""
    if not restarts:
        stream.write("[]")
        return
    encode = _RESTART_ENCODER.encode
    boundary, indented = _RESTART_BOUNDARY
    for start in range(0, len(restarts), _RESTARTS_PER_WRITE):
        chunk = [entry.to_json() for entry in restarts[start : start + _RESTARTS_PER_WRITE]]
        # encode() gives '[{"seq": 1,\n      "ts": ...},\n      {...}]'.
        body = encode(chunk)[2:-2].replace(boundary, indented)
        stream.write(("[" if start == 0 else ",") + "\n    {\n      " + body + "\n    }")
    stream.write("\n  ]")


@dataclass
class ReplayReport:
    """The result of :func:`replay`; :meth:`to_json` is ``replay -o json``."""

    journals: list[str]
    filters: Filters
    events: int
    first: dict[str, Any] | None
    last: dict[str, Any] | None
    kinds: dict[str, int]
    configmaps: dict[str, dict[str, Any]]
    restarts: list[RestartEntry]
    latency: dict[str, Any]
    leader_terms: list[dict[str, Any]]
    anomalies: list[dict[str, Any]]
    thresholds: dict[str, float]

    def to_json(self, *, restarts: bool = True) -> dict[str, Any]:
        """Return the report as the ``replay -o json`` object.

        Args:
            restarts: Include ``restarts`` as a list of objects (``False``
                leaves them out, for callers that only summarise them).
        """
        document = {
            "journals": self.journals,
            "window": {
                "since": self.filters.since_text,
                "until": self.filters.until_text,
                "correlation_id": self.filters.correlation_id,
                "first": self.first,
                "last": self.last,
            },
            "thresholds": self.thresholds,
            "events": self.events,
            "kinds": self.kinds,
            "configmaps": self.configmaps,
            "restarts": [entry.to_json() for entry in self.restarts] if restarts else None,
            "restart_latency_seconds": self.latency,
            "leader_terms": self.leader_terms,
            "anomalies": self.anomalies,
        }
        if not restarts:
            del document["restarts"]
        return document

    def write_json(self, stream: IO[str], extra: dict[str, Any] | None = None) -> None:
        """Write the ``replay -o json`` document, converting restarts one at a time.

        Args:
            stream: Where to write.
            extra: Further top-level keys (``check``), written last.
        """
        document = {**self.to_json(restarts=False), **(extra or {})}
        # The same text as json.dump(document, indent=2) with "restarts" after
        # "configmaps", written key by key: the restarts go through the C
        # encoder a chunk at a time instead of the pure-Python indenting one.
        separator = "{\n  "
        for key, value in document.items():
            stream.write(f"{separator}{json.dumps(key, ensure_ascii=False)}: {_indented(value)}")
            separator = ",\n  "
            if key == "configmaps":
                stream.write(',\n  "restarts": ')
                _write_restarts(stream, self.restarts)
        stream.write("\n}\n")


class Projector:
    """Builds the replay projections from rows fed in order (one pass).

    Feed rows of :data:`REPLAY_COLUMNS` with :meth:`feed`, then call
    :meth:`finish`. ``source`` tells replicas' journals apart in a merged view.
    """

    def __init__(
        self,
        *,
        journals: Sequence[str] = ("journal",),
        debounce_seconds: float | None = None,
        leaderless_gap_seconds: float = DEFAULT_LEADERLESS_GAP_SECONDS,
    ) -> None:
        """Start empty; ``debounce_seconds`` overrides what ``controller.started`` says."""
        self._journals = list(journals)
        self._debounce_fixed = debounce_seconds
        self._debounce = DEFAULT_DEBOUNCE_SECONDS if debounce_seconds is None else debounce_seconds
        self._leaderless = leaderless_gap_seconds
        self.events = 0
        self._kinds: Counter[str] = Counter()
        self._parsed: dict[str, dict[str, Any]] = {}
        self._first: Sequence[Any] | None = None
        self._last: Sequence[Any] | None = None
        self._last_source = 0
        self._first_source = 0
        self._configmaps: dict[tuple[str | None, str], _ConfigMap] = {}
        self._by_object: dict[str, _ConfigMap] = {}
        self._shared: dict[Any, Any] = {}
        self._corr_cm: dict[tuple[int, str], _ConfigMap] = {}
        self._inflight: dict[tuple[int, str, str], RestartEntry] = {}
        self._awaiting_rollout: dict[tuple[int, str, str], RestartEntry] = {}
        self._restarts: list[dict[str, Any]] = []
        self._latencies = array("d")
        self._terms: list[_Term] = []
        self._open_terms: dict[str, _Term] = {}
        self._last_closed: _Term | None = None
        self._newest_epoch: int | None = None
        # actor -> (its superseded epoch, newer leader, newer epoch, since when)
        self._stale: dict[str, tuple[int | None, str, int | None, str]] = {}
        self._anomalies: list[dict[str, Any]] = []
        # Restarts whose writer restarted before answering them, with what
        # planned_without_outcome would say if the journal cannot settle them.
        self._unanswered: list[tuple[RestartEntry, int, str]] = []
        # (namespace, Deployment) -> its deployment.observed facts, in order:
        # (ts, source, seq, applied hash, generation).
        self._deployments: dict[
            tuple[str | None, str], list[tuple[str, int, int, str | None, int | None]]
        ] = {}
        self._handlers = {
            k.CONTROLLER_STARTED: self._controller_started,
            k.CONFIGMAP_OBSERVED: self._observed,
            k.DEBOUNCE_SCHEDULED: self._scheduled,
            k.DEBOUNCE_SKIPPED: self._skipped,
            k.RESTART_PLANNED: self._planned,
            k.RESTART_PATCHED: self._patched,
            k.RESTART_RETRY: self._retry,
            k.RESTART_FAILED: self._failed,
            k.RESTART_DROPPED: self._dropped,
            k.RESTART_SUPERSEDED: self._superseded,
            k.DEPLOYMENT_OBSERVED: self._deployment_observed,
            k.ROLLOUT_COMPLETED: self._rollout,
            k.ROLLOUT_TIMEOUT: self._rollout,
            k.LEADER_ACQUIRED: self._acquired,
            k.LEADER_LOST: self._leader_ended,
            k.LEADER_RELEASED: self._leader_ended,
            k.LEADER_OBSERVED: self._leader_observed,
        }

    @property
    def slo_seconds(self) -> float:
        """The restart SLO in seconds: ``DEBOUNCE_SECONDS + 30``."""
        return self._debounce + SLO_MARGIN_SECONDS

    # -- feeding ----------------------------------------------------------------

    def feed(self, row: Sequence[Any], source: int = 0) -> None:
        """Apply one record (a row of :data:`REPLAY_COLUMNS`) from journal ``source``."""
        self.events += 1
        kind = row[_KIND]
        self._kinds[kind] += 1
        if self._first is None:
            self._first, self._first_source = row, source
        self._last, self._last_source = row, source
        epoch = row[_EPOCH]
        actor = row[_ACTOR]
        if epoch is not None:
            self._leader_activity(row, source, actor, epoch, kind)
        handler = self._handlers.get(kind)
        if handler is not None:
            handler(row, source)

    def feed_all(self, rows: Iterable[tuple[int, Sequence[Any]]]) -> None:
        """Apply ``(source, row)`` pairs in order (the same as :meth:`feed` on each, faster)."""
        handlers = self._handlers
        counts = self._kinds
        leader_activity = self._leader_activity
        open_terms, stale = self._open_terms, self._stale
        events = 0
        row: Sequence[Any] | None = None
        source = 0
        for source, row in rows:
            if events == 0 and self._first is None:
                self._first, self._first_source = row, source
            events += 1
            kind = row[_KIND]
            counts[kind] = counts.get(kind, 0) + 1
            epoch = row[_EPOCH]
            # Leader bookkeeping only matters for a stale or an unknown leader.
            if epoch is not None and (stale or row[_ACTOR] not in open_terms):
                leader_activity(row, source, row[_ACTOR], epoch, kind)
            handler = handlers.get(kind)
            if handler is not None:
                handler(row, source)
        self.events += events
        if row is not None:
            self._last, self._last_source = row, source

    def feed_page(self, rows: Sequence[Sequence[Any]], source: int = 0) -> None:
        """Apply a page of rows from journal ``source`` in order (:meth:`feed` on each, faster)."""
        if not rows:
            return
        if self._first is None:
            self._first, self._first_source = rows[0], source
        self._kinds.update(map(_kind_of, rows))
        handler_of = self._handlers.get
        leader_activity = self._leader_activity
        open_terms, stale = self._open_terms, self._stale
        for row in rows:
            epoch = row[_EPOCH]
            # Leader bookkeeping only matters for a stale or an unknown leader.
            if epoch is not None and (stale or row[_ACTOR] not in open_terms):
                leader_activity(row, source, row[_ACTOR], epoch, row[_KIND])
            handler = handler_of(row[_KIND])
            if handler is not None:
                handler(row, source)
        self.events += len(rows)
        self._last, self._last_source = rows[-1], source

    # -- helpers ----------------------------------------------------------------

    def _data(self, row: Sequence[Any]) -> dict[str, Any]:
        """Return the record's data object (``{}`` if it is none); shared, so only read it."""
        text = row[_DATA]
        if not isinstance(text, str) or len(text) > _MEMO_TEXT_MAX:
            return _parse_data(text)
        parsed = self._parsed
        value = parsed.get(text)
        if value is None:
            if len(parsed) >= _MEMO_ENTRIES:
                parsed.clear()
            value = parsed[text] = _parse_data(text)
        return value

    def _cite(self, seq: int | None, source: int) -> str:
        """Name a seq in a message: ``seq N``, and its journal in a merged replay."""
        if len(self._journals) > 1:
            return f"seq {seq} of {self._journals[source]}"
        return f"seq {seq}"

    def _anomaly(
        self, kind: str, row: Sequence[Any], source: int, message: str, **extra: Any
    ) -> None:
        self._anomaly_at(
            kind,
            row[_SEQ],
            row[_TS],
            source,
            message,
            actor=row[_ACTOR],
            correlation_id=row[_CORR],
            **extra,
        )

    def _anomaly_at(
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
        entry = {
            "type": kind,
            "seq": seq,
            "ts": ts,
            "actor": actor,
            "correlation_id": correlation_id,
            "message": message,
            **extra,
        }
        if len(self._journals) > 1:
            entry["journal"] = self._journals[source]
        self._anomalies.append(entry)

    def _configmap(self, namespace: str | None, name: str) -> _ConfigMap:
        key = (namespace, name)
        cm = self._configmaps.get(key)
        if cm is None:
            cm = self._configmaps[key] = _ConfigMap(name=name, namespace=namespace)
        return cm

    def _cm_of_object(self, namespace: str | None, obj: str) -> _ConfigMap:
        cm = self._by_object.get(obj)
        if cm is not None and cm.namespace == namespace:
            return cm
        cm = self._configmap(namespace, _name(obj) or obj)
        if obj not in self._by_object:
            self._by_object[obj] = cm  # the common case: one namespace
        return cm

    def _cm_for(
        self, row: Sequence[Any], source: int, data: dict[str, Any] | None = None
    ) -> _ConfigMap | None:
        """Find the ConfigMap a restart or debounce record is about."""
        obj = row[_OBJ]
        if obj is not None and obj.startswith("configmap/"):
            return self._cm_of_object(row[_NS], obj)
        if data is None:
            data = self._data(row)
        name = data.get("configmap")
        if isinstance(name, str) and name:
            return self._configmap(row[_NS], _name(name) or name)
        corr = row[_CORR]
        if corr is not None:
            return self._corr_cm.get((source, corr))
        return None

    # -- controller, ConfigMaps, debounce --------------------------------------

    def _controller_started(self, row: Sequence[Any], source: int) -> None:
        data = self._data(row)
        debounce = data.get("debounce_seconds")
        if self._debounce_fixed is None and isinstance(debounce, int | float) and debounce >= 0:
            self._debounce = float(debounce)
        # Intents of this actor still open: the process restarted before
        # recording their outcome.
        actor = row[_ACTOR]
        term = self._open_terms.get(actor)
        if term is not None:
            # A new process: whatever term the old one held ended by now at the latest.
            self._close(term, row[_TS], row[_SEQ], "restarted", source)
        for key, entry in list(self._inflight.items()):
            if key[0] == source and entry.actor == actor:
                # Judged at the end, from what the journal shows later.
                del self._inflight[key]
                entry.outcome = "abandoned"
                self._unanswered.append(
                    (entry, source, f": {actor} restarted at {self._cite(row[_SEQ], source)}")
                )
                self._restore_pending(entry)

    def _observed(self, row: Sequence[Any], source: int) -> None:
        # The hottest handler (every relisted ConfigMap): lookups inlined.
        obj = row[_OBJ]
        if not obj:
            return
        cm = self._by_object.get(obj)
        if cm is None or cm.namespace != row[_NS]:
            cm = self._cm_of_object(row[_NS], obj)
        # Observations carry a resource version: rarely worth the memo.
        data = _parse_data(row[_DATA])
        cm.observations += 1
        corr = row[_CORR]
        if corr is not None:
            self._corr_cm[(source, corr)] = cm
        event_type = data.get("event_type")
        new_hash = data.get("data_hash")
        previous = cm.data_hash
        first_sight = cm.last_observation is None
        cm.last_observation, cm.last_source = row, source
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
            cm.pending = _Change(row[_SEQ], row[_TS], corr, source)

    def _scheduled(self, row: Sequence[Any], source: int) -> None:
        cm = self._cm_for(row, source)
        if cm is None or cm.pending is not None or cm.last_observation is None:
            return
        # The controller judged the last observation a change (e.g. a change
        # made while no controller ran): the change starts there, unless the
        # hash is one the Deployments already have.
        if cm.settled_all is None or cm.data_hash != cm.settled_all:
            seen = cm.last_observation
            cm.pending = _Change(seen[_SEQ], seen[_TS], seen[_CORR], cm.last_source)

    def _skipped(self, row: Sequence[Any], source: int) -> None:
        # After every relisted ConfigMap: the common lookup of _cm_for inlined.
        obj = row[_OBJ]
        cm = self._by_object.get(obj) if obj is not None else None
        if cm is None or cm.namespace != row[_NS] or not obj.startswith("configmap/"):
            cm = self._cm_for(row, source)
            if cm is None:
                return
        text = row[_DATA]
        # A payload without the reason's text (nor an escape that could spell
        # it) has another reason: no need to parse it.
        maybe_not_leader = not isinstance(text, str) or _NOT_LEADER in text or "\\" in text
        if maybe_not_leader and self._data(row).get("reason") == _NOT_LEADER:
            # A standby decided nothing: the Deployments' hashes are unknown to
            # it, so nothing is settled. Merged with the leader's journal, the
            # change stays pending until the leader acts on it; in one
            # standby's journal alone, the leader is out of sight.
            if len(self._journals) == 1:
                cm.pending = None
            return
        cm.pending = None
        cm.settled_all = cm.data_hash
        if cm.settled:
            cm.settled.clear()
        if row[_CORR] is not None:
            self._corr_cm.pop((source, row[_CORR]), None)

    # -- restarts ---------------------------------------------------------------

    def _planned(self, row: Sequence[Any], source: int) -> None:
        data = self._data(row)
        deployment = _name(row[_OBJ]) or "?"
        corr = row[_CORR]
        if corr is not None:
            entry = self._inflight.get((source, corr, deployment))
            if entry is not None:
                # Another attempt of the same restart (same correlation id):
                # one restart, one more retry.
                entry.attempts += 1
                entry.retries = max(entry.retries, entry.attempts - 1)
                return
        cm = self._cm_for(row, source, data)
        target_hash = data.get("data_hash")
        if not isinstance(target_hash, str):
            target_hash = cm.data_hash if cm is not None else None
        change: _Change | None = None
        if cm is not None:
            if cm.pending is not None:
                change = cm.consumed = cm.pending
                cm.pending = None
            elif cm.consumed is not None and cm.consumed.correlation_id == row[_CORR]:
                change = cm.consumed  # another Deployment of the same change
            settled = cm.settled.get(deployment, cm.settled_all)
            flagged = target_hash is not None and settled == target_hash
            if flagged:
                self._anomaly(
                    "restart_without_change",
                    row,
                    source,
                    f"restart of deployment/{deployment} planned for data hash "
                    f"{target_hash[:12]} of configmap/{cm.name}, which it already has",
                )
        entry = self._entry(row, source, deployment, cm=cm, target_hash=target_hash, change=change)
        if cm is not None and flagged:
            entry.flagged = True
        self._restarts.append(entry)
        self._inflight[(source, row[_CORR] or f"#{row[_SEQ]}", deployment)] = entry

    def _entry(
        self,
        row: Sequence[Any],
        source: int,
        deployment: str,
        *,
        cm: _ConfigMap | None,
        target_hash: str | None,
        change: _Change | None,
    ) -> RestartEntry:
        # Names repeat across restarts: keep one copy of each (fewer small
        # objects kept alive between pages, so less heap fragmentation).
        shared = self._shared
        return RestartEntry(
            seq=row[_SEQ],
            ts=row[_TS],
            namespace=shared.setdefault(row[_NS], row[_NS]),
            deployment=shared.setdefault(deployment, deployment),
            configmap=None if cm is None else cm.name,
            correlation_id=row[_CORR],
            data_hash=target_hash,
            actor=shared.setdefault(row[_ACTOR], row[_ACTOR]),
            leader_epoch=row[_EPOCH],
            journal=self._journals[source] if len(self._journals) > 1 else None,
            change=change,
            change_seq=None if change is None else change.seq,
            change_journal=(
                self._journals[change.source]
                if change is not None and len(self._journals) > 1
                else None
            ),
        )

    def _take_inflight(
        self, row: Sequence[Any], source: int, deployment: str
    ) -> RestartEntry | None:
        corr = row[_CORR]
        if corr is not None:
            entry = self._inflight.pop((source, corr, deployment), None)
            if entry is not None:
                return entry
        # Without a correlation id: the oldest open intent for the Deployment.
        for key, entry in self._inflight.items():
            if key[0] == source and key[2] == deployment:
                del self._inflight[key]
                return entry
        return None

    def _patched(self, row: Sequence[Any], source: int) -> None:
        data = self._data(row)
        deployment = _name(row[_OBJ]) or "?"
        entry = self._take_inflight(row, source, deployment)
        cm = self._cm_for(row, source, data)
        if entry is None:
            # The window starts after the intent: account the restart anyway.
            change = None
            if cm is not None and cm.pending is not None:
                change, cm.pending = cm.pending, None
            target_hash = data.get("data_hash")
            entry = self._entry(
                row,
                source,
                deployment,
                cm=cm,
                target_hash=target_hash if isinstance(target_hash, str) else None,
                change=change,
            )
            self._restarts.append(entry)
        self._settle(entry, "patched", row, source)
        entry.patched_ts = entry.rolled_ts = row[_TS]
        generation = data.get("generation")
        if isinstance(generation, int) and not isinstance(generation, bool):
            entry.generation = generation
        change, entry.change = entry.change, None
        if change is not None:
            latency = round(_seconds(row[_TS]) - _seconds(change.ts), 6)
            entry.latency_seconds = latency
            self._latencies.append(latency)
            if latency > self.slo_seconds:
                self._anomaly(
                    "slo_breach",
                    row,
                    source,
                    f"deployment/{deployment} patched {latency:.1f} s after the change at "
                    f"{self._cite(change.seq, change.source)} (SLO {self.slo_seconds:g} s)",
                    latency_seconds=latency,
                )
        if cm is not None:
            cm.restarts += 1
            cm.last_restart = {
                "seq": row[_SEQ],
                "ts": row[_TS],
                "deployment": deployment,
                "correlation_id": row[_CORR],
            }
            target = entry.data_hash or cm.data_hash
            if isinstance(target, str):
                cm.settled[deployment] = target
        self._awaiting_rollout[(source, row[_CORR] or "", deployment)] = entry

    def _settle(self, entry: RestartEntry, outcome: str, row: Sequence[Any], source: int) -> None:
        entry.outcome = outcome
        entry.outcome_seq = row[_SEQ]
        entry.outcome_source = source
        if entry.journal is not None:
            entry.outcome_journal = self._journals[source]

    def _superseded(self, row: Sequence[Any], source: int) -> None:
        # The conditional patch found the hash already applied: the restart is
        # settled without a roll (not lost, not a restart).
        deployment = _name(row[_OBJ]) or "?"
        entry = self._take_inflight(row, source, deployment)
        if entry is None:
            return
        self._settle(entry, "superseded", row, source)
        entry.change = None
        data = self._data(row)
        applied = data.get("applied_hash")
        if not isinstance(applied, str):
            applied = entry.data_hash
        cm = self._configmaps.get((entry.namespace, entry.configmap)) if entry.configmap else None
        if cm is not None and isinstance(applied, str):
            cm.settled[deployment] = applied

    def _deployment_observed(self, row: Sequence[Any], source: int) -> None:
        deployment = _name(row[_OBJ])
        if deployment is None:
            return
        data = self._data(row)
        applied = data.get("applied_hash")
        generation = data.get("generation")
        facts = self._deployments.setdefault((row[_NS], deployment), [])
        facts.append(
            (
                row[_TS],
                source,
                row[_SEQ],
                applied if isinstance(applied, str) else None,
                generation
                if isinstance(generation, int) and not isinstance(generation, bool)
                else None,
            )
        )

    def _retry(self, row: Sequence[Any], source: int) -> None:
        deployment = _name(row[_OBJ]) or "?"
        corr = row[_CORR]
        entry = self._inflight.get((source, corr, deployment)) if corr is not None else None
        if entry is not None:
            entry.retries += 1

    def _restore_pending(self, entry: RestartEntry) -> None:
        change, entry.change = entry.change, None
        if change is None or entry.configmap is None:
            return
        cm = self._configmaps.get((entry.namespace, entry.configmap))
        if cm is not None and cm.pending is None:
            cm.pending = change

    def _failed(self, row: Sequence[Any], source: int) -> None:
        self._ended_without_patch(row, source, "failed")

    def _dropped(self, row: Sequence[Any], source: int) -> None:
        entry = self._ended_without_patch(row, source, "dropped")
        reason = self._data(row).get("reason")
        target = _name(row[_OBJ]) or (entry.deployment if entry else "?")
        self._anomaly(
            "dropped_restart",
            row,
            source,
            f"restart of deployment/{target} dropped"
            + (f": {reason}" if isinstance(reason, str) and reason else ""),
        )

    def _ended_without_patch(
        self, row: Sequence[Any], source: int, outcome: str
    ) -> RestartEntry | None:
        deployment = _name(row[_OBJ]) or "?"
        entry = self._take_inflight(row, source, deployment)
        if entry is None:
            return None
        self._settle(entry, outcome, row, source)
        # The change is still not rolled out: it is pending again, and the
        # level-triggered resync should restart it later.
        self._restore_pending(entry)
        return entry

    def _rollout(self, row: Sequence[Any], source: int) -> None:
        deployment = _name(row[_OBJ]) or "?"
        entry = self._awaiting_rollout.pop((source, row[_CORR] or "", deployment), None)
        result = "completed" if row[_KIND] == k.ROLLOUT_COMPLETED else "timeout"
        if entry is not None:
            entry.rollout = result
            entry.rollout_seq = row[_SEQ]
        if row[_CORR] is not None:
            self._corr_cm.pop((source, row[_CORR]), None)
        if result == "timeout":
            self._anomaly(
                "rollout_timeout",
                row,
                source,
                f"deployment/{deployment} was patched but its rollout did not complete",
            )

    # -- leadership ---------------------------------------------------------------

    @staticmethod
    def _epoch_of(row: Sequence[Any], data: dict[str, Any]) -> int | None:
        if row[_EPOCH] is not None:
            return row[_EPOCH]
        epoch = data.get("epoch")
        return epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else None

    def _close(self, term: _Term, ts: str, seq: int, reason: str, source: int) -> None:
        term.end, term.end_seq, term.end_reason, term.end_source = ts, seq, reason, source
        self._open_terms.pop(term.actor, None)
        if not self._open_terms:
            self._last_closed = term

    def _open(
        self, row: Sequence[Any], source: int, actor: str, epoch: int | None, how: str
    ) -> None:
        ts, seq = row[_TS], row[_SEQ]
        for other in list(self._open_terms.values()):
            if other.actor == actor:
                self._close(other, ts, seq, "re-acquired", source)
                continue
            if epoch is not None and other.epoch is not None and epoch <= other.epoch:
                self._anomaly(
                    "overlapping_leaders",
                    row,
                    source,
                    f"{actor} leads under epoch {epoch} while {other.actor} holds epoch "
                    f"{other.epoch} (since {self._cite(other.start_seq, other.source)})",
                )
                continue
            # A newer epoch supersedes the open term: its holder is stale from now.
            self._close(other, ts, seq, "superseded", source)
            self._stale[other.actor] = (other.epoch, actor, epoch, ts)
            # No leaderless gap is judged here: an idle leader renews its Lease
            # without writing records, so its last record does not say when
            # it stopped leading.
        if not self._open_terms and self._last_closed is not None and how != "inferred":
            last = self._last_closed
            consecutive = epoch is None or last.epoch is None or epoch == last.epoch + 1
            if last.end is not None and last.end_reason != "superseded" and consecutive:
                gap = _seconds(ts) - _seconds(last.end)
                if gap > self._leaderless:
                    self._anomaly(
                        "leaderless_gap",
                        row,
                        source,
                        f"no leader for {gap:.1f} s: {last.actor} ended epoch {last.epoch} at "
                        f"{self._cite(last.end_seq, last.end_source)} ({last.end}), {actor} took "
                        f"epoch {epoch} at {ts}",
                        gap_seconds=round(gap, 6),
                    )
        self._stale.pop(actor, None)
        if epoch is not None and (self._newest_epoch is None or epoch > self._newest_epoch):
            self._newest_epoch = epoch
        term = _Term(actor=actor, epoch=epoch, start=ts, start_seq=seq, source=source, how=how)
        self._terms.append(term)
        self._open_terms[actor] = term

    def _acquired(self, row: Sequence[Any], source: int) -> None:
        actor = row[_ACTOR]
        epoch = self._epoch_of(row, self._data(row))
        current = self._open_terms.get(actor)
        if current is not None and current.epoch == epoch and current.how != "acquired":
            current.how = "acquired"  # seen first through another replica's eyes
            return
        self._open(row, source, actor, epoch, "acquired")

    def _leader_ended(self, row: Sequence[Any], source: int) -> None:
        term = self._open_terms.get(row[_ACTOR])
        if term is None:
            return
        reason = "lost" if row[_KIND] == k.LEADER_LOST else "released"
        self._close(term, row[_TS], row[_SEQ], reason, source)

    def _leader_observed(self, row: Sequence[Any], source: int) -> None:
        data = self._data(row)
        holder = data.get("holder")
        epoch = data.get("epoch")
        if not isinstance(epoch, int) or isinstance(epoch, bool):
            epoch = None
        if not isinstance(holder, str) or not holder:
            return
        current = self._open_terms.get(holder)
        if current is not None and (current.epoch == epoch or epoch is None):
            return
        if epoch is not None and self._newest_epoch is not None and epoch < self._newest_epoch:
            # A replica reporting an older term than one already known: a late
            # or stale view (records are stamped when journaled), not a leader.
            return
        self._open(row, source, holder, epoch, "observed")

    def _leader_activity(
        self, row: Sequence[Any], source: int, actor: str, epoch: int, kind: str
    ) -> None:
        stale = self._stale.get(actor)
        if stale is not None and kind in _LEADER_ACTIONS:
            stale_epoch, newer, newer_epoch, since = stale
            if stale_epoch is None or epoch <= stale_epoch:
                del self._stale[actor]
                self._anomaly(
                    "overlapping_leaders",
                    row,
                    source,
                    f"{actor} wrote {kind} as leader of epoch {epoch} after {newer} "
                    f"took epoch {newer_epoch} at {since} (split-brain)",
                )
            return
        if (
            actor not in self._open_terms
            and kind in _LEADER_ACTIONS
            and not any(term.actor == actor for term in self._terms)
        ):
            # The window starts inside this actor's term.
            self._open(row, source, actor, epoch, "inferred")

    # -- result -----------------------------------------------------------------

    def finish(self, filters: Filters | None = None) -> ReplayReport:
        """Judge what is still open at the window's end and return the report."""
        filters = filters or Filters()
        end = self._last[_TS] if self._last is not None else None
        end_seconds = _seconds(end) if end is not None else None
        slo = self.slo_seconds
        if end_seconds is not None:
            for entry in self._inflight.values():
                age = end_seconds - _seconds(entry.ts)
                if age > slo:
                    entry.outcome = "none"
                    source = self._journals.index(entry.journal) if entry.journal else 0
                    self._unanswered.append((entry, source, f" {age:.0f} s later"))
        for entry, source, why in sorted(self._unanswered, key=lambda item: item[0].ts):
            self._resolve(entry, source, why)
        self._duplicate_rollouts()
        configmaps: dict[str, dict[str, Any]] = {}
        for (namespace, name), cm in self._configmaps.items():
            pending = cm.pending is not None
            if pending and end_seconds is not None:
                assert cm.pending is not None
                age = end_seconds - _seconds(cm.pending.ts)
                if age > slo:
                    self._anomaly_at(
                        "change_without_restart",
                        cm.pending.seq,
                        cm.pending.ts,
                        cm.pending.source,
                        f"configmap/{name} changed at seq {cm.pending.seq} and nothing restarted "
                        f"its Deployments in the {age:.0f} s that followed (SLO {slo:g} s)",
                        correlation_id=cm.pending.correlation_id,
                    )
                    pending = False
            key = name if name not in configmaps else f"{namespace}/{name}"
            configmaps[key] = cm.to_json(
                pending, self._journals if len(self._journals) > 1 else None
            )
        for entry in self._restarts:
            entry.change = None
        latencies = sorted(self._latencies)
        anomalies = sorted(self._anomalies, key=lambda a: (a["ts"], a["seq"]))
        return ReplayReport(
            journals=self._journals,
            filters=filters,
            events=self.events,
            first=self._edge(self._first, self._first_source),
            last=self._edge(self._last, self._last_source),
            kinds=dict(sorted(self._kinds.items())),
            configmaps=dict(sorted(configmaps.items())),
            restarts=self._restarts,
            latency={
                "count": len(latencies),
                "p50": percentile(latencies, 0.50),
                "p95": percentile(latencies, 0.95),
                "max": latencies[-1] if latencies else None,
            },
            leader_terms=[
                term.to_json(self._journals if len(self._journals) > 1 else None)
                for term in self._terms
            ],
            anomalies=anomalies,
            thresholds={
                "debounce_seconds": self._debounce,
                "slo_seconds": slo,
                "leaderless_gap_seconds": self._leaderless,
            },
        )

    def _after(self, entry: RestartEntry, source: int, ts: str, fact_source: int, seq: int) -> bool:
        """Tell whether a record (``ts``, journal, seq) follows the restart's intent."""
        if fact_source == source:
            return seq > entry.seq
        return ts > entry.ts

    def _resolve(self, entry: RestartEntry, source: int, why: str) -> None:
        """Settle a restart whose writer never answered it, from later evidence.

        ``landed``: a later ``deployment.observed`` of the Deployment reports
        the planned hash applied, at a generation no other restart's patch
        answered with (so this restart's patch brought it; the answer was
        lost). ``lost``: the Deployment was observed afterwards but not so.
        Otherwise the journal cannot tell: ``planned_without_outcome``.
        """
        key = (entry.namespace, entry.deployment)
        facts = [
            fact
            for fact in self._deployments.get(key, ())
            if self._after(entry, source, fact[0], fact[1], fact[2])
        ]
        if not facts:
            self._anomaly_at(
                "planned_without_outcome",
                entry.seq,
                entry.ts,
                source,
                f"restart of deployment/{entry.deployment} planned at "
                f"{self._cite(entry.seq, source)} has no outcome{why}",
                actor=entry.actor,
                correlation_id=entry.correlation_id,
            )
            return
        answered = {
            (other.data_hash, other.generation)
            for other in self._restarts
            if other is not entry
            and other.outcome == "patched"
            and other.generation is not None
            and other.deployment == entry.deployment
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
            entry.outcome_journal = self._journals[shown[1]]
        if landing is None:
            return
        entry.rolled_ts = landing[0]
        cm = self._configmaps.get((entry.namespace, entry.configmap)) if entry.configmap else None
        if cm is None:
            return
        cm.restarts += 1
        if cm.last_restart is None or cm.last_restart["ts"] <= landing[0]:
            cm.last_restart = {
                "seq": landing[2],
                "ts": landing[0],
                "deployment": entry.deployment,
                "correlation_id": entry.correlation_id,
            }
            if len(self._journals) > 1:
                cm.last_restart["journal"] = self._journals[landing[1]]
        if cm.pending is not None and cm.pending.seq == entry.change_seq:
            cm.pending = None  # the change it planned for did roll out

    def _duplicate_rollouts(self) -> None:
        """Report a Deployment that rolled the same hash twice in a row."""
        # Per Deployment, in time order: rolls (patched or landed restarts)
        # and the applied hashes observed between them.
        events: dict[tuple[str | None, str], list[tuple[str, int, Any]]] = {}
        for entry in self._restarts:
            if entry.rolled_ts is not None and entry.outcome in ("patched", "landed"):
                key = (entry.namespace, entry.deployment)
                events.setdefault(key, []).append((entry.rolled_ts, 1, entry))
        for key, rolls in events.items():
            facts = self._deployments.get(key)
            if facts:
                timeline = rolls + [(fact[0], 0, fact[3]) for fact in facts]
                timeline.sort(key=itemgetter(0, 1))
            else:
                timeline = rolls  # patched records: already in time order
            self._duplicates_in(timeline)

    def _duplicates_in(self, timeline: list[tuple[str, int, Any]]) -> None:
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
                source = entry.outcome_source
                self._anomaly_at(
                    "duplicate_rollout",
                    entry.outcome_seq if entry.outcome_seq is not None else entry.seq,
                    entry.rolled_ts or entry.ts,
                    source,
                    f"deployment/{entry.deployment} rolled data hash {entry.data_hash[:12]} "
                    f"twice in a row: the restart planned at "
                    f"{self._cite(previous.seq, self._source_of(previous))} "
                    f"({previous.outcome}) and the one planned at "
                    f"{self._cite(entry.seq, self._source_of(entry))} ({entry.outcome})",
                    actor=entry.actor,
                    correlation_id=entry.correlation_id,
                    first_seq=previous.seq,
                )
            previous = entry

    def _source_of(self, entry: RestartEntry) -> int:
        return self._journals.index(entry.journal) if entry.journal else 0

    def _edge(self, row: Sequence[Any] | None, source: int) -> dict[str, Any] | None:
        if row is None:
            return None
        edge = {"seq": row[_SEQ], "ts": row[_TS]}
        if len(self._journals) > 1:
            edge["journal"] = self._journals[source]
        return edge


def replay(
    journals: Sequence[Journal],
    filters: Filters | None = None,
    *,
    debounce_seconds: float | None = None,
    leaderless_gap_seconds: float = DEFAULT_LEADERLESS_GAP_SECONDS,
    names: Sequence[str] | None = None,
) -> ReplayReport:
    """Rebuild state from one or several replicas' journals in one streaming pass.

    Args:
        journals: Open journals; several are merged into one time-ordered view.
        filters: The window (``since``, ``until``) and ``correlation_id``.
        debounce_seconds: ``DEBOUNCE_SECONDS`` for the SLO; by default the
            value the latest ``controller.started`` record carries, else 5.
        leaderless_gap_seconds: Leaderless stretches longer than this are anomalies.
        names: How to name each journal in the report (default: its location);
            ``export dr-drill`` names snapshots after the journals they copy.
    """
    filters = filters or Filters()
    projector = Projector(
        journals=list(names) if names else [journal.location.display for journal in journals],
        debounce_seconds=debounce_seconds,
        leaderless_gap_seconds=leaderless_gap_seconds,
    )
    if len(journals) == 1:
        pages = journals[0].scan_pages(filters, columns=REPLAY_COLUMNS, page_size=REPLAY_PAGE_SIZE)
        for page in pages:
            projector.feed_page(page)
    else:
        projector.feed_all(
            merged_rows(journals, filters, REPLAY_COLUMNS, page_size=REPLAY_PAGE_SIZE)
        )
    return projector.finish(filters)


__all__ = [
    "ANOMALY_TYPES",
    "DEFAULT_DEBOUNCE_SECONDS",
    "DEFAULT_LEADERLESS_GAP_SECONDS",
    "REPLAY_COLUMNS",
    "SLO_MARGIN_SECONDS",
    "Projector",
    "ReplayReport",
    "RestartEntry",
    "percentile",
    "replay",
]
