"""``replay --check``: the core re-run over a journal finds exactly the decisions that differ."""

from __future__ import annotations

from dataclasses import replace

from records import kinds as k
from reloader.core import (
    Failure,
    PatchFailed,
    PatchRefused,
    PatchSucceeded,
    Policy,
    ShutdownRequested,
)
from reloader.core.replay import check
from tests.reloader.core.scenario import Run, cm, deploy, h, journal_of

V1, V2, V3 = {"M": "1"}, {"M": "2"}, {"M": "3"}
UNAVAILABLE = Failure("server-error", retriable=True, status=503, message="unavailable")


def busy_run(**policy) -> Run:
    """A run touching every path: catch-up, debounce, revert, retries, flush."""
    run = Run.start(
        [
            cm("helloworld-config-test", V1, rv="1"),
            cm("helloworld-config-prod", V2, rv="2"),
            cm("helloworld-config-dev", V1, rv="3"),
        ],
        [
            deploy("helloworld-test", h(V1)),
            deploy("helloworld-prod", h(V1)),
            deploy("helloworld-dev", None),
        ],
        policy=Policy(**{"debounce_seconds": 1.0, "retry_base_seconds": 0.5, **policy}),
    )
    # prod: caught up at start
    run.feed(PatchSucceeded("helloworld-prod", run.patches()[-1].correlation_id, 2), at=0.1)
    # test: three quick changes, then a failed attempt and a success
    for i, data in enumerate([V2, V3, {"M": "4"}]):
        run.change(cm("helloworld-config-test", data, rv=str(10 + i)), at=10.0 + 0.2 * i)
    run.run_until(11.0)
    patch = run.patches()[-1]
    run.feed(PatchFailed(patch.deployment, patch.correlation_id, UNAVAILABLE, 0.4), at=11.1)
    run.run_until(13.0)
    run.feed(PatchSucceeded("helloworld-test", patch.correlation_id, 3), at=13.0)
    # dev: a change reverted inside its window
    run.change(cm("helloworld-config-dev", V2, rv="20"), at=20.0)
    run.change(cm("helloworld-config-dev", V1, rv="21"), at=20.5)
    run.run_until(25.0)
    # a change cut short by shutdown: flushed
    run.change(cm("helloworld-config-test", V1, rv="30"), at=30.0)
    run.feed(ShutdownRequested(), at=30.2)
    run.feed(PatchSucceeded("helloworld-test", run.patches()[-1].correlation_id, 4), at=30.3)
    return run


def test_a_journal_replays_with_no_difference():
    run = busy_run()
    kinds = {r.kind for r in journal_of(run)}
    assert {k.RESTART_RETRY, k.RESTART_FLUSHED, k.DEBOUNCE_COALESCED, k.DEBOUNCE_SKIPPED} <= kinds
    assert list(check(journal_of(run))) == []


def test_a_different_debounce_shows_every_decision_it_changes():
    records = journal_of(busy_run())
    started = records[0]
    records[0] = replace(
        started,
        data={**started.data, "policy": {**started.data["policy"], "debounce_seconds": 0.1}},
    )
    differences = list(check(records))
    assert differences
    # With a 0.1 s window the three quick changes no longer coalesce.
    messages = " ".join(d.message for d in differences)
    assert "debounce.coalesced" in messages or "debounce.scheduled" in messages
    assert all(isinstance(d.seq, int) and d.seq >= 1 for d in differences)


def test_a_recorded_restart_the_core_would_not_make_is_reported_with_its_seq():
    records = journal_of(busy_run())
    index = next(
        i
        for i, r in enumerate(records)
        if r.kind == k.DEBOUNCE_SKIPPED and r.data["reason"] == "reverted"
    )
    forged = replace(
        records[index],
        kind=k.RESTART_PLANNED,
        object="deployment/helloworld-dev",
        data={"data_hash": h(V1), "attempt": 1},
    )
    records[index] = forged
    differences = list(check(records))
    assert [d.seq for d in differences if d.recorded] == [forged.seq]
    assert any(d.expected and "reverted" in d.expected for d in differences)


def test_several_replicas_and_restarts_are_replayed_separately():
    first = journal_of(busy_run(), actor="helloworld-controller-0")
    second = journal_of(busy_run(), actor="helloworld-controller-1", first_seq=1000)
    merged = sorted(first + second, key=lambda r: (r.ts, r.seq))
    assert list(check(merged)) == []
    # The same process started twice in one journal.
    again = journal_of(busy_run(), first_seq=len(first) + 1)
    assert list(check(first + again)) == []


def test_records_before_any_start_and_operator_notes_are_ignored():
    records = journal_of(busy_run())
    note = replace(records[5], kind="operator.note", actor="cli:alice", data={"text": "hi"})
    assert list(check([*records[1:3], note, *records])) == []


def test_refused_conditional_patches_replay_with_no_difference():
    """A refusal decided again (retry with the Deployment read again), then superseded."""
    run = Run.start([cm("helloworld-config-test", V1, rv="1")], [deploy("helloworld-test", h(V1))])
    run.change(cm("helloworld-config-test", V2, rv="10"), at=10.0)
    run.run_until(11.0)
    conflict = Failure("conflict", retriable=True, status=409, message="409 Conflict")
    patch = run.patches()[-1]
    run.feed(
        PatchRefused(patch.deployment, patch.correlation_id, conflict, True, h(V1), "20", 1),
        at=11.2,
    )
    patch = run.patches()[-1]
    run.feed(
        PatchRefused(patch.deployment, patch.correlation_id, conflict, True, h(V2), "21", 2),
        at=11.4,
    )
    run.run_until(20.0)
    kinds = [r.kind for r in journal_of(run)]
    assert kinds.count(k.RESTART_PLANNED) == 2 and k.RESTART_SUPERSEDED in kinds
    assert list(check(journal_of(run))) == []


def test_changes_nothing_depends_on_replay_with_no_difference():
    run = Run.start(
        [cm("helloworld-config-test", V1, rv="1"), cm("unrelated", V1, rv="2", app="other")],
        [deploy("helloworld-test", h(V1))],
        policy=Policy(debounce_seconds=1.0),
    )
    for i in range(5):
        run.change(cm("unrelated", {"M": str(i)}, rv=str(10 + i), app="other"), at=10.0 + 0.1 * i)
    run.change(cm("helloworld-config-test", V2, rv="20"), at=11.0)
    run.run_until(13.0)
    run.feed(PatchSucceeded("helloworld-test", run.patches()[-1].correlation_id, 2), at=13.1)
    records = journal_of(run)
    skipped = [
        r for r in records if r.kind == k.DEBOUNCE_SKIPPED and r.object == "configmap/unrelated"
    ]
    assert [r.data["reason"] for r in skipped] == ["no-target"] * 6  # at start, then each change
    assert list(check(records)) == []
