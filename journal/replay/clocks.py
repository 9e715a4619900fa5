"""How far apart the replicas' clocks are, told by the watch events they all journaled.

Every replica watches the same API server and journals each event it sees
(``configmap.observed``, source ``watch``) with its own clock's time. Two
replicas' records of one event (same object, resourceVersion and type) are
usually written a few milliseconds apart in real time, so the difference of
their timestamps is the difference of their clocks plus that of their
delays. A merged replay collects these differences for every pair of
writers and reports their median, and the one nearest zero
(``clock_offsets``).

A delay only ever adds: a watch that reconnects after an outage brings the
events it missed late to one replica, and they then differ by seconds with
the clocks in step. So the clocks are judged by the difference nearest
zero: when even that one is beyond the threshold, every event both
journaled was that far apart, which delays alone hardly explain, and it is a
``clock_skew`` anomaly: the merged order, leader terms across replicas and a
DR drill's placement of observations around its marks then rest on clocks
that disagree by at least that much. It takes :data:`MIN_SAMPLES` events
both journaled: one or two can each have come late (a replica busy for a
moment, its journal's group commit), many cannot all have.

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

#: A difference nearest zero beyond this many seconds is a ``clock_skew`` anomaly.
DEFAULT_CLOCK_SKEW_SECONDS = 1.0
#: The events both journaled it takes to judge a pair of clocks.
MIN_SAMPLES = 5
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
        #: The same pairs' difference nearest zero (over every sample, kept or not).
        self._nearest: dict[tuple[Writer, Writer], float] = {}
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
            nearest = self._nearest.get((first, second))
            if nearest is None or abs(difference) < abs(nearest):
                self._nearest[(first, second)] = difference
            self._last[other] = theirs[1:]
        seen[writer] = mine
        self._last[writer] = mine[1:]

    def finish(self, journals: Sequence[str]) -> list[dict[str, Any]]:
        """Return each pair's offset (``clock_offsets``) and report those beyond the threshold."""
        offsets = []
        for pair, samples in sorted(self._pairs.items()):
            first, second = pair
            nearest = self._nearest[pair]
            entry = {
                "writer": _name(second, journals),
                "relative_to": _name(first, journals),
                "samples": len(samples),
                "median_seconds": round(statistics.median(samples), 6),
                "nearest_seconds": round(nearest, 6),
                "max_seconds": round(max(samples, key=abs), 6),
            }
            offsets.append(entry)
            if abs(nearest) > self.threshold and len(samples) >= MIN_SAMPLES:
                seq, ts = self._last[second]
                self._anomalies.at(
                    "clock_skew",
                    seq,
                    ts,
                    second[0],
                    f"{entry['writer']}'s records of the {len(samples)} watch event(s) "
                    f"both journaled are {nearest:+.3f} s or more from "
                    f"{entry['relative_to']}'s: their clocks disagree beyond "
                    f"{self.threshold:g} s, so the merged order is not the order of events",
                    actor=second[1],
                    offset_seconds=round(nearest, 6),
                    samples=len(samples),
                )
        return offsets


def _name(writer: Writer, journals: Sequence[str]) -> str:
    source, actor = writer
    return f"{actor} ({journals[source]})" if len(journals) > 1 else actor
