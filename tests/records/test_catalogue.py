"""The record catalogue: one payload per kind, unique strings, exact round trips."""

from __future__ import annotations

import json
import re
from dataclasses import FrozenInstanceError, fields
from pathlib import Path

import pytest

import records
from records import ABSENT, PAYLOADS, kinds, parse
from records.payload import register
from tests.records.scenarios import produced

ROOT = Path(__file__).resolve().parents[2]

#: The kinds of contract section 2 (design/contracts.md), in its order.
SECTION_2 = [
    "controller.started",
    "controller.stopped",
    "watch.started",
    "watch.error",
    "watch.relisted",
    "configmap.observed",
    "debounce.scheduled",
    "debounce.coalesced",
    "debounce.skipped",
    "restart.planned",
    "restart.patched",
    "restart.retry",
    "restart.failed",
    "restart.dropped",
    "restart.flushed",
    "rollout.completed",
    "rollout.timeout",
    "leader.acquired",
    "leader.lost",
    "leader.released",
    "leader.observed",
    "operator.note",
    "journal.vacuumed",
]
#: Kinds added after the contract's list (the contract allows additions).
ADDED = {
    "restart.superseded",
    "journal.checkpoint",
    "controller.stopping",
    "deployment.observed",
    "workload.warning",
    "workload.missing-reference",
    "rollout.skipped",
    "journal.shipped",
}

