"""What ``/leadz`` reports: who this replica is, who leads, and under which epoch."""

from __future__ import annotations

from dataclasses import dataclass


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
