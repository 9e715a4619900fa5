"""The typed payloads store exactly what the keyword-argument payloads stored.

``golden_records.json`` was captured from the core before its records became
typed. Each record is compared as the journal stores it (canonical JSON: keys
sorted, so the order keys are built in does not matter, their presence and
JSON values do). To capture again after an intended change to a payload::

    python -m tests.records.test_golden > tests/records/golden_records.json
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.records.scenarios import SCENARIOS, produced

GOLDEN = Path(__file__).with_name("golden_records.json")


def _canonical(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, sort_keys=True)


def _dump() -> str:
    return json.dumps(produced(), ensure_ascii=False, indent=1, sort_keys=True) + "\n"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_record_the_core_writes_is_byte_identical_to_the_golden_capture(name):
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))[name]
    now = produced()[name]
    assert [_canonical(record) for record in now] == [_canonical(record) for record in golden]


def test_the_scenarios_write_every_kind_the_core_writes():
    from records import kinds

    written = {record[0] for records in produced().values() for record in records}
    assert written == set(kinds.CORE_WRITES)


if __name__ == "__main__":
    print(_dump(), end="")
