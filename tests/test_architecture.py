"""The import contracts of architecture.md (layers, hack/ and the toolkit), by import-linter."""

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


def test_no_module_of_the_controller_or_the_record_catalogue_exceeds_600_lines():
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines())
        for package in ("reloader", "records")
        for path in (ROOT / package).rglob("*.py")
    }
    assert sizes, "the packages are there"
    assert {name: lines for name, lines in sizes.items() if lines > 600} == {}


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
