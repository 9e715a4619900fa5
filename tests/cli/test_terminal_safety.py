"""What a journal holds is shown on a terminal, never acted on by it.

Record text comes from whoever could write the journal, the cluster's objects
and the API server's messages. Printed raw, an escape sequence in it could
clear the lines an operator reads in an incident and print others, a
carriage return could overwrite a line, and a bidirectional override could
show the rest of a line reversed. Every output form spells them out (text)
or escapes them (JSON, still the same value).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from journal import Journal
from tests.cli.helpers import one_error_line

# Escape sequences (CSI clear line, OSC window title), a carriage return, a
# C1 CSI, DEL, a line separator, a right-to-left override and a zero-width
# joiner: none of them may reach the terminal raw.
HOSTILE = "\x1b[2K\r\x1b]0;pwned\x07 \x9b31m \x7f \u2028 \u202egnp.yeknod \u200d"
RAW = ("\x1b", "\r", "\x07", "\x9b", "\x7f", "\u2028", "\u202e", "\u200d")


@pytest.fixture
def hostile(tmp_path: Path, open_journal) -> Path:
    path = tmp_path / "j.db"
    writer: Journal = open_journal(path, actor="ctl" + HOSTILE)
    writer.append("operator.note", data={"text": "note" + HOSTILE})
    writer.append(
        "restart.planned",
        data={"configmap": "cm" + HOSTILE, "data_hash": "a" * 64},
        namespace="shipshape",
        object="deployment/web",
        correlation_id="c" * 32,
    )
    return path


def documents(text: str) -> list[dict]:
    """The JSON documents of ``text``, one after another (a line each, or indented)."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while text[at:].strip():
        at += len(text[at:]) - len(text[at:].lstrip())
        document, at = decoder.raw_decode(text, at)
        found.append(document)
    return found


def shown_raw(text: str) -> list[str]:
    return [char for char in RAW if char in text]


@pytest.mark.parametrize("output", ["short", "json", "json-pretty", "json-seq"])
def test_tail_shows_hostile_text_without_passing_it_to_the_terminal(run, hostile, output):
    outcome = run("tail", "--journal", hostile, "-o", output)
    assert outcome.code == 0, outcome.err
    assert shown_raw(outcome.out) == []
    if output == "short":
        assert "\\x1b[2K\\r\\x1b]0;pwned\\x07" in outcome.out
        assert "\\u202egnp.yeknod" in outcome.out
        assert len(outcome.out.splitlines()) == 2
    else:
        records = documents(outcome.out.replace("\x1e", ""))
        # The same values: the escapes are JSON's own.
        assert records[0]["actor"] == "ctl" + HOSTILE
        assert records[0]["data"]["text"] == "note" + HOSTILE


def test_replay_text_and_json_show_hostile_text_without_passing_it_to_the_terminal(run, hostile):
    text = run("replay", "--journal", hostile)
    assert text.code == 0, text.err
    assert shown_raw(text.out) == []
    assert "\\u202egnp.yeknod" in text.out
    as_json = run("replay", "--journal", hostile, "-o", "json")
    assert as_json.code == 0, as_json.err
    assert shown_raw(as_json.out) == []
    report = json.loads(as_json.out)
    # The same values: the restart names its ConfigMap as the record does.
    assert [r["configmap"] for r in report["restarts"]] == ["cm" + HOSTILE]
    assert "cm" + HOSTILE in report["configmaps"]


def test_an_error_quoting_hostile_input_is_one_printable_line(run, tmp_path):
    outcome = run("tail", "--journal", tmp_path / ("missing" + HOSTILE + ".db"))
    assert outcome.code == 2
    line = one_error_line(outcome)
    assert shown_raw(line) == []
    assert "\\x1b[2K" in line
