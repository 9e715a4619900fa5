"""Text renderings of library results for people (JSON output is the library's own)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from journal import DrillExport, ReplayReport
from records import source_object

#: Restarts listed in the text form of ``replay`` (all of them are in ``-o json``).
TEXT_RESTART_LIMIT = 20


def _retries(count: int) -> str:
    return f", {count} {'retry' if count == 1 else 'retries'}"


def _edge(edge: dict[str, Any]) -> str:
    where = f" of {edge['journal']}" if "journal" in edge else ""
    return f"seq {edge['seq']}{where} ({edge['ts']})"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} s"


def render_replay(report: ReplayReport, check: dict[str, Any] | None = None) -> str:
    """Return the text form of ``replay``."""
    data = report.to_json(restarts=False)
    window = data["window"]
    lines = [f"Journal(s): {', '.join(data['journals'])}"]
    first, last = window["first"], window["last"]
    if first is None:
        lines.append("Events: 0 (no records in the window)")
    else:
        lines.append(f"Events: {data['events']}, {_edge(first)} to {_edge(last)}")
    thresholds = data["thresholds"]
    lines.append(
        f"Restart SLO: {thresholds['slo_seconds']:g} s (DEBOUNCE_SECONDS "
        f"{thresholds['debounce_seconds']:g} + 30); leaderless gap over "
        f"{thresholds['leaderless_gap_seconds']:g} s"
    )
    lines += ["", "ConfigMaps:"]
    if not data["configmaps"]:
        lines.append("  (none observed)")
    for name, cm in data["configmaps"].items():
        state = "deleted" if cm["deleted"] else (cm["data_hash"] or "?")[:12]
        change = cm["last_change"]
        restart = cm["last_restart"]
        lines.append(
            f"  {name}: hash {state}, restarts {cm['restarts']}"
            + (", PENDING since " + _seq(cm["pending_since"]) if cm["pending"] else "")
            + (f", last change {_seq(change)} ({change['ts']})" if change else "")
            + (
                f", last restart {_seq(restart)} {restart['deployment']} ({restart['ts']})"
                if restart
                else ""
            )
        )
    restarts = report.restarts
    lines += ["", f"Restarts: {len(restarts)}"]
    shown = [entry.to_json() for entry in restarts[-TEXT_RESTART_LIMIT:]]
    if len(restarts) > len(shown):
        lines.append(f"  ... {len(restarts) - len(shown)} earlier (all are in -o json)")
    for entry in shown:
        lines.append(
            f"  {_seq(entry)} {entry['ts']} "
            + entry.get("workload", f"deployment/{entry['deployment']}")
            + f" <- {source_object(entry['configmap']) or 'configmap/?'}: {entry['outcome']}"
            + (
                f" at {_seq(entry, 'outcome_seq', 'outcome_journal')}"
                if entry["outcome_seq"]
                else ""
            )
            + ("" if entry["latency_seconds"] is None else f", {entry['latency_seconds']:.3f} s")
            + (_retries(entry["retries"]) if entry["retries"] else "")
            + (f", rollout {entry['rollout']}" if entry["rollout"] else "")
        )
    lines += _workload_lines(data["workloads"])
    latency = data["restart_latency_seconds"]
    lines += [
        "",
        f"Change-to-patch latency ({latency['count']} restarts): p50 {_seconds(latency['p50'])}, "
        f"p95 {_seconds(latency['p95'])}, max {_seconds(latency['max'])}",
        "",
        "Leader terms:",
    ]
    if not data["leader_terms"]:
        lines.append("  (none recorded)")
    for term in data["leader_terms"]:
        lines.append(
            f"  {term['actor']} epoch {term['epoch']}: {term['start']} "
            f"({_seq(term, 'start_seq')}) to {term['end'] or 'open'}"
            + (
                f" ({_seq(term, 'end_seq', 'end_journal')}, {term['end_reason']})"
                if term["end"]
                else ""
            )
            + ("" if term["how"] == "acquired" else f" [{term['how']}]")
        )
    if "clock_offsets" in data:
        lines += _clock_lines(data["clock_offsets"])
    anomalies = data["anomalies"]
    lines += ["", f"Anomalies: {len(anomalies)}"]
    for anomaly in anomalies:
        where = f" [{anomaly['journal']}]" if "journal" in anomaly else ""
        lines.append(f"  seq {anomaly['seq']}{where} {anomaly['type']}: {anomaly['message']}")
    if check is not None:
        differences = check["differences"]
        lines += [
            "",
            f"Check against {check['model']}: {len(differences)} difference(s) "
            f"in {check['records']} records",
        ]
        for difference in differences:
            lines.append(f"  seq {difference['seq']}: {difference['message']}")
    return "\n".join(lines) + "\n"


def _clock_lines(offsets: list[dict[str, Any]]) -> list[str]:
    """The ``Clocks`` section of a merged ``replay``'s text."""
    lines = ["", "Clocks (median of the watch events both replicas journaled):"]
    if not offsets:
        lines.append("  (no watch event journaled by two replicas)")
    for offset in offsets:
        lines.append(
            f"  {offset['writer']}: {offset['median_seconds']:+.3f} s from "
            f"{offset['relative_to']} ({offset['samples']} events, nearest "
            f"{offset['nearest_seconds']:+.3f} s, largest {offset['max_seconds']:+.3f} s)"
        )
    return lines


