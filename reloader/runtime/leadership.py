"""Who may act on the cluster: the seam where leader election plugs in.

The runtime asks a :class:`Leadership` three things: tell me when I start or
stop acting (``start(on_change)``), may I send this patch right now
(``confirm()``, the fencing check made just before every patch), and what
epoch do I stamp on journal records (``epoch()``). On shutdown it calls
``release()`` after the pending restarts have been flushed.

:class:`SoleActor` is the implementation for ``LEADER_ELECTION_ENABLED=false``:
this replica is the only one and always acts. The Lease-based elector
(``coordination.k8s.io/v1``, client-go semantics) implements the same protocol;
its state machine belongs in the decision core and its Lease I/O in
``reloader.kube``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from telemetry.config import ConfigError

if TYPE_CHECKING:
    from reloader.runtime.settings import LeaderElectionSettings


@dataclass(frozen=True)
class LeadershipStatus:
    """What ``/leadz`` reports.

    Attributes:
        identity: This replica's identity (``POD_NAME``).
        leader: The identity of the current leader, when known.
        is_leader: Whether this replica acts on the cluster now.
        epoch: The leader's term (the Lease's ``leaseTransitions``), when there is a Lease.
    """

    identity: str
    leader: str | None
    is_leader: bool
    epoch: int | None

    def as_dict(self) -> dict[str, object]:
        """Return the status as the ``/leadz`` JSON object."""
        return {
            "identity": self.identity,
            "leader": self.leader,
            "is_leader": self.is_leader,
            "epoch": self.epoch,
        }


class Leadership(Protocol):
    """How the runtime learns whether this replica may act."""

    identity: str

    def start(self, on_change: Callable[[bool], None]) -> None:
        """Begin; call ``on_change(acting)`` on every change of ``is_leader()``."""

    def is_leader(self) -> bool:
        """Return whether this replica currently acts."""

    def confirm(self) -> bool:
        """Return whether a patch may be sent now (the fencing check)."""

    def epoch(self) -> int | None:
        """Return the epoch to stamp on journal records while acting, else None."""

    def status(self) -> LeadershipStatus:
        """Return what ``/leadz`` reports."""

    def release(self) -> None:
        """Give leadership up (after the shutdown flush), so a standby takes over at once."""


class SoleActor:
    """The only replica: it acts from start to stop, and there is no Lease."""

    def __init__(self, identity: str) -> None:
        """Act as ``identity``."""
        self.identity = identity
        self._released = False

    def start(self, on_change: Callable[[bool], None]) -> None:
        """Report acting at once."""
        on_change(True)

    def is_leader(self) -> bool:
        """Return True until released."""
        return not self._released

    def confirm(self) -> bool:
        """Return True until released: nobody else can lead."""
        return not self._released

    def epoch(self) -> int | None:
        """Return None: without a Lease there is no epoch."""
        return None

    def status(self) -> LeadershipStatus:
        """Return this replica as the leader (until released)."""
        leading = not self._released
        return LeadershipStatus(self.identity, self.identity if leading else None, leading, None)

    def release(self) -> None:
        """Stop acting."""
        self._released = True


def make_leadership(election: LeaderElectionSettings, identity: str) -> Leadership:
    """Return the leadership for this replica.

    With ``LEADER_ELECTION_ENABLED=false`` this replica is the sole actor. The
    Lease elector plugs in here for ``true``, with the timings of ``election``.

    Raises:
        ConfigError: Leader election is asked for but not available in this
            build; running unelected replicas side by side would restart
            every Deployment once per replica.
    """
    if election.enabled:
        raise ConfigError(
            "LEADER_ELECTION_ENABLED",
            "true",
            "Lease leader election is not available in this build yet; "
            "set it to false and run a single replica",
        )
    return SoleActor(identity)
