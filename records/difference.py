"""The one shape of a decision made differently, as ``replay --check`` reports it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Difference:
    """A decision the model makes differently from the recorded one.

    Attributes:
        seq: The record of the recorded decision (or where one was expected).
        message: What differs, in one line.
        correlation_id: The change's correlation id, if known.
        recorded: The decision recorded in the journal, if any.
        expected: The decision the model makes, if any.
    """

    seq: int
    message: str
    correlation_id: str | None = None
    recorded: str | None = None
    expected: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the difference as a JSON object."""
        return {
            "seq": self.seq,
            "correlation_id": self.correlation_id,
            "recorded": self.recorded,
            "expected": self.expected,
            "message": self.message,
        }
