"""The Falcon app through falcon.testing: routes, negotiation, headers, metrics, access log."""

from __future__ import annotations

import itertools
import json
import logging

import falcon
import falcon.testing
import pytest
from prometheus_client import CollectorRegistry

from tests.webapp.conftest import at_start, samples
from webapp.app import ROUTES, create_app
from webapp.readiness import Readiness
from webapp.settings import Settings

EXPECTED_SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
}


def make_client(registry=None, **kwargs):
    settings = kwargs.pop("settings", Settings(message="Hello, tests!", app_env="test"))
    app = create_app(settings, registry or CollectorRegistry(), **kwargs)
    return falcon.testing.TestClient(app)


def test_greeting_is_the_message_and_a_newline_as_text():
    result = make_client().simulate_get("/")
    assert result.status_code == 200
    assert result.text == "Hello, tests!\n"
    assert result.headers["content-type"] == "text/plain; charset=utf-8"


@pytest.mark.parametrize(
    ("accept", "json_expected"),
    [
        ("application/json", True),
        ("application/json;q=0.9, text/html", True),
        ("application/*", True),
        (None, False),
        ("*/*", False),
        ("text/plain", False),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", False),
        ("application/json;q=0.5, text/plain", False),
        ("text/html", False),
        ("garbage;;q=x", False),
    ],
)
def test_greeting_is_json_only_when_the_client_prefers_it(accept, json_expected):
    headers = {"Accept": accept} if accept else {}
    result = make_client(version="1.2.3").simulate_get("/", headers=headers)
    assert result.status_code == 200
    assert result.headers["vary"] == "Accept"
    if json_expected:
        assert result.headers["content-type"] == "application/json"
        assert result.json == {"message": "Hello, tests!", "env": "test", "version": "1.2.3"}
    else:
        assert result.text == "Hello, tests!\n"


def test_a_message_with_any_characters_survives_both_representations():
    message = 'Grüße "quoted" \\ ünïcödé ✓'
    client = make_client(settings=Settings(message=message))
    assert client.simulate_get("/").content == f"{message}\n".encode()
    as_json = client.simulate_get("/", headers={"Accept": "application/json"})
    assert json.loads(as_json.content)["message"] == message


@pytest.mark.parametrize("path", ROUTES)
def test_head_answers_like_get_without_a_body(path):
    client = make_client()
    got, head = client.simulate_get(path), client.simulate_head(path)
    assert head.status_code == got.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    if path != "/metrics":  # the metrics change between the two requests
        assert head.headers["content-length"] == got.headers["content-length"]


def test_health_version_and_readiness():
    readiness = Readiness()
    client = make_client(readiness=readiness, version="2.0.0", commit="abc123")
    assert (client.simulate_get("/healthz").status_code, client.simulate_get("/healthz").text) == (
        200,
        "ok\n",
    )
    assert client.simulate_get("/version").json == {"version": "2.0.0", "commit": "abc123"}
    assert client.simulate_get("/readyz").status_code == 200
    readiness.start_draining()
    drained = client.simulate_get("/readyz")
    assert (drained.status_code, drained.text) == (503, "draining\n")
    # Liveness is not readiness: a draining pod is alive.
    assert client.simulate_get("/healthz").status_code == 200


# falcon.testing validates the WSGI environ and warns about methods it does not know.
unknown_methods = pytest.mark.filterwarnings("ignore::wsgiref.validate.WSGIWarning")


@unknown_methods
@pytest.mark.parametrize(
    ("method", "path", "cache_control"),
    [
        ("GET", "/", "no-cache"),
        ("GET", "/healthz", "no-store"),
        ("GET", "/readyz", "no-store"),
        ("GET", "/version", "no-store"),
        ("GET", "/metrics", "no-store"),
        ("GET", "/missing", "no-store"),
        ("POST", "/", "no-store"),
        ("FOO", "/", "no-store"),
    ],
)
def test_every_response_carries_the_security_headers_and_cache_control(method, path, cache_control):
    result = make_client().simulate_request(method, path)
    for name, value in EXPECTED_SECURITY_HEADERS.items():
        assert result.headers[name] == value
    assert result.headers["cache-control"] == cache_control
    assert "server" not in result.headers


