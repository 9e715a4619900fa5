"""The replay package's shape: one feed loop, payloads read through the catalogue."""

from pathlib import Path

import pytest

from journal.replay import Projector
from journal.replay.rows import keys, reader
from records import PAYLOADS, ConfigMapObserved, RestartPatched, RestartPlanned
from tests.records.test_catalogue import SAMPLES

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "journal" / "replay"


# No payload read by string key and no module over 600 lines: tests/test_architecture.py
# checks both for every package, journal/replay/ included.


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


def test_inline_keys_are_checked_against_the_catalogue():
    """keys() gives the hot handlers catalogue-checked names to read inline."""
    assert keys(ConfigMapObserved, "event_type", "data_hash") == ("event_type", "data_hash")
    with pytest.raises(AttributeError, match="no field 'hash'"):
        keys(ConfigMapObserved, "hash")
    # A field with a default reads differently from data.get(): refused.
    with pytest.raises(ValueError, match="confirmed_by has a default"):
        keys(RestartPatched, "confirmed_by")
