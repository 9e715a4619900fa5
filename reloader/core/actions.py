"""The outputs of the decision core: records to journal and patches to send.

The runtime carries actions out in order. A :class:`Record` must be durable in
the journal before any later :class:`PatchRestart` of the same batch is sent:
that ordering is what makes ``restart.planned`` precede every patch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Record:
    """Append one journal record.

    ``object`` is ``KIND/NAME`` (``configmap/x``, ``secret/s``,
    ``deployment/d``, ``statefulset/s``, ``daemonset/d``) and ``namespace``
    its namespace (None: the controller's own); the runtime adds the actor,
    leader epoch and timestamp. ``at`` is when it was decided, on the step's
    clock (None: at the step's ``now``): a watch event handled at the time it
    was read (its ``at``) dates its records then, and the runtime stamps them
    so. It is not part of the record's equality.
    """

    kind: str
    object: str | None
    correlation_id: str | None
    data: Mapping[str, Any] = field(default_factory=dict)
    namespace: str | None = None
    at: float | None = field(default=None, compare=False)


@dataclass(frozen=True)
class PatchRestart:
    """Roll ``deployment``: set the restart annotations to ``data_hash``.

    The patch sets ``shipshape.io/restarted-at`` and ``shipshape.io/config-hash``
    on the pod template (which rolls the pods) and the applied hash on the
    Deployment's own metadata. Its outcome comes back as ``PatchSucceeded``,
    ``PatchFailed``, ``PatchFenced`` or ``PatchRefused``.

    The patch is conditional on the state the decision was made on: it carries
    ``resource_version`` (the Deployment's ``metadata.resourceVersion`` then)
    as a precondition, so of two patches decided on the same state at most one
    lands. ``previous_hash`` is the applied hash the decision saw. An empty
    ``resource_version`` (only in tests that build views by hand) sends the
    patch without a precondition.
    """

    deployment: str
    configmap: str
    correlation_id: str
    data_hash: str
    attempt: int
    previous_hash: str | None = None
    resource_version: str = ""
    namespace: str = ""
    kind: str = "deployment"


@dataclass(frozen=True)
class PatchAdopt:
    """Adopt ``deployment``: record ``data_hash`` in its metadata only (no rollout).

    A failure comes back as ``AdoptFailed``, a refused precondition (the
    Deployment changed since ``resource_version``) as ``AdoptRefused``; success
    needs no event (the watch shows the annotation).
    """

    deployment: str
    correlation_id: str
    data_hash: str
    resource_version: str = ""
    namespace: str = ""
    kind: str = "deployment"


@dataclass(frozen=True)
class WarnWorkload:
    """Create one ``Warning`` Event on a workload (or a ConfigMap/Secret): ``message``.

    Emitted once per object and set of problems (an annotation value that
    could not be understood); the same text is journaled as ``workload.warning``.
    """

    namespace: str
    kind: str
    name: str
    message: str


Action = Record | PatchRestart | PatchAdopt | WarnWorkload
