"""The drill evidence's report text (``dr-drill-YYYYMMDD.md``) and its signatures.

:func:`render_report` writes the Markdown report from the facts
:mod:`journal.drill` gathered (the same facts the manifest holds), and the
signing half signs the manifest and says which checkpoint covers the drill.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from journal.audit import verify_signed
from journal.files import create_file

if TYPE_CHECKING:
    from journal.signing import PublicKey, Signer
    from journal.store import Journal


def sign_file(signer: Signer, path: Path) -> Path:
    """Write the detached Ed25519 signature of ``path``'s bytes to ``<path>.sig``.

    The signature is over the file exactly (no prefix), so
    ``openssl pkeyutl -verify -pubin -inkey KEY.pub.pem -rawin -in FILE -sigfile FILE.sig``
    checks it with the public key alone.
    """
    target = Path(f"{path}.sig")
    create_file(target, signer.sign(path.read_bytes()))
    return target


def drill_signing(
    frozen: Journal,
    through_seq: int,
    signer: Signer,
    names: Mapping[str, Path],
    *,
    stream: str | None = None,
    trusted: Sequence[PublicKey] = (),
) -> dict[str, Any]:
    """Return the manifest's ``signing`` facts: the key, the signature file, the coverage.

    ``stream``: the shipped stream the drill's end mark is in (a central
    journal), whose own seq ``through_seq`` is; its checkpoints cover it.
    ``trusted``: the keys checkpoints may be signed with (default: the signer's).
    """
    keys = list(trusted) or [signer.public]
    result = verify_signed(frozen, keys, watch_seq=through_seq, watch_stream=stream)
    facts = {
        "key_id": signer.key_id,
        "manifest_signature": f"{names['manifest'].name}.sig",
        "through_seq": through_seq,
        "covering_checkpoint": result.covering.to_json() if result.covering else None,
        "verify": result.to_json(),
    }
    return facts if stream is None else {**facts, "stream": stream}


def signing_lines(facts: Mapping[str, Any] | None) -> list[str]:
    """Return the drill report's section about signatures (empty when unsigned)."""
    if not facts:
        return []
    key, through = facts["key_id"], facts["through_seq"]
    if facts.get("stream"):
        through = f"{through} of stream {facts['stream']}"
    lines = [
        "## Signatures",
        "",
        f"- Signing key: {key}",
        f"- The manifest is signed: {facts['manifest_signature']} (Ed25519 over the "
        "manifest's bytes).",
        f"- Verification of the signed checkpoints: {facts['verify']['summary'].splitlines()[0]}",
    ]
    covering = facts["covering_checkpoint"]
    if covering is None and not facts["verify"]["ok"]:
        lines.append(
            f"- Whether a checkpoint covers seq {through} (the drill window) is not known: "
            f"verification stopped at seq {facts['verify']['bad_seq']}."
        )
    elif covering is None:
        lines.append(
            f"- No checkpoint signed by this key covers seq {through} (the drill window): "
            "it is not signed yet."
        )
    else:
        lines.append(
            f"- The drill window (through seq {through}) is covered by the checkpoint at "
            f"seq {covering['seq']}, signed {covering['ts']} by {covering['key_id']}, "
            f"covering seq {covering['covers_seq']} (head {covering['head_hash']})."
        )
    return [*lines, ""]


def shared_names(rows: list[dict[str, Any]]) -> set[str]:
    """Return the RPO rows' names that stand for objects of several namespaces."""
    namespaces: dict[str, set[Any]] = {}
    for row in rows:
        namespaces.setdefault(row["configmap"], set()).add(row["namespace"])
    return {name for name, seen in namespaces.items() if len(seen) > 1}


def rpo_reasons(rows: list[dict[str, Any]]) -> list[str]:
    """Why the RPO rows fail the drill: each ConfigMap lost, deleted or changed."""
    reasons = []
    shared = shared_names(rows)
    for row in rows:
        obj = row["configmap"] if "/" in row["configmap"] else f"configmap/{row['configmap']}"
        if row["configmap"] in shared:  # one name in several namespaces: say which
            obj += f" (namespace {row['namespace']})"
        if row["result"] == "missing":
            reasons.append(f"RPO: {obj} was not observed again before the end mark")
        elif row["result"] == "different" and row["after"]["data_hash"] is None:
            reasons.append(
                f"RPO: {obj} was deleted by the end mark (seq {row['after']['seq']}), "
                f"not seen again with data hash {row['before']['data_hash'][:16]}"
            )
        elif row["result"] == "different":
            reasons.append(
                f"RPO: {obj} came back with data hash "
                f"{str(row['after']['data_hash'])[:16]}, not {row['before']['data_hash'][:16]}"
            )
    return reasons


def duration(seconds: float) -> str:
    """Return ``seconds`` as ``MmSSs`` (the report's and the reasons' durations)."""
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def _rto_line(rto: dict[str, Any], *, has_end: bool) -> str:
    if rto["seconds"] is None and has_end:
        return "- Not measurable: the end mark is dated before the start mark."
    if rto["seconds"] is None:
        return "- Not measurable: the drill has no end mark."
    verdict = "met" if rto["met"] else "NOT met"
    return (
        f"- End mark minus start mark: {duration(rto['seconds'])} ({rto['seconds']:.1f} s); "
        f"target {duration(rto['target_seconds'])}: {verdict}."
    )


def render_report(facts: dict[str, Any], timeline: list[str], more: int) -> str:
    """Return the drill report (Markdown) from the manifest's ``facts`` and the timeline."""
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
        f"- Start mark: {_cite(start)} at {start['ts']} by {start['actor']}"
        + (f": {start['text']}" if start["text"] else ""),
        (
            f"- End mark: {_cite(end)} at {end['ts']} by {end['actor']}"
            + (f": {end['text']}" if end["text"] else "")
            if end
            else "- End mark: none"
        ),
        "",
        "## Recovery time (RTO)",
        "",
    ]
    lines.append(_rto_line(rto, has_end=bool(end)))
    for takeover in facts.get("takeovers", ()):
        lines.append(
            f"- Takeover: {takeover['actor']} took the lead (epoch {takeover['epoch']}) at "
            f"{takeover['ts']}, {duration(takeover['seconds_after_start'])} after the start "
            f"mark ({_cite(takeover)})."
        )
    lines += ["", "## Recovery point (RPO): configuration seen again unchanged", ""]
    if rpo["configmaps"]:
        lines += [
            "| ConfigMap | data hash before the start | seen again by the end | result |",
            "|---|---|---|---|",
        ]
        shared = shared_names(rpo["configmaps"])
        for row in rpo["configmaps"]:
            prior, later = row["before"], row["after"]
            name = row["configmap"] + (
                f" ({row['namespace']})" if row["configmap"] in shared else ""
            )
            seen = "not seen" if later is None else f"{(later['data_hash'] or 'deleted')[:16]} "
            if later is not None:
                seen += f"({_cite(later)})"
            lines.append(
                f"| {name} | {prior['data_hash'][:16]} ({_cite(prior)}) "
                f"| {seen} | {row['result']} |"
            )
    else:
        lines.append("- No ConfigMap was observed before the start mark.")
    lines += _journal_sections(facts["journals"])
    lines += ["", *signing_lines(facts.get("signing"))]
    lines += ["## Replay anomalies in the drill window", ""]
    if facts["anomalies"]:
        lines += [f"- {_cite(a)} {a['type']}: {a['message']}" for a in facts["anomalies"]]
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


