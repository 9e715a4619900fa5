"""Replay projections: state per ConfigMap, restarts, latency, leaders, anomalies."""

from __future__ import annotations

import io
import json

import pytest

from journal import ANOMALY_TYPES, Filters, kinds, replay
from journal.picture import build_timeline
from journal.replay import Projector
from tests.journal.builders import NAMESPACE, Controller, at, data_hash

CM, DEPLOY = "helloworld-config-test", "helloworld-test"


def _anomalies(report) -> list[tuple[str, int]]:
    return [(a["type"], a["seq"]) for a in report.anomalies]


def test_a_clean_change_is_one_restart_without_anomalies(controller, writer):
    controller.started(0)
    controller.acquired(1, epoch=1)
    controller.observed(2, CM, "v1", event="ADDED")
    controller.skipped(2.1, CM, "adopted")
    corr = controller.restart_chain(100, CM, DEPLOY, "v2")
    report = replay([writer])
    assert report.anomalies == []
    assert report.events == 9
    state = report.configmaps[CM]
    assert state["data_hash"] == data_hash("v2")
    assert state["restarts"] == 1
    assert state["pending"] is False
    assert state["last_change"]["correlation_id"] == corr
    assert state["last_restart"]["deployment"] == DEPLOY
    (restart,) = report.restarts
    assert restart.outcome == "patched"
    assert restart.rollout == "completed"
    assert restart.latency_seconds == pytest.approx(5.5)
    assert report.latency == {"count": 1, "p50": 5.5, "p95": 5.5, "max": 5.5}
    (term,) = report.leader_terms
    assert (term["actor"], term["epoch"], term["end"]) == ("helloworld-controller-0", 1, None)


def test_coalesced_changes_count_latency_from_the_first(controller, writer):
    controller.observed(0, CM, "v0", event="ADDED")
    controller.skipped(0.1, CM, "unchanged")
    controller.observed(10, CM, "v1", corr="c1")
    controller.scheduled(10.1, CM, "c1")
    controller.observed(12, CM, "v2", corr="c2")
    controller.journal.append(
        kinds.DEBOUNCE_COALESCED, object=f"configmap/{CM}", correlation_id="c2", ts=at(12.1)
    )
    controller.planned(15, DEPLOY, CM, "v2", "c1")
    controller.patched(15.2, DEPLOY, CM, "v2", "c1")
    report = replay([writer])
    assert report.anomalies == []
    assert report.restarts[0].latency_seconds == pytest.approx(5.2)
    assert report.configmaps[CM]["last_change"]["seq"] == 5


def test_a_reverted_change_restarts_nothing_and_is_no_anomaly(controller, writer):
    controller.observed(0, CM, "v1", event="ADDED")
    controller.skipped(0.1, CM, "adopted")
    controller.observed(10, CM, "v2", corr="c1")
    controller.observed(12, CM, "v1", corr="c2")
    controller.skipped(15, CM, "reverted", corr="c1")
    controller.journal.append(kinds.WATCH_RELISTED, ts=at(500))
    report = replay([writer])
    assert report.anomalies == []
    assert report.configmaps[CM]["pending"] is False
    assert report.restarts == []


def test_change_without_restart(controller, writer):
    controller.observed(0, CM, "v1", event="ADDED")
    controller.skipped(0.1, CM, "adopted")
    change = controller.observed(10, CM, "v2", corr="lost")
    controller.journal.append(kinds.WATCH_RELISTED, ts=at(100))
    report = replay([writer])
    assert _anomalies(report) == [("change_without_restart", change.seq)]
    assert "changed at seq 3" in report.anomalies[0]["message"]


def test_a_recent_change_is_pending_not_an_anomaly(controller, writer):
    controller.observed(0, CM, "v1", event="ADDED")
    change = controller.observed(10, CM, "v2", corr="c1")
    controller.scheduled(10.1, CM, "c1")
    controller.journal.append(kinds.WATCH_RELISTED, ts=at(20))
    report = replay([writer])
    assert report.anomalies == []
    assert report.configmaps[CM]["pending"] is True
    assert report.configmaps[CM]["pending_since"]["seq"] == change.seq


def test_restart_without_change_after_a_controller_restart(controller, writer):
    controller.started(0)
    controller.observed(1, CM, "v1", event="ADDED")
    controller.skipped(1.1, CM, "adopted")
    controller.started(60)
    controller.observed(61, CM, "v1", event="ADDED")
    storm = controller.planned(61.5, DEPLOY, CM, "v1", "storm")
    controller.patched(62, DEPLOY, CM, "v1", "storm")
    report = replay([writer])
    assert _anomalies(report) == [("restart_without_change", storm.seq)]
    assert "already has" in report.anomalies[0]["message"]


