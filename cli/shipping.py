"""``shipshape-journal ship``: copy an embedded journal into a central one.

Registered on the ``shipshape-journal`` group by :mod:`cli.main`; the copy
itself is :func:`journal.ship.ship`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import click

from cli.maintenance import ChainRefused
from cli.options import busy_timeout_option, cli_actor, journal_option, resolve_journals
from cli.paths import COMPANIONS, refuse_journal_files, sqlite_file
from cli.runner import _write, journal_errors, stop_on_sigterm
from cli.signing import signing_key
from journal import Journal, JournalError
from journal.checkpoints import CheckpointWriter
from journal.errors import JournalChainError
from journal.postgres import RECONNECT_SECONDS
from journal.ship import ShipGap, ShipProgress, check_cluster, ship
from telemetry.config import env_str


@click.command("ship")
@journal_option()
@click.option(
    "--to",
    "destination",
    required=True,
    metavar="URL",
    help="The central journal to copy into (postgresql+psycopg://USER@HOST:PORT/DB).",
)
@click.option(
    "--cluster",
    metavar="NAME",
    help="The cluster the shipped records are tagged with [default: $CLUSTER_NAME].",
)
@click.option("-f", "--follow", is_flag=True, help="Keep shipping new records as they come.")
@busy_timeout_option
@journal_errors
def ship_command(
    journal: str | None,
    destination: str,
    cluster: str | None,
    follow: bool,
    busy_timeout: float,
) -> int:
    """Copy a journal's records into a central one, idempotently (seq, hashes, chain kept)."""
    from_env = env_str(os.environ, "CLUSTER_NAME", "")
    name = check_cluster(cluster if cluster is not None else from_env)
    stop = stop_on_sigterm() if follow else None
    source_location = resolve_journals(journal)[0]
    # The journal itself is ship's own refusal ("the same journal"); its
    # companions are files SQLite would take for the journal's.
    refuse_journal_files(
        sqlite_file(destination), [source_location], "--to", suffixes=COMPANIONS[1:]
    )
    signer = signing_key()  # read first: a bad key file ships nothing
    with (
        _chain_refused(),  # outermost: a broken source chain is exit 1, after the cleanup
        _removed_when_refused(destination, busy_timeout),  # exits last: after both close
        Journal.open(source_location, readonly=True, busy_timeout=busy_timeout) as source,
        Journal.open(destination, actor=cli_actor(), busy_timeout=busy_timeout) as central,
    ):
        # With JOURNAL_SIGNING_KEY_FILE, the journal.shipped records ship
        # appends to the central's own chain are signed, as every CLI
        # writer's records are: a forger who rewrites them (to relabel
        # shipped records) then breaks a signature.
        writer = CheckpointWriter(central, signer) if signer is not None else None
        signing = _Signing(writer) if writer is not None else None
        try:
            progress = ship(
                source,
                central,
                cluster=name,
                follow=follow,
                should_stop=(stop.is_set if stop is not None else lambda: False),
                on_batch=signing.on_batch if signing is not None else None,
                on_gap=_warn_gap,
                on_reconnect=signing.on_reconnect if signing is not None else _warn_reconnect,
            )
        except JournalChainError:
            # The batches before the broken one were copied: sign their statements.
            if writer is not None and writer.unsigned:
                writer.checkpoint()
            raise
        if writer is not None and writer.unsigned:
            writer.checkpoint()
    _write(f"shipped {progress.shipped} records of stream {progress.stream or '-'}\n")
    # The copy went on, but records are missing from the central journal: a
    # finding, as verify's FAILED is, so that a scheduled run is noticed.
    return 1 if progress.gap is not None else 0


@contextlib.contextmanager
def _chain_refused() -> Iterator[None]:
    """A source whose chain does not verify is a finding (exit 1), as verify's FAILED is."""
    try:
        yield
    except JournalChainError as error:
        raise ChainRefused(str(error)) from None


@contextlib.contextmanager
def _removed_when_refused(destination: str, busy_timeout: float) -> Iterator[None]:
    """Remove the SQLite central journal this run creates when the run fails empty-handed.

    A refused ship (a source holding streams, a clash of clusters) leaves no
    empty journal at ``--to`` behind it; one that holds records is kept.
    """
    created = sqlite_file(destination)
    if created is not None and os.path.lexists(created):
        created = None  # there before this run: never removed
    try:
        yield
    except (JournalError, OSError):
        if (
            created is not None
            and os.path.exists(created)
            and _holds_no_record(created, busy_timeout)
        ):
            for suffix in COMPANIONS:
                with contextlib.suppress(FileNotFoundError):
                    Path(f"{created}{suffix}").unlink()
        raise


def _holds_no_record(path: Path, busy_timeout: float) -> bool:
    try:
        with Journal.open(path, readonly=True, busy_timeout=busy_timeout) as central:
            return central.count() == 0
    except JournalError:
        return path.stat().st_size == 0  # only a file with nothing in it is surely empty


class _Signing:
    """Counts each batch's journal.shipped record for the writer, which signs when due."""

    def __init__(self, writer: CheckpointWriter) -> None:
        self._writer = writer
        self._shipped = 0
        self._in_doubt = False

    def on_batch(self, progress: ShipProgress) -> None:
        """Count a batch that copied records (it stated them), or may have (after an outage)."""
        # A batch tried again after a lost connection finds nothing to copy
        # when its first try was committed, statement included: count it too,
        # or that statement would be left unsigned.
        if progress.shipped > self._shipped or self._in_doubt:
            self._shipped, self._in_doubt = progress.shipped, False
            self._writer.appended(1)
            self._writer.tick()

    def on_reconnect(self, error: JournalError) -> None:
        """Warn, and count the next batch whatever it copies."""
        self._in_doubt = True
        _warn_reconnect(error)


def _warn_gap(gap: ShipGap) -> None:
    """Say at once, on stderr, that records were vacuumed before they were shipped."""
    click.echo(f"Warning: {gap.summary()}", err=True)


def _warn_reconnect(error: JournalError) -> None:
    """Say, on stderr, that the central journal is out of reach and ship keeps trying."""
    click.echo(f"Warning: {error}; trying again for up to {RECONNECT_SECONDS:g} s", err=True)
