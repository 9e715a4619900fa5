"""Text a program prints that someone else wrote: shown as it is, never acted on.

A path, a URL, a name read from a journal or an annotation can hold control
characters. Printed raw, a carriage return or an escape sequence lets whoever
wrote it rewrite the line a user reads (clear a ``FAILED`` verdict and print
``OK`` over it), a newline splits one error into two, and a bidirectional
override shows the rest of the line reversed. :func:`printable` spells each
such character out instead.
"""

from __future__ import annotations

from collections.abc import Callable


def printable(text: str, *, lines: bool = False) -> str:
    """Return ``text`` with every character ``str.isprintable`` refuses escaped.

    Those are the control characters (C0, DEL, C1), line and paragraph
    separators, format characters (bidirectional controls among them),
    unassigned code points and undecodable bytes (surrogates): each becomes
    its Python escape (``\\x1b``, ``\\r``, ``\\u202e``). With ``lines`` the
    line breaks of text of several lines stay (each line escaped on its own).
    """
    return _each_line(text, lines, _python_escape)


def json_printable(text: str) -> str:
    """Return JSON ``text`` with what :func:`printable` escapes written as ``\\u`` escapes.

    ``json.dumps(..., ensure_ascii=False)`` escapes the C0 controls in strings
    but leaves DEL, the C1 controls, separators and format characters raw.
    Such characters can stand only inside strings, where a ``\\uXXXX`` escape
    (a surrogate pair above U+FFFF) is the same value: the JSON means what it
    meant, and a terminal shows it. The newlines of an indented layout stay.
    """
    return _each_line(text, True, _json_escape)


def _each_line(text: str, lines: bool, escape: Callable[[str], str]) -> str:
    """Escape the characters of ``text`` that are not printable, at C speed when none is."""
    if text.isprintable():
        return text
    if not lines:
        return "".join(char if char.isprintable() else escape(char) for char in text)
    return "\n".join(
        line
        if line.isprintable()
        else "".join(char if char.isprintable() else escape(char) for char in line)
        for line in text.split("\n")
    )


def _python_escape(char: str) -> str:
    return char.encode("unicode_escape", "backslashreplace").decode()


def _json_escape(char: str) -> str:
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
