"""The reconcile loop: events that never wait, standbys that pend nothing, a failing journal."""

from __future__ import annotations

import queue
import threading
import time
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry

from journal import Journal
from records import kinds as k
from reloader.core import (
    ConfigMapSeen,
    DeploymentSeen,
    EventType,
    LeaderObserved,
    LeadershipChanged,
    Policy,
    Tick,
)
from reloader.runtime.health import Health
from reloader.runtime.journal_writer import JournalWriter
from reloader.runtime.leadership import SoleActor
from reloader.runtime.loop import ReconcileLoop
from reloader.runtime.metrics import ERROR_LABELS, ControllerMetrics
from tests.reloader.core.scenario import Run, cm, deploy, h, workload
from tests.reloader.e2e.harness import wait_for

V1 = {"MESSAGE": "one"}
V2 = {"MESSAGE": "two"}
LEASE = "helloworld-controller-leader"


class Sink:
    """An executor that keeps what it is given."""

    def __init__(self) -> None:
        self.sent: list = []

    def restart(self, action) -> None:
        self.sent.append(action)

    def adopt(self, action) -> None:
        self.sent.append(action)

    def warn(self, action) -> None:
        self.sent.append(action)


def make_loop(
    tmp_path,
    *,
    acting: bool,
    size: int = 10_000,
    linger: float = 0.05,
    max_wait: float = 0.25,
    commit_records: int = 32,
) -> tuple[ReconcileLoop, Journal, CollectorRegistry]:
    journal = Journal.open(str(tmp_path / "journal.db"), actor="helloworld-controller-1")
    metrics = ControllerMetrics(CollectorRegistry(), "shipshape")
    run = Run.start(
        [cm("helloworld-config-test", V1)],
        [deploy("helloworld-test", h(V1))],
        policy=Policy(debounce_seconds=1.0),
        acting=acting,
    )
    loop = ReconcileLoop(
        run.state,
        JournalWriter(journal, "shipshape"),
        executor=Sink(),
        leadership=SoleActor("helloworld-controller-1"),
        metrics=metrics,
        health=Health(),
        events=queue.Queue(size),
        linger_seconds=linger,
        commit_records=commit_records,
        max_wait_seconds=max_wait,
        clock=lambda: 10.0,
        wall=lambda: datetime(2026, 11, 26, 10, 0, tzinfo=UTC),
    )
    return loop, journal, metrics.registry


def test_leadership_events_never_wait_for_room_in_a_full_queue(tmp_path):
    loop, journal, _ = make_loop(tmp_path, acting=False, size=1)
    loop.post(Tick())  # the queue is now full
    done = threading.Event()

    def elector() -> None:
        loop.post_urgent(LeadershipChanged(True, lease=LEASE, epoch=3, await_relist=True))
        loop.post_urgent(LeaderObserved(LEASE, "helloworld-controller-0", 2))
        done.set()

    threading.Thread(target=elector, daemon=True).start()
    assert done.wait(2), "the elector's thread blocked on the loop's queue"
    # After the loop ended (shutdown), only the leadership events are applied.
    assert loop.apply_leftovers(lambda e: isinstance(e, LeadershipChanged | LeaderObserved)) == 2
    loop.commit()
    kinds = [r.kind for r in journal.read()]
    assert kinds[-2:] == [k.LEADER_ACQUIRED, k.LEADER_OBSERVED]
    assert loop.events.empty()
    journal.close()


def test_a_standby_reports_no_pending_restart_while_its_windows_are_open(tmp_path):
    for acting, expected in ((False, 0), (True, 1)):
        workdir = tmp_path / ("leader" if acting else "standby")
        workdir.mkdir()
        loop, journal, registry = make_loop(workdir, acting=acting)
        change = cm("helloworld-config-test", V2, rv="11")
        loop.apply(ConfigMapSeen(EventType.MODIFIED, change))
        assert loop.state.windows, "both open a debounce window"
        assert registry.get_sample_value("configmap_reload_pending_restarts") == expected
        journal.close()


def test_a_fresh_controller_exports_the_series_its_alerts_need_at_zero(tmp_path):
    registry = CollectorRegistry()
    metrics = ControllerMetrics(registry)
    errors = {
        (sample.labels["operation"], sample.labels["reason"]): sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name == "configmap_reload_errors_total"
    }
    assert set(errors) == set(ERROR_LABELS) and set(errors.values()) == {0.0}
    assert ("patch", "conflict") in errors and ("journal", "write") in errors
    assert registry.get_sample_value("configmap_reload_retry_total") == 0.0
    assert registry.get_sample_value("configmap_reload_dropped_restarts_total") == 0.0
    for outcome in ("completed", "timeout"):
        assert (
            registry.get_sample_value("configmap_reload_rollouts_total", {"outcome": outcome}) == 0
        )
    assert metrics.restarts.collect()[0].samples == []


