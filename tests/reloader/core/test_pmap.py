"""The state's persistent mappings: changed copies leave the original as it was."""

from __future__ import annotations

from reloader.core.pmap import PMap
from reloader.core.reconcile.scratch import Cow


def test_set_and_discard_return_copies_and_compare_like_dicts() -> None:
    base = PMap({"a": 1})
    changed = base.set("b", 2).discard("a")
    assert base == {"a": 1} and changed == {"b": 2}
    assert base.discard("missing") == base
    assert PMap() == {} and PMap() != {"a": 1}
    assert {"a": 1} == base  # noqa: SIM300 - a dict on the left, on purpose
    assert sorted(changed.items()) == [("b", 2)] and list(changed.keys()) == ["b"]


def test_a_step_changes_its_copy_only() -> None:
    before = PMap({("ns", "configmap", "a"): 1, ("ns", "configmap", "b"): 2})
    cow: Cow = Cow(before)
    assert cow.value is before, "unchanged: the same map"
    cow[("ns", "configmap", "c")] = 3
    del cow[("ns", "configmap", "a")]
    assert cow.pop(("ns", "configmap", "b")) == 2 and cow.pop("absent", "d") == "d"
    assert before == {("ns", "configmap", "a"): 1, ("ns", "configmap", "b"): 2}
    assert cow.value == {("ns", "configmap", "c"): 3}
    cow.clear()
    assert cow.value == {} and len(before) == 2
