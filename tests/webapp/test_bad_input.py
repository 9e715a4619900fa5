"""Hostile and broken requests over a real socket to the real app on real waitress.

Each test checks the status the client gets, that nothing answers 500, and
that the server still serves afterwards; the last ones check the metrics' label
set and the log for what must not be there.
"""

from __future__ import annotations

import http.client
import random
import time

import pytest

from tests.webapp import rawhttp
from tests.webapp.conftest import at_start, samples
from webapp.app import ROUTES

ALLOWED_PATH_LABELS = {*ROUTES, "other"}


def still_serving(live) -> None:
    """The server answers a plain request after whatever the test sent."""
    response = rawhttp.request(live.port, rawhttp.get("/healthz"))
    assert (response.status, response.body) == (200, b"ok\n")


def test_oversized_headers_get_431(live_server):
    data = b"GET / HTTP/1.1\r\nHost: x\r\nX-Filler: " + b"a" * 40_000 + b"\r\n\r\n"
    response = rawhttp.request(live_server.port, data)
    assert response.status == 431
    still_serving(live_server)


def test_oversized_body_by_content_length_gets_413(live_server):
    data = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
    response = rawhttp.request(live_server.port, data)
    assert response.status == 413
    still_serving(live_server)


def test_oversized_chunked_body_gets_413(live_server):
    chunk = b"a" * 70_000
    data = (
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + f"{len(chunk):x}\r\n".encode()
        + chunk
        + b"\r\n0\r\n\r\n"
    )
    response = rawhttp.request(live_server.port, data)
    assert response.status == 413
    still_serving(live_server)


@pytest.mark.parametrize("method", [b"FOO", b"PROPFIND", b"PRI", b"X" * 40])
def test_unknown_methods_get_501_and_are_labelled_other(live_server, method):
    response = rawhttp.request(live_server.port, method + b" / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.status == 501
    counted = samples(live_server.registry, "http_requests_total")
    assert counted == at_start({(("method", "other"), ("path", "other"), ("status", "501")): 1.0})
    still_serving(live_server)


@pytest.mark.parametrize(
    "request_line",
    [
        b"GARBAGE",
        b"GET  /  HTTP/1.1",
        b"G@T / HTTP/1.1",
        b"get / HTTP/1.1",
        b"GET  HTTP/1.1",
        b"GET / HTTP/1.1\r\nBad Header: y",
        b"POST / HTTP/1.1\r\nContent-Length: abc",
    ],
    ids=[
        "no-spaces",
        "double-spaces",
        "bad-token",
        "lower-case",
        "no-target",
        "bad-header",
        "bad-length",
    ],
)
def test_malformed_requests_get_400(live_server, request_line):
    response = rawhttp.request(live_server.port, request_line + b"\r\nHost: x\r\n\r\n")
    assert response.status == 400
    still_serving(live_server)


@pytest.mark.parametrize(
    "path",
    [b"/\xff\xfe\xc3", "/h\u00e9llo".encode(), b"/\x80/healthz"],
    ids=["invalid-utf8", "raw-utf8", "high-byte"],
)
def test_raw_non_ascii_bytes_in_the_path_get_400(live_server, path):
    response = rawhttp.request(live_server.port, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.status == 400
    still_serving(live_server)


@pytest.mark.parametrize(
    "path",
    ["/%ff%fe%00", "/%zz%%%", "/%c3%28", "/%00healthz", "/%2e%2e%2f", "/a%0d%0aSet-Cookie:x=1"],
)
def test_percent_encoded_garbage_gets_404(live_server, path):
    response = rawhttp.request(live_server.port, rawhttp.get(path))
    assert response.status == 404
    assert b"set-cookie" not in b"".join(k.encode() for k in response.headers)
    still_serving(live_server)


@pytest.mark.parametrize(
    "path",
    [
        "/../../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/..%2f..%2f..%2fetc%2fpasswd",
        "/healthz/../../etc/passwd",
        "//etc/passwd",
        "/%252e%252e/etc/passwd",
    ],
)
def test_path_traversal_finds_nothing(live_server, path):
    response = rawhttp.request(live_server.port, rawhttp.get(path))
    assert response.status == 404
    assert b"root:" not in response.body
    still_serving(live_server)


def _random_path(rng: random.Random, index: int) -> str:
    """A path no route matches: printable junk, percent-encoded bytes, or look-alikes."""
    kind = index % 4
    if kind == 0:
        alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/"
        return "/" + "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) + f"/{index}"
    if kind == 1:
        raw = bytes(rng.randrange(256) for _ in range(rng.randint(1, 20)))
        return "/" + "".join(f"%{byte:02x}" for byte in raw) + f"-{index}"
    if kind == 2:
        return f"{rng.choice(ROUTES).rstrip('/')}/{index}"
    return f"/{'x' * rng.randint(1, 200)}?q={index}"


def test_ten_thousand_random_paths_keep_the_path_label_bounded(live_server):
    rng = random.Random(6)
    paths = {_random_path(rng, index) for index in range(10_000)}
    assert len(paths) == 10_000
    statuses: dict[int, int] = {}
    ordered = sorted(paths)
    with rawhttp.Connection(live_server.port, timeout=30) as connection:
        for start in range(0, len(ordered), 200):
            batch = ordered[start : start + 200]
            # Pipelined: one write per batch, then every response in order.
            connection.send(b"".join(rawhttp.get(path) for path in batch))
            for _ in batch:
                status = connection.read_response().status
                statuses[status] = statuses.get(status, 0) + 1
    assert statuses == {404: 10_000}

    counted = samples(live_server.registry, "http_requests_total")
    durations = samples(live_server.registry, "http_request_duration_seconds_count")
    labels = {dict(key)["path"] for key in [*counted, *durations]}
    assert labels <= ALLOWED_PATH_LABELS
    assert counted == at_start(
        {(("method", "GET"), ("path", "other"), ("status", "404")): 10_000.0}
    )
    still_serving(live_server)


def test_a_slow_client_is_cut_off_without_blocking_others(live_server):
    slow = rawhttp.Connection(live_server.port, timeout=15)
    try:
        slow.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # and then nothing
        started = time.monotonic()
        # Meanwhile everyone else is served.
        for _ in range(5):
            still_serving(live_server)
        # CHANNEL_TIMEOUT_SECONDS is 1 here; waitress closes the connection
        # without an answer (generous bound: a loaded CI machine).
        assert slow.closed_by_peer()
        assert time.monotonic() - started < 10
    finally:
        slow.close()
    still_serving(live_server)


def test_secrets_sent_by_clients_never_reach_the_log(live_server, captured_log):
    secret = "s3cr3t-Value-42"
    requests = [
        rawhttp.get(f"/?token={secret}"),
        rawhttp.get(f"/missing?access_token={secret}&page=2"),
        rawhttp.get(f"/login?user=bob&password={secret}"),
        rawhttp.get("/", headers={"Authorization": f"Bearer {secret}"}),
        rawhttp.get(f"/api_key={secret}"),
        b"FOO /?api_key=" + secret.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    ]
    for data in requests:
        response = rawhttp.request(live_server.port, data)
        assert response.status != 500
    connection = http.client.HTTPConnection("127.0.0.1", live_server.port, timeout=10)
    connection.request("GET", f"/?secret={secret}", headers={"Cookie": f"session={secret}"})
    assert connection.getresponse().status == 200
    connection.close()

    access = captured_log.access()
    assert len(access) == len(requests) + 1
    assert secret not in captured_log.text()
    assert any(line.get("query") == "token=[REDACTED]" for line in access)
    assert any(line.get("query") == "user=bob&password=[REDACTED]" for line in access)
