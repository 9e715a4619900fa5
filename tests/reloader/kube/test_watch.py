"""The list-then-watch loop against the API test server, with the real kubernetes client."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from reloader.core import ConfigMapSeen, DeploymentSeen, Listed, Resource, WatchFailed
from reloader.core.secrets import SecretHashKey
from reloader.kube.api import CONFIGMAPS, KubeApi
from reloader.kube.client import make_api_client
from reloader.kube.stream import WatchStream
from reloader.kube.watch import ListWatcher, WatchHooks, WatchOptions
from tests.kubeapi import KubeApiServer
from tests.reloader.e2e.harness import (
    NS,
    configmap,
    deployment,
    ensure_namespace,
    set_data,
    wait_for,
)


@pytest.fixture
def kube(kubeapi_private_server: KubeApiServer) -> KubeApiServer:
    ensure_namespace(kubeapi_private_server)
    return kubeapi_private_server


class Recorder:
    """Collects what the loop emits and what its hooks report."""

    def __init__(self) -> None:
        self.events: list = []
        self.up: list[bool] = []
        self.relists: list[str] = []
        self.progress = 0
        # What was emitted, and the windows' hand-overs around it, in order.
        self.handed: list[str] = []
        self.lock = threading.Lock()

    def emit(self, event) -> None:
        with self.lock:
            self.events.append(event)
            self.handed.append(type(event).__name__)

    def hooks(self) -> WatchHooks:
        def progress() -> None:
            self.progress += 1

        def delivering(busy: bool) -> None:
            with self.lock:
                self.handed.append("begin" if busy else "end")

        return WatchHooks(
            progress=progress,
            up=self.up.append,
            relist=self.relists.append,
            delivering=delivering,
        )

    def of(self, kind) -> list:
        with self.lock:
            return [e for e in self.events if isinstance(e, kind)]

    def seen(self) -> list[tuple[str, str]]:
        return [(e.event_type.value, e.configmap.name) for e in self.of(ConfigMapSeen)]


def start(
    kube, tmp_path: Path, resource=Resource.CONFIGMAPS, client="watcher", secret_key=None, **options
):
    recorder = Recorder()
    kube.add_client(client)
    api = make_api_client(str(kube.write_kubeconfig(tmp_path / f"kc-{client}", client, NS)))
    settings = {
        "namespace": NS,
        "label_selector": "app=helloworld",
        "timeout_seconds": 30,
        "resync_seconds": 3600,
        "backoff_base_seconds": 0.05,
        "backoff_max_seconds": 0.2,
        **options,
    }
    watcher = ListWatcher(
        resource,
        api,
        WatchOptions(**settings),
        recorder.emit,
        hooks=recorder.hooks(),
        secret_key=secret_key,
    )
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    return watcher, thread, recorder


@pytest.fixture
def running(kube, tmp_path):
    started = []

    def run(**kwargs):
        watcher, thread, recorder = start(kube, tmp_path, **kwargs)
        started.append((watcher, thread))
        return watcher, recorder

    yield run
    for watcher, thread in started:
        watcher.stop()
        thread.join(5)


def test_lists_then_watches_every_change_in_order(kube, running):
    kube.create(configmap("helloworld-config-a", {"K": "1"}, "a"))
    kube.create(configmap("helloworld-config-b", {"K": "1"}, "b"))
    kube.create(configmap("other", {"K": "1"}, "a", app="other"))  # not selected
    _, rec = running()
    [listed] = wait_for(lambda: rec.of(Listed), "the list")
    assert listed.initial and listed.count == 2 and listed.reason == "start"
    assert rec.seen() == [("ADDED", "helloworld-config-a"), ("ADDED", "helloworld-config-b")]
    wait_for(lambda: kube.watch_count(client="watcher") == 1, "the watch")
    set_data(kube, "helloworld-config-a", {"K": "2"})
    kube.create(configmap("helloworld-config-c", {"K": "1"}, "c"))
    kube.delete("configmaps", "helloworld-config-b", NS)
    wait_for(lambda: len(rec.seen()) == 5, "three watch events")
    assert rec.seen()[2:] == [
        ("MODIFIED", "helloworld-config-a"),
        ("ADDED", "helloworld-config-c"),
        ("DELETED", "helloworld-config-b"),
    ]
    assert [e.source for e in rec.of(ConfigMapSeen)] == ["list", "list", "watch", "watch", "watch"]
    assert rec.up and rec.up[-1] is True
    assert rec.of(WatchFailed) == []


def test_410_relists_and_reports_only_the_differences(kube, running):
    for name in "abc":
        kube.create(configmap(f"helloworld-config-{name}", {"K": "1"}, name))
    _, rec = running()
    wait_for(lambda: kube.watch_count(client="watcher") == 1, "the watch")
    kube.cut_watches(client="watcher")  # the loop must not resume from its old version...
    set_data(kube, "helloworld-config-a", {"K": "2"})
    kube.delete("configmaps", "helloworld-config-b", NS)
    kube.create(configmap("helloworld-config-d", {"K": "1"}, "d"))
    kube.compact()  # ...which is now compacted away: 410
    relisted = wait_for(lambda: [e for e in rec.of(Listed) if not e.initial], "the relist")[0]
    assert (relisted.reason, relisted.added, relisted.modified, relisted.deleted) == (
        "expired",
        1,
        1,
        1,
    )
    after = rec.seen()[3:]
    assert sorted(after) == [
        ("ADDED", "helloworld-config-d"),
        ("DELETED", "helloworld-config-b"),
        ("MODIFIED", "helloworld-config-a"),
    ]
    assert all(e.source in ("relist", "watch") for e in rec.of(ConfigMapSeen)[3:])
    assert rec.relists == ["expired"], "the first list is no relist"
    # The watch goes on from the relist.
    set_data(kube, "helloworld-config-c", {"K": "9"})
    wait_for(lambda: ("MODIFIED", "helloworld-config-c") in rec.seen(), "a change after the relist")


def test_a_watch_ended_by_the_server_resumes_without_a_relist(kube, running):
    kube.create(configmap("helloworld-config-a", {"K": "1"}, "a"))
    _, rec = running(timeout_seconds=1)
    wait_for(lambda: kube.watch_count(client="watcher") == 1, "the watch")
    first = len([r for r in kube.requests() if r.method == "GET"])
    wait_for(
        lambda: len([r for r in kube.requests() if r.method == "GET"]) >= first + 2,
        "two watch renewals",
    )
    set_data(kube, "helloworld-config-a", {"K": "2"})
    wait_for(lambda: ("MODIFIED", "helloworld-config-a") in rec.seen(), "the change")
    renewed = len([r for r in kube.requests() if r.method == "GET"])
    wait_for(
        lambda: len([r for r in kube.requests() if r.method == "GET"]) >= renewed + 2,
        "two more renewals",
    )
    # Each renewal resumed after the change: it is not reported again.
    assert rec.seen() == [("ADDED", "helloworld-config-a"), ("MODIFIED", "helloworld-config-a")]
    assert len(rec.of(Listed)) == 1 and rec.of(WatchFailed) == []


def test_the_resync_relists_on_its_period_even_with_long_watches(kube, running):
    kube.create(configmap("helloworld-config-a", {"K": "1"}, "a"))
    _, rec = running(timeout_seconds=300, resync_seconds=1)
    relists = wait_for(
        lambda: [e for e in rec.of(Listed) if e.reason == "resync"], "a resync", timeout=10
    )
    assert (relists[0].added, relists[0].modified, relists[0].deleted) == (0, 0, 0)
    assert rec.seen() == [("ADDED", "helloworld-config-a")], "an unchanged relist reports nothing"


def test_errors_reconnect_with_backoff_and_report_the_watch_down(kube, running):
    kube.create(configmap("helloworld-config-a", {"K": "1"}, "a"))
    kube.fail(503, count=3, verb="list", resource="configmaps", client="watcher")
    _, rec = running()
    failures = wait_for(
        lambda: len(rec.of(WatchFailed)) >= 3 and rec.of(WatchFailed), "three failures"
    )
    assert [f.status for f in failures] == [503, 503, 503]
    assert all(0 < f.retry_in <= 0.2 for f in failures)
    wait_for(lambda: rec.of(Listed), "the list once the API is back")
    assert False in rec.up and rec.up[-1] is True


def test_a_silent_stream_is_dead_and_reconnected(kube, running):
    kube.create(configmap("helloworld-config-a", {"K": "1"}, "a"))
    _, rec = running(timeout_seconds=1, grace_seconds=0.5)
    wait_for(lambda: kube.watch_count(client="watcher") == 1, "the watch")
    kube.partition("watcher", seconds=4, mode="hang")  # requests are held, unanswered
    failure = wait_for(lambda: rec.of(WatchFailed), "the read timeout", timeout=10)[0]
    assert failure.status is None and failure.error.startswith("timed out: ")
    set_data(kube, "helloworld-config-a", {"K": "2"})
    wait_for(
        lambda: ("MODIFIED", "helloworld-config-a") in rec.seen(),
        "the change after the partition",
        timeout=15,
    )


def test_stop_interrupts_a_blocked_watch(kube, tmp_path):
    watcher, thread, _ = start(kube, tmp_path, timeout_seconds=300)
    wait_for(lambda: kube.watch_count(client="watcher") == 1, "the watch")
    began = time.monotonic()
    watcher.stop()
    thread.join(5)
    assert not thread.is_alive()
    assert time.monotonic() - began < 5


def test_deployments_are_watched_with_their_rollout_status(kube, running):
    kube.create(deployment("helloworld-test", "test", replicas=2))
    _, rec = running(resource=Resource.DEPLOYMENTS)
    wait_for(lambda: rec.of(Listed), "the list")
    kube.patch(
        "deployments",
        "helloworld-test",
        {"spec": {"template": {"metadata": {"annotations": {"x": "1"}}}}},
        namespace=NS,
    )

    def rolled_out():
        views = [e.deployment for e in rec.of(DeploymentSeen)]
        return [
            v
            for v in views
            if v.rollout.generation == 2
            and v.rollout.updated_replicas == 2
            and v.rollout.available_replicas == 2
            and v.rollout.observed_generation == 2
        ]

    wait_for(rolled_out, "the rollout's status")


def test_a_requested_relist_ends_a_long_watch_and_lists_at_once(kube, running):
    kube.create(configmap("helloworld-config-a", {"K": "1"}, "a"))
    watcher, rec = running(timeout_seconds=300)
    wait_for(lambda: kube.watch_count(client="watcher") == 1, "the watch")
    watcher.request_relist("leader")
    relisted = wait_for(
        lambda: [e for e in rec.of(Listed) if e.reason == "leader"], "the relist", timeout=5
    )
    assert not relisted[0].initial and relisted[0].count == 1
    assert rec.of(WatchFailed) == [], "ending the watch on purpose is no failure"
    wait_for(lambda: kube.watch_count(client="watcher") == 1, "the watch again")
    set_data(kube, "helloworld-config-a", {"K": "2"})
    wait_for(lambda: ("MODIFIED", "helloworld-config-a") in rec.seen(), "a change after it")


def test_a_relist_requested_before_the_first_list_is_that_list(kube, tmp_path):
    kube.create(configmap("helloworld-config-a", {"K": "1"}, "a"))
    recorder = Recorder()
    kube.add_client("watcher")
    api = make_api_client(str(kube.write_kubeconfig(tmp_path / "kc", "watcher", NS)))
    options = WatchOptions(NS, "app=helloworld", 300, 3600, 0.05, 0.2)
    watcher = ListWatcher(Resource.CONFIGMAPS, api, options, recorder.emit)
    watcher.request_relist("leader")
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: kube.watch_count(client="watcher") == 1, "the watch")
        [listed] = recorder.of(Listed)
        assert listed.initial and listed.reason == "leader"
    finally:
        watcher.stop()
        thread.join(5)


def test_a_requested_relist_that_fails_is_still_owed(kube, running):
    kube.create(configmap("helloworld-config-a", {"K": "1"}, "a"))
    watcher, rec = running(timeout_seconds=300)
    wait_for(lambda: kube.watch_count(client="watcher") == 1, "the watch")
    kube.fail(503, count=2, verb="list", resource="configmaps", client="watcher")
    watcher.request_relist("leader")
    relisted = wait_for(
        lambda: [e for e in rec.of(Listed) if e.reason == "leader"], "the relist", timeout=5
    )
    assert len(relisted) == 1
    assert [f.status for f in rec.of(WatchFailed)] == [503, 503]


def test_events_of_one_window_are_handled_together(kube, running):
    """A burst is taken in one wake-up of the watch thread, not one per event."""
    kube.create(configmap("helloworld-config-a", {"K": "0"}, "a"))
    _, rec = running(coalesce_seconds=1.0)
    wait_for(lambda: rec.of(Listed), "the list")
    wait_for(lambda: kube.watch_count(client="watcher") == 1, "the watch")
    time.sleep(0.2)
    before = rec.progress
    for value in range(1, 11):
        set_data(kube, "helloworld-config-a", {"K": str(value)})
    wait_for(lambda: len(rec.seen()) == 11, "ten watch events")
    assert [e.event_type.value for e in rec.of(ConfigMapSeen)[1:]] == ["MODIFIED"] * 10
    # Ten updates within the window: one or two batches (one more if the
    # window opened before the last update), never one hand-over per event.
    assert rec.progress - before <= 3


def test_a_stop_does_not_wait_for_the_window(kube, tmp_path):
    kube.create(configmap("helloworld-config-a", {"K": "0"}, "a"))
    watcher, thread, rec = start(kube, tmp_path, coalesce_seconds=60)
    wait_for(lambda: kube.watch_count(client="watcher") == 1, "the watch")
    set_data(kube, "helloworld-config-a", {"K": "1"})
    wait_for(lambda: len(rec.seen()) == 2, "the first watch event")
    set_data(kube, "helloworld-config-a", {"K": "2"})
    time.sleep(0.5)  # the window is open now, and its event not handled yet
    assert len(rec.seen()) == 2
    watcher.stop()
    thread.join(10)
    assert not thread.is_alive()


def _watch_response(kube, tmp_path):
    """A raw watch of the namespace's ConfigMaps from now on, after one is created."""
    kube.create(configmap("helloworld-config-a", {"K": "0"}, "a"))
    kube.add_client("watcher")
    api = KubeApi(make_api_client(str(kube.write_kubeconfig(tmp_path / "kc", "watcher", NS))))
    listed = api.json("GET", CONFIGMAPS, path_params={"namespace": NS})
    return api.request(
        "GET",
        CONFIGMAPS,
        path_params={"namespace": NS},
        query={"watch": True, "resourceVersion": listed["metadata"]["resourceVersion"]},
        timeout=(5, 60),
    )


