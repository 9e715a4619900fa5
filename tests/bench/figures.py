"""What the benchmarks compute from their samples, in one place."""

from __future__ import annotations


def percentile(values: list[float], fraction: float) -> float:
    """The sample at ``fraction`` of the way through the sorted values (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]
