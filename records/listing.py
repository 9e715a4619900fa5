"""The digest of a list: every object known after it, with its hash, in one SHA-256.

A relist reports only what changed, so most objects have no record of their
own in it; the ``digest`` of ``watch.started`` and ``watch.relisted`` stands
for all of them. A reader that replays the earlier observations can recover
each object's hash and check the set against this digest (``replay --at``).

Definition (docs/journal.md, "List digests"): one line per object the list
left known, ``NAMESPACE OBJECT HASH`` followed by a newline, where ``OBJECT``
is the record ``object`` (``configmap/NAME``, ``secret/NAME``,
``deployment/NAME``, ...) and ``HASH`` the object's hash as its records carry
it: a ConfigMap's ``data_hash`` (plain), a Secret's (keyed,
``hmac-sha256:...``), a workload's ``applied_hash`` or ``-`` when it has none.
The lines are sorted by their UTF-8 bytes; the digest is ``sha256:`` and the
lower-case hex SHA-256 of their concatenation. No objects: the SHA-256 of
nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

#: The objects of each listed resource (``watch.*`` ``resource``), by record object prefix.
RESOURCE_OBJECTS = {
    "configmaps": "configmap",
    "secrets": "secret",
    "deployments": "deployment",
    "statefulsets": "statefulset",
    "daemonsets": "daemonset",
}
#: The hash of a workload that carries none.
NO_HASH = "-"
PREFIX = "sha256:"


def listing_line(namespace: str, obj: str, digest: str | None) -> bytes:
    """One object's line of the listing."""
    return f"{namespace} {obj} {digest or NO_HASH}\n".encode()


def listing_digest(objects: Iterable[tuple[str, str, str | None]]) -> str:
    """The digest of ``(namespace, object, hash)`` triples (any order)."""
    sha = hashlib.sha256()
    for line in sorted(listing_line(*item) for item in objects):
        sha.update(line)
    return PREFIX + sha.hexdigest()
