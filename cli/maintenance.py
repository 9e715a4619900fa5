"""The maintenance commands: ``db upgrade|current``, ``stats``, ``backup`` and ``vacuum``.

Registered on the ``shipshape-journal`` group by :mod:`cli.main`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from cli.options import (
    busy_timeout_option,
    cli_actor,
    journal_option,
    resolve_journals,
)
from cli.output import render_stats
from cli.paths import OutputPath, refuse_journal_files
from cli.runner import _write, _write_json, journal_errors
from cli.signing import (
    open_writer,
    vacuum_signed,
)
from journal import (
    Journal,
    current_revision,
    snapshot,
    stats,
    verify,
)
from journal.errors import JournalChainError
from journal.schema import HEAD
from journal.timefmt import parse_duration


class ChainRefused(click.ClickException):
    """``vacuum`` refused a range that does not verify: exit 1, as ``verify`` FAILED."""

    exit_code = 1


# -- db --------------------------------------------------------------------------


@click.group("db")
def db_group() -> None:
    """Manage the journal's schema."""


@db_group.command("upgrade")
@journal_option()
@busy_timeout_option
@journal_errors
def db_upgrade(journal: str | None, busy_timeout: float) -> int:
    """Create the journal if missing and migrate it to the schema head."""
    (location,) = resolve_journals(journal)
    with Journal.open(location, actor=cli_actor(), busy_timeout=busy_timeout) as writer:
        revision = writer.revision
    _write(f"{revision} (head): {writer.location.display}\n")
    return 0


@db_group.command("current")
@journal_option()
@busy_timeout_option
@journal_errors
def db_current(journal: str | None, busy_timeout: float) -> int:
    """Print the journal's schema revision, and whether it is behind the head."""
    (location,) = resolve_journals(journal)
    revision = current_revision(location, busy_timeout=busy_timeout)
    if revision == HEAD:
        _write(f"{revision} (head)\n")
    else:
        _write(f"{revision} (head is {HEAD}; run `shipshape-journal db upgrade`)\n")
    return 0


# -- stats, backup, vacuum ---------------------------------------------------------


@click.command("stats")
@journal_option()
@busy_timeout_option
@click.option(
    "-o", "--output", type=click.Choice(("text", "json")), default="text", show_default=True
)
@journal_errors
def stats_command(journal: str | None, busy_timeout: float, output: str) -> int:
    """Print counts, ranges, sizes and the head of the journal."""
    (location,) = resolve_journals(journal)
    with Journal.open(location, readonly=True, busy_timeout=busy_timeout) as reader:
        facts = stats(reader)
    if output == "json":
        _write_json(json.dumps(facts, ensure_ascii=False, indent=2) + "\n")
    else:
        _write(render_stats(facts))
    return 0


@click.command("backup")
@journal_option()
@busy_timeout_option
@click.option(
    "--out",
    required=True,
    type=OutputPath(),
    help="The backup file to create (must not exist).",
)
@journal_errors
def backup_command(journal: str | None, busy_timeout: float, out: Path) -> int:
    """Write a consistent copy of the journal (VACUUM INTO), even while it is written."""
    (location,) = resolve_journals(journal)
    refuse_journal_files(out, [location], "--out")
    with Journal.open(location, readonly=True, busy_timeout=busy_timeout) as reader:
        copy = snapshot(reader, out)
    with Journal.open(copy.path, readonly=True) as backup:
        checked = verify(backup)
    _write(f"backup: {copy.path} ({copy.bytes} bytes, sha256 {copy.sha256})\n")
    _write(f"verify: {checked.summary()}\n")
    return 0 if checked.ok else 1


def _duration(_ctx: click.Context, param: click.Parameter, value: str) -> Any:
    try:
        return parse_duration(value)
    except ValueError as error:
        raise click.BadParameter(str(error), param=param) from None


@click.command("vacuum")
@journal_option()
@busy_timeout_option
@click.option(
    "--older-than",
    required=True,
    metavar="DURATION",
    callback=_duration,
    help="Remove records older than this (30d, 12h, 2w); a tombstone keeps the chain verifiable.",
)
@journal_errors
def vacuum_command(journal: str | None, busy_timeout: float, older_than: Any) -> int:
    """Remove old records, leaving a journal.vacuumed tombstone."""
    (location,) = resolve_journals(journal)
    try:
        with open_writer(location, busy_timeout) as writer:
            result = vacuum_signed(writer, older_than)
    except JournalChainError as error:
        # A finding about the journal, like verify's FAILED: exit 1.
        raise ChainRefused(str(error)) from None
    _write(result.summary() + "\n")
    return 0
