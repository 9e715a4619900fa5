"""The timeline as one self-contained HTML page: inline CSS and SVG, nothing loaded.

The page is readable from a ``file://`` URL offline: no script, font, image
or style sheet comes from anywhere. Hovering a mark shows its SVG
``<title>`` (the record's details). Marks closer than a bin of a few pixels
are drawn as one aggregate whose height grows with the count and whose
tooltip names the count, the outcomes and the seq range; so a day of
thousands of restarts stays one screen wide and a few MB heavy.

All text from the records is untrusted: every piece goes through
:func:`esc` (``html.escape`` after replacing characters XML cannot carry).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from journal.files import create_file, replace_file
from journal.picture.labels import (
    BOLD_CHAR_PX,
    CHAR_PX,
    Labels,
    esc,
    short_counts,
    short_title,
    tooltip,
)
from journal.picture.model import Lane, Mark, Timeline
from journal.picture.style import CSS, LEGEND
from journal.picture.tables import render_tables

#: The SVG's width: readable in a 1,400 px wide window.
WIDTH = 1370
LABEL_WIDTH = 250
PLOT_X = LABEL_WIDTH
PLOT_WIDTH = WIDTH - LABEL_WIDTH - 16
#: Marks closer than this many pixels share one aggregate (at least).
BIN_PX = 4
#: Wider bins, tried in turn while the picture would hold more marks than
#: :data:`MARK_BUDGET` (each drawn mark carries its tooltip): keeps the page
#: a few MB whatever the number and spacing of records.
BIN_CHOICES = (4, 6, 8, 12, 16, 24)
MARK_BUDGET = 5000
#: A span narrower than this is drawn as a point (and may be aggregated).
MIN_SPAN_PX = 6
#: The window's dates, the drills' labels and the tick labels: a row each.
AXIS_HEIGHT = 52
LANE_HEIGHT = 28
SECTION_GAP = 14


_SECTIONS = {
    "leadership": "Leadership",
    "replica": "Replicas",
    "notes": "Operators",
    "anomalies": "Anomalies",
    "configmap": "ConfigMaps",
    "workload": "Workloads",
}
# Which vertical row of a lane a category uses: 0 top, 1 bottom, 2 the whole lane.
_ROW = {
    "term": 2,
    "leaderless": 2,
    "overlap": 2,
    "change": 0,
    "debounce": 1,
    "coalesced": 1,
    "restart": 1,
    "retry": 0,
    "failed": 0,
    "dropped": 0,
    "flushed": 0,
    "rollout_timeout": 0,
    "anomaly": 2,
    "note": 2,
    "drill_start": 2,
    "drill_end": 2,
    "vacuum": 2,
    "started": 0,
    "stopped": 0,
    "acquired": 1,
    "lost": 1,
    "released": 1,
}
# Worst first: an aggregate takes the colour of its worst member.
_SEVERITY = ("anomaly", "failed", "dropped", "rollout_timeout", "retry", "none", "abandoned")


def _f(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


class _Scale:
    def __init__(self, start: float, end: float, bin_px: int = BIN_PX) -> None:
        self.start = start
        self.span = max(end - start, 1e-6)
        self.bin = bin_px

    def x(self, t: float) -> float:
        fraction = (t - self.start) / self.span
        return PLOT_X + min(max(fraction, 0.0), 1.0) * PLOT_WIDTH


def _fmt_time(t: float, step: float, *, dated: bool = False, yeared: bool = False) -> str:
    """A tick's label; ``dated``: with its day (the first tick, and where a day begins).

    Day ticks carry the year where ``yeared`` (the first tick, and where a year
    begins), ticks a month or more apart always. Millisecond labels never
    carry the day: they would not fit between ticks.
    """
    # Rounded to the millisecond: 0.6 s is not shown as .599 for a float a hair below it.
    moment = datetime.fromtimestamp(round(t, 3), UTC)
    day = moment.strftime("%m-%d ") if dated else ""
    if step >= 86400:
        if yeared or step >= _MONTH:
            return f"{moment.year:04d}-{moment:%m-%d}"
        return moment.strftime("%m-%d")
    if step >= 60:
        return day + moment.strftime("%H:%M")
    if step >= 1:
        return day + moment.strftime("%H:%M:%S")
    return moment.strftime("%H:%M:%S.%f")[:-3]


_DAY = 86400
_MONTH = 30 * _DAY
_YEAR = 365 * _DAY
# Up to a week, then months and years (of 30 and 365 days: the labels name
# the day each tick falls on), so that a window of months or centuries gets
# a dozen ticks across the whole axis, not 40 weeks crammed at its start.
_STEPS = (
    0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800,
    3600, 7200, 10800, 21600, 43200, _DAY, 2 * _DAY, 7 * _DAY, 14 * _DAY, _MONTH, 3 * _MONTH,
    6 * _MONTH, _YEAR, 2 * _YEAR, 5 * _YEAR, 10 * _YEAR, 20 * _YEAR, 50 * _YEAR, 100 * _YEAR,
    200 * _YEAR, 500 * _YEAR, 1000 * _YEAR,
)  # fmt: skip


def _ticks(start: float, end: float) -> tuple[float, list[float]]:
    span = max(end - start, 1e-6)
    step = next((s for s in _STEPS if span / s <= 12), _STEPS[-1])
    first = math.ceil(start / step - 1e-9)
    ticks = []
    # Each tick from its index, not by adding steps up: no drift over the axis.
    while (t := (first + len(ticks)) * step) <= end + 1e-9 and len(ticks) < 40:
        ticks.append(t)
    return step, ticks


def _colour(mark: Mark) -> str:
    if mark.category == "restart":
        outcome = mark.outcome or "other"
        known = ("patched", "landed", "failed", "dropped", "pending", "none", "abandoned", "lost")
        return f"c-{outcome}" if outcome in known else "c-other"
    if mark.category == "leaderless":
        return f"c-leaderless-{mark.outcome}"
    return f"c-{mark.category}"


def _row_box(category: str, y: float) -> tuple[float, float]:
    row = _ROW.get(category, 2)
    if row == 0:
        return y + 3, 10
    if row == 1:
        return y + 14, 10
    return y + 3, LANE_HEIGHT - 6


def _lane_svg(lane: Lane, y: float, scale: _Scale, journals: Sequence[str], out: list[str]) -> None:
    counts = ", ".join(f"{name} {value:,}" for name, value in lane.counts.items())
    shown = short_counts(counts)
    out.append(
        f'<g class="lane" data-lane="{esc(lane.key)}" data-kind="{lane.kind}">'
        f'<rect class="lanebg" x="{PLOT_X}" y="{_f(y + 1)}" width="{PLOT_WIDTH}" '
        f'height="{LANE_HEIGHT - 2}"/>'
        f'<text class="lt" x="6" y="{_f(y + 12)}">{esc(short_title(lane.title))}'
        f"<title>{esc(lane.title)}</title></text>"
        f'<text class="lc" x="6" y="{_f(y + 24)}">{esc(shown)}<title>{esc(counts)}</title></text>'
    )
    # One label track per row of the lane (row 2 marks use the top one and
    # cover both).
    tracks = (Labels(PLOT_X, PLOT_X + PLOT_WIDTH), Labels(PLOT_X, PLOT_X + PLOT_WIDTH))

    def occupy(row: int, x0: float, x1: float) -> None:
        for index in (0, 1) if row == 2 else (row,):
            tracks[index].occupy(x0, x1)

    bins: dict[tuple[int, int, str], list[Mark]] = {}
    order: list[tuple[int, int, str]] = []
    crowded = _crowded_spans(lane, scale)
    for mark in lane.marks:
        x0 = scale.x(mark.t)
        key = _bin_key(mark, scale)
        if mark.end is not None:
            x1 = scale.x(mark.end)
            always = mark.category in _ALWAYS and key not in crowded
            if always or x1 - x0 >= MIN_SPAN_PX:
                labels = tracks[_ROW.get(mark.category, 2) == 1]
                occupy(_ROW.get(mark.category, 2), x0, x0 + max(x1 - x0, 1.0))
                _span(
                    mark, x0=x0, x1=x1, y=y, scale=scale, journals=journals, labels=labels, out=out
                )
                continue
        members = bins.get(key)
        if members is None:
            bins[key] = [mark]
            order.append(key)
        else:
            members.append(mark)
    for key in order:
        members = bins[key]
        if len(members) == 1:
            x = scale.x(members[0].t)
            half = 5 if members[0].category == "anomaly" else 1.5
            occupy(key[0], x - half, x + half)
        else:
            x = PLOT_X + key[1] * scale.bin
            occupy(key[0], x, x + scale.bin - 0.5)
    for key in sorted(order, key=lambda item: item[1]):
        members = bins[key]
        labels = tracks[key[0] == 1]
        if len(members) == 1:
            _point(members[0], y=y, scale=scale, journals=journals, labels=labels, out=out)
        else:
            _aggregate(
                members, column=key[1], y=y, scale=scale, labels=labels, journals=journals, out=out
            )
    # The labels last, over the marks, where they cover none.
    for labels in tracks:
        labels.render(out)
    out.append("</g>")


#: Spans drawn however short (a term, a stretch without or with two leaders)...
_ALWAYS = ("term", "leaderless", "overlap")


def _crowded_spans(lane: Lane, scale: _Scale) -> set[tuple[int, int, str]]:
    """... unless several of a kind share one bin: then they are one aggregate.

    A week of a leader flapping every few seconds is tens of thousands of
    terms, each a fraction of a pixel: drawn one by one, they would make the
    page tens of MB that shows no more than their count per bin does.
    """
    seen: set[tuple[int, int, str]] = set()
    crowded: set[tuple[int, int, str]] = set()
    for mark in lane.marks:
        key = _bin_key(mark, scale)
        if key[2]:
            (crowded if key in seen else seen).add(key)
    return crowded


def _bin_key(mark: Mark, scale: _Scale) -> tuple[int, int, str]:
    """The bin a mark joins when it is not drawn on its own: its row, column and kind.

    The kind is ``""`` but for a span of :data:`_ALWAYS` narrower than
    :data:`MIN_SPAN_PX`: such spans aggregate by category.
    """
    x0 = scale.x(mark.t)
    row, column = _ROW.get(mark.category, 2), int((x0 - PLOT_X) // scale.bin)
    short = mark.end is not None and scale.x(mark.end) - x0 < MIN_SPAN_PX
    return (row, column, mark.category if mark.category in _ALWAYS and short else "")


def _data(mark: Mark, journals: Sequence[str]) -> str:
    text = f' data-cat="{mark.category}"'
    if mark.seq is not None:
        text += f' data-seq="{mark.seq}"'
    if mark.journal is not None and len(journals) > 1:
        text += f' data-journal="{mark.journal}"'
    return text


def _span(
    mark: Mark,
    *,
    x0: float,
    x1: float,
    y: float,
    scale: _Scale,
    journals: Sequence[str],
    labels: Labels,
    out: list[str],
) -> None:
    top, height = _row_box(mark.category, y)
    colour = _colour(mark)
    if mark.category == "term":
        colour = f"c-term{(mark.seq or 0) % 2}"
        epoch = mark.label.removeprefix("epoch ")
        colour = f"c-term{int(epoch) % 2}" if epoch.isdigit() else colour
    width = max(x1 - x0, 1.0)
    out.append(
        f'<rect class="m {colour}"{_data(mark, journals)} x="{_f(x0)}" y="{_f(top)}" '
        f'width="{_f(width)}" height="{height}">'
        f"<title>{esc(tooltip(mark, journals))}</title></rect>"
    )
    if mark.category == "restart" and mark.rollout_end is not None and mark.end is not None:
        end_x = scale.x(mark.rollout_end)
        style = "ro" if mark.outcome != "rollout_timeout" else "ro-timeout"
        mid = _f(top + height / 2)
        out.append(f'<line class="{style}" x1="{_f(x1)}" y1="{mid}" x2="{_f(end_x)}" y2="{mid}"/>')
    if mark.label and mark.category in ("term", "restart", "leaderless", "overlap"):
        text = mark.label
        fits_inside = len(text) * CHAR_PX + 4 <= width
        if fits_inside and mark.category == "term":
            out.append(
                f'<text x="{_f(x0 + 3)}" y="{_f(top + height / 2 + 3.5)}" '
                f'style="fill:#fff">{esc(text)}</text>'
            )
        else:
            labels.request(x1 + 3, text, f'<text x="{{x}}" y="{_f(top + 9)}">{esc(text)}</text>')


def _point(
    mark: Mark,
    *,
    y: float,
    scale: _Scale,
    journals: Sequence[str],
    labels: Labels,
    out: list[str],
) -> None:
    x = scale.x(mark.t)
    top, height = _row_box(mark.category, y)
    tip = esc(tooltip(mark, journals))
    colour = _colour(mark)
    if mark.category == "anomaly":
        bottom = top + height
        shape = (
            f'<path class="m {colour}"{_data(mark, journals)} '
            f'd="M{_f(x)} {_f(top)}L{_f(x + 5)} {_f(bottom)}L{_f(x - 5)} {_f(bottom)}Z">'
            f"<title>{tip}</title></path>"
        )
    else:
        shape = (
            f'<rect class="m {colour}"{_data(mark, journals)} x="{_f(x - 1.5)}" y="{_f(top)}" '
            f'width="3" height="{height}"><title>{tip}</title></rect>'
        )
    out.append(shape)
    if mark.label:
        labels.request(
            x + 6,
            mark.label,
            f'<text x="{{x}}" y="{_f(top + min(height, 12) - 2)}">{esc(mark.label)}</text>',
        )


def _aggregate(
    members: list[Mark],
    *,
    column: int,
    scale: _Scale,
    y: float,
    labels: Labels,
    journals: Sequence[str],
    out: list[str],
) -> None:
    count = len(members)
    category = members[0].category
    _top, full = _row_box(category, y)
    height = min(full, 3 + 2.2 * math.log2(count))
    top = _top + full - height
    outcomes: dict[str, int] = {}
    for mark in members:
        name = mark.outcome or mark.category
        outcomes[name] = outcomes.get(name, 0) + 1
    worst = next(
        (m for name in _SEVERITY for m in members if (m.outcome or m.category) == name), None
    )
    colour = _colour(worst or members[0]) if category != "term" else "c-term0"
    seqs = [m.seq for m in members if m.seq is not None]
    lines = [f"{count} x {category}"]
    lines.append(", ".join(f"{name} {value}" for name, value in sorted(outcomes.items())))
    lines.append(f"from {_iso(members[0].t)} to {_iso(members[-1].t)}")
    if seqs:
        lines.append(f"seq {min(seqs)}..{max(seqs)}")
    latencies = [m.end - m.t for m in members if m.category == "restart" and m.end is not None]
    if latencies:
        lines.append(f"planned→patched max {max(latencies):.3f} s")
    named = [m for m in members if m.category == "anomaly"][:5]
    lines += [m.label for m in named]
    bin_px = scale.bin
    x = PLOT_X + column * bin_px
    out.append(
        f'<rect class="m agg {colour}" data-cat="{category}" data-count="{count}" '
        f'x="{_f(x)}" y="{_f(top)}" width="{bin_px - 0.5}" height="{_f(height)}">'
        f"<title>{esc(chr(10).join(lines))}</title></rect>"
    )
    if count >= 2:
        labels.request(
            x + bin_px + 1,
            str(count),
            f'<text class="lc" x="{{x}}" y="{_f(_top + 8)}">{count}</text>',
        )


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def bin_width(timeline: Timeline) -> int:
    """Return the aggregation bin (px) that keeps the drawn marks within the budget."""
    scale = _Scale(timeline.start, timeline.end)
    for bin_px in BIN_CHOICES:
        drawn = 0
        for lane in timeline.lanes:
            columns: set[tuple[int, int, str]] = set()
            for mark in lane.marks:
                x0, row = scale.x(mark.t), _ROW.get(mark.category, 2)
                if mark.category not in _ALWAYS:
                    columns.add((row, int(x0 // bin_px), ""))
                elif mark.end is not None and scale.x(mark.end) - x0 < MIN_SPAN_PX:
                    columns.add((row, int(x0 // bin_px), mark.category))  # a bin's aggregate
                else:
                    drawn += 1
            drawn += len(columns)
        if drawn <= MARK_BUDGET:
            return bin_px
    return BIN_CHOICES[-1]


def render_svg(timeline: Timeline, bin_px: int | None = None) -> str:
    """Return the timeline as an ``<svg>`` element (well-formed XML)."""
    scale = _Scale(timeline.start, timeline.end, bin_px or bin_width(timeline))
    body: list[str] = []
    y = AXIS_HEIGHT
    section = None
    for lane in timeline.lanes:
        if lane.kind != section:
            section = lane.kind
            y += SECTION_GAP
            body.append(f'<text class="sec" x="6" y="{_f(y - 3)}">{_SECTIONS[section]}</text>')
        _lane_svg(lane, y, scale, timeline.journals, body)
        y += LANE_HEIGHT
    height = y + 10
    head = [
        f'<svg class="timeline" width="{WIDTH}" height="{_f(height)}" '
        f'viewBox="0 0 {WIDTH} {_f(height)}" role="img" aria-label="Journal timeline">'
    ]
    step, ticks = _ticks(timeline.start, timeline.end)
    previous_day = None
    for t in ticks:
        x = scale.x(t)
        day = datetime.fromtimestamp(round(t, 3), UTC).date()
        yeared = previous_day is None or day.year != previous_day.year
        label = _fmt_time(t, step, dated=day != previous_day, yeared=yeared)
        previous_day = day
        # Centred on its line, but never past the picture's right edge.
        at = min(x, WIDTH - 2 - len(label) * CHAR_PX / 2)
        head.append(
            f'<line class="grid" x1="{_f(x)}" y1="{AXIS_HEIGHT - 8}" x2="{_f(x)}" '
            f'y2="{_f(height)}"/><text class="tick" x="{_f(at)}" y="{AXIS_HEIGHT - 12}" '
            f'text-anchor="middle">{esc(label)}</text>'
        )
    head.append(
        f'<text class="lc" x="6" y="11">UTC, {esc(_iso(timeline.start))} to '
        f"{esc(_iso(timeline.end))}</text>"
    )
    drills = []
    free_x = float(PLOT_X)
    for index, (t0, t1, label) in enumerate(timeline.drills):
        x0, x1 = scale.x(t0), scale.x(t1)
        text = f"drill: {label[:60]}"
        # In its own row under the window's dates, inside the picture, one
        # label never over another's (the band's tooltip names each).
        at = max(min(x0 + 3, WIDTH - 2 - len(text) * BOLD_CHAR_PX), PLOT_X)
        caption = ""
        if at >= free_x:
            free_x = at + len(text) * BOLD_CHAR_PX + 8
            caption = f'<text class="dl" x="{_f(at)}" y="{AXIS_HEIGHT - 26}">{esc(text)}</text>'
        drills.append(
            f'<g class="drillwin" data-drill="{index}"><rect class="drill" x="{_f(x0)}" '
            f'y="{AXIS_HEIGHT - 6}" width="{_f(max(x1 - x0, 1))}" '
            f'height="{_f(height - AXIS_HEIGHT)}">'
            f"<title>{esc(f'drill: {label}')}\nfrom {_iso(t0)}\nto {_iso(t1)}</title></rect>"
            f"{caption}</g>"
        )
    # The drill windows lie behind the lanes: marks keep their colours.
    return "".join(head + drills + body) + "</svg>"


def render_html(timeline: Timeline) -> str:
    """Return the whole self-contained page."""
    report = timeline.report
    summary = report.to_json(restarts=False)  # the replay report, not a record payload
    journals = timeline.journals
    swatches = "".join(
        f'<span><svg width="12" height="10" style="display:inline;vertical-align:middle;'
        f'margin-right:4px"><rect class="{cls}" width="12" height="10"/></svg>{esc(text)}</span>'
        for cls, text in LEGEND
    )
    latency = summary["restart_latency_seconds"]
    bin_px = bin_width(timeline)

    def seconds_text(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f} s"

    meta = (
        f"Journal(s): {', '.join(journals)}. Events: {report.events:,}. "
        f"Restarts: {len(report.restarts):,} (change to patch p50 "
        f"{seconds_text(latency['p50'])}, p95 {seconds_text(latency['p95'])}, max "
        f"{seconds_text(latency['max'])}). Anomalies: {len(report.anomalies):,}."
    )
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=1400">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'\">",
        "<title>Shipshape journal timeline</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>Journal timeline</h1>",
        f'<p class="meta">{esc(meta)}</p>',
        *(
            _nothing(timeline)
            if report.events == 0
            else (
                f'<p class="meta">Window: {esc(_iso(timeline.start))} to '
                f"{esc(_iso(timeline.end))} (UTC). Hover a mark for the record's details; "
                f"marks closer than {bin_px} px are drawn as one bar whose height grows "
                "with the count.</p>",
                f'<div class="legend">{swatches}</div>',
                render_svg(timeline, bin_px),
            )
        ),
        *render_tables(timeline),
    ]
    parts.append("</body></html>\n")
    return "".join(parts)


def _nothing(timeline: Timeline) -> tuple[str]:
    """Say there is nothing to draw, and for which window (an empty axis tells nothing)."""
    since, until = timeline.bounds
    if since is None and until is None:
        text = "No records: the journal holds none (or none that the filters select)."
    else:
        start = _iso(since) if since is not None else "the first record"
        end = _iso(until) if until is not None else "the last record"
        text = f"No records in the window: {start} to {end} (UTC)."
    return (f'<p class="empty" role="status">{esc(text)}</p>',)


def write_html(timeline: Timeline, path: str | Path, *, exclusive: bool = False) -> int:
    """Write the page to ``path``; return its size in bytes.

    The page replaces ``path`` only once it is complete (:func:`replace_file`):
    a failure leaves the previous file intact and no temporary file.

    Args:
        timeline: What to draw.
        path: The file to write.
        exclusive: Fail if the file exists (``FileExistsError``); a failed write
            then leaves no file (:func:`create_file`).
    """
    data = render_html(timeline).encode("utf-8")
    if not exclusive:
        return replace_file(path, data)
    return create_file(path, data)  # a failed write leaves no truncated page
