"""Disaster-recovery drill evidence (``export dr-drill``).

Operators mark a drill with ``note --drill start`` and ``note --drill end``.
The export takes a consistent snapshot of the journal first and judges the
latest drill from that snapshot alone, so the report, the manifest and the
snapshot file always agree. It writes four files into the output directory:

- ``dr-drill-YYYYMMDD.md``: the report, with a ``Status:`` line
  (``COMPLETED`` or ``FAILED`` and every reason), the RTO against the
  15-minute target, the RPO evidence per ConfigMap, verification of the whole
  journal, the drill window's replay anomalies and its timeline;
- ``dr-drill-YYYYMMDD.journal.db``: the snapshot (``VACUUM INTO``);
- ``dr-drill-YYYYMMDD.timeline.html``: the drill window as a picture
  (:mod:`journal.picture`), linked from the report;
- ``dr-drill-YYYYMMDD.manifest.json``: seq range, head hash, schema revision,
  the snapshot's, the picture's and the report's SHA-256, the verify result and the verdict.

RPO is proven from the journal: every ConfigMap's last data hash before the
start mark must be observed again, unchanged, by the end mark; a ConfigMap
not seen again, or seen with another hash, is lost configuration.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from journal import kinds
from journal.checkpoints import drill_signing, sign_file, signing_lines
from journal.errors import JournalError, JournalValueError
from journal.filters import Filters
from journal.formats import format_short
from journal.picture import build_timeline, write_html
from journal.replay import replay
from journal.snapshot import Snapshot, file_sha256, snapshot
from journal.store import Journal
from journal.timefmt import format_ts, utc_now
from journal.verify import verify
from telemetry.buildinfo import VERSION

if TYPE_CHECKING:
    from journal.signing import Signer

#: The recovery time objective of the runbook: 15 minutes.
RTO_TARGET_SECONDS = 15 * 60
#: Timeline lines in the report before it refers to the snapshot for the rest.
TIMELINE_LIMIT = 1000
MANIFEST_FORMAT = "shipshape-dr-drill/1"

_DATE = re.compile(r"\d{8}")


class NoDrillError(JournalError):
    """The journal has no drill start mark."""


@dataclass(frozen=True)
class Mark:
    """A drill mark (an ``operator.note`` with ``data.drill``)."""

    seq: int
    ts: datetime
    actor: str
    text: str
    scenario: str | None

    def to_json(self) -> dict[str, Any]:
        """Return the mark as a JSON object."""
        return {
            "seq": self.seq,
            "ts": format_ts(self.ts),
            "actor": self.actor,
            "text": self.text,
            "scenario": self.scenario,
        }


@dataclass(frozen=True)
class DrillExport:
    """What :func:`export_dr_drill` wrote and concluded."""

    status: str
    reasons: list[str]
    report: Path
    manifest: Path
    snapshot: Snapshot
    signature: Path | None = None

    @property
    def completed(self) -> bool:
        """Tell whether the drill met every target (``Status: COMPLETED``)."""
        return self.status == "COMPLETED"


def parse_date(text: str) -> str:
    """Validate a ``--date`` value (``YYYYMMDD``, a real date) and return it.

    Raises:
        JournalValueError: With a one-line message.
    """
    if not _DATE.fullmatch(text):
        raise JournalValueError(f"invalid --date {text!r}: expected YYYYMMDD, e.g. 20260209")
    try:
        datetime.strptime(text, "%Y%m%d")
    except ValueError:
        raise JournalValueError(f"invalid --date {text!r}: no such day") from None
    return text


def _mark(record: Any) -> Mark:
    scenario = record.data.get("scenario")
    text = record.data.get("text")
    return Mark(
        seq=record.seq,
        ts=record.ts,
        actor=record.actor,
        text=text if isinstance(text, str) else "",
        scenario=scenario if isinstance(scenario, str) else None,
    )


def find_drill(journal: Journal) -> tuple[Mark, Mark | None]:
    """Return the latest drill's start mark and its end mark (``None`` if not ended).

    Raises:
        NoDrillError: No drill start mark in the journal.
    """
    start: Mark | None = None
    end: Mark | None = None
    for record in journal.read(kinds=(kinds.OPERATOR_NOTE,)):
        drill = record.data.get("drill")
        if drill == "start":
            start, end = _mark(record), None
        elif drill == "end" and start is not None and end is None:
            end = _mark(record)
    if start is None:
        raise NoDrillError(
            f"no DR drill is marked in journal {journal.location.display} "
            "(mark one with `shipshape-journal note --drill start`)"
        )
    return start, end


def _rpo(journal: Journal, start: Mark, end: Mark | None) -> list[dict[str, Any]]:
    """Compare every ConfigMap's last hash before the start with what was seen by the end."""
    before: dict[tuple[str | None, str], dict[str, Any]] = {}
    after: dict[tuple[str | None, str], dict[str, Any]] = {}
    stop = end.seq if end is not None else None
    for record in journal.read(kinds=(kinds.CONFIGMAP_OBSERVED,)):
        if stop is not None and record.seq > stop:
            break
        name = (record.object or "").split("/", 1)[-1]
        if not name:
            continue
        key = (record.namespace, name)
        event = str(record.data.get("event_type", "")).upper()
        seen = {
            "seq": record.seq,
            "ts": format_ts(record.ts),
            "data_hash": None if event == "DELETED" else record.data.get("data_hash"),
        }
        (before if record.seq < start.seq else after)[key] = seen
    rows = []
    for (namespace, name), prior in sorted(before.items(), key=lambda item: item[0][1]):
        if prior["data_hash"] is None:
            continue  # deleted before the drill: nothing to recover
        later = after.get((namespace, name))
        if later is None:
            result = "missing"
        elif later["data_hash"] == prior["data_hash"]:
            result = "ok"
        else:
            result = "different"
        rows.append(
            {
                "configmap": name,
                "namespace": namespace,
                "before": prior,
                "after": later,
                "result": result,
            }
        )
    return rows


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def _timeline(journal: Journal, start: Mark, end: Mark | None) -> tuple[list[str], int]:
    lines: list[str] = []
    more = 0
    for record in journal.read(after_seq=start.seq - 1):
        if end is not None and record.seq > end.seq:
            break
        if len(lines) < TIMELINE_LIMIT:
            lines.append(format_short(record))
        else:
            more += 1
    return lines, more


