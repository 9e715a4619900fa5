"""The web app's configuration reference and its entry point match the code."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.docs.envscan import READERS

ROOT = Path(__file__).resolve().parents[2]
# The web app's code and the shared modules it reads settings through.
SOURCES = [*sorted((ROOT / "webapp").glob("*.py")), ROOT / "telemetry/tracing.py",
           ROOT / "telemetry/buildinfo.py"]  # fmt: skip


def _name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def variables_read(path: Path) -> set[str]:
    """Variables read through telemetry.config, or straight from os.environ."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        name = _name(node)
        args = node.args
        if name in READERS and len(args) >= 2 and isinstance(args[1], ast.Constant):
            found.add(args[1].value)
        elif (
            name == "get"
            and isinstance(node.func, ast.Attribute)
            and ast.unparse(node.func.value) == "os.environ"
            and isinstance(args[0], ast.Constant)
        ):
            found.add(args[0].value)
    return found


def web_section() -> str:
    text = (ROOT / "docs/reference/configuration.md").read_text(encoding="utf-8")
    start = text.index("## Web app (shipshape-web)")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_every_variable_the_web_app_reads_is_documented_and_nothing_more():
    read = set().union(*(variables_read(path) for path in SOURCES))
    assert {"MESSAGE", "APP_ENV", "PORT", "THREADS", "LOG_LEVEL", "OTEL_ENABLED"} <= read
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", web_section(), flags=re.MULTILINE))
    assert documented == read


def test_the_table_has_the_four_columns():
    assert "| variable | default | validation | incident impact |" in web_section()


def test_only_the_entry_point_touches_the_environment():
    touching = {
        path.name
        for path in (ROOT / "webapp").glob("*.py")
        if "os.environ" in path.read_text(encoding="utf-8")
    }
    assert touching == {"main.py"}
