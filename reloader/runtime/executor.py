"""Carrying out the core's patches on worker threads and reporting the outcome back.

Each restart is fenced: just before the request goes out the worker asks the
leadership whether this replica may still act, and sends nothing if not.
Outcomes come back to the reconcile loop as core events (``PatchSucceeded``,
``PatchFailed`` with a fresh jitter draw, ``PatchFenced``, ``AdoptFailed``).
Every patch is conditional on the Deployment's resourceVersion at the
decision; when the API refuses one (409), the worker reads the Deployment
again and reports what it found (``PatchRefused``, ``AdoptRefused``) for the
core to decide again.
The Kubernetes Event of a restart is created after its success is reported,
on a best-effort basis: a failure there is logged and counted, never retried.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from reloader.core import (
    AdoptFailed,
    AdoptRefused,
    DeploymentView,
    Event,
    Failure,
    PatchAdopt,
    PatchFailed,
    PatchFenced,
    PatchRefused,
    PatchRestart,
    PatchSucceeded,
    WarnWorkload,
)
from reloader.kube.api import API_KIND
from reloader.kube.errors import classify
from reloader.kube.restarts import DeploymentPatcher, is_refused
from reloader.kube.views import deployment_view
from reloader.runtime.health import Health
from reloader.runtime.leadership import Leadership
from reloader.runtime.metrics import ControllerMetrics
from reloader.runtime.threadnames import name_this_thread

log = logging.getLogger(__name__)


class PatchExecutor:
    """A small pool of workers sending patches."""

    def __init__(
        self,
        patcher: DeploymentPatcher,
        leadership: Leadership,
        post: Callable[[Event], None],
        metrics: ControllerMetrics,
        *,
        workers: int = 4,
        rng: random.Random | None = None,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        health: Health | None = None,
    ) -> None:
        """Send through ``patcher``; report outcomes with ``post``, forbidden ones to ``health``."""
        self._patcher = patcher
        self._leadership = leadership
        self._post = post
        self._metrics = metrics
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._rng_lock = threading.Lock()
        self._wall = wall
        self._health = health
        self._pool = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="patch", initializer=name_this_thread
        )
        self._lock = threading.Lock()
        self._outstanding = 0

    @property
    def outstanding(self) -> int:
        """Patches submitted and not yet answered."""
        with self._lock:
            return self._outstanding

    def restart(self, action: PatchRestart) -> None:
        """Send a restart patch in the background."""
        self._submit(self._restart, action)

    def adopt(self, action: PatchAdopt) -> None:
        """Send an adoption patch in the background."""
        self._submit(self._adopt, action)

    def warn(self, action: WarnWorkload) -> None:
        """Create a warning Event in the background (best effort, never retried)."""
        self._submit(self._warn, action)

    def _warn(self, action: WarnWorkload) -> None:
        try:
            self._patcher.warn(action, self._wall())
        except Exception as error:
            failure = classify(error)
            self._metrics.errors.labels("event", failure.reason).inc()
            log.warning(
                "could not create the warning Event",
                extra={
                    "fields": {"object": f"{action.kind}/{action.name}", "reason": failure.reason}
                },
            )

    def shutdown(self) -> None:
        """Stop taking work; requests in flight finish on their own."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _submit(self, work: Callable, action: PatchRestart | PatchAdopt | WarnWorkload) -> None:
        with self._lock:
            self._outstanding += 1
        self._pool.submit(self._guarded, work, action)

    def _guarded(self, work: Callable, action: PatchRestart | PatchAdopt | WarnWorkload) -> None:
        try:
            work(action)
        except Exception:  # a bug in the reporting itself must not kill the worker silently
            log.exception(
                "patch worker failed", extra={"fields": {"action": type(action).__name__}}
            )
        finally:
            with self._lock:
                self._outstanding -= 1

    def _jitter(self) -> float:
        with self._rng_lock:
            return self._rng.random()

    def _restart(self, action: PatchRestart) -> None:
        fields = {
            "deployment": f"{action.kind}/{action.deployment}",
            "namespace": action.namespace,
            "configmap": action.configmap,
            "correlation_id": action.correlation_id,
            "attempt": action.attempt,
        }
        if not self._leadership.confirm():
            log.warning("restart not sent: leadership not confirmed", extra={"fields": fields})
            self._post(
                PatchFenced(action.deployment, action.correlation_id, action.namespace, action.kind)
            )
            return
        now = self._wall()
        try:
            deployment = self._patcher.restart(action, now)
        except Exception as error:
            failure = classify(error)
            self._metrics.errors.labels("patch", failure.reason).inc()
            self._permission("patch", failure, action.namespace)
            if is_refused(error) and action.resource_version:
                refused = self._reread_restart(action, failure)
                if refused is not None:
                    log.info(
                        "restart patch refused: the deployment changed since the decision",
                        extra={
                            "fields": {
                                **fields,
                                "applied_hash": refused.applied_hash,
                                "planned_hash": action.data_hash,
                                "resource_version": refused.resource_version,
                            }
                        },
                    )
                    self._post(refused)
                    return
            log.warning(
                "restart patch failed",
                extra={
                    "fields": {
                        **fields,
                        "reason": failure.reason,
                        "status": failure.status,
                        "detail": failure.message,
                    }
                },
            )
            self._post(
                PatchFailed(
                    action.deployment,
                    action.correlation_id,
                    failure,
                    self._jitter(),
                    action.namespace,
                    action.kind,
                )
            )
            return
        self._permission("patch", None, action.namespace)
        generation = (deployment.get("metadata") or {}).get("generation")
        log.info("deployment restarted", extra={"fields": {**fields, "generation": generation}})
        self._post(
            PatchSucceeded(
                action.deployment,
                action.correlation_id,
                int(generation) if generation is not None else None,
                action.namespace,
                action.kind,
            )
        )
        try:
            self._patcher.record_event(action, deployment, now)
        except Exception as error:
            failure = classify(error)
            self._metrics.errors.labels("event", failure.reason).inc()
            log.warning(
                "could not create the restart's Event",
                extra={"fields": {**fields, "reason": failure.reason, "detail": failure.message}},
            )

    def _adopt(self, action: PatchAdopt) -> None:
        fields = {
            "deployment": f"{action.kind}/{action.deployment}",
            "namespace": action.namespace,
            "correlation_id": action.correlation_id,
        }
        failed = lambda failure: AdoptFailed(  # noqa: E731 - one call, two places
            action.deployment, failure, action.namespace, action.kind
        )
        if not self._leadership.confirm():
            self._post(failed(classify(RuntimeError("not leader"))))
            return
        try:
            self._patcher.adopt(action)
        except Exception as error:
            failure = classify(error)
            self._metrics.errors.labels("adopt", failure.reason).inc()
            self._permission("adopt", failure, action.namespace)
            if is_refused(error) and action.resource_version:
                current = self._reread(action.deployment, action.namespace, action.kind)
                if current is not None:
                    found, view = current
                    log.info(
                        "adoption patch refused: the deployment changed since the decision",
                        extra={"fields": fields},
                    )
                    self._post(
                        AdoptRefused(
                            action.deployment,
                            found,
                            view.applied_hash if view is not None else None,
                            view.resource_version if view is not None else "",
                            action.namespace,
                            action.kind,
                        )
                    )
                    return
            log.warning(
                "adoption patch failed; the resync sends it again",
                extra={"fields": {**fields, "reason": failure.reason, "detail": failure.message}},
            )
            self._post(failed(failure))
            return
        self._permission("adopt", None, action.namespace)
        log.info("deployment adopted", extra={"fields": {**fields, "data_hash": action.data_hash}})

    def _reread_restart(self, action: PatchRestart, failure: Failure) -> PatchRefused | None:
        """The refusal with the Deployment as read now; None when the read fails too."""
        current = self._reread(action.deployment, action.namespace, action.kind)
        if current is None:
            return None
        found, view = current
        return PatchRefused(
            action.deployment,
            action.correlation_id,
            failure,
            found=found,
            applied_hash=view.applied_hash if view is not None else None,
            resource_version=view.resource_version if view is not None else "",
            generation=view.rollout.generation if view is not None else None,
            namespace=action.namespace,
            kind=action.kind,
            jitter=self._jitter(),
        )

    def _reread(
        self, name: str, namespace: str = "", kind: str = "deployment"
    ) -> tuple[bool, DeploymentView | None] | None:
        """Read a workload again: ``(found, view)``, or None when the read failed."""
        try:
            obj = self._patcher.read(name, namespace, kind)
        except Exception as error:
            failure = classify(error)
            self._metrics.errors.labels("read", failure.reason).inc()
            log.warning(
                "could not read the deployment again after a refused patch",
                extra={"fields": {"deployment": name, "reason": failure.reason}},
            )
            return None
        if obj is None:
            return False, None
        return True, deployment_view(obj, API_KIND[kind])

    def _permission(self, operation: str, failure: Failure | None, namespace: str) -> None:
        """Report a forbidden ``operation`` in ``namespace`` to health, or that it went through.

        Per namespace: with several watched, RBAC may allow one and not another.
        """
        if self._health is None:
            return
        namespace = namespace or self._patcher.namespace
        if failure is None:
            self._health.set_forbidden(operation, None, namespace)
        elif failure.reason == "forbidden":
            self._health.set_forbidden(operation, failure.message, namespace)
