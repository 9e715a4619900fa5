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

import math
import statistics
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from journal.filters import Filters
from journal.merge import merged_rows
from journal.replay.anomalies import Anomalies
from journal.replay.rows import (
    ACTOR,
    DATA,
    NS,
    OBJ,
    REPLAY_COLUMNS,
    REPLAY_PAGE_SIZE,
    SEQ,
    TS,
    keys,
    parse_json,
    seconds,
)
from records import ConfigMapObserved, kinds

#: A difference nearest zero beyond this many seconds is a ``clock_skew`` anomaly.
DEFAULT_CLOCK_SKEW_SECONDS = 1.0
#: The events both journaled it takes to judge a pair of clocks.
MIN_SAMPLES = 5
#: Events waiting for another writer's record of them.
PENDING = 20_000
#: Differences kept per pair of writers.
SAMPLES = 10_000

if TYPE_CHECKING:
    from journal.store import Journal

Writer = tuple[int, str]  # the journal (source) and the actor

_SOURCE, _VERSION, _EVENT = keys(ConfigMapObserved, "source", "resource_version", "event_type")
_FROM_WATCH = '"source":"watch"'


class _Pair:
    """Two writers' differences (the later writer's time minus the earlier's)."""

    __slots__ = ("nearest", "samples")

    def __init__(self) -> None:
        self.samples: deque[float] = deque(maxlen=SAMPLES)
        #: The difference nearest zero, over every sample (kept or not).
        self.nearest = math.inf


class Clocks:
    """Pairs the writers' records of one watch event and measures their clocks' offsets."""

    def __init__(self, anomalies: Anomalies, threshold: float) -> None:
        """Report offsets beyond ``threshold`` seconds to ``anomalies``."""
        self._anomalies = anomalies
        self.threshold = threshold
        #: An event's records so far: writer -> (its time in seconds, its row).
        self._pending: OrderedDict[tuple[Any, ...], dict[Writer, tuple[float, Sequence[Any]]]] = (
            OrderedDict()
        )
        #: (earlier writer, later writer), in writer order -> their differences.
        self._pairs: dict[tuple[Writer, Writer], _Pair] = {}
        #: (writer, new writer) -> their pair and the sign of the new one's difference.
        self._links: dict[tuple[Writer, Writer], tuple[_Pair, float]] = {}
        #: The last row of each writer that gave a sample.
        self._last: dict[Writer, Sequence[Any]] = {}

    def observed(self, row: Sequence[Any], source: int) -> None:
        """Take one ``configmap.observed`` record of journal ``source``."""
        text = row[DATA]
        # Most observations of a merged replay are lists or relists: told
        # apart in the canonical text (no spaces) before any parsing.
        if not isinstance(text, str) or _FROM_WATCH not in text:
            return
        data = parse_json(text)
        version = data.get(_VERSION)
        if data.get(_SOURCE) != "watch" or not version:
            return
        key = (row[NS], row[OBJ], version, data.get(_EVENT))
        writer: Writer = (source, row[ACTOR])
        at = seconds(row[TS])
        pending = self._pending
        seen = pending.get(key)
        if seen is None:
            pending[key] = {writer: (at, row)}
            if len(pending) > PENDING:
                pending.popitem(last=False)  # the oldest
            return
        if writer in seen:  # the same writer again (a replayed watch): not a pair
            return
        links, last = self._links, self._last
        for other, (then, their_row) in seen.items():
            link = links.get((other, writer)) or self._link(other, writer)
            pair, sign = link
            difference = (at - then) * sign
            pair.samples.append(difference)
            if abs(difference) < abs(pair.nearest):
                pair.nearest = difference
            last[other] = their_row
        seen[writer] = (at, row)
        last[writer] = row

    def _link(self, other: Writer, writer: Writer) -> tuple[_Pair, float]:
        first, second = sorted((other, writer))
        pair = self._pairs.get((first, second))
        if pair is None:
            pair = self._pairs[(first, second)] = _Pair()
        link = self._links[(other, writer)] = (pair, 1.0 if second == writer else -1.0)
        return link

    def finish(self, journals: Sequence[str]) -> list[dict[str, Any]]:
        """Return each pair's offset (``clock_offsets``) and report those beyond the threshold."""
        offsets = []
        for (first, second), pair in sorted(self._pairs.items(), key=lambda item: item[0]):
            samples, nearest = pair.samples, pair.nearest
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
                row = self._last[second]
                self._anomalies.at(
                    "clock_skew",
                    row[SEQ],
                    row[TS],
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


def compare_clocks(
    journals: Sequence[Journal], filters: Filters, names: Sequence[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Measure the clocks of several journals' writers over ``filters``'s window.

    Only the ``configmap.observed`` records are read (through the ``kind``
    index), not a whole replay. Returns ``clock_offsets`` and the
    ``clock_skew`` anomalies, as a merged replay of the window reports them.
    """
    anomalies = Anomalies(names)
    clocks = Clocks(anomalies, DEFAULT_CLOCK_SKEW_SECONDS)
    observed = replace(filters, kinds=(kinds.CONFIGMAP_OBSERVED,))
    for source, row in merged_rows(journals, observed, REPLAY_COLUMNS, page_size=REPLAY_PAGE_SIZE):
        clocks.observed(row, source)
    return clocks.finish(names), anomalies.in_order()