def test_a_busy_stream_widens_its_window_and_a_silence_brings_the_quiet_one_back(kube, tmp_path):
    """The windows asked for, read off a real watch: doubling while busy, quiet after a silence.

    The stream's clock moves only with the windows and the silence below, so
    what counts as a silence does not depend on how fast this machine is.
    """
    response = _watch_response(kube, tmp_path)
    windows: list[float] = []
    now = [0.0]

    def pause(seconds: float) -> None:
        windows.append(seconds)
        now[0] += seconds
        time.sleep(0.3)  # long enough for a burst sent before it to be in

    stream = WatchStream(
        response,
        coalesce_seconds=0.2,
        busy_coalesce_seconds=0.8,
        read_timeout=60,
        pause=pause,
        clock=lambda: now[0],
    )
    batches = stream.batches()
    value = iter(range(1, 1000))

    def burst() -> int:
        for _ in range(3):
            set_data(kube, "helloworld-config-a", {"K": str(next(value))})
        return len(next(batches))

    try:
        set_data(kube, "helloworld-config-a", {"K": str(next(value))})
        assert len(next(batches)) == 1  # the first event: read as it comes
        assert [burst() for _ in range(3)] == [3, 3, 3]  # busy: three events a window
        now[0] += 1.5  # silent for longer than the widest window
        assert burst() == 3
        # Busy again: the silence is over, counted from the last read, not from the start.
        assert burst() == 3
    finally:
        response.close()
        response.release_conn()
    # After one event the quiet window; doubling while busy, capped; after the
    # silence, quiet, then doubling again.
    # (While busy the window is slept from the last read: the same, less the
    # time taken since, which this clock does not count; hence approx.)
    assert windows == pytest.approx([0.2, 0.4, 0.8, 0.2, 0.4])


