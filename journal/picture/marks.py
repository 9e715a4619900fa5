"""The picture's data types: a :class:`Timeline` of :class:`Lane` rows of :class:`Mark` s.

Pure data, built by :class:`journal.picture.model.Collector` and drawn by
:mod:`journal.picture.page`; plus the helpers both read rows with (the
columns of :data:`journal.replay.REPLAY_COLUMNS`, :func:`seconds`,
:func:`describe_row`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from journal.replay import REPLAY_COLUMNS

if TYPE_CHECKING:
    from journal.replay import ReplayReport

_COLUMN = {column.name: index for index, column in enumerate(REPLAY_COLUMNS)}
_SEQ, _TS, _KIND, _NS, _OBJ = (_COLUMN[n] for n in ("seq", "ts", "kind", "namespace", "object"))
_CORR, _ACTOR, _EPOCH, _DATA = (
    _COLUMN[n] for n in ("correlation_id", "actor", "leader_epoch", "data")
)
#: Characters of a record's data shown in a tooltip.
DETAIL_DATA_CHARS = 300


def seconds(ts: str | datetime) -> float:
    """Return a journal timestamp (canonical text or aware datetime) as POSIX seconds."""
    if isinstance(ts, datetime):
        return ts.timestamp()
    return datetime.fromisoformat(ts).timestamp()


def name_of(obj: str | None) -> str:
    """The name in a record's ``object`` (``configmap/NAME`` -> ``NAME``; ``?`` when none)."""
    if not obj:
        return "?"
    return obj.split("/", 1)[1] if "/" in obj else obj


def describe_row(row: Sequence[Any], journal: str | None) -> str:
    """Return a record's details for a tooltip (plain text: the page escapes it)."""
    data = row[_DATA] if isinstance(row[_DATA], str) else ""
    if len(data) > DETAIL_DATA_CHARS:
        data = data[:DETAIL_DATA_CHARS] + "…"
    where = f"{journal} " if journal else ""
    lines = [f"{row[_KIND]} — {where}seq {row[_SEQ]}", f"ts {row[_TS]}", f"actor {row[_ACTOR]}"]
    if row[_NS] or row[_OBJ]:
        lines.append(f"object {row[_NS] or '-'}/{row[_OBJ] or '-'}")
    if row[_CORR]:
        lines.append(f"correlation {row[_CORR]}")
    if row[_EPOCH] is not None:
        lines.append(f"leader epoch {row[_EPOCH]}")
    if data and data != "{}":
        lines.append(f"data {data}")
    return "\n".join(lines)


@dataclass(slots=True)
class Mark:
    """Something at a moment (or over a span) on one lane.

    Attributes:
        t: Start, POSIX seconds.
        end: End of a span (``None``: a point).
        category: What it is (``change``, ``debounce``, ``restart``, ``retry``,
            ``failed``, ``anomaly``, ``term``, ``note``, ...); the page's colours.
        label: A short text drawn beside the mark when there is room.
        journal: Index into ``Timeline.journals`` (``None``: not from one record).
        seq: The record's seq in that journal.
        detail: The tooltip text, or ``None`` to describe ``row``.
        row: The record's row (for the tooltip), when ``detail`` is ``None``.
        outcome: A restart's outcome (``patched``, ``failed``, ...) or a gap's severity.
        rollout_end: When a patched restart's rollout completed or timed out.
    """

    t: float
    end: float | None
    category: str
    label: str = ""
    journal: int | None = None
    seq: int | None = None
    detail: str | None = None
    row: Sequence[Any] | None = None
    outcome: str | None = None
    rollout_end: float | None = None


@dataclass
class Lane:
    """One row of the picture.

    Attributes:
        key: Unique id (``replica:NAME``, ``configmap:NS/NAME``, ``workload:NS/NAME``,
            ``leadership``, ``notes``, ``anomalies``).
        kind: ``leadership``, ``replica``, ``notes``, ``anomalies``, ``configmap``
            or ``workload``.
        title: The name shown in the label column.
        marks: Its marks, in time order once the timeline is finished.
        counts: Totals shown next to the title (``restarts``, ``failed``, ...).
    """

    key: str
    kind: str
    title: str
    marks: list[Mark] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class Timeline:
    """The picture's data: the window, the lanes and the drill windows.

    Attributes:
        journals: Display names of the journals, in ``--journal`` order.
        start: The window's start (POSIX seconds).
        end: The window's end.
        lanes: In drawing order.
        drills: ``(start, end, label)`` of drill windows (``end`` is the
            window's end when the drill has no end mark yet).
        report: The replay report built in the same pass.
        bounds: The window asked for (``--since``, ``--until``; ``None``:
            not given, the records' first or last moment).
    """

    journals: list[str]
    start: float
    end: float
    lanes: list[Lane]
    drills: list[tuple[float, float, str]]
    report: ReplayReport
    bounds: tuple[float | None, float | None] = (None, None)

    def lane(self, key: str) -> Lane | None:
        """Return the lane with ``key`` (``None`` if there is none)."""
        return next((lane for lane in self.lanes if lane.key == key), None)
