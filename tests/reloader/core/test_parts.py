"""Hashing, backoff, the token bucket, rollout judgement and the policy."""

from __future__ import annotations

import hashlib
import random
import uuid

import pytest

from reloader.core import (
    Policy,
    RolloutStatus,
    backoff_delay,
    changed_keys,
    combined_hash,
    correlation_id,
    data_hash,
    key_digests,
)
from reloader.core.hashing import uuid5_text
from reloader.core.ratelimit import TokenBucket
from reloader.core.rollout import RolloutOutcome, rollout_outcome
from tests.reloader.core.scenario import V2, cm, started

# ------------------------------------------------------------------- hashing


def test_the_data_hash_is_sha256_of_a_canonical_form():
    assert data_hash({"a": "1", "b": "2"}, None) == data_hash({"b": "2", "a": "1"}, {})
    assert len(data_hash({}, None)) == 64
    assert data_hash(None, None) == data_hash({}, {})
    # Workloads carry this hash in an annotation: it must never drift.
    canonical = '{"binaryData":{"b":"AAE="},"data":{"MESSAGE":"héllo","a":"1"}}'
    assert data_hash({"a": "1", "MESSAGE": "héllo"}, {"b": "AAE="}) == (
        hashlib.sha256(canonical.encode()).hexdigest()
    )


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (({"a": "1"}, None), ({"a": "2"}, None)),
        (({"a": "1"}, None), ({"a": "1", "b": ""}, None)),
        (({"a": "AAEC"}, None), (None, {"a": "AAEC"})),  # data vs binaryData
        (({"a": "1,b=2"}, None), ({"a": "1", "b": "2"}, None)),  # no ambiguity from separators
        (({"é": "ü"}, None), ({"e": "u"}, None)),
    ],
)
def test_different_content_gives_different_hashes(left, right):
    assert data_hash(*left) != data_hash(*right)


def test_changed_keys_lists_added_removed_and_modified_keys():
    before = key_digests({"a": "1", "b": "2", "c": "3"}, None)
    after = key_digests({"a": "1", "b": "changed", "d": "4"}, None)
    assert changed_keys(before, after) == ["b", "c", "d"]
    assert changed_keys(None, after) == ["a", "b", "d"]
    assert changed_keys(after, after) == []


def test_key_digests_hold_no_values():
    digests = key_digests({"password": "hunter2"}, {"blob": "c2VjcmV0"})
    assert "hunter2" not in repr(digests) and "c2VjcmV0" not in repr(digests)
    assert [key for key, _ in digests] == ["blob", "password"]


def test_a_single_configmap_hash_is_its_own_combined_hash():
    assert combined_hash([("cfg", "abc")]) == "abc"
    two = combined_hash([("a", "1"), ("b", "2")])
    assert two == combined_hash([("b", "2"), ("a", "1")])
    assert two != combined_hash([("a", "1"), ("b", "3")])


def test_correlation_ids_are_derived_from_the_observation():
    one = correlation_id("shipshape", "cfg", "10", "abc")
    assert one == correlation_id("shipshape", "cfg", "10", "abc")
    assert one != correlation_id("shipshape", "cfg", "11", "abc")
    assert one != correlation_id("other", "cfg", "10", "abc")
    assert len(one) == 36


def test_correlation_ids_stay_the_uuid5_journals_already_hold():
    # Replay recomputes the ids of old records: the derivation must never drift.
    digest = "ab" * 32
    assert correlation_id("shipshape", "helloworld-config-test", "10", digest) == (
        "5fe9f202-6cd7-5324-8645-662e50fc6d62"
    )
    rng = random.Random(7)
    for _ in range(300):
        name = "".join(rng.choice("aZ9-/@#é\u2028🚀") for _ in range(rng.randrange(0, 40)))
        namespace = uuid.UUID(int=rng.getrandbits(128))
        assert uuid5_text(namespace.bytes, name) == str(uuid.uuid5(namespace, name))


def test_ordered_correlation_ids_sort_by_resource_version():
    # The journal's index of correlation ids is appended to only if ids made
    # later sort later: an API server's resourceVersions rise.
    versions = [1, 9, 10, 99, 100, 2**40, 2**48 - 1]
    ids = [correlation_id("ns", "cfg", str(v), "ab" * 32, ordered=True) for v in versions]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    for text, version in zip(ids, versions, strict=True):
        value = uuid.UUID(text)
        assert (value.version, value.variant) == (8, uuid.RFC_4122)
        assert value.int >> 80 == version  # the first 48 bits
        assert str(value) == text


def test_ordered_correlation_ids_are_derived_from_the_observation_too():
    one = correlation_id("shipshape", "cfg", "10", "abc", ordered=True)
    assert one == correlation_id("shipshape", "cfg", "10", "abc", ordered=True)
    # The same version of another object, or another hash: its own id.
    assert one != correlation_id("other", "cfg", "10", "abc", ordered=True)
    assert one != correlation_id("shipshape", "secret/cfg", "10", "abc", ordered=True)
    assert one != correlation_id("shipshape", "cfg", "10", "abd", ordered=True)
    # Only the first 48 bits follow the version: the same version of two objects differs after.
    assert one[:13] == correlation_id("other", "cfg", "10", "abc", ordered=True)[:13]


def test_a_resource_version_that_is_no_number_keeps_the_uuid5():
    for version in ("", "abc", "10a", "\u0661\u0662"):  # Arabic-Indic digits are no number here
        ordered = correlation_id("ns", "cfg", version, "abc", ordered=True)
        assert ordered == correlation_id("ns", "cfg", version, "abc")
        assert uuid.UUID(ordered).version == 5


