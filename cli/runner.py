"""What every command shares: library errors as one-line Click errors, readers, output."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any, TypeVar

import click

from journal import Journal, JournalError, JournalValueError

F = TypeVar("F", bound=Callable[..., Any])


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

    return wrapper  # type: ignore[return-value]


@contextmanager
def open_readers(locations: Sequence[str], busy_timeout: float) -> Iterator[list[Journal]]:
    """Open each journal read-only; close them all on the way out."""
    with ExitStack() as stack:
        yield [
            stack.enter_context(Journal.open(location, readonly=True, busy_timeout=busy_timeout))
            for location in locations
        ]


def _write(text: str) -> None:
    sys.stdout.write(text)
