"""Rollouts: after a patch lands, follow the Deployment until its rollout
completes, stalls (progress deadline exceeded) or outlives our own deadline.
A workload under ``updateStrategy: OnDelete`` has no rollout to follow.

Part of the step builder (:mod:`reloader.core.reconciler`).
"""

from __future__ import annotations

from records import RolloutCompleted, RolloutSkipped, RolloutTimeout
from reloader.core.model import DeploymentView
from reloader.core.reconcile.scratch import Scratch, obj_of, source_label
from reloader.core.rollout import RolloutOutcome, rollout_outcome
from reloader.core.state import Restart, Rollout


class Rollouts(Scratch):
    def start_rollout(self, restart: Restart, generation: int | None) -> None:
        view = self.deployments.get(restart.deployment)
        if view is not None and view.rollout.on_delete:
            # No pod takes the template until somebody deletes it: nothing to
            # follow, and no rollout slot to hold (kubectl will not follow it either).
            self.record(
                RolloutSkipped(
                    configmap=source_label(restart.configmap),
                    source=obj_of(restart.configmap),
                    generation=generation,
                    reason="on-delete",
                ),
                restart.deployment,
                restart.correlation_id,
            )
            return
        rollout = Rollout(
            deployment=restart.deployment,
            configmap=restart.configmap,
            correlation_id=restart.correlation_id,
            generation=generation,
            started_at=self.now,
            deadline=self.now + self.policy.rollout_timeout_seconds,
        )
        self.rollouts[restart.deployment] = rollout
        if view is not None and generation is not None:
            self.follow_rollout(view)

    def follow_rollout(self, view: DeploymentView) -> None:
        key = self.workload_key(view)
        rollout = self.rollouts.get(key)
        if rollout is None or rollout.generation is None:
            return
        if view.rollout.generation < rollout.generation:
            return  # an event from before our patch
        outcome = rollout_outcome(view.rollout, rollout.generation)
        if outcome is RolloutOutcome.PROGRESSING:
            return
        del self.rollouts[key]
        seconds = round(self.now - rollout.started_at, 6)
        if outcome is RolloutOutcome.COMPLETED:
            payload: RolloutCompleted | RolloutTimeout = RolloutCompleted(
                configmap=source_label(rollout.configmap),
                source=obj_of(rollout.configmap),
                generation=rollout.generation,
                seconds=seconds,
                replicas=view.rollout.replicas,
            )
        else:
            payload = RolloutTimeout(
                configmap=source_label(rollout.configmap),
                source=obj_of(rollout.configmap),
                generation=rollout.generation,
                seconds=seconds,
                replicas=view.rollout.replicas,
                reason="progress-deadline-exceeded",
            )
        self.record(payload, key, rollout.correlation_id)

    def expire_rollouts(self) -> None:
        """Give up following every rollout past its deadline."""
        due = sorted(name for name, r in self.rollouts.items() if r.deadline <= self.now)
        for name in due:
            rollout = self.rollouts.pop(name)
            self.record(
                RolloutTimeout(
                    configmap=source_label(rollout.configmap),
                    source=obj_of(rollout.configmap),
                    generation=rollout.generation,
                    reason="deadline",
                    seconds=round(self.now - rollout.started_at, 6),
                ),
                name,
                rollout.correlation_id,
            )
