"""Several namespaces' lists of one resource, reported to the core as one resource's."""

from __future__ import annotations

import pytest

from reloader.core import ConfigMapSeen, EventType, Listed, Resource, WatchFailed
from reloader.kube.namespaces import ListMerger
from tests.reloader.core.scenario import source

CM = Resource.CONFIGMAPS


def listed(count: int, rv: str, *, initial: bool = False, reason: str = "start", **diff) -> Listed:
    return Listed(CM, rv, count, initial=initial, reason=reason, **diff)


def seen(ns: str, name: str) -> ConfigMapSeen:
    return ConfigMapSeen(EventType.ADDED, source("ConfigMap", name, {"K": "1"}, ns=ns), "list")


@pytest.fixture
def merged():
    out: list = []
    merger = ListMerger(CM, ["team-b", "team-a"], out.append)
    return merger, out


def test_objects_pass_at_once_and_the_first_lists_are_one_listed_once_all_are_in(merged):
    merger, out = merged
    a, b = merger.emit_for("team-a"), merger.emit_for("team-b")
    a(seen("team-a", "x"))
    a(listed(1, "10", initial=True))
    assert out == [seen("team-a", "x")], "the objects at once; the list waits for team-b"
    b(seen("team-b", "y"))
    b(seen("team-b", "z"))
    b(listed(2, "12", initial=True))
    assert out[1:] == [
        seen("team-b", "y"),
        seen("team-b", "z"),
        Listed(CM, "team-a=10,team-b=12", 3, initial=True, reason="start"),
    ]


def test_a_failure_passes_through(merged):
    merger, out = merged
    failure = WatchFailed(CM, "forbidden", 403, 1.0)
    merger.emit_for("team-b")(failure)
    assert out == [failure]


def test_a_later_list_of_one_namespace_is_reported_alone_with_every_namespace_counted(merged):
    merger, out = merged
    a, b = merger.emit_for("team-a"), merger.emit_for("team-b")
    a(listed(1, "10", initial=True))
    b(listed(2, "12", initial=True))
    b(listed(4, "20", reason="expired", added=2))
    assert out[-1] == Listed(CM, "20", 5, initial=False, reason="expired", added=2)


def test_a_namespace_listing_again_before_the_others_first_lists_is_covered_by_them(merged):
    merger, out = merged
    a, b = merger.emit_for("team-a"), merger.emit_for("team-b")
    a(listed(1, "10", initial=True))
    a(listed(2, "15", reason="expired", added=1))
    assert out == [], "a relist before the resource's first list would count as its first"
    b(listed(2, "16", initial=True))
    assert out == [Listed(CM, "team-a=15,team-b=16", 4, initial=True, reason="start")]


def test_lists_asked_for_together_are_one_listed_once_every_namespace_listed_for_it(merged):
    merger, out = merged
    a, b = merger.emit_for("team-a"), merger.emit_for("team-b")
    a(listed(1, "10", initial=True))
    b(listed(2, "12", initial=True))
    merger.expect("leader")
    a(listed(1, "30", reason="leader", modified=1))
    b(listed(3, "29", reason="resync", added=1))  # begun before it was asked for
    assert out[1:] == [Listed(CM, "29", 4, initial=False, reason="resync", added=1)]
    b(listed(2, "31", reason="leader", deleted=1))
    assert out[2:] == [
        Listed(CM, "team-a=30,team-b=31", 3, initial=False, reason="leader", modified=1, deleted=1)
    ]
    a(listed(1, "40", reason="leader"))  # not asked for again: reported alone
    assert out[3:] == [Listed(CM, "40", 3, initial=False, reason="leader")]


def test_asked_for_during_the_first_lists_the_last_of_them_can_answer_it(merged):
    merger, out = merged
    a, b = merger.emit_for("team-a"), merger.emit_for("team-b")
    a(listed(1, "10", initial=True))  # begun before the leader asked
    merger.expect("leader")
    a(listed(1, "11", reason="leader"))
    b(listed(2, "12", initial=True, reason="leader"))  # its first list, begun after
    assert out == [Listed(CM, "team-a=11,team-b=12", 3, initial=True, reason="leader")]


def test_the_first_lists_do_not_answer_a_request_some_namespace_has_not_listed_for(merged):
    merger, out = merged
    a, b = merger.emit_for("team-a"), merger.emit_for("team-b")
    merger.expect("leader")
    a(listed(1, "10", initial=True, reason="leader"))
    b(listed(2, "12", initial=True))  # begun before the leader asked
    assert out == [Listed(CM, "team-a=10,team-b=12", 3, initial=True, reason="start")]
    b(listed(2, "13", reason="leader"))
    assert out[1:] == [Listed(CM, "team-a=10,team-b=13", 3, initial=False, reason="leader")]


