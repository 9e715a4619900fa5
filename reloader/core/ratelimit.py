"""A token bucket for the global pace of restarts, as an immutable value."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class TokenBucket:
    """A token bucket: ``rate`` tokens per second up to ``capacity``.

    The bucket is a value: :meth:`take` returns a new bucket. Time comes in as
    an argument; the bucket never reads a clock.
    """

    rate: float
    capacity: float
    tokens: float
    updated_at: float | None = None

    @classmethod
    def full(cls, rate: float, capacity: float) -> TokenBucket:
        """Return a full bucket that starts counting at its first use."""
        return cls(rate=rate, capacity=capacity, tokens=capacity)

    def refilled(self, now: float) -> TokenBucket:
        """Return the bucket with the tokens earned up to ``now``."""
        if self.updated_at is None:
            return replace(self, updated_at=now)
        elapsed = max(0.0, now - self.updated_at)
        tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        return replace(self, tokens=tokens, updated_at=max(now, self.updated_at))

    def take(self, now: float) -> tuple[TokenBucket, bool]:
        """Take one token if there is one; return the new bucket and whether it was taken."""
        bucket = self.refilled(now)
        if bucket.tokens >= 1.0:
            return replace(bucket, tokens=bucket.tokens - 1.0), True
        return bucket, False

    def next_token_at(self, now: float) -> float:
        """Return the earliest time at which a token is available."""
        bucket = self.refilled(now)
        if bucket.tokens >= 1.0:
            return now
        return now + (1.0 - bucket.tokens) / self.rate