def test_a_busy_stream_sleeps_its_window_without_waking_for_the_first_event(kube, tmp_path):
    """One wake-up a window while busy: the window is slept from the last read."""
    response = _watch_response(kube, tmp_path)
    sent = [0]
    sent_when_paused: list[int] = []

    def pause(seconds: float) -> None:
        sent_when_paused.append(sent[0])
        time.sleep(0.3)

    def change(value: int) -> None:
        set_data(kube, "helloworld-config-a", {"K": str(value)})
        sent[0] += 1

    stream = WatchStream(
        response, coalesce_seconds=0.2, busy_coalesce_seconds=0.8, read_timeout=60, pause=pause
    )
    batches = stream.batches()
    try:
        change(1)
        assert len(next(batches)) == 1
        for value in (2, 3):
            change(value)
        assert len(next(batches)) == 2  # several events: the stream is busy now
        # The next burst comes while the window is slept: it began at once,
        # not when the burst's first event woke the thread.
        later = threading.Timer(0.1, lambda: [change(v) for v in (4, 5)])
        later.start()
        assert len(next(batches)) == 2
        later.join()
    finally:
        response.close()
        response.release_conn()
    assert sent_when_paused == [3, 3]  # each window began with nothing new sent


def test_a_windows_watch_events_are_handed_over_between_a_begin_and_an_end(kube, running):
    """The loop waits for a window being handed over to be all in before it commits."""
    kube.create(configmap("helloworld-config-a", {"K": "0"}, "a"))
    _, rec = running(coalesce_seconds=1.0)
    wait_for(lambda: rec.of(Listed), "the list")
    wait_for(lambda: kube.watch_count(client="watcher") == 1, "the watch")
    set_data(kube, "helloworld-config-a", {"K": "1"})  # the stream's first read: alone
    wait_for(lambda: len(rec.seen()) == 2 and rec.handed[-1] == "end", "the first event")
    with rec.lock:
        before = len(rec.handed)
    for value in (2, 3, 4):  # within one window: handed over together
        set_data(kube, "helloworld-config-a", {"K": str(value)})
    wait_for(lambda: len(rec.seen()) == 5 and rec.handed[-1] == "end", "the window handed over")
    with rec.lock:
        first, window = rec.handed[before - 3 : before], rec.handed[before:]
    assert first == ["begin", "ConfigMapSeen", "end"]
    assert window == ["begin", *["ConfigMapSeen"] * 3, "end"]


