"""The state as of a moment: ``replay --at T``.

A relist journals only what changed, so "what was the hash of X at T" is
answered by replaying the observations up to T:

- ``configmap.observed``: a ConfigMap's or Secret's ``data_hash`` (a
  ``DELETED`` event removes it);
- ``deployment.observed``: a workload's ``applied_hash`` (likewise);
- ``controller.started``: a new process lists everything again, so the
  objects of a resource not seen again by its first list
  (``watch.started``) were deleted while no controller watched and are
  dropped then;
- ``watch.started`` / ``watch.relisted``: the list's ``digest``
  (:mod:`records.listing`) is checked against the objects recovered so far;
  the last list of each resource before T is reported, and a digest that does
  not match is an anomaly (``list_digest_mismatch``): a record is missing or
  was changed.

A vacuumed journal starts from the state its ``journal.vacuumed`` tombstone
keeps (``state``, see :func:`state_before`); a moment before the vacuumed
records' end cannot be answered and is refused.

The whole journal up to T is read (all namespaces), so the digests can be
checked; ``namespace`` and ``workload`` narrow only what is reported.

A central journal answers for one cluster, from its shipped streams:
:mod:`journal.replay.shipped_state`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from journal.errors import JournalValueError
from journal.models import records
from journal.reading import RECORD_COLUMNS, row_to_record
from journal.timefmt import format_ts
from records import ConfigMapObserved, DeploymentObserved, kinds, parse
from records.leadership import JournalVacuumed
from records.listing import RESOURCE_OBJECTS, listing_digest

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from journal.record import Record
    from journal.store import Journal

#: The kinds the state is rebuilt from.
STATE_KINDS = (
    kinds.CONFIGMAP_OBSERVED,
    kinds.DEPLOYMENT_OBSERVED,
    kinds.CONTROLLER_STARTED,
    kinds.WATCH_STARTED,
    kinds.WATCH_RELISTED,
)
_SOURCE_KINDS = frozenset({"configmap", "secret"})
_DELETED = "DELETED"
#: ``(namespace, object)``
ObjectKey = tuple[str, str]


@dataclass(frozen=True)
class Known:
    """One object's hash and the record it comes from."""

    hash: str | None
    #: The journal's seq (``None``: a shipped source's tombstone kept it, the
    #: record itself was vacuumed from the source before it was shipped).
    seq: int | None
    ts: str
    #: When it was fed (a central journal's streams are fed by time, not seq).
    order: int = 0
    #: A shipped record's stream and its seq there (its source's seq).
    stream: str | None = None
    stream_seq: int | None = None

    def to_json(self, key: ObjectKey) -> dict[str, Any]:
        kind = key[1].split("/", 1)[0]
        name = "data_hash" if kind in _SOURCE_KINDS else "applied_hash"
        item = {
            "namespace": key[0],
            "object": key[1],
            name: self.hash,
            "seq": self.seq,
            "ts": self.ts,
        }
        if self.stream is not None:
            item |= {"stream": self.stream, "stream_seq": self.stream_seq}
        return item