def test_a_second_restart_of_the_same_hash_is_a_restart_without_change(controller, writer):
    controller.restart_chain(0, CM, DEPLOY, "v1")
    again = controller.planned(300, DEPLOY, CM, "v1", "again")
    controller.patched(301, DEPLOY, CM, "v1", "again")
    assert _anomalies(replay([writer])) == [("restart_without_change", again.seq)]


def test_a_change_made_while_no_controller_ran_restarts_legitimately(controller, writer):
    # The first sight is the changed data; the controller decides to restart it.
    controller.started(0)
    controller.observed(1, CM, "v2", event="ADDED", corr="c1")
    controller.scheduled(1.1, CM, "c1")
    controller.planned(6, DEPLOY, CM, "v2", "c1")
    controller.patched(6.2, DEPLOY, CM, "v2", "c1")
    report = replay([writer])
    assert report.anomalies == []
    assert report.restarts[0].latency_seconds == pytest.approx(5.2)


def test_planned_without_outcome_when_the_controller_restarts(controller, writer):
    controller.started(0)
    controller.observed(10, CM, "v2", corr="c1")
    controller.scheduled(10.1, CM, "c1")
    planned = controller.planned(15, DEPLOY, CM, "v2", "c1")
    controller.started(17)  # killed between intent and patch
    report = replay([writer])
    assert ("planned_without_outcome", planned.seq) in _anomalies(report)
    assert report.restarts[0].outcome == "abandoned"
    # The change is pending again: the new process must still restart it.
    assert report.configmaps[CM]["pending"] is True


def test_planned_without_outcome_after_the_slo(controller, writer):
    controller.observed(10, CM, "v2", corr="c1")
    planned = controller.planned(15, DEPLOY, CM, "v2", "c1")
    controller.journal.append(kinds.WATCH_RELISTED, ts=at(100))
    report = replay([writer])
    assert ("planned_without_outcome", planned.seq) in _anomalies(report)
    assert report.restarts[0].outcome == "none"


def test_dropped_restart(controller, writer):
    controller.observed(10, CM, "v2", corr="c1")
    controller.planned(15, DEPLOY, CM, "v2", "c1")
    dropped = controller.dropped(16, DEPLOY, CM, "v2", "c1")
    report = replay([writer])
    assert _anomalies(report) == [("dropped_restart", dropped.seq)]
    assert "lost leadership" in report.anomalies[0]["message"]
    assert report.restarts[0].outcome == "dropped"
    assert report.configmaps[CM]["pending"] is True


def test_a_failed_restart_retried_later_counts_latency_from_the_change(controller, writer):
    controller.observed(10, CM, "v2", corr="c1")
    controller.planned(15, DEPLOY, CM, "v2", "c1")
    controller.retry(16, DEPLOY, CM, "v2", "c1")
    controller.failed(20, DEPLOY, CM, "v2", "c1")
    controller.planned(60, DEPLOY, CM, "v2", "c2")
    patched = controller.patched(60.5, DEPLOY, CM, "v2", "c2")
    report = replay([writer])
    assert _anomalies(report) == [("slo_breach", patched.seq)]
    assert [r.outcome for r in report.restarts] == ["failed", "patched"]
    assert report.restarts[0].retries == 1
    assert report.restarts[1].latency_seconds == pytest.approx(50.5)


def test_duplicate_rollout_of_a_landed_and_a_patched_restart(controller, writer):
    # More cases in test_replay_truth.py.
    controller.observed(10, CM, "v2", corr="c1")
    controller.planned(15, DEPLOY, CM, "v2", "c1")
    controller.started(17)
    controller.deployment(18, DEPLOY, "v2", 6)
    controller.planned(19, DEPLOY, CM, "v2", "c2")
    again = controller.patched(20, DEPLOY, CM, "v2", "c2", generation=7)
    report = replay([writer])
    assert [r.outcome for r in report.restarts] == ["landed", "patched"]
    assert _anomalies(report) == [("duplicate_rollout", again.seq)]


