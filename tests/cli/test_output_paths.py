"""The files commands write: never a journal, never half a file, one line when they cannot.

Each test runs the installed ``shipshape-journal`` as a real process, on real
SQLite files.
"""

from __future__ import annotations

import errno
import os
import resource
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from journal import Journal, kinds
from tests.cli.helpers import one_error_line
from tests.journal.builders import Controller
from tests.journal.helpers import read_lines
from tests.journal.signing_helpers import write_key_pair

DESTROY = "writing there would destroy it; choose another path"


@pytest.fixture
def drilled(tmp_path: Path) -> Path:
    """A journal with restarts and a drill marked."""
    path = tmp_path / "victim.db"
    with Journal.open(path, actor="helloworld-controller-0") as writer:
        controller = Controller(writer)
        controller.started(0)
        controller.acquired(1, epoch=1)
        controller.note(5, "go", drill="start")
        for i in range(3):
            controller.restart_chain(10 + 10 * i, f"cm{i}", f"web{i}", f"c{i}")
        controller.note(100, "done", drill="end")
    return path


def _writers(journal: Path, out: Path | str) -> dict[str, tuple[str | Path, ...]]:
    return {
        "replay": ("replay", "--journal", journal, "--html", out),
        "backup": ("backup", "--journal", journal, "--out", out),
        "tail": ("tail", "--journal", journal, "--cursor-file", out),
        "export": ("export", "dr-drill", "--journal", journal, "--out", out),
        "ship": ("ship", "--journal", journal, "--to", out, "--cluster", "prod"),
    }


# -- finding 1: an output that is the journal, however spelt, is refused ------------


@pytest.mark.parametrize("command", ["replay", "backup", "tail", "export", "ship"])
@pytest.mark.parametrize(
    "spelling", ["itself", "symlink", "hardlink", "dotdot", "-wal", "-shm", "-journal"]
)
def test_an_output_that_is_the_journal_or_its_companion_is_refused(
    run_process, drilled, tmp_path, command, spelling
):
    out = {
        "itself": drilled,
        "dotdot": tmp_path / "sub" / ".." / drilled.name,
        "symlink": tmp_path / "link.db",
        "hardlink": tmp_path / "hard.db",
    }.get(spelling, Path(f"{drilled}{spelling}"))
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.db").symlink_to(drilled)
    os.link(drilled, tmp_path / "hard.db")
    before = drilled.read_bytes()
    existed = out.exists()
    result = run_process(*_writers(drilled, out)[command])
    assert result.returncode == 2, result.stderr
    expected = DESTROY
    if command == "export" and existed:
        expected = "is a file"  # no directory for --out: Click refuses it first
    elif command == "ship" and not spelling.startswith("-"):
        expected = "are the same journal"  # ship's own refusal, which opens no file
    assert expected in one_error_line(result)
    assert result.stdout == ""
    assert drilled.read_bytes() == before
    assert out.exists() == existed
    if spelling == "symlink":
        assert out.is_symlink()


def test_html_over_another_journal_not_given_is_refused(run_process, drilled, tmp_path):
    """A journal the command was not given is still a SQLite database: not overwritten."""
    other = tmp_path / "other.db"
    shutil.copyfile(drilled, other)
    before = other.read_bytes()
    result = run_process("replay", "--journal", drilled, "--html", other)
    assert result.returncode == 2, result.stderr
    assert "is a SQLite database (a journal?)" in one_error_line(result)
    assert result.stdout == ""
    assert other.read_bytes() == before
    page = tmp_path / "page.html"
    page.write_text("an older page")
    assert run_process("replay", "--journal", drilled, "--html", page).returncode == 0
    assert page.read_text().startswith("<!DOCTYPE html>")


# -- finding 2: a full disk under export dr-drill leaves nothing ----------------------


