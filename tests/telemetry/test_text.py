"""Shown, never acted on: control and format characters spelt out or JSON-escaped."""

from __future__ import annotations

import json

import pytest

from telemetry.text import json_printable, printable

ODD = [
    "\x1b[2K",  # CSI: clear the line
    "\r",  # back to the start of the line
    "\x9b31m",  # C1 CSI
    "\x7f",  # DEL
    "\u2028",  # a line separator (str.splitlines breaks there)
    "\u202e",  # right-to-left override
    "\u200d",  # zero-width joiner
    "\U000e0041",  # a tag character (format, above U+FFFF)
    "\udcff",  # an undecodable byte (surrogateescape)
]


@pytest.mark.parametrize("odd", ODD)
def test_printable_spells_out_what_a_terminal_would_act_on(odd):
    shown = printable(f"a{odd}b")
    assert shown.isprintable()
    assert shown.startswith("a\\") and shown.endswith("b")


def test_printable_keeps_ordinary_text_and_what_it_is_told_to_keep():
    text = "héllo wörld, ok ✓ 日本"
    assert printable(text) is text
    assert printable("one\ntwo\x1b") == "one\\ntwo\\x1b"
    assert printable("one\ntwo\x1b", lines=True) == "one\ntwo\\x1b"
    assert printable("\r") == "\\r"
    assert printable("x\\x1by") == "x\\x1by", "already escaped text is left as it is"


@pytest.mark.parametrize("odd", [o for o in ODD if o != "\udcff"])
def test_json_printable_is_the_same_json_value_and_printable(odd):
    value = {"k": f"a{odd}b", "n": ["x", odd]}
    for text in (json.dumps(value, ensure_ascii=False), json.dumps(value, indent=2)):
        safe = json_printable(text)
        assert safe.replace("\n", "").isprintable()
        assert json.loads(safe) == value
