"""Dispatch and pacing: queued restarts go out under the global token bucket and
the cap on rollouts in flight; each attempt is planned (journaled) before its
patch, and retried after its backoff.

Part of the step builder (:mod:`reloader.core.reconciler`): methods of the
other parts are reached through ``self``.
"""

from __future__ import annotations

from dataclasses import replace

from records import RestartFailed, RestartPatched, RestartPlanned, kinds
from reloader.core.actions import PatchRestart
from reloader.core.reconcile.scratch import Scratch, source_label
from reloader.core.state import Phase, Restart


class Dispatch(Scratch):
    def dispatch(self) -> None:
        """Send queued restarts while the rate limit and the rollout cap allow."""
        if not self.queue or not self.acting:
            return
        remaining: list[Restart] = []
        blocked = False
        for restart in self.queue:
            if blocked or restart.deployment in self.active:
                remaining.append(restart)
                continue
            if (
                not self.stopping
                and restart.not_before is not None
                and restart.not_before > self.now
            ):
                remaining.append(restart)  # its workload's own debounce is not over
                continue
            if not self.stopping and not self.slot_free():
                blocked = True
                remaining.append(restart)
                continue
            outcome = self.start(restart)
            if outcome == "blocked":
                blocked = True
                remaining.append(restart)
        self.queue = remaining

    def slot_free(self) -> bool:
        patching = sum(1 for r in self.active.values() if r.phase is Phase.PATCHING)
        return patching + len(self.rollouts) < self.policy.max_concurrent_rollouts

    def take_token(self) -> bool:
        if self.stopping:
            return True
        self.bucket, taken = self.bucket.take(self.now)
        return taken

    def start(self, restart: Restart) -> str:
        """Plan and send the first attempt of a queued restart.

        A restart applies the hash its window fired with, even if the
        ConfigMap has changed again since: that newer change has its own
        window and its own restart, so each window maps to one restart.
        """
        deployment = restart.deployment
        wanted = restart.data_hash
        assert wanted is not None
        chain = restart.correlation_id
        if deployment not in self.deployments:
            self.skip(restart.configmap, chain, kinds.SKIP_NO_TARGET, wanted, deployment)
            return "done"
        desired = self.desired(deployment)
        applied = self.applied(deployment)
        if desired is None:
            self.skip(restart.configmap, chain, kinds.SKIP_DELETED, wanted, deployment)
            return "done"
        if applied is None:
            self.adopt(deployment, restart.configmap, chain, desired)
            return "done"
        if applied == wanted:
            self.skip(restart.configmap, chain, kinds.SKIP_UNCHANGED, wanted, deployment)
            return "done"
        if not self.take_token():
            return "blocked"
        self.send(replace(restart, attempt=0, not_before=None), previous=applied)
        return "done"

    def retry_due(self) -> None:
        """Send every retry whose backoff is over."""
        if not self.acting:
            return
        due = sorted(
            key
            for key, restart in self.active.items()
            if restart.phase is Phase.BACKOFF
            and restart.not_before is not None
            and restart.not_before <= self.now
        )
        for name in due:
            self.retry(self.active[name])

    def retry(self, restart: Restart) -> None:
        """Send the next attempt of a restart whose backoff is over (or flushed)."""
        deployment = restart.deployment
        assert restart.data_hash is not None
        if deployment not in self.deployments:
            del self.active[deployment]
            self.record_restart(
                restart,
                RestartFailed,
                reason="not-found",
                error={"reason": "not-found", "status": None, "message": "deployment is gone"},
            )
            return
        if self.applied(deployment) == restart.data_hash:
            # The earlier attempt did land (its answer was lost): the watch
            # shows the hash applied, so do not roll the pods a second time.
            del self.active[deployment]
            generation = self.deployments[deployment].rollout.generation
            self.record_restart(
                restart,
                RestartPatched,
                generation=generation,
                flushed=restart.flushed,
                confirmed_by="watch",
                latency_seconds=round(max(0.0, self.now - restart.change_at), 6),
            )
            self.start_rollout(restart, generation)
            return
        if not self.take_token():
            # Try again once a token is due: keep the backoff phase, move its end.
            self.active[deployment] = replace(
                restart, not_before=self.bucket.next_token_at(self.now)
            )
            return
        del self.active[deployment]
        self.send(restart, previous=self.applied(deployment))

    def send(
        self, restart: Restart, previous: str | None, resource_version: str | None = None
    ) -> None:
        """Plan and send one attempt, conditional on ``resource_version`` (default: cached)."""
        attempt = restart.attempt + 1
        superseded = self.rollouts.pop(restart.deployment, None)
        assert restart.data_hash is not None
        if resource_version is None:
            resource_version = self.resource_version(restart.deployment)
        self.record_restart(
            restart,
            RestartPlanned,
            previous_hash=previous,
            attempt=attempt,
            flushed=restart.flushed,
            supersedes=superseded.correlation_id if superseded is not None else None,
            resource_version=resource_version,
        )
        self.actions.append(
            PatchRestart(
                deployment=restart.deployment[2],
                configmap=source_label(restart.configmap),
                correlation_id=restart.correlation_id,
                data_hash=restart.data_hash,
                attempt=attempt,
                previous_hash=previous,
                resource_version=resource_version,
                namespace=restart.deployment[0],
                kind=restart.deployment[1],
            )
        )
        self.active[restart.deployment] = replace(
            restart, phase=Phase.PATCHING, attempt=attempt, not_before=None
        )