def test_every_workload_a_source_may_restart_has_its_restart_counter_once_listed(tmp_path):
    loop, journal, registry = make_loop(tmp_path, acting=True)
    try:
        seen = [
            deploy("helloworld-prod", h(V1)),
            deploy("unlabelled", h(V1), env=""),
            workload("StatefulSet", "db", {"reloader.stakater.com/auto": "true"}, ns="team-a"),
            workload("DaemonSet", "agent", {"reloader.stakater.com/auto": "false"}, ns="team-a"),
        ]
        for view in seen:
            loop.apply(DeploymentSeen(EventType.ADDED, view, "list"))
        restarts = {
            (s.labels["workload_namespace"], s.labels["kind"], s.labels["deployment"]): s.value
            for family in registry.collect()
            for s in family.samples
            if s.name == "configmap_reload_restarts_total"
        }
        # The label rule's Deployment (in the controller's namespace) and the
        # opted-in StatefulSet; not the unlabelled one, nor the opted-out one.
        assert restarts == {
            ("shipshape", "deployment", "helloworld-prod"): 0.0,
            ("team-a", "statefulset", "db"): 0.0,
        }
    finally:
        journal.close()


UNRELATED = ConfigMapSeen(EventType.MODIFIED, cm("unrelated-config", V2, rv="9", app=""))


def _gathering(loop: ReconcileLoop, first=UNRELATED) -> threading.Thread:
    """The loop's group-commit wait, on a thread (its clock stands still: it waits a minute).

    It begins with ``first``, here a change nothing depends on: records to
    make durable, so the loop waits for more before it commits.
    """
    thread = threading.Thread(target=loop._gather, args=(first, 10.0), daemon=True)
    thread.start()
    wait_for(lambda: loop._journal.backlog, "the first event's records")
    return thread


def test_an_event_posted_to_the_loop_ends_a_group_commit_wait_and_takes_the_watch_events(tmp_path):
    loop, journal, _ = make_loop(tmp_path, acting=True, linger=60.0)
    gathering = _gathering(loop)
    # A watch event is put on the queue directly: it waits for the end of the wait.
    loop.events.put(ConfigMapSeen(EventType.MODIFIED, cm("helloworld-config-test", V2, rv="11")))
    # What must not wait (here a leadership observation) is posted, and ends it.
    loop.post_urgent(LeaderObserved(LEASE, "helloworld-controller-0", 2))
    gathering.join(30)
    assert not gathering.is_alive(), "the posted event did not end the wait"
    loop.commit()
    kinds = [r.kind for r in journal.read()]
    assert kinds == [
        k.CONFIGMAP_OBSERVED,
        k.DEBOUNCE_SKIPPED,
        k.CONFIGMAP_OBSERVED,
        k.DEBOUNCE_SCHEDULED,
        k.LEADER_OBSERVED,
    ]
    assert loop.events.empty()
    journal.close()


def test_watch_events_wait_for_the_end_of_a_group_commit_and_count_from_when_they_came(tmp_path):
    """One wake-up for the whole wait; each event is handled at the time it was read."""
    now = [10.0]
    loop, journal, _ = make_loop(tmp_path, acting=True, linger=60.0)
    loop._clock = lambda: now[0]
    gathering = _gathering(loop)
    change = cm("helloworld-config-test", V2, rv="11")
    loop.events.put(ConfigMapSeen(EventType.MODIFIED, change, at=10.1))
    time.sleep(0.3)
    assert not loop.state.windows, "the wait woke to step a watch event"
    now[0] = 10.4
    loop.request_stop("SIGTERM")
    gathering.join(30)
    assert not gathering.is_alive(), "the stop request did not end the wait"
    [window] = loop.state.windows.values()
    assert (window.opened_at, window.due_at) == (10.1, 11.1)  # 1 s debounce, from the event
    loop.commit()
    records = list(journal.read())
    assert [r.kind for r in records] == [
        k.CONFIGMAP_OBSERVED,
        k.DEBOUNCE_SKIPPED,
        k.CONFIGMAP_OBSERVED,
        k.DEBOUNCE_SCHEDULED,
    ]
    # The loop's wall clock reads 10:00:00 at the step, 0.3 s after the event came.
    stepped = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    assert [r.ts for r in records[2:]] == [stepped - timedelta(seconds=0.3)] * 2
    assert records[0].ts == stepped
    journal.close()


