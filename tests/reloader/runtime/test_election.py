"""The Lease elector's thread against the API test server: real HTTP, real time.

Timings are the shortest legal ones (lease 3 s, renew deadline 2 s, retry 1 s).
Deadlines in assertions carry a margin for a loaded machine.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kubernetes.client import ApiClient

from reloader.core import LeaderObserved, LeadershipChanged
from reloader.core.election import ElectionTimings
from reloader.kube.client import make_api_client
from reloader.kube.lease import LeaseLock
from reloader.runtime.election import LeaseElector
from reloader.runtime.leadership import make_leadership
from reloader.runtime.settings import load_settings
from tests.kubeapi import KubeApiServer
from tests.reloader.e2e.harness import wait_for

LEASE = "helloworld-controller-leader"
TIMINGS = ElectionTimings(3, 2, 1)
MARGIN = 0.75


class Seen:
    """What one elector reported, in order."""

    def __init__(self) -> None:
        self.events: list = []
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def change(self, event) -> None:
        with self._lock:
            self.events.append((time.monotonic(), event))

    def error(self, reason: str) -> None:
        with self._lock:
            self.errors.append(reason)

    def of(self, kind) -> list:
        with self._lock:
            return [event for _, event in self.events if isinstance(event, kind)]


@pytest.fixture
def electors(tmp_path: Path):
    made: list[LeaseElector] = []

    def make(server: KubeApiServer, namespace: str, index: int) -> tuple[LeaseElector, Seen]:
        client = f"controller-{index}"
        kubeconfig = server.write_kubeconfig(tmp_path / f"kubeconfig-{client}", client, namespace)
        lock = LeaseLock(make_api_client(str(kubeconfig)), namespace, LEASE)
        elector = LeaseElector(lock, f"helloworld-controller-{index}", TIMINGS)
        seen = Seen()
        elector.start(seen.change, on_error=seen.error)
        made.append(elector)
        return elector, seen

    yield make
    for elector in made:
        elector.release(timeout=5)


def test_one_leads_the_other_names_it_and_a_release_hands_over_at_once(
    kubeapi_server, kubeapi_namespace, electors
):
    a, seen_a = electors(kubeapi_server, kubeapi_namespace, 0)
    wait_for(a.is_leader, "the first elector to lead", timeout=10)
    b, seen_b = electors(kubeapi_server, kubeapi_namespace, 1)
    wait_for(lambda: seen_b.of(LeaderObserved), "the standby to observe the leader")
    assert seen_b.of(LeaderObserved) == [LeaderObserved(LEASE, a.identity, 0)]
    assert b.status().as_dict() == {
        "identity": b.identity,
        "leader": a.identity,
        "is_leader": False,
        "epoch": 0,
    }
    assert a.status().as_dict()["is_leader"] is True and a.epoch() == 0
    assert b.epoch() is None and not b.confirm()
    (acquired,) = seen_a.of(LeadershipChanged)
    assert acquired.acting and acquired.epoch == 0 and acquired.await_relist
    # The leader keeps renewing: the record changes every retry period.
    first = kubeapi_server.get("leases", LEASE, kubeapi_namespace)["spec"]["renewTime"]
    wait_for(
        lambda: (
            kubeapi_server.get("leases", LEASE, kubeapi_namespace)["spec"]["renewTime"] != first
        ),
        "a renewal",
        timeout=3,
    )

    released_at = time.monotonic()
    assert a.release() is True
    assert not a.is_leader()
    changes = seen_a.of(LeadershipChanged)
    assert changes[-1] == LeadershipChanged(
        False, lease=LEASE, epoch=0, reason="released", detail={"lease_cleared": True}
    )
    wait_for(b.is_leader, "the standby to take over", timeout=10)
    handover = time.monotonic() - released_at
    assert handover <= TIMINGS.retry_period_seconds * 1.2 + MARGIN, f"{handover:.2f} s"
    spec = kubeapi_server.get("leases", LEASE, kubeapi_namespace)["spec"]
    assert (spec["holderIdentity"], spec["leaseTransitions"]) == (b.identity, 1)
    (acquired_b,) = seen_b.of(LeadershipChanged)
    assert acquired_b.detail["previous_holder"] is None, "it was released, not taken over"
    assert seen_a.errors == [] and seen_b.errors == []


def _leader_and_standby(server: KubeApiServer, electors):
    """Two electors in namespace shipshape: ``controller-0`` leading, ``controller-1`` watching."""
    server.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shipshape"}})
    a, seen_a = electors(server, "shipshape", 0)
    wait_for(a.is_leader, "the first elector to lead", timeout=10)
    b, seen_b = electors(server, "shipshape", 1)
    wait_for(lambda: seen_b.of(LeaderObserved), "the standby to observe the leader")
    return (a, seen_a), (b, seen_b)


@contextmanager
def _overlaps(a: LeaseElector, b: LeaseElector) -> Iterator[list[float]]:
    """Sample every 2 ms whether both electors would act at once; yield the moments they did."""
    overlaps: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            if a.confirm() and b.confirm():
                overlaps.append(time.monotonic())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield overlaps
    finally:
        stop.set()
        sampler.join(2)


def test_a_partitioned_leader_stops_acting_before_the_standby_takes_over(
    kubeapi_private_server, electors, caplog
):
    server = kubeapi_private_server
    (a, seen_a), (b, _seen_b) = _leader_and_standby(server, electors)
    with _overlaps(a, b) as overlaps:
        cut_at = time.monotonic()
        server.partition("controller-0", seconds=6.0, mode="hang")
        wait_for(lambda: not a.confirm(), "the cut-off leader to stop acting", timeout=5)
        stopped = time.monotonic() - cut_at
        assert a.epoch() is None, "records after the fencing carry no epoch"
        # Its last successful renewal was sent before the cut: it stops within the deadline.
        assert stopped <= TIMINGS.renew_deadline_seconds + MARGIN, f"{stopped:.2f} s"
        wait_for(b.is_leader, "the standby to take over", timeout=10)
        took_over = time.monotonic() - cut_at
        assert took_over >= TIMINGS.lease_duration_seconds - 1.2, "not before the lease ran out"
        # The partition heals: the old leader sees the new one and stays a standby.
        wait_for(
            lambda: a.status().leader == b.identity, "the old leader to see the new", timeout=12
        )
    assert overlaps == [], "two electors acted at once"
    assert not a.is_leader() and b.is_leader()
    lost = [e for e in seen_a.of(LeadershipChanged) if not e.acting]
    assert [(e.reason, e.epoch) for e in lost] == [("renew-deadline", 0)]
    assert lost[0].detail["seconds_since_renewal"] >= TIMINGS.renew_deadline_seconds
    assert seen_a.of(LeaderObserved)[-1] == LeaderObserved(LEASE, b.identity, 1)
    assert set(seen_a.errors) <= {"timeout", "connection"} and seen_a.errors
    # One warning per run of failures, with the count; the rest at debug level.
    warned = [
        record.fields["failures"]
        for record in caplog.records
        if record.getMessage() == "lease request failed" and record.levelno == logging.WARNING
    ]
    assert warned and set(warned) == {1}


def test_a_leader_that_finds_another_holder_stops_and_names_it(
    kubeapi_server, kubeapi_namespace, electors
):
    a, seen_a = electors(kubeapi_server, kubeapi_namespace, 0)
    wait_for(a.is_leader, "the elector to lead", timeout=10)
    # Someone else writes the Lease (an operator, or a replica under the same name elsewhere).
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    kubeapi_server.patch(
        "leases",
        LEASE,
        {"spec": {"holderIdentity": "intruder-0", "renewTime": stamp, "acquireTime": stamp}},
        namespace=kubeapi_namespace,
    )
    wait_for(
        lambda: [e for e in seen_a.of(LeadershipChanged) if not e.acting],
        "the leader to stop leading",
        timeout=10,
    )
    (lost,) = [e for e in seen_a.of(LeadershipChanged) if not e.acting]
    assert not a.is_leader() and a.epoch() is None
    assert lost.detail["holder"] == "intruder-0"


def test_the_settings_timings_reach_the_elector():
    election = load_settings({"POD_NAME": "helloworld-controller-0"}).leader_election
    elector = make_leadership(
        election, "helloworld-controller-0", namespace="shipshape", api_client=ApiClient()
    )
    assert isinstance(elector, LeaseElector)
    assert elector.lease_name == "helloworld-controller-leader"
    assert elector.timings == ElectionTimings(
        lease_duration_seconds=15, renew_deadline_seconds=10, retry_period_seconds=2
    )


def test_a_standby_asked_to_release_just_stops(kubeapi_server, kubeapi_namespace, electors):
    a, _ = electors(kubeapi_server, kubeapi_namespace, 0)
    wait_for(a.is_leader, "the first elector to lead", timeout=10)
    b, seen_b = electors(kubeapi_server, kubeapi_namespace, 1)
    wait_for(lambda: seen_b.of(LeaderObserved), "the standby to observe the leader")
    before = kubeapi_server.get("leases", LEASE, kubeapi_namespace)["spec"]["holderIdentity"]
    assert b.release() is True
    assert seen_b.of(LeadershipChanged) == []
    assert kubeapi_server.get("leases", LEASE, kubeapi_namespace)["spec"]["holderIdentity"] == (
        before
    )
    assert a.is_leader()


def test_a_renewal_stored_whose_answer_was_lost_keeps_the_leader_leading(
    kubeapi_private_server, electors
):
    server = kubeapi_private_server
    (a, seen_a), (b, seen_b) = _leader_and_standby(server, electors)
    acting: list[tuple[bool, bool]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            acting.append((a.confirm(), b.confirm()))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        # The next renewal is stored, but its answer never reaches the leader.
        rule = server.lose_response(
            count=1, verb="update", resource="leases", client="controller-0"
        )
        wait_for(lambda: rule.hits == 1, "a renewal to be stored unanswered", timeout=5)
        lost_rv = int(server.get("leases", LEASE, "shipshape")["metadata"]["resourceVersion"])
        # The leader reads its own renewal back and renews from its version again.
        wait_for(
            lambda: (
                int(server.get("leases", LEASE, "shipshape")["metadata"]["resourceVersion"])
                > lost_rv
            ),
            "a renewal from the version never answered",
            timeout=5,
        )
        time.sleep(2 * TIMINGS.retry_period_seconds)
    finally:
        stop.set()
        sampler.join(2)
    assert a.is_leader() and a.epoch() == 0
    assert all(mine for mine, _ in acting), "the leader never stopped acting"
    assert not any(other for _, other in acting)
    assert [(e.acting, e.epoch) for e in seen_a.of(LeadershipChanged)] == [(True, 0)]
    assert seen_b.of(LeadershipChanged) == []
    assert seen_b.of(LeaderObserved) == [LeaderObserved(LEASE, a.identity, 0)]
    spec = server.get("leases", LEASE, "shipshape")["spec"]
    assert (spec["holderIdentity"], spec["leaseTransitions"]) == (a.identity, 0)
    # The lost answer, then the 409 of the renewal from the version it knew.
    assert seen_a.errors == ["connection", "conflict"]


def test_a_creation_stored_whose_answer_was_lost_leads_under_its_epoch(
    kubeapi_private_server, electors
):
    server = kubeapi_private_server
    server.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shipshape"}})
    rule = server.lose_response(count=1, verb="create", resource="leases", client="controller-0")
    started = time.monotonic()
    a, seen_a = electors(server, "shipshape", 0)
    wait_for(a.is_leader, "the elector to lead", timeout=10)
    took = time.monotonic() - started
    assert rule.hits == 1 and seen_a.errors == ["connection"]
    # Its own creation, read back at the next attempt: no waiting the lease out.
    assert took <= TIMINGS.retry_period_seconds * 1.2 + MARGIN, f"{took:.2f} s"
    assert a.epoch() == 0
    ((acquired, epoch),) = [(e.acting, e.epoch) for e in seen_a.of(LeadershipChanged)]
    assert (acquired, epoch) == (True, 0)
    assert server.get("leases", LEASE, "shipshape")["spec"]["leaseTransitions"] == 0


def test_a_lease_deleted_under_a_leader_is_not_created_by_the_standby_while_it_acts(
    kubeapi_private_server, electors
):
    server = kubeapi_private_server
    (a, seen_a), (b, seen_b) = _leader_and_standby(server, electors)
    with _overlaps(a, b) as overlaps:
        # Right after a renewal, the leader can write the Lease no more (its next
        # renewal would create it again), and somebody deletes the Lease.
        first = server.get("leases", LEASE, "shipshape")["spec"]["renewTime"]
        wait_for(
            lambda: server.get("leases", LEASE, "shipshape")["spec"]["renewTime"] != first,
            "a renewal",
            timeout=3,
        )
        server.fail(503, verb=["update", "create"], resource="leases", client="controller-0")
        server.delete("leases", LEASE, "shipshape")
        wait_for(b.is_leader, "the standby to lead", timeout=10)
    assert overlaps == [], "the standby acted while the old leader still did"
    assert [(e.reason, e.epoch) for e in seen_a.of(LeadershipChanged) if not e.acting] == [
        ("renew-deadline", 0)
    ]
    (acquired,) = seen_b.of(LeadershipChanged)
    assert acquired.epoch == 1 and acquired.detail["previous_holder"] == a.identity
    spec = server.get("leases", LEASE, "shipshape")["spec"]
    assert (spec["holderIdentity"], spec["leaseTransitions"]) == (b.identity, 1)


def test_a_release_stored_whose_answer_was_lost_is_reported_cleared(
    kubeapi_private_server, electors
):
    server = kubeapi_private_server
    server.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shipshape"}})
    a, seen_a = electors(server, "shipshape", 0)
    wait_for(a.is_leader, "the elector to lead", timeout=10)
    # Just after a renewal, so that the answer lost is the release's.
    first = server.get("leases", LEASE, "shipshape")["spec"]["renewTime"]
    wait_for(
        lambda: server.get("leases", LEASE, "shipshape")["spec"]["renewTime"] != first,
        "a renewal",
        timeout=3,
    )
    server.lose_response(verb="update", resource="leases", client="controller-0")
    assert a.release() is True
    assert server.get("leases", LEASE, "shipshape")["spec"].get("holderIdentity") in ("", None)
    # Read back: what the journal's leader.released says is what the Lease holds.
    assert seen_a.of(LeadershipChanged)[-1] == LeadershipChanged(
        False, lease=LEASE, epoch=0, reason="released", detail={"lease_cleared": True}
    )