def _workload_lines(workloads: dict[str, Any]) -> list[str]:
    """The per-workload section of ``replay``'s text."""
    lines = ["", f"Workloads: {len(workloads)}"]
    for key, view in workloads.items():
        outcomes = ", ".join(f"{outcome} {n}" for outcome, n in view["outcomes"].items())
        restart = view["last_restart"]
        lines.append(
            f"  {key}: restarts {view['restarts']}"
            + (f" ({outcomes})" if outcomes else "")
            + (_retries(view["retries"]) if view["retries"] else "")
            + (f", {view['pending']} PENDING" if view["pending"] else "")
            + f", applied {(view['applied_hash'] or '?')[:12]}"
            + (f", last restart {_seq(restart)} ({restart['ts']})" if restart else "")
        )
    return lines


def render_stats(facts: dict[str, Any]) -> str:
    """Return the text form of ``stats``."""
    lines = [
        f"Journal: {facts['journal']}",
        f"Schema revision: {facts['schema_revision']}",
        f"Records: {facts['records']}"
        + (
            f" (seq {facts['first_seq']}..{facts['last_seq']}, "
            f"{facts['first_ts']} to {facts['last_ts']})"
            if facts["records"]
            else ""
        ),
        f"Head: {facts['head_hash']}",
    ]
    if "file" in facts:
        file = facts["file"]
        lines.append(
            f"File: {file['bytes']} bytes, WAL {file['wal_bytes']} bytes, "
            f"{file['page_count']} pages of {file['page_size']} ({file['freelist_count']} free), "
            f"journal mode {file['journal_mode']}"
        )
    vacuumed = facts["last_vacuum"]
    if vacuumed:
        lines.append(
            f"Last vacuum: seq {vacuumed['seq']} removed {vacuumed.get('removed_records')} "
            f"records through seq {vacuumed.get('last_removed_seq')}"
        )
    lines.append("Kinds:")
    lines += [f"  {kind}: {count}" for kind, count in facts["kinds"].items()] or ["  (none)"]
    lines.append("Actors:")
    lines += [f"  {actor}: {count}" for actor, count in facts["actors"].items()] or ["  (none)"]
    return "\n".join(lines) + "\n"


def _seq(cited: dict[str, Any], seq: str = "seq", journal: str = "journal") -> str:
    """Return ``seq N``, with ``[JOURNAL]`` when a merged replay names the journal."""
    named = cited.get(journal)
    return f"seq {cited[seq]}" + (f" [{named}]" if named else "")


