"""Reading a small file a setting names (a key): whole, bounded, and never blocking.

Both programs read keys from files their settings name (the Secret hash key,
the journal signing key). Such a file must be a regular file: a FIFO would
block the open for ever and ``/dev/zero`` would fill the memory. Each caller
words the failure for its own setting; :class:`SmallFileError` says which.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

#: :attr:`SmallFileError.reason` values.
NOT_REGULAR = "not a regular file"
UNREADABLE = "cannot be read"
TOO_LARGE = "too large"


class SmallFileError(Exception):
    """Why a small file cannot be read: ``reason`` (above) and the system's ``detail``."""

    def __init__(self, reason: str, detail: str = "") -> None:
        """Name the ``reason``; ``detail`` is the system's words for an unreadable file."""
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def read_small_file(path: str | Path, limit: int) -> bytes:
    """Return the whole of the regular file ``path``, at most ``limit`` bytes.

    Raises:
        SmallFileError: Not a regular file, unreadable, or longer than ``limit``.
    """
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise SmallFileError(NOT_REGULAR)
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as error:
        raise SmallFileError(UNREADABLE, error.strerror or type(error).__name__) from None
    if len(data) > limit:
        raise SmallFileError(TOO_LARGE)
    return data