def _report(facts: dict[str, Any], timeline: list[str], more: int) -> str:
    drill, rto, rpo, d = facts["drill"], facts["rto"], facts["rpo"], facts["date"]
    lines = [
        f"# Disaster-recovery drill evidence, {d[:4]}-{d[4:6]}-{d[6:]}",
        "",
        f"Status: {facts['status']}",
        "",
    ]
    if facts["reasons"]:
        lines += ["## Why the drill failed", ""]
        lines += [f"- {reason}" for reason in facts["reasons"]]
        lines.append("")
    start, end = drill["start"], drill["end"]
    lines += [
        "## Drill",
        "",
        f"- Scenario: {drill['scenario'] or 'not named'}",
        f"- Start mark: seq {start['seq']} at {start['ts']} by {start['actor']}"
        + (f": {start['text']}" if start["text"] else ""),
        (
            f"- End mark: seq {end['seq']} at {end['ts']} by {end['actor']}"
            + (f": {end['text']}" if end["text"] else "")
            if end
            else "- End mark: none"
        ),
        "",
        "## Recovery time (RTO)",
        "",
    ]
    if rto["seconds"] is None:
        lines.append("- Not measurable: the drill has no end mark.")
    else:
        verdict = "met" if rto["met"] else "NOT met"
        lines.append(
            f"- End mark minus start mark: {_duration(rto['seconds'])} ({rto['seconds']:.1f} s); "
            f"target {_duration(rto['target_seconds'])}: {verdict}."
        )
    lines += ["", "## Recovery point (RPO): configuration seen again unchanged", ""]
    if rpo["configmaps"]:
        lines += [
            "| ConfigMap | data hash before the start | seen again by the end | result |",
            "|---|---|---|---|",
        ]
        for row in rpo["configmaps"]:
            prior, later = row["before"], row["after"]
            seen = "not seen" if later is None else f"{(later['data_hash'] or 'deleted')[:16]} "
            if later is not None:
                seen += f"(seq {later['seq']})"
            lines.append(
                f"| {row['configmap']} | {prior['data_hash'][:16]} (seq {prior['seq']}) "
                f"| {seen} | {row['result']} |"
            )
    else:
        lines.append("- No ConfigMap was observed before the start mark.")
    verify_facts = facts["verify"]
    lines += [
        "",
        "## Journal verification (whole journal)",
        "",
        f"- {verify_facts['summary']}",
        "",
        *signing_lines(facts.get("signing")),
        "## Snapshot",
        "",
        f"- File: {facts['snapshot']['file']} ({facts['snapshot']['bytes']} bytes)",
        f"- SHA-256: {facts['snapshot']['sha256']}",
        f"- Records: seq {facts['journal']['seq_range'][0]}..{facts['journal']['seq_range'][1]}, "
        f"head {facts['journal']['head_hash']}",
        f"- Schema revision: {facts['journal']['schema_revision']}",
        "",
        "## Replay anomalies in the drill window",
        "",
    ]
    if facts["anomalies"]:
        lines += [f"- seq {a['seq']} {a['type']}: {a['message']}" for a in facts["anomalies"]]
    else:
        lines.append("- None.")
    if "timeline" in facts:
        picture = facts["timeline"]["file"]
        lines += ["", "## Timeline picture", "", f"- [{picture}]({picture}) (open in a browser)"]
    lines += ["", "## Timeline (start mark to end mark)", "", "```text", *timeline]
    if more:
        lines.append(f"... {more} more records; see the snapshot")
    lines += ["```", ""]
    return "\n".join(lines)


