"""Disaster-recovery drill evidence (``export dr-drill``).

Operators mark a drill with ``note --drill start`` and ``note --drill end``.
The export takes a consistent snapshot of each journal given (every replica's,
so that the standby's takeover, the recovery itself, is in the evidence) and
judges the latest drill from those snapshots alone, merged by time, so the
report, the manifest and the snapshot files always agree. It writes into the
output directory:

- ``dr-drill-YYYYMMDD.md``: the report, with a ``Status:`` line
  (``COMPLETED`` or ``FAILED`` and every reason), the RTO against the
  15-minute target, the RPO evidence per ConfigMap, verification of the whole
  journal, the drill window's replay anomalies and its timeline;
- ``dr-drill-YYYYMMDD.journal.db``: the snapshot (``VACUUM INTO``); with
  several journals one per journal, ``dr-drill-YYYYMMDD.journal-N.db`` (N =
  1, 2, ... in the order given);
- ``dr-drill-YYYYMMDD.timeline.html``: the drill window as a picture
  (:mod:`journal.picture`), linked from the report;
- ``dr-drill-YYYYMMDD.manifest.json``: per journal its source as given, the
  snapshot file (relative to the directory), seq range, head hash, schema
  revision, SHA-256 and verify result; the picture's and the report's
  SHA-256 and the verdict; with a signing key, ``<manifest>.sig`` beside it.

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
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from journal.audit import verify_signed
from journal.drill_marks import Mark, clock_check, mark_of, vacuumed_baseline
from journal.drill_report import (
    drill_signing,
    duration,
    render_report,
    rpo_reasons,
    sign_file,
)
from journal.errors import JournalError, JournalOutputError, JournalValueError
from journal.files import create_file
from journal.filters import Filters
from journal.formats import format_short
from journal.merge import merged_records
from journal.picture import build_timeline, write_html
from journal.replay import replay
from journal.scoped import scoped_snapshot
from journal.snapshot import Snapshot, file_sha256
from journal.store import Journal
from journal.timefmt import format_ts, utc_now
from journal.verify import VerifyResult, verify
from records import ConfigMapObserved, OperatorNote, kinds
from telemetry.buildinfo import VERSION

if TYPE_CHECKING:
    from journal.signing import PublicKey, Signer

#: The recovery time objective of the runbook: 15 minutes.
RTO_TARGET_SECONDS = 15 * 60
#: Timeline lines in the report before it refers to the snapshot for the rest.
TIMELINE_LIMIT = 1000
MANIFEST_FORMAT = "shipshape-dr-drill/1"

_DATE = re.compile(r"\d{8}")


class NoDrillError(JournalError):
    """The journal has no drill start mark."""


@dataclass(frozen=True)
class DrillExport:
    """What :func:`export_dr_drill` wrote and concluded."""

    status: str
    reasons: list[str]
    report: Path
    manifest: Path
    snapshot: Snapshot
    signature: Path | None = None
    #: Every snapshot, one per journal in the order given (``snapshot`` is the first).
    snapshots: list[Snapshot] = field(default_factory=list)

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


def _as_list(journals: Journal | Sequence[Journal]) -> list[Journal]:
    return [journals] if isinstance(journals, Journal) else list(journals)


def find_drill(
    journals: Journal | Sequence[Journal], sources: Sequence[str] | None = None
) -> tuple[Mark, Mark | None]:
    """Return the latest drill's start mark and its end mark (``None`` if not ended).

    With several journals the marks are looked for in all of them, merged by
    time (a mark may be written into any replica's journal).

    Args:
        journals: One journal or several.
        sources: How to name the journals (default: their locations).

    Raises:
        NoDrillError: No drill start mark in the journal(s).
    """
    journals = _as_list(journals)
    names = list(sources) if sources else [j.location.display for j in journals]
    several = len(journals) > 1
    start: Mark | None = None
    end: Mark | None = None
    for index, record in merged_records(journals, Filters(kinds=(kinds.OPERATOR_NOTE,))):
        drill = OperatorNote.from_data(record.data).drill
        if drill not in ("start", "end"):
            continue
        mark = mark_of(record, index, names[index] if several else None)
        if drill == "start":
            start, end = mark, None
        elif start is not None and end is None and mark.scenario in (None, start.scenario):
            end = mark  # an end naming another scenario ends another (overlapping) drill
    if start is None:
        where = "journal " + names[0] if not several else "journals " + ", ".join(names)
        raise NoDrillError(
            f"no DR drill is marked in {where} "
            "(mark one with `shipshape-journal note --drill start`)"
        )
    return start, end


def _rpo(
    journals: Sequence[Journal], names: Sequence[str] | None, start: Mark, end: Mark | None
) -> list[dict[str, Any]]:
    """Compare every ConfigMap's last hash before the start with what was seen by the end.

    Any replica's observation counts: after a takeover, the standby is the one
    that sees the configuration again.
    """
    # What a vacuum removed from before the start still has to be seen again.
    before = vacuumed_baseline(journals, start, names)
    after: dict[tuple[str | None, str], dict[str, Any]] = {}
    in_order = len(journals) == 1 and not journals[0].holds_streams()
    for index, record in merged_records(journals, Filters(kinds=(kinds.CONFIGMAP_OBSERVED,))):
        if end is not None and not end.follows(index, record):
            if in_order:
                break
            continue
        obj = record.object or ""
        name = obj.removeprefix("configmap/")
        if not name or name.endswith("/"):
            continue
        # A ConfigMap by its name, a Secret (WATCH_SECRETS) as secret/NAME, as
        # replay names them: a Secret and a ConfigMap of one name stay apart.
        key = (record.namespace, name)
        observed = ConfigMapObserved.from_data(record.data)
        event = str(observed.event_type or "").upper()
        seen = {
            "seq": record.seq,
            "ts": format_ts(record.ts),
            "data_hash": None if event == "DELETED" else observed.data_hash,
        }
        if names is not None:
            seen["journal"] = names[index]
        kept = before.get(key, {})
        if start.precedes(index, record):
            after[key] = seen
        elif kept.get("vacuumed_by") is None or kept["ts"] <= seen["ts"]:
            before[key] = seen  # not over a later hash another replica's tombstone kept
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


def _timeline(
    journals: Sequence[Journal], names: Sequence[str] | None, start: Mark, end: Mark | None
) -> tuple[list[str], int]:
    lines: list[str] = []
    more = 0
    in_order = names is None and not journals[0].holds_streams()
    if in_order:
        records: Any = ((0, record) for record in journals[0].read(after_seq=start.seq - 1))
    else:
        # Every replica's (or chain's) records from the start mark to the end mark, by time.
        records = merged_records(journals, Filters(since=start.ts))
    for index, record in records:
        if start.follows(index, record):
            continue
        if (
            end is not None
            and not end.follows(index, record)
            and not (index == end.source and record.seq == end.seq)
        ):
            if in_order:
                break
            continue
        if len(lines) < TIMELINE_LIMIT:
            lines.append(format_short(record, source=None if names is None else names[index]))
        else:
            more += 1
    return lines, more


def _write_new(path: Path, write: Callable[[], object], written: list[Path]) -> None:
    """Run ``write``, which makes ``path`` whole or not at all; note it in ``written``.

    Raises:
        JournalOutputError: The file could not be written (a full disk): the
            message names it; nothing is left at ``path``.
    """
    try:
        write()
    except OSError as error:
        reason = error.strerror or str(error)
        raise JournalOutputError(f"cannot write {path}: {reason}", reason) from None
    written.append(path)


def export_dr_drill(
    journals: Journal | Sequence[Journal],
    out_dir: str | Path,
    *,
    date: str | None = None,
    now: datetime | None = None,
    sources: Sequence[str] | None = None,
    signer: Signer | None = None,
    scope: Filters | None = None,
    public_keys: Sequence[PublicKey] = (),
) -> DrillExport:
    """Write the latest drill's report, snapshot(s) and manifest into ``out_dir``.

    Args:
        journals: The journal, or every replica's journal (readers or
            writers; SQLite): judged merged by time, one snapshot each.
        out_dir: The directory for the files (created if missing).
        date: ``YYYYMMDD`` for the file names; by default the start mark's date (UTC).
        now: When the export runs (recorded in the manifest).
        sources: The journals as the user named them, for the report and the
            manifest (default: their locations).
        signer: Sign the manifest (``<manifest>.sig``) and report which
            checkpoint covers the drill window (:mod:`journal.checkpoints`).
        public_keys: Further trusted keys (rotated ones). With these or a
            ``signer``, every journal's signed checkpoints are checked too, and
            one that does not verify (a forged record, re-chained or not) fails
            the drill as a chain break does.
        scope: Judge only the chains holding a record it matches (a central
            journal's cluster or replica, :mod:`journal.scoped`); each is
            copied whole into the snapshot, so the evidence verifies.

    Raises:
        NoDrillError: The journals mark no drill.
        JournalValueError: A file to write already exists, or a bad ``date``.
        JournalError: A snapshot or a write failed; nothing is left behind.
    """
    journals = _as_list(journals)
    names = _source_names(journals, sources)
    trusted = [*([signer.public] if signer is not None else []), *public_keys]
    if date is not None:
        parse_date(date)
    if scope is None:
        find_drill(journals, names)  # no drill: say so before anything is written
    directory = Path(out_dir).expanduser().absolute()
    created = _make_directories(directory)
    token = uuid.uuid4().hex
    temporaries = [
        directory / f".dr-drill-{token}.{index}.journal.db" for index in range(len(journals))
    ]
    written: list[Path] = []
    try:
        snaps = [
            scoped_snapshot(journal, temporary, scope)
            for journal, temporary in zip(journals, temporaries, strict=True)
        ]
        with ExitStack() as stack:
            frozen = [
                stack.enter_context(Journal.open(temporary, readonly=True))
                for temporary in temporaries
            ]
            start, end = find_drill(frozen, names)
            stamp = date or start.ts.strftime("%Y%m%d")
            files = _EvidenceFiles.new(directory, stamp, len(frozen))
            snap_paths = files.snapshots
            report_path, manifest_path = files.report, files.manifest
            facts = _facts(
                frozen,
                start=start,
                end=end,
                stamp=stamp,
                snaps=snaps,
                snap_names=[path.name for path in snap_paths],
                sources=names,
                trusted=trusted,
            )
            for entry, journal in zip(facts["journals"], journals, strict=True):
                if journal.upgraded_from is not None:  # read from an upgraded copy
                    entry["source_schema_revision"] = journal.upgraded_from
            if signer is not None:
                facts["signing"] = _signing(frozen, end, signer, trusted, manifest_path)
            timeline, more = _timeline(frozen, names if len(frozen) > 1 else None, start, end)
            picture = build_timeline(
                frozen, _window(start, end), labels=[path.name for path in snap_paths]
            )
        for temporary, path in zip(temporaries, snap_paths, strict=True):
            _write_new(path, partial(os.replace, temporary, path), written)
        _write_new(
            files.timeline, partial(write_html, picture, files.timeline, exclusive=True), written
        )
        facts["timeline"] = {"file": files.timeline.name, "sha256": file_sha256(files.timeline)}
        report = render_report(facts, timeline, more).encode("utf-8")
        _write_new(report_path, partial(create_file, report_path, report), written)
        facts["report"] = {
            "file": report_path.name,
            "sha256": file_sha256(report_path),
        }
        facts["generated_at"] = format_ts(now or utc_now())
        manifest = (json.dumps(facts, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        _write_new(manifest_path, partial(create_file, manifest_path, manifest), written)
        signature = None
        if signer is not None:
            signature = Path(f"{manifest_path}.sig")
            _write_new(signature, partial(sign_file, signer, manifest_path), written)
    except BaseException:
        for path in (*temporaries, *written):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        for made in created:  # the directories this export made, innermost first
            with contextlib.suppress(OSError):
                made.rmdir()
        raise
    final = [
        Snapshot(path=path, bytes=snap.bytes, sha256=snap.sha256)
        for path, snap in zip(snap_paths, snaps, strict=True)
    ]
    return DrillExport(
        status=facts["status"],
        reasons=facts["reasons"],
        report=report_path,
        manifest=manifest_path,
        snapshot=final[0],
        snapshots=final,
        signature=signature,
    )


def _window(start: Mark, end: Mark | None) -> Filters:
    """The drill's time window, from the earlier mark to the later (clocks may disagree)."""
    if end is None:
        return Filters(since=start.ts)
    return Filters(since=min(start.ts, end.ts), until=max(start.ts, end.ts))


def _source_names(journals: Sequence[Journal], sources: Sequence[str] | None) -> list[str]:
    """Return how to name each journal: as the user gave it, else its location."""
    if not journals:
        raise JournalValueError("export dr-drill needs at least one journal")
    names = list(sources) if sources else [j.location.display for j in journals]
    if len(names) != len(journals):
        raise JournalValueError("one source name per journal is needed")
    return names


def _signing(
    frozen: Sequence[Journal],
    end: Mark | None,
    signer: Signer,
    trusted: Sequence[PublicKey],
    manifest: Path,
) -> dict[str, Any]:
    """Return the manifest's signing facts for the journal holding the end mark (else the first)."""
    signed = end.source if end is not None else 0
    if end is not None and end.chain is not None and end.chain_seq is not None:
        # A central journal: the end mark's stream signs it, by its source's seq.
        names = {"manifest": manifest}
        return drill_signing(
            frozen[signed], end.chain_seq, signer, names, stream=end.chain, trusted=trusted
        )
    through = end.seq if end is not None else frozen[signed].head()[0]
    return drill_signing(frozen[signed], through, signer, {"manifest": manifest}, trusted=trusted)


def _verified(journal: Journal, trusted: Sequence[PublicKey]) -> VerifyResult:
    """Verify the whole journal: its chain, and with trusted keys its signed checkpoints.

    The chain alone is fooled by a forger who re-chains after a change; the
    first checkpoint that no longer matches is then the failure. Records not
    yet signed are not one (the signing section says which checkpoint covers
    the drill).
    """
    return verify_signed(journal, trusted).chain if trusted else verify(journal)


@dataclass(frozen=True)
class _EvidenceFiles:
    """The files one export writes; none may exist before it."""

    report: Path
    snapshots: list[Path]
    manifest: Path
    timeline: Path

    @classmethod
    def new(cls, directory: Path, stamp: str, journals: int) -> _EvidenceFiles:
        """Name the files for ``stamp``; refuse when any of them already exists."""
        if journals == 1:
            snapshots = [directory / f"dr-drill-{stamp}.journal.db"]
        else:
            snapshots = [
                directory / f"dr-drill-{stamp}.journal-{index}.db"
                for index in range(1, journals + 1)
            ]
        files = cls(
            report=directory / f"dr-drill-{stamp}.md",
            snapshots=snapshots,
            manifest=directory / f"dr-drill-{stamp}.manifest.json",
            timeline=directory / f"dr-drill-{stamp}.timeline.html",
        )
        signature = Path(f"{files.manifest}.sig")
        for path in (files.report, *snapshots, files.manifest, files.timeline, signature):
            if path.exists():
                raise JournalValueError(f"{path} already exists; remove it or pass --date")
        return files


def _make_directories(directory: Path) -> list[Path]:
    """Create ``directory`` and its missing parents; return those made, innermost first.

    Raises:
        JournalError: A directory cannot be created (the message names it).
    """
    try:
        missing = [path for path in (directory, *directory.parents) if not path.exists()]
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise JournalError(
            f"cannot create the output directory {directory}: {error.strerror or error}"
        ) from None
    return missing


def _facts(
    frozen: Sequence[Journal],
    *,
    start: Mark,
    end: Mark | None,
    stamp: str,
    snaps: Sequence[Snapshot],
    snap_names: Sequence[str],
    sources: Sequence[str],
    trusted: Sequence[PublicKey] = (),
) -> dict[str, Any]:
    several = len(frozen) > 1
    checks = [_verified(journal, trusted) for journal in frozen]
    rpo_rows = _rpo(frozen, sources if several else None, start, end)
    reasons: list[str] = []
    if end is None:
        reasons.append(f"the drill started at {start.cite()} has no end mark")
    rto_seconds = (end.ts - start.ts).total_seconds() if end is not None else None
    if end is not None and end.ts < start.ts:
        reasons.append(
            f"the end mark ({end.cite()}, {format_ts(end.ts)}) is dated before the start mark "
            f"({start.cite()}, {format_ts(start.ts)}): their clocks disagree, RTO not measured"
        )
        rto_seconds = None
    rto_met = rto_seconds is not None and rto_seconds <= RTO_TARGET_SECONDS
    if rto_seconds is not None and not rto_met:
        reasons.append(
            f"RTO {duration(rto_seconds)} exceeds the {duration(RTO_TARGET_SECONDS)} target"
        )
    reasons += rpo_reasons(rpo_rows)
    for checked, source in zip(checks, sources, strict=True):
        if not checked.ok:
            where = f" ({source})" if several else ""
            reasons.append(f"journal verification failed{where}: {checked.summary()}")
    window = replay(list(frozen), _window(start, end), names=sources)
    offsets, clock_reasons = clock_check(frozen, sources, start, end) if several else ([], [])
    reasons += clock_reasons
    takeovers = [
        {
            "actor": term["actor"],
            "epoch": term["epoch"],
            "ts": term["start"],
            "seq": term["start_seq"],
            **({"journal": term["journal"]} if several else {}),
            "seconds_after_start": round(
                (datetime.fromisoformat(term["start"]) - start.ts).total_seconds(), 6
            ),
        }
        for term in window.leader_terms
        if term["how"] == "acquired"
    ]
    journals = []
    for journal, checked, snap, name, source in zip(
        frozen, checks, snaps, snap_names, sources, strict=True
    ):
        head_seq, head_hash = journal.head()
        journals.append(
            {
                "source": source,
                "seq_range": [journal.first_seq(), head_seq],
                "head_hash": head_hash,
                "schema_revision": journal.revision,
                "records": journal.count(),
                "snapshot": {"file": name, "sha256": snap.sha256, "bytes": snap.bytes},
                "verify": {**checked.to_json(), "summary": checked.summary()},
            }
        )
    facts: dict[str, Any] = {
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
    }
    if not several:
        # One journal: the layout of the first manifests, kept for their readers.
        only = journals[0]
        facts["journal"] = {
            key: only[key]
            for key in ("source", "seq_range", "head_hash", "schema_revision", "records")
        }
        facts["snapshot"] = only["snapshot"]
        facts["verify"] = only["verify"]
    facts["journals"] = journals
    facts["takeovers"] = takeovers
    if several:
        facts["clock_offsets"] = offsets
    facts["anomalies"] = window.anomalies
    facts["generator"] = f"shipshape-journal {VERSION}"
    return facts