def test_each_incident_backs_off_from_the_base_delay_again(kube, running):
    kube.create(configmap("helloworld-config-a", {"K": "1"}, "a"))
    kube.fail(503, count=2, verb="list", resource="configmaps", client="watcher")
    watcher, rec = running(backoff_base_seconds=0.05, backoff_max_seconds=0.4)
    wait_for(lambda: kube.watch_count(client="watcher") == 1, "the watch after two failures")
    first, second = rec.of(WatchFailed)
    assert first.retry_in <= 0.05 < second.retry_in <= 0.1, "the delay doubles per failure"
    # A later incident, after a watch that worked, starts from the base again.
    kube.fail(503, count=1, verb="list", resource="configmaps", client="watcher")
    watcher.request_relist("leader")
    wait_for(lambda: [e for e in rec.of(Listed) if e.reason == "leader"], "the relist")
    third = rec.of(WatchFailed)[2]
    assert third.status == 503 and third.retry_in <= 0.05


def test_a_watch_resumes_from_its_last_bookmark_so_a_compaction_needs_no_relist(kube, running):
    kube.create(configmap("helloworld-config-a", {"K": "1"}, "a"))
    _, rec = running(timeout_seconds=300)
    wait_for(lambda: kube.watch_count(client="watcher") == 1, "the watch")
    # Changes the loop does not select move the resourceVersion on; only a
    # bookmark tells the loop about them.
    for value in range(3):
        kube.apply(configmap("other", {"K": str(value)}, "a", app="other"))
    seen = rec.progress
    wait_for(lambda: rec.progress >= seen + 2, "bookmarks after the changes", timeout=10)
    kube.compact()  # the list's resourceVersion is history now; the bookmark's is not
    kube.cut_watches(client="watcher")
    set_data(kube, "helloworld-config-a", {"K": "2"})
    wait_for(lambda: ("MODIFIED", "helloworld-config-a") in rec.seen(), "the change")
    assert [e.reason for e in rec.of(Listed)] == ["start"], "resumed, not listed again"
    watches = [r.path for r in kube.requests(client="watcher", verb="watch")]
    assert watches and all("allowWatchBookmarks=true" in path for path in watches)


