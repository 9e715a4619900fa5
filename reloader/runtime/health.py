"""What ``/healthz`` and ``/readyz`` report: loop progress, watches, journal, sync.

A loop is healthy while it makes progress: each loop beats at least once per
its own period and is reported stuck when it has been silent for longer than
the limit it registered. A watch that is reconnecting still beats (it is
working on it) but shows ``up: false``; a watch blocked on a dead stream stops
beating and turns ``/healthz`` red, which is what a liveness probe is for.

A request the API server forbids (403: the Role lacks a verb) is reported
under ``permissions`` on ``/healthz`` and as a reason on ``/readyz`` (503),
until the same operation succeeds again in the same namespace (a success in
another namespace proves nothing about this one's RoleBinding), or, when the
forbidden request is no longer made (its workload deleted), once it has not
been seen for ``forbidden_ttl`` seconds. A list or watch the Role forbids is
reported the same way (operation ``watch``) until that resource's watch
starts: no decision is made before every first list is in, so ``/readyz``
says why rather than only "initial list not synced". Liveness stays 200: a
restarted pod has the same Role, so only fixing the Role helps.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Loop:
    limit: float
    last: float
    stopped: bool = False


@dataclass
class _Journal:
    ok: bool = True
    error: str | None = None
    backlog: int = 0
    failing_since: float | None = None


@dataclass
class Health:
    """Thread-safe health state, written by the loops and read by the HTTP handlers."""

    clock: Callable[[], float] = time.monotonic
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _loops: dict[str, _Loop] = field(default_factory=dict)
    _watches: dict[str, bool] = field(default_factory=dict)
    _journal: _Journal = field(default_factory=_Journal)
    #: How long a forbidden operation stays reported without being seen again
    #: (None: until it succeeds); the resync tries a forbidden write again.
    forbidden_ttl: float | None = None
    # (operation, namespace) -> (the 403's message, when it was last seen)
    _forbidden: dict[tuple[str, str], tuple[str, float]] = field(default_factory=dict)
    _synced: bool = False
    _stopping: bool = False

    def register(self, loop: str, limit: float) -> None:
        """Start watching ``loop``; it is stuck once silent for more than ``limit`` seconds."""
        with self._lock:
            self._loops[loop] = _Loop(limit=limit, last=self.clock())

    def beat(self, loop: str) -> None:
        """Record that ``loop`` made progress now."""
        with self._lock:
            entry = self._loops.get(loop)
            if entry is not None:
                entry.last = self.clock()

    def finished(self, loop: str) -> None:
        """Record that ``loop`` ended on purpose (shutdown): it is no longer checked."""
        with self._lock:
            entry = self._loops.get(loop)
            if entry is not None:
                entry.stopped = True

    def set_watch(self, resource: str, up: bool) -> None:
        """Record whether the list/watch of ``resource`` is connected."""
        with self._lock:
            self._watches[resource] = up

    def set_journal(self, ok: bool, error: str | None = None, backlog: int = 0) -> None:
        """Record whether the journal accepts appends, and how many records wait."""
        with self._lock:
            if ok:
                self._journal = _Journal(backlog=backlog)
            else:
                since = self._journal.failing_since or self.clock()
                self._journal = _Journal(False, error, backlog, since)

    def set_forbidden(self, operation: str, message: str | None, namespace: str = "") -> None:
        """Record that ``operation`` in ``namespace`` was forbidden, or allowed (None).

        ``patch`` and ``adopt`` per namespace; ``watch`` (a list or watch) per
        resource, in ``namespace``'s place.
        """
        with self._lock:
            if message is None:
                self._forbidden.pop((operation, namespace), None)
            else:
                self._forbidden[(operation, namespace)] = (message, self.clock())

    def _forbidden_now(self, now: float) -> list[tuple[str, str]]:
        """``(operation, message)`` of what is still forbidden, by operation and namespace."""
        if self.forbidden_ttl is not None:
            for key, (_message, seen) in list(self._forbidden.items()):
                if now - seen > self.forbidden_ttl:
                    del self._forbidden[key]
        return [
            (operation, self._forbidden[(operation, ns)][0])
            for operation, ns in sorted(self._forbidden)
        ]

    def set_synced(self) -> None:
        """Record that the initial lists are in."""
        with self._lock:
            self._synced = True

    def set_stopping(self) -> None:
        """Record that shutdown began (``/readyz`` turns 503)."""
        with self._lock:
            self._stopping = True

    def liveness(self) -> tuple[bool, dict[str, Any]]:
        """Return whether every loop makes progress, with the detail."""
        now = self.clock()
        with self._lock:
            loops = {}
            ok = True
            for name, entry in sorted(self._loops.items()):
                silent = now - entry.last
                alive = entry.stopped or silent <= entry.limit
                ok &= alive
                loops[name] = {"ok": alive, "seconds_since_progress": round(silent, 3)}
            forbidden: dict[str, str] = {}
            for operation, message in self._forbidden_now(now):
                forbidden[operation] = (
                    f"{forbidden[operation]}; {message}" if operation in forbidden else message
                )
            detail = {
                "status": "ok" if ok else "stuck",
                "loops": loops,
                "watches": {name: {"up": up} for name, up in sorted(self._watches.items())},
                "journal": self._journal_detail(now),
                "permissions": {"ok": not forbidden, "forbidden": forbidden},
                "synced": self._synced,
            }
        return ok, detail

    def readiness(self, is_leader: bool) -> tuple[bool, dict[str, Any]]:
        """Return whether this replica is the leader, synced and able to journal."""
        now = self.clock()
        with self._lock:
            reasons = []
            if not is_leader:
                reasons.append("not the leader")
            if not self._synced:
                reasons.append("initial list not synced")
            if not self._journal.ok:
                reasons.append(f"journal not writable: {self._journal.error}")
            for operation, message in self._forbidden_now(now):
                reasons.append(f"{operation} forbidden: {message}")
            if self._stopping:
                reasons.append("shutting down")
        ready = not reasons
        return ready, {"status": "ready" if ready else "not ready", "reasons": reasons}

    def _journal_detail(self, now: float) -> dict[str, Any]:
        journal = self._journal
        detail: dict[str, Any] = {"ok": journal.ok, "backlog": journal.backlog}
        if not journal.ok:
            detail["error"] = journal.error
            if journal.failing_since is not None:
                detail["failing_for_seconds"] = round(now - journal.failing_since, 3)
        return detail
