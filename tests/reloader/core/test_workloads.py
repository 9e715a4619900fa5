"""Any workload that opts in: StatefulSets, DaemonSets, Secrets, namespaces (literal inputs)."""

from __future__ import annotations

import pytest

from records import kinds as k
from reloader.core import (
    AdoptRefused,
    ConfigMapSeen,
    DeploymentSeen,
    EventType,
    Listed,
    PatchSucceeded,
    Policy,
    Resource,
    WarnWorkload,
)
from reloader.core.workloads import references_moved
from tests.reloader.core.scenario import (
    Run,
    cm,
    deploy,
    envfrom,
    fleet,
    h,
    source,
    started,
    succeed,
    workload,
)

KINDS = ("deployments", "statefulsets", "daemonsets")
V1 = {"MESSAGE": "one"}
V2 = {"MESSAGE": "two"}
AUTO = {"reloader.stakater.com/auto": "true"}


def policy(**values) -> Policy:
    return Policy(**{"debounce_seconds": 1.0, "workload_kinds": KINDS, **values})


def start(sources, workloads, **values) -> Run:
    return Run.start(sources, workloads, policy=policy(**values))


def test_a_statefulset_and_a_daemonset_opting_in_with_auto_restart_when_their_configmap_changes():
    cm1 = source("ConfigMap", "db-config", V1, rv="10")
    applied = cm1.data_hash
    run = start(
        [cm1],
        [
            workload(
                "StatefulSet",
                "db",
                AUTO,
                applied=applied,
                pod_spec=envfrom(("configMap", "db-config")),
            ),
            workload(
                "DaemonSet",
                "agent",
                AUTO,
                applied=applied,
                pod_spec=envfrom(("configMap", "db-config")),
            ),
            workload(
                "StatefulSet",
                "other",
                {},
                applied=applied,
                pod_spec=envfrom(("configMap", "db-config")),
            ),
        ],
    )
    assert run.patches() == [] and run.adoptions() == []
    run.change(source("ConfigMap", "db-config", V2, rv="11"), at=10.0)
    run.tick(11.0)
    patches = run.patches()
    assert sorted((p.kind, p.deployment) for p in patches) == [
        ("daemonset", "agent"),
        ("statefulset", "db"),
    ]
    assert all(
        p.namespace == "shipshape" and p.data_hash == source("ConfigMap", "db-config", V2).data_hash
        for p in patches
    )
    planned = run.records(k.RESTART_PLANNED)
    assert sorted(r.object for r in planned) == ["daemonset/agent", "statefulset/db"]
    assert {r.namespace for r in planned} == {"shipshape"}
    [scheduled] = run.records(k.DEBOUNCE_SCHEDULED)
    assert scheduled.data["targets"] == ["daemonset/agent", "statefulset/db"]


def test_a_secret_change_rolls_only_with_watch_secrets():
    spec = envfrom(("secret", "db-password"))
    for watch, expected in ((False, 0), (True, 1)):
        s1 = source("Secret", "db-password", {"password": "aHVudGVyMg=="}, rv="5")
        run = start(
            [s1],
            [workload("Deployment", "api", AUTO, applied=s1.data_hash, pod_spec=spec)],
            watch_secrets=watch,
        )
        run.change(source("Secret", "db-password", {"password": "c3dvcmRmaXNo"}, rv="6"), at=10.0)
        run.tick(11.0)
        assert len(run.patches()) == expected, f"WATCH_SECRETS={watch}"
        if watch:
            [patch] = run.patches()
            assert patch.configmap == "secret/db-password"
            assert patch.data_hash.startswith("hmac-sha256:")


def test_ignore_on_a_configmap_beats_auto_and_the_label_rule():
    ignored = {"reloader.stakater.com/ignore": "true"}
    c1 = source("ConfigMap", "app-config", V1, annotations=ignored, labels={"app": "a", "env": "e"})
    run = start(
        [c1],
        [
            workload(
                "Deployment",
                "a",
                AUTO,
                applied="x",
                pod_spec=envfrom(("configMap", "app-config")),
                labels={"app": "a", "env": "e"},
            )
        ],
    )
    run.change(
        source(
            "ConfigMap",
            "app-config",
            V2,
            rv="2",
            annotations=ignored,
            labels={"app": "a", "env": "e"},
        ),
        at=10.0,
    )
    run.tick(20.0)
    assert run.patches() == [] and run.adoptions() == []