def test_slo_breach_uses_the_recorded_debounce(controller, writer):
    controller.started(0, debounce=20)
    controller.observed(10, CM, "v2", corr="c1")
    controller.planned(50, DEPLOY, CM, "v2", "c1")
    controller.patched(50.5, DEPLOY, CM, "v2", "c1")  # 40.5 s < 20 + 30
    assert replay([writer]).anomalies == []
    late = replay([writer], debounce_seconds=5)
    assert _anomalies(late) == [("slo_breach", 4)]
    assert late.thresholds["slo_seconds"] == 35


@pytest.mark.parametrize(
    "window",
    [
        Filters(since=at(5)),  # `replay --since -1h`: the process started long before
        Filters(correlation_id="c1"),  # the chain alone: controller.started has no id
        Filters(namespace=NAMESPACE),  # watched objects' namespace, not the controller's
    ],
)
def test_the_recorded_debounce_counts_when_the_window_leaves_its_start_out(writer, window):
    controller = Controller(writer, namespace="elsewhere")
    controller.started(0, debounce=20)
    watched = Controller(writer)
    watched.observed(10, CM, "v2", corr="c1")
    watched.planned(50, DEPLOY, CM, "v2", "c1")
    watched.patched(50.5, DEPLOY, CM, "v2", "c1")  # 40.5 s < 20 + 30
    for report in (replay([writer], window), build_timeline([writer], window).report):
        assert report.thresholds["debounce_seconds"] == 20
        assert report.anomalies == []
    assert _anomalies(replay([writer], window, debounce_seconds=5)) == [("slo_breach", 4)]


def test_rollout_timeout(controller, writer):
    controller.observed(10, CM, "v2", corr="c1")
    controller.planned(15, DEPLOY, CM, "v2", "c1")
    controller.patched(15.5, DEPLOY, CM, "v2", "c1")
    timeout = controller.rollout(200, DEPLOY, "c1", ok=False)
    report = replay([writer])
    assert _anomalies(report) == [("rollout_timeout", timeout.seq)]
    assert report.restarts[0].rollout == "timeout"


def test_leaderless_gap_between_terms(tmp_path, open_journal):
    zero = Controller(open_journal(tmp_path / "0.db", actor="helloworld-controller-0"))
    one = Controller(open_journal(tmp_path / "1.db", actor="helloworld-controller-1"))
    zero.acquired(0, epoch=1)
    zero.released(10)
    acquired = one.acquired(95, epoch=2)
    report = replay([zero.journal, one.journal])
    assert _anomalies(report) == [("leaderless_gap", acquired.seq)]
    assert report.anomalies[0]["journal"] == str(tmp_path / "1.db")
    assert report.anomalies[0]["gap_seconds"] == pytest.approx(85)
    assert [(t["actor"], t["epoch"], t["end_reason"]) for t in report.leader_terms] == [
        ("helloworld-controller-0", 1, "released"),
        ("helloworld-controller-1", 2, None),
    ]


def test_clock_skew_between_replicas(tmp_path, open_journal):
    zero = Controller(open_journal(tmp_path / "0.db", actor="helloworld-controller-0"))
    one = Controller(open_journal(tmp_path / "1.db", actor="helloworld-controller-1"))
    zero_b = Controller(open_journal(tmp_path / "0b.db", actor="helloworld-controller-0"))
    one_b = Controller(open_journal(tmp_path / "1b.db", actor="helloworld-controller-1"))
    for n in range(5):  # 1 is 1.5 s ahead of 0; 1b is 0.9 s ahead of 0b
        value, rv = f"v{n}", str(42 + n)
        zero.observed(10 + n, CM, value, rv=rv, source="watch")
        late = one.observed(11.5 + n, CM, value, rv=rv, source="watch")
        zero_b.observed(10 + n, CM, value, rv=rv, source="watch")
        one_b.observed(10.9 + n, CM, value, rv=rv, source="watch")
    report = replay([zero.journal, one.journal])
    assert _anomalies(report) == [("clock_skew", late.seq)]
    assert report.anomalies[0]["journal"] == str(tmp_path / "1.db")
    # Within the threshold, the offset is reported and nothing more.
    close = replay([zero_b.journal, one_b.journal])
    assert close.anomalies == []
    assert close.clock_offsets[0]["nearest_seconds"] == pytest.approx(0.9)
    # Fewer than five events both journaled are too few to judge.
    few = replay([zero.journal, one.journal], Filters(until=at(14.6)))
    assert few.clock_offsets[0]["samples"] == 4 and few.anomalies == []