def _journal_sections(journals: list[dict[str, Any]]) -> list[str]:
    """Return the report's verification and snapshot sections, one entry per journal."""
    lines: list[str] = []
    several = len(journals) > 1
    lines += ["", "## Journal verification (whole journal)", ""]
    lines += [
        f"- {journal['source'] + ': ' if several else ''}{journal['verify']['summary']}"
        for journal in journals
    ]
    lines += ["", "## Snapshot" + ("s" if several else ""), ""]
    for journal in journals:
        snap = journal["snapshot"]
        if several:
            lines.append(f"- Journal {journal['source']}:")
        indent = "  " if several else ""
        lines += [
            f"{indent}- File: {snap['file']} ({snap['bytes']} bytes)",
            f"{indent}- SHA-256: {snap['sha256']}",
            f"{indent}- Records: seq {journal['seq_range'][0]}..{journal['seq_range'][1]}, "
            f"head {journal['head_hash']}",
            f"{indent}- Schema revision: {journal['schema_revision']}",
        ]
    return lines


def _cite(cited: dict[str, Any]) -> str:
    """Return ``seq N``, with ``[JOURNAL]`` when several journals are judged.

    A hash known from a vacuum's tombstone names it: the record is gone.
    """
    text = f"seq {cited['seq']}"
    if cited.get("vacuumed_by") is not None:
        text += f", vacuumed; tombstone seq {cited['vacuumed_by']}"
    return text + (f" [{cited['journal']}]" if cited.get("journal") else "")