def _fail_fsync_of(suffix: str) -> str:
    """Python run as the console script, with the fsync of a file ending in ``suffix`` failing.

    A disk that fills while the file is written (ENOSPC): the command must
    remove what it wrote and say which file in one line.
    """
    return (
        "import errno, os, sys\n"
        "real = os.fsync\n"
        "def fsync(fd):\n"
        f"    if os.readlink(f'/proc/self/fd/{{fd}}').endswith({suffix!r}):\n"
        "        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))\n"
        "    return real(fd)\n"
        "os.fsync = fsync\n"
        "from cli.main import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
@pytest.mark.parametrize("suffix", [".timeline.html", ".md", ".manifest.json", ".sig"])
def test_export_on_a_full_disk_leaves_nothing_and_names_the_file(
    executable, drilled, tmp_path, suffix
):
    out = tmp_path / "evidence"
    private, _ = write_key_pair(tmp_path)
    args = ["export", "dr-drill", "--journal", str(drilled), "--out", str(out)]
    args += ["--signing-key", str(private)]
    python = Path(executable).with_name("python")
    result = subprocess.run(
        [str(python), "-c", _fail_fsync_of(suffix), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    line = one_error_line(result)
    assert line.startswith(f"Error: cannot write {out}/dr-drill-"), line
    assert line.endswith(f"{suffix}: No space left on device"), line
    assert not out.exists(), sorted(path.name for path in out.iterdir())
    # Nothing is left to refuse the next run ("already exists").
    again = subprocess.run(
        [executable, *args], capture_output=True, text=True, check=False, timeout=60
    )
    assert again.returncode == 0, again.stderr
    assert len(list(out.iterdir())) == 5


def _file_size_limit(limit: int) -> None:
    # In the child: writing past ``limit`` bytes fails (EFBIG, as a full disk
    # looks to SQLite: "database or disk is full") instead of raising SIGXFSZ.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def _many_restarts(path: Path) -> Path:
    with Journal.open(path, actor="helloworld-controller-0") as writer:
        controller = Controller(writer)
        controller.started(0)
        controller.acquired(1, epoch=1)
        for i in range(60):
            controller.restart_chain(10 + 10 * i, f"cm{i}", f"web{i}", f"c{i}")
    return path


# -- finding 3: a backup onto a full disk names the backup, not the journal ----------


def test_backup_onto_a_full_disk_names_the_output(run_process, tmp_path):
    journal = _many_restarts(tmp_path / "big.db")
    out = tmp_path / "copies" / "backup.db"
    out.parent.mkdir()
    result = run_process(
        "backup", "--journal", journal, "--out", out, preexec_fn=lambda: _file_size_limit(65536)
    )
    assert result.returncode == 2
    # SQLite's words: "database or disk is full" (ENOSPC), "disk I/O error" (EFBIG here).
    line = one_error_line(result)
    assert line.startswith(f"Error: cannot write {out}: "), line
    assert str(journal) not in line
    assert list(out.parent.iterdir()) == []


# -- finding 4: a cursor file that can no longer be written is exit 2 -----------------


def test_a_cursor_file_whose_directory_goes_away_while_following_is_exit_2(
    spawn, executable, tmp_path
):
    journal = tmp_path / "live.db"
    state = tmp_path / "state"
    state.mkdir()
    with Journal.open(journal, actor="test") as writer:
        writer.append(kinds.OPERATOR_NOTE, data={"text": "warm-up"})
        follower = spawn(
            executable, "tail", "-f", "--journal", str(journal), "--cursor-file", str(state / "c")
        )
        read_lines(follower, 1, timeout=30)
        shutil.rmtree(state)
        time.sleep(0.6)  # past the half second between saves
        writer.append(kinds.OPERATOR_NOTE, data={"text": "after"})
        assert follower.wait(timeout=30) == 2
    assert follower.stderr.read().splitlines() == [
        f"Error: cannot write cursor file {state / 'c'}: No such file or directory"
    ]


# -- finding 5: a refused ship leaves no central journal behind ------------------------


def test_a_refused_ship_creates_no_central_journal(run_process, drilled, tmp_path):
    central = tmp_path / "central.db"
    assert (
        run_process("ship", "--journal", drilled, "--to", central, "--cluster", "a").returncode == 0
    )
    target = tmp_path / "c9.db"
    result = run_process("ship", "--journal", central, "--to", target, "--cluster", "x")
    assert result.returncode == 2
    assert "holds streams shipped from other journals" in one_error_line(result)
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith("c9")) == []
    # A central journal that was there before is kept, refused or not.
    Journal.open(target, actor="setup").close()
    before = target.read_bytes()
    result = run_process("ship", "--journal", central, "--to", target, "--cluster", "x")
    assert result.returncode == 2
    assert target.read_bytes() == before


# -- finding 6: an empty path, or a file path ending in '/', is refused ----------------


@pytest.mark.parametrize(
    "case",
    [
        ("export", "", "the path is empty"),
        ("replay", "", "the path is empty"),
        ("backup", "", "the path is empty"),
        ("tail", "", "the path is empty"),
        ("backup", "newbk/", "'newbk/' ends with '/': name a file, not a directory"),
        ("replay", "page/", "'page/' ends with '/': name a file, not a directory"),
        ("tail", "c/", "'c/' ends with '/': name a file, not a directory"),
        ("backup", "existing", "File 'existing' is a directory"),
    ],
)
def test_an_empty_or_directory_output_path_is_refused(run_process, drilled, tmp_path, case):
    command, value, message = case
    (tmp_path / "existing").mkdir()
    before = sorted(path.name for path in tmp_path.iterdir())
    result = run_process(*_writers(drilled, value)[command])
    assert result.returncode == 2
    assert message in one_error_line(result)
    assert result.stdout == ""
    assert sorted(path.name for path in tmp_path.iterdir()) == before


# -- finding 7: an unreachable path is one line naming it ------------------------------


def _unprivileged() -> list[str]:
    """The prefix that runs a command without root's power over permissions."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: permissions cannot be tested")
    return [setpriv, "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("verify", "--journal", "nox/j.db"), "cannot read journal {tmp}/nox/j.db"),
        (("note", "hi", "--journal", "nox/j.db"), "cannot read journal {tmp}/nox/j.db"),
        (("db", "upgrade", "--journal", "nox/j.db"), "cannot read journal {tmp}/nox/j.db"),
        (("backup", "--journal", "nox/j.db", "--out", "b.db"), "cannot read journal"),
        (
            ("backup", "--journal", "j.db", "--out", "nox/sub/b.db"),
            "cannot write {tmp}/nox/sub/b.db",
        ),
        (
            ("export", "dr-drill", "--journal", "nox/j.db", "--out", "e"),
            "cannot read journal {tmp}/nox/j.db",
        ),
        (
            ("export", "dr-drill", "--journal", "j.db", "--out", "nox/sub/e"),
            "cannot create the output directory {tmp}/nox/sub/e",
        ),
        (("replay", "--journal", "j.db", "--html", "nox/sub/x.html"), "cannot write nox/sub/x"),
        (
            ("tail", "--journal", "j.db", "--cursor-file", "nox/sub/c"),
            "cannot store the cursor in nox/sub/c",
        ),
        (
            ("ship", "--journal", "j.db", "--to", "nox/c.db", "--cluster", "x"),
            "cannot read journal {tmp}/nox/c.db",
        ),
    ],
)
def test_a_path_behind_a_directory_without_search_permission_is_one_line(
    executable, drilled, tmp_path, args, message
):
    shutil.copy(drilled, tmp_path / "j.db")
    nox = tmp_path / "nox"
    nox.mkdir()
    shutil.copy(drilled, nox / "j.db")
    nox.chmod(0o600)
    try:
        result = subprocess.run(
            [*_unprivileged(), executable, *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
            cwd=tmp_path,
        )
    finally:
        nox.chmod(0o700)
    assert result.returncode == 2, result.stderr
    line = one_error_line(result)
    assert message.format(tmp=tmp_path) in line
    assert "Permission denied" in line
    assert not (tmp_path / "b.db").exists() and not (tmp_path / "e").exists()


LONG = "a" * 300


@pytest.mark.parametrize(
    "args",
    [
        ("verify", "--journal", f"{LONG}.db"),
        ("note", "hi", "--journal", f"{LONG}.db"),
        ("backup", "--journal", "j.db", "--out", LONG),
        ("export", "dr-drill", "--journal", "j.db", "--out", LONG),
        ("replay", "--journal", "j.db", "--html", LONG),
        ("tail", "--journal", "j.db", "--cursor-file", LONG),
    ],
)
def test_a_file_name_too_long_is_one_line(run_process, drilled, tmp_path, args):
    shutil.copy(drilled, tmp_path / "j.db")
    result = run_process(*args)
    assert result.returncode == 2, result.stderr
    line = one_error_line(result)
    assert line.endswith(f"{os.strerror(errno.ENAMETOOLONG)}") or (
        f"{os.strerror(errno.ENAMETOOLONG)} (see" in line
    ), line
    assert not [path for path in tmp_path.iterdir() if path.name.startswith("a")]
