"""docs/reference/configuration.md lists exactly the variables the code reads.

The variables read are found in the source (tests/docs/envscan.py): every
``telemetry.config`` reader call, every direct ``os.environ``/``os.getenv``
read and every Click ``envvar=``, across all our packages. The variables
documented are the first cells of the document's tables. Sections named after
a console script, ``## Something (shipshape-NAME)``, are held to that program:
each of their rows must be read by code the program imports, and every
variable read inside the program's own package must be in its section. A new
program's section is picked up as soon as its heading names the script.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from tests.docs.envscan import Scanner
from tests.release.conftest import REPO

DOC = REPO / "docs/reference/configuration.md"
PACKAGES = ("telemetry", "journal", "cli", "reloader", "webapp")
ROW = re.compile(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|", re.MULTILINE)
SECTION = re.compile(r"^## (?P<title>.*?)\s*(?:\((?P<script>shipshape-[\w-]+)\))?\s*$")
COLUMNS = ("variable", "default", "validation", "incident impact")


def sections(text: str) -> dict[str, str]:
    """Split the document into its ``## `` sections, by heading line."""
    result: dict[str, str] = {}
    heading = ""
    for line in text.splitlines(keepends=True):
        if line.startswith("## "):
            heading = line.strip()
            result[heading] = ""
        elif heading:
            result[heading] += line
    return result


def documented(text: str) -> set[str]:
    """Return the variables in the first column of the document's tables."""
    return set(ROW.findall(text))


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    return Scanner(REPO, PACKAGES)


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def test_every_read_names_its_variable_statically(scanner: Scanner) -> None:
    unresolved = [read.where() for read in scanner.all_reads() if read.variable is None]
    assert not unresolved, (
        "use a string literal or a module-level constant for the variable name: "
        + ", ".join(unresolved)
    )


def test_every_variable_the_code_reads_is_documented(scanner: Scanner, doc: str) -> None:
    reads = [read for read in scanner.all_reads() if read.variable]
    assert reads, "the scanner found no read at all"
    missing = {
        read.variable: read.where() for read in reads if read.variable not in documented(doc)
    }
    assert not missing, f"read by the code but not in {DOC.name}: {missing}"


def test_every_documented_variable_is_read(scanner: Scanner, doc: str) -> None:
    read = {r.variable for r in scanner.all_reads()}
    stale = sorted(documented(doc) - read)
    assert not stale, f"{DOC.name} lists variables no code reads: {stale}"


def test_program_sections_match_their_program(scanner: Scanner, doc: str) -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    checked = 0
    for heading, body in sections(doc).items():
        match = SECTION.match(heading)
        script = match["script"] if match else None
        if not script:
            continue
        assert script in scripts, f"{heading}: {script} is not a console script"
        entry = scripts[script].partition(":")[0]
        closure = scanner.closure(entry)
        reads = [read for module in closure for read in scanner.reads(module)]
        rows = documented(body)
        stale = rows - {read.variable for read in reads}
        assert not stale, f"{heading} lists {sorted(stale)}, which {script} never reads"
        own = entry.split(".")[0]
        missing = {
            read.variable: read.where()
            for read in reads
            if read.module.split(".")[0] == own and read.variable not in rows
        }
        assert not missing, f"{heading} lacks what {script}'s own package reads: {missing}"
        checked += 1
    assert checked, "no section names a program"


def test_every_table_has_the_reference_columns(doc: str) -> None:
    for heading, body in sections(doc).items():
        if not documented(body):
            continue
        headers = re.findall(r"^\|\s*variable\s*\|.*$", body, re.MULTILINE)
        assert headers, f"{heading}: a variable table without a header row"
        for header in headers:
            cells = [cell.strip().lower() for cell in header.strip("|").split("|")]
            assert tuple(cells) == COLUMNS, f"{heading}: columns {cells}, want {COLUMNS}"


# --- the scanner itself ----------------------------------------------------------


SAMPLE = {
    "pkg/__init__.py": "",
    "pkg/names.py": 'URL_VARIABLE = "SAMPLE_URL"\n',
    "pkg/settings.py": """
import os
from os import environ as env_alias, getenv
import click
from telemetry.config import env_bool, env_int, env_str
from pkg.names import URL_VARIABLE
from pkg import names

PORT_VARIABLE: str = "SAMPLE_PORT"

def load(environ):
    env_int(environ, PORT_VARIABLE, 1)
    env_str(environ, URL_VARIABLE, "")
    env_str(environ, names.URL_VARIABLE, "")
    env_bool(environ, name="SAMPLE_FLAG", default=False)
    os.environ.get("SAMPLE_DIRECT")
    os.environ["SAMPLE_SUBSCRIPT"]
    os.getenv("SAMPLE_GETENV")
    getenv("SAMPLE_FROM_GETENV")
    env_alias.get("SAMPLE_ALIAS")
    env_str(environ, "SAMPLE_" + "JOINED", "")

@click.option("--journal", envvar="SAMPLE_CLICK")
def command(journal):
    pass
""",
    "other/__init__.py": "",
    "other/unused.py": 'import os\nos.environ.get("SAMPLE_ELSEWHERE")\n',
}


def test_the_scanner_finds_every_kind_of_read(tmp_path: Path) -> None:
    for name, text in SAMPLE.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    scanner = Scanner(tmp_path, ("pkg", "other"))
    reads = scanner.reads("pkg.settings")
    assert sorted(r.variable or "?" for r in reads) == sorted(
        [
            "SAMPLE_PORT",
            "SAMPLE_URL",
            "SAMPLE_URL",
            "SAMPLE_FLAG",
            "SAMPLE_DIRECT",
            "SAMPLE_SUBSCRIPT",
            "SAMPLE_GETENV",
            "SAMPLE_FROM_GETENV",
            "SAMPLE_ALIAS",
            "?",  # a computed name cannot be resolved, and is reported
            "SAMPLE_CLICK",
        ]
    )
    assert scanner.closure("pkg.settings") == {"pkg", "pkg.settings", "pkg.names"}
    assert [r.variable for r in scanner.reads("other.unused")] == ["SAMPLE_ELSEWHERE"]


def test_the_document_parsing_sees_rows_and_program_sections() -> None:
    text = (
        "# Configuration reference\n\n## Web app (shipshape-web)\n\n"
        "| variable | default | validation | incident impact |\n|---|---|---|---|\n"
        "| `PORT` | `8080` | port | probes fail |\n\nProse about `NOT_A_ROW`.\n\n"
        "## Images\n\n| variable | default | validation | incident impact |\n|---|---|---|---|\n"
        "| `GIT_COMMIT` | `unknown` | text | unknown build |\n"
    )
    parts = sections(text)
    assert list(parts) == ["## Web app (shipshape-web)", "## Images"]
    assert SECTION.match("## Web app (shipshape-web)")["script"] == "shipshape-web"
    assert SECTION.match("## Images")["script"] is None
    assert documented(text) == {"PORT", "GIT_COMMIT"}
