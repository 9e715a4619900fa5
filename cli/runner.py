"""What every command shares: library errors as one-line Click errors, readers, output."""

from __future__ import annotations

import functools
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from journal import Journal, JournalError, JournalValueError
from journal.filters import Filters
from journal.merge import clusters, shared_record, unknown_origins
from journal.older import open_reader
from telemetry.text import json_printable, printable

F = TypeVar("F", bound=Callable[..., Any])


#: How much of a value an error line quotes; the rest becomes an ellipsis.
QUOTE_LIMIT = 80
#: A run of text without spaces longer than this is cut too (a value named
#: without quotes, ``--actor NAME``); paths stay whole below it.
_RUN_LIMIT = 400
#: The longest error line (a long value holding spaces, named without quotes).
_LINE_LIMIT = 2000
# A quoted value, as repr() quotes it; the quote does not follow a letter, so
# an apostrophe ("program's") does not open one. [^']* (no escapes) keeps the
# search linear: only the last quote of a line can fail to close.
_QUOTED = re.compile(r"(?<!\w)'[^']*'|(?<!\w)\"[^\"]*\"")
_LONG_RUN = re.compile(rf"\S{{{_RUN_LIMIT + 1},}}")


def error_line(message: str) -> str:
    """Return ``message`` as one line quoting at most ``QUOTE_LIMIT`` characters of a value.

    Every command's error goes through here (``main``), so a 100 KB option
    value or cursor file is named by its start and an ellipsis, not echoed whole.
    """
    text = printable(" ".join(message.split()))

    def cut_quoted(match: re.Match[str]) -> str:
        quoted = match[0]
        if len(quoted) <= QUOTE_LIMIT + 2:
            return quoted
        return f"{quoted[: QUOTE_LIMIT + 1]}…{quoted[-1]}"

    def cut_run(match: re.Match[str]) -> str:
        run = match[0]
        tail = len(run) - len(run.rstrip("'\":;,.)"))  # keep a closing quote
        return run[:QUOTE_LIMIT] + "…" + run[len(run) - min(tail, 3) :]

    text = _LONG_RUN.sub(cut_run, _QUOTED.sub(cut_quoted, text))
    return text if len(text) <= _LINE_LIMIT else text[:_LINE_LIMIT] + "…"


class JournalProblem(click.ClickException):
    """A journal that cannot be used: exit 2, like a usage error."""

    exit_code = 2


def journal_errors(function: F) -> F:
    """Turn library errors into Click errors with the library's one-line message."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except JournalValueError as error:
            raise click.UsageError(str(error)) from None
        except JournalError as error:
            raise JournalProblem(str(error)) from None
        except OSError as error:
            # A path the system refuses (no search permission on the way, a
            # name too long) that no check above caught: one line, no traceback.
            where = f"{error.filename}: " if error.filename else ""
            raise JournalProblem(f"{where}{error.strerror or error}") from None

    return wrapper  # type: ignore[return-value]


@contextmanager
def open_readers(
    locations: Sequence[str],
    busy_timeout: float,
    *,
    one_cluster: Filters | None = None,
    known: Filters | None = None,
    per_cluster: str = "each with its own leader and workloads: replay one with --cluster NAME",
    follow: bool = False,
) -> Iterator[list[Journal]]:
    """Open each journal read-only; close them all on the way out.

    A SQLite journal of an older schema is read from an upgraded copy, with a
    line on stderr saying so (:func:`open_read_only`); not when ``follow``ing.

    Args:
        locations: The journals.
        busy_timeout: SQLite's busy timeout, seconds.
        one_cluster: Refuse when these filters select shipped records of
            several clusters (a replay would take their leaders for one
            election and their workloads for one).
        known: Refuse a ``--cluster`` or ``--actor`` of these filters that
            no record carries (a misspelt name would read as "nothing happened").
        per_cluster: What ``one_cluster``'s refusal says after naming the clusters.

    Raises:
        click.UsageError: Two of them are one journal (or copies of one),
            ``one_cluster`` selects several clusters, or ``known`` names an
            unknown cluster or actor.
    """
    with ExitStack() as stack:
        readers = [
            stack.enter_context(open_read_only(location, busy_timeout, follow=follow))
            for location in locations
        ]
        _refuse_one_journal_twice(readers, locations)
        if known is not None and (problems := unknown_origins(readers, known)):
            raise click.UsageError("; ".join(problems))
        if one_cluster is not None and len(found := clusters(readers, one_cluster)) > 1:
            raise click.UsageError(
                f"the journal holds records of {len(found)} clusters ({', '.join(found)}), "
                + per_cluster
            )
        yield readers


def open_read_only(location: str, busy_timeout: float, *, follow: bool = False) -> Journal:
    """Open a journal read-only, saying on stderr when an older one is read from a copy."""
    reader = open_reader(location, busy_timeout=busy_timeout, follow=follow)
    if reader.upgraded_from is not None:
        click.echo(
            f"Note: journal {reader.location.display} has schema revision "
            f"{reader.upgraded_from}, older than this program's {reader.revision}: reading an "
            "upgraded copy, the file is not changed (`shipshape-journal db upgrade` upgrades it)",
            err=True,
        )
    return reader


def _refuse_one_journal_twice(readers: Sequence[Journal], locations: Sequence[str]) -> None:
    """Refuse a journal merged with itself: every record would count twice.

    Records' ids are unique, so two journals holding one record are one
    journal, copies of it (a backup, a vacuumed copy), or a central journal
    and a journal shipped into it (:func:`journal.merge.shared_record`).
    """
    shared = shared_record(readers)
    if shared is not None:
        first, second, record_id = shared
        raise click.UsageError(
            f"--journal {locations[first]} and --journal {locations[second]} are the same "
            f"journal or share records (both hold record {record_id}: a copy, a vacuumed "
            "copy, or a central journal and a journal shipped into it); give each journal "
            "once, a central journal without the journals shipped into it"
        )


def _write(text: str) -> None:
    """Write text for people: what records quote is shown, never acted on by the terminal."""
    sys.stdout.write(printable(text, lines=True))


def _write_json(text: str) -> None:
    """Write JSON text, non-printable characters as ``\\u`` escapes (the same JSON)."""
    sys.stdout.write(json_printable(text))


def _write_painted(text: str) -> None:
    """Write text whose only escape sequences are ours (colours), as it is.

    The writer made the journal's parts of it printable already (the strips'
    names, say); this only writes, so those colour codes reach the terminal.
    """
    sys.stdout.write(text)


class JsonOut:
    """Standard output for a JSON writer that writes piece by piece (``replay -o json``)."""

    def write(self, text: str) -> int:
        _write_json(text)
        return len(text)


class OutputError(click.ClickException):
    """Standard output cannot be written (a full disk, an I/O error): exit 2, one line."""

    exit_code = 2


class _GuardedStream:
    """A text stream whose write failures are :class:`OutputError`, and whose reader may leave.

    When the reader goes away (``verify | grep -q OK``, a broken pipe), the
    rest of the output is dropped and the command runs to its end, so that its
    exit code is still its verdict. A command that would otherwise go on for
    nobody (``tail``, above all while following) asks for the broken pipe
    instead, with :func:`stop_at_broken_pipe`.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.stop_at_broken_pipe = False

    def _guard(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self._stream, method)(*args)
        except BrokenPipeError:
            if self.stop_at_broken_pipe:
                raise  # tail's reader went away: tail handles it
            discard_output(self._stream)
            return len(args[0]) if args else None
        except OSError as error:
            discard_output(self._stream)
            raise OutputError(f"cannot write the output: {error.strerror or error}") from None

    def write(self, text: str) -> int:
        return self._guard("write", text)

    def flush(self) -> None:
        self._guard("flush")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def stop_at_broken_pipe() -> Any:
    """Have a broken pipe on stdout raise :class:`BrokenPipeError` here; return stdout."""
    if isinstance(sys.stdout, _GuardedStream):
        sys.stdout.stop_at_broken_pipe = True
    return sys.stdout


