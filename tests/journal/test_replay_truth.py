"""Replay tells the truth about retries, unanswered intents and duplicate rollouts.

The journals are what a controller writes when the API errors (retries of one
restart), when it is killed between ``restart.planned`` and the patch's answer
(the answer is lost; the patch may or may not have landed), and when a
restarted controller rolls a hash the dead one already rolled.
"""

from __future__ import annotations

import pytest

from journal import replay
from tests.journal.builders import Controller, at

CM, DEPLOY = "helloworld-config-test", "helloworld-test"


def _anomalies(report) -> list[tuple[str, int]]:
    return [(a["type"], a["seq"]) for a in report.anomalies]


def _change(controller, t=10.0, corr="c1"):
    controller.started(0)
    controller.deployment(0.5, DEPLOY, "v1", 5, event="ADDED")
    controller.observed(1, CM, "v1", event="ADDED")
    controller.skipped(1.1, CM, "adopted")
    controller.observed(t, CM, "v2", corr=corr)
    controller.scheduled(t + 0.1, CM, corr)


def test_a_retried_restart_is_one_restart_with_its_retries(controller, writer):
    _change(controller)
    controller.planned(15, DEPLOY, CM, "v2", "c1")
    controller.retry(15.2, DEPLOY, CM, "v2", "c1")
    controller.planned(16, DEPLOY, CM, "v2", "c1")
    controller.retry(16.2, DEPLOY, CM, "v2", "c1")
    controller.planned(17, DEPLOY, CM, "v2", "c1")
    patched = controller.patched(17.5, DEPLOY, CM, "v2", "c1")
    controller.journal.append("watch.relisted", ts=at(300))
    report = replay([writer])
    (restart,) = report.restarts
    assert (restart.outcome, restart.outcome_seq, restart.retries) == ("patched", patched.seq, 2)
    assert restart.latency_seconds == pytest.approx(7.5)  # from the change, not the last attempt
    assert report.anomalies == []
    assert report.configmaps[CM]["restarts"] == 1
    assert report.configmaps[CM]["pending"] is False


def test_a_replanned_attempt_counts_as_a_retry_without_a_retry_record(controller, writer):
    _change(controller)
    controller.planned(15, DEPLOY, CM, "v2", "c1")
    controller.planned(16, DEPLOY, CM, "v2", "c1")
    controller.patched(16.5, DEPLOY, CM, "v2", "c1")
    (restart,) = replay([writer]).restarts
    assert (restart.outcome, restart.retries) == ("patched", 1)


def test_an_unanswered_restart_whose_hash_shows_up_applied_landed(controller, writer):
    _change(controller)
    planned = controller.planned(15, DEPLOY, CM, "v2", "c1")
    controller.started(17)  # killed before the patch's answer
    controller.deployment(17.5, DEPLOY, "v2", 6)  # the new process lists it: applied
    controller.skipped(17.6, CM, "unchanged")
    report = replay([writer])
    (restart,) = report.restarts
    assert restart.seq == planned.seq
    assert restart.outcome == "landed"
    assert restart.outcome_seq == planned.seq + 2
    assert report.anomalies == []
    assert report.configmaps[CM]["restarts"] == 1
    assert report.configmaps[CM]["last_restart"]["seq"] == planned.seq + 2
    assert report.configmaps[CM]["pending"] is False


def test_an_unanswered_restart_whose_hash_never_arrives_is_lost(controller, writer):
    _change(controller)
    controller.planned(15, DEPLOY, CM, "v2", "c1")
    controller.started(17)
    seen = controller.deployment(17.5, DEPLOY, "v1", 5)  # still the old hash
    report = replay([writer])
    (restart,) = report.restarts
    assert (restart.outcome, restart.outcome_seq) == ("lost", seen.seq)
    assert report.anomalies == []
    # Nothing rolled: the change is pending again for the new process.
    assert report.configmaps[CM]["pending"] is True
    assert report.configmaps[CM]["restarts"] == 0


