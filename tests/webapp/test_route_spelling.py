"""A route answers only to its own spelling, over real HTTP on real waitress.

waitress drops the slashes a path starts with and decodes ``%2F`` before the
app sees the path, so without a check ``//metrics`` and ``/%2Fmetrics`` were
served as ``/metrics``: past the mesh policy that keeps ``/metrics`` for
Prometheus alone, which matches the path as sent. The requests go out through
a raw socket so no client library tidies the path first.
"""

from __future__ import annotations

import pytest

from tests.webapp import rawhttp
from tests.webapp.conftest import at_start, samples
from webapp.app import ROUTES

ODD_SPELLINGS = [
    "//metrics",
    "///metrics",
    "/%2Fmetrics",
    "/%2fmetrics",
    "/%2F%2Fmetrics",
    "//healthz",
    "/%2Fhealthz",
    "//readyz",
    "//version",
    "//",
    "/%2F",
    "//metrics?name[]=build_info",
    "http://localhost//metrics",
    "http://localhost/%2Fmetrics",
    "/metrics/",
    "/healthz/",
    "/metrics//",
    "/metrics%2F",
    "/./metrics",
    "/x/../metrics",
]


@pytest.mark.parametrize("path", ODD_SPELLINGS)
def test_an_odd_spelling_of_a_route_is_not_found(live_server, path):
    for method, head in (("GET", False), ("HEAD", True)):
        data = rawhttp.get(path).replace(b"GET ", method.encode() + b" ", 1)
        response = rawhttp.request(live_server.port, data, head=head)
        assert response.status == 404, (method, path, response.body)
        assert b"http_requests_total" not in response.body
        assert b"ok" not in response.body


@pytest.mark.parametrize(
    "path", [*ROUTES, "/metrics?name[]=build_info", "/healthz?probe=1", "http://localhost/metrics"]
)
def test_each_route_still_answers_to_its_own_spelling(live_server, path):
    response = rawhttp.request(live_server.port, rawhttp.get(path))
    assert response.status == 200, (path, response.body)


def test_a_refused_spelling_is_counted_as_other_and_logged_as_sent(live_server, captured_log):
    for path in ("//metrics", "/%2Fhealthz"):
        assert rawhttp.request(live_server.port, rawhttp.get(path)).status == 404

    counted = samples(live_server.registry, "http_requests_total")
    assert counted == at_start({(("method", "GET"), ("path", "other"), ("status", "404")): 2.0})
    logged = [(line["path"], line["route"], line["status"]) for line in captured_log.access()]
    assert logged == [("//metrics", "other", 404), ("/%2Fhealthz", "other", 404)]


def test_the_testing_client_gets_the_same_answer(client):
    # falcon.testing passes the path as given (no REQUEST_URI): the check
    # holds for any WSGI server, not only for waitress.
    assert client.simulate_get("//metrics").status_code == 404
    assert client.simulate_get("/metrics").status_code == 200
