"""Controller settings: the contract's defaults and one-line errors naming the variable."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reloader.core import Policy
from reloader.runtime.settings import load_settings
from telemetry.config import ConfigError


def test_defaults_are_the_contracts():
    s = load_settings({"POD_NAME": "helloworld-controller-0"})
    assert s.kubeconfig is None
    assert s.namespace == "shipshape"
    assert s.configmap_label_selector == "app=helloworld"
    assert s.debounce_seconds == 5
    assert s.watch_timeout_seconds == 30
    le = s.leader_election
    assert (le.enabled, le.lease_name) == (True, "helloworld-controller-leader")
    assert (le.lease_duration_seconds, le.renew_deadline_seconds, le.retry_period_seconds) == (
        15,
        10,
        2,
    )
    assert s.pod_name == "helloworld-controller-0"
    assert (s.http_host, s.http_port) == ("0.0.0.0", 8080), "probes come from the node"
    assert s.journal_url == "sqlite:///shipshape-journal.db"
    assert s.log_level == "INFO"
    assert s.policy() == Policy(
        debounce_seconds=5.0,
        workload_kinds=("deployments", "statefulsets", "daemonsets"),
        label_rule_namespace="shipshape",  # the runbook's label rule: NAMESPACE only
        conflict_backoff=True,  # a second refusal in a row waits a backoff
        ordered_correlation_ids=True,  # the journal's index of them is appended to
    )


def test_pod_name_defaults_to_the_hostname():
    import socket

    assert load_settings({}).pod_name == socket.gethostname()


def test_values_are_read():
    s = load_settings(
        {
            "KUBECONFIG": "config/kubeconfig.yaml",
            "NAMESPACE": "ns-1",
            "CONFIGMAP_LABEL_SELECTOR": "app in (a,b),env!=dev,!skip",
            "DEBOUNCE_SECONDS": "0.5",
            "LEADER_ELECTION_ENABLED": "false",
            "HTTP_PORT": "0",
            "LOG_LEVEL": "debug",
            "RESYNC_SECONDS": "2",
            "RETRY_BASE_SECONDS": "0.1",
            "RETRY_MAX_SECONDS": "0.4",
        }
    )
    assert s.kubeconfig == "config/kubeconfig.yaml"
    assert s.debounce_seconds == 0.5 and s.http_port == 0 and s.log_level == "DEBUG"
    assert s.leader_election.enabled is False
    assert s.policy().resync_seconds == 2 and s.policy().retry_max_seconds == 0.4


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        # int() takes these; the configuration wants plain ASCII decimal digits.
        ("HTTP_PORT", "1_0", "must be a whole number"),
        ("HTTP_PORT", "+80", "must be a whole number"),
        ("HTTP_PORT", "\u0668\u0660", "must be a whole number"),
        ("RESTART_BURST", "\uff12\uff10", "must be a whole number"),
        ("LEADER_ELECTION_RETRY_PERIOD_SECONDS", "0x2", "must be a whole number"),
        # float() takes these; a decimal number is digits and at most one point.
        ("DEBOUNCE_SECONDS", "1_0.5", "must be a number"),
        ("DEBOUNCE_SECONDS", "1e3", "must be a number"),
        ("DEBOUNCE_SECONDS", "+1.5", "must be a number"),
        ("DEBOUNCE_SECONDS", "\u0665.5", "must be a number"),
        ("RESYNC_SECONDS", "inf", "must be a finite number"),
        ("RESYNC_SECONDS", "-Infinity", "must be a finite number"),
        ("RETRY_BASE_SECONDS", "nan", "must be a finite number"),
        ("RETRY_BASE_SECONDS", "1" * 400, "must be a finite number"),
        ("RETRY_MAX_ATTEMPTS", "1" * 5000, "must be a whole number"),
    ],
)
def test_numbers_are_ascii_decimal_only(variable, value, problem):
    with pytest.raises(ConfigError) as caught:
        load_settings({variable: value})
    assert str(caught.value) == f"invalid {variable}: {problem} (got {value!r})"


def test_decimal_forms_that_are_accepted():
    s = load_settings(
        {
            "HTTP_PORT": " 0080 ",
            "DEBOUNCE_SECONDS": ".5",
            "RESYNC_SECONDS": "30.",
            "RETRY_BASE_SECONDS": "0.25",
        }
    )
    assert s.http_port == 80
    assert (s.debounce_seconds, s.resync_seconds, s.retry_base_seconds) == (0.5, 30.0, 0.25)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        # One variable set against the other's default: the line leads with the
        # one the user set, and says the other's value is the default.
        (
            {"RETRY_BASE_SECONDS": "100"},
            "invalid RETRY_BASE_SECONDS=100: must not exceed RETRY_MAX_SECONDS (60, the default)",
        ),
        (
            {"RETRY_MAX_SECONDS": "0.5"},
            "invalid RETRY_MAX_SECONDS=0.5: must be at least RETRY_BASE_SECONDS (1, the default)",
        ),
        (
            {"LEADER_ELECTION_RENEW_DEADLINE_SECONDS": "20"},
            "invalid LEADER_ELECTION_RENEW_DEADLINE_SECONDS=20: must be less than "
            "LEADER_ELECTION_LEASE_DURATION_SECONDS (15, the default)",
        ),
        (
            {"LEADER_ELECTION_RETRY_PERIOD_SECONDS": "9"},
            "invalid LEADER_ELECTION_RETRY_PERIOD_SECONDS=9: times 1.2 must be less than "
            "LEADER_ELECTION_RENEW_DEADLINE_SECONDS (10, the default)",
        ),
        (
            {"LEADER_ELECTION_RENEW_DEADLINE_SECONDS": "2"},
            "invalid LEADER_ELECTION_RENEW_DEADLINE_SECONDS=2: must be greater than 1.2 x "
            "LEADER_ELECTION_RETRY_PERIOD_SECONDS (2, the default)",
        ),
        # Two set, one defaulted: the conflict is between the defaulted one
        # and the one set beside it.
        (
            {
                "LEADER_ELECTION_LEASE_DURATION_SECONDS": "100",
                "LEADER_ELECTION_RETRY_PERIOD_SECONDS": "60",
            },
            "invalid LEADER_ELECTION_RETRY_PERIOD_SECONDS=60: times 1.2 must be less than "
            "LEADER_ELECTION_RENEW_DEADLINE_SECONDS (10, the default)",
        ),
    ],
)
def test_a_conflict_names_the_variables_set_and_the_defaulted_one(environ, message):
    with pytest.raises(ConfigError) as caught:
        load_settings(environ)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"DEBOUNCE_SECONDS": "soon"}, "invalid DEBOUNCE_SECONDS: must be a number (got 'soon')"),
        ({"DEBOUNCE_SECONDS": "-1"}, "invalid DEBOUNCE_SECONDS: must be at least 0 (got '-1')"),
        ({"WATCH_TIMEOUT_SECONDS": "1.5"}, "invalid WATCH_TIMEOUT_SECONDS: must be a whole number"),
        ({"HTTP_PORT": "65536"}, "invalid HTTP_PORT: must be at most 65535"),
        ({"NAMESPACE": "Ship_Shape"}, "invalid NAMESPACE: must be a DNS label"),
        ({"CONFIGMAP_LABEL_SELECTOR": "=app"}, "invalid CONFIGMAP_LABEL_SELECTOR"),
        ({"CONFIGMAP_LABEL_SELECTOR": "app in (a,b"}, "invalid CONFIGMAP_LABEL_SELECTOR"),
        ({"CONFIGMAP_LABEL_SELECTOR": "app=hello world"}, "invalid CONFIGMAP_LABEL_SELECTOR"),
        (
            {"LEADER_ELECTION_ENABLED": "maybe"},
            "invalid LEADER_ELECTION_ENABLED: must be true or false",
        ),
        ({"LEADER_ELECTION_LEASE_NAME": "Bad_Name"}, "invalid LEADER_ELECTION_LEASE_NAME"),
        ({"LEADER_ELECTION_LEASE_DURATION_SECONDS": "15.5"}, "must be a whole number"),
        ({"LEADER_ELECTION_RETRY_PERIOD_SECONDS": "1.5"}, "must be a whole number"),
        (
            {"LEADER_ELECTION_LEASE_DURATION_SECONDS": "10"},
            "invalid LEADER_ELECTION_LEASE_DURATION_SECONDS=10: must be greater than "
            "LEADER_ELECTION_RENEW_DEADLINE_SECONDS (10, the default)",
        ),
        (
            {
                "LEADER_ELECTION_RENEW_DEADLINE_SECONDS": "12",
                "LEADER_ELECTION_RETRY_PERIOD_SECONDS": "10",
            },
            "invalid LEADER_ELECTION_RENEW_DEADLINE_SECONDS=12: must be greater than 1.2 x "
            "LEADER_ELECTION_RETRY_PERIOD_SECONDS (10)",
        ),
        # 1.2 x 5 = 6 exactly is not enough.
        (
            {
                "LEADER_ELECTION_RENEW_DEADLINE_SECONDS": "6",
                "LEADER_ELECTION_RETRY_PERIOD_SECONDS": "5",
            },
            "invalid LEADER_ELECTION_RENEW_DEADLINE_SECONDS",
        ),
        (
            {"LOG_LEVEL": "chatty"},
            "invalid LOG_LEVEL: must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
        ),
        (
            {"RETRY_BASE_SECONDS": "5", "RETRY_MAX_SECONDS": "1"},
            "invalid RETRY_MAX_SECONDS=1: must be at least RETRY_BASE_SECONDS (5)",
        ),
        ({"RETRY_MAX_ATTEMPTS": "0"}, "invalid RETRY_MAX_ATTEMPTS: must be at least 1"),
        ({"RESTART_RATE_PER_SECOND": "0"}, "invalid RESTART_RATE_PER_SECOND"),
        ({"MAX_CONCURRENT_ROLLOUTS": "0"}, "invalid MAX_CONCURRENT_ROLLOUTS"),
        ({"SHUTDOWN_TIMEOUT_SECONDS": "0"}, "invalid SHUTDOWN_TIMEOUT_SECONDS"),
        (
            {"SHUTDOWN_TIMEOUT_SECONDS": "301"},
            "invalid SHUTDOWN_TIMEOUT_SECONDS: must be at most 300",
        ),
        ({"POD_NAME": "two words"}, "invalid POD_NAME"),
        ({"POD_NAME": "p" * 254}, "invalid POD_NAME"),
    ],
)
def test_bad_values_name_their_variable(environ, message):
    with pytest.raises(ConfigError) as caught:
        load_settings(environ)
    text = str(caught.value)
    assert "\n" not in text
    variable = next(iter(environ))
    assert variable in text
    assert message in text


def test_the_widest_valid_values_pass():
    s = load_settings(
        {
            "POD_NAME": "p" * 253,
            "RETRY_BASE_SECONDS": "5",
            "RETRY_MAX_SECONDS": "5",
            "SHUTDOWN_TIMEOUT_SECONDS": "300",
        }
    )
    assert len(s.pod_name) == 253
    assert s.policy().retry_base_seconds == s.policy().retry_max_seconds == 5
    assert s.shutdown_timeout_seconds == 300


def test_the_journaled_summary_names_the_debounce_at_the_top_level():
    # replay judges the restart SLO (DEBOUNCE_SECONDS + 30 s) by this field.
    summary = load_settings({"DEBOUNCE_SECONDS": "2.5"}).summary()
    assert summary["debounce_seconds"] == 2.5
    assert summary["policy"]["debounce_seconds"] == 2.5


def test_the_tightest_valid_lease_timings_pass():
    s = load_settings(
        {
            "LEADER_ELECTION_LEASE_DURATION_SECONDS": "3",
            "LEADER_ELECTION_RENEW_DEADLINE_SECONDS": "2",
            "LEADER_ELECTION_RETRY_PERIOD_SECONDS": "1",
        }
    )
    assert s.leader_election.renew_deadline_seconds == 2


# ---------------------------------------------------------------- issue 16: scope and Secrets


def test_scope_and_secrets_default_to_the_own_namespace_without_secrets():
    s = load_settings({"NAMESPACE": "shop"})
    assert s.watch_namespaces == ("shop",)
    assert not s.cluster_scope
    assert s.watch_secrets is False
    assert s.secret_hash_key is None
    assert s.summary()["watch_namespaces"] == ["shop"]
    assert s.summary()["watch_secrets"] is False


def test_watch_namespaces_are_a_list_or_a_star():
    s = load_settings({"WATCH_NAMESPACES": " shop, team-a ,shop"})
    assert s.watch_namespaces == ("shop", "team-a")
    assert load_settings({"WATCH_NAMESPACES": "*"}).cluster_scope


@pytest.mark.parametrize("value", ["Shop", "a,,b", "*,shop", "a_b", "x" * 64, "shop,"])
def test_bad_watch_namespaces_name_the_variable(value):
    with pytest.raises(ConfigError, match="invalid WATCH_NAMESPACES: must be \\* or comma"):
        load_settings({"WATCH_NAMESPACES": value})


def test_an_empty_selector_means_every_configmap_and_unset_means_the_default():
    assert load_settings({"CONFIGMAP_LABEL_SELECTOR": ""}).configmap_label_selector == ""
    assert load_settings({"CONFIGMAP_LABEL_SELECTOR": "  "}).configmap_label_selector == ""
    assert load_settings({}).configmap_label_selector == "app=helloworld"


@pytest.mark.parametrize(
    "selector",
    [
        "tier>1",
        "tier < 10,app=helloworld",
        "app=" + "v" * 63,
        "k" * 63 + "=x",
        "example.com/" + "k" * 63,
        "app in (a," + "v" * 63 + ")",
    ],
)
def test_selectors_the_api_server_accepts_pass(selector):
    settings = load_settings({"CONFIGMAP_LABEL_SELECTOR": selector})
    assert settings.configmap_label_selector == selector


@pytest.mark.parametrize(
    "selector",
    [
        # The API server answers 400 to these on every list: the controller would
        # start and never see a ConfigMap instead of stopping with one line.
        "app=" + "v" * 64,
        "k" * 64 + "=x",
        "p" * 254 + "/app",
        "app in (a," + "v" * 64 + ")",
        "tier>-1",
        "tier>=1",
        "tier>" + "9" * 20,
        # A key's prefix is a DNS subdomain: no empty label between dots.
        "a..b/x=1",
        "a.-b/x=1",
    ],
)
def test_selectors_the_api_server_refuses_stop_start_up(selector):
    with pytest.raises(ConfigError, match="invalid CONFIGMAP_LABEL_SELECTOR"):
        load_settings({"CONFIGMAP_LABEL_SELECTOR": selector})


def test_watch_secrets_needs_a_key_file_of_32_bytes(tmp_path):
    with pytest.raises(ConfigError, match="invalid SECRET_HASH_KEY_FILE: must name a file"):
        load_settings({"WATCH_SECRETS": "true"})
    short = tmp_path / "short"
    short.write_bytes(b"Z" * 31)
    with pytest.raises(ConfigError) as error:
        load_settings({"WATCH_SECRETS": "true", "SECRET_HASH_KEY_FILE": str(short)})
    assert "at least 32 bytes (it holds 31)" in str(error.value)
    assert "ZZ" not in str(error.value)
    with pytest.raises(ConfigError, match="cannot be read: No such file"):
        load_settings({"WATCH_SECRETS": "true", "SECRET_HASH_KEY_FILE": str(tmp_path / "missing")})
    good = tmp_path / "key"
    good.write_bytes(b"Z" * 32)
    s = load_settings({"WATCH_SECRETS": "true", "SECRET_HASH_KEY_FILE": str(good)})
    assert s.watch_secrets and s.secret_hash_key is not None
    assert "ZZ" not in repr(s) and "ZZ" not in str(s.summary())
    # Without WATCH_SECRETS the file is not read at all.
    assert load_settings({"SECRET_HASH_KEY_FILE": str(short)}).secret_hash_key is None


@pytest.mark.parametrize("make", ["fifo", "device", "huge"])
def test_a_key_file_that_never_ends_stops_start_up_with_one_line(tmp_path, make):
    """A FIFO blocked start-up for ever and /dev/zero or /dev/urandom ran it out of
    memory (a MemoryError traceback): neither is a key file."""
    path = tmp_path / "key"
    if make == "fifo":
        os.mkfifo(path)
    elif make == "device":
        path = Path("/dev/zero")
    else:
        path.write_bytes(b"k" * (1 << 20))
    with pytest.raises(ConfigError) as error:
        load_settings({"WATCH_SECRETS": "true", "SECRET_HASH_KEY_FILE": str(path)})
    assert str(error.value).startswith("invalid SECRET_HASH_KEY_FILE: ")


def test_other_namespaces_and_secrets_are_honoured_now(tmp_path):
    key = tmp_path / "key"
    key.write_bytes(b"k" * 32)
    s = load_settings(
        {"WATCH_NAMESPACES": "*", "WATCH_SECRETS": "1", "SECRET_HASH_KEY_FILE": str(key)}
    )
    policy = s.policy()
    assert s.cluster_scope and policy.watch_secrets
    assert policy.resources == {
        "configmaps",
        "secrets",
        "deployments",
        "statefulsets",
        "daemonsets",
    }
    # Its own namespace alone: the same three workload kinds, under the shipped Role.
    assert load_settings({"NAMESPACE": "a"}).policy().resources == {
        "configmaps",
        "deployments",
        "statefulsets",
        "daemonsets",
    }