def test_search_counts_only_referenced_sources_that_carry_match():
    search = {"reloader.stakater.com/search": "true"}
    matched = {"reloader.stakater.com/match": "true"}
    spec = envfrom(("configMap", "with-match"), ("configMap", "without"))
    run = start(
        [
            source("ConfigMap", "with-match", V1, annotations=matched),
            source("ConfigMap", "without", V1),
        ],
        [workload("Deployment", "web", search, applied="old", pod_spec=spec)],
    )
    assert [p.deployment for p in run.patches()] == ["web"]  # catch-up: the applied hash differs
    run.feed(PatchSucceeded("web", run.patches()[0].correlation_id, 2))
    mark = run.mark()
    run.change(source("ConfigMap", "without", V2, rv="2"), at=10.0)
    run.tick(20.0)
    assert run.patches(mark) == []
    run.change(source("ConfigMap", "with-match", V2, rv="3", annotations=matched), at=30.0)
    run.tick(40.0)
    assert [p.deployment for p in run.patches(mark)] == ["web"]


def test_a_reload_list_counts_sources_the_pod_spec_does_not_reference():
    run = start(
        [source("ConfigMap", "app-7", V1), source("ConfigMap", "unrelated", V1)],
        [
            workload(
                "StatefulSet",
                "s",
                {"configmap.reloader.stakater.com/reload": "app-.*"},
                applied=None,
            )
        ],
    )
    [adopt] = run.adoptions()
    assert (adopt.kind, adopt.deployment) == ("statefulset", "s")
    assert adopt.data_hash == source("ConfigMap", "app-7", V1).data_hash


def test_shipshape_debounce_overrides_the_window_of_one_workload():
    c1 = source("ConfigMap", "shared", V1)
    spec = envfrom(("configMap", "shared"))
    slow = {**AUTO, "shipshape.io/debounce": "30s"}
    run = start(
        [c1],
        [
            workload("Deployment", "fast", AUTO, applied=c1.data_hash, pod_spec=spec),
            workload("Deployment", "slow", slow, applied=c1.data_hash, pod_spec=spec),
        ],
    )
    run.change(source("ConfigMap", "shared", V2, rv="2"), at=10.0)
    run.run_until(12.0)
    assert [p.deployment for p in run.patches()] == ["fast"]
    run.run_until(39.0)
    assert [p.deployment for p in run.patches()] == ["fast"]
    run.run_until(40.5)
    assert [p.deployment for p in run.patches()] == ["fast", "slow"]


def test_a_resync_keeps_the_debounce_of_a_workload_with_several_sources():
    """A window open on one source decides for the workload: a resync finding it drifted
    through another source (no window of its own) must not restart it early."""
    first, second = source("ConfigMap", "a", V1), source("ConfigMap", "b", V1)
    spec = envfrom(("configMap", "a"), ("configMap", "b"))
    slow = {**AUTO, "shipshape.io/debounce": "30s"}
    view = workload("Deployment", "slow", slow, pod_spec=spec)
    run = start([first, second], [view], resync_seconds=5.0)
    [adoption] = run.adoptions()
    run.feed(
        DeploymentSeen(EventType.MODIFIED, workload(
            "Deployment", "slow", slow, pod_spec=spec, applied=adoption.data_hash, rv="2"
        )),
        at=1.0,
    )  # fmt: skip
    run.change(source("ConfigMap", "a", V2, rv="3"), at=10.0)
    run.run_until(39.0)  # resyncs at 15, 20, ... 35 found it drifted
    assert run.patches() == []
    run.run_until(40.5)
    assert [p.deployment for p in run.patches()] == ["slow"]


