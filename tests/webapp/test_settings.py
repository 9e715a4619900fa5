"""Settings from the environment: defaults, parsing, one line naming a bad variable."""

import pytest

from telemetry.config import ConfigError
from webapp.settings import ServerSettings, Settings, load_settings


def test_an_empty_environment_gives_the_documented_defaults():
    settings = load_settings({})
    assert settings == Settings()
    assert (settings.message, settings.app_env, settings.log_level) == (
        "Hello, world!",
        "dev",
        "INFO",
    )
    assert not settings.tracing.enabled
    server = settings.server
    assert (server.host, server.port, server.threads) == ("0.0.0.0", 8080, 8)
    assert (server.connection_limit, server.channel_timeout_seconds) == (200, 60)
    assert (server.drain_seconds, server.shutdown_timeout_seconds) == (5.0, 10.0)


def test_every_variable_is_read():
    settings = load_settings(
        {
            "MESSAGE": "Hi from prod",
            "APP_ENV": "prod",
            "PORT": "9090",
            "THREADS": "4",
            "LOG_LEVEL": "warning",
            "LISTEN_HOST": "127.0.0.1",
            "CONNECTION_LIMIT": "50",
            "CHANNEL_TIMEOUT_SECONDS": "15",
            "DRAIN_SECONDS": "2.5",
            "SHUTDOWN_TIMEOUT_SECONDS": "20",
            "OTEL_ENABLED": "true",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
            "OTEL_SERVICE_NAME": "hw",
            "OTEL_SERVICE_NAMESPACE": "ss",
        }
    )
    assert (settings.message, settings.app_env, settings.log_level) == (
        "Hi from prod",
        "prod",
        "WARNING",
    )
    assert settings.server == ServerSettings(
        host="127.0.0.1",
        port=9090,
        threads=4,
        connection_limit=50,
        channel_timeout_seconds=15,
        drain_seconds=2.5,
        shutdown_timeout_seconds=20.0,
    )
    assert settings.tracing.enabled
    assert settings.tracing.traces_url == "http://collector:4318/v1/traces"
    assert (settings.tracing.service_name, settings.tracing.service_namespace) == ("hw", "ss")


def test_port_zero_asks_for_any_free_port():
    assert load_settings({"PORT": "0"}).server.port == 0


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("PORT", "http", "must be a whole number"),
        ("PORT", "65536", "must be at most 65535"),
        ("PORT", "-1", "must be at least 0"),
        ("THREADS", "0", "must be at least 1"),
        ("THREADS", "eight", "must be a whole number"),
        ("THREADS", "1000", "must be at most 256"),
        ("LOG_LEVEL", "loud", "must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ("APP_ENV", "staging", "must be one of dev, test, prod"),
        ("CONNECTION_LIMIT", "0", "must be at least 1"),
        ("CHANNEL_TIMEOUT_SECONDS", "0.5", "must be a whole number"),
        ("CHANNEL_TIMEOUT_SECONDS", "0", "must be at least 1"),
        ("DRAIN_SECONDS", "-1", "must be at least 0"),
        ("DRAIN_SECONDS", "inf", "must be a finite number"),
        ("SHUTDOWN_TIMEOUT_SECONDS", "soon", "must be a number"),
        # Plain ASCII decimal only, though int() and float() take more.
        ("PORT", "8_080", "must be a whole number"),
        ("PORT", "+8080", "must be a whole number"),
        ("THREADS", "\u0668", "must be a whole number"),
        ("DRAIN_SECONDS", "1_0.5", "must be a number"),
        ("DRAIN_SECONDS", "5e0", "must be a number"),
        ("SHUTDOWN_TIMEOUT_SECONDS", "nan", "must be a finite number"),
        ("OTEL_ENABLED", "sometimes", "must be true or false"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(variable, value, problem):
    with pytest.raises(ConfigError) as caught:
        load_settings({variable: value})
    assert str(caught.value) == f"invalid {variable}: {problem} (got {value!r})"
    assert caught.value.variable == variable


@pytest.mark.parametrize("variable", ["MESSAGE", "GIT_COMMIT", "APP_ENV", "PORT"])
def test_a_value_that_is_not_utf8_is_refused_at_start_up(variable):
    # The bytes b"caf\xe9" (Latin-1) arrive as a lone surrogate (PEP 383):
    # served, logged or scraped, they would fail on every request.
    value = b"caf\xe9".decode("utf-8", "surrogateescape")
    with pytest.raises(ConfigError) as caught:
        load_settings({variable: value})
    assert str(caught.value) == f"invalid {variable}: must be UTF-8 text (got {value!r})"
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "variable", ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
)
def test_an_otlp_url_the_parser_rejects_is_one_line(variable):
    with pytest.raises(ConfigError) as caught:
        load_settings({"OTEL_ENABLED": "true", variable: "http://[::1"})
    assert str(caught.value) == (
        f"invalid {variable}: must be an http:// or https:// URL (got 'http://[::1')"
    )
