"""Who may act on the cluster: the seam where leader election plugs in.

The runtime asks a :class:`Leadership` three things: tell me when I start or
stop acting (``start(on_change)``), may I send this patch right now
(``confirm()``, the fencing check made just before every patch), and what
epoch do I stamp on journal records (``epoch()``). On shutdown it calls
``release()`` after the pending restarts have been flushed.

:class:`SoleActor` is the implementation for ``LEADER_ELECTION_ENABLED=false``:
this replica is the only one and always acts.
:class:`reloader.runtime.election.LeaseElector` is the one for ``true``: a
``coordination.k8s.io/v1`` Lease with client-go's semantics, its state machine
in the decision core (:mod:`reloader.core.election`) and its Lease I/O in
:mod:`reloader.kube.lease`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from reloader.core import Event, LeadershipChanged
from reloader.core.election import ElectionTimings
from reloader.kube.lease import LeaseLock
from reloader.runtime.election import LeaseElector
from reloader.runtime.leadz import LeadershipStatus

if TYPE_CHECKING:
    from kubernetes import client

    from reloader.runtime.settings import LeaderElectionSettings

__all__ = ["Leadership", "LeadershipStatus", "SoleActor", "make_leadership"]


class Leadership(Protocol):
    """How the runtime learns whether this replica may act."""

    identity: str

    def start(
        self,
        on_change: Callable[[Event], None],
        *,
        on_error: Callable[[str], None] | None = None,
        on_progress: Callable[[], None] | None = None,
    ) -> None:
        """Begin; hand every ``LeadershipChanged`` (and ``LeaderObserved``) to ``on_change``.

        ``on_error`` receives the reason of each failed leadership request and
        ``on_progress`` is called while the leadership's own loop makes progress.
        """

    def is_leader(self) -> bool:
        """Return whether this replica currently acts."""

    def confirm(self) -> bool:
        """Return whether a patch may be sent now (the fencing check)."""

    def epoch(self) -> int | None:
        """Return the epoch to stamp on journal records while acting, else None."""

    def status(self) -> LeadershipStatus:
        """Return what ``/leadz`` reports."""

    def release(self, timeout: float | None = None) -> bool:
        """Give leadership up (after the shutdown flush), so a standby takes over at once.

        Returns whether it finished within ``timeout`` (a default of its own when None).
        """


class SoleActor:
    """The only replica: it acts from start to stop, and there is no Lease."""

    def __init__(self, identity: str) -> None:
        """Act as ``identity``."""
        self.identity = identity
        self._released = False

    def start(
        self,
        on_change: Callable[[Event], None],
        *,
        on_error: Callable[[str], None] | None = None,
        on_progress: Callable[[], None] | None = None,
    ) -> None:
        """Report acting at once (there is nothing to fail and no loop to watch)."""
        on_change(LeadershipChanged(True))

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

    def release(self, timeout: float | None = None) -> bool:
        """Stop acting."""
        self._released = True
        return True


def make_leadership(
    election: LeaderElectionSettings,
    identity: str,
    *,
    namespace: str = "",
    api_client: client.ApiClient | None = None,
    highest_epoch: int | None = None,
) -> Leadership:
    """Return the leadership for this replica.

    With ``LEADER_ELECTION_ENABLED=false`` this replica is the sole actor.
    With ``true`` it runs for the Lease ``namespace/LEADER_ELECTION_LEASE_NAME``
    through ``api_client`` (its own client, so Lease requests never queue
    behind watches and patches), with the timings of ``election``, numbering
    its terms above ``highest_epoch`` (the highest its journal names).
    """
    if not election.enabled:
        return SoleActor(identity)
    if api_client is None:
        raise ValueError("leader election needs an API client")
    timings = ElectionTimings(
        election.lease_duration_seconds,
        election.renew_deadline_seconds,
        election.retry_period_seconds,
    )
    lock = LeaseLock(api_client, namespace, election.lease_name)
    return LeaseElector(lock, identity, timings, highest_epoch=highest_epoch)
