"""The journal CLI's configuration reference matches the variables the code reads."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import click

from cli.main import cli
from journal import Journal, kinds
from journal.filters import OBJECT_KINDS
from journal.ship import ship

ROOT = Path(__file__).resolve().parents[2]
READERS = {"env_str", "env_int", "env_float", "env_bool", "env_choice"}
SOURCES = sorted([*(ROOT / "cli").glob("*.py"), *(ROOT / "journal").rglob("*.py")])


def _variables_read(path: Path) -> set[str]:
    """Variables read through telemetry.config (literal names)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name in READERS and len(node.args) >= 2:
            assert isinstance(node.args[1], ast.Constant), f"{path}: name the variable literally"
            found.add(node.args[1].value)
    return found


def _section() -> str:
    text = (ROOT / "docs/reference/configuration.md").read_text(encoding="utf-8")
    start = text.index("## Journal CLI (shipshape-journal)")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_every_variable_the_journal_cli_reads_is_documented_and_nothing_more():
    read = set().union(*(_variables_read(path) for path in SOURCES))
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", _section(), flags=re.MULTILINE))
    assert read == {"JOURNAL_URL", "JOURNAL_SIGNING_KEY_FILE", "NO_COLOR", "CLUSTER_NAME"}
    assert documented == read


def test_no_journal_or_cli_module_reads_os_environ_directly():
    for path in SOURCES:
        source = path.read_text(encoding="utf-8")
        for match in re.finditer(r"os\.environ(?:\.get)?\s*[\[(]", source):
            line = source[: match.start()].count("\n") + 1
            raise AssertionError(f"{path}:{line} reads the environment without telemetry.config")


def _options(command: click.Command) -> set[str]:
    """Every long option of ``command`` and of its subcommands."""
    names = {name for param in command.params for name in param.opts + param.secondary_opts}
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            names |= _options(sub)
    return {name for name in names if name.startswith("--")}


def test_every_option_the_journal_docs_name_exists():
    # An option the reference names but the program refuses sends an operator
    # to a usage error in the middle of an incident.
    text = (ROOT / "docs/journal.md").read_text(encoding="utf-8")
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", text))
    not_ours = {"--autogenerate", "--keep"}  # alembic's and the demo's (make demo)
    assert named - not_ours - _options(cli) == set()


def test_the_hash_check_snippet_holds_for_a_central_journals_records(tmp_path, run):
    # Shipped records are printed with the central's seq and their origin
    # (cluster, stream, stream_seq); what they hash is their source's record.
    text = (ROOT / "docs/journal.md").read_text(encoding="utf-8")
    start = text.index("\n## The hash chain and its canonical form\n")
    [snippet] = re.findall(r"^```python\n(.*?)^```$", text[start:], re.MULTILINE | re.DOTALL)[:1]
    source, central = tmp_path / "replica-0.db", tmp_path / "central.db"
    with Journal.open(source, actor="helloworld-controller-0") as writer:
        for n in range(3):
            writer.append(kinds.OPERATOR_NOTE, data={"text": f"note {n}"})
    with Journal.open(source, readonly=True) as reader, Journal.open(central, actor="c") as to:
        to.append(kinds.OPERATOR_NOTE, data={"text": "the central's own"})
        ship(reader, to, cluster="prod-eu")
    printed = run("tail", "--journal", central, "--after-cursor", "0", "-o", "json")
    assert printed.code == 0, printed.err
    checked = subprocess.run(
        [sys.executable, "-c", snippet],
        input=printed.out,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    # The note, the 3 shipped records and the ship's journal.shipped record.
    assert checked.stdout == "5 records: every hash matches its record\n"


def test_the_docs_name_every_kind_a_bare_object_name_matches(tmp_path, run):
    # `--object db` also prints a StatefulSet db's and a Secret db's records:
    # the reference must say so, or an operator reads them as the ConfigMap's.
    text = " ".join((ROOT / "docs/journal.md").read_text(encoding="utf-8").split())
    sentence = text[text.index("`--object NAME` matches") :].split(";")[0]
    path = tmp_path / "journal.db"
    with Journal.open(path, actor="test") as writer:
        for kind in OBJECT_KINDS:
            writer.append(kinds.OPERATOR_NOTE, object=f"{kind}/db", data={"text": kind})
    printed = run("tail", "--journal", path, "--object", "db", "-o", "json")
    matched = [line.split('"object":"', 1)[1].split("/")[0] for line in printed.out.splitlines()]
    assert matched == list(OBJECT_KINDS)
    assert [kind for kind in matched if f"`{kind}/NAME`" not in sentence] == []
