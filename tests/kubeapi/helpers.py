"""Small helpers shared by the test server's own tests."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from kubernetes import client, watch


def status_of(err: client.ApiException) -> dict[str, Any]:
    """Return the `Status` object of an API error."""
    return json.loads(err.body)


class WatchThread:
    """Runs a watch stream in a thread and hands its events over a queue."""

    def __init__(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.watch = watch.Watch()
        self.events: queue.Queue[Any] = queue.Queue()
        self.error: BaseException | None = None
        self.done = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(func, args, kwargs), daemon=True, name="test-watch"
        )
        self._thread.start()

    def _run(self, func: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> None:
        try:
            for event in self.watch.stream(func, *args, **kwargs):
                self.events.put(event)
        except BaseException as err:  # the test inspects whatever ended the stream
            self.error = err
        finally:
            self.done.set()

    def next(self, timeout: float = 10.0) -> Any:
        """Return the next event (raises `queue.Empty` after `timeout`)."""
        return self.events.get(timeout=timeout)

    def take(self, count: int, timeout: float = 10.0) -> list[Any]:
        """Return the next `count` events."""
        return [self.next(timeout) for _ in range(count)]

    def stop(self) -> None:
        """Stop the stream and wait for the thread."""
        self.watch.stop()
        self._thread.join(timeout=10)


def drain(events: Iterator[Any]) -> list[Any]:
    """Return every remaining event of a finite stream."""
    return list(events)


def assert_undo_refusals(kubectl: Callable[..., Any], ns: str, ref: str, current: int) -> None:
    """``kubectl rollout undo REF`` skips the running revision and refuses a gone one (1)."""
    same = kubectl("-n", ns, "rollout", "undo", ref, f"--to-revision={current}")
    skipped = f"skipped rollback (current template already matches revision {current})"
    assert skipped in same.stdout
    gone = kubectl("-n", ns, "rollout", "undo", ref, "--to-revision=1", check=False)
    assert gone.returncode == 1 and "unable to find specified revision 1" in gone.stderr
