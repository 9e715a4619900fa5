"""The journal's exceptions: each carries one line that says what is wrong.

The CLI prints ``str(error)`` as is, so messages name the journal and the
problem and never need a traceback to be understood.
"""

from __future__ import annotations


class JournalError(Exception):
    """Base of every journal error; ``str()`` is one line for an operator."""


class JournalNotFoundError(JournalError):
    """The journal does not exist (or the path is not a file) and may not be created."""


class NotAJournalError(JournalError):
    """The file exists but is not a SQLite database or not a Shipshape journal."""


class JournalSchemaError(JournalError):
    """The journal's schema revision does not match what this program can use."""


class JournalCorruptError(JournalError):
    """SQLite reports the database file as damaged."""


class JournalWriteError(JournalError):
    """An append (or another write) failed; nothing of it was written."""


class JournalBusyError(JournalWriteError):
    """Another connection held the journal's write lock past the busy timeout."""


class JournalValueError(JournalError, ValueError):
    """A record or a parameter is invalid (unknown kind shape, data not JSON, ...)."""


class JournalCursorError(JournalError):
    """A reader's cursor points past the journal's head: the journal was replaced or rewound."""


class JournalChainError(JournalError):
    """The hash chain does not verify where an operation relies on it (nothing was changed)."""


class JournalOutputError(JournalError):
    """A file written from the journal (a copy, evidence) could not be written; the journal is fine.

    Attributes:
        reason: Why, as the system or SQLite said it (``No space left on device``).
    """

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message