def test_requests_are_counted_by_method_route_template_and_status(registry):
    client = make_client(registry)
    for _ in range(3):
        client.simulate_get("/")
    client.simulate_head("/")
    client.simulate_get("/healthz")
    client.simulate_get("/metrics")
    assert samples(registry, "http_requests_total") == at_start(
        {
            (("method", "GET"), ("path", "/"), ("status", "200")): 3.0,
            (("method", "HEAD"), ("path", "/"), ("status", "200")): 1.0,
            (("method", "GET"), ("path", "/healthz"), ("status", "200")): 1.0,
            (("method", "GET"), ("path", "/metrics"), ("status", "200")): 1.0,
        }
    )


@unknown_methods
def test_unknown_paths_disallowed_and_unknown_methods_are_all_labelled_other(registry):
    client = make_client(registry)
    assert client.simulate_get("/missing").status_code == 404
    assert client.simulate_get("/healthz/").status_code == 404
    assert client.simulate_post("/").status_code == 405
    assert client.simulate_delete("/metrics").status_code == 405
    assert client.simulate_request("FOO", "/").status_code == 501
    assert client.simulate_request("PROPFIND", "/version").status_code == 501
    assert samples(registry, "http_requests_total") == at_start(
        {
            (("method", "GET"), ("path", "other"), ("status", "404")): 2.0,
            (("method", "POST"), ("path", "other"), ("status", "405")): 1.0,
            (("method", "DELETE"), ("path", "other"), ("status", "405")): 1.0,
            (("method", "other"), ("path", "other"), ("status", "501")): 2.0,
        }
    )


def test_a_draining_readyz_keeps_its_route_label(registry):
    readiness = Readiness()
    client = make_client(registry, readiness=readiness)
    readiness.start_draining()
    client.simulate_get("/readyz")
    assert samples(registry, "http_requests_total") == at_start(
        {(("method", "GET"), ("path", "/readyz"), ("status", "503")): 1.0}
    )


def test_durations_are_measured_with_the_clock_given(registry):
    ticks = itertools.count()
    # Each request reads the clock twice: 0.3 s apart with this clock.
    client = make_client(registry, clock=lambda: next(ticks) * 0.3)
    client.simulate_get("/healthz")
    buckets = samples(registry, "http_request_duration_seconds_bucket")
    healthz = {dict(k)["le"]: v for k, v in buckets.items() if dict(k)["path"] == "/healthz"}
    assert healthz["0.25"] == 0.0
    assert healthz["0.5"] == 1.0
    total = samples(registry, "http_request_duration_seconds_sum")
    assert total[(("method", "GET"), ("path", "/healthz"))] == pytest.approx(0.3)


def test_the_access_line_gives_the_duration_in_milliseconds(captured_log):
    ticks = itertools.count()
    make_client(clock=lambda: next(ticks) * 0.25).simulate_get("/healthz")
    (line,) = captured_log.access()
    assert line["duration_ms"] == 250.0


def test_every_route_has_a_duration_series_before_any_traffic(registry):
    make_client(registry)
    counts = samples(registry, "http_request_duration_seconds_count")
    assert {dict(key)["path"] for key in counts} == set(ROUTES)
    assert set(counts.values()) == {0.0}


def test_build_info_names_version_and_commit(registry):
    make_client(registry, version="3.1.4", commit="deadbeef")
    assert samples(registry, "build_info") == {(("commit", "deadbeef"), ("version", "3.1.4")): 1.0}


def test_metrics_are_served_in_the_format_the_scraper_asks_for(registry):
    client = make_client(registry)
    client.simulate_get("/")
    text = client.simulate_get("/metrics")
    assert text.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'http_requests_total{method="GET",path="/",status="200"} 1.0' in text.text
    openmetrics = client.simulate_get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.rstrip().endswith("# EOF")