def test_the_core_orders_its_ids_only_under_the_policy_that_says_so():
    # Journals of controllers before the setting replay with the UUID5 they hold.
    assert "ordered_correlation_ids" not in Policy().as_dict()
    assert Policy(ordered_correlation_ids=True).as_dict()["ordered_correlation_ids"] is True
    assert Policy.from_dict({}).ordered_correlation_ids is False
    for ordered, version in ((False, 5), (True, 8)):
        run = started(ordered_correlation_ids=ordered)
        run.change(cm("helloworld-config-test", V2, rv="11"), at=1.0)
        run.run_until(3.0)
        planned = run.records("restart.planned")
        assert len(planned) == 1
        assert uuid.UUID(planned[0].correlation_id).version == version
        observed = run.records("configmap.observed")[-1]
        assert observed.correlation_id == planned[0].correlation_id


# ------------------------------------------------------------------- backoff


def test_backoff_doubles_up_to_the_cap_and_jitter_spreads_the_upper_half():
    policy = Policy(retry_base_seconds=1.0, retry_max_seconds=10.0)
    assert [backoff_delay(policy, n, 0.999999) for n in (1, 2, 3, 4, 5)] == pytest.approx(
        [1.0, 2.0, 4.0, 8.0, 10.0], rel=1e-5
    )
    assert [backoff_delay(policy, n, 0.0) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert backoff_delay(policy, 1000, 0.5) == 7.5
    assert backoff_delay(policy, 1, -3) == 0.5 and backoff_delay(policy, 1, 7) == 1.0


@pytest.mark.parametrize("attempt", [1025, 10**6, 2**63])
def test_backoff_after_a_huge_attempt_number_is_the_cap_not_an_overflow(attempt):
    policy = Policy(retry_base_seconds=0.01, retry_max_seconds=60.0)
    assert backoff_delay(policy, attempt, 1.0) == 60.0


# -------------------------------------------------------------- token bucket


def test_the_bucket_allows_a_burst_then_the_rate():
    bucket = TokenBucket.full(rate=2.0, capacity=3.0)
    taken = []
    for _ in range(4):
        bucket, ok = bucket.take(10.0)
        taken.append(ok)
    assert taken == [True, True, True, False]
    assert bucket.next_token_at(10.0) == pytest.approx(10.5)
    bucket, ok = bucket.take(10.5)
    assert ok
    bucket, ok = bucket.take(100.0)
    assert ok and bucket.tokens == pytest.approx(2.0), "refill stops at the capacity"


def test_the_bucket_ignores_time_running_backwards():
    bucket = TokenBucket.full(rate=1.0, capacity=1.0)
    bucket, _ = bucket.take(10.0)
    bucket = bucket.refilled(5.0)
    assert bucket.tokens == 0.0 and bucket.updated_at == 10.0


# ------------------------------------------------------------------ rollouts


@pytest.mark.parametrize(
    ("status", "generation", "outcome"),
    [
        (RolloutStatus(2, 1, 3, 3, 0, 3), 2, RolloutOutcome.PROGRESSING),  # not observed yet
        (RolloutStatus(2, 2, 3, 4, 2, 3), 2, RolloutOutcome.PROGRESSING),  # updating
        (RolloutStatus(2, 2, 3, 4, 3, 3), 2, RolloutOutcome.PROGRESSING),  # old replica left
        (RolloutStatus(2, 2, 3, 3, 3, 2), 2, RolloutOutcome.PROGRESSING),  # not all available
        (RolloutStatus(2, 2, 3, 3, 3, 3), 2, RolloutOutcome.COMPLETED),
        (RolloutStatus(3, 3, 3, 3, 3, 3), 2, RolloutOutcome.COMPLETED),  # a later rollout done
        (RolloutStatus(0, 0, 0, 0, 0, 0), None, RolloutOutcome.COMPLETED),  # scaled to zero
        (RolloutStatus(2, 2, 3, 4, 1, 1, True), 2, RolloutOutcome.FAILED),
        # A StatefulSet partitioned at 1: ordinals 1 and 2 take the new template.
        (RolloutStatus(2, 2, 3, 3, 1, 3, partition=1), 2, RolloutOutcome.PROGRESSING),
        (RolloutStatus(2, 2, 3, 3, 2, 2, partition=1), 2, RolloutOutcome.PROGRESSING),
        (RolloutStatus(2, 2, 3, 3, 2, 3, partition=1), 2, RolloutOutcome.COMPLETED),
        (RolloutStatus(2, 2, 3, 3, 3, 3, partition=5), 2, RolloutOutcome.COMPLETED),
    ],
)
def test_rollout_outcome_judges_like_kubectl_rollout_status(status, generation, outcome):
    assert rollout_outcome(status, generation) is outcome


# -------------------------------------------------------------------- policy


def test_the_policy_round_trips_through_its_journal_form():
    policy = Policy(debounce_seconds=2.5, retry_max_attempts=3)
    assert Policy.from_dict({**policy.as_dict(), "unknown": 1}) == policy


@pytest.mark.parametrize(
    "bad",
    [
        {"debounce_seconds": -1},
        {"retry_max_attempts": 0},
        {"retry_base_seconds": 0},
        {"retry_base_seconds": 5, "retry_max_seconds": 1},
        {"restart_rate_per_second": 0},
        {"restart_burst": 0},
        {"max_concurrent_rollouts": 0},
        {"rollout_timeout_seconds": 0},
        {"resync_seconds": 0},
    ],
)
def test_the_policy_rejects_values_that_would_break_the_core(bad):
    with pytest.raises(ValueError, match="must"):
        Policy(**bad)
