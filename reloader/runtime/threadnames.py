"""The controller's threads named for the operating system too.

Python names its threads for itself only (before 3.14): ``top -H``, ``ps -L``,
``/proc/PID/task/TID/comm`` and profilers show every thread as ``python``. The
controller's threads (the watches, the reconcile loop, the patch workers, the
elector, the endpoints) pass their Python name on with ``prctl(PR_SET_NAME)``,
so their CPU can be told apart on a node (the cluster-scale benchmark reports
it per thread). Linux keeps 15 bytes of it. Elsewhere, or without a C
library, nothing happens.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys
import threading
from collections.abc import Callable
from typing import Any

_PR_SET_NAME = 15
#: What Linux keeps of a thread's name.
LIMIT = 15


@functools.cache
def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def name_this_thread(name: str | None = None) -> None:
    """Give the calling thread ``name`` (default: its Python name) for the OS too."""
    prctl = _prctl()
    if prctl is not None:
        text = (name or threading.current_thread().name).encode("utf-8", "replace")[:LIMIT]
        prctl(_PR_SET_NAME, ctypes.c_char_p(text), 0, 0, 0)


def named(target: Callable[..., Any]) -> Callable[..., Any]:
    """``target``, naming its thread for the OS (after its Python name) before it runs."""

    @functools.wraps(target)
    def run(*args: Any, **kwargs: Any) -> Any:
        name_this_thread()
        return target(*args, **kwargs)

    return run