def test_a_relist_after_watch_events_reports_no_differences(kube, running):
    kube.create(configmap("helloworld-config-a", {"K": "1"}, "a"))
    kube.create(configmap("helloworld-config-b", {"K": "1"}, "b"))
    watcher, rec = running(timeout_seconds=300)
    wait_for(lambda: kube.watch_count(client="watcher") == 1, "the watch")
    set_data(kube, "helloworld-config-a", {"K": "2"})
    kube.delete("configmaps", "helloworld-config-b", NS)
    kube.create(configmap("helloworld-config-c", {"K": "1"}, "c"))
    wait_for(lambda: len(rec.seen()) == 5, "three watch events")
    watcher.request_relist("leader")
    [relisted] = wait_for(
        lambda: [e for e in rec.of(Listed) if e.reason == "leader"], "the relist", timeout=5
    )
    assert (relisted.count, relisted.added, relisted.modified, relisted.deleted) == (2, 0, 0, 0)
    assert len(rec.seen()) == 5, "what the watch reported is not reported again"


def test_a_stop_during_a_failing_request_reports_no_failure(kube, tmp_path):
    kube.create(configmap("helloworld-config-a", {"K": "1"}, "a"))
    kube.add_client("watcher")
    kube.partition("watcher", seconds=2, mode="hang")  # the first list is held, then dropped
    watcher, thread, rec = start(kube, tmp_path)
    wait_for(lambda: kube.requests(client="watcher") == [] and rec.progress >= 1, "the list")
    watcher.stop()
    thread.join(10)
    assert not thread.is_alive()
    assert rec.of(WatchFailed) == [], "a stop is no failure of the watch"
    assert rec.up == []


