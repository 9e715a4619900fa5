"""A record the chain vouches for but the decision model cannot read, under ``replay --check``.

Whoever writes the file can store any data and recompute the hashes (or an
older or newer writer stored another shape). When the decision model fails
on such a record, the one-line error names the record it read last, so the
operator can look at it (``tail``), instead of only a count of records.
"""

from __future__ import annotations

from cli.main import main
from journal import kinds
from tests.journal.builders import Controller


def test_a_model_failing_on_a_malformed_record_names_that_record(tmp_path, open_journal, capsys):
    path = tmp_path / "j.db"
    controller = Controller(open_journal(path, actor="helloworld-controller-0"))
    controller.started(0)
    controller.acquired(1, epoch=1)
    controller.journal.append(kinds.CONTROLLER_STARTED, data={"policy": "<b>"})  # seq 3
    controller.note(5, "after it")
    capsys.readouterr()
    code = main(["replay", "--check", "--journal", str(path)])
    captured = capsys.readouterr()
    assert code == 2
    (line,) = captured.err.strip().splitlines()
    assert line.startswith(
        "Error: decision model reloader.core.replay:check failed after 3 records"
    )
    assert line.endswith("(the last record it read: seq 3, controller.started)"), line
    assert "Traceback" not in captured.err


def test_with_several_journals_the_record_is_named_with_its_journal(tmp_path, open_journal, capsys):
    good, bad = tmp_path / "good.db", tmp_path / "bad.db"
    Controller(open_journal(good, actor="helloworld-controller-0")).started(0)
    broken = open_journal(bad, actor="helloworld-controller-1")
    broken.append(kinds.CONTROLLER_STARTED, data={"policy": "<b>"})
    capsys.readouterr()
    code = main(["replay", "--check", "--journal", str(good), "--journal", str(bad)])
    captured = capsys.readouterr()
    assert code == 2
    assert f"(the last record it read: seq 1 of {bad}, controller.started)" in captured.err
