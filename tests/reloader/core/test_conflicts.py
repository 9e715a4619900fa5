"""Refused conditional patches in a row: someone keeps writing the workload.

The first refusal goes out again at once on the version read (a concurrent
write is usually over by then); every later one waits a backoff, so a
workload an autoscaler or another controller writes all the time does not
spend the restart's attempts in milliseconds. Journals of controllers before
``Policy.conflict_backoff`` replay as they were decided: every refusal at once.
"""

from __future__ import annotations

from dataclasses import replace

from records import kinds as k
from reloader.core import DeploymentSeen, EventType, Failure, PatchRefused, PatchSucceeded, Policy
from reloader.core.replay import check
from tests.reloader.core.scenario import V1, V2, Run, cm, deploy, h, journal_of, started

CONFLICT = Failure("conflict", retriable=True, status=409, message="409 Conflict: modified")


def refuse(run: Run, rv: str, at: float, jitter: float = 0.5) -> PatchRefused:
    """Refuse the last patch sent; the workload read again still has the old hash."""
    patch = run.patches()[-1]
    refusal = PatchRefused(
        patch.deployment,
        patch.correlation_id,
        CONFLICT,
        applied_hash=h(V1),
        resource_version=rv,
        generation=int(rv),
        jitter=jitter,
    )
    run.feed(refusal, at=at)
    return refusal


def test_a_second_refusal_in_a_row_backs_off_instead_of_going_out_at_once():
    run = started(conflict_backoff=True, retry_base_seconds=2.0)
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.tick(11.0)
    refuse(run, "60", at=11.1)
    first, second = run.patches()
    assert (second.attempt, second.resource_version) == (2, "60"), "the first goes at once"
    refuse(run, "61", at=11.2, jitter=0.5)
    retries = run.records(k.RESTART_RETRY)
    assert [r.data["delay_seconds"] for r in retries] == [0.0, 1.5]  # 2 s halved + half of 1 s
    assert retries[1].data["jitter"] == 0.5 and retries[1].data["error"]["status"] == 409
    assert retries[1].data["reread"]["resource_version"] == "61"
    assert retries[1].data["next_attempt"] == 3
    assert len(run.patches()) == 2, "nothing goes out during the backoff"
    # The watch brings the other writer's version meanwhile: the attempt uses it.
    run.feed(DeploymentSeen(EventType.MODIFIED, deploy("helloworld-test", h(V1), rv="62")))
    run.run_until(12.69)
    assert len(run.patches()) == 2
    run.run_until(12.71)
    third = run.patches()[-1]
    assert (third.attempt, third.resource_version) == (3, "62")
    # The third refusal doubles the wait (jitter 0: the lower half, 2 s).
    refuse(run, "63", at=12.8, jitter=0.0)
    assert run.records(k.RESTART_RETRY)[-1].data["delay_seconds"] == 2.0
    run.run_until(14.79)
    assert len(run.patches()) == 3
    run.run_until(14.81)
    fourth = run.patches()[-1]
    assert fourth.attempt == 4
    run.feed(PatchSucceeded(fourth.deployment, fourth.correlation_id, 5), at=15.0)
    [patched] = run.records(k.RESTART_PATCHED)
    assert patched.correlation_id == first.correlation_id


def test_a_backoff_after_refusals_ends_as_patched_when_the_watch_shows_the_hash_applied():
    run = started(conflict_backoff=True)
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.tick(11.0)
    refuse(run, "60", at=11.1)
    refuse(run, "61", at=11.2)
    # The earlier attempt's write landed after all (its answer was a refusal
    # of a later one): the watch shows the planned hash, so nothing is sent.
    run.feed(DeploymentSeen(EventType.MODIFIED, deploy("helloworld-test", h(V2), rv="64")))
    run.run_until(30.0)
    assert len(run.patches()) == 2
    [patched] = run.records(k.RESTART_PATCHED)
    assert patched.data["confirmed_by"] == "watch"


def test_refusals_still_count_against_the_attempts():
    run = started(conflict_backoff=True, retry_max_attempts=3)
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.tick(11.0)
    for i, at in enumerate((11.1, 11.2)):
        refuse(run, str(60 + i), at=at)
    run.run_until(13.0)
    assert [p.attempt for p in run.patches()] == [1, 2, 3]
    refuse(run, "70", at=13.1)
    [failed] = run.records(k.RESTART_FAILED)
    assert failed.data["reason"] == "retries-exhausted"
    run.run_until(40.0)
    assert len(run.patches()) == 3


def test_without_conflict_backoff_every_refusal_goes_out_at_once_as_before():
    run = started(retry_max_attempts=4)
    assert Policy().conflict_backoff is False and "conflict_backoff" not in Policy().as_dict()
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.tick(11.0)
    for i in range(3):
        refuse(run, str(60 + i), at=11.1 + 0.01 * i)
    assert [p.attempt for p in run.patches()] == [1, 2, 3, 4]
    assert {r.data["delay_seconds"] for r in run.records(k.RESTART_RETRY)} == {0.0}


def test_refusals_backed_off_replay_with_no_difference_and_old_journals_too():
    for backoff in (True, False):
        run = Run.start(
            [cm("helloworld-config-test", V1, rv="1")],
            [deploy("helloworld-test", h(V1))],
            policy=Policy(debounce_seconds=1.0, conflict_backoff=backoff),
        )
        run.change(cm("helloworld-config-test", V2, rv="10"), at=10.0)
        run.run_until(11.0)
        refuse(run, "20", at=11.1)
        refuse(run, "21", at=11.2, jitter=0.25)
        run.run_until(20.0)
        patch = run.patches()[-1]
        run.feed(PatchSucceeded(patch.deployment, patch.correlation_id, 3), at=20.5)
        assert len(run.patches()) == 3
        records = journal_of(run)
        assert list(check(records)) == [], f"conflict_backoff={backoff}"
        # Replay decides with the jitter journaled: another draw differs.
        if backoff:
            [retry] = [r for r in records if r.kind == k.RESTART_RETRY][1:]
            assert retry.data["jitter"] == 0.25
            forged = [
                r if r is not retry else replace(r, data={**r.data, "jitter": 0.9}) for r in records
            ]
            assert list(check(forged)) != []
