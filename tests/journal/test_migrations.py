"""Schema migrations under stress: a full disk, a reader racing ``db upgrade``, every revision."""

from __future__ import annotations

import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest

import journal.older
from cli.main import main
from journal import Journal, kinds, vacuum, verify
from journal.checkpoints import write_checkpoint
from journal.older import open_reader
from journal.record import Entry
from journal.schema import HEAD, REVISIONS
from journal.ship import ship
from journal.signing import load_signing_key
from journal.snapshot import file_sha256
from journal.store import current_revision
from tests.journal.builders import Controller, at
from tests.journal.signing_helpers import write_key_pair
from tests.kubeapi.process import program

ROOT = Path(__file__).resolve().parents[2]


def _alembic(target: Path | str, *args: str) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "alembic"), "-x", f"journal={target}", *args],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def _cli(*args: str | Path, limit: int | None = None) -> subprocess.CompletedProcess[str]:
    def file_size_limit() -> None:
        # Writing past ``limit`` bytes fails with EFBIG (a full disk, as far as
        # the program can tell) instead of killing it with SIGXFSZ.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        assert limit is not None
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [program("shipshape-journal"), *map(str, args)],
        capture_output=True, text=True, check=False, timeout=120,
        preexec_fn=None if limit is None else file_size_limit,
    )  # fmt: skip


