"""Shipshape's audit journal: append-only, hash-chained, in SQLite.

The API the controller and the CLI use::

    from journal import Journal, Record, JournalError, kinds

    # Writer: creates the file if missing, migrates it to the schema head
    # (Alembic, from the installed package), WAL + synchronous=FULL + busy
    # timeout, BEGIN IMMEDIATE for every write.
    journal = Journal.open("sqlite:///journal.db", actor="helloworld-controller-0")

    # Reader: never creates, migrates or writes.
    reader = Journal.open("journal.db", readonly=True)

    record = journal.append(
        kinds.RESTART_PLANNED,
        namespace="shipshape",
        object="deployment/helloworld-test",
        correlation_id="8c0f...",
        leader_epoch=3,
        data={"configmap": "helloworld-config-test", "data_hash": "..."},
    )  # returns once committed and synced; JournalWriteError means nothing was written

    for record in reader.read(after_seq=0, kinds=("restart",), since=...):
        ...  # streams page by page in constant memory
    reader.head()  # (seq, hash), or (0, GENESIS) when empty
    journal.close()

``Journal.open(url, *, actor=None, readonly=False, create=True, busy_timeout=5.0)``;
``append(kind, *, namespace, object, correlation_id, leader_epoch, data, ts) -> Record``;
``append_many(entries: Iterable[Entry]) -> list[Record]`` (one transaction);
``write_many(entries) -> int`` (the same, without reading the records back);
``read(after_seq=0, *, kinds, object, correlation_id, since, until, namespace, limit)``;
``last(n, filters)``; ``head()``; ``first_seq()``; ``count()``; ``close()``.
:func:`current_revision` reads a journal's schema revision without opening
it (``db current``: also a revision older than the head).

Operations on an open journal, one module each: :func:`verify`, :func:`replay`
(projections, several journals merged by time), :func:`run_check` with
:func:`load_model` (the ``replay --check`` hook), :class:`Tail` and
:func:`follow` (``tail [-f]``), :func:`vacuum` (retention with a tombstone),
:func:`snapshot` (``backup``), :func:`export_dr_drill`, :func:`stats`.

The ``replay --check`` hook: a decision model is a function
``check(records: Iterable[Record]) -> Iterable[difference]`` named
``MODULE:FUNCTION`` (default ``reloader.core.replay:check``); each difference
has ``seq`` (int) and ``message`` (str), optionally ``correlation_id``,
``recorded`` and ``expected``, as attributes or dict keys.

The record format, canonical form and anomaly types are described in
``docs/journal.md``.
"""

from __future__ import annotations

from journal.chain import GENESIS, canonical_bytes, record_hash
from journal.check import (
    DEFAULT_MODEL,
    CheckResult,
    Difference,
    NoDecisionModelError,
    load_model,
    run_check,
)
from journal.database import DEFAULT_BUSY_TIMEOUT, DEFAULT_URL, JOURNAL_URL_VARIABLE, resolve
from journal.drill import DrillExport, NoDrillError, export_dr_drill
from journal.errors import (
    JournalBusyError,
    JournalCorruptError,
    JournalCursorError,
    JournalError,
    JournalNotFoundError,
    JournalSchemaError,
    JournalValueError,
    JournalWriteError,
    NotAJournalError,
)
from journal.filters import Filters
from journal.follow import Tail, follow
from journal.merge import merged_last, merged_records
from journal.record import Entry, Record
from journal.replay import ANOMALY_TYPES, ReplayReport, replay
from journal.retention import VacuumResult, vacuum
from journal.schema import HEAD as SCHEMA_HEAD
from journal.snapshot import Snapshot, snapshot
from journal.stats import stats
from journal.store import Journal, current_revision
from journal.verify import VerifyResult, verify
from records import kinds

__all__ = [
    "ANOMALY_TYPES",
    "DEFAULT_BUSY_TIMEOUT",
    "DEFAULT_MODEL",
    "DEFAULT_URL",
    "GENESIS",
    "JOURNAL_URL_VARIABLE",
    "SCHEMA_HEAD",
    "CheckResult",
    "Difference",
    "DrillExport",
    "Entry",
    "Filters",
    "Journal",
    "JournalBusyError",
    "JournalCorruptError",
    "JournalCursorError",
    "JournalError",
    "JournalNotFoundError",
    "JournalSchemaError",
    "JournalValueError",
    "JournalWriteError",
    "NoDecisionModelError",
    "NoDrillError",
    "NotAJournalError",
    "Record",
    "ReplayReport",
    "Snapshot",
    "Tail",
    "VacuumResult",
    "VerifyResult",
    "canonical_bytes",
    "current_revision",
    "export_dr_drill",
    "follow",
    "kinds",
    "load_model",
    "merged_last",
    "merged_records",
    "record_hash",
    "replay",
    "resolve",
    "run_check",
    "snapshot",
    "stats",
    "vacuum",
    "verify",
]
