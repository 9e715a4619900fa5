"""The files commands write: checked before any work, never a journal or one of its files.

A command that writes a file (``replay --html``, ``backup --out``,
``export dr-drill --out``, ``tail --cursor-file``, ``ship --to``) refuses, in
one line and before it writes anything, a path that is a journal it was given
or one of that journal's SQLite companions (``-wal``, ``-shm``, ``-journal``),
however the path is spelt (a symbolic link, a hard link, ``..``): writing
there would destroy the journal.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from journal.database import resolve
from journal.errors import JournalError

#: The files SQLite keeps beside a journal: its own, its WAL, its shared memory
#: index and its rollback journal.
COMPANIONS = ("", "-wal", "-shm", "-journal")


class OutputPath(click.Path):
    """A path to write: never empty; a file's does not end in a separator.

    Click's own path type reads ``''`` as the working directory and
    ``newbk/`` as a file ``newbk``; both are mistakes, refused in one line.
    """

    def __init__(self, *, directory: bool = False) -> None:
        super().__init__(file_okay=not directory, dir_okay=directory, path_type=Path)
        self.directory = directory

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str):
            if not value:
                self.fail("the path is empty", param, ctx)
            if not self.directory and value.endswith(("/", os.sep)):
                self.fail(
                    f"{value!r} ends with {value[-1]!r}: name a file, not a directory", param, ctx
                )
        return super().convert(value, param, ctx)


class InputPath(click.Path):
    """A file to read: never empty (Click would read ``''`` as the working directory)."""

    def __init__(self) -> None:
        super().__init__(dir_okay=False, path_type=Path)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value:
            self.fail("the path is empty", param, ctx)
        return super().convert(value, param, ctx)


def refuse_journal_files(
    output: Path | str | None,
    journals: Sequence[str],
    option: str,
    *,
    suffixes: Sequence[str] = COMPANIONS,
) -> None:
    """Refuse an output path that is one of ``journals`` or one of their companions.

    Args:
        output: The path the command would write (None: nothing to check).
        journals: The journals the command was given.
        option: The option that named ``output``, for the message.
        suffixes: The journal files to refuse, by their suffix (``""``: the journal itself).

    Raises:
        click.BadParameter: ``output`` is (or resolves to) such a file.
    """
    if output is None:
        return
    problem = journal_file_problem(Path(output), journals, suffixes)
    if problem is not None:
        raise click.BadParameter(problem, param_hint=f"'{option}'")


def journal_file_problem(
    output: Path, journals: Sequence[str], suffixes: Sequence[str] = COMPANIONS
) -> str | None:
    """Say which journal file ``output`` is, or return None when it is none of them."""
    for location in journals:
        path = sqlite_file(location)
        if path is None:
            continue  # not a file (PostgreSQL), or a bad location its open will refuse
        for suffix in suffixes:
            if same_file(output, Path(f"{path}{suffix}")):
                what = f"the {suffix} file of journal {path}" if suffix else f"journal {path}"
                return f"{output} is {what}: writing there would destroy it; choose another path"
    return None


def sqlite_file(location: str) -> Path | None:
    """The SQLite file of a journal location, or None (PostgreSQL, or one its open will refuse).

    A bad location is the journal's own error, said when it is opened.
    """
    try:
        return resolve(location).path
    except JournalError:
        return None


def same_file(one: Path, other: Path) -> bool:
    """Tell whether two paths name one file: spelt alike once resolved, or one inode."""
    try:
        if os.path.realpath(one) == os.path.realpath(other):
            return True
        return os.path.samefile(one, other)
    except (OSError, ValueError):
        return False  # one of them does not exist (or cannot be reached): not the same