def _rows(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as connection:
        return connection.execute(
            "SELECT seq, id, ts, kind, data, prev_hash, hash FROM journal_records ORDER BY seq"
        ).fetchall()


@pytest.fixture
def large_0001(tmp_path: Path) -> Path:
    """A journal at revision 0001 larger than SQLite's page cache, compacted.

    Revision 0002 rebuilds the records table, so its upgrade writes about the
    whole file again; the cache spills while the copy is made.
    """
    path = tmp_path / "large.db"
    with Journal.open(path, actor="helloworld-controller-0") as writer:
        writer.write_many(
            Entry(kind=kinds.OPERATOR_NOTE, data={"text": f"note {number} " + "x" * 400})
            for number in range(7000)
        )
    _alembic(path, "downgrade", "0001")
    with sqlite3.connect(path, isolation_level=None) as connection:
        connection.execute("PRAGMA journal_mode = DELETE")
        connection.execute("VACUUM")
    return path


def test_a_full_disk_during_db_upgrade_names_the_cause_and_keeps_the_old_revision(large_0001):
    """SQLite rolls the whole upgrade back; the error is the disk, not Alembic's clean-up."""
    before = _rows(large_0001)
    outcome = _cli("db", "upgrade", "--journal", large_0001, limit=large_0001.stat().st_size + 4096)
    assert outcome.returncode == 2
    lines = outcome.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in outcome.stderr, outcome.stderr
    assert "_alembic_tmp" not in lines[0] and "no such table" not in lines[0], lines[0]
    assert lines[0].startswith("Error: ") and str(large_0001) in lines[0]
    assert "I/O error" in lines[0] or "is full" in lines[0], lines[0]
    assert current_revision(large_0001) == "0001"
    assert _rows(large_0001) == before
    # With room again, the upgrade goes through and keeps every record.
    assert _cli("db", "upgrade", "--journal", large_0001).returncode == 0
    assert current_revision(large_0001) == HEAD
    assert _rows(large_0001) == before


def test_a_full_temporary_directory_names_the_journal_not_its_copy(
    large_0001, tmp_path, monkeypatch
):
    """A reader's copy that cannot be upgraded: one line naming the journal and the directory."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    before = file_sha256(large_0001)
    outcome = _cli("verify", "--journal", large_0001, limit=large_0001.stat().st_size + 4096)
    assert outcome.returncode == 2
    lines = outcome.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in outcome.stderr, outcome.stderr
    assert lines[0].startswith(f"Error: journal {large_0001} has an older schema"), lines[0]
    assert "shipshape-journal-" not in lines[0], "the private copy's name"
    assert "_alembic_tmp" not in lines[0] and f"(in {scratch})" in lines[0], lines[0]
    assert list(scratch.iterdir()) == [], "the copy was left behind"
    assert file_sha256(large_0001) == before


def _older(tmp_path: Path, revision: str = "0001") -> Path:
    path = tmp_path / "older.db"
    with Journal.open(path, actor="helloworld-controller-0") as writer:
        controller = Controller(writer)
        controller.started(0)
        controller.acquired(1, epoch=2)
        controller.observed(2, "helloworld-config-test", "v1", event="ADDED")
    _alembic(path, "downgrade", revision)
    return path


@pytest.mark.parametrize("moment", ["before the revision is read", "before the copy"])
def test_a_reader_racing_db_upgrade_never_calls_the_head_older(tmp_path, monkeypatch, moment):
    """``db upgrade`` commits while a reader is about to copy the older file.

    The reader then reads the file itself (now at head): it does not claim
    to read an upgraded copy of a revision the file no longer has.
    """
    path = _older(tmp_path)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    def upgrade_now() -> None:
        Journal.open(path, actor="cli:operator").close()  # a writer migrates on open

    if moment == "before the revision is read":
        real_revision = journal.older.current_revision
        calls: list[object] = []

        def revision_then(url, **kwargs):
            if not calls:
                upgrade_now()
            calls.append(url)
            return real_revision(url, **kwargs)

        monkeypatch.setattr(journal.older, "current_revision", revision_then)
    else:
        real_backup = journal.older._backup

        def backup_then(source, target, display):
            upgrade_now()
            return real_backup(source, target, display)

        monkeypatch.setattr(journal.older, "_backup", backup_then)
    with open_reader(path) as reader:
        assert (reader.upgraded_from, reader.revision) == (None, HEAD)
        assert reader.location.path == path
        assert verify(reader).ok
    assert list(scratch.iterdir()) == []


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A journal and a central journal at head with what the older revisions knew.

    Records of a controller, signed checkpoints, a vacuum tombstone, a drill,
    and a central journal holding the controller's shipped stream.
    """
    directory = tmp_path_factory.mktemp("history")
    private, _public = write_key_pair(directory)
    signer = load_signing_key(private)
    source = directory / "source.db"
    with Journal.open(source, actor="helloworld-controller-0") as writer:
        controller = Controller(writer)
        controller.started(0)
        controller.acquired(1, epoch=3)
        for number in range(30):
            controller.observed(2 + number, f"config-{number % 4}", f"v{number}")
            if number % 9 == 0:
                write_checkpoint(writer, signer)
        vacuum(writer, timedelta(seconds=5), now=at(12))
        controller.restart_chain(100, "config-1", "helloworld-test", "v29")
        controller.note(200, "restore", drill="start")
        controller.observed(201, "config-1", "v29", event="ADDED")
        controller.note(300, "restored", drill="end")
        write_checkpoint(writer, signer)
    with (
        Journal.open(source, readonly=True) as reader,
        Journal.open(directory / "central.db", actor="central") as central,
    ):
        central.append(kinds.OPERATOR_NOTE, ts=at(0.5), data={"text": "central"})
        ship(reader, central, cluster="east")
        write_checkpoint(central, signer)
    return directory


def _answers(
    path: Path | str, public: Path, capsys: pytest.CaptureFixture[str]
) -> list[tuple[int, str]]:
    """What the readers say about a journal, its file name left out."""
    commands = [
        ("verify",),
        ("verify", "--public-key", str(public)),
        ("replay", "-o", "json"),
        ("replay", "--check"),
        ("tail", "-n", "1000", "-o", "json"),
    ]
    answers = []
    for command in commands:
        capsys.readouterr()
        code = main([*command, "--journal", str(path)])
        answers.append((code, capsys.readouterr().out.replace(str(path), "JOURNAL")))
    return answers


@pytest.mark.parametrize(
    "case",
    [
        ("source.db", "0001", "step by step"),
        ("source.db", "0001", "in one go"),
        ("source.db", "0002", "in one go"),
        ("source.db", "0003", "in one go"),
        ("central.db", "0003", "step by step"),
    ],
)
def test_every_older_revision_upgrades_to_the_same_answers(history, tmp_path, capsys, case):
    """verify (with and without a key), replay, replay --check, tail and seq: as at head."""
    name, revision, how = case
    public = history / "signing.pub.pem"
    head = tmp_path / "head.db"
    with (
        sqlite3.connect(history / name) as origin,
        sqlite3.connect(head) as copy,
    ):
        origin.backup(copy)
    older = tmp_path / "older.db"
    with sqlite3.connect(head) as origin, sqlite3.connect(older) as copy:
        origin.backup(copy)
    _alembic(older, "downgrade", revision)
    expected = _answers(head, public, capsys)
    assert all(code == 0 for code, _out in expected), expected
    assert _answers(older, public, capsys) == expected, "read from an upgraded copy"
    if how == "step by step":
        for step in REVISIONS[REVISIONS.index(revision) + 1 :]:
            _alembic(older, "upgrade", step)
    else:
        assert main(["db", "upgrade", "--journal", str(older)]) == 0
    assert current_revision(older) == HEAD
    assert _answers(older, public, capsys) == expected
    # seq goes on from the same high-water mark.
    seqs = []
    for path in (head, older):
        with Journal.open(path, actor="cli:operator") as writer:
            seqs.append(writer.append(kinds.OPERATOR_NOTE, data={"text": "after"}).seq)
    assert seqs[0] == seqs[1]


def test_a_postgresql_journal_of_every_older_revision_upgrades_and_verifies_as_before(
    postgres_url, tmp_path, capsys
):
    """``db upgrade`` on PostgreSQL (readers refuse an older one there): same answers, same seq."""
    private, public = write_key_pair(tmp_path)
    signer = load_signing_key(private)
    with Journal.open(postgres_url, actor="helloworld-controller-0") as writer:
        controller = Controller(writer)
        controller.started(0)
        controller.acquired(1, epoch=2)
        for number in range(8):
            controller.observed(2 + number, f"config-{number % 3}", f"v{number}")
        write_checkpoint(writer, signer)
        vacuum(writer, timedelta(seconds=4), now=at(10))
        controller.note(50, "after the vacuum")
        write_checkpoint(writer, signer)
    expected = _answers(postgres_url, public, capsys)
    assert all(code == 0 for code, _out in expected), expected
    for revision in reversed(REVISIONS[:-1]):
        _alembic(postgres_url, "downgrade", revision)
        assert current_revision(postgres_url) == revision
        capsys.readouterr()
        assert main(["verify", "--journal", postgres_url]) == 2
        assert "run `shipshape-journal db upgrade`" in capsys.readouterr().err
        assert main(["db", "upgrade", "--journal", postgres_url]) == 0
        assert current_revision(postgres_url) == HEAD
        assert _answers(postgres_url, public, capsys) == expected, revision
    with Journal.open(postgres_url, actor="cli:operator") as writer:
        last = writer.head()[0]
        assert writer.append(kinds.OPERATOR_NOTE, data={"text": "after"}).seq == last + 1
