"""The list/watch loop under throttling: a 429's ``Retry-After`` is honoured.

An API server under load (API Priority and Fairness) answers 429 with
``Retry-After``; a client that comes back sooner only adds to the load.
"""

from __future__ import annotations

import threading
import time

from kubernetes.client.exceptions import ApiException

from reloader.core import Listed, WatchFailed
from reloader.kube.errors import MAX_RETRY_AFTER_SECONDS, retry_after
from tests.reloader.e2e.harness import configmap, wait_for
from tests.reloader.kube.test_watch import kube, running  # noqa: F401 - fixtures


def test_a_throttled_list_waits_the_retry_after_not_the_shorter_backoff(kube, running):  # noqa: F811
    kube.create(configmap("helloworld-config-a", {"K": "1"}, "a"))
    kube.fail(429, count=2, verb="list", resource="configmaps", client="watcher", retry_after=1)
    _, rec = running(backoff_base_seconds=0.05, backoff_max_seconds=0.2)
    failures = wait_for(lambda: len(rec.of(WatchFailed)) >= 2 and rec.of(WatchFailed), "two 429s")
    assert [f.status for f in failures] == [429, 429]
    assert all(f.retry_in >= 1.0 for f in failures), [f.retry_in for f in failures]
    wait_for(lambda: rec.of(Listed), "the list once the throttling ends", timeout=10)
    requests = kube.requests(client="watcher", verb="list", resource="configmaps")
    first, second = requests[0], requests[1]
    assert second.at - first.at >= 1.0, "the second list came before Retry-After"


def test_a_server_error_keeps_the_backoff_whatever_its_retry_after(kube, running):  # noqa: F811
    kube.create(configmap("helloworld-config-a", {"K": "1"}, "a"))
    kube.fail(503, count=1, verb="list", resource="configmaps", client="watcher", retry_after=5)
    _, rec = running(backoff_base_seconds=0.05, backoff_max_seconds=0.2)
    failure = wait_for(lambda: rec.of(WatchFailed), "the 503")[0]
    assert failure.status == 503 and failure.retry_in <= 0.2


def test_retry_after_reads_the_header_and_bounds_it():
    def throttled(value: str | None, status: int = 429) -> ApiException:
        error = ApiException(status=status, reason="Too Many Requests")
        error.headers = {} if value is None else {"Retry-After": value}
        return error

    assert retry_after(throttled("3")) == 3.0
    assert retry_after(throttled("100000")) == MAX_RETRY_AFTER_SECONDS
    assert retry_after(throttled(None)) == 0.0
    assert retry_after(throttled("Wed, 21 Oct 2015 07:28:00 GMT")) == 0.0
    assert retry_after(throttled("-4")) == 0.0
    assert retry_after(throttled("nan")) == 0.0
    assert retry_after(throttled("3", status=503)) == 0.0
    assert retry_after(RuntimeError("no answer")) == 0.0


def test_watches_ended_at_once_with_nothing_in_them_back_off(kube, running):  # noqa: F811
    """A server (or proxy) that ends every watch at once must not make the loop spin."""
    kube.create(configmap("helloworld-config-a", {"K": "1"}, "a"))
    _, rec = running(backoff_base_seconds=0.4, backoff_max_seconds=0.8)
    wait_for(lambda: kube.watch_count(client="watcher") == 1, "the first watch")
    kube.clear_requests()
    stop = threading.Event()

    def cut() -> None:  # end each watch as soon as it is open, cleanly
        while not stop.is_set():
            kube.cut_watches(client="watcher")
            stop.wait(0.01)

    cutter = threading.Thread(target=cut, daemon=True)
    cutter.start()
    try:
        time.sleep(2.0)
    finally:
        stop.set()
        cutter.join(5)
    watches = kube.requests(client="watcher", verb="watch", resource="configmaps")
    assert len(watches) <= 8, f"{len(watches)} watches in 2 s: the loop spins"
    failures = rec.of(WatchFailed)
    assert failures and "very short watch" in failures[0].error
    # Once watches last again, it watches on and sees changes.
    wait_for(lambda: kube.watch_count(client="watcher") == 1, "a lasting watch")
    kube.patch("configmaps", "helloworld-config-a", {"data": {"K": "2"}}, namespace="shipshape")
    wait_for(lambda: ("MODIFIED", "helloworld-config-a") in rec.seen(), "the change")