def test_only_what_decisions_use_makes_a_workload_observed_again():
    """A new warning alone is reported, not re-observed; a new debounce override is
    observed (and journaled), even on a Deployment the label rule selects."""
    c1 = source("ConfigMap", "c", V1)
    spec = envfrom(("configMap", "c"))
    run = start([c1], [workload("Deployment", "d", AUTO, applied=c1.data_hash, pod_spec=spec)])
    before = len(run.records(k.DEPLOYMENT_OBSERVED))
    noisy = {**AUTO, "shipshape.io/search": "maybe"}
    run.feed(
        DeploymentSeen(EventType.MODIFIED, workload(
            "Deployment", "d", noisy, applied=c1.data_hash, pod_spec=spec, rv="2"
        )),
        at=1.0,
    )  # fmt: skip
    assert len(run.records(k.WORKLOAD_WARNING)) == 1
    assert len(run.records(k.DEPLOYMENT_OBSERVED)) == before
    labels = {"app": "helloworld", "env": "test"}
    for rv, marks in (("3", {}), ("4", {"shipshape.io/debounce": "2s"})):
        run.feed(
            DeploymentSeen(EventType.MODIFIED, workload(
                "Deployment", "l", marks, applied=None, labels=labels, rv=rv
            )),
            at=2.0,
        )  # fmt: skip
    first, second = run.records(k.DEPLOYMENT_OBSERVED)[-2:]
    assert "optin" not in first.data, "a label-selected Deployment's record is as before"
    assert second.data["optin"] == {"debounce_seconds": 2.0}


def test_a_bad_annotation_value_is_reported_once_per_workload_and_taken_as_false():
    c1 = source("ConfigMap", "c", V1)
    bad = {"reloader.stakater.com/auto": "yes please"}
    view = workload(
        "DaemonSet", "d", bad, applied=c1.data_hash, pod_spec=envfrom(("configMap", "c"))
    )
    run = start([c1], [view])
    [warning] = run.records(k.WORKLOAD_WARNING)
    assert warning.object == "daemonset/d" and "yes please" in warning.data["warnings"][0]
    events = [a for a in run.actions if isinstance(a, WarnWorkload)]
    assert [(e.kind, e.name) for e in events] == [("daemonset", "d")]
    for at in (5.0, 6.0):  # watch events and relists of the same object
        run.feed(
            DeploymentSeen(EventType.MODIFIED, view, "relist"),
            at=at,
        )
    run.change(source("ConfigMap", "c", V2, rv="2"), at=10.0)
    run.tick(20.0)
    assert len(run.records(k.WORKLOAD_WARNING)) == 1
    assert run.patches() == [], "auto taken as false"


def test_a_missing_reference_restarts_nothing_and_is_journaled_once():
    spec = envfrom(("configMap", "present"), ("configMap", "absent"))
    c1 = source("ConfigMap", "present", V1)
    view = workload("Deployment", "w", AUTO, applied=c1.data_hash, pod_spec=spec)
    run = start([c1], [view])
    [missing] = run.records(k.WORKLOAD_MISSING_REFERENCE)
    assert missing.object == "deployment/w" and missing.data == {"source": "configmap/absent"}
    run.run_until(1000.0)  # resyncs
    assert len(run.records(k.WORKLOAD_MISSING_REFERENCE)) == 1
    assert run.patches() == [] and run.adoptions() == []


def test_a_missing_name_with_dots_in_a_reload_list_is_journaled_too():
    """``app.config`` is a ConfigMap name as much as a pattern (dots are allowed in
    names); ``app-.*`` names no one ConfigMap and is not checked."""
    listed = {"configmap.reloader.stakater.com/reload": "app.config, app-.*, absent"}
    run = start([source("ConfigMap", "c", V1)], [workload("Deployment", "w", listed, applied="x")])
    missing = [r.data["source"] for r in run.records(k.WORKLOAD_MISSING_REFERENCE)]
    assert missing == ["configmap/absent", "configmap/app.config"]