#: A full ``data`` dict for every kind (every optional key present).
SAMPLES: dict[str, dict] = {
    kinds.CONTROLLER_STARTED: {
        "identity": "c-0", "version": "1.2.0", "commit": "abc", "pid": 7,
        "namespace": "shipshape", "leader_election": True, "debounce_seconds": 5.0,
        "policy": {"debounce_seconds": 5.0}, "lease_name": "l", "http_port": 8080,
    },
    kinds.CONTROLLER_STOPPING: {"reason": "SIGTERM", "pending": 2},
    kinds.CONTROLLER_STOPPED: {"reason": "SIGTERM", "flushed": 1, "dropped": 0,
                               "uptime_seconds": 3.5},
    kinds.WATCH_STARTED: {"resource": "configmaps", "resource_version": "1", "count": 2,
                          "reason": "start"},
    kinds.WATCH_RELISTED: {"resource": "deployments", "resource_version": "9", "reason": "expired",
                           "count": 3, "added": 1, "modified": 0, "deleted": 2},
    kinds.WATCH_ERROR: {"resource": "configmaps", "error": "reset", "status": None,
                        "retry_in_seconds": 1.5},
    kinds.CONFIGMAP_OBSERVED: {
        "event_type": "MODIFIED", "source": "watch", "resource_version": "11", "data_hash": "h2",
        "previous_hash": "h1", "changed_keys": ["A"], "keys": ["A", "B"],
        "target": {"app": "helloworld", "env": "test"}, "ignore": True, "match": True,
    },
    kinds.DEPLOYMENT_OBSERVED: {
        "event_type": "ADDED", "source": "list", "resource_version": "4", "target": None,
        "applied_hash": None, "generation": 1,
        "optin": {"configmap": {"auto": True, "search": True, "reload": ["app-.*"],
                                "references": ["app-config"]},
                  "secret": {"reload": ["s"]}, "debounce_seconds": 30.0},
    },
    kinds.WORKLOAD_WARNING: {"warnings": ["shop/Deployment/web: shipshape.io/auto='y' x"]},
    kinds.WORKLOAD_MISSING_REFERENCE: {"source": "configmap/app-config"},
    kinds.DEBOUNCE_SCHEDULED: {"data_hash": "h", "reason": "change", "due_in_seconds": 5.0,
                               "targets": ["d"], "fire_at": "2026-01-01T00:00:05+00:00"},
    kinds.DEBOUNCE_COALESCED: {"data_hash": "h", "changes": 3, "window_seconds": 0.6,
                               "deployment": "d", "into": "corr"},
    kinds.DEBOUNCE_SKIPPED: {"reason": "adopted", "data_hash": "h", "deployment": "d"},
    kinds.RESTART_PLANNED: {"configmap": "c", "data_hash": "h", "previous_hash": None,
                            "attempt": 1, "flushed": False, "supersedes": "x",
                            "resource_version": "7", "source": "configmap/c"},
    kinds.RESTART_PATCHED: {"configmap": "c", "data_hash": "h", "attempt": 2, "generation": 3,
                            "flushed": True, "latency_seconds": 1.25, "confirmed_by": "watch",
                            "source": "configmap/c"},
    kinds.RESTART_RETRY: {
        "configmap": "c", "data_hash": "h", "attempt": 1, "next_attempt": 2,
        "delay_seconds": 0.0, "jitter": None,
        "error": {"reason": "conflict", "status": 409, "message": "m"},
        "reread": {"applied_hash": "h0", "resource_version": "8", "generation": None},
        "source": "configmap/c",
    },
    kinds.RESTART_FAILED: {"configmap": "c", "data_hash": "h", "attempt": 5,
                           "reason": "retries-exhausted",
                           "error": {"reason": "x", "status": 503, "message": "m"},
                           "next_resync_in_seconds": None, "source": "configmap/c"},
    kinds.RESTART_DROPPED: {"configmap": "c", "data_hash": None, "attempt": 1,
                            "reason": "shutdown", "error": {"reason": "x"},
                            "source": "configmap/c"},
    kinds.RESTART_FLUSHED: {"data_hash": "h", "due_in_seconds": 0.7, "acting": True},
    kinds.RESTART_SUPERSEDED: {
        "configmap": "c", "data_hash": "h", "planned_hash": "h", "applied_hash": "h",
        "reason": "already-applied", "attempt": 1, "resource_version": "77", "generation": 2,
        "error": {"reason": "conflict", "status": 409, "message": "m"}, "source": "configmap/c",
    },
    kinds.ROLLOUT_COMPLETED: {"configmap": "secret/s", "generation": 2, "seconds": 4.5,
                              "replicas": 3, "source": "secret/s"},
    kinds.ROLLOUT_SKIPPED: {"configmap": "c", "generation": 2, "reason": "on-delete",
                            "source": "configmap/c"},
    kinds.ROLLOUT_TIMEOUT: {"configmap": "c", "generation": 2, "seconds": 600.0,
                            "reason": "progress-deadline-exceeded", "replicas": 3,
                            "source": "configmap/c"},
    kinds.LEADER_ACQUIRED: {"epoch": 4, "previous_holder": None, "acquire_latency_seconds": 3.2,
                            "await_relist": True, "extra": [1]},
    kinds.LEADER_LOST: {"epoch": 2, "reason": "renew-deadline", "seconds_since_renewal": 2.0,
                        "holder": "b"},
    kinds.LEADER_RELEASED: {"epoch": 2, "reason": "released", "lease_cleared": False,
                            "error": "timeout"},
    kinds.LEADER_OBSERVED: {"holder": "c-1", "epoch": 7},
    kinds.OPERATOR_NOTE: {"text": "drill", "drill": "start", "scenario": "region-loss"},
    kinds.JOURNAL_VACUUMED: {
        "cutoff": "2026-01-01T00:00:00.000000Z", "removed_records": 9, "first_removed_seq": 1,
        "last_removed_seq": 9, "last_removed_hash": "f" * 64,
        "last_removed_ts": "2025-12-31T00:00:00.000000Z",
        "last_removed_checkpoint": {"seq": 8, "signature": "s"},
    },
    kinds.JOURNAL_CHECKPOINT: {"seq": 9, "head_hash": "a" * 64, "ts": "t", "key_id": "k",
                               "from_seq": 1, "digests": ["ab", "cd"], "signature": "sig"},
    kinds.JOURNAL_SHIPPED: {"stream": "prod-eu/r1", "cluster": "prod-eu", "first_stream_seq": 1,
                            "last_stream_seq": 9, "last_hash": "b" * 64, "records": 9,
                            "actors": ["c-0", "c-1"]},
}  # fmt: skip


