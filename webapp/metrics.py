"""The web app's Prometheus metrics, with labels bounded whatever clients send.

``path`` is a route template of the app or ``other`` (unknown paths, 404, 405,
unknown methods); ``method`` is one of the nine standard methods or ``other``;
``status`` is the numeric code the app answered. So the series count is fixed by
the code, not by traffic. Everything is registered on the registry passed in.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

OTHER = "other"

# The status codes whose request counters exist at start-up, per route: a
# success and an error, the two the SLO's error ratio divides.
INITIAL_STATUSES = ("200", "500")


# Fine below 50 ms, where a healthy pod answers, and exact at the thresholds the
# SLO and the capacity gate query: 250 ms (capacity p95) and 500 ms (SLO p95, capacity p99).
DURATION_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class HttpMetrics:
    """``http_requests_total`` and ``http_request_duration_seconds`` for one app."""

    def __init__(self, registry: CollectorRegistry, routes: Iterable[str]) -> None:
        """Register the metrics on ``registry``.

        Args:
            registry: Where the metrics live (a fresh one per test).
            routes: The app's route templates; their ``GET`` series (the
                duration and the request counts answered 200 and 500) exist
                from the start, so the SLO's rate ratios see zero instead of
                nothing on a fresh pod.
        """
        self._requests = Counter(
            "http_requests",
            "HTTP requests answered, by method, route template and status code.",
            ("method", "path", "status"),
            registry=registry,
        )
        self._duration = Histogram(
            "http_request_duration_seconds",
            "Time the app took to answer, by method and route template.",
            ("method", "path"),
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        # Label children cached by their values: the label sets are bounded, and
        # a dictionary lookup is cheaper than prometheus_client's locked lookup.
        # One lookup per request finds both of its children.
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._histograms: dict[tuple[str, str], Histogram] = {}
        for route in routes:
            self._histogram("GET", route)
            for status in INITIAL_STATUSES:
                self._requests.labels("GET", route, status)

    def observe(self, method: str, path: str, status: int, seconds: float) -> None:
        """Count one answered request and record how long it took.

        Args:
            method: A label value: one of :data:`telemetry.httpguard.KNOWN_METHODS` or ``other``.
            path: A label value: a route template or ``other``.
            status: The response's status code.
            seconds: The time the app took.
        """
        key = (method, path, status)
        children = self._children.get(key)
        if children is None:
            children = self._children.setdefault(
                key,
                (self._requests.labels(method, path, str(status)), self._histogram(method, path)),
            )
        counter, histogram = children
        counter.inc()
        histogram.observe(seconds)

    def _histogram(self, method: str, path: str) -> Histogram:
        key = (method, path)
        histogram = self._histograms.get(key)
        if histogram is None:
            histogram = self._histograms.setdefault(key, self._duration.labels(method, path))
        return histogram


def register_build_info(registry: CollectorRegistry, version: str, commit: str) -> Gauge:
    """Register ``build_info{version, commit} 1``: which build a pod runs."""
    gauge = Gauge(
        "build_info",
        "The running build: always 1, labelled with its version and source commit.",
        ("version", "commit"),
        registry=registry,
    )
    gauge.labels(version, commit).set(1)
    return gauge