def test_workloads_in_two_namespaces_are_keyed_apart():
    spec = envfrom(("configMap", "cfg"))
    a, b = source("ConfigMap", "cfg", V1, ns="a"), source("ConfigMap", "cfg", V1, ns="b")
    run = start(
        [a, b],
        [
            workload("Deployment", "web", AUTO, applied=a.data_hash, ns="a", pod_spec=spec),
            workload("Deployment", "web", AUTO, applied=a.data_hash, ns="b", pod_spec=spec),
        ],
    )
    run.feed(
        ConfigMapSeen(EventType.MODIFIED, source("ConfigMap", "cfg", V2, ns="b", rv="2")), at=10.0
    )
    run.tick(11.0)
    [patch] = run.patches()
    assert (patch.namespace, patch.deployment) == ("b", "web")
    assert {r.namespace for r in run.records(k.RESTART_PLANNED)} == {"b"}


def test_a_deleted_workload_leaves_its_namespace_index():
    spec = envfrom(("configMap", "cfg"))
    c1 = source("ConfigMap", "cfg", V1)
    view = workload("StatefulSet", "gone", AUTO, applied=c1.data_hash, pod_spec=spec)
    run = start([c1], [view])
    run.feed(DeploymentSeen(EventType.DELETED, view), at=5.0)
    run.change(source("ConfigMap", "cfg", V2, rv="2"), at=10.0)
    run.tick(20.0)
    assert run.patches() == []
    [skipped] = [r for r in run.records(k.DEBOUNCE_SKIPPED) if r.data["reason"] == "no-target"]
    assert skipped.object == "configmap/cfg"


def test_turning_auto_on_makes_the_workload_restart_for_its_configmap():
    """The opt-in is indexed again when it changes: the next change finds the workload."""
    c1 = source("ConfigMap", "cfg", V1)
    spec = envfrom(("configMap", "cfg"))
    run = start([c1], [workload("Deployment", "web", {}, applied=c1.data_hash, pod_spec=spec)])
    run.feed(
        DeploymentSeen(EventType.MODIFIED, workload(
            "Deployment", "web", AUTO, applied=c1.data_hash, pod_spec=spec, rv="2"
        )),
        at=5.0,
    )  # fmt: skip
    assert run.patches() == [] and run.adoptions() == [], "in sync: auto alone restarts nothing"
    run.change(source("ConfigMap", "cfg", V2, rv="3"), at=10.0)
    run.run_until(20.0)
    assert [p.deployment for p in run.patches()] == ["web"]


def test_a_changed_reload_list_follows_the_sources_it_names_now():
    """From ``auto`` (the referenced ``cfg``) to a list naming ``other``: ``other``'s
    changes restart the workload, ``cfg``'s no longer do."""
    cfg, other = source("ConfigMap", "cfg", V1), source("ConfigMap", "other", V1)
    spec = envfrom(("configMap", "cfg"))
    run = start(
        [cfg, other], [workload("Deployment", "web", AUTO, applied=cfg.data_hash, pod_spec=spec)]
    )
    listed = {"configmap.reloader.stakater.com/reload": "other"}
    run.feed(
        DeploymentSeen(EventType.MODIFIED, workload(
            "Deployment", "web", listed, applied=cfg.data_hash, pod_spec=spec, rv="2"
        )),
        at=5.0,
    )  # fmt: skip
    assert run.patches() == [], "the same data: nothing to roll"
    run.change(source("ConfigMap", "cfg", V2, rv="3"), at=10.0)
    run.run_until(20.0)
    assert run.patches() == []
    run.change(source("ConfigMap", "other", V2, rv="4"), at=30.0)
    run.run_until(40.0)
    [patch] = run.patches()
    assert (patch.deployment, patch.configmap) == ("web", "other")


def test_a_reload_item_is_a_whole_name_not_a_prefix():
    listed = {"configmap.reloader.stakater.com/reload": "app"}
    app, extra = source("ConfigMap", "app", V1), source("ConfigMap", "app-extra", V1)
    run = start([app, extra], [workload("StatefulSet", "s", listed, applied=app.data_hash)])
    assert run.patches() == [] and run.adoptions() == []
    run.change(source("ConfigMap", "app-extra", V2, rv="2"), at=10.0)
    run.run_until(20.0)
    assert run.patches() == []
    run.change(source("ConfigMap", "app", V2, rv="3"), at=30.0)
    run.run_until(40.0)
    assert [(p.kind, p.deployment, p.configmap) for p in run.patches()] == [
        ("statefulset", "s", "app")
    ]


