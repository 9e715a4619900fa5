"""The outbox in front of the journal, and the loop's rule: no patch before its records are durable.

Real SQLite journals throughout; the journal is made unwritable under the
running writer the way a volume turning read-only would (``ReadOnly``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from journal import Journal
from reloader.core import (
    ConfigMapSeen,
    EventType,
    PatchAdopt,
    PatchRestart,
    Policy,
    Record,
    initial_state,
)
from reloader.runtime.health import Health
from reloader.runtime.journal_writer import JournalWriter
from reloader.runtime.leadership import SoleActor
from reloader.runtime.loop import ReconcileLoop
from reloader.runtime.metrics import ControllerMetrics
from tests.reloader.core.scenario import Run, cm, deploy, h
from tests.reloader.e2e.harness import ReadOnly

T0 = datetime(2026, 11, 26, 10, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def journal(tmp_path):
    path = tmp_path / "journal.db"
    journal = Journal.open(str(path), actor="helloworld-controller-0")
    yield journal, path
    journal.close()


def read(path) -> list:
    reader = Journal.open(str(path), readonly=True)
    try:
        return list(reader.read())
    finally:
        reader.close()


def test_records_are_appended_in_order_with_their_decision_time_and_epoch(journal):
    journal_, path = journal
    appended = []
    writer = JournalWriter(journal_, "shipshape", on_append=lambda s, n: appended.append(n))
    for i in range(3):
        writer.submit(
            Record("operator.note", f"configmap/c{i}", f"id-{i}", {"i": i}),
            T0 + timedelta(seconds=i),
            7,
        )
    assert writer.backlog == 3 and not writer.empty
    assert writer.flush() is True and writer.empty
    assert appended == [3], "one transaction for the batch"
    records = read(path)
    assert [
        (r.object, r.correlation_id, r.data["i"], r.leader_epoch, r.namespace) for r in records
    ] == [(f"configmap/c{i}", f"id-{i}", i, 7, "shipshape") for i in range(3)]
    assert [r.ts for r in records] == [T0 + timedelta(seconds=i) for i in range(3)]


def test_a_failing_journal_keeps_records_in_order_and_recovers_on_its_own(journal):
    journal_, path = journal
    clock = Clock()
    errors, recovered = [], []
    writer = JournalWriter(
        journal_,
        "shipshape",
        clock=clock,
        retry_base_seconds=1.0,
        retry_max_seconds=4.0,
        on_error=lambda error, backlog: errors.append(backlog),
        on_recovered=lambda: recovered.append(True),
        max_backlog=3,
    )
    writer.submit(Record("operator.note", None, None, {"n": 0}), T0, None)
    writer.flush()
    with ReadOnly(path):
        writer.submit(Record("operator.note", None, None, {"n": 1}), T0, None)
        assert writer.flush() is False and writer.failing
        assert errors == [1] and "Error" in writer.last_error
        assert writer.retry_at() == clock.now + 1.0
        writer.submit(Record("operator.note", None, None, {"n": 2}), T0, None)
        assert writer.flush() is False and errors == [1], "no attempt before the backoff is over"
        clock.now += 1.0
        assert writer.flush() is False and errors == [1, 2]
        assert writer.retry_at() == clock.now + 2.0, "the backoff doubles"
        writer.submit(Record("operator.note", None, None, {"n": 3}), T0, None)
        assert writer.full
    assert writer.flush(force=True) is True
    assert recovered == [True] and not writer.failing and writer.last_error is None
    assert [r.data["n"] for r in read(path)] == [0, 1, 2, 3]


class Sink:
    """Where the loop hands patches (the real executor would send them)."""

    def __init__(self) -> None:
        self.sent: list = []

    def restart(self, action: PatchRestart) -> None:
        self.sent.append(action)

    def adopt(self, action: PatchAdopt) -> None:
        self.sent.append(action)


def test_the_loop_sends_no_patch_before_its_planned_record_is_durable(journal):
    journal_, path = journal
    clock = Clock()
    health, sink = Health(clock=clock), Sink()
    metrics = ControllerMetrics(CollectorRegistry())
    writer = JournalWriter(
        journal_,
        "shipshape",
        clock=clock,
        retry_base_seconds=0.5,
        on_error=lambda e, b: health.set_journal(False, e, b),
        on_recovered=lambda: health.set_journal(True),
    )
    # A core that has listed one ConfigMap and its (adopted) Deployment.
    run = Run.start(
        [cm("helloworld-config-test", {"M": "1"})],
        [deploy("helloworld-test", h({"M": "1"}))],
        policy=Policy(debounce_seconds=0.0),
    )
    loop = ReconcileLoop(
        initial_state(run.state.policy, "shipshape"),
        writer,
        executor=sink,
        leadership=SoleActor("c0"),
        metrics=metrics,
        health=health,
        clock=clock,
        wall=lambda: T0,
    )
    loop.state = run.state
    with ReadOnly(path):
        loop.apply(
            ConfigMapSeen(EventType.MODIFIED, cm("helloworld-config-test", {"M": "2"}, rv="5"))
        )
        loop.commit()
        assert sink.sent == [], "the plan is not durable, so nothing is sent"
        assert [r.kind for r in writer.pending()] == [
            "configmap.observed",
            "debounce.scheduled",
            "restart.planned",
        ]
        ready, detail = health.readiness(True)
        assert not ready and "journal not writable" in detail["reasons"][-1]
    clock.now += 1.0
    loop.commit()
    [patch] = sink.sent
    assert isinstance(patch, PatchRestart) and patch.data_hash == h({"M": "2"})
    kinds = [r.kind for r in read(path)]
    assert kinds[-1] == "restart.planned"
    assert metrics.registry.get_sample_value("configmap_reload_pending_restarts") == 1


def test_api_error_text_is_journaled_redacted_and_bounded(journal):
    journal_, path = journal
    writer = JournalWriter(journal_, "shipshape")
    raw = "Conflict: token=abc123secret " + "z" * 5000
    error = {"reason": "conflict", "status": 409, "message": raw}
    for kind in ("restart.retry", "restart.failed", "restart.dropped", "restart.superseded"):
        writer.submit(Record(kind, "deployment/d", "id", {"error": error, "attempt": 1}), T0, 1)
    writer.submit(Record("watch.error", None, None, {"error": raw, "status": 500}), T0, 1)
    assert writer.flush() is True
    records = read(path)
    assert len(records) == 5
    for record in records:
        text = record.data["error"] if isinstance(record.data["error"], str) else None
        if text is None:
            assert record.data["error"]["reason"] == "conflict"
            assert record.data["error"]["status"] == 409
            text = record.data["error"]["message"]
        assert len(text) <= 512 and "abc123secret" not in text
        assert text.startswith("Conflict: token=[REDACTED] zzz")
    assert records[0].data["attempt"] == 1
