"""Keyed hashes of Secret data: what the controller may keep of a Secret.

A plain hash of a low-entropy secret (a short password, a PIN) can be
confirmed by hashing guesses, so a Secret's data is only ever summarised by
an HMAC-SHA256 under a key of the operator's (``SECRET_HASH_KEY_FILE``): in
the journal, in a workload's annotations, in Events, logs and metrics. The
digest carries the prefix ``hmac-sha256:``, so it can never be taken for a
ConfigMap's plain SHA-256 (bare hex, :mod:`.hashing`).

The key is an input; this module reads no file and keeps no key beyond the
:class:`SecretHashKey` it is given.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from reloader.core.hashing import canonical_text

PREFIX = "hmac-sha256:"
MIN_KEY_BYTES = 32


class SecretHashKey:
    """The HMAC key: at least 32 bytes, never shown by ``repr`` or ``str``."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        """Hold ``key``.

        Raises:
            ValueError: It is shorter than 32 bytes (the message never shows it).
        """
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"must hold at least {MIN_KEY_BYTES} bytes (it holds {len(key)})")
        self._key = bytes(key)

    def __repr__(self) -> str:
        """Return a placeholder: the key stays out of logs and tracebacks."""
        return "SecretHashKey(<redacted>)"

    __str__ = __repr__

    def digest(self, message: bytes) -> str:
        """Return ``hmac-sha256:`` and the hex HMAC-SHA256 of ``message``."""
        return PREFIX + hmac.new(self._key, message, hashlib.sha256).hexdigest()


def secret_hash(key: SecretHashKey, data: Mapping[str, str] | None) -> str:
    """Return the keyed hash of a Secret's ``data``, base64 values as the API stores them.

    The serialisation is canonical (sorted keys, compact JSON), so the same
    data always gives the same hash under one key. ``stringData`` never comes
    back from the API and plays no part.
    """
    canonical = canonical_text({"data": dict(data or {})})
    return key.digest(canonical.encode("utf-8"))


def secret_key_digests(
    key: SecretHashKey, data: Mapping[str, str] | None
) -> tuple[tuple[str, str], ...]:
    """Return ``(key name, keyed digest)`` pairs, sorted, for naming the keys that changed."""
    return tuple(
        sorted(
            (name, key.digest(f"data\0{name}\0{value}".encode()))
            for name, value in (data or {}).items()
        )
    )


def is_keyed(digest: str) -> bool:
    """Return whether ``digest`` is a keyed (Secret) hash rather than a ConfigMap's plain one."""
    return digest.startswith(PREFIX)