def _write_new(path: Path, text: str) -> None:
    with path.open("x", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def export_dr_drill(
    journal: Journal,
    out_dir: str | Path,
    *,
    date: str | None = None,
    now: datetime | None = None,
    signer: Signer | None = None,
) -> DrillExport:
    """Write the latest drill's report, snapshot and manifest into ``out_dir``.

    Args:
        journal: The journal (reader or writer; SQLite).
        out_dir: The directory for the three files (created if missing).
        date: ``YYYYMMDD`` for the file names; by default the start mark's date (UTC).
        now: When the export runs (recorded in the manifest).
        signer: Sign the manifest (``<manifest>.sig``) and report which
            checkpoint covers the drill window (:mod:`journal.checkpoints`).

    Raises:
        NoDrillError: The journal marks no drill.
        JournalValueError: A file to write already exists, or a bad ``date``.
        JournalError: The snapshot or a write failed; nothing is left behind.
    """
    if date is not None:
        parse_date(date)
    find_drill(journal)  # no drill: say so of the journal, before anything is written
    directory = Path(out_dir).expanduser().absolute()
    created = _make_directories(directory)
    temporary = directory / f".dr-drill-{uuid.uuid4().hex}.journal.db"
    written: list[Path] = []
    try:
        snap = snapshot(journal, temporary)
        with Journal.open(temporary, readonly=True) as frozen:
            start, end = find_drill(frozen)
            stamp = date or start.ts.strftime("%Y%m%d")
            names = {
                "report": directory / f"dr-drill-{stamp}.md",
                "snapshot": directory / f"dr-drill-{stamp}.journal.db",
                "manifest": directory / f"dr-drill-{stamp}.manifest.json",
                "timeline": directory / f"dr-drill-{stamp}.timeline.html",
            }
            for path in (*names.values(), Path(f"{names['manifest']}.sig")):
                if path.exists():
                    raise JournalValueError(f"{path} already exists; remove it or pass --date")
            facts = _facts(
                frozen,
                start=start,
                end=end,
                stamp=stamp,
                snap=snap,
                snap_name=names["snapshot"].name,
                source=journal.location.display,
            )
            if signer is not None:
                facts["signing"] = drill_signing(
                    frozen, end.seq if end else facts["journal"]["seq_range"][1], signer, names
                )
            timeline, more = _timeline(frozen, start, end)
            window = Filters(since=start.ts, until=end.ts if end is not None else None)
            picture = build_timeline([frozen], window, labels=[names["snapshot"].name])
        os.replace(temporary, names["snapshot"])
        written.append(names["snapshot"])
        write_html(picture, names["timeline"], exclusive=True)
        written.append(names["timeline"])
        facts["timeline"] = {
            "file": names["timeline"].name,
            "sha256": file_sha256(names["timeline"]),
        }
        _write_new(names["report"], _report(facts, timeline, more))
        written.append(names["report"])
        facts["report"] = {
            "file": names["report"].name,
            "sha256": file_sha256(names["report"]),
        }
        facts["generated_at"] = format_ts(now or utc_now())
        _write_new(names["manifest"], json.dumps(facts, indent=2, ensure_ascii=False) + "\n")
        written.append(names["manifest"])
        signature = None
        if signer is not None:
            signature = sign_file(signer, names["manifest"])
            written.append(signature)
    except BaseException:
        for path in (temporary, *written):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        for made in created:  # the directories this export made, innermost first
            with contextlib.suppress(OSError):
                made.rmdir()
        raise
    return DrillExport(
        status=facts["status"],
        reasons=facts["reasons"],
        report=names["report"],
        manifest=names["manifest"],
        snapshot=Snapshot(path=names["snapshot"], bytes=snap.bytes, sha256=snap.sha256),
        signature=signature,
    )


def _make_directories(directory: Path) -> list[Path]:
    """Create ``directory`` and its missing parents; return those made, innermost first.

    Raises:
        JournalError: A directory cannot be created (the message names it).
    """
    missing = [path for path in (directory, *directory.parents) if not path.exists()]
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise JournalError(
            f"cannot create the output directory {directory}: {error.strerror or error}"
        ) from None
    return missing


def _facts(
    frozen: Journal,
    *,
    start: Mark,
    end: Mark | None,
    stamp: str,
    snap: Snapshot,
    snap_name: str,
    source: str,
) -> dict[str, Any]:
    checked = verify(frozen)
    rpo_rows = _rpo(frozen, start, end)
    reasons: list[str] = []
    if end is None:
        reasons.append(f"the drill started at seq {start.seq} has no end mark")
    rto_seconds = (end.ts - start.ts).total_seconds() if end is not None else None
    rto_met = rto_seconds is not None and rto_seconds <= RTO_TARGET_SECONDS
    if rto_seconds is not None and not rto_met:
        reasons.append(
            f"RTO {_duration(rto_seconds)} exceeds the {_duration(RTO_TARGET_SECONDS)} target"
        )
    for row in rpo_rows:
        if row["result"] == "missing":
            reasons.append(
                f"RPO: configmap/{row['configmap']} was not observed again before the end mark"
            )
        elif row["result"] == "different":
            reasons.append(
                f"RPO: configmap/{row['configmap']} came back with data hash "
                f"{str(row['after']['data_hash'])[:16]}, not {row['before']['data_hash'][:16]}"
            )
    if not checked.ok:
        reasons.append(f"journal verification failed: {checked.summary()}")
    anomalies = replay(
        [frozen], Filters(since=start.ts, until=end.ts if end is not None else None)
    ).anomalies
    first_seq = frozen.first_seq()
    head_seq, head_hash = frozen.head()
    return {
        "format": MANIFEST_FORMAT,
        "status": "FAILED" if reasons else "COMPLETED",
        "reasons": reasons,
        "date": stamp,
        "drill": {
            "scenario": start.scenario or (end.scenario if end else None),
            "start": start.to_json(),
            "end": end.to_json() if end else None,
        },
        "rto": {"seconds": rto_seconds, "target_seconds": RTO_TARGET_SECONDS, "met": rto_met},
        "rpo": {
            "met": all(row["result"] == "ok" for row in rpo_rows),
            "configmaps": rpo_rows,
        },
        "journal": {
            "source": source,
            "seq_range": [first_seq, head_seq],
            "head_hash": head_hash,
            "schema_revision": frozen.revision,
            "records": frozen.count(),
        },
        "snapshot": {"file": snap_name, "sha256": snap.sha256, "bytes": snap.bytes},
        "verify": {**checked.to_json(), "summary": checked.summary()},
        "anomalies": anomalies,
        "generator": f"shipshape-journal {VERSION}",
    }
