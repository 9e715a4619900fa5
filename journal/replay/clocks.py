"""How far apart the replicas' clocks are, told by the watch events they all journaled.

Every replica watches the same API server and journals each event it sees
(``configmap.observed``, source ``watch``) with its own clock's time. Two
replicas' records of one event (same object, resourceVersion and type) were
written a few milliseconds apart in real time, so the difference of their
timestamps is, within that, the difference of their clocks. A merged replay
collects these differences for every pair of writers and reports their
median (``clock_offsets``); one beyond the threshold is a ``clock_skew``
anomaly: the merged order, leader terms across replicas and a DR drill's
placement of observations around its marks then rest on clocks that
disagree.

A writer is a replica: the journal a record came from and its actor. Lists
are not used (each replica lists at a time of its own). Memory stays
bounded: an event waits for the other writers' records of it among the last
:data:`PENDING` events, and each pair keeps at most :data:`SAMPLES`
differences (the latest).
"""

from __future__ import annotations

import statistics
from collections import OrderedDict, deque
from collections.abc import Sequence
from typing import Any

from journal.replay.anomalies import Anomalies
from journal.replay.rows import ACTOR, NS, OBJ, SEQ, TS, Payloads, seconds

#: A median difference beyond this many seconds is a ``clock_skew`` anomaly.
DEFAULT_CLOCK_SKEW_SECONDS = 1.0
#: Events waiting for another writer's record of them.
PENDING = 20_000
#: Differences kept per pair of writers.
SAMPLES = 10_000

Writer = tuple[int, str]  # the journal (source) and the actor


class Clocks:
    """Pairs the writers' records of one watch event and measures their clocks' offsets."""

    def __init__(self, payloads: Payloads, anomalies: Anomalies, threshold: float) -> None:
        """Report offsets beyond ``threshold`` seconds to ``anomalies``."""
        self._payloads = payloads
        self._anomalies = anomalies
        self.threshold = threshold
        self._pending: OrderedDict[tuple[Any, ...], dict[Writer, tuple[float, int, str]]] = (
            OrderedDict()
        )
        #: (earlier writer, later writer) -> the later's time minus the earlier's.
        self._pairs: dict[tuple[Writer, Writer], deque[float]] = {}
        #: The last record of each writer that gave a sample: (seq, ts).
        self._last: dict[Writer, tuple[int, str]] = {}

    def observed(self, row: Sequence[Any], source: int) -> None:
        """Take one ``configmap.observed`` record of journal ``source``."""
        payload = self._payloads.of(row)
        if payload.source != "watch" or not payload.resource_version:
            return
        key = (row[NS], row[OBJ], payload.resource_version, payload.event_type)
        writer: Writer = (source, str(row[ACTOR]))
        mine = (seconds(row[TS]), row[SEQ], row[TS])
        seen = self._pending.get(key)
        if seen is None:
            self._pending[key] = {writer: mine}
            if len(self._pending) > PENDING:
                self._pending.popitem(last=False)
            return
        if writer in seen:  # the same writer again (a replayed watch): not a pair
            return
        for other, theirs in seen.items():
            first, second = sorted((other, writer))
            difference = mine[0] - theirs[0] if second == writer else theirs[0] - mine[0]
            samples = self._pairs.get((first, second))
            if samples is None:
                samples = self._pairs[(first, second)] = deque(maxlen=SAMPLES)
            samples.append(difference)
            self._last[other] = theirs[1:]
        seen[writer] = mine
        self._last[writer] = mine[1:]

    def finish(self, journals: Sequence[str]) -> list[dict[str, Any]]:
        """Return each pair's offset (``clock_offsets``) and report those beyond the threshold."""
        offsets = []
        for (first, second), samples in sorted(self._pairs.items()):
            median = statistics.median(samples)
            entry = {
                "writer": _name(second, journals),
                "relative_to": _name(first, journals),
                "samples": len(samples),
                "median_seconds": round(median, 6),
                "max_seconds": round(max(samples, key=abs), 6),
            }
            offsets.append(entry)
            if abs(median) > self.threshold:
                seq, ts = self._last[second]
                self._anomalies.at(
                    "clock_skew",
                    seq,
                    ts,
                    second[0],
                    f"{entry['writer']}'s records of the watch events both journaled are "
                    f"{median:+.3f} s from {entry['relative_to']}'s (median of "
                    f"{len(samples)}): their clocks disagree beyond "
                    f"{self.threshold:g} s, so the merged order is not the order of events",
                    actor=second[1],
                    offset_seconds=round(median, 6),
                    samples=len(samples),
                )
        return offsets


def _name(writer: Writer, journals: Sequence[str]) -> str:
    source, actor = writer
    return f"{actor} ({journals[source]})" if len(journals) > 1 else actor
