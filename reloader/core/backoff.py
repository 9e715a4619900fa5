"""Exponential backoff with jitter, computed from a jitter value given as input.

The core reads no randomness: the runtime draws ``jitter`` uniformly from
``[0, 1)`` and passes it in with the failure, and the journal records it, so a
replay computes the same delay.
"""

from __future__ import annotations

from reloader.core.policy import Policy


def backoff_delay(policy: Policy, failed_attempt: int, jitter: float) -> float:
    """Return the seconds to wait after ``failed_attempt`` failed.

    The un-jittered delay is ``retry_base_seconds * 2 ** (failed_attempt - 1)``
    capped at ``retry_max_seconds``; the jitter spreads it over its upper half
    ("equal jitter"), so replicas and Deployments that failed together do not
    retry in lock-step while no retry comes sooner than half the nominal delay.

    Args:
        policy: The retry settings.
        failed_attempt: The attempt that just failed, from 1.
        jitter: A number in ``[0, 1)``; values outside are clamped.
    """
    exponent = max(0, failed_attempt - 1)
    # Cap the exponent before computing so huge attempt counts cannot overflow.
    nominal = min(policy.retry_max_seconds, policy.retry_base_seconds * 2.0 ** min(exponent, 62))
    spread = min(max(jitter, 0.0), 1.0)
    return nominal / 2.0 + nominal / 2.0 * spread
