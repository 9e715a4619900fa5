"""What the answers to patches and adoptions mean: patched, retry, failed,
superseded or sent again on the state just read.

Part of the step builder (:mod:`reloader.core.reconciler`): methods of the
other parts are reached through ``self``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from records import (
    RestartDropped,
    RestartFailed,
    RestartPatched,
    RestartRetry,
    RestartSuperseded,
    kinds,
)
from reloader.core.backoff import backoff_delay
from reloader.core.events import (
    AdoptFailed,
    AdoptRefused,
    Failure,
    PatchFailed,
    PatchFenced,
    PatchRefused,
    PatchSucceeded,
)
from reloader.core.reconcile.scratch import Scratch
from reloader.core.state import AppliedOverride, Phase, Restart


class Outcomes(Scratch):
    def answered(
        self, event: PatchSucceeded | PatchFailed | PatchFenced | PatchRefused
    ) -> Restart | None:
        """The active restart a patch's answer is for.

        None for a late answer: the restart was settled meanwhile (and
        another may have started, in a chain of its own).
        """
        restart = self.active.get(self.key_of(event.namespace, event.kind, event.deployment))
        if restart is None or restart.correlation_id != event.correlation_id:
            return None
        return restart

    def on_patch_succeeded(self, event: PatchSucceeded) -> None:
        restart = self.answered(event)
        if restart is None:
            return
        key = restart.deployment
        del self.active[key]
        assert restart.data_hash is not None
        self.overrides[key] = AppliedOverride(restart.data_hash, event.generation)
        self.record_restart(
            restart,
            RestartPatched,
            generation=event.generation,
            flushed=restart.flushed,
            latency_seconds=round(max(0.0, self.now - restart.change_at), 6),
        )
        self.start_rollout(restart, event.generation)

    def on_patch_failed(self, event: PatchFailed) -> None:
        restart = self.answered(event)
        if restart is None:
            return
        key = restart.deployment
        failure = event.failure
        if self.stopping:
            del self.active[key]
            self.record_restart(
                restart,
                RestartDropped,
                reason="shutdown",
                error=failure.as_dict(),
            )
            return
        if failure.retriable and restart.attempt < self.policy.retry_max_attempts:
            # A throttled patch (429) waits at least what the server asked.
            backoff = backoff_delay(self.policy, restart.attempt, event.jitter)
            self.back_off(restart, max(backoff, failure.retry_after), event.jitter, failure)
            return
        del self.active[key]
        self.record_restart(
            restart,
            RestartFailed,
            reason=failure.reason if not failure.retriable else "retries-exhausted",
            error=failure.as_dict(),
            next_resync_in_seconds=self.resync_in(),
        )

    def back_off(
        self, restart: Restart, delay: float, jitter: float, failure: Failure, **fields: Any
    ) -> None:
        """Hold ``restart`` for ``delay`` seconds before its next attempt (``restart.retry``)."""
        self.active[restart.deployment] = replace(
            restart, phase=Phase.BACKOFF, not_before=self.now + delay
        )
        self.record_restart(
            restart,
            RestartRetry,
            next_attempt=restart.attempt + 1,
            delay_seconds=round(delay, 6),
            jitter=jitter,
            error=failure.as_dict(),
            **fields,
        )

    def on_patch_fenced(self, event: PatchFenced) -> None:
        restart = self.answered(event)
        if restart is None:
            return
        key = restart.deployment
        if not self.acting:
            # Fenced after the term ended (the answer came in a shutdown's
            # flush, say): given up at once for whoever leads next, as the
            # loss gives up what is not in flight (Leadership.give_up).
            del self.active[key]
            self.record_not_leader(restart)
            return
        # The patch was not sent, so the attempt does not count. Wait one base
        # backoff: by then leadership is confirmed again (and the patch goes
        # out) or lost (and the next leader finds the drift by itself).
        delay = self.policy.retry_base_seconds
        self.active[key] = replace(
            restart, phase=Phase.BACKOFF, attempt=restart.attempt - 1, not_before=self.now + delay
        )
        self.record_restart(
            restart,
            RestartRetry,
            next_attempt=restart.attempt,
            delay_seconds=round(delay, 6),
            jitter=None,
            error={"reason": "fenced", "status": None, "message": "leadership not confirmed"},
        )

    def on_patch_refused(self, event: PatchRefused) -> None:
        """Decide again on the Deployment as read after a refused precondition.

        Nothing was written. If the planned hash is applied already (an earlier
        attempt, or a process that died before its answer, did land it), or a
        newer one that is the desired hash, the restart is superseded: journaled
        and never sent again. Otherwise a refused first attempt goes out again
        at once, conditional on the state just read; a later one waits a
        backoff (``Policy.conflict_backoff``).
        """
        restart = self.answered(event)
        if restart is None:
            return
        key = restart.deployment
        planned = restart.data_hash
        if not event.found:
            del self.active[key]
            self.record_restart(
                restart,
                RestartFailed,
                reason="not-found",
                error={"reason": "not-found", "status": 404, "message": "deployment is gone"},
                next_resync_in_seconds=self.resync_in(),
            )
            return
        applied = event.applied_hash
        reason = None
        if applied is not None and applied == planned:
            reason = kinds.SUPERSEDED_APPLIED
        elif applied is not None and applied == self.desired(key):
            reason = kinds.SUPERSEDED_NEWER
        if reason is not None:
            assert applied is not None
            del self.active[key]
            self.overrides[key] = AppliedOverride(applied, event.generation)
            self.record_restart(
                restart,
                RestartSuperseded,
                planned_hash=planned,
                applied_hash=applied,
                reason=reason,
                resource_version=event.resource_version,
                generation=event.generation,
                error=event.failure.as_dict(),
            )
            return
        if restart.attempt >= self.policy.retry_max_attempts:
            del self.active[key]
            self.record_restart(
                restart,
                RestartFailed,
                reason="retries-exhausted",
                error=event.failure.as_dict(),
                next_resync_in_seconds=self.resync_in(),
            )
            return
        reread = {
            "applied_hash": applied,
            "resource_version": event.resource_version,
            "generation": event.generation,
        }
        if self.policy.conflict_backoff and restart.attempt > 1:
            # Refused again on the version just read: someone keeps writing
            # the workload (an autoscaler, another controller). Back off as
            # after a failure rather than spend every attempt in milliseconds;
            # the attempt then goes out on the version the watch has by then.
            delay = backoff_delay(self.policy, restart.attempt - 1, event.jitter)
            self.back_off(restart, delay, event.jitter, event.failure, reread=reread)
            return
        self.record_restart(
            restart,
            RestartRetry,
            next_attempt=restart.attempt + 1,
            delay_seconds=0.0,
            jitter=None,
            error=event.failure.as_dict(),
            reread=reread,
        )
        del self.active[key]
        self.send(restart, previous=applied, resource_version=event.resource_version)

    def on_adopt_refused(self, event: AdoptRefused) -> None:
        """Adopt again on the state just read, unless the Deployment carries another hash
        now than the one the adoption replaces (none, for a first adoption).

        A hash set meanwhile (by another adoption or a restart) reaches the
        cache through the watch, which then decides on it as on any change.
        """
        key = self.key_of(event.namespace, event.kind, event.deployment)
        override = self.overrides.get(key)
        if (
            not event.found
            or override is None
            or event.applied_hash != override.replaces
            or override.generation is not None
            or not self.acting
        ):
            return
        self.actions.append(
            self.adopt_action(
                key, self.chain_id_for(key) or "", override.data_hash, event.resource_version
            )
        )

    def on_adopt_failed(self, event: AdoptFailed) -> None:
        # The in-memory override keeps the adopted hash; the next resync
        # finds the annotation still missing and sends the adoption again.
        return
