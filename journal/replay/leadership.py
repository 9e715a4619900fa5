"""Leadership: the leader terms (who led, under which epoch, from when to when).

Terms open on ``leader.acquired``, on a standby's ``leader.observed`` and,
when the window starts inside one, on the first leader action of its holder
(``inferred``); they close on ``leader.lost``/``leader.released``, on a newer
epoch (``superseded``) and when their holder's process starts again. Two
anomalies come from here: ``overlapping_leaders`` (two leaders at once, or a
stale leader still acting: split-brain) and ``leaderless_gap``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from journal.replay.anomalies import Anomalies
from journal.replay.rows import ACTOR, EPOCH, KIND, SEQ, TS, Payloads, is_count, keys, seconds
from records import LeaderObserved
from records import kinds as k

_HOLDER, _EPOCH = keys(LeaderObserved, "holder", "epoch")

# Kinds done by the leader: acting under a superseded epoch is split-brain.
LEADER_ACTIONS = frozenset(
    {k.RESTART_PLANNED, k.RESTART_PATCHED, k.RESTART_RETRY, k.RESTART_FLUSHED}
)


@dataclass(slots=True)
class Term:
    """One leader term; ``end`` is ``None`` while it is open."""

    actor: str
    epoch: int | None
    start: str
    start_seq: int
    source: int
    how: str
    end: str | None = None
    end_seq: int | None = None
    end_reason: str | None = None
    end_source: int = 0

    def to_json(self, journals: Sequence[str] | None = None) -> dict[str, Any]:
        """Return the term; ``journals`` (merged replays) names the journal of each seq."""
        document = {
            "actor": self.actor,
            "epoch": self.epoch,
            "start": self.start,
            "end": self.end,
            "start_seq": self.start_seq,
            "end_seq": self.end_seq,
            "end_reason": self.end_reason,
            "how": self.how,
        }
        if journals is not None:
            document["journal"] = journals[self.source]
            document["end_journal"] = None if self.end_seq is None else journals[self.end_source]
        return document


class Leadership:
    """The leader terms of a replay, built from the records fed in order."""

    def __init__(
        self, payloads: Payloads, anomalies: Anomalies, leaderless_gap_seconds: float
    ) -> None:
        """Start with no term; a gap longer than ``leaderless_gap_seconds`` is an anomaly."""
        self._payloads = payloads
        self._anomalies = anomalies
        self._leaderless = leaderless_gap_seconds
        self.terms: list[Term] = []
        # The feed loop reads these two to skip leader bookkeeping: only mutated.
        self.open_terms: dict[str, Term] = {}
        # actor -> (its superseded epoch, newer leader, newer epoch, since when)
        self.stale: dict[str, tuple[int | None, str, int | None, str]] = {}
        self._last_closed: Term | None = None
        self._newest_epoch: int | None = None
        # (actor, epoch) of terms their own holder ended (lost or released).
        self._ended: set[tuple[str, int | None]] = set()

    def to_json(self) -> list[dict[str, Any]]:
        """The terms as ``replay -o json``'s ``leader_terms``."""
        anomalies = self._anomalies
        journals = anomalies.journals if anomalies.merged else None
        return [term.to_json(journals) for term in self.terms]

    def close(self, term: Term, ts: str, seq: int, reason: str, source: int) -> None:
        """End ``term`` at record ``seq`` (at ``ts``) of journal ``source``, for ``reason``."""
        term.end, term.end_seq, term.end_reason, term.end_source = ts, seq, reason, source
        self.open_terms.pop(term.actor, None)
        if not self.open_terms:
            self._last_closed = term

    def process_started(self, row: Sequence[Any], source: int) -> None:
        """A new process of the row's actor: whatever term the old one held ended by now."""
        term = self.open_terms.get(row[ACTOR])
        if term is not None:
            self.close(term, row[TS], row[SEQ], "restarted", source)

    def _open(
        self, row: Sequence[Any], source: int, actor: str, epoch: int | None, how: str
    ) -> None:
        ts, seq = row[TS], row[SEQ]
        anomalies = self._anomalies
        for other in list(self.open_terms.values()):
            if other.actor == actor:
                self.close(other, ts, seq, "re-acquired", source)
                continue
            if how == "observed" and epoch is not None and epoch == other.epoch:
                # The Lease names another holder under the same epoch: it was
                # handed over by hand (no election made a new term). Seeing it
                # is no second leader; the old holder acting on is (stale).
                self.close(other, ts, seq, "lease-changed", source)
                self.stale[other.actor] = (other.epoch, actor, epoch, ts)
                continue
            if epoch is not None and other.epoch is not None and epoch <= other.epoch:
                anomalies.report(
                    "overlapping_leaders",
                    row,
                    source,
                    f"{actor} leads under epoch {epoch} while {other.actor} holds epoch "
                    f"{other.epoch} (since {anomalies.cite(other.start_seq, other.source)})",
                )
                continue
            # A newer epoch supersedes the open term: its holder is stale from now.
            self.close(other, ts, seq, "superseded", source)
            self.stale[other.actor] = (other.epoch, actor, epoch, ts)
            # No leaderless gap is judged here: an idle leader renews its Lease
            # without writing records, so its last record does not say when
            # it stopped leading.
        if not self.open_terms and self._last_closed is not None and how != "inferred":
            last = self._last_closed
            consecutive = epoch is None or last.epoch is None or epoch == last.epoch + 1
            if last.end is not None and last.end_reason != "superseded" and consecutive:
                gap = seconds(ts) - seconds(last.end)
                if gap > self._leaderless:
                    anomalies.report(
                        "leaderless_gap",
                        row,
                        source,
                        f"no leader for {gap:.1f} s: {last.actor} ended epoch {last.epoch} at "
                        f"{anomalies.cite(last.end_seq, last.end_source)} ({last.end}), "
                        f"{actor} took epoch {epoch} at {ts}",
                        gap_seconds=round(gap, 6),
                    )
        self.stale.pop(actor, None)
        if epoch is not None and (self._newest_epoch is None or epoch > self._newest_epoch):
            self._newest_epoch = epoch
        term = Term(actor=actor, epoch=epoch, start=ts, start_seq=seq, source=source, how=how)
        self.terms.append(term)
        self.open_terms[actor] = term

    # -- handlers ---------------------------------------------------------------

    def acquired(self, row: Sequence[Any], source: int) -> None:
        """``leader.acquired``: a term begins (the row's epoch, else the payload's)."""
        actor = row[ACTOR]
        epoch = row[EPOCH]
        if epoch is None:  # only then does the payload matter
            epoch = self._payloads.of(row).epoch
            if not is_count(epoch):
                epoch = None
        current = self.open_terms.get(actor)
        if current is not None and current.epoch == epoch and current.how != "acquired":
            current.how = "acquired"  # seen first through another replica's eyes
            return
        self._open(row, source, actor, epoch, "acquired")

    def ended(self, row: Sequence[Any], source: int) -> None:
        """``leader.lost`` / ``leader.released``: the actor's term ends."""
        term = self.open_terms.get(row[ACTOR])
        if term is None:
            return
        reason = "lost" if row[KIND] == k.LEADER_LOST else "released"
        self.close(term, row[TS], row[SEQ], reason, source)
        self._ended.add((term.actor, term.epoch))

    def observed(self, row: Sequence[Any], source: int) -> None:
        """``leader.observed``: a standby saw a holder lead in an epoch."""
        # A standby writes one every few seconds: its two fields read inline,
        # from the parsed data the payload memo shares between equal texts.
        data = self._payloads.data(row)
        holder, epoch = data.get(_HOLDER), data.get(_EPOCH)
        if not isinstance(epoch, int) or isinstance(epoch, bool):
            epoch = None
        if not isinstance(holder, str) or not holder:
            return
        current = self.open_terms.get(holder)
        if current is not None and (current.epoch == epoch or epoch is None):
            return
        if (holder, epoch) in self._ended:
            # A standby's late view of a term its holder already ended (records
            # are stamped when journaled): not a new term.
            return
        if epoch is not None and self._newest_epoch is not None and epoch < self._newest_epoch:
            # A replica reporting an older term than one already known: a late
            # or stale view (records are stamped when journaled), not a leader.
            return
        self._open(row, source, holder, epoch, "observed")

    def activity(self, row: Sequence[Any], source: int, actor: str, epoch: int, kind: str) -> None:
        """Any record stamped with a leader epoch: a stale leader acting, or a term's start."""
        stale = self.stale.get(actor)
        if stale is not None and kind in LEADER_ACTIONS:
            stale_epoch, newer, newer_epoch, since = stale
            if stale_epoch is None or epoch <= stale_epoch:
                del self.stale[actor]
                self._anomalies.report(
                    "overlapping_leaders",
                    row,
                    source,
                    f"{actor} wrote {kind} as leader of epoch {epoch} after {newer} "
                    f"took epoch {newer_epoch} at {since} (split-brain)",
                )
            return
        if (
            actor not in self.open_terms
            and kind in LEADER_ACTIONS
            and not any(term.actor == actor for term in self.terms)
        ):
            # The window starts inside this actor's term.
            self._open(row, source, actor, epoch, "inferred")


__all__ = ["LEADER_ACTIONS", "Leadership", "Term"]