def test_an_unknown_namespace_is_refused(merged):
    merger, _ = merged
    with pytest.raises(ValueError, match="'team-c' is not one of"):
        merger.emit_for("team-c")


FORBIDDEN = WatchFailed(CM, 'configmaps is forbidden: ... in the namespace "team-b"', 403, 0.5)


def test_a_namespace_refused_its_first_list_does_not_hold_the_others(merged):
    merger, out = merged
    a, b = merger.emit_for("team-a"), merger.emit_for("team-b")
    a(listed(1, "10", initial=True))
    assert out == []
    b(FORBIDDEN)
    assert out == [
        FORBIDDEN,
        Listed(CM, "team-a=10", 1, initial=True, reason="start", forbidden=("team-b",)),
    ], "the refusal is journaled first, then the first lists go on without team-b"


def test_a_refused_namespace_that_lists_at_last_adds_every_object_it_holds(merged):
    merger, out = merged
    a, b = merger.emit_for("team-a"), merger.emit_for("team-b")
    b(FORBIDDEN)
    a(listed(1, "10", initial=True))
    b(FORBIDDEN)  # refused again: nothing more to report than the failure
    assert out == [
        FORBIDDEN,
        Listed(CM, "team-a=10", 1, initial=True, reason="start", forbidden=("team-b",)),
        FORBIDDEN,
    ]
    b(seen("team-b", "y"))
    b(seen("team-b", "z"))
    b(listed(2, "12", initial=True))  # its watcher's first list
    assert out[3:] == [
        seen("team-b", "y"),
        seen("team-b", "z"),
        Listed(CM, "12", 3, initial=False, reason="start", added=2),
    ], "a later list for the core: it compares what it adds, as after any relist"


def test_a_namespace_refused_then_listed_before_the_others_is_covered_by_their_first_list(merged):
    merger, out = merged
    a, b = merger.emit_for("team-a"), merger.emit_for("team-b")
    b(FORBIDDEN)
    b(listed(2, "12", initial=True))
    assert out == [FORBIDDEN], "still waiting for team-a's first list"
    a(listed(1, "10", initial=True))
    assert out[1:] == [Listed(CM, "team-a=10,team-b=12", 3, initial=True, reason="start")]


def test_every_namespace_refused_is_a_first_list_of_nothing(merged):
    merger, out = merged
    merger.emit_for("team-a")(FORBIDDEN)
    assert out == [FORBIDDEN]
    merger.emit_for("team-b")(FORBIDDEN)
    assert out[1:] == [
        FORBIDDEN,
        Listed(CM, "", 0, initial=True, reason="start", forbidden=("team-a", "team-b")),
    ]


def test_lists_asked_for_together_do_not_wait_for_a_refused_namespace(merged):
    merger, out = merged
    a, b = merger.emit_for("team-a"), merger.emit_for("team-b")
    a(listed(1, "10", initial=True))
    b(FORBIDDEN)
    merger.expect("leader")  # team-b is refused already: not waited for
    a(listed(1, "30", reason="leader", modified=1))
    assert out[2:] == [
        Listed(
            CM, "team-a=30", 1, initial=False, reason="leader", modified=1, forbidden=("team-b",)
        )
    ]


def test_a_refusal_during_lists_asked_for_together_releases_them(merged):
    merger, out = merged
    a, b = merger.emit_for("team-a"), merger.emit_for("team-b")
    a(listed(1, "10", initial=True))
    b(listed(2, "12", initial=True))
    merger.expect("leader")
    a(listed(1, "30", reason="leader"))
    assert len(out) == 1, "waiting for team-b's list"
    b(FORBIDDEN)  # its RoleBinding is gone: what it listed last stays in the cache
    assert out[1:] == [
        FORBIDDEN,
        Listed(CM, "team-a=30,team-b=12", 3, initial=False, reason="leader", forbidden=("team-b",)),
    ]
    b(listed(2, "40", reason="resync"))
    assert out[3:] == [Listed(CM, "40", 3, initial=False, reason="resync")], "allowed again"


def test_a_failure_of_another_kind_is_waited_out(merged):
    merger, out = merged
    a, b = merger.emit_for("team-a"), merger.emit_for("team-b")
    a(listed(1, "10", initial=True))
    unavailable = WatchFailed(CM, "503 Service Unavailable", 503, 0.5)
    b(unavailable)
    assert out == [unavailable], "no first list without team-b: it may list in a moment"
