"""Keyed hashes of Secret data (reloader.core.secrets)."""

from __future__ import annotations

import hashlib
import json

import pytest

from reloader.core.hashing import changed_keys, data_hash
from reloader.core.secrets import (
    SecretHashKey,
    is_keyed,
    secret_hash,
    secret_key_digests,
)

KEY = SecretHashKey(b"k" * 32)
DATA = {"user": "YWRtaW4=", "password": "aHVudGVyMg=="}


def test_it_is_hmac_sha256_rfc_4231_case_6() -> None:
    key = SecretHashKey(b"\xaa" * 131)
    message = b"Test Using Larger Than Block-Size Key - Hash Key First"
    assert key.digest(message) == (
        "hmac-sha256:60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    )


def test_the_hash_of_a_secret_is_stable_keyed_and_prefixed() -> None:
    digest = secret_hash(KEY, DATA)
    assert digest == "hmac-sha256:8f648ba9300e0ccef0c0e2c29fa4dbf1e3276625c70da00219c20ce6c5d3ea4c"
    # Key order does not matter; values, keys and the key do.
    assert secret_hash(KEY, dict(reversed(DATA.items()))) == digest
    assert secret_hash(KEY, {**DATA, "password": "aHVudGVyMw=="}) != digest
    assert secret_hash(SecretHashKey(b"j" * 32), DATA) != digest
    assert secret_hash(KEY, None) == secret_hash(KEY, {})
    assert is_keyed(digest)
    assert not is_keyed(data_hash({"a": "b"}, None))


def test_never_a_plain_hash_of_the_data() -> None:
    digest = secret_hash(KEY, DATA)[len("hmac-sha256:") :]
    canonical = json.dumps({"data": DATA}, sort_keys=True, separators=(",", ":")).encode()
    plain = {hashlib.sha256(canonical).hexdigest(), data_hash(DATA, None), data_hash(None, DATA)}
    assert digest not in plain
    for value in DATA.values():
        assert value not in secret_hash(KEY, DATA)


def test_key_digests_name_the_changed_keys_and_are_keyed() -> None:
    before = secret_key_digests(KEY, DATA)
    after = secret_key_digests(KEY, {**DATA, "password": "eA=="})
    assert [name for name, _ in before] == ["password", "user"]
    assert all(d.startswith("hmac-sha256:") for _, d in before)
    assert changed_keys(before, after) == ["password"]


@pytest.mark.parametrize("size", [0, 1, 31])
def test_short_keys_are_refused_without_showing_them(size: int) -> None:
    with pytest.raises(ValueError, match=f"at least 32 bytes \\(it holds {size}\\)") as error:
        SecretHashKey(b"Q" * size)
    assert "Q" not in str(error.value)


def test_the_key_never_shows() -> None:
    key = SecretHashKey(b"topsecret-topsecret-topsecret-32")
    assert "topsecret" not in repr(key)
    assert "topsecret" not in str(key)
    assert "topsecret" not in f"{key!r} {key}"