def test_a_410_answer_to_the_watch_request_lists_again(kube, running):
    kube.create(configmap("helloworld-config-a", {"K": "1"}, "a"))
    kube.fail(410, count=1, verb="watch", resource="configmaps", client="watcher")
    _, rec = running()
    wait_for(lambda: [e for e in rec.of(Listed) if e.reason == "expired"], "the relist")
    assert rec.of(WatchFailed) == [], "history expired: list again, no failure"


def test_a_relist_requested_while_the_watch_request_is_held_ends_that_watch(kube, running):
    kube.create(configmap("helloworld-config-a", {"K": "1"}, "a"))
    kube.add_latency(1.0, count=1, verb="watch", resource="configmaps", client="watcher")
    watcher, rec = running(timeout_seconds=300)
    wait_for(lambda: rec.of(Listed), "the list")
    watcher.request_relist("leader")  # no response yet that could be ended
    wait_for(lambda: [e for e in rec.of(Listed) if e.reason == "leader"], "the relist", timeout=5)
    assert rec.of(WatchFailed) == []


def test_secrets_are_watched_as_sources_by_keyed_hash(kube, running):
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "helloworld-credentials",
                "namespace": NS,
                "labels": {"app": "helloworld", "env": "test"},
            },
            "data": {"password": "aHVudGVyMg=="},
        }
    )
    _, rec = running(resource=Resource.SECRETS, secret_key=SecretHashKey(b"k" * 32))
    wait_for(lambda: rec.of(ConfigMapSeen), "the Secret")
    [seen] = rec.of(ConfigMapSeen)
    assert seen.configmap.kind == "secret" and seen.configmap.name == "helloworld-credentials"
    assert seen.configmap.data_hash.startswith("hmac-sha256:")
    assert rec.of(DeploymentSeen) == []


def test_a_stop_while_the_watch_request_is_held_ends_that_watch(kube, tmp_path):
    kube.create(configmap("helloworld-config-a", {"K": "1"}, "a"))
    kube.add_latency(1.0, count=1, verb="watch", resource="configmaps", client="watcher")
    watcher, thread, rec = start(kube, tmp_path, timeout_seconds=300)
    wait_for(lambda: rec.of(Listed), "the list")
    watcher.stop()  # no response yet that could be ended
    thread.join(10)
    assert not thread.is_alive()
