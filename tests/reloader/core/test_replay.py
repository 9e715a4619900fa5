"""``replay --check``: the core re-run over a journal finds exactly the decisions that differ."""

from __future__ import annotations

from dataclasses import replace

from records import kinds as k
from reloader.core import (
    ConfigMapSeen,
    DeploymentSeen,
    EventType,
    Failure,
    PatchFailed,
    PatchRefused,
    PatchSucceeded,
    Policy,
    ShutdownRequested,
)
from reloader.core.replay import check
from tests.reloader.core.scenario import (
    NS,
    Run,
    cm,
    deploy,
    envfrom,
    h,
    journal_of,
    source,
    workload,
)

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


def test_journals_of_either_correlation_id_scheme_replay_by_their_policy():
    # Each process replays with the scheme its controller.started names: the
    # UUID5 of earlier controllers, or ids that lead with the resourceVersion.
    for ordered in (False, True):
        records = journal_of(busy_run(ordered_correlation_ids=ordered))
        assert list(check(records)) == []
        # Told the other scheme, every change's chain differs from the one recorded.
        started = records[0]
        policy = {**started.data["policy"], "ordered_correlation_ids": not ordered}
        records[0] = replace(started, data={**started.data, "policy": policy})
        differences = list(check(records))
        assert differences
        assert all(d.seq >= 1 for d in differences)


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


def test_a_journaled_failure_is_read_back_as_it_was_with_its_retry_after():
    """Replay feeds the core the failure as journaled: a 429's wait included."""
    from reloader.core.replay import _failure

    throttled = Failure("throttled", True, 429, "429 Too Many Requests", retry_after=9.0)
    assert _failure(throttled.as_dict(), True) == throttled
    assert _failure(UNAVAILABLE.as_dict(), True) == UNAVAILABLE


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


# -- workloads selected by annotations ----------------------------------------------------

WORKLOAD_POLICY = Policy(
    debounce_seconds=1.0,
    watch_secrets=True,
    workload_kinds=("deployments", "statefulsets", "daemonsets"),
)
MATCH = {"reloader.stakater.com/match": "true"}
IGNORE = {"shipshape.io/ignore": "true"}


def _answer_all(run: Run, since: int, at: float) -> None:
    """Every restart patched since ``since`` lands (generation 2)."""
    for patch in run.patches(since):
        run.feed(PatchSucceeded(patch.deployment, patch.correlation_id, 2, kind=patch.kind), at=at)


def opted_in_run() -> Run:
    """Every rule, for all three kinds: auto, reload lists (a pattern), search with match,
    ignore, per-workload debounce, a Secret, and opt-ins that change while it runs."""
    web_annotations = {
        "reloader.stakater.com/search": "true",
        "secret.reloader.stakater.com/reload": "web-key",
        "shipshape.io/debounce": "3s",
    }
    web_spec = envfrom(("configMap", "web-config"), ("configMap", "web-flags"))
    run = Run.start(
        [
            source("ConfigMap", "db-config", V1, rv="1"),
            source("ConfigMap", "agent-config", V1, rv="2"),
            source("ConfigMap", "web-config", V1, rv="3", annotations=MATCH),
            source("ConfigMap", "web-flags", V1, rv="4", annotations={**MATCH, **IGNORE}),
            source("Secret", "web-key", V1, rv="5"),
            source("Secret", "db-password", V1, rv="6"),
        ],
        [
            workload(
                "StatefulSet",
                "db",
                {"reloader.stakater.com/auto": "true", "shipshape.io/debounce": "500ms"},
                pod_spec=envfrom(("configMap", "db-config"), ("secret", "db-password")),
                applied=None,
            ),
            workload(
                "DaemonSet",
                "agent",
                {"configmap.reloader.stakater.com/reload": "agent-.*"},
            ),
            workload("Deployment", "web", web_annotations, pod_spec=web_spec),
        ],
        policy=WORKLOAD_POLICY,
    )
    # The first sync adopted all three; their adoptions land.
    for adoption in run.adoptions():
        view = run.state.deployments[(NS, adoption.kind, adoption.deployment)]
        run.feed(DeploymentSeen(EventType.MODIFIED, replace(view, applied_hash=adoption.data_hash)))
    mark = run.mark()
    run.change(source("ConfigMap", "db-config", V2, rv="10"), at=10.0)
    run.change(source("ConfigMap", "agent-config", V2, rv="11"), at=10.1)
    run.change(source("ConfigMap", "web-flags", V2, rv="12", annotations=IGNORE), at=10.2)
    run.change(source("Secret", "web-key", V2, rv="13"), at=10.3)
    run.change(source("ConfigMap", "web-config", V2, rv="14", annotations=MATCH), at=11.0)
    run.run_until(20.0)
    _answer_all(run, mark, at=20.1)
    # web's debounce goes and db-password gains ignore: the next changes decide differently.
    mark = run.mark()
    faster = {key: value for key, value in web_annotations.items() if "debounce" not in key}
    view = run.state.deployments[(NS, "deployment", "web")]
    changed = workload("Deployment", "web", faster, pod_spec=web_spec, rv="30")
    run.feed(
        DeploymentSeen(EventType.MODIFIED, replace(changed, applied_hash=view.applied_hash)),
        at=30.0,
    )
    run.change(source("Secret", "db-password", V1, rv="31", annotations=IGNORE), at=30.5)
    run.change(source("Secret", "db-password", V2, rv="32", annotations=IGNORE), at=31.0)
    run.change(source("Secret", "web-key", V3, rv="33"), at=31.0)
    run.run_until(40.0)
    _answer_all(run, mark, at=40.1)
    return run


