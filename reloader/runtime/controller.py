"""Wiring: the threads of one controller process, started and stopped in order.

Start: HTTP endpoints, ``controller.started``, leadership, the list/watch
loops (ConfigMaps, the workload kinds, Secrets with ``WATCH_SECRETS``), then
the reconcile loop. Stop (SIGTERM): ``/readyz`` turns 503, the
watches stop, pending restarts are flushed (``restart.flushed``), leadership
is released (``leader.released``: a standby takes over at once), the journal
gets ``controller.stopped``, the endpoints close.

Leadership changes reach the reconcile loop as core events. When this replica
wins an election, every watch is asked to list afresh: the core acts only
once those lists are in, so it never decides from a cache that lags behind the
previous leader's last patches.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from kubernetes import client
from prometheus_client import CollectorRegistry

from journal import Journal, JournalError
from journal.checkpoints import CheckpointWriter
from records import ControllerStarted, ControllerStopped, Payload, kinds
from reloader.core import (
    Event,
    LeaderObserved,
    LeadershipChanged,
    Record,
    Resource,
    initial_state,
)
from reloader.kube.restarts import DeploymentPatcher
from reloader.runtime.executor import PatchExecutor
from reloader.runtime.health import Health
from reloader.runtime.http import HttpServer, create_app
from reloader.runtime.journal_writer import JournalWriter
from reloader.runtime.leadership import Leadership
from reloader.runtime.loop import LOOP, ReconcileLoop
from reloader.runtime.metrics import ControllerMetrics
from reloader.runtime.settings import Settings
from reloader.runtime.threadnames import named
from reloader.runtime.watches import Watches
from telemetry import buildinfo

log = logging.getLogger(__name__)

# Extra silence allowed to the reconcile loop before /healthz calls it stuck:
# one journal append may wait for the busy timeout.
_LOOP_LIMIT_SECONDS = 30.0
ELECTOR = "elector"


class Controller:
    """One controller process: every thread, and the order they start and stop in."""

    def __init__(
        self,
        settings: Settings,
        journal: Journal | CheckpointWriter,
        api_client: client.ApiClient,
        leadership: Leadership,
        registry: CollectorRegistry,
    ) -> None:
        """Build every part; nothing runs until :meth:`run`."""
        self.settings = settings
        self._journal = journal
        self._leadership = leadership
        policy = settings.policy()
        resources = [
            Resource.CONFIGMAPS,
            *(Resource(kind) for kind in policy.workload_kinds),
            *([Resource.SECRETS] if policy.watch_secrets else []),
        ]
        self.metrics = ControllerMetrics(
            registry, settings.namespace, [resource.value for resource in resources]
        )
        # A forbidden write is tried again on every resync: one not seen for
        # two of them is no longer made (its workload is gone).
        self.health = Health(
            forbidden_ttl=2 * settings.resync_seconds + settings.retry_max_seconds + 60.0
        )
        self.writer = JournalWriter(
            journal,
            settings.namespace,
            on_append=lambda seconds, _records: self.metrics.journal_append.observe(seconds),
            on_error=self._journal_failed,
            on_recovered=lambda: self.health.set_journal(True),
            # A signing writer checkpoints on time as well as on count.
            tick=journal.tick if isinstance(journal, CheckpointWriter) else None,
        )
        self.loop = ReconcileLoop(
            initial_state(settings.policy(), settings.namespace),
            self.writer,
            executor=None,  # set below: the executor posts into the loop's queue
            leadership=leadership,
            metrics=self.metrics,
            health=self.health,
        )
        self.executor = PatchExecutor(
            DeploymentPatcher(api_client, settings.namespace, settings.pod_name),
            leadership,
            self.loop.post,
            self.metrics,
            health=self.health,
        )
        self.loop.set_executor(self.executor)
        self.http = HttpServer(
            create_app(self.health, leadership, registry), settings.http_host, settings.http_port
        )
        self.watches = Watches(
            settings, resources, api_client, self.loop, metrics=self.metrics, health=self.health
        )
        self.health.register(LOOP, _LOOP_LIMIT_SECONDS)
        election = settings.leader_election
        if election.enabled:
            # The elector turns at least once per retry period (1.2 with jitter)
            # and a request never outlasts one; a stalled elector is a stuck pod.
            self.health.register(
                ELECTOR, 2.0 * election.retry_period_seconds + election.lease_duration_seconds
            )
        self._threads: list[threading.Thread] = []
        self._crashed = False
        self._started = time.monotonic()

    # ------------------------------------------------------------------ public

    def request_stop(self, reason: str) -> None:
        """Begin the orderly stop (called from the signal handler's thread)."""
        log.info("stop requested", extra={"fields": {"reason": reason}})
        self.loop.request_stop(reason)

    def run(self) -> int:
        """Run until stopped; return the process exit code (0 after an orderly stop)."""
        self.http.start()
        log.info(
            "controller starting",
            extra={
                "fields": {
                    "identity": self.settings.pod_name,
                    "namespace": self.settings.namespace,
                    "selector": self.settings.configmap_label_selector,
                    "http_port": self.http.port,
                    "version": buildinfo.VERSION,
                    "debounce_seconds": self.settings.debounce_seconds,
                }
            },
        )
        self._record(
            ControllerStarted(
                identity=self.settings.pod_name,
                version=buildinfo.VERSION,
                commit=buildinfo.commit(),
                pid=os.getpid(),
                settings=self.settings.summary(),
            )
        )
        self.loop.commit()
        self._leadership.start(
            self._leadership_changed,
            on_error=lambda reason: self.metrics.errors.labels("lease", reason).inc(),
            on_progress=lambda: self.health.beat(ELECTOR),
        )
        self.watches.start(self._spawn)
        done = threading.Event()
        self._spawn(LOOP, self._run_loop, done)
        # Signal handlers still run while this thread waits: a lock wait is
        # interrupted for them. No polling, so an idle controller stays idle.
        done.wait()
        return self._stop()

    # ---------------------------------------------------------------- internal

    def _run_loop(self, done: threading.Event) -> None:
        try:
            self.loop.run(self.settings.shutdown_timeout_seconds, on_stopping=self.watches.stop)
        except Exception:
            self._crashed = True
            log.critical("the reconcile loop crashed", exc_info=True)
        finally:
            done.set()

    def _stop(self) -> int:
        self.watches.stop()
        self.executor.shutdown()
        reason = "crash" if self._crashed else self.loop.stop_reason
        # The flush is over: give the Lease up so that a standby takes over at
        # once, and journal that (the loop no longer runs: apply it here).
        if not self._leadership.release():
            log.warning("the leadership was not released in time")
        self.health.finished(ELECTOR)
        self.metrics.leader_state.set(0)
        self.loop.apply_leftovers(
            lambda event: isinstance(event, LeadershipChanged | LeaderObserved)
        )
        self._record(
            ControllerStopped(
                reason=reason,
                flushed=self.loop.flushed,
                dropped=self.loop.dropped,
                uptime_seconds=round(time.monotonic() - self._started, 3),
            )
        )
        self.loop.commit()
        if not self.writer.empty:
            log.error(
                "journal records could not be written before exit",
                extra={
                    "fields": {"backlog": self.writer.backlog, "detail": self.writer.last_error}
                },
            )
        self.http.stop()
        try:
            self._journal.close()  # a signing writer signs the last records here
        except JournalError as error:
            log.error("closing the journal failed", extra={"fields": {"detail": str(error)}})
        log.info(
            "controller stopped",
            extra={
                "fields": {
                    "reason": reason,
                    "flushed": self.loop.flushed,
                    "dropped": self.loop.dropped,
                }
            },
        )
        return 1 if self._crashed else 0

    def _spawn(self, name: str, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=named(target), args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _record(self, payload: Payload) -> None:
        epoch = self._leadership.epoch() if self._leadership.is_leader() else None
        record = Record(payload.KIND, None, None, payload.to_data())
        self.writer.submit(record, datetime.now(UTC), epoch)

    def _leadership_changed(self, event: Event) -> None:
        """Called by the leadership (its own thread): never block it."""
        if isinstance(event, LeadershipChanged):
            self.metrics.leader_state.set(1 if event.acting else 0)
            if event.lease is not None:
                self.metrics.leader_transitions.inc()
                latency = event.detail.get("acquire_latency_seconds")
                if event.acting and isinstance(latency, int | float):
                    self.metrics.leader_acquire_latency.observe(latency)
            else:
                log.info("leadership changed", extra={"fields": {"acting": event.acting}})
        self.loop.post_urgent(event)
        if isinstance(event, LeadershipChanged) and event.acting and event.await_relist:
            # After the event is queued, so that these lists come after it.
            self.watches.relist(kinds.RELIST_LEADER)

    def _journal_failed(self, error: str, backlog: int) -> None:
        self.metrics.journal_errors.inc()
        self.metrics.errors.labels("journal", "write").inc()
        self.health.set_journal(False, error, backlog)
