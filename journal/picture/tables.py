"""The tables under the timeline: its main facts as text, for reading and for screen readers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from journal.picture.labels import esc, tooltip
from journal.picture.marks import Timeline
from records import source_object

#: Rows in each HTML table below the picture before it says "N more".
TABLE_LIMIT = 500


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


#: A cell (but the last) of more characters than this may wrap anywhere: a
#: name of 253 characters without a space keeps its table within the page.
LONG_CELL = 48


def _cell(cell: Any, last: bool) -> str:
    text = str(cell)
    if last:
        return f'<td class="msg">{esc(text)}</td>'
    return (
        f'<td class="long">{esc(text)}</td>' if len(text) > LONG_CELL else f"<td>{esc(text)}</td>"
    )


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], total: int) -> str:
    parts = ["<table><tr>", *(f"<th>{esc(h)}</th>" for h in headers), "</tr>"]
    for row in rows:
        cells = "".join(_cell(cell, i == len(row) - 1) for i, cell in enumerate(row))
        parts.append(f"<tr>{cells}</tr>")
    parts.append("</table>")
    if total > len(rows):
        parts.append(f"<p class=meta>… {total - len(rows):,} more (all are in replay -o json)</p>")
    return "".join(parts)


def _workload(entry: Any) -> str:
    kind_name = entry.workload or f"deployment/{entry.deployment}"
    return f"{entry.namespace or '-'}/{kind_name}"


def _section(
    title: str,
    headers: Sequence[str],
    items: Sequence[Any],
    row: Callable[[Any], Sequence[Any]],
    empty: str = "None.",
) -> list[str]:
    """A heading, then ``items`` as a table of at most :data:`TABLE_LIMIT` rows, or ``empty``."""
    if not items:
        return [f"<h2>{title}</h2>", f"<p>{empty}</p>"]
    rows = [row(item) for item in items[:TABLE_LIMIT]]
    return [f"<h2>{title}</h2>", _table(headers, rows, len(items))]


def render_tables(timeline: Timeline) -> list[str]:
    """Return the anomalies, leader terms, restarts per workload and notes as HTML."""
    report = timeline.report
    journals = timeline.journals
    first = journals[0] if journals else ""
    multi = len(journals) > 1
    notes_lane = timeline.lane("notes")
    return [
        *_section(
            "Anomalies",
            ("journal", "seq", "ts", "type", "message"),
            report.anomalies,
            lambda a: (
                a.get("journal", first),
                a["seq"],
                a["ts"],
                a["type"],
                a.get("message", ""),
            ),
        ),
        *_section(
            "Leader terms",
            ("replica", "epoch", "from", "to", "how"),
            report.leader_terms,
            lambda t: (
                t["actor"],
                t["epoch"],
                f"{t['start']} (seq {t['start_seq']})",
                f"{t['end']} (seq {t['end_seq']}, {t['end_reason']})" if t["end"] else "open",
                t["how"],
            ),
            empty="None recorded.",
        ),
        *_section(
            "Restarts per workload",
            ("workload", "counts"),
            [lane for lane in timeline.lanes if lane.kind == "workload"],
            lambda lane: (lane.title, ", ".join(f"{k} {v:,}" for k, v in lane.counts.items())),
        ),
        *_section(
            "Restarts",
            ("planned", "workload", "source", "outcome", "change to patch", "retries", "record"),
            report.restarts,
            lambda entry: (
                entry.ts,
                _workload(entry),
                source_object(entry.configmap) or "-",
                entry.outcome
                + (f" at {entry.patched_ts}" if entry.patched_ts else "")
                + (f", rollout {entry.rollout}" if entry.rollout else ""),
                "-" if entry.latency_seconds is None else f"{entry.latency_seconds:.3f} s",
                entry.retries,
                f"{entry.journal or first} seq {entry.seq}",
            ),
        ),
        *_section(
            "Operator notes",
            ("journal", "seq", "ts", "note"),
            notes_lane.marks if notes_lane is not None else [],
            lambda m: (
                journals[m.journal] if m.journal is not None and multi else first,
                m.seq,
                _iso(m.t),
                tooltip(m, journals),
            ),
        ),
    ]
