"""The import contracts of architecture.md (layers, hack/ and the toolkit), by import-linter."""

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_layers_are_kept():
    lint_imports = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    result = subprocess.run(
        [lint_imports, "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


#: The packages of the product (pyproject's import contracts cover each).
PACKAGES = ("cli", "journal", "records", "reloader", "telemetry", "webapp")


def test_no_module_of_any_package_exceeds_600_lines():
    measured = (*PACKAGES, "hack")  # the product and its validators and tools
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines())
        for package in measured
        for path in (ROOT / package).rglob("*.py")
    }
    assert {package for package in measured if any(n.startswith(package) for n in sizes)} == set(
        measured
    ), "every package is measured"
    assert {name: lines for name, lines in sizes.items() if lines > 600} == {}


#: ``data.get("key")``, ``data["key"]``, ``record.data.get("key")``, ``payload["key"]``...
_BY_STRING_KEY = re.compile(r"""\b(?:data|payload)\s*(?:\.get\(\s*|\[\s*)["'][a-z_]+["']""")
#: Modules that index a ``data`` dict that is not a record payload: the replay
#: report's JSON (rendered by ``replay``'s text output).
_NOT_PAYLOADS = {"cli/output.py"}


def test_no_journal_or_cli_module_parses_a_payload_by_string_key():
    """Record payloads are read through the catalogue (``records.parse``, ``from_data``)."""
    offenders = [
        f"{path.relative_to(ROOT).as_posix()}:{number}: {line.strip()}"
        for package in ("journal", "cli")
        for path in sorted((ROOT / package).rglob("*.py"))
        if path.relative_to(ROOT).as_posix() not in _NOT_PAYLOADS
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _BY_STRING_KEY.search(line)
    ]
    assert offenders == []


def test_the_string_key_pattern_catches_what_it_is_meant_to():
    assert _BY_STRING_KEY.search('scenario = record.data.get("scenario")')
    assert _BY_STRING_KEY.search("through = data['last_removed_seq']")
    assert not _BY_STRING_KEY.search("note = OperatorNote.from_data(record.data)")


def test_the_contracts_forbid_every_other_tests_module_to_hack_and_the_toolkit():
    """A new tests package is covered by the contracts of hack/ and the toolkit at once."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert {"cli", "reloader", "webapp", "journal", "telemetry", "hack", "tests"} <= set(
        config["root_packages"]
    )
    others = {
        f"tests.{path.stem}"
        for path in (ROOT / "tests").iterdir()
        if path.name != "kubeapi"
        and ((path.is_dir() and (path / "__init__.py").exists()) or path.suffix == ".py")
        and path.stem != "__init__"
    }
    contracts = {c["name"]: c for c in config["contracts"]}
    hack = contracts["hack imports the toolkit only, of the tests"]
    toolkit = contracts["The dev toolkit stands alone and uses the product's public API only"]
    assert hack["source_modules"] == ["hack"]
    assert others == {m for m in hack["forbidden_modules"]}
    assert others <= set(toolkit["forbidden_modules"])
    assert {"hack", "cli", "reloader", "webapp", "telemetry"} <= set(toolkit["forbidden_modules"])
