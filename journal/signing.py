"""Ed25519 keys, key ids and the signed statement of a checkpoint.

A ``journal.checkpoint`` record's ``data`` is its signed statement plus the
signature::

    {"seq": 250, "head_hash": "<hash of seq 250>", "ts": "2026-...Z",
     "key_id": "sha256:<hex>", "from_seq": 151, "digests": ["<16 hex>", ...],
     "signature": "<base64 of 64 bytes>"}

The signature is Ed25519 over :data:`DOMAIN` followed by the canonical JSON
(:func:`journal.chain.canonical_json`) of every field but ``signature``. The
domain prefix keeps a checkpoint signature from being valid for anything else
the same key signs (a drill manifest is signed as its own bytes, which start
with ``{``). ``digests`` are the first 16 hex characters of the hashes of
seq ``from_seq``..``seq``: the signed head hash proves the chain, the digests
let ``verify`` name the exact record that changed. The key id is ``sha256:``
and the SHA-256 of the raw 32-byte public key, so an auditor can compute it
from the public key alone.

The private key is read once and kept inside :class:`Signer`; no message,
``repr`` or record ever holds its bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from journal.chain import canonical_json
from journal.errors import JournalError
from records import JournalCheckpoint
from telemetry.files import NOT_REGULAR, TOO_LARGE, SmallFileError, read_small_file

#: The environment variable naming the writers' Ed25519 private key (PEM, PKCS#8).
SIGNING_KEY_VARIABLE = "JOURNAL_SIGNING_KEY_FILE"
#: Prefix of every signed checkpoint statement.
DOMAIN = b"shipshape-journal checkpoint v1\n"
#: The fields of a checkpoint's ``data`` the signature covers (all but ``signature``).
SIGNED_FIELDS = ("seq", "head_hash", "ts", "key_id", "from_seq", "digests")
#: Hex characters of each covered record's hash kept in ``digests``.
DIGEST_CHARS = 16
#: Most digests one checkpoint lists (older records of a longer stretch are
#: still covered by the head hash, only not located individually).
MAX_DIGESTS = 1000
_MAX_KEY_FILE = 64 * 1024


class SigningKeyError(JournalError):
    """A key file cannot be used; the message names the file, never its contents."""


#: A key id is this and 64 lower-case hex digits.
KEY_ID_PREFIX = "sha256:"


def key_id(public: Ed25519PublicKey) -> str:
    """Return ``sha256:`` + the hex SHA-256 of the raw public key."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return KEY_ID_PREFIX + hashlib.sha256(raw).hexdigest()


class PublicKey:
    """A public key that checks checkpoint and manifest signatures."""

    def __init__(self, key: Ed25519PublicKey, source: str = "") -> None:
        """Wrap ``key``, read from ``source`` (for messages)."""
        self._key = key
        self.source = source
        self.key_id = key_id(key)

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Tell whether ``signature`` is this key's Ed25519 signature of ``message``."""
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def pem(self) -> bytes:
        """Return the public key as PEM (SubjectPublicKeyInfo)."""
        return self._key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def __repr__(self) -> str:
        """Show the key id only."""
        return f"PublicKey({self.key_id})"