# ------------------------------------------------------ deleted and re-created


def test_a_recreated_deployment_is_not_taken_for_the_one_restarted_before():
    """What this process patched into the old object does not count for the new one."""
    run = started(data=V1, applied=V1)
    run.change(cm("helloworld-config-test", V2, rv="11"), at=10.0)
    run.tick(11.0)
    succeed(run, generation=2)
    run.feed(DeploymentSeen(EventType.DELETED, deploy("helloworld-test", h(V2), rv="20")))
    # Re-created from a manifest that still carries the old hash.
    run.feed(DeploymentSeen(EventType.ADDED, deploy("helloworld-test", h(V1), rv="30")), at=20.0)
    [_, again] = run.patches()
    assert (again.deployment, again.data_hash) == ("helloworld-test", h(V2))


def test_a_deleted_deployment_gives_its_rollout_slot_back_at_once():
    run = fleet(2, max_concurrent_rollouts=1)
    run.change(cm("cfg-000", V2, env="e000", rv="9"), at=10.0)
    run.tick(11.0)
    succeed(run, generation=2)  # app-000 rolls out, holding the only slot
    run.feed(DeploymentSeen(EventType.DELETED, deploy("app-000", h(V2), env="e000")), at=12.0)
    run.change(cm("cfg-001", V2, env="e001", rv="9"), at=13.0)
    run.tick(14.0)
    assert [p.deployment for p in run.patches()] == ["app-000", "app-001"]
    run.run_until(1000.0)
    assert run.records(k.ROLLOUT_TIMEOUT) == [], "nothing is followed for a deleted workload"


def test_a_recreated_workload_is_warned_about_and_checked_for_missing_sources_again():
    spec = envfrom(("configMap", "absent"))
    bad = {"reloader.stakater.com/auto": "yes please"}
    view = workload("DaemonSet", "d", bad, applied="x", pod_spec=spec)
    named = {"configmap.reloader.stakater.com/reload": "absent"}
    listed = workload("Deployment", "w", named, applied="x")
    run = start([source("ConfigMap", "c", V1)], [view, listed])
    assert len(run.records(k.WORKLOAD_WARNING)) == 1
    assert len(run.records(k.WORKLOAD_MISSING_REFERENCE)) == 1
    for gone in (view, listed):
        run.feed(DeploymentSeen(EventType.DELETED, gone), at=5.0)
        run.feed(DeploymentSeen(EventType.ADDED, gone))
    assert [r.object for r in run.records(k.WORKLOAD_WARNING)] == ["daemonset/d"] * 2
    assert [r.object for r in run.records(k.WORKLOAD_MISSING_REFERENCE)] == ["deployment/w"] * 2


# ------------------------------------------------------ ignore and match flipped


IGNORE = {"reloader.stakater.com/ignore": "true"}
MATCH = {"reloader.stakater.com/match": "true"}
SEARCH = {"reloader.stakater.com/search": "true"}


def two_sources(annotations, b_before, b_after):
    """Workload ``web`` referencing ``a`` and ``b``, in sync; ``b``'s annotations flip at 5 s."""
    a = source("ConfigMap", "a", V1, annotations=MATCH)
    b = source("ConfigMap", "b", V1, annotations=b_before)
    spec = envfrom(("configMap", "a"), ("configMap", "b"))
    run = start(
        [a, b], [workload("Deployment", "web", annotations, pod_spec=spec)], resync_seconds=60.0
    )
    [adopted] = run.adoptions()
    run.feed(DeploymentSeen(EventType.MODIFIED, workload(
        "Deployment", "web", annotations, applied=adopted.data_hash, pod_spec=spec, rv="2"
    )), at=1.0)  # fmt: skip
    mark = run.mark()
    run.change(source("ConfigMap", "b", V1, rv="3", annotations=b_after), at=5.0)
    return run, mark, spec


