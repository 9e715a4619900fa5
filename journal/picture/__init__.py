"""The incident as a picture: ``replay --html`` and the drill's timeline page.

- :mod:`journal.picture.model`: lanes and marks built from the records in
  the replay's single pass (pure data).
- :mod:`journal.picture.page`: the self-contained HTML page (inline CSS
  and SVG, nothing loaded from outside).
- :mod:`journal.picture.strip`: the compact text form for ``replay``'s
  terminal output (a leadership strip per replica, restarts per workload).
"""

from __future__ import annotations

from journal.picture.model import Lane, Mark, Timeline, build_timeline
from journal.picture.page import render_html, write_html
from journal.picture.strip import render_overview

__all__ = [
    "Lane",
    "Mark",
    "Timeline",
    "build_timeline",
    "render_html",
    "render_overview",
    "write_html",
]