def test_one_access_line_per_request_with_its_fields(captured_log):
    client = make_client()
    client.simulate_get("/", query_string="lang=en")
    client.simulate_get("/nowhere")
    first, second = captured_log.access()
    assert first["level"] == "INFO"
    assert first["msg"] == "GET / 200"
    assert {k: first[k] for k in ("method", "path", "route", "status", "query")} == {
        "method": "GET",
        "path": "/",
        "route": "/",
        "status": 200,
        "query": "lang=en",
    }
    assert isinstance(first["duration_ms"], float)
    assert first["duration_ms"] >= 0
    assert (second["route"], second["status"], second["path"]) == ("other", 404, "/nowhere")
    assert "query" not in second


def test_credentials_in_the_query_string_are_redacted_in_the_access_line(captured_log):
    client = make_client()
    client.simulate_get("/", query_string="user=bob&access_token=ya29.secret&password=hunter2")
    (line,) = captured_log.access()
    assert line["query"] == "user=bob&access_token=[REDACTED]&password=[REDACTED]"
    assert "ya29.secret" not in captured_log.text()
    assert "hunter2" not in captured_log.text()


def test_client_controlled_text_is_clipped_in_the_access_line(captured_log):
    make_client().simulate_get("/" + "a" * 5000, query_string="q=" + "b" * 5000)
    (line,) = captured_log.access()
    assert len(line["path"]) < 300
    assert len(line["query"]) < 600


def test_access_lines_follow_the_log_level(captured_log):
    logging.getLogger().setLevel(logging.WARNING)
    make_client().simulate_get("/")
    assert captured_log.access() == []


class Broken:
    def on_get(self, req, resp):
        raise RuntimeError("database said password=hunter2")


def test_an_unexpected_error_is_a_bare_500_and_one_redacted_log_line(registry, captured_log):
    app = create_app(Settings(), registry)
    app.add_route("/broken", Broken())
    result = falcon.testing.TestClient(app).simulate_get("/broken")
    assert result.status_code == 500
    assert "hunter2" not in result.text
    assert "RuntimeError" not in result.text
    (error,) = [line for line in captured_log.lines() if line["level"] == "ERROR"]
    assert error["msg"] == "unexpected error while serving GET /broken"
    assert "RuntimeError: database said password=[REDACTED]" in error["error"]
    assert "hunter2" not in captured_log.text()
    assert samples(registry, "http_requests_total") == at_start(
        {(("method", "GET"), ("path", "/broken"), ("status", "500")): 1.0}
    )


def test_apps_do_not_share_metrics():
    first, second = CollectorRegistry(), CollectorRegistry()
    make_client(first).simulate_get("/")
    make_client(second)
    key = (("method", "GET"), ("path", "/"), ("status", "200"))
    assert samples(first, "http_requests_total")[key] == 1.0
    assert samples(second, "http_requests_total")[key] == 0.0


def test_the_app_is_a_falcon_wsgi_app():
    assert isinstance(create_app(Settings(), CollectorRegistry()), falcon.App)


def test_the_access_line_passes_the_access_loggers_filters_and_record_factory(captured_log):
    # The observer makes and handles its record itself (skipping log.info's
    # stack search); filters and a custom record factory must still apply.
    access = logging.getLogger("webapp.access")
    default_factory = logging.getLogRecordFactory()

    def factory(*args, **kwargs):
        record = default_factory(*args, **kwargs)
        record.made_by_factory = True
        return record

    seen = []

    def keep_healthz_only(record):
        seen.append(getattr(record, "made_by_factory", False))
        return record.fields["route"] == "/healthz"

    logging.setLogRecordFactory(factory)
    access.addFilter(keep_healthz_only)
    try:
        client = make_client()
        client.simulate_get("/")
        client.simulate_get("/healthz")
    finally:
        access.removeFilter(keep_healthz_only)
        logging.setLogRecordFactory(default_factory)
    assert seen == [True, True]
    assert [(line["msg"], line["route"]) for line in captured_log.access()] == [
        ("GET /healthz 200", "/healthz")
    ]


def test_a_fresh_app_has_its_success_and_error_counters_at_zero(registry):
    make_client(registry)
    counted = samples(registry, "http_requests_total")
    assert counted == at_start({})
    assert {dict(key)["status"] for key in counted} == {"200", "500"}
    assert {dict(key)["path"] for key in counted} == set(ROUTES)
    assert set(counted.values()) == {0.0}