def render_state(state: Mapping[str, Any]) -> str:
    """The text form of ``replay --at``."""
    if "streams" in state:
        lines = _cluster_heading(state)
    else:
        lines = [
            f"State at {state['at']} of {state['journal']} "
            f"(records through seq {state['through_seq']})"
        ]
    vacuumed = state["vacuumed"]
    if vacuumed is not None:
        kept = "kept by" if vacuumed["state_kept"] else "NOT kept by (vacuumed before 0004)"
        lines.append(
            f"Vacuumed through seq {vacuumed['last_removed_seq']}: the state then is "
            f"{kept} the tombstone at seq {vacuumed['seq']}"
        )
    lines += ["", "ConfigMaps and Secrets:"]
    lines += [
        f"  {item['namespace']} {item['object']} {item['data_hash']} {_origin(item)}"
        for item in state["sources"]
    ] or ["  (none)"]
    lines += ["", "Workloads (applied hash):"]
    lines += [
        f"  {item['namespace']} {item['object']} {item['applied_hash'] or '-'} {_origin(item)}"
        for item in state["workloads"]
    ] or ["  (none)"]
    lines += ["", "Last list before it, per resource:"]
    for item in state["lists"]:
        verdict = {True: "digest matches", False: "DIGEST MISMATCH", None: "no digest"}[
            item["matches"]
        ]
        stream = f" of stream {item['stream']}" if "stream" in item else ""
        lines.append(
            f"  {item['resource']}{stream}: seq {item['seq']} ({item['ts']}), "
            f"{item['objects']} objects, {verdict}"
        )
    if not state["lists"]:
        lines.append("  (none)")
    lines += ["", f"Anomalies: {len(state['anomalies'])}"]
    lines += [
        f"  {item['type']} at seq {item['seq']}: {item['message']}" for item in state["anomalies"]
    ]
    return "\n".join(lines) + "\n"


def _origin(item: Mapping[str, Any]) -> str:
    """``(seq N, TS)``; a shipped record's adds its stream and its source's seq."""
    if "stream" not in item:
        return f"(seq {item['seq']}, {item['ts']})"
    seq = item["seq"] if item["seq"] is not None else "- (vacuumed before shipping)"
    return f"(seq {seq}, {item['ts']}; stream {item['stream']} seq {item['stream_seq']})"


def _cluster_heading(state: Mapping[str, Any]) -> list[str]:
    """The first lines of a central journal's answer: the cluster and each stream read."""
    lines = [
        f"State at {state['at']} of cluster {state['cluster']} in {state['journal']} "
        f"({len(state['streams'])} shipped streams; seqs are this journal's)"
    ]
    for stream in state["streams"]:
        through = (
            f"records through seq {stream['through_seq']} "
            f"(its source's seq {stream['through_stream_seq']})"
            if stream["records"]
            else "no record before it"
        )
        lines.append(f"  stream {stream['stream']}: {stream['records']} records read, {through}")
        vacuumed = stream["vacuumed"]
        if vacuumed is not None:
            kept = "kept by the tombstone at seq" if vacuumed["state_kept"] else "NOT kept"
            tombstone = f" {vacuumed['seq']}" if vacuumed["state_kept"] else ""
            lines.append(
                f"    its source was vacuumed through its seq {vacuumed['last_removed_seq']} "
                f"before it was shipped: the state then is {kept}{tombstone}"
            )
    return lines


def render_drill(result: DrillExport) -> str:
    """The lines ``export dr-drill`` prints: the status, every reason, the files written."""
    lines = [f"Status: {result.status}", *(f"  - {reason}" for reason in result.reasons)]
    lines.append(f"report: {result.report}")
    lines += [f"snapshot: {snap.path}" for snap in result.snapshots]
    lines.append(f"manifest: {result.manifest}")
    if result.signature is not None:
        lines.append(f"signature: {result.signature}")
    return "\n".join(lines) + "\n"
