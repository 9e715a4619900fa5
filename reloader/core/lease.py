"""The vocabulary of leader election (:mod:`reloader.core.election`): its timings,
the Lease record, the events it is fed, the actions it returns, its state, and
the queries on that state (who acts, who leads, when to step next).

Pure data and pure functions, like the rest of the core.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime

#: Retry periods are spread over ``[1, 1 + JITTER_FACTOR)`` times the period;
#: the settings guarantee ``renew_deadline > (1 + JITTER_FACTOR) * retry_period``,
#: so a leader always gets one more attempt before its deadline.
JITTER_FACTOR = 0.2
#: The shortest timeout given to a request (a leader close to its deadline).
MIN_REQUEST_TIMEOUT = 0.05
#: How many writes of unknown outcome are remembered (the latest ones).
MAX_UNCONFIRMED = 8


class Role(enum.StrEnum):
    """Where this replica stands in the election."""

    CANDIDATE = "candidate"
    LEADER = "leader"
    RELEASING = "releasing"
    STOPPED = "stopped"


class Request(enum.StrEnum):
    """The Lease request in flight."""

    READ = "read"  # a candidate reads the Lease
    CREATE = "create"  # there was none: create it, holding it
    ACQUIRE = "acquire"  # take it over (conditional update)
    RENEW = "renew"  # the leader's periodic conditional update
    CHECK = "check"  # the leader reads the Lease after a conflict
    RELEASE = "release"  # give it up on shutdown


def microtime(moment: datetime) -> str:
    """Format a wall time as a Kubernetes ``MicroTime`` (``2026-11-26T10:00:00.123456Z``)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class ElectionTimings:
    """The three durations of an election, in seconds (whole seconds, as validated).

    Attributes:
        lease_duration_seconds: How long a candidate waits, from when it first
            saw a record unchanged, before taking the Lease over.
        renew_deadline_seconds: How long the leader keeps acting after its
            last successful renewal was sent.
        retry_period_seconds: The interval between attempts (jittered).
    """

    lease_duration_seconds: int
    renew_deadline_seconds: int
    retry_period_seconds: int

    def __post_init__(self) -> None:
        """Reject timings under which two leaders could act at once."""
        if not (
            self.lease_duration_seconds
            > self.renew_deadline_seconds
            > (1 + JITTER_FACTOR) * self.retry_period_seconds
            > 0
        ):
            raise ValueError(
                "election timings need lease > renew deadline > 1.2 x retry period > 0"
            )

    def period(self, jitter: float) -> float:
        """Return one jittered retry period for a ``jitter`` drawn from ``[0, 1)``."""
        spread = min(max(jitter, 0.0), 1.0)
        return self.retry_period_seconds * (1.0 + JITTER_FACTOR * spread)


@dataclass(frozen=True)
class LeaseRecord:
    """The election record a Lease's spec holds.

    Attributes:
        holder: ``holderIdentity``; None or empty when nobody holds it (released).
        lease_duration_seconds: ``leaseDurationSeconds`` as the holder wrote it.
        transitions: ``leaseTransitions``: the term, the epoch.
        acquire_time: ``acquireTime`` (RFC 3339 with microseconds), as text.
        renew_time: ``renewTime``, as text.
    """

    holder: str | None
    lease_duration_seconds: int
    transitions: int
    acquire_time: str | None = None
    renew_time: str | None = None

    @property
    def held(self) -> bool:
        """Whether the record names a holder."""
        return bool(self.holder)


# ---------------------------------------------------------------------- events


@dataclass(frozen=True)
class ElectionTick:
    """Time passed: an attempt or the renew deadline may be due."""


@dataclass(frozen=True)
class LeaseRead:
    """The Lease was read; ``record`` is None when it does not exist (404)."""

    record: LeaseRecord | None
    resource_version: str | None = None


@dataclass(frozen=True)
class LeaseWritten:
    """The create or conditional update in flight succeeded."""

    resource_version: str


@dataclass(frozen=True)
class LeaseConflict:
    """The write in flight got ``409``: somebody else wrote the Lease first."""

    message: str = ""


@dataclass(frozen=True)
class LeaseFailed:
    """The request in flight failed otherwise (5xx, timeout, connection, RBAC...)."""

    reason: str
    message: str = ""


@dataclass(frozen=True)
class ReleaseRequested:
    """Shutdown: give the Lease up if held (the work is flushed), then stop."""


ElectionEvent = (
    ElectionTick | LeaseRead | LeaseWritten | LeaseConflict | LeaseFailed | ReleaseRequested
)


# --------------------------------------------------------------------- actions


@dataclass(frozen=True)
class ReadLease:
    """GET the Lease (its result comes back as ``LeaseRead`` or ``LeaseFailed``)."""

    timeout: float


@dataclass(frozen=True)
class CreateLease:
    """Create the Lease with ``record`` (``LeaseWritten``, ``LeaseConflict``, ``LeaseFailed``)."""

    record: LeaseRecord
    timeout: float


@dataclass(frozen=True)
class UpdateLease:
    """Replace the Lease's record, only if its resourceVersion is still ``resource_version``."""

    record: LeaseRecord
    resource_version: str | None
    timeout: float