def test_every_kind_string_is_unique_and_well_formed():
    assert len(set(kinds.EVERY)) == len(kinds.EVERY)
    assert len(set(kinds.ALL)) == len(kinds.ALL)
    assert all(kinds.is_well_formed(kind) for kind in kinds.EVERY)
    constants = [v for n, v in vars(kinds).items() if n.isupper() and isinstance(v, str)]
    dotted = [value for value in constants if "." in value]
    assert sorted(dotted) == sorted(kinds.EVERY), "every kind constant is listed, once"


def test_the_kinds_are_the_contracts_list_plus_the_declared_additions():
    assert set(kinds.EVERY) == set(SECTION_2) | ADDED
    assert [kind for kind in kinds.ALL if kind in SECTION_2] == SECTION_2, "contract order"
    assert kinds.ADDED_KINDS <= ADDED


def test_every_kind_has_exactly_one_payload_class():
    assert set(PAYLOADS) == set(kinds.EVERY)
    assert len({cls for cls in PAYLOADS.values()}) == len(PAYLOADS)
    assert all(kind == cls.KIND for kind, cls in PAYLOADS.items())
    exported = {getattr(records, cls.__name__) for cls in PAYLOADS.values()}
    assert exported == set(PAYLOADS.values())


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_every_payload_round_trips_through_its_data_exactly(kind):
    data = SAMPLES[kind]
    payload = parse(kind, data)
    assert type(payload) is PAYLOADS[kind]
    assert payload.to_data() == data
    assert json.dumps(payload.to_data(), sort_keys=True) == json.dumps(data, sort_keys=True)
    assert type(payload).from_data(payload.to_data()) == payload


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_older_records_without_newer_keys_still_read(kind):
    payload = parse(kind, {})
    assert payload is not None
    for item in fields(payload):
        assert getattr(payload, item.name) in (None, ABSENT, {}), item.name
    with pytest.raises(FrozenInstanceError):
        payload.kind = "x"  # type: ignore[misc]


def test_samples_cover_every_kind():
    assert set(SAMPLES) == set(kinds.EVERY)


def test_keys_a_payload_writes_only_sometimes_are_left_out_when_absent():
    skipped = records.DebounceSkipped(reason="unchanged", data_hash="h")
    assert skipped.to_data() == {"reason": "unchanged", "data_hash": "h"}
    failed = records.RestartFailed("c", "h", 1, "not-found", {"reason": "not-found"})
    assert "next_resync_in_seconds" not in failed.to_data()
    kept = records.RestartFailed("c", "h", 1, "x", {}, next_resync_in_seconds=None)
    assert kept.to_data()["next_resync_in_seconds"] is None


def test_older_observations_without_opt_in_or_flags_read_as_before():
    """Records written before ``optin``/``ignore``/``match`` existed: absent, not false."""
    old = SAMPLES[kinds.DEPLOYMENT_OBSERVED].copy()
    del old["optin"]
    observed = records.DeploymentObserved.from_data(old)
    assert observed.optin is ABSENT and observed.to_data() == old
    cm = SAMPLES[kinds.CONFIGMAP_OBSERVED].copy()
    del cm["ignore"], cm["match"]
    seen = records.ConfigMapObserved.from_data(cm)
    assert (seen.ignore, seen.match) == (ABSENT, ABSENT) and seen.to_data() == cm


@pytest.mark.parametrize(
    ("configmap", "source", "expected"),
    [
        ("c", "configmap/c", "configmap/c"),
        ("secret/s", "secret/s", "secret/s"),
        ("c", ABSENT, "configmap/c"),  # an older record: a bare name is a ConfigMap's
        ("secret/s", ABSENT, "secret/s"),  # an older record of a Secret: its prefix
        (None, ABSENT, None),
    ],
)
def test_a_restart_names_its_source_in_new_and_older_records(configmap, source, expected):
    data = {"configmap": configmap, "data_hash": "h", "attempt": 1}
    if source is not ABSENT:
        data["source"] = source
    planned = records.RestartPlanned.from_data(data)
    assert planned.configmap == configmap, "the stable field keeps its value"
    assert records.source_object(planned.configmap, planned.source) == expected