def test_annotation_selected_workloads_replay_with_no_difference():
    run = opted_in_run()
    restarted = sorted({(p.kind, p.deployment) for p in run.patches()})
    assert restarted == [("daemonset", "agent"), ("deployment", "web"), ("statefulset", "db")]
    records = journal_of(run)
    optins = [r.data["optin"] for r in records if r.kind == k.DEPLOYMENT_OBSERVED]
    assert {"configmap": {"search": True, "references": ["web-config", "web-flags"]},
            "secret": {"search": True, "reload": ["web-key"]},
            "debounce_seconds": 3.0} in optins  # fmt: skip
    assert {"configmap": {"reload": ["agent-.*"]}} in optins
    # The web Deployment was planned once per window, with its own debounce first.
    scheduled = [
        r.data["due_in_seconds"]
        for r in records
        if r.kind == k.DEBOUNCE_SCHEDULED and r.object == "secret/web-key"
    ]
    assert scheduled == [3.0, 1.0]
    assert list(check(records)) == []


def test_a_tampered_decision_of_an_opted_in_workload_is_reported():
    records = journal_of(opted_in_run())
    index = next(
        i
        for i, r in enumerate(records)
        if r.kind == k.RESTART_PLANNED and r.object == "statefulset/db"
    )
    original = records[index]
    tampered = replace(original, data={**original.data, "data_hash": h(V3)})
    records[index] = tampered
    differences = list(check(records))
    assert [d.seq for d in differences if d.recorded] == [tampered.seq]
    (expected,) = [d.expected for d in differences if d.expected]
    assert expected.startswith("restart.planned statefulset/db attempt=1")
    assert f"data_hash={original.data['data_hash'][:12]}" in expected


def test_without_the_recorded_opt_in_the_decisions_cannot_be_re_run():
    """What makes it work: strip ``optin`` (as records before it had none) and they differ."""
    records = journal_of(opted_in_run())
    stripped = [
        replace(r, data={key: v for key, v in r.data.items() if key != "optin"})
        if r.kind == k.DEPLOYMENT_OBSERVED
        else r
        for r in records
    ]
    assert list(check(stripped))
    unflagged = [
        replace(r, data={key: v for key, v in r.data.items() if key not in ("ignore", "match")})
        if r.kind == k.CONFIGMAP_OBSERVED
        else r
        for r in records
    ]
    assert list(check(unflagged))


def test_an_ignore_flip_kept_in_sync_replays_with_no_difference():
    """The adoptions that keep a workload in sync while one of its sources gains and
    loses ``ignore`` are decided again by the replay, and so is its later restart."""
    spec = envfrom(("configMap", "a"), ("configMap", "b"))
    auto = {"reloader.stakater.com/auto": "true"}
    ignore = {"reloader.stakater.com/ignore": "true"}
    a, b = source("ConfigMap", "a", V1), source("ConfigMap", "b", V1)
    run = Run.start(
        [a, b], [workload("Deployment", "web", auto, pod_spec=spec)], policy=WORKLOAD_POLICY
    )

    def adoption_lands(at: float) -> None:
        view = run.state.deployments[(NS, "deployment", "web")]
        landed = replace(view, applied_hash=run.adoptions()[-1].data_hash)
        run.feed(DeploymentSeen(EventType.MODIFIED, landed), at=at)

    adoption_lands(1.0)
    run.change(source("ConfigMap", "b", V1, rv="5", annotations=ignore), at=5.0)
    adoption_lands(6.0)
    run.change(source("ConfigMap", "b", V1, rv="50"), at=50.0)
    adoption_lands(51.0)
    run.change(source("ConfigMap", "a", V2, rv="90"), at=90.0)
    run.run_until(100.0)
    records = journal_of(run)
    skipped = [r.data["reason"] for r in records if r.kind == k.DEBOUNCE_SKIPPED]
    assert skipped.count("adopted") == 3
    assert [(p.deployment, p.configmap) for p in run.patches()] == [("web", "a")]
    assert list(check(records)) == []


def test_a_template_edit_and_a_deleted_source_replay_with_no_difference():
    """The adoptions after a pod template starts to reference ``b`` and after ``b`` is
    deleted are decided again by the replay from the recorded opt-in alone, even with a
    Secret reference in the template that counts for nothing (no ``secret`` auto)."""
    auto = {"configmap.reloader.stakater.com/auto": "true"}
    one = envfrom(("configMap", "a"), ("secret", "s"))
    both = envfrom(("configMap", "a"), ("configMap", "b"), ("secret", "s"))
    a, b = source("ConfigMap", "a", V1), source("ConfigMap", "b", V1)
    run = Run.start(
        [a, b], [workload("Deployment", "web", auto, pod_spec=one)], policy=WORKLOAD_POLICY
    )

    def lands(at: float, spec: dict) -> None:
        view = run.state.deployments[(NS, "deployment", "web")]
        applied = run.adoptions()[-1].data_hash
        edited = workload("Deployment", "web", auto, applied=applied, pod_spec=spec, rv=str(at))
        run.feed(DeploymentSeen(EventType.MODIFIED, replace(edited, rollout=view.rollout)), at=at)

    lands(1.0, one)
    lands(5.0, both)  # the template edit: adopted
    lands(6.0, both)
    run.feed(ConfigMapSeen(EventType.DELETED, source("ConfigMap", "b", V1, rv="7")), at=7.0)
    lands(8.0, both)
    run.run_until(300.0)
    records = journal_of(run)
    skipped = [r.data["reason"] for r in records if r.kind == k.DEBOUNCE_SKIPPED]
    assert skipped.count("adopted") == 3 and run.patches() == []
    assert list(check(records)) == []