def test_a_step_with_nothing_to_make_durable_does_not_wait(tmp_path):
    """A tick, or a watch event that changes nothing, commits nothing: no linger to wait out."""
    loop, journal, _ = make_loop(tmp_path, acting=True, linger=60.0)
    gathering = threading.Thread(target=loop._gather, args=(Tick(), 10.0), daemon=True)
    gathering.start()
    gathering.join(30)
    assert not gathering.is_alive(), "the loop lingered with nothing to commit"
    assert list(journal.read()) == []
    journal.close()


def _unrelated_changes(count: int) -> list[ConfigMapSeen]:
    """Changes to ConfigMaps nothing depends on: two records each, no window."""
    return [
        ConfigMapSeen(EventType.MODIFIED, cm(f"unrelated-{i}", V2, rv=str(20 + i), app=""))
        for i in range(count)
    ]


def _grouping_loop(tmp_path, queued: list[ConfigMapSeen]) -> tuple[ReconcileLoop, Journal]:
    """A loop whose group commit is worth its sync at 8 records, with ``queued`` waiting."""
    loop, journal, _ = make_loop(tmp_path, acting=True, linger=60.0, commit_records=8)
    for event in queued:
        loop.events.put(event)
    return loop, journal


def test_a_commits_worth_of_records_at_hand_ends_a_group_commit_wait(tmp_path):
    """A busy watch's window brings many changes at once: their commit does not wait for more."""
    loop, journal = _grouping_loop(tmp_path, _unrelated_changes(3))  # with the first: 8 records
    gathering = threading.Thread(target=loop._gather, args=(UNRELATED, 10.0), daemon=True)
    gathering.start()
    gathering.join(30)
    assert not gathering.is_alive(), "the loop lingered with a commit's worth of records"
    assert loop._journal.backlog == 8
    journal.close()


def test_a_commits_worth_waits_for_the_rest_of_a_window_being_handed_over(tmp_path):
    """A large window reaches the loop in parts; one commit takes it whole."""
    *part, rest = _unrelated_changes(4)
    loop, journal = _grouping_loop(tmp_path, [])
    loop.delivering(True)  # a watch thread begins to hand its window over
    for event in part:
        loop.events.put(event)
    gathering = _gathering(loop)
    time.sleep(0.3)
    assert gathering.is_alive(), "the loop committed part of a window"
    loop.events.put(rest)
    loop.delivering(False)  # the window is all in
    gathering.join(30)
    assert not gathering.is_alive(), "the end of the hand-over did not end the wait"
    assert loop._journal.backlog == 10
    journal.close()


def test_fewer_records_than_a_commits_worth_wait_for_more(tmp_path):
    loop, journal = _grouping_loop(tmp_path, _unrelated_changes(2))  # with the first: 6 records
    gathering = _gathering(loop)
    time.sleep(0.3)
    assert gathering.is_alive(), "the loop committed 6 records without waiting for more"
    assert loop._journal.backlog == 6
    loop.request_stop("SIGTERM")
    gathering.join(30)
    assert not gathering.is_alive()
    journal.close()


def test_a_patch_decided_on_the_events_at_hand_ends_a_group_commit_wait(tmp_path):
    """A new workload's adoption goes out once its records are durable, not a linger later."""
    loop, journal, _ = make_loop(tmp_path, acting=True, linger=60.0)
    canary = deploy("helloworld-test-canary", None, env="test")
    gathering = threading.Thread(
        target=loop._gather, args=(DeploymentSeen(EventType.ADDED, canary), 10.0), daemon=True
    )
    gathering.start()
    gathering.join(30)
    assert not gathering.is_alive(), "the held adoption did not end the wait"
    loop.commit()
    [adoption] = loop._executor.sent
    assert adoption.deployment == "helloworld-test-canary" and adoption.data_hash == h(V1)
    journal.close()


def test_a_debounce_window_due_during_a_group_commit_ends_it_at_its_deadline(tmp_path):
    """The wait ends when a window the loop knows of is due, not at the end of the linger."""
    now = [10.0]
    loop, journal, _ = make_loop(tmp_path, acting=True, linger=60.0)
    loop._clock = lambda: now[0]
    loop.apply(ConfigMapSeen(EventType.MODIFIED, cm("helloworld-config-test", V2, rv="11")))
    assert loop.state.windows, "the change opened its window (due at 11.0)"
    now[0] = 10.5
    gathering = _gathering(loop)
    now[0] = 11.5  # past the window's 1 s debounce
    gathering.join(10)
    assert not gathering.is_alive(), "the due window did not end the wait"
    journal.close()


