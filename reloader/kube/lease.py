"""The election Lease (``coordination.k8s.io/v1``): read, create, conditional replace.

This adapter turns the election core's requests into API calls and their
outcomes back into the core's events. Writes are optimistic: a replace carries
the resourceVersion last read or written, and the API answers ``409 Conflict``
when somebody else wrote in between (the core's ``LeaseConflict``). Times are
normalised to the six-digit ``MicroTime`` form on the way in, so a record read
back compares equal to the record written.

The Role grants ``get``, ``create`` and ``update`` on Leases (no ``patch``): a
replace (PUT) is what client-go's ``LeaseLock`` sends too. The labels and
annotations last seen on the object are sent back with it, so a replace keeps them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from reloader.core.election import (
    CreateLease,
    ElectionEvent,
    LeaseConflict,
    LeaseFailed,
    LeaseRead,
    LeaseRecord,
    LeaseWritten,
    ReadLease,
    UpdateLease,
    microtime,
)
from reloader.kube.api import KubeApi
from reloader.kube.errors import classify

log = logging.getLogger(__name__)

LEASES = "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
LEASE = "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}"


class LeaseLock:
    """One named Lease in one namespace, used as the election's lock."""

    def __init__(self, api_client: client.ApiClient, namespace: str, name: str) -> None:
        """Lock on Lease ``namespace/name`` through ``api_client``."""
        self.namespace = namespace
        self.name = name
        self._api = KubeApi(api_client)
        self._metadata: dict[str, Any] = {}

    def perform(self, request: ReadLease | CreateLease | UpdateLease) -> ElectionEvent:
        """Carry out one request of the election core; return its outcome as an event.

        Never raises for API or network failures: they become ``LeaseFailed``
        (or ``LeaseConflict`` for a 409 on a write).
        """
        try:
            if isinstance(request, ReadLease):
                return self.read(request.timeout)
            if isinstance(request, CreateLease):
                return LeaseWritten(self.create(request.record, request.timeout))
            return LeaseWritten(
                self.replace(request.record, request.resource_version, request.timeout)
            )
        except ApiException as error:
            failure = classify(error)
            if error.status == 409 and not isinstance(request, ReadLease):
                return LeaseConflict(failure.message)
            return LeaseFailed(failure.reason, failure.message)
        except Exception as error:  # timeouts, refused connections, broken responses
            failure = classify(error)
            return LeaseFailed(failure.reason, failure.message)

    def read(self, timeout: float) -> LeaseRead:
        """GET the Lease; a 404 is a read of nothing, not a failure."""
        try:
            obj = self._api.json("GET", LEASE, path_params=self._params(), timeout=timeout)
        except ApiException as error:
            if error.status == 404:
                self._metadata = {}
                return LeaseRead(None, None)
            raise
        return LeaseRead(self._remember(obj), _version(obj))

    def create(self, record: LeaseRecord, timeout: float) -> str:
        """POST a new Lease holding ``record``; return its resourceVersion."""
        obj = self._api.json(
            "POST",
            LEASES,
            path_params={"namespace": self.namespace},
            body=self._body(record, None),
            content_type="application/json",
            timeout=timeout,
        )
        self._remember(obj)
        return _version(obj) or ""

    def replace(self, record: LeaseRecord, resource_version: str | None, timeout: float) -> str:
        """PUT ``record`` only if the Lease is still at ``resource_version``; return the new one."""
        obj = self._api.json(
            "PUT",
            LEASE,
            path_params=self._params(),
            body=self._body(record, resource_version),
            content_type="application/json",
            timeout=timeout,
        )
        self._remember(obj)
        return _version(obj) or ""

    # ---------------------------------------------------------------- helpers

    def _params(self) -> dict[str, str]:
        return {"namespace": self.namespace, "name": self.name}

    def _remember(self, obj: Mapping[str, Any]) -> LeaseRecord:
        metadata = obj.get("metadata") or {}
        self._metadata = {
            key: metadata[key] for key in ("labels", "annotations") if metadata.get(key)
        }
        return record_of(obj)

    def _body(self, record: LeaseRecord, resource_version: str | None) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "name": self.name,
            "namespace": self.namespace,
            **self._metadata,
        }
        if resource_version is not None:
            metadata["resourceVersion"] = resource_version
        spec: dict[str, Any] = {
            "holderIdentity": record.holder or "",
            "leaseDurationSeconds": record.lease_duration_seconds,
            "leaseTransitions": record.transitions,
        }
        if record.acquire_time:
            spec["acquireTime"] = record.acquire_time
        if record.renew_time:
            spec["renewTime"] = record.renew_time
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": spec,
        }


def record_of(obj: Mapping[str, Any]) -> LeaseRecord:
    """Return the election record of a Lease object (missing fields read as empty)."""
    spec = obj.get("spec") or {}
    duration = spec.get("leaseDurationSeconds")
    transitions = spec.get("leaseTransitions")
    return LeaseRecord(
        holder=spec.get("holderIdentity") or None,
        lease_duration_seconds=int(duration) if isinstance(duration, int) and duration > 0 else 1,
        transitions=int(transitions) if isinstance(transitions, int) and transitions > 0 else 0,
        acquire_time=normalise_time(spec.get("acquireTime")),
        renew_time=normalise_time(spec.get("renewTime")),
    )


def normalise_time(value: Any) -> str | None:
    """Return a ``MicroTime`` in the form the election writes, or the text as given."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return microtime(moment)


def _version(obj: Mapping[str, Any]) -> str | None:
    version = (obj.get("metadata") or {}).get("resourceVersion")
    return str(version) if version is not None else None
