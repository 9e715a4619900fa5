"""The report: the ``replay -o json`` document, and its fast writer.

:class:`ReplayReport` is what :func:`journal.replay.replay` returns;
:meth:`ReplayReport.to_json` is ``replay -o json``, and
:meth:`ReplayReport.write_json` writes exactly the text
``json.dump(..., indent=2)`` would, with the (many) restarts through the C
encoder a chunk at a time.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from journal.filters import Filters
from journal.replay.entries import RestartEntry


def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """Return the nearest-rank percentile of already sorted values (``None`` if empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


# ``replay -o json`` is indented by two spaces. Restarts are flat objects of
# scalars, so the C encoder (used by ``json.dumps`` only without ``indent``)
# writes a list of them in nearly their indented form when the item separator
# carries the line break and the indentation of their keys (level 3: document,
# "restarts", object); only the boundaries between objects need re-indenting.
# A string never holds a raw line break, so the boundary text is unambiguous.
_RESTART_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",\n      ", ": "))
_RESTART_BOUNDARY = ("},\n      {", "\n    },\n    {\n      ")
# Restarts converted per ``write()``: few calls, and never all of them in memory.
_RESTARTS_PER_WRITE = 1000


def _indented(value: Any) -> str:
    """Return ``value`` as ``json.dump(..., indent=2)`` writes it one level down."""
    # Strings never hold a raw line break, so every one is indentation.
    return json.dumps(value, ensure_ascii=False, indent=2).replace("\n", "\n  ")


def _write_restarts(stream: IO[str], restarts: Sequence[RestartEntry]) -> None:
    """Write ``restarts`` as ``json.dump(..., indent=2)`` would at level one."""
    if not restarts:
        stream.write("[]")
        return
    encode = _RESTART_ENCODER.encode
    boundary, indented = _RESTART_BOUNDARY
    for start in range(0, len(restarts), _RESTARTS_PER_WRITE):
        chunk = [entry.to_json() for entry in restarts[start : start + _RESTARTS_PER_WRITE]]
        # encode() gives '[{"seq": 1,\n      "ts": ...},\n      {...}]'.
        body = encode(chunk)[2:-2].replace(boundary, indented)
        stream.write(("[" if start == 0 else ",") + "\n    {\n      " + body + "\n    }")
    stream.write("\n  ]")


@dataclass
class ReplayReport:
    """The result of :func:`replay`; :meth:`to_json` is ``replay -o json``."""

    journals: list[str]
    filters: Filters
    events: int
    first: dict[str, Any] | None
    last: dict[str, Any] | None
    kinds: dict[str, int]
    configmaps: dict[str, dict[str, Any]]
    restarts: list[RestartEntry]
    latency: dict[str, Any]
    leader_terms: list[dict[str, Any]]
    anomalies: list[dict[str, Any]]
    thresholds: dict[str, float]
    #: Per workload (``namespace/kind/name``): journal.replay.workloads.
    workloads: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: With several replicas: their clocks' offsets (journal.replay.clocks).
    clock_offsets: list[dict[str, Any]] | None = None

    def to_json(self, *, restarts: bool = True) -> dict[str, Any]:
        """Return the report as the ``replay -o json`` object.

        Args:
            restarts: Include ``restarts`` as a list of objects (``False``
                leaves them out, for callers that only summarise them).
        """
        document = {
            "journals": self.journals,
            "window": {
                "since": self.filters.since_text,
                "until": self.filters.until_text,
                "correlation_id": self.filters.correlation_id,
                "first": self.first,
                "last": self.last,
            },
            "thresholds": self.thresholds,
            "events": self.events,
            "kinds": self.kinds,
            "configmaps": self.configmaps,
            "restarts": [entry.to_json() for entry in self.restarts] if restarts else None,
            "restart_latency_seconds": self.latency,
            "leader_terms": self.leader_terms,
            "anomalies": self.anomalies,
            "workloads": self.workloads,
        }
        if self.clock_offsets is not None:
            document["clock_offsets"] = self.clock_offsets
        if not restarts:
            del document["restarts"]
        return document

    def write_json(self, stream: IO[str], extra: dict[str, Any] | None = None) -> None:
        """Write the ``replay -o json`` document, converting restarts one at a time.

        Args:
            stream: Where to write.
            extra: Further top-level keys (``check``), written last.
        """
        document = {**self.to_json(restarts=False), **(extra or {})}
        # The same text as json.dump(document, indent=2) with "restarts" after
        # "configmaps", written key by key: the restarts go through the C
        # encoder a chunk at a time instead of the pure-Python indenting one.
        separator = "{\n  "
        for key, value in document.items():
            stream.write(f"{separator}{json.dumps(key, ensure_ascii=False)}: {_indented(value)}")
            separator = ",\n  "
            if key == "configmaps":
                stream.write(',\n  "restarts": ')
                _write_restarts(stream, self.restarts)
        stream.write("\n}\n")


__all__ = ["ReplayReport", "percentile"]
