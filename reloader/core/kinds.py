"""The journal record kinds the controller writes (contract section 2).

The strings are the contract's and never change. They are repeated here rather
than imported from ``journal.kinds`` because the decision core sits below the
journal in the layer order; a test checks that both lists agree.
"""

from __future__ import annotations

CONTROLLER_STARTED = "controller.started"
CONTROLLER_STOPPING = "controller.stopping"
CONTROLLER_STOPPED = "controller.stopped"

WATCH_STARTED = "watch.started"
WATCH_ERROR = "watch.error"
WATCH_RELISTED = "watch.relisted"

CONFIGMAP_OBSERVED = "configmap.observed"
DEPLOYMENT_OBSERVED = "deployment.observed"

DEBOUNCE_SCHEDULED = "debounce.scheduled"
DEBOUNCE_COALESCED = "debounce.coalesced"
DEBOUNCE_SKIPPED = "debounce.skipped"

RESTART_PLANNED = "restart.planned"
RESTART_PATCHED = "restart.patched"
RESTART_RETRY = "restart.retry"
RESTART_FAILED = "restart.failed"
RESTART_DROPPED = "restart.dropped"
RESTART_FLUSHED = "restart.flushed"
RESTART_SUPERSEDED = "restart.superseded"

ROLLOUT_COMPLETED = "rollout.completed"
ROLLOUT_TIMEOUT = "rollout.timeout"

LEADER_ACQUIRED = "leader.acquired"
LEADER_LOST = "leader.lost"
LEADER_RELEASED = "leader.released"
LEADER_OBSERVED = "leader.observed"

# Kinds this package adds to the contract's list (the contract allows new
# kinds): ``controller.stopping`` marks the start of the SIGTERM flush and
# ``deployment.observed`` records the Deployment facts a decision depends on,
# so that ``replay --check`` can re-run the decisions from the journal alone.
ADDED_KINDS = frozenset({CONTROLLER_STOPPING, DEPLOYMENT_OBSERVED})

# Reasons carried by ``debounce.skipped``.
SKIP_UNCHANGED = "unchanged"
SKIP_ADOPTED = "adopted"
SKIP_REVERTED = "reverted"
SKIP_NO_TARGET = "no-target"
SKIP_DELETED = "deleted"
SKIP_NOT_LEADER = "not-leader"

# ``Listed.reason`` of the lists a new leader asks for before it acts.
RELIST_LEADER = "leader"
