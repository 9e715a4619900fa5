"""Writing an output file whole or not at all.

:func:`replace_file` writes the bytes to a temporary file beside the target
and renames it over the target only once they are all written, so a failure
(a full disk, an interrupt) leaves the previous file as it was and no
temporary file behind; a reader never sees half a file. :func:`create_file`
creates a new file (never replacing one) and removes it when the write fails.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path


def replace_file(path: str | Path, data: bytes, *, sync: bool = True) -> int:
    """Replace ``path`` atomically with ``data``; return its size in bytes.

    Args:
        path: The file to create or replace.
        data: Its new contents.
        sync: ``fsync`` the file before the rename (survives a power loss).

    Raises:
        OSError: The file could not be written; ``path`` is unchanged.
    """
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if sync:
                os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    return len(data)


def create_file(path: str | Path, data: bytes) -> int:
    """Create ``path`` with ``data``, synced; return its size in bytes.

    Unlike :func:`replace_file` it never replaces a file, and a failure (a
    full disk, an interrupt) removes what it wrote: no truncated file is left
    to be taken for a whole one, or to refuse the next attempt.

    Raises:
        FileExistsError: ``path`` exists (it is left as it was).
        OSError: The file could not be written; nothing is left at ``path``.
    """
    target = Path(path)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            target.unlink()
        raise
    return len(data)
