"""The picture in a terminal: a leadership strip per replica and restarts per workload.

Appended to ``replay``'s text output. Each strip is :data:`STRIP_WIDTH`
columns over the replayed window: ``=`` the replica leads, ``!`` two
leaders at once, ``.`` it does not lead; the ``(any)`` row shows ``-`` where
no replica led. Colour (ANSI) only when the caller says so: the CLI asks
for it on a terminal, never in a pipe or with ``NO_COLOR`` set.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from telemetry.text import printable

if TYPE_CHECKING:
    from journal.replay import ReplayReport

STRIP_WIDTH = 60
#: Workloads listed before "... N more".
WORKLOAD_LIMIT = 20

_GREEN, _RED, _YELLOW, _DIM, _RESET = "\x1b[32m", "\x1b[1;31m", "\x1b[33m", "\x1b[2m", "\x1b[0m"
_COLOURS = {"=": _GREEN, "!": _RED, "-": _YELLOW, ".": _DIM}


def _seconds(ts: str) -> float:
    return datetime.fromisoformat(ts).timestamp()


def _paint(strip: str, colour: bool) -> str:
    if not colour:
        return strip
    out = []
    for char in strip:
        code = _COLOURS.get(char)
        out.append(f"{code}{char}{_RESET}" if code else char)
    return "".join(out)


def leadership_strips(
    report: ReplayReport, width: int = STRIP_WIDTH
) -> tuple[list[tuple[str, str]], str] | None:
    """Return ``(replica, strip)`` rows and the ``(any)`` strip, or ``None`` without terms."""
    terms = report.leader_terms
    if not terms or report.first is None or report.last is None:
        return None
    start, end = _seconds(report.first["ts"]), _seconds(report.last["ts"])
    span = max(end - start, 1e-6)
    step = span / width
    spans: dict[str, list[tuple[float, float]]] = {}
    for term in terms:
        t0 = _seconds(term["start"])
        t1 = _seconds(term["end"]) if term["end"] else end
        spans.setdefault(term["actor"], []).append((t0, max(t0, t1)))

    def leads(actor: str, c0: float, c1: float) -> bool:
        return any(t0 < c1 and t1 >= c0 for t0, t1 in spans[actor])

    columns = [(start + i * step, start + (i + 1) * step) for i in range(width)]
    # The last column includes the window's end (a term acquired by the last record).
    columns[-1] = (columns[-1][0], end + step / 2)
    leaders = [[actor for actor in spans if leads(actor, c0, c1)] for c0, c1 in columns]
    first_term = min(t0 for ranges in spans.values() for t0, _ in ranges)
    # Two leaders "at once" only when their terms overlap in time, not merely
    # when a handover falls inside one column.
    overlapping = [False] * width
    flat = sorted((t0, t1) for ranges in spans.values() for t0, t1 in ranges)
    for i, (c0, c1) in enumerate(columns):
        inside = [(max(t0, c0), min(t1, c1)) for t0, t1 in flat if t0 < c1 and t1 >= c0]
        overlapping[i] = any(
            a[0] < b[1] and b[0] < a[1] for n, a in enumerate(inside) for b in inside[n + 1 :]
        )
    rows = []
    for actor in sorted(spans):
        strip = "".join(
            ("!" if overlapping[i] else "=") if actor in leaders[i] else "." for i in range(width)
        )
        rows.append((actor, strip))
    summary = []
    for i, (c0, c1) in enumerate(columns):
        if overlapping[i]:
            summary.append("!")
        elif _gap_in(flat, c0, min(c1, end), first_term):
            summary.append("-")
        elif leaders[i]:
            summary.append("=")
        else:
            summary.append(" ")
    return rows, "".join(summary)


def _gap_in(flat: list[tuple[float, float]], c0: float, c1: float, first: float) -> bool:
    """Tell whether some moment of ``[c0, c1)`` after the first term has no leader."""
    moment = max(c0, first)
    if moment >= c1:
        return False
    for t0, t1 in flat:
        if t0 > moment:
            break
        moment = max(moment, t1)
        if moment >= c1:
            return False
    return moment < c1


def restarts_per_workload(report: ReplayReport) -> list[tuple[str, int, Counter[str], int]]:
    """Return ``(workload, restarts, outcomes, retries)``, most restarted first."""
    totals: dict[str, list[Any]] = {}
    for entry in report.restarts:
        # A Deployment by its name alone, as before; other kinds as kind/name.
        kind = entry.workload.partition("/")[0] if entry.workload else "deployment"
        workload = entry.deployment if kind == "deployment" else entry.workload
        name = workload if not entry.namespace else f"{entry.namespace}/{workload}"
        row = totals.get(name)
        if row is None:
            row = totals[name] = [0, Counter(), 0]
        row[0] += 1
        row[1][entry.outcome] += 1
        row[2] += entry.retries
    ordered = sorted(totals.items(), key=lambda item: (-item[1][0], item[0]))
    return [(name, count, outcomes, retries) for name, (count, outcomes, retries) in ordered]


def render_overview(report: ReplayReport, *, colour: bool = False, width: int = STRIP_WIDTH) -> str:
    """Return the strips and the per-workload counts as text lines (ending in a newline)."""
    lines = [""]
    strips = leadership_strips(report, width)
    if strips is None:
        lines.append("Leadership: (no leader terms in the window)")
    else:
        rows, summary = strips
        assert report.first is not None and report.last is not None
        first = datetime.fromisoformat(report.first["ts"]).astimezone(UTC)
        last = datetime.fromisoformat(report.last["ts"]).astimezone(UTC)
        # The times alone when the window is within one day; else the dates too
        # (a window of weeks is not "10:00:00 to 10:00:35").
        shape = "%H:%M:%S" if first.date() == last.date() else "%Y-%m-%d %H:%M:%S"
        lines.append(
            f"Leadership, {first.strftime(shape)} to {last.strftime(shape)} UTC in {width} "
            "columns (= leads, ! two leaders, - no leader):"
        )
        # Names are the journal's text: shown, never acted on by the terminal.
        rows = [(printable(name), strip) for name, strip in rows]
        pad = max(len(name) for name in [name for name, _ in rows] + ["(any)"])
        for name, strip in rows:
            lines.append(f"  {name:<{pad}} |{_paint(strip, colour)}|")
        lines.append(f"  {'(any)':<{pad}} |{_paint(summary, colour)}|")
    workloads = restarts_per_workload(report)
    lines += ["", f"Restarts per workload: {len(workloads)} workload(s)"]
    for name, count, outcomes, retries in workloads[:WORKLOAD_LIMIT]:
        detail = ", ".join(f"{outcome} {n}" for outcome, n in sorted(outcomes.items()))
        extra = f", {retries} {'retry' if retries == 1 else 'retries'}" if retries else ""
        lines.append(f"  {printable(name)}: {count} ({detail}){extra}")
    if len(workloads) > WORKLOAD_LIMIT:
        lines.append(f"  ... {len(workloads) - WORKLOAD_LIMIT} more")
    return "\n".join(lines) + "\n"