@dataclass
class StateProjector:
    """Feeds records in seq order; keeps every object's last hash and checks list digests.

    A central journal's shipped streams are fed merged by time: what a
    replica's first list did not see again is what it last saw before that
    replica's (its stream's) ``controller.started``, in the order fed.
    """

    objects: dict[ObjectKey, Known] = field(default_factory=dict)
    #: The last list of each resource: its record and whether its digest matched.
    lists: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Per chain (``None``: the journal's own), when its last ``controller.started`` was fed.
    started: dict[str | None, int] = field(default_factory=dict)
    through_seq: int = 0
    fed: int = 0
    #: Check list digests (a cluster's merged state leaves them to each stream's own).
    check_lists: bool = True

    def seed(self, state: Iterable[Sequence[Any]], stream: str | None = None) -> None:
        """Start from a tombstone's ``state``: ``[namespace, object, hash, seq, ts]`` rows.

        ``stream``: a shipped source's tombstone, whose seqs are the source's.
        """
        for namespace, obj, digest, seq, ts in state:
            self.objects[(namespace, obj)] = (
                Known(digest, int(seq), ts, self.fed)
                if stream is None
                else Known(digest, None, ts, self.fed, stream, int(seq))
            )

    def feed(self, record: Record) -> None:
        self.fed += 1
        self.through_seq = record.seq
        kind = record.kind
        if kind in {kinds.CONFIGMAP_OBSERVED, kinds.DEPLOYMENT_OBSERVED}:
            if record.object is None:
                return
            key = (record.namespace or "", record.object)
            if kind == kinds.CONFIGMAP_OBSERVED:
                seen = ConfigMapObserved.from_data(record.data)
                event, digest = seen.event_type, seen.data_hash
            else:
                workload = DeploymentObserved.from_data(record.data)
                event, digest = workload.event_type, workload.applied_hash
            if event == _DELETED:
                self.objects.pop(key, None)
                return
            self.objects[key] = Known(
                digest,
                record.seq,
                format_ts(record.ts),
                self.fed,
                record.stream,
                record.stream_seq,
            )
        elif kind == kinds.CONTROLLER_STARTED:
            self.started[record.stream] = self.fed
        elif kind in {kinds.WATCH_STARTED, kinds.WATCH_RELISTED}:
            self._listed(record)

    def _listed(self, record: Record) -> None:
        payload = parse(record.kind, record.data)
        resource = getattr(payload, "resource", None)
        prefix = RESOURCE_OBJECTS.get(resource or "")
        if prefix is None:
            return
        mine = [key for key in self.objects if key[1].startswith(prefix + "/")]
        if record.kind == kinds.WATCH_STARTED:
            # The first list of a process: what it did not see is gone.
            started = self.started.get(record.stream, 0)
            for key in mine:
                if self.objects[key].order < started:
                    del self.objects[key]
            mine = [key for key in mine if key in self.objects]
        if not self.check_lists:
            return
        claimed = getattr(payload, "digest", None)
        computed = listing_digest((ns, obj, self.objects[(ns, obj)].hash) for ns, obj in mine)
        self.lists[resource] = {
            "resource": resource,
            "seq": record.seq,
            "ts": format_ts(record.ts),
            "objects": len(mine),
            "digest": claimed if isinstance(claimed, str) else None,
            "computed": computed,
            "matches": None if not isinstance(claimed, str) else claimed == computed,
        }
        if record.stream is not None:
            self.lists[resource] |= {"stream": record.stream, "stream_seq": record.stream_seq}


@dataclass(frozen=True)
class StateAt:
    """The answer of ``replay --at``."""

    at: str
    journal: str
    through_seq: int
    sources: list[dict[str, Any]]
    workloads: list[dict[str, Any]]
    lists: list[dict[str, Any]]
    anomalies: list[dict[str, Any]]
    vacuumed: dict[str, Any] | None
    #: A central journal's answer: the cluster, and each of its shipped
    #: streams read (``stream``, ``records``, ``through_seq``,
    #: ``through_stream_seq``, ``vacuumed``); ``None`` for a replica's journal.
    cluster: str | None = None
    streams: list[dict[str, Any]] | None = None

    def to_json(self) -> dict[str, Any]:
        answer = {
            "at": self.at,
            "journal": self.journal,
            "through_seq": self.through_seq,
            "sources": self.sources,
            "workloads": self.workloads,
            "lists": self.lists,
            "anomalies": self.anomalies,
            "vacuumed": self.vacuumed,
        }
        if self.streams is not None:
            answer |= {"cluster": self.cluster, "streams": self.streams}
        return answer


def latest_tombstone(journal: Journal, until: datetime | None = None) -> Record | None:
    """The ``journal.vacuumed`` record of the latest vacuum (the largest removed seq)."""
    best: Record | None = None
    best_removed = -1
    for record in journal.read(kinds=(kinds.JOURNAL_VACUUMED,), until=until):
        removed = JournalVacuumed.from_data(record.data).last_removed_seq
        if isinstance(removed, int) and removed > best_removed:
            best, best_removed = record, removed
    return best


def state_through(connection: Connection, last_seq: int) -> list[list[Any]]:
    """The state after seq ``last_seq``, as a vacuum's tombstone keeps it.

    Read on ``connection`` (inside the vacuum's transaction). Rows
    ``[namespace, object, hash, seq, ts]``, sorted; the state an earlier
    tombstone kept is the starting point, as for ``replay --at``.
    """
    projector = StateProjector()
    best = -1
    for row in connection.execute(
        select(*RECORD_COLUMNS).where(records.c.kind == kinds.JOURNAL_VACUUMED)
    ):
        tombstone = JournalVacuumed.from_data(row_to_record(row).data)
        removed = tombstone.last_removed_seq
        if isinstance(removed, int) and removed > best and isinstance(tombstone.state, list):
            best = removed
            projector.objects.clear()
            projector.seed(tombstone.state)
    rows = connection.execute(
        select(*RECORD_COLUMNS)
        .where(
            records.c.seq <= last_seq,
            records.c.kind.in_(STATE_KINDS),
            records.c.stream.is_(None),
        )
        .order_by(records.c.seq)
    )
    for row in rows:
        projector.feed(row_to_record(row))
    return [
        [key[0], key[1], known.hash, known.seq, known.ts]
        for key, known in sorted(projector.objects.items())
    ]


def state_at(
    journal: Journal,
    at: datetime,
    *,
    namespace: str | None = None,
    workload: str | None = None,
    cluster: str | None = None,
    actor: str | None = None,
) -> StateAt:
    """Rebuild every object's hash as of ``at`` from one journal.

    On a central journal (one holding shipped streams), the state is one
    cluster's, from its shipped streams (``cluster``, or the streams holding a
    record of ``actor``): :func:`journal.replay.shipped_state.cluster_state_at`.

    Raises:
        JournalValueError: ``at`` falls within records a vacuum removed, or
            a central journal's cluster is not given (or ``cluster``/``actor``
            on a replica's journal).
    """
    if cluster is not None or actor is not None or journal.holds_streams():
        from journal.replay.shipped_state import cluster_state_at  # noqa: PLC0415 - builds on this

        return cluster_state_at(
            journal, at, cluster=cluster, actor=actor, namespace=namespace, workload=workload
        )
    projector = StateProjector()
    tombstone = latest_tombstone(journal)
    vacuumed = None
    if tombstone is not None:
        vacuum = JournalVacuumed.from_data(tombstone.data)
        state = vacuum.state
        vacuumed = {
            "seq": tombstone.seq,
            "last_removed_seq": vacuum.last_removed_seq,
            "last_removed_ts": vacuum.last_removed_ts,
            "state_kept": isinstance(state, list),
        }
        if format_ts(at) < vacuum.last_removed_ts:
            raise JournalValueError(
                f"--at {format_ts(at)} is before the end of the records vacuumed from "
                f"{journal.location.display} (seq {vacuum.last_removed_seq}, "
                f"{vacuum.last_removed_ts}): that state was not kept"
            )
        if isinstance(state, list):
            projector.seed(state)
            # The kept state stands for every removed record.
            projector.through_seq = vacuum.last_removed_seq
    for record in journal.read(kinds=STATE_KINDS, until=at):
        if record.stream is None:
            projector.feed(record)
    lists = [projector.lists[name] for name in sorted(projector.lists)]
    return answer(projector, lists, journal, at, namespace, workload, vacuumed)


def answer(  # noqa: PLR0917 - the state and what narrows it
    projector: StateProjector,
    lists: list[dict[str, Any]],
    journal: Journal,
    at: datetime,
    namespace: str | None,
    workload: str | None,
    vacuumed: dict[str, Any] | None,
) -> StateAt:
    """The answer: ``projector``'s objects (narrowed), ``lists`` and their anomalies."""
    sources: list[dict[str, Any]] = []
    workloads: list[dict[str, Any]] = []
    for key, known in sorted(projector.objects.items()):
        if namespace is not None and key[0] != namespace:
            continue
        is_source = key[1].split("/", 1)[0] in _SOURCE_KINDS
        if workload is not None and (is_source or key[1] != workload):
            continue
        (sources if is_source else workloads).append(known.to_json(key))
    anomalies = [
        {
            "type": "list_digest_mismatch",
            "seq": item["seq"],
            "resource": item["resource"],
            **({"stream": item["stream"]} if "stream" in item else {}),
            "message": (
                f"the {item['resource']} list of seq {item['seq']}"
                + (f" (stream {item['stream']})" if "stream" in item else "")
                + f" claims {item['digest']}, "
                f"the {item['objects']} objects recovered from the records give "
                f"{item['computed']}: a record is missing or changed"
            ),
        }
        for item in lists
        if item["matches"] is False
    ]
    return StateAt(
        at=format_ts(at),
        journal=journal.location.display,
        through_seq=projector.through_seq,
        sources=sources,
        workloads=workloads,
        lists=lists,
        anomalies=anomalies,
        vacuumed=vacuumed,
    )
