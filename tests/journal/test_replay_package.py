"""The replay package's shape: payloads read through the catalogue, small modules."""

import re
from pathlib import Path

import pytest

from journal.replay import Projector
from journal.replay.rows import reader
from records import PAYLOADS, ConfigMapObserved, RestartPatched, RestartPlanned
from tests.records.test_catalogue import SAMPLES

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "journal" / "replay"


def test_no_module_of_replay_reads_a_payload_by_string_key():
    """Payloads are read through the catalogue: no ``data.get("key")`` / ``data["key"]``."""
    pattern = re.compile(r"""\b(?:data|payload)\s*(?:\.get\(\s*|\[\s*)["'][a-z_]+["']""")
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []


def test_no_module_of_replay_exceeds_600_lines():
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    assert len(sizes) > 1, "the package is there"
    assert {name: lines for name, lines in sizes.items() if lines > 600} == {}


def test_there_is_one_feed_loop():
    """feed and feed_all are pages of feed_page, the loop the CLI and the tests share."""
    source = (PACKAGE / "projector.py").read_text(encoding="utf-8")
    assert source.count("for row in rows:") == 1
    assert "self.feed_page(" in source


@pytest.mark.parametrize(
    ("payload", "names"),
    [
        (ConfigMapObserved, ("event_type", "data_hash")),
        (RestartPlanned, ("configmap", "data_hash")),
        (RestartPatched, ("configmap", "data_hash", "generation", "confirmed_by")),
    ],
)
def test_a_reader_reads_what_the_typed_payload_reads(payload, names):
    read = reader(payload, *names)
    full = SAMPLES[payload.KIND]
    for data in (full, {}, {names[0]: "x"}, {name: None for name in names}):
        typed = payload.from_data(data)
        assert read(data) == tuple(getattr(typed, name) for name in names), data


def test_a_reader_refuses_a_field_the_catalogue_does_not_declare():
    with pytest.raises(AttributeError, match="no field 'hash'"):
        reader(ConfigMapObserved, "hash")


def test_every_kind_the_projector_handles_has_a_payload():
    assert set(Projector()._handlers) <= set(PAYLOADS)
