"""Cursors for ``tail``: where a reader left off, per journal.

A cursor is the last seq shown, one per ``--journal`` in the order given,
written ``SEQ`` or ``SEQ,SEQ,...``. ``--cursor-file`` keeps it between runs
(journalctl-style): read at start when the file exists, rewritten atomically
after records are shown, so a crash shows some records again but never skips one.
"""

from __future__ import annotations

import re
from pathlib import Path

import click

from cli.runner import directory_problem
from journal.files import replace_file

# ASCII digits only (\d would take "٣" for 3); a seq fits in 63 bits, 19 digits.
_CURSOR = re.compile(r"[0-9]{1,19}(?:,[0-9]{1,19})*", re.ASCII)
#: The largest seq a journal can hold (SQLite's INTEGER, PostgreSQL's BIGINT).
MAX_SEQ = 2**63 - 1


def parse_cursor(text: str, journals: int, *, source: str = "--after-cursor") -> list[int]:
    """Parse ``SEQ[,SEQ...]`` with one seq per journal.

    Raises:
        click.UsageError: A malformed cursor or the wrong number of seqs.
    """
    value = text.strip()
    if not _CURSOR.fullmatch(value):
        raise click.UsageError(
            f"invalid cursor {text.strip()!r} in {source}: expected SEQ, or SEQ,SEQ,... "
            "with one seq per --journal (a seq: 1 to 19 digits 0-9)"
        )
    seqs = [int(part) for part in value.split(",")]
    if max(seqs) > MAX_SEQ:
        raise click.UsageError(
            f"invalid cursor {value!r} in {source}: a seq is at most {MAX_SEQ} (63 bits)"
        )
    if len(seqs) != journals:
        raise click.UsageError(
            f"cursor {value!r} in {source} has {len(seqs)} seq(s) for {journals} journal(s)"
        )
    return seqs


def format_cursor(seqs: list[int]) -> str:
    """Return the text of a cursor."""
    return ",".join(str(seq) for seq in seqs)


def read_cursor_file(path: Path, journals: int) -> list[int] | None:
    """Return the cursor stored in ``path``, or ``None`` when it is missing or empty.

    Raises:
        click.UsageError: The file cannot be read or holds no valid cursor.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise click.UsageError(f"cannot read cursor file {path}: {error}") from None
    if not text.strip():
        return None
    return parse_cursor(text, journals, source=f"cursor file {path}")


def check_cursor_file(path: Path) -> None:
    """Check that a cursor can be written to ``path``, before any record is shown.

    Raises:
        click.BadParameter: Its directory is missing, not a directory, or not writable.
    """
    problem = directory_problem(path)
    if problem is not None:
        raise click.BadParameter(
            f"cannot store the cursor in {path}: {problem}", param_hint="'--cursor-file'"
        )


class CursorFileError(click.ClickException):
    """The cursor file cannot be written (its directory went away or read-only): exit 2.

    Not a finding (exit 1 is for those): a problem of the environment, as a
    full disk under any other output is.
    """

    exit_code = 2


def write_cursor_file(path: Path, seqs: list[int]) -> None:
    """Replace ``path`` atomically with the cursor ``seqs``.

    Raises:
        CursorFileError: The file cannot be written.
    """
    try:
        # Not synced (as before): tail rewrites it after every batch it shows.
        replace_file(path, (format_cursor(seqs) + "\n").encode("utf-8"), sync=False)
    except OSError as error:
        raise CursorFileError(f"cannot write cursor file {path}: {error.strerror}") from None
