"""``step_many`` is ``step`` folded over the events: the runtime may batch freely.

The reconcile loop steps the core once for all the watch events waiting in
its queue: one scratch space is opened and frozen for the whole burst. That is
only sound if the result, state and actions alike, is the one a fresh scratch
space per event (``step``) gives at the same time: with zero and non-zero
debounce, with changes that restart and changes nothing depends on, and with
patch outcomes, failures and rollouts among the events.
"""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from reloader.core import (
    ConfigMapSeen,
    DeploymentSeen,
    Event,
    EventType,
    PatchFailed,
    PatchRestart,
    PatchSucceeded,
    Policy,
    Record,
    Tick,
    step,
    step_many,
)
from tests.reloader.core.scenario import UNAVAILABLE, V1, V2, V3, Run, cm, deploy, h, rolled

ENVS = ("test", "prod", "dev")
DATA = (V1, V2, V3)


def _start(debounce: float) -> Run:
    policy = Policy(debounce_seconds=debounce, restart_rate_per_second=2.0, restart_burst=1)
    return Run.start(
        [cm(f"helloworld-config-{env}", V1) for env in ENVS]
        + [cm("unrelated-config-x", V1, app="other")],
        [deploy(f"helloworld-{env}", h(V1)) for env in ENVS],
        policy=policy,
    )


def _events(rng: random.Random, sent: list[PatchRestart], serial: int) -> list[Event]:
    """A burst of what a live controller may see at one moment."""
    events: list[Event] = []
    for n in range(rng.randint(1, 6)):
        rv = str(1000 + serial * 10 + n)
        roll = rng.random()
        env = rng.choice(ENVS)
        if roll < 0.45:
            name = rng.choice([f"helloworld-config-{env}", "unrelated-config-x"])
            app = "other" if name.startswith("unrelated") else "helloworld"
            view = cm(name, rng.choice(DATA), rv=rv, app=app)
            events.append(ConfigMapSeen(EventType.MODIFIED, view))
        elif roll < 0.6:
            applied = h(rng.choice(DATA))
            view = rolled(deploy(f"helloworld-{env}", applied), 2, rv, done=rng.random() < 0.7)
            events.append(DeploymentSeen(EventType.MODIFIED, view))
        elif roll < 0.8 and sent:
            patch = sent.pop(rng.randrange(len(sent)))
            if rng.random() < 0.7:
                events.append(PatchSucceeded(patch.deployment, patch.correlation_id, 2))
            else:
                failure = PatchFailed(patch.deployment, patch.correlation_id, UNAVAILABLE, 0.5)
                events.append(failure)
        else:
            events.append(Tick())
    return events


@pytest.mark.parametrize("debounce", [0.0, 0.5])
@pytest.mark.parametrize("seed", range(12))
def test_stepping_a_burst_at_once_equals_stepping_it_event_by_event(seed, debounce):
    rng = random.Random(seed)
    one_by_one = _start(debounce)
    batched_state = one_by_one.state
    now = one_by_one.now
    sent: list[PatchRestart] = []
    seen: set[str] = set()
    for serial in range(60):
        now += rng.choice((0.0, 0.05, 0.3, 0.7))
        events = _events(rng, sent, serial)
        expected = []
        for event in events:
            one_by_one.state, actions = step(one_by_one.state, event, now)
            expected.extend(actions)
        batched_state, actions_at_once = step_many(batched_state, events, now)
        assert list(actions_at_once) == expected, f"burst {serial}: {events}"
        assert batched_state == one_by_one.state, f"burst {serial}: {events}"
        sent.extend(a for a in expected if isinstance(a, PatchRestart))
        seen.update(a.kind for a in expected if isinstance(a, Record))
    # The scenario did exercise what batching could get wrong: restarts
    # decided and carried out, and changes nothing depends on.
    assert {"restart.planned", "restart.patched", "debounce.skipped"} <= seen, seen


