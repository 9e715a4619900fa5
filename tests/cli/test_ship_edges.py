"""``ship`` into a central PostgreSQL journal: what an operator types wrong is one line."""

from __future__ import annotations

import os
import subprocess

import pytest

from journal import Journal, kinds
from journal.checkpoints import CheckpointWriter
from journal.signing import load_signing_key
from tests.cli.helpers import one_error_line
from tests.journal.signing_helpers import write_key_pair
from tests.journal.test_postgres_lost_commit import Relay, _entries, _through


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "replica-0.db"
    with Journal.open(path, actor="helloworld-controller-0") as journal:
        journal.append(kinds.OPERATOR_NOTE, data={"text": "x"})
    return path


@pytest.mark.parametrize(
    "case",
    [
        ([b"--cluster", b"prod-\xff"], {}),  # a byte the shell passed on, not UTF-8
        ([], {"CLUSTER_NAME": "prod\neu"}),  # a newline would split every line naming it
        ([b"--cluster", b"prod\teu"], {}),
    ],
)
def test_a_cluster_name_that_is_not_printable_text_is_one_line_and_exit_2(
    executable, source, postgres_url, postgres_server, case
):
    argument, environment = case
    env = {key: value for key, value in os.environ.items() if key != "CLUSTER_NAME"}
    env.update(environment)
    result = subprocess.run(
        [executable, "ship", "--journal", str(source), "--to", postgres_url, *argument],
        capture_output=True,
        check=False,
        timeout=120,
        env=env,
    )
    err = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 2, err
    line = one_error_line(subprocess.CompletedProcess(result.args, 2, "", err))
    assert "cluster name" in line and "printable" in line
    assert postgres_server.password not in line
    # Refused before anything was done: the central database was not even made a journal.
    tables = "SELECT count(*) FROM pg_tables WHERE tablename = 'journal_records'"
    assert postgres_server.sql(tables, postgres_url.rsplit("/", 1)[1]) == [(0,)]


@pytest.fixture
def relay(postgres_server):
    found = Relay(postgres_server.port)
    yield found
    found.close()


def test_ship_whose_commit_answer_is_lost_copies_once_and_signs_every_statement(
    tmp_path, postgres_url, relay, run, monkeypatch
):
    private, public = write_key_pair(tmp_path)
    source = tmp_path / "replica-0.db"
    journal = Journal.open(source, actor="helloworld-controller-0")
    with CheckpointWriter(journal, load_signing_key(private)) as signed:
        signed.write_many(_entries(5))  # and its checkpoint, at close
    monkeypatch.setenv("JOURNAL_SIGNING_KEY_FILE", str(private))
    # The answer to the commit of the first batch (with its journal.shipped record) is lost.
    relay.drop_after = b"journal.shipped"
    shipped = run(
        "ship", "--journal", source, "--to", _through(postgres_url, relay), "--cluster", "prod-eu"
    )
    assert relay.dropped.is_set()
    assert shipped.code == 0, shipped.err
    monkeypatch.delenv("JOURNAL_SIGNING_KEY_FILE")
    checked = run("verify", "--journal", postgres_url, "--public-key", public, "--require-signed")
    assert checked.code == 0, checked.out + checked.err
    assert checked.out.startswith("OK: 8 records")  # 6 shipped, a statement, a checkpoint