def test_what_the_journal_cannot_settle_stays_planned_without_outcome(controller, writer):
    _change(controller)
    # The Deployment was last observed before the intent (in _change): no evidence.
    planned = controller.planned(15, DEPLOY, CM, "v2", "c1")
    started = controller.started(17)
    report = replay([writer])
    assert _anomalies(report) == [("planned_without_outcome", planned.seq)]
    assert report.anomalies[0]["message"] == (
        f"restart of deployment/{DEPLOY} planned at seq {planned.seq} has no outcome: "
        f"{writer.actor} restarted at seq {started.seq}"
    )
    assert report.restarts[0].outcome == "abandoned"


def test_a_live_but_silent_restart_past_the_slo_is_settled_by_evidence(controller, writer):
    _change(controller)
    controller.planned(15, DEPLOY, CM, "v2", "c1")
    controller.deployment(16, DEPLOY, "v2", 6)
    controller.journal.append("watch.relisted", ts=at(200))
    report = replay([writer])
    assert report.restarts[0].outcome == "landed"
    assert report.anomalies == []


def test_the_same_hash_rolled_twice_after_a_crash_is_a_duplicate_rollout(controller, writer):
    # The scenario of a controller killed mid-patch: the old process's patch
    # lands (generation 6) while the new one, having listed the old hash,
    # plans and patches the same hash again (generation 7).
    _change(controller)
    first = controller.planned(15, DEPLOY, CM, "v2", "c1")
    controller.started(17)
    controller.deployment(17.2, DEPLOY, "v1", 5)
    controller.observed(17.3, CM, "v2", event="ADDED", corr="c2")
    controller.scheduled(17.4, CM, "c2")
    second = controller.planned(18, DEPLOY, CM, "v2", "c2")
    landing = controller.deployment(18.5, DEPLOY, "v2", 6)
    again = controller.patched(19, DEPLOY, CM, "v2", "c2", generation=7)
    report = replay([writer])
    assert [(r.seq, r.outcome, r.outcome_seq) for r in report.restarts] == [
        (first.seq, "landed", landing.seq),
        (second.seq, "patched", again.seq),
    ]
    assert _anomalies(report) == [("duplicate_rollout", again.seq)]
    anomaly = report.anomalies[0]
    assert anomaly["first_seq"] == first.seq
    assert anomaly["correlation_id"] == "c2"
    assert f"planned at seq {first.seq} (landed)" in anomaly["message"]
    assert f"planned at seq {second.seq} (patched)" in anomaly["message"]


def test_only_the_new_process_patch_landing_is_one_rollout(controller, writer):
    # With conditional patches the dead process's patch fails: the applied
    # hash arrives at the generation the new process's patch answered with.
    _change(controller)
    controller.planned(15, DEPLOY, CM, "v2", "c1")
    controller.started(17)
    seen = controller.deployment(17.2, DEPLOY, "v1", 5)
    controller.observed(17.3, CM, "v2", event="ADDED", corr="c2")
    controller.scheduled(17.4, CM, "c2")
    controller.planned(18, DEPLOY, CM, "v2", "c2")
    controller.deployment(18.5, DEPLOY, "v2", 6)
    controller.patched(19, DEPLOY, CM, "v2", "c2", generation=6)
    report = replay([writer])
    assert [(r.outcome, r.outcome_seq) for r in report.restarts] == [
        ("lost", seen.seq),
        ("patched", report.restarts[1].outcome_seq),
    ]
    assert report.anomalies == []