def test_a_stop_request_wakes_an_idle_loop_at_once(tmp_path):
    """An idle loop waits on its queue for long (here a minute); a stop does not wait for that."""
    loop, journal, _ = make_loop(tmp_path, acting=True, max_wait=60.0)
    runner = threading.Thread(target=loop.run, args=(5.0,), daemon=True)
    runner.start()
    time.sleep(0.3)  # idle: nothing is due, nothing comes
    loop.request_stop("SIGTERM")
    runner.join(10)
    assert not runner.is_alive(), "the stop waited for the idle wait to end"
    journal.close()


def test_a_stop_request_ends_a_group_commit_wait(tmp_path):
    loop, journal, _ = make_loop(tmp_path, acting=True, linger=60.0)
    gathering = _gathering(loop)
    loop.request_stop("SIGTERM")
    gathering.join(30)
    assert not gathering.is_alive(), "the stop request did not end the wait"
    journal.close()


# ----------------------------------------------------------- a journal failing at shutdown


class Flaky:
    """The journal, failing every append while ``broken`` (a full disk, say)."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.broken = True
        self.attempts = 0

    def write_many(self, entries) -> int:
        self.attempts += 1
        if self.broken:
            raise OSError("No space left on device")
        return self.journal.write_many(entries)


def _failing_journal_loop(tmp_path, *, retry_base: float, max_wait: float = 60.0):
    """A running loop on a real clock whose journal fails, holding a change nothing depends on."""
    loop, journal, _ = make_loop(tmp_path, acting=True, linger=0.0, max_wait=max_wait)
    flaky = Flaky(journal)
    loop._clock = time.monotonic
    loop._journal = JournalWriter(
        flaky, "shipshape", retry_base_seconds=retry_base, retry_max_seconds=retry_base
    )
    unrelated = cm("unrelated-config", V2, rv="11", app="")
    loop.events.put(ConfigMapSeen(EventType.MODIFIED, unrelated))
    return loop, journal, flaky


def _running(loop, flaky, flush_seconds: float) -> threading.Thread:
    """Run ``loop`` in a thread until its journal has refused a first append."""
    runner = threading.Thread(target=loop.run, args=(flush_seconds,), daemon=True)
    runner.start()
    wait_for(lambda: flaky.attempts >= 1, "the first append")
    return runner


def _assert_stopped_with_the_records(runner: threading.Thread, journal: Journal) -> None:
    runner.join(10)
    assert not runner.is_alive()
    kinds = [r.kind for r in journal.read()]
    assert kinds[:2] == [k.CONFIGMAP_OBSERVED, k.DEBOUNCE_SKIPPED]
    journal.close()


def test_a_journal_retry_is_timed_by_the_loop_not_by_the_next_event(tmp_path):
    """An idle loop (waiting a minute for events) wakes for the journal's retry on its own."""
    loop, journal, flaky = _failing_journal_loop(tmp_path, retry_base=0.2)
    runner = _running(loop, flaky, 5.0)
    flaky.broken = False
    wait_for(lambda: len(list(journal.read())) == 2, "the records after the retry")
    assert [r.kind for r in journal.read()] == [k.CONFIGMAP_OBSERVED, k.DEBOUNCE_SKIPPED]
    loop.request_stop("SIGTERM")
    runner.join(10)
    assert not runner.is_alive()
    journal.close()


def test_the_shutdown_flush_waits_for_the_journal_to_take_the_last_records(tmp_path):
    """Nothing is left to restart, but records are not durable yet: the stop waits for them."""
    loop, journal, flaky = _failing_journal_loop(tmp_path, retry_base=0.05)
    runner = _running(loop, flaky, 30.0)
    loop.request_stop("SIGTERM")
    wait_for(lambda: flaky.attempts >= 4, "appends tried again during the flush")
    assert runner.is_alive(), "the loop stopped with records not yet in the journal"
    flaky.broken = False
    _assert_stopped_with_the_records(runner, journal)


def test_the_flush_deadline_makes_a_last_attempt_whatever_the_backoff(tmp_path):
    """A journal back just before the deadline takes the records, though its backoff is long."""
    loop, journal, flaky = _failing_journal_loop(tmp_path, retry_base=3600.0)
    runner = _running(loop, flaky, 1.0)
    flaky.broken = False  # the next attempt is due in an hour: only the deadline's is made
    loop.request_stop("SIGTERM")
    _assert_stopped_with_the_records(runner, journal)
