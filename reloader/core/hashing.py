"""Hashes of ConfigMap data, and identifiers derived from them.

The hash is the heart of the level-triggered design: a Deployment is restarted
only when the hash of its ConfigMap differs from the hash it last rolled out
with. Values are hashed and dropped; only key names and digests are kept.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

# The canonical JSON the hashes cover, one encoder for every call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
# The UUID namespace of correlation ids (its bytes). Any fixed UUID would have
# done; journals now hold ids derived from this one, so it never changes.
_CORRELATION_NAMESPACE = uuid.UUID("5b0f6a3e-6c1d-4f5e-9a59-2f0b0c7d7a10").bytes


def data_hash(data: Mapping[str, str] | None, binary_data: Mapping[str, str] | None) -> str:
    """Return the SHA-256 (hex) of a ConfigMap's ``data`` and ``binaryData``.

    The serialisation is canonical (sorted keys, compact separators, UTF-8) so
    the same content always gives the same hash, and a key moving between
    ``data`` and ``binaryData`` changes it.

    Args:
        data: The ConfigMap's ``data`` (``None`` when absent).
        binary_data: The ConfigMap's ``binaryData``, base64 text as the API
            returns it (``None`` when absent).
    """
    canonical = canonical_text({"binaryData": dict(binary_data or {}), "data": dict(data or {})})
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def canonical_text(value: Any) -> str:
    """JSON with sorted keys, compact separators and UTF-8 text: what the hashes cover.

    One encoder for every call: ``json.dumps`` with options builds a new one
    each time, a fifth of what hashing a watched object costs.
    """
    return _CANONICAL.encode(value)


def key_digests(
    data: Mapping[str, str] | None, binary_data: Mapping[str, str] | None
) -> tuple[tuple[str, str], ...]:
    """Return ``(key, digest)`` pairs, sorted by key, for naming changed keys.

    ``binaryData`` keys share the namespace of ``data`` keys (the API forbids
    the same key in both).
    """
    pairs: dict[str, str] = {}
    for section, mapping in (("data", data), ("binaryData", binary_data)):
        for key, value in (mapping or {}).items():
            digest = hashlib.sha256(f"{section}\0{key}\0{value}".encode()).hexdigest()
            pairs[key] = digest
    return tuple(sorted(pairs.items()))


def changed_keys(
    before: Iterable[tuple[str, str]] | None, after: Iterable[tuple[str, str]]
) -> list[str]:
    """Return the sorted key names added, removed or changed between two digests.

    With no ``before`` (first observation) every key of ``after`` counts.
    """
    old = dict(before or ())
    new = dict(after)
    if before is None:
        return sorted(new)
    return sorted(key for key in old.keys() | new.keys() if old.get(key) != new.get(key))


def combined_hash(hashes: Iterable[tuple[str, str]]) -> str:
    """Return one hash for several ``(configmap, data_hash)`` pairs.

    A Deployment normally follows one ConfigMap and then its desired hash is
    that ConfigMap's hash; when several selected ConfigMaps carry its labels it
    follows all of them through this combination.
    """
    ordered = sorted(hashes)
    if len(ordered) == 1:
        return ordered[0][1]
    text = "\n".join(f"{name}={digest}" for name, digest in ordered)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def correlation_id(
    namespace: str, configmap: str, resource_version: str, digest: str, *, ordered: bool = False
) -> str:
    """Return the correlation id of one observed ConfigMap version.

    It is derived from the observation itself, so the decision core stays
    free of randomness, and a replay of the journal computes the same ids as
    the live controller did.

    Args:
        namespace: The source's namespace.
        configmap: The source's name as records give it (``NAME``, ``secret/NAME``).
        resource_version: The version observed.
        digest: Its data hash.
        ordered: Lead with the resourceVersion (:func:`ordered_id`): what
            controllers write since ``Policy.ordered_correlation_ids``; without
            it, the UUID5 of earlier journals.
    """
    name = f"{namespace}/configmap/{configmap}@{resource_version}#{digest}"
    if ordered and resource_version.isascii() and resource_version.isdigit():
        return ordered_id(int(resource_version), _CORRELATION_NAMESPACE, name)
    return uuid5_text(_CORRELATION_NAMESPACE, name)


def ordered_id(position: int, namespace: bytes, name: str) -> str:
    """A UUIDv8 (RFC 9562, section 5.8) whose first 48 bits are ``position`` (modulo 2**48).

    The other 74 free bits are the SHA-1 of the namespace and the name, as in
    a UUID5. Ids made from rising positions sort in that order, as text too,
    so the journal's index of correlation ids is appended to, not written at
    a random page for every record: on a journal of a few hundred MB that
    random page cost more than the rest of the record's insert. A
    resourceVersion is opaque to clients; this relies on it for nothing but
    where the id sorts (the API server's are etcd revisions, which rise).
    """
    raw = hashlib.sha1(namespace + name.encode("utf-8"), usedforsecurity=False).digest()
    rest = int.from_bytes(raw[:10], "big")  # 80 bits: 74 used
    value = (
        (position & 0xFFFF_FFFF_FFFF) << 80
        | 0x8 << 76  # version 8
        | (rest >> 68) << 64  # 12 bits
        | 0b10 << 62  # the RFC's variant
        | rest & ((1 << 62) - 1)  # 62 bits
    )
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def uuid5_text(namespace: bytes, name: str) -> str:
    """``str(uuid.uuid5(UUID(bytes=namespace), name))`` (RFC 9562, section 5.5), cheaper.

    The SHA-1 of the namespace and the name, its first 16 bytes stamped with
    version 5 and the RFC's variant, in the usual text form; without building
    the ``UUID`` object, which costs more than the hash for every change seen.
    """
    raw = bytearray(hashlib.sha1(namespace + name.encode("utf-8"), usedforsecurity=False).digest())
    raw[6] = raw[6] & 0x0F | 0x50  # version 5
    raw[8] = raw[8] & 0x3F | 0x80  # variant 10
    text = raw[:16].hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