def test_named_fields_win_over_the_rest_and_unknown_keys_are_kept_by_it():
    started = records.ControllerStarted(
        identity="c-0", namespace="a", settings={"namespace": "b", "lease_name": "l"}
    )
    assert started.to_data()["namespace"] == "a" and started.to_data()["lease_name"] == "l"
    read = records.ControllerStarted.from_data({"namespace": "n", "http_port": 1})
    assert read.namespace == "n" and read.settings == {"http_port": 1}


def test_an_unknown_kind_has_no_payload():
    assert parse("future.kind", {"x": 1}) is None


def test_every_golden_record_reads_back_to_the_same_data():
    for name, recorded in produced().items():
        for kind, _obj, _corr, data in recorded:
            assert parse(kind, data).to_data() == data, (name, kind)


def test_no_module_of_the_controller_parses_a_payload_by_string_key():
    """Payloads are read through the catalogue: no ``data.get("key")`` / ``data["key"]``.

    The journal's and the CLI's modules have the same test in tests/test_architecture.py.
    """
    pattern = re.compile(r"""\b(?:data|payload)\s*(?:\.get\(\s*|\[\s*)["'][a-z_]+["']""")
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((ROOT / "reloader").rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_a_record_stored_without_data_reads_as_an_empty_one(kind):
    assert parse(kind, None) == parse(kind, {})


def test_to_data_gives_what_the_journal_reads_back_from_json():
    """Tuples become lists and mapping keys strings, as after a trip through JSON."""
    scheduled = records.DebounceScheduled("h", "changed", 5.0, ("deployment/a", "deployment/b"))
    started = records.ControllerStarted(identity="c-0", policy={1: ("x",)})
    for payload in (scheduled, started):
        data = payload.to_data()
        assert data == json.loads(json.dumps(data))
    assert scheduled.to_data()["targets"] == ["deployment/a", "deployment/b"]
    assert started.to_data()["policy"] == {"1": ["x"]}


def test_a_second_payload_for_a_taken_kind_is_refused():
    before = dict(PAYLOADS)
    with pytest.raises(ValueError, match=r"restart\.planned"):

        @register
        class Twin(records.Payload):
            KIND = kinds.RESTART_PLANNED

    assert before == PAYLOADS


@pytest.mark.parametrize(
    ("text", "kind", "kind_filter"),
    [
        ("restart.planned", True, True),
        ("workload.missing-reference", True, True),
        ("restart", False, True),  # an area: a filter, not a kind
        ("Restart.planned", False, False),
        ("restart.", False, False),
        (".planned", False, False),
        ("restart planned", False, False),
        ("", False, False),
    ],
)
def test_kinds_and_filters_have_the_dotted_shape(text, kind, kind_filter):
    assert kinds.is_well_formed(text) is kind
    assert kinds.is_valid_filter(text) is kind_filter


@pytest.mark.parametrize(
    ("kind", "pattern", "expected"),
    [
        ("restart.planned", "restart.planned", True),
        ("restart.planned", "restart", True),
        ("restart.planned", "restart.plan", False),
        ("restart.planned", "rest", False),
        ("leader.acquired", "lead", False),
    ],
)
def test_a_filter_matches_its_kind_or_its_whole_area(kind, pattern, expected):
    assert kinds.matches(kind, pattern) is expected


def test_an_empty_source_falls_back_to_the_configmap_name():
    assert records.source_object("c", "") == "configmap/c"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"data_hash":"h2","event_type":"MODIFIED"}', "h2"),
        ('{"event_type":"DELETED","data_hash":null}', ""),
        ('{"event_type":"ADDED"}', None),
    ],
)
def test_the_hash_is_peeked_from_stored_text(text, expected):
    assert records.ConfigMapObserved.peek_hash(text) == expected


@pytest.mark.parametrize("kept", [{"seq": 8, "data": "garbled"}, ["seq", 8], "x", None])
def test_a_tombstone_with_a_malformed_kept_checkpoint_keeps_none(kept):
    data = {**SAMPLES[kinds.JOURNAL_VACUUMED], "last_removed_checkpoint": kept}
    assert records.JournalVacuumed.from_data(data).kept_checkpoint() is None