@pytest.mark.parametrize(
    ("annotations", "b_before", "b_after"),
    [
        (AUTO, {}, IGNORE),  # b stops counting
        (AUTO, IGNORE, {}),  # b counts again
        (SEARCH, MATCH, {}),  # b loses its match
        (SEARCH, {}, MATCH),  # b gains one
    ],
)
def test_flipping_ignore_or_match_on_a_source_restarts_nothing(annotations, b_before, b_after):
    """Neither source's data changed, so the pods run what they ran: the workload's new
    combination of hashes is adopted (metadata only), never rolled out, and ``ignore``
    keeps its promise of restarting nothing."""
    run, mark, spec = two_sources(annotations, b_before, b_after)
    [adopted] = run.adoptions(mark)
    assert adopted.deployment == "web" and run.patches(mark) == []
    skipped = [r.data["reason"] for r in run.records(k.DEBOUNCE_SKIPPED, mark)]
    counts = b_after != IGNORE and (annotations == AUTO or b_after == MATCH)
    assert skipped == (["adopted"] if counts else ["adopted", "no-target"])
    assert k.DEBOUNCE_SCHEDULED not in run.kinds(mark), "no window: no data changed"
    run.run_until(200.0)  # resyncs before the watch shows the adoption
    assert run.patches(mark) == []
    run.feed(
        DeploymentSeen(
            EventType.MODIFIED,
            workload(
                "Deployment", "web", annotations, applied=adopted.data_hash, pod_spec=spec, rv="4"
            ),
        ),
        at=201.0,
    )
    run.run_until(600.0)
    assert run.patches(mark) == []
    assert {a.data_hash for a in run.adoptions(mark)} == {adopted.data_hash}
    run.change(source("ConfigMap", "a", V2, rv="5", annotations=MATCH), at=700.0)
    run.run_until(710.0)
    assert [(p.deployment, p.configmap) for p in run.patches(mark)] == [("web", "a")]


def test_a_refused_adoption_after_an_ignore_is_sent_again_on_the_version_read():
    run, mark, _ = two_sources(AUTO, {}, IGNORE)
    [adopted] = run.adoptions(mark)
    replaced = run.state.deployments[("shipshape", "deployment", "web")].applied_hash
    # Only the status changed meanwhile: the cluster still shows the replaced hash.
    [again] = run.feed(AdoptRefused("web", True, replaced, "9", "shipshape", "deployment"))
    assert (again.data_hash, again.resource_version) == (adopted.data_hash, "9")
    # Someone else wrote a hash: the watch brings it to the decision as any change.
    assert run.feed(AdoptRefused("web", True, "other", "10", "shipshape", "deployment")) == []


def test_deleting_one_of_a_workloads_sources_restarts_nothing():
    """A workload in sync with ``a`` and ``b`` loses ``b``: no data it runs changed, and a
    rollout would start pods whose reference to ``b`` cannot be met, so the combination
    of what is left is adopted (metadata only), as one source's deletion restarts nothing.
    ``b`` coming back is a change like any other: a window, then a restart."""
    run, _, spec = two_sources(AUTO, {}, {})
    mark = run.mark()
    run.feed(ConfigMapSeen(EventType.DELETED, source("ConfigMap", "b", V1, rv="4")), at=6.0)
    [adopted] = run.adoptions(mark)
    a_alone = run.state.configmaps[("shipshape", "configmap", "a")].data_hash
    assert (adopted.deployment, adopted.data_hash) == ("web", a_alone)
    [skip] = run.records(k.DEBOUNCE_SKIPPED, mark)
    assert (skip.object, skip.data["reason"]) == ("configmap/b", "adopted")
    [missing] = run.records(k.WORKLOAD_MISSING_REFERENCE, mark)
    assert (missing.object, missing.data["source"]) == ("deployment/web", "configmap/b")
    run.run_until(200.0)  # resyncs before the watch shows the adoption
    run.feed(DeploymentSeen(EventType.MODIFIED, workload(
        "Deployment", "web", AUTO, applied=a_alone, pod_spec=spec, rv="5"
    )), at=201.0)  # fmt: skip
    run.run_until(600.0)
    assert run.patches(mark) == []
    run.change(source("ConfigMap", "b", V1, rv="6"), at=700.0)
    run.run_until(710.0)
    assert [(p.deployment, p.configmap) for p in run.patches(mark)] == [("web", "b")]


