"""Start-up failures of ``shipshape-controller``: one line on stderr, the right exit code."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from tests.kubeapi.process import program

KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: not-a-real-token}}]
contexts: [{name: x, context: {cluster: c, user: u, namespace: shipshape}}]
current-context: x
"""


def run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    base = {
        "KUBECONFIG": str(kubeconfig),
        "JOURNAL_URL": str(tmp_path / "journal.db"),
        "LEADER_ELECTION_ENABLED": "false",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": "0",
        "POD_NAME": "helloworld-controller-0",
    }
    return subprocess.run(
        [program("shipshape-controller")],
        env={**os.environ, **base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("shipshape-controller: ")
    return lines[0]


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"DEBOUNCE_SECONDS": "soon"}, "invalid DEBOUNCE_SECONDS"),
        (
            {"LEADER_ELECTION_RENEW_DEADLINE_SECONDS": "20"},
            "invalid LEADER_ELECTION_RENEW_DEADLINE_SECONDS=20: must be less than "
            "LEADER_ELECTION_LEASE_DURATION_SECONDS (15, the default)",
        ),
        ({"LOG_LEVEL": "loud"}, "invalid LOG_LEVEL"),
        ({"LEADER_ELECTION_ENABLED": "maybe"}, "invalid LEADER_ELECTION_ENABLED"),
        ({"HTTP_HOST": "999.1.1.1"}, "invalid HTTP_HOST: must be an IP address or a host name"),
        ({"WATCH_NAMESPACES": "Bad"}, "invalid WATCH_NAMESPACES: must be * or comma-separated"),
        ({"WATCH_SECRETS": "true"}, "invalid SECRET_HASH_KEY_FILE: must name a file"),
    ],
)
def test_an_invalid_setting_stops_start_up_with_exit_2(tmp_path, env, words):
    result = run(tmp_path, **env)
    assert result.returncode == 2
    assert words in one_line(result)
    assert not (tmp_path / "journal.db").exists(), (
        "nothing is written before the settings are valid"
    )


def test_an_unopenable_journal_is_exit_1(tmp_path):
    (tmp_path / "dir.db").mkdir()
    result = run(tmp_path, JOURNAL_URL=str(tmp_path / "dir.db"))
    assert result.returncode == 1
    assert "cannot open the journal" in one_line(result)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        (
            "postgresql+pg8000://u@localhost/x",
            "invalid JOURNAL_URL: journal URL postgresql+pg8000://u@localhost/x: its driver, "
            "the Python module 'pg8000', is not installed",
        ),
        ("foo://bar", "invalid JOURNAL_URL: journal URL foo://bar: unknown database 'foo'"),
    ],
)
def test_a_journal_url_this_program_cannot_open_is_exit_2(tmp_path, url, words):
    result = run(tmp_path, JOURNAL_URL=url)
    assert result.returncode == 2
    assert words in one_line(result)


def test_a_kubeconfig_that_is_plain_text_is_exit_2(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("remember to rotate the token\n")
    result = run(tmp_path, KUBECONFIG=str(text))
    assert result.returncode == 2
    assert one_line(result) == (
        f"shipshape-controller: invalid KUBECONFIG: {text} is not a kubeconfig file "
        "(expected YAML with clusters, users, contexts and current-context)"
    )


@pytest.mark.parametrize(
    ("name", "make", "problem"),
    [
        ("kube", lambda path: path.mkdir(), "cannot be read: Is a directory"),
        ("empty", lambda path: path.write_text(""), "is empty, not a kubeconfig file"),
        (
            "values.yaml",
            lambda path: path.write_text("replicas: 2\n"),
            "is not a kubeconfig file (expected key current-context in {path})",
        ),
    ],
)
def test_a_kubeconfig_that_cannot_be_read_or_parsed_is_exit_2(tmp_path, name, make, problem):
    path = tmp_path / name
    make(path)
    result = run(tmp_path, KUBECONFIG=str(path))
    assert result.returncode == 2
    assert one_line(result) == (
        f"shipshape-controller: invalid KUBECONFIG: {path} {problem.format(path=path)}"
    )


def test_a_kubeconfig_list_names_the_file_that_cannot_be_read(tmp_path):
    folder = tmp_path / "kube"
    folder.mkdir()
    listed = f"{tmp_path / 'nowhere'}{os.pathsep}{folder}"
    result = run(tmp_path, KUBECONFIG=listed)
    assert result.returncode == 2
    assert one_line(result) == (
        f"shipshape-controller: invalid KUBECONFIG: {folder} cannot be read: Is a directory"
    )


def test_a_missing_kubeconfig_is_exit_1(tmp_path):
    result = run(tmp_path, KUBECONFIG=str(tmp_path / "nowhere"))
    assert result.returncode == 1
    assert "cannot configure the Kubernetes client" in one_line(result)
    # The journal was created on the way: its migrations narrate nothing at INFO.
    assert (tmp_path / "journal.db").exists()
    assert "alembic" not in result.stdout


def test_an_unreachable_journal_database_is_exit_1_without_its_password(tmp_path):
    url = "postgresql+psycopg://shipshape:s3cr-et@127.0.0.1:1/journal"
    result = run(tmp_path, JOURNAL_URL=url)
    assert result.returncode == 1
    line = one_line(result)
    assert line.startswith(
        "shipshape-controller: cannot open the journal "
        "postgresql+psycopg://shipshape:[REDACTED]@127.0.0.1:1/journal: "
    )
    assert "s3cr-et" not in result.stderr + result.stdout


def test_a_taken_port_is_exit_1(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        result = run(tmp_path, HTTP_PORT=str(taken.getsockname()[1]))
    assert result.returncode == 1
    assert "cannot listen on 127.0.0.1:" in one_line(result)


def test_a_short_secret_hash_key_is_one_line_without_its_bytes(tmp_path):
    key = tmp_path / "hash.key"
    key.write_bytes(b"sekrit-sekrit")
    result = run(tmp_path, WATCH_SECRETS="true", SECRET_HASH_KEY_FILE=str(key))
    assert result.returncode == 2
    line = one_line(result)
    assert "invalid SECRET_HASH_KEY_FILE: must hold at least 32 bytes (it holds 13)" in line
    assert "sekrit" not in result.stderr + result.stdout
    assert not (tmp_path / "journal.db").exists()
