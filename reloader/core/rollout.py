"""Whether a Deployment's rollout has finished, from its spec and status alone."""

from __future__ import annotations

import enum

from reloader.core.model import RolloutStatus


class RolloutOutcome(enum.Enum):
    """Where a rollout stands."""

    PROGRESSING = "progressing"
    COMPLETED = "completed"
    FAILED = "failed"


def rollout_outcome(status: RolloutStatus, generation: int | None) -> RolloutOutcome:
    """Return the rollout's outcome the way ``kubectl rollout status`` judges it.

    The rollout of ``generation`` (the Deployment's generation our patch
    produced; ``None`` when unknown) is complete once the Deployment
    controller has observed it, every replica runs the new template, no old
    replica remains and all are available. A ``Progressing`` condition with
    reason ``ProgressDeadlineExceeded`` means it failed. A StatefulSet with a
    ``partition`` is complete, as kubectl says "partitioned roll out
    complete", once every ordinal at or above it runs the new template and
    every replica is available: the ordinals below it keep the old one.
    """
    wanted = generation if generation is not None else status.generation
    if status.observed_generation < wanted:
        return RolloutOutcome.PROGRESSING
    if status.progress_deadline_exceeded:
        return RolloutOutcome.FAILED
    if status.partition > 0:
        if (
            status.updated_replicas >= status.replicas - status.partition
            and status.available_replicas >= status.replicas
        ):
            return RolloutOutcome.COMPLETED
        return RolloutOutcome.PROGRESSING
    if (
        status.updated_replicas >= status.replicas
        and status.status_replicas <= status.updated_replicas
        and status.available_replicas >= status.updated_replicas
    ):
        return RolloutOutcome.COMPLETED
    return RolloutOutcome.PROGRESSING
