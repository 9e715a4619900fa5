"""Benchmark of the Kubernetes API test server: list throughput and watch fan-out.

Run with `make bench`. Prints its figures; never fails for slowness.
"""

from __future__ import annotations

import statistics
import threading
import time

from kubernetes import client, watch

from tests.kubeapi import KubeApiServer

OBJECTS = 100
LISTS = 300
WATCHERS = 30
WRITES = 200


def test_bench_list_and_get():
    with KubeApiServer() as server, server.api_client() as api_client:
        core = client.CoreV1Api(api_client)
        for i in range(OBJECTS):
            core.create_namespaced_config_map(
                "default", {"metadata": {"name": f"c{i:03d}"}, "data": {"k": "v" * 100}}
            )
        started = time.perf_counter()
        for _ in range(LISTS):
            core.list_namespaced_config_map("default", _preload_content=False).read()
        list_rate = LISTS / (time.perf_counter() - started)
        started = time.perf_counter()
        for i in range(LISTS):
            core.read_namespaced_config_map(
                f"c{i % OBJECTS:03d}", "default", _preload_content=False
            )
        get_rate = LISTS / (time.perf_counter() - started)
    print(f"\nkubeapi list ({OBJECTS} configmaps): {list_rate:.0f} requests/s")
    print(f"kubeapi get: {get_rate:.0f} requests/s")


def test_bench_watch_fan_out():
    with KubeApiServer() as server, server.api_client() as writer:
        core = client.CoreV1Api(writer)
        rv = core.list_namespaced_config_map("default").metadata.resource_version
        latencies: list[float] = []
        sent_at: dict[str, float] = {}
        lock = threading.Lock()
        ready = threading.Barrier(WATCHERS + 1)
        finished = threading.Event()
        remaining = [WATCHERS]

        def consume(index: int) -> None:
            with server.api_client(f"watcher-{index}") as api_client:
                api = client.CoreV1Api(api_client)
                stream = watch.Watch().stream(
                    api.list_namespaced_config_map, "default", resource_version=rv,
                    timeout_seconds=120, _preload_content=False,
                )  # fmt: skip
                ready.wait()
                for seen, event in enumerate(stream, start=1):
                    now = time.perf_counter()
                    name = event["object"].metadata.name
                    with lock:
                        latencies.append(now - sent_at[name])
                    if seen == WRITES:
                        break
            with lock:
                remaining[0] -= 1
                if remaining[0] == 0:
                    finished.set()

        threads = [
            threading.Thread(target=consume, args=(i,), daemon=True) for i in range(WATCHERS)
        ]
        for thread in threads:
            thread.start()
        ready.wait()
        server.wait_for(lambda: server.watch_count() == WATCHERS, timeout=30)
        started = time.perf_counter()
        for i in range(WRITES):
            name = f"w{i:04d}"
            with lock:
                sent_at[name] = time.perf_counter()
            core.create_namespaced_config_map("default", {"metadata": {"name": name}})
        finished.wait(120)
        elapsed = time.perf_counter() - started
    delivered = len(latencies)
    quantiles = statistics.quantiles(latencies, n=20)
    print(
        f"\nkubeapi watch fan-out: {WATCHERS} watches x {WRITES} writes, "
        f"{delivered} events delivered in {elapsed:.2f} s ({delivered / elapsed:.0f} events/s)"
    )
    print(f"kubeapi write-to-watcher latency: p50 {statistics.median(latencies) * 1000:.1f} ms, "
          f"p95 {quantiles[18] * 1000:.1f} ms")  # fmt: skip
