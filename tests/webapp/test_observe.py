"""The access record: the same record makeRecord makes, whichever way it is made."""

from __future__ import annotations

import logging

import falcon.testing
import pytest
from prometheus_client import CollectorRegistry

from webapp.app import create_app
from webapp.settings import Settings

# Attributes that differ from one record to the next.
_PER_RECORD = {"created", "msecs", "relativeCreated", "args", "fields"}
# Attributes formatting adds (pytest's own log capture formats every record).
_FORMATTED = {"message", "asctime"}


class Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def kept():
    handler = Keep()
    access = logging.getLogger("webapp.access")
    access.addHandler(handler)
    previous = logging.getLogger().level
    logging.getLogger().setLevel(logging.INFO)
    flags = (logging.logThreads, logging.logProcesses, logging.logMultiprocessing)
    yield handler.records
    logging.logThreads, logging.logProcesses, logging.logMultiprocessing = flags
    access.removeHandler(handler)
    logging.getLogger().setLevel(previous)


def _get_twice() -> None:
    client = falcon.testing.TestClient(create_app(Settings(), CollectorRegistry()))
    client.simulate_get("/")
    client.simulate_get("/nowhere")


@pytest.mark.parametrize("collect_names", [False, True])
def test_the_access_record_is_the_one_make_record_makes(kept, collect_names):
    # Without thread and process names (as shipshape-web runs) records are
    # copies of one made once; with them they are made as usual.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = collect_names
    _get_twice()
    first, second = kept
    expected = logging.getLogger("webapp.access").makeRecord(
        "webapp.access", logging.INFO, "x", 0, "%s %s %d", ("GET", "/", 200), None, "f"
    )
    for record in (first, second):
        assert type(record) is logging.LogRecord
        assert set(vars(record)) - _FORMATTED == set(vars(expected)) | {"fields"}
        for name in (
            set(vars(expected)) - _PER_RECORD - {"pathname", "filename", "module", "funcName"}
        ):
            assert getattr(record, name) == getattr(expected, name), name
        assert (record.filename, record.module) == ("observe.py", "observe")
        assert record.funcName == "process_response"
        assert abs(record.created - expected.created) < 60
        assert record.msecs == int((record.created - int(record.created)) * 1000)
    assert (first.getMessage(), second.getMessage()) == ("GET / 200", "GET other 404")
    assert first.fields["route"] == "/" and second.fields["route"] == "other"
    assert first is not second and first.__dict__ is not second.__dict__
