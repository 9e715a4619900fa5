"""The controller's threads carry their names to the operating system (``top -H``, ``ps -L``)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from reloader.runtime.threadnames import name_this_thread, named
from reloader.runtime.watches import WatchLoop


def os_name(native_id: int) -> str:
    return Path(f"/proc/self/task/{native_id}/comm").read_text().strip()


def test_a_named_target_names_its_thread_for_the_os() -> None:
    seen: list[str] = []
    thread = threading.Thread(
        target=named(lambda: seen.append(os_name(threading.get_native_id()))), name="reconciler"
    )
    thread.start()
    thread.join()
    assert seen == ["reconciler"]


def test_linux_keeps_the_first_15_bytes() -> None:
    seen: list[str] = []

    def run() -> None:
        name_this_thread("watch-team-a-configmaps")
        seen.append(os_name(threading.get_native_id()))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen == ["watch-team-a-co"]


def test_pool_workers_take_their_python_names() -> None:
    with ThreadPoolExecutor(1, thread_name_prefix="patch", initializer=name_this_thread) as pool:
        assert pool.submit(lambda: os_name(threading.get_native_id())).result() == "patch_0"


def test_a_watch_thread_shows_its_resource_within_the_15_bytes() -> None:
    names = {
        WatchLoop(name, None).thread  # type: ignore[arg-type]
        for name in ("payments-prod/configmaps", "payments-prod/statefulsets", "configmaps")
    }
    assert names == {"watch-cm-payments-prod", "watch-sts-payments-prod", "watch-configmaps"}
    assert len({name.encode()[:15] for name in names}) == 3, "told apart as the OS keeps them"
