"""Payloads of what a controller saw: its own life, its watches, ConfigMaps and Deployments."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from records import kinds
from records.payload import ABSENT, Absent, Payload, register, rest


@register
@dataclass(frozen=True)
class ControllerStarted(Payload):
    """A controller process started; ``settings`` are the settings it journals.

    The settings are stored at the top level of ``data``. Those readers use
    are named fields here (read back by ``from_data``); ``settings`` keeps
    the others.
    """

    KIND = kinds.CONTROLLER_STARTED

    identity: str | None = None
    version: str | None = None
    commit: str | None = None
    pid: int | None = None
    namespace: str | Absent | None = ABSENT
    leader_election: bool | Absent | None = ABSENT
    debounce_seconds: float | Absent | None = ABSENT
    policy: Mapping[str, Any] | Absent | None = ABSENT
    settings: Mapping[str, Any] = rest()


@register
@dataclass(frozen=True)
class ControllerStopping(Payload):
    """The SIGTERM flush begins with ``pending`` windows and restarts."""

    KIND = kinds.CONTROLLER_STOPPING

    reason: str
    pending: int


@register
@dataclass(frozen=True)
class ControllerStopped(Payload):
    """The process ends, after the flush."""

    KIND = kinds.CONTROLLER_STOPPED

    reason: str
    flushed: int
    dropped: int
    uptime_seconds: float


@register
@dataclass(frozen=True)
class WatchStarted(Payload):
    """The first list of a resource is in; the watch resumes at ``resource_version``.

    ``digest`` covers every object the list left known, with its hash.
    """

    KIND = kinds.WATCH_STARTED

    resource: str
    resource_version: str
    count: int
    reason: str
    #: The list digest (:mod:`records.listing`) of every object known after
    #: the list; absent in records written before digests.
    digest: str | Absent | None = ABSENT
    #: With several namespaces, those whose list was refused (403), left out:
    #: absent when none was.
    forbidden_namespaces: list[str] | Absent = ABSENT


@register
@dataclass(frozen=True)
class WatchRelisted(Payload):
    """A later list (after ``410 Gone``, a resync or for a new leader) and what it changed."""

    KIND = kinds.WATCH_RELISTED

    resource: str
    resource_version: str
    reason: str
    count: int
    added: int
    modified: int
    deleted: int
    #: As for :class:`WatchStarted`: the objects unchanged by the relist are
    #: recorded only here, as part of the digest.
    digest: str | Absent | None = ABSENT
    #: As for :class:`WatchStarted`.
    forbidden_namespaces: list[str] | Absent = ABSENT


@register
@dataclass(frozen=True)
class WatchError(Payload):
    """A watch failed; it starts again in ``retry_in_seconds``."""

    KIND = kinds.WATCH_ERROR

    resource: str
    error: str
    status: int | None
    retry_in_seconds: float


@register
@dataclass(frozen=True)
class ConfigMapObserved(Payload):
    """A ConfigMap as seen (never its values: key names and hashes only)."""

    KIND = kinds.CONFIGMAP_OBSERVED

    event_type: str
    source: str
    resource_version: str
    data_hash: str
    previous_hash: str | None
    changed_keys: Sequence[str]
    keys: Sequence[str]
    target: Mapping[str, str] | None
    #: The source's ``ignore`` and ``match`` annotations (Shipshape's or
    #: Reloader's), written only when true: older records and sources without
    #: them read as absent (false).
    ignore: bool | Absent = ABSENT
    match: bool | Absent = ABSENT

    @staticmethod
    def peek_hash(text: str) -> str | None:
        """The ``data_hash`` in a record's stored data text, found without parsing it.

        The journal stores ``data`` as canonical JSON (no spaces), so the key
        is found as written. Returns ``""`` for a deletion (no hash) and
        ``None`` when the text has neither. For readers of the bulk of a
        journal (relists), where parsing every payload would cost seconds.
        """
        at = text.find('"data_hash":"')
        if at >= 0:
            stop = text.find('"', at + 13)
            return text[at + 13 : stop] if stop > 0 else None
        return "" if '"DELETED"' in text else None

    @staticmethod
    def peek_modified(text: str) -> bool:
        """Whether a record's stored data text is of a ``MODIFIED`` event (not parsed)."""
        return '"MODIFIED"' in text


@register
@dataclass(frozen=True)
class DeploymentObserved(Payload):
    """The workload facts a decision depends on: its target, applied hash and opt-in.

    ``optin`` is written only for a workload that opts in by annotation or
    sets ``shipshape.io/debounce`` (a Deployment selected by its labels alone
    has none, as before). It is the parsed opt-in, never the raw annotations::

        {"configmap": {"auto": true, "search": true, "reload": ["app-.*"],
                       "references": ["app-config"]},
         "secret": {"reload": ["api-secret"]},
         "debounce_seconds": 30.0}

    Per source kind (``configmap``, ``secret``; left out when no rule of it is
    on): ``auto`` and ``search`` only when true, ``reload`` the list's items
    (names or patterns, sorted), and ``references`` the names of that kind the
    pod spec references (sorted), only when ``auto`` or ``search`` makes them
    count (and there are some). ``debounce_seconds`` only when the workload overrides it.
    """

    KIND = kinds.DEPLOYMENT_OBSERVED

    event_type: str
    source: str
    resource_version: str
    target: Mapping[str, str] | None
    applied_hash: str | None
    generation: int
    optin: Mapping[str, Any] | Absent = ABSENT
    # "OnDelete" for a StatefulSet or DaemonSet whose pods take a new template
    # only once deleted (its rollout is not followed); absent otherwise.
    update_strategy: str | Absent = ABSENT


@register
@dataclass(frozen=True)
class WorkloadWarning(Payload):
    """Annotation values of one object that could not be understood (taken as false).

    ``warnings`` are one line each (object, annotation, value cut to 64
    characters, what was done instead); reported once per object and set of
    problems, with a ``Warning`` Event.
    """

    KIND = kinds.WORKLOAD_WARNING

    warnings: Sequence[str]


@register
@dataclass(frozen=True)
class WorkloadMissingReference(Payload):
    """A workload depends on a ConfigMap or Secret (``source``, ``KIND/NAME``) that is missing.

    Nothing restarts for it; reported once until the source appears.
    """

    KIND = kinds.WORKLOAD_MISSING_REFERENCE

    source: str