def test_a_reference_added_to_the_pod_template_is_adopted_not_rolled_twice():
    """Editing the pod template to reference ``b`` too rolls the pods out already (they
    start on ``b`` as it is): the new combination is adopted, not rolled out a second
    time. ``b`` changing afterwards restarts the workload as usual."""
    a = source("ConfigMap", "a", V1)
    b = source("ConfigMap", "b", V1)
    one = envfrom(("configMap", "a"))
    run = start([a, b], [workload("Deployment", "web", AUTO, pod_spec=one)], resync_seconds=60.0)
    [adopted] = run.adoptions()
    run.feed(DeploymentSeen(EventType.MODIFIED, workload(
        "Deployment", "web", AUTO, applied=adopted.data_hash, pod_spec=one, rv="2"
    )), at=1.0)  # fmt: skip
    mark = run.mark()
    both = envfrom(("configMap", "a"), ("configMap", "b"))
    edited = workload("Deployment", "web", AUTO, applied=adopted.data_hash, pod_spec=both, rv="3")
    run.feed(DeploymentSeen(EventType.MODIFIED, edited), at=5.0)
    [again] = run.adoptions(mark)
    assert again.deployment == "web" and again.data_hash != adopted.data_hash
    run.run_until(200.0)  # resyncs before the watch shows the adoption
    assert run.patches(mark) == []
    run.feed(DeploymentSeen(EventType.MODIFIED, workload(
        "Deployment", "web", AUTO, applied=again.data_hash, pod_spec=both, rv="4"
    )), at=201.0)  # fmt: skip
    run.run_until(600.0)
    assert run.patches(mark) == []
    run.change(source("ConfigMap", "b", V2, rv="5"), at=700.0)
    run.run_until(710.0)
    assert [(p.deployment, p.configmap) for p in run.patches(mark)] == [("web", "b")]


def test_a_reload_list_grown_outside_the_pod_template_still_catches_up():
    """Annotations on the workload's own metadata do not roll its pods: a source that
    starts to count there, with a hash the pods were not started on, is rolled out."""
    a = source("ConfigMap", "a", V1)
    b = source("ConfigMap", "b", V1)
    spec = envfrom(("configMap", "a"), ("configMap", "b"))
    listed = {"configmap.reloader.stakater.com/reload": "a"}
    run = start([a, b], [workload("Deployment", "web", listed, pod_spec=spec)])
    [adopted] = run.adoptions()
    run.feed(DeploymentSeen(EventType.MODIFIED, workload(
        "Deployment", "web", listed, applied=adopted.data_hash, pod_spec=spec, rv="2"
    )), at=1.0)  # fmt: skip
    mark = run.mark()
    grown = {"configmap.reloader.stakater.com/reload": "a,b"}
    run.feed(DeploymentSeen(EventType.MODIFIED, workload(
        "Deployment", "web", grown, applied=adopted.data_hash, pod_spec=spec, rv="3"
    )), at=5.0)  # fmt: skip
    run.run_until(10.0)
    assert run.adoptions(mark) == []
    assert [p.deployment for p in run.patches(mark)] == ["web"]


def test_references_move_only_under_the_same_rules():
    """Counted references that change under unchanged ``auto``/``search`` are a template
    edit; references that appear because ``auto`` was turned on are not."""
    refs = {"configmap": {"auto": True, "references": ["a"]}, "debounce_seconds": 3.0}
    more = {"configmap": {"auto": True, "references": ["a", "b"]}, "debounce_seconds": 3.0}
    assert references_moved(refs, more) and references_moved(more, refs)
    assert not references_moved(refs, dict(refs))
    assert not references_moved({"configmap": {"reload": ["a"]}}, more)
    assert not references_moved(None, more) and not references_moved(more, None)


