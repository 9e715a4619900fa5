"""Appending the core's records to the journal, in order, surviving journal outages.

Records go into an in-memory outbox; :meth:`JournalWriter.flush` appends all
of them in order, in one transaction (one sync) per batch, so a burst of
events costs one fsync rather than one per record.
When an append fails (read-only file, full disk, lock held too long) the
record stays at the head of the outbox, the error is counted and reported in
``/healthz`` and ``/readyz``, and the append is tried again with backoff until
it succeeds. The runtime sends no patch while the outbox is not empty: a
``restart.planned`` record is always durable before its patch goes out.

The outbox is bounded; once it is full the reconcile loop stops taking new
events (the watches back up, and a relist later catches anything they miss),
so a long outage costs memory no more than the bound.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from journal import Entry
from reloader.core import Record
from telemetry.redaction import bounded

log = logging.getLogger(__name__)


class Appender(Protocol):
    """The part of :class:`journal.Journal` the controller uses."""

    def write_many(self, entries: Iterable[Any]) -> int:
        """Append several records in one durable transaction, all or none, or raise."""


@dataclass(frozen=True)
class _Pending:
    record: Record
    ts: datetime
    epoch: int | None


class JournalWriter:
    """An ordered outbox in front of the journal."""

    def __init__(
        self,
        journal: Appender,
        namespace: str,
        *,
        on_append: Callable[[float, int], None] = lambda seconds, records: None,
        on_error: Callable[[str, int], None] = lambda error, backlog: None,
        on_recovered: Callable[[], None] = lambda: None,
        max_backlog: int = 10_000,
        batch: int = 500,
        retry_base_seconds: float = 0.1,
        retry_max_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        tick: Callable[[], object] | None = None,
    ) -> None:
        """Write to ``journal`` for ``namespace``; the callbacks feed metrics and health.

        ``tick`` runs after every flush that leaves the outbox empty (the
        signing writer's timed checkpoint, :mod:`journal.checkpoints`).
        """
        self._journal = journal
        self._namespace = namespace
        self._on_append = on_append
        self._on_error = on_error
        self._on_recovered = on_recovered
        self._max_backlog = max_backlog
        self._batch = batch
        self._retry_base = retry_base_seconds
        self._retry_max = retry_max_seconds
        self._clock = clock
        self._tick = tick
        self._outbox: deque[_Pending] = deque()
        self._failures = 0
        self._retry_at: float | None = None
        self.last_error: str | None = None

    @property
    def backlog(self) -> int:
        """Records not yet durable."""
        return len(self._outbox)

    def pending(self) -> list[Record]:
        """The records not yet durable, oldest first."""
        return [pending.record for pending in self._outbox]

    @property
    def empty(self) -> bool:
        """Whether every record submitted so far is durable."""
        return not self._outbox

    @property
    def full(self) -> bool:
        """Whether the outbox reached its bound (stop taking new events)."""
        return len(self._outbox) >= self._max_backlog

    @property
    def failing(self) -> bool:
        """Whether the last append attempt failed."""
        return self._failures > 0

    def retry_at(self) -> float | None:
        """When the next append attempt is due (monotonic), or None when nothing waits."""
        return self._retry_at if self._outbox else None

    def submit(self, record: Record, ts: datetime, epoch: int | None) -> None:
        """Queue ``record`` (decided at ``ts``); :meth:`flush` makes it durable."""
        self._outbox.append(_Pending(record, ts, epoch))

    def flush(self, *, force: bool = False) -> bool:
        """Append queued records in order; return whether the outbox is empty.

        While failing, an attempt is made only once the backoff is over, unless ``force``.
        """
        if self._retry_at is not None and not force and self._clock() < self._retry_at:
            return False
        while self._outbox:
            batch = [self._outbox[i] for i in range(min(len(self._outbox), self._batch))]
            started = time.perf_counter()
            try:
                self._journal.write_many(
                    Entry(
                        kind=pending.record.kind,
                        namespace=pending.record.namespace or self._namespace,
                        object=pending.record.object,
                        correlation_id=pending.record.correlation_id,
                        leader_epoch=pending.epoch,
                        data=journaled_data(pending.record.data),
                        ts=pending.ts,
                    )
                    for pending in batch
                )
            except Exception as error:  # any failure: nothing was written, try later
                self._failed(error)
                return False
            self._on_append(time.perf_counter() - started, len(batch))
            for _ in batch:
                self._outbox.popleft()
            if self._failures:
                log.warning(
                    "journal writable again",
                    extra={
                        "fields": {"failed_attempts": self._failures, "backlog": len(self._outbox)}
                    },
                )
                self._failures = 0
                self.last_error = None
                self._on_recovered()
            self._retry_at = None
        if self._tick is not None:
            self._tick()
        return True

    def _failed(self, error: Exception) -> None:
        self._failures += 1
        delay = min(self._retry_max, self._retry_base * 2 ** min(self._failures - 1, 20))
        self._retry_at = self._clock() + delay
        self.last_error = " ".join(f"{type(error).__name__}: {error}".split())[:300]
        self._on_error(self.last_error, len(self._outbox))
        level = logging.ERROR if self._failures == 1 else logging.DEBUG
        log.log(
            level,
            "journal append failed; no patch is sent until it succeeds",
            extra={
                "fields": {
                    "backlog": len(self._outbox),
                    "retry_in_seconds": round(delay, 3),
                    "attempt": self._failures,
                    "detail": self.last_error,
                }
            },
        )


def journaled_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """A record's data as it is journaled: any API error text redacted and bounded.

    Error text reaches records as ``error`` (``watch.error``, ``leader.released``)
    or ``error.message`` (``restart.retry``, ``restart.failed``,
    ``restart.dropped``, ``restart.superseded``). :func:`reloader.kube.errors.classify`
    already bounds what it makes; this is the last gate before the journal, so
    that no path can store a server's text as it was sent.
    """
    out = dict(data)
    error = out.get("error")
    if isinstance(error, str):
        out["error"] = bounded(error)
    elif isinstance(error, Mapping) and isinstance(error.get("message"), str):
        out["error"] = {**error, "message": bounded(error["message"])}
    return out
