"""Every `shipshape-journal` command written in the runbooks parses with the real CLI,
and the worked examples of docs/journal.md run.

The command lines are taken from the documents' code blocks, split the way a
shell would, and parsed by the Click command tree itself (``make_context``:
options, arguments, choices and value conversions), without running anything.
A renamed command, a dropped option or a misspelt flag in a runbook fails here.

docs/journal.md's worked examples go further: each ```bash block of its
"Incident triage" section is run by bash, in order, on a copy of the journals
that one demo run keeps (``make demo DEMO_ARGS="--keep DIR"``), as the document
tells the reader to. (```shell blocks are for a real cluster and only read.)
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import click
import pytest

from tests.hack.demo_run import DemoRun
from tests.release.conftest import REPO, require_tool

DOCS = (
    "docs/runbooks/operations.md",
    "docs/runbooks/disaster-recovery.md",
    "docs/runbooks/alerts.md",
    "README.md",
)
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE = re.compile(r"`([^`]*shipshape-journal [^`]*)`")
SHELL_BREAK = {"|", "||", "&&", ";", ">", ">>", "2>&1", "&", "<", ")"}


def command_lines(text: str) -> list[tuple[str, bool]]:
    """Return the shipshape-journal invocations in a Markdown text and whether each is whole.

    Lines of code blocks are whole commands; inline code in prose may name a
    command without its required arguments (`shipshape-journal export dr-drill`).
    """
    found: list[tuple[str, bool]] = []
    fenced = False
    block: list[str] = []
    for line in text.splitlines():
        if FENCE.match(line):
            if fenced:
                joined = "\n".join(block).replace("\\\n", " ")
                found += [(ln, True) for ln in joined.splitlines() if "shipshape-journal " in ln]
                block = []
            fenced = not fenced
        elif fenced:
            block.append(line)
        else:
            found += [(code, False) for code in INLINE.findall(line)]
    return found


def invocation(line: str) -> list[str]:
    """Return the arguments after ``shipshape-journal``, up to the end of the command."""
    words = shlex.split(line[line.index("shipshape-journal ") :], comments=True)[1:]
    args = []
    for word in words:
        if word in SHELL_BREAK or word.startswith((">", "2>")):
            break
        if word.endswith(";"):
            args.append(word[:-1])
            break
        args.append(word)
    return args


def parse(args: list[str], whole: bool = True) -> None:
    """Parse an invocation with the real command tree; raise click errors on a mismatch.

    A partial invocation (``whole`` false) is checked for its command path and
    option names only: missing arguments and values are not errors.
    """
    from cli.main import cli

    command: click.Command = cli
    name = "shipshape-journal"
    parent = None
    remaining = list(args)
    while True:
        context = command.make_context(name, remaining, parent=parent, resilient_parsing=not whole)
        if not isinstance(command, click.Group):
            return
        with warnings.catch_warnings():
            # Click 8.2 deprecates protected_args (9.0 folds it into args); until
            # then a group's subcommand name is only there.
            warnings.simplefilter("ignore", DeprecationWarning)
            words = context.protected_args + context.args
        name, command, remaining = command.resolve_command(context, words)
        parent = context


def documented_invocations() -> list[tuple[str, str, bool]]:
    found = []
    for doc in DOCS:
        text = (REPO / doc).read_text(encoding="utf-8")
        found += [(doc, line, whole) for line, whole in command_lines(text)]
    return found


def test_the_runbooks_use_the_journal_cli() -> None:
    found = documented_invocations()
    commands = {invocation(line)[0] for _, line, _ in found if invocation(line)}
    assert {"tail", "replay", "verify", "note", "backup", "export"} <= commands


@pytest.mark.parametrize(("doc", "line", "whole"), documented_invocations())
def test_every_documented_invocation_parses(doc: str, line: str, whole: bool) -> None:
    args = invocation(line)
    # Shell variables stand for values the reader fills in.
    args = [re.sub(r"\$\{?\w+\}?|\$\([^)]*\)", "x", arg) for arg in args]
    try:
        parse(args, whole)
    except click.ClickException as error:
        pytest.fail(f"{doc}: `shipshape-journal {' '.join(args)}`: {error.format_message()}")


def test_a_wrong_invocation_is_caught() -> None:
    with pytest.raises(click.UsageError):
        parse(["tail", "--kinds", "restart"])
    with pytest.raises(click.UsageError):
        parse(["export", "drill", "--out", "x"])
    with pytest.raises(click.BadParameter):
        parse(["note", "x", "--drill", "middle"])


JOURNAL_DOC = REPO / "docs" / "journal.md"


def section(text: str, heading: str) -> str:
    """Return a level-2 section of a Markdown text, from its heading to the next one."""
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def fenced(text: str, language: str) -> list[str]:
    """Return the bodies of the code blocks fenced as ```language."""
    return re.findall(rf"^```{language}\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)


@pytest.mark.slow
def test_the_worked_examples_run_on_the_demos_journals(
    finished_demo: DemoRun, tmp_path: Path
) -> None:
    assert finished_demo.wait() == 0, finished_demo.output
    assert finished_demo.kept is not None
    work = tmp_path / "journals"  # a copy: the examples write backups beside the journals
    shutil.copytree(finished_demo.kept / "journals", work)
    text = JOURNAL_DOC.read_text(encoding="utf-8")
    [snippet] = fenced(section(text, "## The hash chain and its canonical form"), "python")
    (work / "check_hashes.py").write_text(snippet, encoding="utf-8")
    examples = fenced(section(text, "## Incident triage, worked examples"), "bash")
    assert len(examples) >= 5, "the worked examples lost their runnable blocks"
    require_tool("jq")
    bash = require_tool("bash")
    outputs = []
    for block in examples:
        result = subprocess.run(
            [bash, "-euo", "pipefail", "-c", block],
            cwd=work,
            # This interpreter's console scripts first, as `make test` sets PATH.
            env={
                **os.environ,
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            },
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"{block}\nexit {result.returncode}: {result.stderr}"
        assert "Traceback" not in result.stderr, result.stderr
        outputs.append(result.stdout)
    out = "\n".join(outputs)
    counts = [int(n) for n in re.findall(r"^OK: (\d+) records, head [0-9a-f]{64}$", out, re.M)]
    assert len(counts) == 2, out
    assert re.search(r"^Anomalies: 0$", out, re.MULTILINE), out
    assert re.search(r"^Restarts: 2$", out, re.MULTILINE), out
    # replay --at: the standby's state at takeover, every list digest checked and matching.
    assert re.search(r"^  configmaps: seq \d+ \(.*\), 2 objects, digest matches$", out, re.M), out
    assert "DIGEST MISMATCH" not in out, out
    assert re.search(r"^[0-9a-f]{64} seq \d+$", out, re.MULTILINE), out
    # The correlation id found with jq reaches back to the observation and on to the rollout.
    chain = outputs[2]
    for kind in ("configmap.observed", "debounce.scheduled", "restart.patched"):
        assert re.search(rf" {re.escape(kind)} shipshape \S+/helloworld-(config-)?prod ", chain)
    assert " rollout.completed shipshape deployment/helloworld-prod " in chain
    assert len({corr for corr in re.findall(r" corr=(\w+) ", chain)}) == 1
    assert re.search(r" leader\.acquired .*\"epoch\":1", out), out
    assert re.search(r" operator\.note .*\"drill\":\"start\"", out), out
    assert f"\n{sum(counts)} records: every hash matches its record\n" in f"\n{out}", out