def test_a_superseded_restart_settles_without_a_roll(controller, writer):
    _change(controller)
    controller.planned(15, DEPLOY, CM, "v2", "c1")
    controller.started(17)
    controller.deployment(17.2, DEPLOY, "v1", 5)
    controller.observed(17.3, CM, "v2", event="ADDED", corr="c2")
    controller.scheduled(17.4, CM, "c2")
    controller.planned(18, DEPLOY, CM, "v2", "c2")
    controller.deployment(18.5, DEPLOY, "v2", 6)  # the old process's patch landed
    superseded = controller.superseded(19, DEPLOY, CM, "v2", "c2", applied="v2")
    controller.journal.append("watch.relisted", ts=at(300))
    report = replay([writer])
    assert [(r.outcome, r.outcome_seq) for r in report.restarts] == [
        ("landed", superseded.seq - 1),
        ("superseded", superseded.seq),
    ]
    assert report.anomalies == []
    assert report.configmaps[CM]["restarts"] == 1  # one roll, the landed one
    assert report.configmaps[CM]["pending"] is False


def test_a_new_hash_between_two_rolls_is_no_duplicate(controller, writer):
    _change(controller)
    controller.planned(15, DEPLOY, CM, "v2", "c1")
    controller.patched(15.5, DEPLOY, CM, "v2", "c1", generation=6)
    controller.deployment(15.6, DEPLOY, "v2", 6)
    controller.deployment(100, DEPLOY, "manual", 7)  # someone set another hash by hand
    controller.started(110)
    controller.observed(111, CM, "v2", event="ADDED", corr="c3")
    controller.scheduled(111.1, CM, "c3")
    controller.planned(116, DEPLOY, CM, "v2", "c3")
    controller.patched(116.5, DEPLOY, CM, "v2", "c3", generation=8)
    assert "duplicate_rollout" not in [a["type"] for a in replay([writer]).anomalies]


def test_merged_replicas_name_the_journal_of_every_seq(tmp_path, open_journal):
    zero = Controller(open_journal(tmp_path / "0.db", actor="helloworld-controller-0"))
    one = Controller(open_journal(tmp_path / "1.db", actor="helloworld-controller-1"))
    zero.acquired(0, epoch=3)
    zero.observed(1, CM, "v1", event="ADDED")
    zero.skipped(1.1, CM, "adopted")
    zero.observed(10, CM, "v2", corr="c1")
    zero.scheduled(10.1, CM, "c1")
    first = zero.planned(15, DEPLOY, CM, "v2", "c1")
    zero.lost(15.5)  # killed: the standby takes over
    one.acquired(16, epoch=4)
    one.deployment(16.1, DEPLOY, "v1", 5)
    one.observed(16.2, CM, "v2", event="ADDED", corr="c2")
    one.scheduled(16.3, CM, "c2")
    one.planned(17, DEPLOY, CM, "v2", "c2")
    landing = one.deployment(17.5, DEPLOY, "v2", 6)
    again = one.patched(18, DEPLOY, CM, "v2", "c2", generation=7)
    one.journal.append("watch.relisted", ts=at(300))
    report = replay([zero.journal, one.journal])
    names = [str(tmp_path / "0.db"), str(tmp_path / "1.db")]
    landed, patched = report.restarts
    assert (landed.outcome, landed.outcome_seq) == ("landed", landing.seq)
    document = landed.to_json()
    assert (document["journal"], document["outcome_journal"]) == (names[0], names[1])
    assert document["change_journal"] == names[0]
    assert patched.to_json()["outcome_journal"] == names[1]
    duplicate = [a for a in report.anomalies if a["type"] == "duplicate_rollout"]
    assert [(a["seq"], a["journal"]) for a in duplicate] == [(again.seq, names[1])]
    assert f"seq {first.seq} of {names[0]}" in duplicate[0]["message"]
    terms = [
        (t["actor"], t["start_seq"], t["journal"], t["end_seq"], t["end_journal"])
        for t in report.leader_terms
    ]
    assert terms[0] == ("helloworld-controller-0", 1, names[0], 7, names[0])
    assert terms[1][:3] == ("helloworld-controller-1", 1, names[1])
    assert report.configmaps[CM]["last_change"]["journal"] in names
    # One journal alone keeps its output: no journal fields.
    alone = replay([one.journal]).to_json()
    assert "journal" not in alone["restarts"][0]
    assert "journal" not in alone["leader_terms"][0]
