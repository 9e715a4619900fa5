"""Start-up of ``shipshape-controller`` on odd but possible input: never a hang or a traceback.

A FIFO where a file is expected would block the open for ever; bytes that are
not UTF-8 arrive as lone surrogates; a newline in a path would split the one
line a user reads. Each is refused at once, in one line.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from journal import Journal
from tests.reloader.e2e.harness import ReadOnly
from tests.reloader.runtime.test_main import KUBECONFIG, one_line, run

NOT_UTF8 = b"probe-\xff".decode("utf-8", "surrogateescape")


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


def test_a_signing_key_that_is_a_fifo_is_exit_2(tmp_path, fifo):
    result = run(tmp_path, JOURNAL_SIGNING_KEY_FILE=str(fifo))
    assert result.returncode == 2
    assert one_line(result) == (
        f"shipshape-controller: invalid JOURNAL_SIGNING_KEY_FILE: "
        f"the signing key {fifo} is not a regular file"
    )
    assert not (tmp_path / "journal.db").exists()


def test_a_kubeconfig_that_is_a_fifo_is_exit_2(tmp_path, fifo):
    result = run(tmp_path, KUBECONFIG=str(fifo))
    assert result.returncode == 2
    assert one_line(result) == (
        f"shipshape-controller: invalid KUBECONFIG: {fifo} is not a regular file, "
        "not a kubeconfig file"
    )


def test_a_journal_that_is_a_fifo_is_not_opened(tmp_path, fifo):
    result = run(tmp_path, JOURNAL_URL=str(fifo))
    assert result.returncode == 1
    assert one_line(result) == (
        f"shipshape-controller: cannot open the journal {fifo}: "
        f"{fifo} is not a regular file, so not a Shipshape journal"
    )


@pytest.mark.parametrize("url", ["sqlite://:memory:", "postgresql://u@[::1/x"])
def test_a_journal_url_the_parser_rejects_is_exit_2(tmp_path, url):
    result = run(tmp_path, JOURNAL_URL=url)
    assert result.returncode == 2
    assert one_line(result) == (
        f"shipshape-controller: invalid JOURNAL_URL: invalid journal URL {url!r}"
    )


def test_a_home_of_nobody_is_one_line(tmp_path):
    result = run(tmp_path, JOURNAL_SIGNING_KEY_FILE="~no-such-user-here/key.pem")
    assert result.returncode == 2
    assert one_line(result) == (
        "shipshape-controller: invalid JOURNAL_SIGNING_KEY_FILE: cannot read the signing key "
        "~no-such-user-here/key.pem: no such user's home directory"
    )
    result = run(tmp_path, JOURNAL_URL="~no-such-user-here/journal.db")
    assert result.returncode == 2
    assert one_line(result) == (
        "shipshape-controller: invalid JOURNAL_URL: journal path "
        "'~no-such-user-here/journal.db': no such user's home directory"
    )


@pytest.mark.parametrize("variable", ["POD_NAME", "GIT_COMMIT", "NAMESPACE", "JOURNAL_URL"])
def test_a_value_that_is_not_utf8_is_exit_2(tmp_path, variable):
    result = run(tmp_path, **{variable: NOT_UTF8})
    assert result.returncode == 2
    assert one_line(result) == (
        f"shipshape-controller: invalid {variable}: must be UTF-8 text (got 'probe-\\udcff')"
    )
    assert not (tmp_path / "journal.db").exists()


def test_a_pod_name_with_a_control_character_is_exit_2(tmp_path):
    result = run(tmp_path, POD_NAME="probe\x01")
    assert result.returncode == 2
    assert "invalid POD_NAME: must be a non-empty name without blanks or control characters" in (
        one_line(result)
    )


@pytest.mark.parametrize(
    "selector", ["app\x0b=helloworld", "app=a,\x1cenv=b", "app\u00a0in (a)", "app\u3000=x"]
)
def test_a_selector_with_blanks_the_api_server_refuses_is_exit_2(tmp_path, selector):
    # Python's \s takes these; the API server's selector lexer does not.
    result = run(tmp_path, CONFIGMAP_LABEL_SELECTOR=selector)
    assert result.returncode == 2
    assert "invalid CONFIGMAP_LABEL_SELECTOR: must be a Kubernetes label selector" in (
        one_line(result)
    )


def test_the_blanks_the_api_server_skips_are_still_taken(tmp_path):
    from reloader.runtime.settings import load_settings

    selector = "app in ( a ,\tb )\r\n, env=test"
    assert load_settings({"CONFIGMAP_LABEL_SELECTOR": selector}).configmap_label_selector == (
        selector.strip()
    )


def test_a_path_with_a_newline_is_quoted_on_one_line(tmp_path):
    folder = tmp_path / "a\nb.db"
    folder.mkdir()
    result = run(tmp_path, JOURNAL_URL=str(folder))
    assert result.returncode == 1
    line = one_line(result)
    assert "a\\nb.db is a directory, not a file" in line


def test_a_kubeconfig_with_a_bad_value_says_so_not_that_it_is_no_kubeconfig(tmp_path):
    path = tmp_path / "kubeconfig-bad-ca"
    path.write_text(
        KUBECONFIG.replace(
            'server: "https://127.0.0.1:1"',
            'server: "https://127.0.0.1:1", certificate-authority-data: "not base64!"',
        )
    )
    result = run(tmp_path, KUBECONFIG=str(path))
    assert result.returncode == 2
    line = one_line(result)
    assert line.startswith(f"shipshape-controller: invalid KUBECONFIG: {path} has a value ")
    assert line.endswith("check its certificate data, server URL and credentials")
    assert "not base64" not in line


def test_a_journal_this_process_cannot_write_stops_start_up(tmp_path):
    # SQLite would open it read-only without a word and fail only at the
    # first append: a controller that can never journal can never patch.
    journal = tmp_path / "journal.db"
    Journal.open(str(journal), actor="helloworld-controller-0").close()
    with ReadOnly(journal):
        result = run(tmp_path, JOURNAL_URL=str(journal))
    assert result.returncode == 1
    assert one_line(result) == (
        f"shipshape-controller: cannot use the journal {journal}: "
        f"its file {journal} is not writable by this process"
    )


@pytest.mark.parametrize(
    ("cluster", "problem"),
    [
        ('server: "not a url"', "the cluster's server is not an http(s) URL"),
        (
            'server: "https://127.0.0.1:1", certificate-authority-data: "'
            + base64.b64encode(b"not a certificate").decode()
            + '"',
            "the cluster's certificate authority cannot be loaded (SSLError)",
        ),
    ],
)
def test_a_kubeconfig_that_can_never_reach_its_cluster_is_exit_2(tmp_path, cluster, problem):
    path = tmp_path / "kubeconfig-unusable"
    path.write_text(KUBECONFIG.replace('server: "https://127.0.0.1:1"', cluster))
    result = run(tmp_path, KUBECONFIG=str(path))
    assert result.returncode == 2
    assert one_line(result) == f"shipshape-controller: invalid KUBECONFIG: {path}: {problem}"
