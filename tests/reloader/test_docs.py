"""The controller's configuration and metrics references match the code."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from reloader.runtime.metrics import ControllerMetrics

ROOT = Path(__file__).resolve().parents[2]
READ = re.compile(r"env_(?:str|int|float|bool|choice|host)\(\s*\w+,\s*\"([A-Z][A-Z0-9_]*)\"")


def _section(path: Path, heading: str) -> str:
    text = path.read_text(encoding="utf-8")
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end != -1 else len(text)]


def _first_column(section: str) -> set[str]:
    return set(re.findall(r"^\| `([A-Za-z0-9_]+)` \|", section, flags=re.MULTILINE))


def test_every_variable_the_controller_reads_is_documented_and_nothing_more():
    read = set()
    # The controller's own modules, and the shared one it reads GIT_COMMIT through.
    for source in [*(ROOT / "reloader").rglob("*.py"), ROOT / "telemetry/buildinfo.py"]:
        read |= set(READ.findall(source.read_text(encoding="utf-8")))
    section = _section(
        ROOT / "docs/reference/configuration.md", "## Controller (shipshape-controller)"
    )
    assert read, "the pattern found no variable at all"
    assert _first_column(section) == read


def test_the_configuration_table_has_the_four_columns():
    section = _section(
        ROOT / "docs/reference/configuration.md", "## Controller (shipshape-controller)"
    )
    assert "| variable | default | validation | incident impact |" in section


def test_every_metric_is_documented_and_nothing_more():
    registry = CollectorRegistry()
    ControllerMetrics(registry)
    names = set()
    for family in registry.collect():
        names.add(family.name + ("_total" if family.type == "counter" else ""))
    section = _section(ROOT / "docs/reference/metrics.md", "## Controller (shipshape-controller)")
    assert _first_column(section) == names