class Signer:
    """A private signing key; only its key id and public half are ever shown."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        """Wrap ``key``."""
        self._key = key
        self.public = PublicKey(key.public_key())
        self.key_id = self.public.key_id

    def sign(self, message: bytes) -> bytes:
        """Return the 64-byte Ed25519 signature of ``message``."""
        return self._key.sign(message)

    def __repr__(self) -> str:
        """Show the key id, never the key."""
        return f"Signer({self.key_id})"


def _read(path: str | Path, what: str) -> bytes:
    try:
        file = Path(path).expanduser()
    except RuntimeError:  # "~user" naming nobody
        raise SigningKeyError(
            f"cannot read the {what} {path}: no such user's home directory"
        ) from None
    try:
        return read_small_file(file, _MAX_KEY_FILE)
    except SmallFileError as error:
        if error.reason == NOT_REGULAR:
            raise SigningKeyError(f"the {what} {file} is not a regular file") from None
        if error.reason == TOO_LARGE:
            raise SigningKeyError(f"the {what} {file} is too large to be a PEM key") from None
        raise SigningKeyError(f"cannot read the {what} {file}: {error.detail}") from None


def load_signing_key(path: str | Path) -> Signer:
    """Read an Ed25519 private key (PEM, PKCS#8, unencrypted).

    Raises:
        SigningKeyError: Unreadable file, not a PEM private key, encrypted, or
            not Ed25519; one line naming the file.
    """
    data = _read(path, "signing key")
    where = Path(path).expanduser()
    if b"PUBLIC KEY-----" in data and b"PRIVATE KEY-----" not in data:
        raise SigningKeyError(
            f"the signing key {where} is a public key; signing needs the Ed25519 "
            "private key (PEM, PKCS#8)"
        )
    _one_key(data, b"PRIVATE KEY-----", f"the signing key {where}")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise SigningKeyError(
            f"the signing key {where} is encrypted; give an unencrypted Ed25519 key "
            "(PEM, PKCS#8) and protect the file instead"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise SigningKeyError(
            f"the signing key {where} is not a PEM private key "
            "(expected Ed25519, PKCS#8: openssl genpkey -algorithm ed25519)"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(
            f"the signing key {where} is {_algorithm(key)} key, not Ed25519 "
            "(openssl genpkey -algorithm ed25519)"
        )
    return Signer(key)


def load_public_key(path: str | Path) -> PublicKey:
    """Read an Ed25519 public key (PEM, SubjectPublicKeyInfo: ``openssl pkey -pubout``).

    Raises:
        SigningKeyError: Unreadable, a private key, not PEM, or not Ed25519.
    """
    data = _read(path, "public key")
    where = Path(path).expanduser()
    if b"PRIVATE KEY-----" in data:
        raise SigningKeyError(
            f"{where} holds a private key; give its public key "
            "(openssl pkey -in KEY -pubout -out KEY.pub.pem)"
        )
    _one_key(data, b"-----BEGIN ", f"the public key {where}")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise SigningKeyError(
            f"the public key {where} is not a PEM public key (expected Ed25519)"
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"the public key {where} is {_algorithm(key)} key, not Ed25519")
    return PublicKey(key, str(where))


def _one_key(data: bytes, marker: bytes, what: str) -> None:
    """Refuse a file of several keys: only the first would be read, the others silently not.

    (A key missing from a ``--public-key`` file would then fail ``verify`` as
    "unknown" although the file holds it, and a signing key file of several
    would sign with whichever comes first.)
    """
    private = marker == b"PRIVATE KEY-----"
    blocks = data.count(marker) // 2 if private else data.count(marker)  # BEGIN and END lines
    if blocks <= 1:
        return
    if private:
        raise SigningKeyError(f"{what} holds {blocks} private keys; give the one to sign with")
    raise SigningKeyError(
        f"{what} holds {blocks} PEM blocks; give one key per file "
        "(repeat --public-key for several keys)"
    )


def _algorithm(key: object) -> str:
    """Name a key's algorithm with its article: ``an RSA``, ``an EllipticCurve``, ``a DSA``."""
    name = type(key).__name__
    for suffix in ("PrivateKey", "PublicKey"):
        name = name.removesuffix(suffix)
    name = name.lstrip("_") or "different"
    # Read aloud, these initials begin with a vowel: "an RSA", "an Ed448", "an X25519".
    return f"{'an' if name[0] in 'AEIORX' else 'a'} {name}"


def statement(fields: dict[str, Any]) -> bytes:
    """Return the bytes a checkpoint signature covers: :data:`DOMAIN` + canonical JSON."""
    return DOMAIN + canonical_json({name: fields[name] for name in SIGNED_FIELDS}).encode()


def sign_checkpoint(signer: Signer, unsigned: JournalCheckpoint) -> JournalCheckpoint:
    """Return the checkpoint ``unsigned`` with the signer's key id and its signature."""
    stated = replace(unsigned, key_id=signer.key_id, signature="")
    signature = base64.b64encode(signer.sign(statement(stated.to_data()))).decode("ascii")
    return replace(stated, signature=signature)


def decode_signature(text: object) -> bytes | None:
    """Return the 64 signature bytes of a base64 text, or ``None`` when malformed."""
    if not isinstance(text, str):
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 64 else None
