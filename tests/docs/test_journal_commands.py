"""Every `shipshape-journal` command written in the runbooks parses with the real CLI.

The command lines are taken from the documents' code blocks, split the way a
shell would, and parsed by the Click command tree itself (``make_context``:
options, arguments, choices and value conversions), without running anything.
A renamed command, a dropped option or a misspelt flag in a runbook fails here.
"""

from __future__ import annotations

import re
import shlex
import warnings

import click
import pytest

from tests.release.conftest import REPO

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