def test_a_crashed_leaders_term_is_superseded_without_a_gap(tmp_path, open_journal):
    # An idle leader renews its Lease without writing records, so its last
    # record does not tell when it died: no gap is claimed.
    zero = Controller(open_journal(tmp_path / "0.db", actor="helloworld-controller-0"))
    one = Controller(open_journal(tmp_path / "1.db", actor="helloworld-controller-1"))
    zero.acquired(0, epoch=1)
    one.acquired(800, epoch=2)
    report = replay([zero.journal, one.journal])
    assert report.anomalies == []
    assert [(t["end"], t["end_reason"]) for t in report.leader_terms] == [
        ("2026-11-26T10:13:20.000000Z", "superseded"),
        (None, None),
    ]


def test_a_quick_failover_is_no_gap(tmp_path, open_journal):
    zero = Controller(open_journal(tmp_path / "0.db", actor="helloworld-controller-0"))
    one = Controller(open_journal(tmp_path / "1.db", actor="helloworld-controller-1"))
    zero.acquired(0, epoch=1)
    zero.released(10)
    one.acquired(12, epoch=2)
    assert replay([zero.journal, one.journal]).anomalies == []


def test_terms_held_by_others_are_no_gap_in_one_replicas_journal(controller, writer):
    # Epochs 2 to 4 were held by other replicas: this journal cannot call it leaderless.
    controller.acquired(0, epoch=1)
    controller.released(10)
    controller.acquired(500, epoch=5)
    assert replay([writer]).anomalies == []


def test_split_brain_shows_when_replicas_are_merged(tmp_path, open_journal):
    zero = Controller(open_journal(tmp_path / "0.db", actor="helloworld-controller-0"))
    one = Controller(open_journal(tmp_path / "1.db", actor="helloworld-controller-1"))
    zero.acquired(0, epoch=3)
    one.acquired(100, epoch=4)  # a partition: 0 still believes it leads
    zero.observed(104, CM, "v2", corr="c1")
    stale = zero.planned(105, DEPLOY, CM, "v2", "c1")
    zero.patched(106, DEPLOY, CM, "v2", "c1")
    report = replay([zero.journal, one.journal])
    assert _anomalies(report) == [("overlapping_leaders", stale.seq)]
    assert report.anomalies[0]["journal"] == str(tmp_path / "0.db")
    assert "split-brain" in report.anomalies[0]["message"]
    # Each journal alone looks healthy.
    assert replay([zero.journal]).anomalies == []


def test_two_leaders_claiming_one_epoch(tmp_path, open_journal):
    zero = Controller(open_journal(tmp_path / "0.db", actor="helloworld-controller-0"))
    one = Controller(open_journal(tmp_path / "1.db", actor="helloworld-controller-1"))
    zero.acquired(0, epoch=3)
    second = one.acquired(5, epoch=3)
    assert _anomalies(replay([zero.journal, one.journal])) == [("overlapping_leaders", second.seq)]


def test_a_standbys_journal_shows_the_observed_leader(controller, writer):
    controller.observed_leader(0, "helloworld-controller-1", 7)
    (term,) = replay([writer]).leader_terms
    assert (term["actor"], term["epoch"], term["how"]) == ("helloworld-controller-1", 7, "observed")


def test_window_and_correlation_filters(controller, writer):
    first = controller.restart_chain(0, CM, DEPLOY, "v1")
    controller.restart_chain(1000, CM, DEPLOY, "v2")
    window = replay([writer], Filters(since=at(900)))
    assert window.events == 5
    assert window.first["seq"] == 6
    chain = replay([writer], Filters(correlation_id=first))
    assert chain.events == 5
    assert len(chain.restarts) == 1


def test_every_anomaly_type_is_covered_by_these_tests():
    with open(__file__, encoding="utf-8") as handle:
        source = handle.read()
    missing = [kind for kind in ANOMALY_TYPES if f'("{kind}"' not in source]
    assert missing == []
    contract = {
        "change_without_restart",
        "restart_without_change",
        "planned_without_outcome",
        "dropped_restart",
        "overlapping_leaders",
        "leaderless_gap",
        "slo_breach",
    }
    assert contract <= set(ANOMALY_TYPES)


def test_json_has_the_contract_keys(controller, writer):
    controller.restart_chain(0, CM, DEPLOY, "v1")
    document = replay([writer]).to_json()
    assert {
        "events",
        "configmaps",
        "restarts",
        "restart_latency_seconds",
        "leader_terms",
        "anomalies",
    } <= set(document)
    assert {"data_hash", "last_change", "last_restart", "restarts", "pending"} <= set(
        document["configmaps"][CM]
    )
    assert set(document["restart_latency_seconds"]) >= {"p50", "p95", "max"}


