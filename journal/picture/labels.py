"""Text on the timeline: where labels go, and names cut to fit the label column.

The page measures nothing: widths are estimated from average character
widths of its sans-serif fonts, with room to spare.
"""

from __future__ import annotations

import bisect
import html
import itertools
import re
from collections.abc import Sequence
from typing import Any

from journal.picture.marks import Mark, describe_row

# Characters XML cannot carry, and the bidirectional embeddings, overrides
# and isolates: from a record, U+202E would show the rest of its cell or
# tooltip line reversed (``cm-\u202egnp.yeknod`` reads ``cm-donkey.png``).
_UNSAFE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]"
)
CHAR_PX = 5.6  # average width of a 10 px sans-serif character
BOLD_CHAR_PX = 6.4  # and of a bold one
#: Characters of a lane's title (11 px) and of its counts (9 px) in the label column.
TITLE_CHARS = 36
COUNTS_CHARS = 44
KIND_SHORT = {
    "configmap": "cm",
    "deployment": "deploy",
    "statefulset": "sts",
    "daemonset": "ds",
}


class Labels:
    """Places a lane row's text labels where they cover neither another label nor a mark.

    The marks' extents are :meth:`occupy`-ed first and the labels
    :meth:`request`-ed while drawing; :meth:`render` then places them left to
    right (right of their anchor, else left of it) and drops those with no
    room: their mark's tooltip still tells it.
    """

    def __init__(self, low: float, high: float) -> None:
        """Place labels between ``low`` and ``high`` (the plot's x range)."""
        self.low, self.high = low, high
        self.free_x = 0.0
        self.marks: list[tuple[float, float]] = []
        self.requests: list[tuple[float, str, str]] = []
        self._starts: list[float] = []
        self._reach: list[float] = []

    def occupy(self, x0: float, x1: float) -> None:
        """Keep labels off a mark drawn from ``x0`` to ``x1``."""
        self.marks.append((x0, x1))

    def request(self, x: float, text: str, element: str) -> None:
        """Ask for ``text`` at ``x``; ``element`` is its ``<text>`` with ``{x}`` for where."""
        self.requests.append((x, text, element))

    def _clear(self, x0: float, x1: float) -> bool:
        index = bisect.bisect_left(self._starts, x1)
        return index == 0 or self._reach[index - 1] <= x0

    def place(self, x: float, text: str) -> float | None:
        """Return where the text starts (right of ``x``, else left of it), or ``None``."""
        width = len(text) * CHAR_PX
        right = x + width
        if x >= self.free_x and right <= self.high and self._clear(x, right):
            self.free_x = right + 6
            return x
        left = x - 12 - width
        if left >= max(self.free_x, self.low) and self._clear(left, left + width):
            self.free_x = x + 6
            return left
        return None

    def render(self, out: list[str]) -> None:
        """Draw every requested label that has room."""
        self.marks.sort()
        self._starts = [x0 for x0, _x1 in self.marks]
        self._reach = list(itertools.accumulate((x1 for _x0, x1 in self.marks), max))
        for x, text, element in sorted(self.requests, key=lambda request: request[0]):
            if (at := self.place(x, text)) is not None:
                out.append(element.replace("{x}", f"{at:.1f}".removesuffix(".0"), 1))


def middle(text: str, room: int) -> str:
    """``text`` in at most ``room`` characters, cut in the middle (its end matters most)."""
    if len(text) <= room:
        return text
    head = room // 3
    return text[:head] + "…" + text[len(text) - (room - head - 1) :]


def short_title(title: str) -> str:
    """A lane's title (``kind/namespace/name``) cut to fit the label column.

    Every part keeps a share: the kind by its kubectl short name, the
    namespace's beginning and end, and most of the name, cut in its middle,
    since names that share a long beginning (``helloworld-config-``) differ at
    their end (``-test``, ``-prod``).
    """
    if len(title) <= TITLE_CHARS:
        return title
    parts = title.split("/", 2)
    if len(parts) < 3:
        return middle(title, TITLE_CHARS)
    kind, namespace, name = parts
    kind = KIND_SHORT.get(kind, kind)
    namespace = middle(namespace, 12)
    room = TITLE_CHARS - len(kind) - len(namespace) - 2
    return f"{kind}/{namespace}/{middle(name, max(room, 8))}"


def short_counts(counts: str) -> str:
    """A lane's counts cut at the end to fit the label column."""
    return counts if len(counts) <= COUNTS_CHARS else counts[: COUNTS_CHARS - 1] + "…"


def esc(value: Any) -> str:
    """Escape untrusted text for HTML and XML (quotes too; unsafe characters replaced).

    Unsafe: what XML cannot carry, and the bidirectional controls that would
    reorder the text after them (each becomes U+FFFD, visibly).
    """
    return html.escape(_UNSAFE.sub("\ufffd", str(value)), quote=True)


def tooltip(mark: Mark, journals: Sequence[str]) -> str:
    """A mark's hover text: its own detail, else its record described."""
    if mark.detail is not None:
        return mark.detail
    journal = journals[mark.journal] if mark.journal is not None and len(journals) > 1 else None
    return describe_row(mark.row, journal) if mark.row is not None else mark.label
