"""Signing for the CLI's writers, and the key options of ``verify``.

Every command that appends (``note``, ``vacuum``'s tombstone) opens its writer
through :func:`open_writer`: with ``JOURNAL_SIGNING_KEY_FILE`` set, what it
appends is covered by a signed ``journal.checkpoint`` when it closes
(``ship``, which appends its ``journal.shipped`` records inside its own
transactions, signs them with :func:`signing_key` in ``cli/shipping.py``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import click

from cli.options import cli_actor
from cli.paths import InputPath
from journal import Filters, Journal, VacuumResult, kinds, vacuum, verify
from journal.checkpoints import CheckpointWriter, verify_signed
from journal.signing import PublicKey, Signer, load_public_key, load_signing_key
from telemetry.config import env_str
from telemetry.text import printable

F = TypeVar("F", bound=Callable[..., Any])


def signing_key(path: Path | None = None) -> Signer | None:
    """Return the key in ``path``, else ``JOURNAL_SIGNING_KEY_FILE``'s, else ``None``.

    Raises:
        SigningKeyError: The file cannot be used (one line, no key material).
    """
    name = str(path) if path is not None else env_str(os.environ, "JOURNAL_SIGNING_KEY_FILE", "")
    return load_signing_key(name) if name else None


@contextmanager
def open_writer(location: str, busy_timeout: float) -> Iterator[Journal | CheckpointWriter]:
    """Open an existing journal as the CLI's writer, signing when a key is configured.

    The key is read before the journal is opened, so a bad key file writes nothing.
    """
    signer = signing_key()
    journal = Journal.open(location, actor=cli_actor(), create=False, busy_timeout=busy_timeout)
    writer: Journal | CheckpointWriter = (
        journal if signer is None else CheckpointWriter(journal, signer)
    )
    with writer:
        yield writer


def vacuum_signed(writer: Journal | CheckpointWriter, older_than: timedelta) -> VacuumResult:
    """Run ``vacuum``; a signing writer then covers the tombstone when it closes."""
    if isinstance(writer, CheckpointWriter):
        result = vacuum(writer.journal, older_than)
        writer.appended(1 if result.tombstone is not None else 0)
        return result
    return vacuum(writer, older_than)


def verdict(reader: Journal, keys: list[PublicKey], require_signed: bool) -> tuple[bool, str]:
    """Return ``verify``'s verdict on one journal and the lines it prints.

    Without keys only the chain is checked, which a forger who recomputes it
    passes: a journal holding signed checkpoints then says so under ``OK``.
    The lines are printable (:func:`printable`): what they quote from the
    records cannot move the cursor or rewrite a ``FAILED`` line as ``OK``.
    """
    if keys:
        signed = verify_signed(reader, keys, require_signed=require_signed)
        if not signed.ok:
            return False, printable(signed.summary())
        return True, printable(
            _with_labels(signed.summary(), signed.chain.shipped_lines()), lines=True
        )
    result = verify(reader)
    if not result.ok:
        return False, printable(result.summary())
    summary = printable(_with_labels(result.summary(), result.shipped_lines()), lines=True)
    if not reader.last(1, Filters(kinds=(kinds.JOURNAL_CHECKPOINT,))):
        return True, summary
    return True, (
        f"{summary}\nsigned checkpoints not checked: only --public-key catches "
        "a record changed with the chain recomputed"
    )


def _with_labels(summary: str, labels: str | None) -> str:
    """The verdict, then the lines about shipped streams (labels not vouched for, not held)."""
    return summary if labels is None else f"{summary}\n{labels}"


def public_keys(paths: tuple[Path, ...]) -> list[PublicKey]:
    """Read each ``--public-key`` file (SigningKeyError for an unusable one)."""
    return [load_public_key(path) for path in paths]


def public_key_option(function: F) -> F:
    """``--public-key FILE`` (repeatable): trusted Ed25519 public keys."""
    return click.option(
        "--public-key",
        "public_key_files",
        multiple=True,
        type=InputPath(),
        help="Check the signed checkpoints with this Ed25519 public key (PEM); "
        "repeat for rotated keys.",
    )(function)


def signing_key_option(function: F) -> F:
    """``--signing-key FILE``: sign the evidence (default: ``JOURNAL_SIGNING_KEY_FILE``)."""
    return click.option(
        "--signing-key",
        "signing_key_file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Sign the manifest with this Ed25519 private key (PEM, PKCS#8) "
        "[default: $JOURNAL_SIGNING_KEY_FILE].",
    )(function)


def require_signed_option(function: F) -> F:
    """``--require-signed``: records after the last checkpoint fail verification."""
    return click.option(
        "--require-signed",
        is_flag=True,
        help="Fail when records after the last signed checkpoint are not yet signed "
        "(needs --public-key).",
    )(function)
