"""The one catalogue of journal records: every kind, and the payload of each.

A journal record's ``kind`` says what happened and its ``data`` the facts of
it. This package is the single place where both are defined:

* :mod:`records.kinds`: the stable kind strings (contract section 2, plus the
  kinds added since), their areas, filter matching and well-formedness, and
  the reason words some payloads carry;
* :mod:`records.payload`: the machinery: a frozen dataclass per kind, turned
  into the stored ``data`` dict by ``to_data()`` and read back by
  ``from_data()`` (tolerant of older records that lack newer keys);
* :mod:`records.observations`, :mod:`records.restarts`,
  :mod:`records.leadership`: the payloads, one dataclass per kind;
* :mod:`records.difference`: the one :class:`Difference` that
  ``replay --check`` reports.

Why a top-level package of its own: the controller's pure decision core
(``reloader.core``) writes records, and the journal (``journal``) stores,
verifies and reads them. ``reloader.core`` sits *below* ``journal`` in the
layers, so the vocabulary both share must sit below both. Putting it in
``reloader.core`` would make the generic store depend on the controller's
internals; putting it in ``journal`` would make the pure core import its
storage. So ``records`` is pure: it imports no I/O library and nothing of
ours (an import-linter contract says so), and both sides import it.

Writing a record::

    payload = RestartPlanned(configmap="c", data_hash="...", attempt=1, ...)
    Record(payload.KIND, "deployment/d", correlation_id, payload.to_data())

Reading one: ``parse(record.kind, record.data)`` returns the typed payload
(or ``None`` for a kind this version does not know).
"""

from records.difference import Difference
from records.leadership import (
    JournalCheckpoint,
    JournalShipped,
    JournalVacuumed,
    LeaderAcquired,
    LeaderLost,
    LeaderObserved,
    LeaderReleased,
    OperatorNote,
)
from records.observations import (
    ConfigMapObserved,
    ControllerStarted,
    ControllerStopped,
    ControllerStopping,
    DeploymentObserved,
    WatchError,
    WatchRelisted,
    WatchStarted,
    WorkloadMissingReference,
    WorkloadWarning,
)
from records.payload import ABSENT, PAYLOADS, Absent, Payload, parse
from records.restarts import (
    DebounceCoalesced,
    DebounceScheduled,
    DebounceSkipped,
    RestartDropped,
    RestartFailed,
    RestartFlushed,
    RestartPatched,
    RestartPlanned,
    RestartRetry,
    RestartSuperseded,
    RolloutCompleted,
    RolloutSkipped,
    RolloutTimeout,
    source_object,
)

__all__ = [
    "ABSENT",
    "PAYLOADS",
    "Absent",
    "ConfigMapObserved",
    "ControllerStarted",
    "ControllerStopped",
    "ControllerStopping",
    "DebounceCoalesced",
    "DebounceScheduled",
    "DebounceSkipped",
    "DeploymentObserved",
    "Difference",
    "JournalCheckpoint",
    "JournalShipped",
    "JournalVacuumed",
    "LeaderAcquired",
    "LeaderLost",
    "LeaderObserved",
    "LeaderReleased",
    "OperatorNote",
    "Payload",
    "RestartDropped",
    "RestartFailed",
    "RestartFlushed",
    "RestartPatched",
    "RestartPlanned",
    "RestartRetry",
    "RestartSuperseded",
    "RolloutCompleted",
    "RolloutSkipped",
    "RolloutTimeout",
    "WatchError",
    "WatchRelisted",
    "WatchStarted",
    "WorkloadMissingReference",
    "WorkloadWarning",
    "parse",
    "source_object",
]
