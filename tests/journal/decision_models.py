"""Trivial decision models for testing the ``replay --check`` hook.

The real model is the controller's decision core (``reloader.core.replay``);
these stand in for it with rules simple enough to predict by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Finding:
    """A difference as the decision core would report it (no journal types)."""

    seq: int
    message: str
    correlation_id: str | None = None
    recorded: str | None = None
    expected: str | None = None


def every_change_restarts(records: Iterable[Any]) -> Iterator[Finding]:
    """Expect a restart.planned for every observed change of a ConfigMap's hash."""
    last_hash: dict[str, str] = {}
    waiting: dict[str, Any] = {}
    for record in records:
        if record.kind == "configmap.observed":
            previous = last_hash.get(record.object)
            current = record.data.get("data_hash")
            last_hash[record.object] = current
            if previous is not None and current != previous and record.correlation_id:
                waiting[record.correlation_id] = record
        elif record.kind == "restart.planned":
            waiting.pop(record.correlation_id, None)
    for corr, record in waiting.items():
        yield Finding(
            seq=record.seq,
            message=f"{record.object} changed but no restart was planned",
            correlation_id=corr,
            recorded=None,
            expected="restart.planned",
        )


def as_dicts(records: Iterable[Any]) -> Iterator[dict[str, Any]]:
    """Report every restart.planned as a difference, in plain dicts."""
    for record in records:
        if record.kind == "restart.planned":
            yield {"seq": record.seq, "message": "would not restart"}


def broken(records: Iterable[Any]) -> Iterator[Finding]:
    """Fail half-way, as a buggy model would."""
    for count, _record in enumerate(records):
        if count == 2:
            raise RuntimeError("model bug")
    yield from ()


def bad_output(records: Iterable[Any]) -> Iterator[Any]:
    """Yield something that is not a difference."""
    yield {"message": "no seq here"}


NOT_CALLABLE = 42