def test_a_named_source_deleted_later_is_journaled_missing_each_time_it_goes():
    """Deleted after the first sync, a source a workload names (a reference under
    ``auto``, or an item of a ``reload`` list) is journaled missing at once, not only
    when the workload is next observed; again after it came back and went again."""
    named = {"configmap.reloader.stakater.com/reload": "listed"}
    run = start(
        [source("ConfigMap", "a", V1), source("ConfigMap", "listed", V1)],
        [
            workload("Deployment", "web", AUTO, pod_spec=envfrom(("configMap", "a"))),
            workload("Deployment", "api", named),
        ],
    )
    mark = run.mark()
    for at, rv in ((5.0, "7"), (20.0, "9")):
        for name in ("a", "listed"):
            run.feed(ConfigMapSeen(EventType.DELETED, source("ConfigMap", name, V1, rv=rv)), at=at)
        run.change(source("ConfigMap", "a", V1, rv=rv + "0"), at=at + 5)
        run.change(source("ConfigMap", "listed", V1, rv=rv + "0"), at=at + 5)
    missing = [
        (r.object, r.data["source"]) for r in run.records(k.WORKLOAD_MISSING_REFERENCE, mark)
    ]
    assert (
        missing == [("deployment/web", "configmap/a"), ("deployment/api", "configmap/listed")] * 2
    )


def test_a_namespace_listed_late_is_compared_as_after_a_relist():
    """Its RoleBinding came after the others' first lists: the core synced
    without it, and its objects arrive later, as a list that adds them all.
    A workload in step stays as it is, one never adopted is adopted, and one
    whose source changed while nobody could see it rolls, once."""
    ours = source("ConfigMap", "cfg", V1, ns="a")
    spec = envfrom(("configMap", "cfg"))
    run = start(
        [ours], [workload("Deployment", "web", AUTO, applied=ours.data_hash, ns="a", pod_spec=spec)]
    )
    late = [
        source("ConfigMap", name, data, ns="b", rv="20")
        for name, data in (("same", V1), ("new", V1), ("moved", V2))
    ]
    same, new, moved = late
    workloads = [
        workload(kind, name, AUTO, applied=applied, ns="b", pod_spec=envfrom(ref), rv=rv)
        for kind, name, applied, ref, rv in (
            ("Deployment", "in-step", same.data_hash, ("configMap", "same"), "21"),
            ("StatefulSet", "never", None, ("configMap", "new"), "22"),
            ("DaemonSet", "drifted", same.data_hash, ("configMap", "moved"), "23"),
        )
    ]
    run.now = 10.0
    for view in late:
        run.feed(ConfigMapSeen(EventType.ADDED, view, "list"))
    run.feed(Listed(Resource.CONFIGMAPS, "24", 4, initial=False, reason="start", added=3))
    for view in workloads:
        run.feed(DeploymentSeen(EventType.ADDED, view, "list"))
    run.feed(Listed(Resource.DEPLOYMENTS, "24", 3, initial=False, reason="start", added=3))
    run.run_until(30.0)
    # (Sent again by the relist while unanswered, as after any list.)
    assert {(a.namespace, a.deployment) for a in run.adoptions()} == {("b", "never")}
    assert {a.data_hash for a in run.adoptions()} == {new.data_hash}
    [patch] = run.patches()
    assert (patch.namespace, patch.kind, patch.deployment) == ("b", "daemonset", "drifted")
    assert patch.data_hash == moved.data_hash


def test_the_namespaces_a_list_left_out_are_journaled_with_it():
    run = start([], [])
    run.feed(Listed(Resource.SECRETS, "a=5", 0, initial=True, forbidden=("b", "c")))
    run.feed(Listed(Resource.SECRETS, "6", 0, initial=False, reason="resync"))
    started, relisted = run.records(k.WATCH_STARTED)[-1], run.records(k.WATCH_RELISTED)[-1]
    assert started.data["forbidden_namespaces"] == ["b", "c"]
    assert "forbidden_namespaces" not in relisted.data, "absent when none was left out"
