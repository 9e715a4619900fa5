"""The items of a ``reload`` annotation: names and whole-name patterns, bounded.

``configmap.reloader.stakater.com/reload: "app-config, app-.*"`` (and the
Secret and ``shipshape.io`` variants) is a comma-separated list. As in
stakater/Reloader each item is a regular expression matched against a
source's whole name (``app-.*``); a plain name matches itself; blanks around
commas and empty items are ignored.

A workload's annotations are written by whoever may edit it, and the
controller evaluates them for every change it sees, in every namespace. So
what it evaluates is bounded: at most :data:`MAX_ITEMS` items, each without
groups and with at most :data:`MAX_REPETITIONS` repetitions (at most
quadratic in a name of 253 characters, never a catastrophic backtrack).
What is left out is reported, never silently dropped.

Everything here is pure: a string in, compiled patterns and problems out.
"""

from __future__ import annotations

import re

MAX_ITEMS = 100
MAX_REPETITIONS = 2

# Repetition operators of a regular expression.
_REPETITION = re.compile(r"(?<!\\)[*+?{]")

# Reloader anchors an item as ^item$: reported, still used on whole names.
BARE_BAR = (
    'uses "|" outside a group: Reloader takes "a|b" for names that start with a or end'
    " with b, Shipshape for the names a and b"
)


def reload_patterns(value: str) -> tuple[tuple[re.Pattern[str], ...], list[tuple[str, str]]]:
    """Return the patterns of a ``reload`` list, and what to report about it.

    Args:
        value: The annotation's value.

    Returns:
        The compiled patterns of the items used, in order, and a list of
        ``(shown, problem)``: the value or item concerned and, in words, what
        is wrong with it and what was done instead.
    """
    problems: list[tuple[str, str]] = []
    items = [item for raw in value.split(",") if (item := raw.strip())]
    if len(items) > MAX_ITEMS:
        problems.append(
            (value, f"has {len(items)} items: the first {MAX_ITEMS} are used, the rest ignored")
        )
    patterns: list[re.Pattern[str]] = []
    for item in items[:MAX_ITEMS]:
        problem = _refusal(item)
        if problem is None:
            try:
                patterns.append(re.compile(item))
            except re.error:
                problem = "is not a name nor a regular expression"
            else:
                if _bare_alternation(item):
                    problems.append((item, BARE_BAR))
                continue
        problems.append((item, f"{problem}: this item is ignored"))
    return tuple(patterns), problems


def _refusal(item: str) -> str | None:
    """Return why an item is not evaluated (a group, too many repetitions), or None."""
    if "(" in item or ")" in item:
        return "uses a group, which Shipshape does not evaluate"
    if len(_REPETITION.findall(item)) > MAX_REPETITIONS:
        return f"repeats more than {MAX_REPETITIONS} times, which Shipshape does not evaluate"
    return None


def _bare_alternation(item: str) -> bool:
    """Whether ``item`` has a ``|`` outside a character class (groups are refused before)."""
    escaped, opened = False, -1  # opened: where the class's members start, -1 outside
    for index, char in enumerate(item):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif opened >= 0:
            if char == "^" and index == opened and item[index - 1] == "[":
                opened += 1  # a negated class: "]" right after "[^" is a member too
            elif char == "]" and index > opened:
                opened = -1
        elif char == "[":
            opened = index + 1
        elif char == "|":
            return True
    return False
