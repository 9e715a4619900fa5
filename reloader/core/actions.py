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

    ``object`` is ``configmap/NAME`` or ``deployment/NAME``; the runtime adds
    the namespace, actor, leader epoch and timestamp.
    """

    kind: str
    object: str | None
    correlation_id: str | None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PatchRestart:
    """Roll ``deployment``: set the restart annotations to ``data_hash``.

    The patch sets ``shipshape.io/restarted-at`` and ``shipshape.io/config-hash``
    on the pod template (which rolls the pods) and the applied hash on the
    Deployment's own metadata. Its outcome comes back as ``PatchSucceeded``,
    ``PatchFailed`` or ``PatchFenced``.
    """

    deployment: str
    configmap: str
    correlation_id: str
    data_hash: str
    attempt: int


@dataclass(frozen=True)
class PatchAdopt:
    """Adopt ``deployment``: record ``data_hash`` in its metadata only (no rollout).

    A failure comes back as ``AdoptFailed``; success needs no event (the watch
    shows the annotation).
    """

    deployment: str
    correlation_id: str
    data_hash: str


Action = Record | PatchRestart | PatchAdopt
