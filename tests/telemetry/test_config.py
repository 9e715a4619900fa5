"""Settings from the environment: defaults, parsing, one-line errors naming the variable."""

import pytest

from telemetry.config import (
    ConfigError,
    env_bool,
    env_choice,
    env_float,
    env_host,
    env_int,
    env_str,
)


def test_unset_and_blank_values_take_the_default():
    assert env_int({}, "PORT", 8080) == 8080
    assert env_int({"PORT": "  "}, "PORT", 8080) == 8080
    assert env_str({"NAMESPACE": ""}, "NAMESPACE", "shipshape") == "shipshape"
    assert env_str({"NAMESPACE": "   "}, "NAMESPACE", "shipshape") == "shipshape"
    assert env_str({"NAMESPACE": " shop "}, "NAMESPACE", "shipshape") == "shop"
    assert env_bool({}, "OTEL_ENABLED", False) is False
    assert env_float({}, "DRAIN", 1.5) == 1.5


def test_bounds_are_inclusive():
    assert env_int({"PORT": "65535"}, "PORT", 1, minimum=0, maximum=65535) == 65535
    assert env_int({"PORT": "0"}, "PORT", 1, minimum=0, maximum=65535) == 0
    assert env_float({"D": "300"}, "D", 1.0, minimum=1, maximum=300) == 300
    # Leading zeros are decimal, as everywhere else in the configuration.
    assert env_int({"PORT": "0080"}, "PORT", 1) == 80


def test_values_are_parsed():
    assert env_int({"PORT": " 9090 "}, "PORT", 8080, minimum=1, maximum=65535) == 9090
    assert env_float({"D": "0.25"}, "D", 1.0, minimum=0) == 0.25
    assert env_bool({"X": "TRUE"}, "X", False) is True
    assert env_bool({"X": "off"}, "X", True) is False
    assert env_bool({"X": "on"}, "X", False) is True
    assert env_bool({"X": "Yes"}, "X", False) is True
    assert env_choice({"L": "debug"}, "L", "INFO", ("DEBUG", "INFO")) == "DEBUG"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: env_int({"PORT": "80a"}, "PORT", 1),
            "invalid PORT: must be a whole number (got '80a')",
        ),
        (
            lambda: env_int({"PORT": "0"}, "PORT", 1, minimum=1),
            "invalid PORT: must be at least 1 (got '0')",
        ),
        (
            lambda: env_int({"PORT": "70000"}, "PORT", 1, maximum=65535),
            "invalid PORT: must be at most 65535 (got '70000')",
        ),
        (lambda: env_int({"T": "1.5"}, "T", 1), "invalid T: must be a whole number (got '1.5')"),
        (
            lambda: env_int({"PORT": "0x1F90"}, "PORT", 1),
            "invalid PORT: must be a whole number (got '0x1F90')",
        ),
        (
            lambda: env_float({"D": "nan"}, "D", 1.0),
            "invalid D: must be a finite number (got 'nan')",
        ),
        (lambda: env_float({"D": "soon"}, "D", 1.0), "invalid D: must be a number (got 'soon')"),
        (
            lambda: env_bool({"B": "maybe"}, "B", False),
            "invalid B: must be true or false (got 'maybe')",
        ),
        (
            lambda: env_choice({"L": "loud"}, "L", "INFO", ("DEBUG", "INFO")),
            "invalid L: must be one of DEBUG, INFO (got 'loud')",
        ),
    ],
)
def test_bad_values_raise_one_line_naming_the_variable(call, message):
    with pytest.raises(ConfigError) as caught:
        call()
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "value", ["0.0.0.0", "127.0.0.1", "::", "::1", "localhost", "helloworld.shipshape.svc."]
)
def test_an_address_or_a_host_name_is_a_host(value):
    assert env_host({"LISTEN_HOST": f" {value} "}, "LISTEN_HOST", "0.0.0.0") == value


# The longest name DNS allows: 253 characters, in labels of at most 63.
LONGEST_NAME = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])


def test_a_host_name_may_be_253_characters_long():
    assert len(LONGEST_NAME) == 253
    assert env_host({"LISTEN_HOST": LONGEST_NAME}, "LISTEN_HOST", "0.0.0.0") == LONGEST_NAME


@pytest.mark.parametrize(
    "value",
    ["999.1.1.1", "1.2.3", "my_host", "a..b", "-a.b", "host:80", LONGEST_NAME + "d"],
)
def test_anything_else_is_not_a_host(value):
    with pytest.raises(ConfigError) as caught:
        env_host({"LISTEN_HOST": value}, "LISTEN_HOST", "0.0.0.0")
    assert str(caught.value) == (
        f"invalid LISTEN_HOST: must be an IP address or a host name (got {value!r})"
    )
