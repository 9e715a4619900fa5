"""The tables under the timeline: its main facts as text, for reading and for screen readers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from journal.picture.labels import esc, tooltip
from journal.picture.marks import Timeline
from records import source_object

#: Rows in each HTML table below the picture before it says "N more".
TABLE_LIMIT = 500


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], total: int) -> str:
    parts = ["<table><tr>", *(f"<th>{esc(h)}</th>" for h in headers), "</tr>"]
    for row in rows:
        cells = "".join(
            f'<td class="msg">{esc(cell)}</td>' if i == len(row) - 1 else f"<td>{esc(cell)}</td>"
            for i, cell in enumerate(row)
        )
        parts.append(f"<tr>{cells}</tr>")
    parts.append("</table>")
    if total > len(rows):
        parts.append(f"<p class=meta>… {total - len(rows):,} more (all are in replay -o json)</p>")
    return "".join(parts)


def _workload(entry: Any) -> str:
    kind_name = entry.workload or f"deployment/{entry.deployment}"
    return f"{entry.namespace or '-'}/{kind_name}"


def render_tables(timeline: Timeline) -> list[str]:
    """Return the anomalies, leader terms, restarts per workload and notes as HTML."""
    report = timeline.report
    journals = timeline.journals
    multi = len(journals) > 1
    parts = ["<h2>Anomalies</h2>"]
    anomalies = report.anomalies
    parts.append(
        _table(
            ("journal", "seq", "ts", "type", "message"),
            [
                (
                    a.get("journal", journals[0] if journals else ""),
                    a["seq"],
                    a["ts"],
                    a["type"],
                    a.get("message", ""),
                )
                for a in anomalies[:TABLE_LIMIT]
            ],
            len(anomalies),
        )
        if anomalies
        else "<p>None.</p>"
    )
    parts.append("<h2>Leader terms</h2>")
    terms = report.leader_terms
    parts.append(
        _table(
            ("replica", "epoch", "from", "to", "how"),
            [
                (
                    t["actor"],
                    t["epoch"],
                    f"{t['start']} (seq {t['start_seq']})",
                    f"{t['end']} (seq {t['end_seq']}, {t['end_reason']})" if t["end"] else "open",
                    t["how"],
                )
                for t in terms[:TABLE_LIMIT]
            ],
            len(terms),
        )
        if terms
        else "<p>None recorded.</p>"
    )
    parts.append("<h2>Restarts per workload</h2>")
    workloads = [lane for lane in timeline.lanes if lane.kind == "workload"]
    parts.append(
        _table(
            ("workload", "counts"),
            [
                (lane.title, ", ".join(f"{k} {v:,}" for k, v in lane.counts.items()))
                for lane in workloads[:TABLE_LIMIT]
            ],
            len(workloads),
        )
        if workloads
        else "<p>None.</p>"
    )
    parts.append("<h2>Restarts</h2>")
    restarts = report.restarts
    parts.append(
        _table(
            ("planned", "workload", "source", "outcome", "change to patch", "retries", "record"),
            [
                (
                    entry.ts,
                    _workload(entry),
                    source_object(entry.configmap) or "-",
                    entry.outcome
                    + (f" at {entry.patched_ts}" if entry.patched_ts else "")
                    + (f", rollout {entry.rollout}" if entry.rollout else ""),
                    "-" if entry.latency_seconds is None else f"{entry.latency_seconds:.3f} s",
                    entry.retries,
                    f"{entry.journal or (journals[0] if journals else '')} seq {entry.seq}",
                )
                for entry in restarts[:TABLE_LIMIT]
            ],
            len(restarts),
        )
        if restarts
        else "<p>None.</p>"
    )
    notes_lane = timeline.lane("notes")
    notes = notes_lane.marks if notes_lane is not None else []
    parts.append("<h2>Operator notes</h2>")
    parts.append(
        _table(
            ("journal", "seq", "ts", "note"),
            [
                (
                    journals[m.journal]
                    if m.journal is not None and multi
                    else (journals[0] if journals else ""),
                    m.seq,
                    _iso(m.t),
                    tooltip(m, journals),
                )
                for m in notes[:TABLE_LIMIT]
            ],
            len(notes),
        )
        if notes
        else "<p>None.</p>"
    )
    return parts