@dataclass(frozen=True)
class BecameLeader:
    """This replica holds the Lease from now on, under ``epoch``."""

    epoch: int
    previous_holder: str | None
    latency_seconds: float


@dataclass(frozen=True)
class StoppedLeading:
    """This replica must stop acting at once.

    ``reason``: ``renew-deadline`` (no successful renewal for the deadline),
    ``taken-over`` (another holder), ``lease-changed`` (a record it did not
    write) or ``lease-deleted``.
    """

    epoch: int
    reason: str
    seconds_since_renewal: float
    holder: str | None = None


@dataclass(frozen=True)
class ReleasedLeadership:
    """The leader gave up on shutdown; ``cleared`` says whether the Lease write was stored.

    A release whose answer was lost is confirmed by reading the Lease back.
    """

    epoch: int
    cleared: bool
    error: str | None = None


@dataclass(frozen=True)
class LeaderSeen:
    """The Lease names a new holder (or a new term of one), other than this replica."""

    holder: str
    epoch: int


ElectionAction = (
    ReadLease
    | CreateLease
    | UpdateLease
    | BecameLeader
    | StoppedLeading
    | ReleasedLeadership
    | LeaderSeen
)


# ----------------------------------------------------------------------- state


@dataclass(frozen=True)
class InFlight:
    """The one request under way: what it is, when it was sent, what it writes."""

    request: Request
    sent_at: float
    record: LeaseRecord | None = None


@dataclass(frozen=True)
class ElectionState:
    """Everything the election remembers between two steps.

    Attributes:
        identity: This replica's identity (the Lease's holder when it leads).
        timings: Lease duration, renew deadline, retry period.
        role: Candidate, leader, releasing, stopped.
        in_flight: The request under way, if any.
        next_attempt_at: When the next request is due (monotonic).
        seeking_since: When this replica last started seeking leadership.
        observed: The last record read (or written).
        observed_version: Its resourceVersion.
        observed_at: When ``observed`` was first seen as it is (the expiry clock).
        written: The last record this replica wrote successfully.
        written_version: The resourceVersion of that write.
        renewed_at: When the last successful write as leader was sent.
        epoch: The term this replica leads, while it leads.
        reported: The last (holder, epoch) reported as ``LeaderSeen``.
        release_requested: Shutdown asked for the Lease to be released.
        unconfirmed: Writes sent since the last confirmed one whose request
            failed on the way (timeout, reset, 5xx): the server may have stored
            any of them, so a record read that equals one is this replica's own.
        highest_transitions: The highest ``leaseTransitions`` read or written,
            so that a Lease created again after a deletion continues the epochs.
        vanished: Another holder's fresh record, last seen before the Lease was
            read missing: its holder may still act, so it is waited out.
        release_error: Why the release request failed; the Lease is then read
            once to learn whether it was stored all the same.
        release_retried: The release was sent a second time, after the read
            found it refused only because of a renewal of ours whose answer was
            lost (it is sent again at most once).
    """

    identity: str
    timings: ElectionTimings
    role: Role = Role.CANDIDATE
    in_flight: InFlight | None = None
    next_attempt_at: float = 0.0
    seeking_since: float = 0.0
    observed: LeaseRecord | None = None
    observed_version: str | None = None
    observed_at: float | None = None
    written: LeaseRecord | None = None
    written_version: str | None = None
    renewed_at: float | None = None
    epoch: int | None = None
    reported: tuple[str, int] | None = None
    release_requested: bool = False
    unconfirmed: tuple[InFlight, ...] = ()
    highest_transitions: int | None = None
    vanished: LeaseRecord | None = None
    release_error: str | None = None
    release_retried: bool = False


# --------------------------------------------------------------------- queries


def acting(state: ElectionState, now: float) -> bool:
    """Return whether this replica may act at ``now``: it leads and its renewal is fresh.

    This is the fencing check: it reads the time itself, so it holds even while
    the step that would notice the deadline has not run yet.
    """
    return (
        state.role is Role.LEADER
        and state.renewed_at is not None
        and now < state.renewed_at + state.timings.renew_deadline_seconds
    )


def current_leader(state: ElectionState, now: float) -> tuple[str | None, int | None]:
    """Return who leads as far as this replica knows at ``now``, and under which epoch.

    A record unchanged for longer than its lease duration names nobody: its
    holder has stopped renewing. A deleted Lease names its last holder while
    that holder is waited out (it may still act).
    """
    if acting(state, now):
        return state.identity, state.epoch
    record = state.observed if state.observed is not None else state.vanished
    if (
        record is not None
        and record.held
        and record.holder != state.identity
        and state.observed_at is not None
        and now < state.observed_at + record.lease_duration_seconds
    ):
        return record.holder, record.transitions
    return None, None


def next_wakeup(state: ElectionState) -> float | None:
    """Return when :func:`elect` next needs an ``ElectionTick``, or None (a result is awaited)."""
    if state.role in (Role.RELEASING, Role.STOPPED) or state.in_flight is not None:
        return None
    if state.release_requested:
        return None  # the step that took the request already released or stopped
    wakeups = [state.next_attempt_at]
    if state.role is Role.LEADER and state.renewed_at is not None:
        wakeups.append(state.renewed_at + state.timings.renew_deadline_seconds)
    return min(wakeups)
