"""Whether the pod should receive new traffic: true until the drain starts."""

from __future__ import annotations


class Readiness:
    """A one-way switch from ready to draining, safe to flip from a signal handler.

    ``/readyz`` reads it on every probe; the server flips it when SIGTERM
    arrives so that Kubernetes takes the pod out of its Service's endpoints
    while the pod still answers the requests already on their way.
    """

    __slots__ = ("_draining",)

    def __init__(self) -> None:
        # A plain attribute: assigning it is atomic, and it takes no lock, so a
        # signal handler may flip it whatever the interrupted thread was doing.
        self._draining = False

    @property
    def ready(self) -> bool:
        """Return whether new traffic is welcome."""
        return not self._draining

    @property
    def draining(self) -> bool:
        """Return whether the drain has started."""
        return self._draining

    def start_draining(self) -> None:
        """Answer 503 on ``/readyz`` from now on; this cannot be undone."""
        self._draining = True