@pytest.mark.parametrize("seed", range(6))
def test_a_burst_stepped_late_equals_its_events_stepped_when_they_were_read(seed):
    """The loop steps a group commit's watch events at its end; each says when it came."""
    rng = random.Random(seed)
    one_by_one = _start(0.5)
    batched_state = one_by_one.state
    now = one_by_one.now
    sent: list[PatchRestart] = []
    for serial in range(60):
        since = now
        events = []
        for event in _events(rng, sent, serial):
            now += rng.choice((0.0, 0.01, 0.1))
            seen = isinstance(event, ConfigMapSeen | DeploymentSeen)
            events.append(replace(event, at=now) if seen else event)
        now += rng.choice((0.0, 0.05, 0.25))  # the step comes a while after the last event
        expected, previous = [], since
        for event in events:
            # As read; an event without a time of its own at the step's, and
            # from then on nothing earlier.
            at = getattr(event, "at", None)
            previous = now if at is None else max(at, previous)
            alone = event if at is None else replace(event, at=None)  # at exactly that time
            one_by_one.state, actions = step(one_by_one.state, alone, previous)
            expected.extend(actions)
        batched_state, at_once = step_many(batched_state, events, now, since=since)
        assert list(at_once) == expected, f"burst {serial}: {events}"
        assert [getattr(a, "at", None) for a in at_once] == [
            getattr(a, "at", None) for a in expected
        ]
        assert batched_state == one_by_one.state, f"burst {serial}: {events}"
        sent.extend(a for a in expected if isinstance(a, PatchRestart))


def test_a_watch_event_opens_its_window_and_dates_its_records_when_it_was_read():
    run = _start(0.5)
    change = ConfigMapSeen(EventType.MODIFIED, cm("helloworld-config-test", V2, rv="2"), at=1.0)
    state, actions = step_many(run.state, [change], 1.25, since=0.5)
    [window] = state.windows.values()
    assert (window.opened_at, window.due_at) == (1.0, 1.5)
    records = [a for a in actions if isinstance(a, Record)]
    assert [(r.kind, r.at) for r in records] == [
        ("configmap.observed", 1.0),
        ("debounce.scheduled", 1.0),
    ]
    assert records[1].data["due_in_seconds"] == 0.5
    # Due at 1.5, not 1.75: the next step at its deadline fires it.
    _, fired = step_many(state, [Tick()], 1.5, since=1.25)
    assert [a.deployment for a in fired if isinstance(a, PatchRestart)] == ["helloworld-test"]


@pytest.mark.parametrize(
    ("times", "since", "now", "expected"),
    [
        ((0.2,), 0.5, 1.0, (0.5,)),  # read before the previous step: taken at that step
        ((1.4,), 0.5, 1.0, (1.0,)),  # a clock ahead of the step's: at the step's time
        ((0.8, 0.6), 0.5, 1.0, (0.8, 0.8)),  # never before the event before it
        ((0.7, None, 0.8), 0.5, 1.0, (0.7, 1.0, 1.0)),  # an event without a time: now
        ((0.2, 0.7), None, 1.0, (0.2, 0.7)),  # no previous step: as read
    ],
)
def test_event_times_never_run_backwards(times, since, now, expected):
    run = _start(0.5)
    events: list[Event] = []
    for n, at in enumerate(times):
        view = cm("unrelated-config-x", DATA[n % 3], rv=str(10 + n), app="other")
        events.append(ConfigMapSeen(EventType.MODIFIED, view, at=at))
    _, actions = step_many(run.state, events, now, since=since)
    observed = [a.at for a in actions if isinstance(a, Record) and a.kind == "configmap.observed"]
    assert tuple(observed) == expected


def test_a_burst_decides_what_its_events_decide():
    """Not only the same as step by step: a burst of real changes restarts once."""
    run = _start(0.5)
    view = cm("helloworld-config-test", V2, rv="2")
    burst = [
        ConfigMapSeen(EventType.MODIFIED, view),
        Tick(),
        ConfigMapSeen(EventType.MODIFIED, view),
    ]
    state, actions = step_many(run.state, burst, 1.0)
    kinds = [getattr(a, "kind", None) for a in actions]
    assert kinds.count("configmap.observed") == 2
    assert "debounce.scheduled" in kinds
    assert not [a for a in actions if isinstance(a, PatchRestart)]  # still debouncing
    _, later = step_many(state, [Tick()], 1.6)
    [patch] = [a for a in later if isinstance(a, PatchRestart)]
    assert patch.deployment == "helloworld-test" and patch.data_hash == h(V2)
