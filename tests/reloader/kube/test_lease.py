"""The election Lease adapter against the API test server, over real HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest

from reloader.core.election import (
    CreateLease,
    LeaseConflict,
    LeaseFailed,
    LeaseRead,
    LeaseRecord,
    LeaseWritten,
    ReadLease,
    UpdateLease,
)
from reloader.kube.client import make_api_client
from reloader.kube.lease import LeaseLock, normalise_time
from tests.kubeapi import KubeApiServer

NAME = "helloworld-controller-leader"
RECORD = LeaseRecord(
    "helloworld-controller-0",
    15,
    3,
    "2026-11-26T10:00:00.123456Z",
    "2026-11-26T10:00:02.000001Z",
)


def lock_for(
    server: KubeApiServer, namespace: str, client: str = "admin", workdir: Path | None = None
) -> LeaseLock:
    """The lock as the controller builds it: its own client (no urllib3 retries)."""
    if workdir is None:
        return LeaseLock(server.api_client(client), namespace, NAME)
    kubeconfig = server.write_kubeconfig(workdir / f"kubeconfig-{client}", client, namespace)
    return LeaseLock(make_api_client(str(kubeconfig)), namespace, NAME)


def test_a_missing_lease_reads_as_none_and_is_created(kubeapi_server, kubeapi_namespace):
    lock = lock_for(kubeapi_server, kubeapi_namespace)
    assert lock.perform(ReadLease(5.0)) == LeaseRead(None, None)
    written = lock.perform(CreateLease(RECORD, 5.0))
    assert isinstance(written, LeaseWritten)
    read = lock.perform(ReadLease(5.0))
    assert read == LeaseRead(RECORD, written.resource_version), "read back, it compares equal"
    spec = kubeapi_server.get("leases", NAME, kubeapi_namespace)["spec"]
    assert spec == {
        "holderIdentity": "helloworld-controller-0",
        "leaseDurationSeconds": 15,
        "leaseTransitions": 3,
        "acquireTime": "2026-11-26T10:00:00.123456Z",
        "renewTime": "2026-11-26T10:00:02.000001Z",
    }


def test_a_second_create_is_a_conflict(kubeapi_server, kubeapi_namespace):
    lock = lock_for(kubeapi_server, kubeapi_namespace)
    assert isinstance(lock.perform(CreateLease(RECORD, 5.0)), LeaseWritten)
    assert isinstance(lock.perform(CreateLease(RECORD, 5.0)), LeaseConflict)


def test_a_replace_is_conditional_on_the_resource_version(kubeapi_server, kubeapi_namespace):
    lock = lock_for(kubeapi_server, kubeapi_namespace)
    first = lock.perform(CreateLease(RECORD, 5.0))
    renewed = LeaseRecord(RECORD.holder, 15, 3, RECORD.acquire_time, "2026-11-26T10:00:04.500000Z")
    second = lock.perform(UpdateLease(renewed, first.resource_version, 5.0))
    assert isinstance(second, LeaseWritten)
    assert second.resource_version != first.resource_version
    stale = lock.perform(UpdateLease(RECORD, first.resource_version, 5.0))
    assert isinstance(stale, LeaseConflict)
    assert stale.message.startswith("409 Conflict: ") and "modified" in stale.message
    assert lock.perform(ReadLease(5.0)).record.renew_time == "2026-11-26T10:00:04.500000Z"


def test_a_release_writes_an_empty_holder_that_reads_as_nobody(kubeapi_server, kubeapi_namespace):
    lock = lock_for(kubeapi_server, kubeapi_namespace)
    created = lock.perform(CreateLease(RECORD, 5.0))
    released = LeaseRecord(None, 1, 3, RECORD.renew_time, RECORD.renew_time)
    assert isinstance(
        lock.perform(UpdateLease(released, created.resource_version, 5.0)), LeaseWritten
    )
    assert kubeapi_server.get("leases", NAME, kubeapi_namespace)["spec"]["holderIdentity"] == ""
    read = lock.perform(ReadLease(5.0))
    assert read.record == released and not read.record.held


def test_labels_and_annotations_survive_a_replace(kubeapi_server, kubeapi_namespace):
    lock = lock_for(kubeapi_server, kubeapi_namespace)
    lock.perform(CreateLease(RECORD, 5.0))
    kubeapi_server.patch(
        "leases",
        NAME,
        {"metadata": {"labels": {"team": "platform"}, "annotations": {"note": "keep"}}},
        namespace=kubeapi_namespace,
    )
    read = lock.perform(ReadLease(5.0))
    assert isinstance(lock.perform(UpdateLease(RECORD, read.resource_version, 5.0)), LeaseWritten)
    metadata = kubeapi_server.get("leases", NAME, kubeapi_namespace)["metadata"]
    assert metadata["labels"] == {"team": "platform"}
    assert metadata["annotations"] == {"note": "keep"}


def test_a_lease_deleted_and_created_again_does_not_get_the_old_labels(
    kubeapi_server, kubeapi_namespace
):
    lock = lock_for(kubeapi_server, kubeapi_namespace)
    lock.perform(CreateLease(RECORD, 5.0))
    kubeapi_server.patch(
        "leases", NAME, {"metadata": {"labels": {"team": "gone"}}}, namespace=kubeapi_namespace
    )
    assert isinstance(lock.perform(ReadLease(5.0)), LeaseRead)
    kubeapi_server.delete("leases", NAME, kubeapi_namespace)
    assert lock.perform(ReadLease(5.0)) == LeaseRead(None, None)
    assert isinstance(lock.perform(CreateLease(RECORD, 5.0)), LeaseWritten)
    metadata = kubeapi_server.get("leases", NAME, kubeapi_namespace)["metadata"]
    assert "labels" not in metadata


def test_someone_elses_times_are_normalised_so_records_compare_exactly():
    assert normalise_time("2026-11-26T10:00:00Z") == "2026-11-26T10:00:00.000000Z"
    assert normalise_time("2026-11-26T11:00:00.5+01:00") == "2026-11-26T10:00:00.500000Z"
    assert normalise_time("not a time") == "not a time"
    assert normalise_time(None) is None


def test_a_lease_written_by_hand_without_every_field_still_reads(kubeapi_server, kubeapi_namespace):
    kubeapi_server.create(
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": NAME, "namespace": kubeapi_namespace},
            "spec": {"holderIdentity": "someone"},
        }
    )
    read = lock_for(kubeapi_server, kubeapi_namespace).perform(ReadLease(5.0))
    assert read.record == LeaseRecord("someone", 1, 0, None, None)


def test_api_failures_become_lease_failed_never_exceptions(kubeapi_private_server, tmp_path):
    server = kubeapi_private_server
    server.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shipshape"}})
    lock = lock_for(server, "shipshape", "controller-0", tmp_path)
    server.fail(503, count=1, resource="leases", client="controller-0")
    failed = lock.perform(ReadLease(5.0))
    assert isinstance(failed, LeaseFailed) and failed.reason == "server-error"
    assert "503" in failed.message
    assert lock.perform(ReadLease(5.0)) == LeaseRead(None, None), "the burst was one request"
    rule = server.deny(resource="leases", client="controller-0")
    denied = lock.perform(CreateLease(RECORD, 5.0))
    assert isinstance(denied, LeaseFailed) and denied.reason == "forbidden"
    server.remove_fault(rule)
    server.fail(409, count=1, verb="get", resource="leases", client="controller-0")
    read_conflict = lock.perform(ReadLease(5.0))
    assert isinstance(read_conflict, LeaseFailed), "a 409 on a read is not a lost race"
    server.add_latency(3.0, count=1, resource="leases", client="controller-0")
    slow = lock.perform(ReadLease(0.3))
    assert isinstance(slow, LeaseFailed) and slow.reason in ("timeout", "connection")
    server.partition("controller-0", seconds=2.0)
    cut = lock.perform(ReadLease(1.0))
    assert isinstance(cut, LeaseFailed) and cut.reason == "connection"


@pytest.mark.parametrize(
    "request_of",
    [
        lambda: ReadLease(0.3),
        lambda: UpdateLease(RECORD, "1", 0.3),
        lambda: CreateLease(RECORD, 0.3),
    ],
    ids=["GET", "PUT", "POST"],
)
def test_a_request_that_times_out_fails_as_a_timeout_whatever_its_verb(
    kubeapi_private_server, tmp_path, request_of
):
    # urllib3 re-raises a POST's read timeout as it is, but wraps a GET's or a
    # PUT's (methods it may retry) in MaxRetryError even with retries off:
    # the lease's error metric and log must still say "timeout".
    server = kubeapi_private_server
    server.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shipshape"}})
    lock = lock_for(server, "shipshape", "controller-0", tmp_path)
    server.add_latency(3.0, count=1, resource="leases", client="controller-0")
    failed = lock.perform(request_of())
    assert isinstance(failed, LeaseFailed)
    assert (failed.reason, failed.message[:11]) == ("timeout", "timed out: ")
    assert "Read timed out" in failed.message