def stop_on_sigterm() -> threading.Event:
    """An event SIGTERM sets: a follower (``tail -f``, ``ship -f``) ends at its next pause."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return stop


def discard_output(stream: Any) -> None:
    """Point the stream's descriptor at /dev/null, so its unwritten buffer cannot fail at exit.

    For an output that failed, or whose reader went away (a broken pipe).
    """
    try:
        descriptor = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a file (captured in tests)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, descriptor)
    os.close(devnull)


@contextmanager
def guarded_stdout() -> Iterator[None]:
    """Run a command with stdout write failures as one-line errors, flushed before the end."""
    original = sys.stdout
    guarded = _GuardedStream(original)
    sys.stdout = guarded  # type: ignore[assignment]
    try:
        yield
        guarded.flush()
    finally:
        sys.stdout = original


@contextmanager
def command_output() -> Iterator[None]:
    """Run a command whose errors, however they arise, stay one line.

    Its stdout is guarded (:func:`guarded_stdout`), and the database driver's
    own log lines are kept off stderr: when a batch insert fails on
    PostgreSQL, psycopg logs the second problem it ignores while ending the
    statement (``error ignored terminating <psycopg.Pipeline ...>: pipeline
    aborted``) before the error itself reaches the command, which reports it
    in its one line.
    """
    driver = logging.getLogger("psycopg")
    silent = logging.NullHandler()
    driver.addHandler(silent)
    try:
        with guarded_stdout():
            yield
    finally:
        driver.removeHandler(silent)


#: The first bytes of every SQLite database file.
SQLITE_HEADER = b"SQLite format 3\x00"


def check_output_file(path: Path | None, option: str) -> None:
    """Check, before any work or output, that ``path`` can take the file to write.

    Its directory must take a file, and an existing ``path`` must not be a
    SQLite database: a journal not given to the command (whose files
    :func:`cli.paths.refuse_journal_files` refuses) is one all the same.

    Raises:
        click.BadParameter: The directory is missing, not a directory, or not
            writable, or ``path`` is a SQLite database.
    """
    if path is None:
        return
    problem = directory_problem(path) or _database_problem(path)
    if problem is not None:
        raise click.BadParameter(f"cannot write {path}: {problem}", param_hint=f"'{option}'")


def _database_problem(path: Path) -> str | None:
    """Say so when ``path`` is a SQLite database, which writing would destroy."""
    try:
        if not path.is_file():  # none there yet, or no file to read (a FIFO would block)
            return None
        with path.open("rb") as existing:
            head = existing.read(len(SQLITE_HEADER))
    except OSError:
        return None  # none there yet (or unreadable: writing says why)
    if head != SQLITE_HEADER:
        return None
    return "it is a SQLite database (a journal?), which writing would destroy; choose another path"


def directory_problem(path: Path) -> str | None:
    """Why ``path``'s directory cannot take a new file, or None when it can.

    A path that cannot be reached (a directory without search permission on
    the way, a name too long) is named with the system's reason.
    """
    directory = path.parent
    for probe, name in ((path, ""), (directory, f"directory {directory}: ")):
        try:
            os.stat(probe)
        except (FileNotFoundError, NotADirectoryError):
            pass  # said below
        except OSError as error:
            return f"{name}{error.strerror or error}"
    if not directory.exists():
        return f"directory {directory} does not exist"
    if not directory.is_dir():
        return f"{directory} is not a directory"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"directory {directory} is not writable"
    return None