def test_percentiles_are_nearest_rank(controller, writer):
    for n in range(20):
        corr = f"c{n}"
        controller.observed(n * 100, CM, f"v{n}", corr=corr)
        controller.planned(n * 100 + 1 + n, DEPLOY, CM, f"v{n}", corr)
        controller.patched(n * 100 + 1 + n, DEPLOY, CM, f"v{n}", corr)
    latency = replay([writer]).latency
    assert latency["count"] == 20
    assert latency["p50"] == pytest.approx(10)
    assert latency["p95"] == pytest.approx(19)
    assert latency["max"] == pytest.approx(20)


def _restart_rows(count: int, deployment: str) -> list[tuple]:
    """Rows of REPLAY_COLUMNS: ``count`` changes, each planned and patched (pure, no file)."""
    rows, seq = [], 0
    for n in range(count):
        corr, value = f"c{n}", data_hash(f"v{n}")
        ts = at(n * 100).isoformat().replace("+00:00", "Z")
        later = at(n * 100 + 2.5).isoformat().replace("+00:00", "Z")
        for kind, obj, epoch, data, when in (
            (kinds.CONFIGMAP_OBSERVED, f"configmap/{CM}", None,
             {"event_type": "MODIFIED", "data_hash": value}, ts),
            (kinds.RESTART_PLANNED, f"deployment/{deployment}", 1,
             {"configmap": CM, "data_hash": value}, ts),
            (kinds.RESTART_PATCHED, f"deployment/{deployment}", 1,
             {"configmap": CM, "data_hash": value}, later),
        ):  # fmt: skip
            seq += 1
            rows.append((seq, when, kind, "shipshape", obj, corr, "ctl-0", epoch, json.dumps(data)))
    return rows


@pytest.mark.parametrize(
    ("restarts", "journals", "extra"),
    [
        (0, ("journal",), None),
        (3, ("a.db", "b.db"), {"check": {"differences": [], "model": "m:f"}}),
        (2501, ("journal",), None),  # several chunks of restarts
    ],
)
def test_json_output_is_exactly_json_dump_with_indent_2(restarts, journals, extra):
    # A name with a quote, a line break, a brace and non-ASCII text: the fast
    # writer must escape and indent exactly like json.dump(indent=2).
    projector = Projector(journals=journals)
    for row in _restart_rows(restarts, 'hello"wörld},\n      {'):
        projector.feed(row, source=len(journals) - 1)
    report = projector.finish(Filters())
    stream = io.StringIO()
    report.write_json(stream, extra=extra)
    expected = json.dumps({**report.to_json(), **(extra or {})}, ensure_ascii=False, indent=2)
    assert stream.getvalue() == expected + "\n"
    assert len(json.loads(stream.getvalue())["restarts"]) == restarts


@pytest.mark.parametrize(
    ("payload", "settled"),
    [
        ('{"reason":"not-leader"}', False),
        ('{"reason":"not\\u002dleader"}', False),  # the same reason, escaped
        ('{"reason":"unchanged"}', True),
        ('{"note":"not-leader","reason":"unchanged"}', True),
        ('{"reason":"unchanged","reason":"not-leader"}', False),  # the last key wins
    ],
)
def test_a_standbys_skip_settles_nothing_however_its_payload_is_spelled(payload, settled):
    value = json.dumps({"event_type": "MODIFIED", "data_hash": data_hash("v1")})
    target = json.dumps({"configmap": CM, "data_hash": data_hash("v1")})
    projector = Projector()
    for row in (
        (1, "2026-11-26T10:00:00.000000Z", kinds.CONFIGMAP_OBSERVED, "shipshape",
         f"configmap/{CM}", None, "ctl-0", None, value),
        (2, "2026-11-26T10:00:01.000000Z", kinds.DEBOUNCE_SKIPPED, "shipshape",
         f"configmap/{CM}", None, "ctl-0", 1, payload),
        (3, "2026-11-26T10:00:02.000000Z", kinds.RESTART_PLANNED, "shipshape",
         f"deployment/{DEPLOY}", "c1", "ctl-0", 1, target),
    ):  # fmt: skip
        projector.feed(row)
    report = projector.finish()
    # A settled hash makes the restart one "without change"; a standby's skip does not.
    assert (_anomalies(report) == [("restart_without_change", 3)]) is settled
