"""The timeline page against hostile journal content and awkward windows, in real Chromium.

A journal is anyone's file: its actors, namespaces, object names, notes and
annotation values may hold markup, script, bidirectional controls or
anything else. ``replay --html`` (run as the command runs) must draw them as
text: the browser runs nothing, loads nothing, and shows every line in the
order it was written. A window of years gets an axis that spans it.
"""

from __future__ import annotations

from pathlib import Path

from cli.main import main
from journal import Journal
from journal.chain import canonical_json
from tests.journal import browser, devtools
from tests.journal.builders import Controller

HOSTILE = (
    '</script><script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
    "\u2028<svg onload=\"window.__pwned=3\"><a href='javascript:window.__pwned=4'>x</a>]]><!--"
)
#: The bidirectional embeddings, overrides and isolates.
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"

#: Elements and attributes that could run or load something, found in the laid-out page.
_ACTIVE = """
(() => {
  const found = [...document.querySelectorAll(
    'script, iframe, frame, object, embed, img, image, a, link, form, base, '
    + 'meta[http-equiv=refresh]'
  )].map(e => e.tagName);
  for (const e of document.querySelectorAll('*')) {
    for (const a of e.attributes) {
      if (/^on|href$|^src$|action$/i.test(a.name)) {
        found.push(e.tagName + ' ' + a.name);
      }
    }
  }
  return found;
})()
"""


def _page(tmp_path: Path, journal: Journal) -> Path:
    page = tmp_path / "timeline.html"
    assert main(["replay", "--html", str(page), "--journal", str(journal.location.path)]) in (0, 1)
    return page


def _hostile_journal(tmp_path: Path, open_journal, text: str) -> Journal:
    journal = open_journal(tmp_path / "hostile.db", actor=f"controller{text}")
    controller = Controller(journal, namespace=f"ns{text}")
    controller.started(0)
    controller.acquired(1, epoch=1)
    controller.observed(2, f"config{text}", "v0", event="ADDED")
    controller.restart_chain(5, f"config{text}", f"app{text}", "v1")
    controller.failed(12, f"app{text}", f"config{text}", "v1", None)
    controller.note(14, f"note{text}" + "x" * 3000)
    controller.lost(30)
    return journal


def test_markup_in_every_field_runs_nothing_and_loads_nothing(tmp_path, open_journal):
    journal = _hostile_journal(tmp_path, open_journal, HOSTILE)
    page = _page(tmp_path, journal)
    with devtools.open_page(page, tmp_path / "browser") as loaded:
        assert loaded.evaluate("typeof window.__pwned") == "undefined"
        assert loaded.evaluate(_ACTIVE) == []
        policy = loaded.evaluate(
            "document.querySelector('meta[http-equiv=\"Content-Security-Policy\"]').content"
        )
        text = loaded.evaluate("document.body.textContent")
        problems, requests, href = (
            loaded.problems(),
            loaded.requests(),
            loaded.evaluate("location.href"),
        )
    assert policy.startswith("default-src 'none';") and "script-src" not in policy
    assert problems == []
    assert requests == [href]
    # Shown as the text it is, in full in the tables.
    assert f"controller{HOSTILE}" in text
    assert canonical_json(f"note{HOSTILE}")[1:-1] in text  # the note's data, as JSON


def test_bidirectional_controls_in_records_do_not_reorder_the_page(tmp_path, open_journal):
    # "config-" + RLO + "gnp.yeknod" would show as "config-donkey.png", and
    # everything after it in its cell or tooltip line reversed.
    journal = _hostile_journal(tmp_path, open_journal, f"-{BIDI}gnp.yeknod")
    page = _page(tmp_path, journal)
    source = page.read_text(encoding="utf-8")
    with devtools.open_page(page, tmp_path / "browser") as loaded:
        text = loaded.evaluate("document.body.textContent")
        tooltips = loaded.evaluate(
            "[...document.querySelectorAll('svg.timeline title')].map(t => t.textContent)"
        )
        assert loaded.problems() == []
    for where in (source, text, *tooltips):
        assert not set(BIDI) & set(where), "a bidirectional control reached the page"
    assert "controller-\ufffd" in text  # replaced visibly, the rest kept in order
    assert "gnp.yeknod" in text


def test_a_window_of_years_gets_a_readable_axis_across_it(tmp_path, open_journal):
    controller = Controller(open_journal(tmp_path / "years.db", actor="controller-0"))
    controller.started(0)
    controller.acquired(1, epoch=1)
    controller.note(3 * 365 * 86400, "three years later")
    page = _page(tmp_path, controller.journal)
    with devtools.open_page(page, tmp_path / "browser") as loaded:
        width, _height, boxes = loaded.text_boxes()
        assert loaded.problems() == []
    ticks = [box for box in boxes if box.y < 52 and box.text[:2].isdigit()]  # not "UTC, ..."
    assert 4 <= len(ticks) <= 13, [box.text for box in ticks]
    overlapping = [
        (a.text, b.text) for i, a in enumerate(ticks) for b in ticks[i + 1 :] if a.overlaps(b)
    ]
    assert overlapping == []
    # They reach across the axis (the plot runs from x 250 to the picture's right edge).
    assert min(box.x for box in ticks) < 250 + 0.25 * (width - 250)
    assert max(box.x + box.w for box in ticks) > 250 + 0.75 * (width - 250)
    # Each names its year: "11-26" alone would not say which of the three.
    assert all(box.text[:4].isdigit() and box.text[4] == "-" for box in ticks), ticks


def test_names_as_long_as_kubernetes_allows_keep_the_tables_in_the_page(tmp_path, open_journal):
    # 253 characters, no space: a pod (the actor), a ConfigMap and a Deployment.
    name = ("a" * 62 + ".") * 4 + "a"
    controller = Controller(open_journal(tmp_path / "long.db", actor=name))
    controller.started(0)
    controller.acquired(1, epoch=1)
    controller.restart_chain(2, name, name, "v1")
    page = _page(tmp_path, controller.journal)
    with devtools.open_page(page, tmp_path / "browser") as loaded:
        widths = loaded.evaluate(
            "[...document.querySelectorAll('table')].map(t => t.getBoundingClientRect().right)"
        )
        page_width = loaded.evaluate("document.documentElement.scrollWidth")
        shown = loaded.evaluate("document.body.textContent")
        assert loaded.problems() == []
    assert len(name) == 253
    assert len(widths) >= 3 and max(widths) <= 1400, widths
    assert page_width <= 1400, "the page scrolls sideways"
    assert name in shown  # wrapped, not cut


def test_the_terminal_strip_of_a_window_of_days_names_its_dates(tmp_path, open_journal, capsys):
    controller = Controller(open_journal(tmp_path / "days.db", actor="controller-0"))
    controller.started(0)
    controller.acquired(1, epoch=1)
    controller.note(3 * 86400 + 35, "three days later")
    capsys.readouterr()
    assert main(["replay", "--journal", str(controller.journal.location.path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if line.startswith("Leadership, "))
    # Not "10:00:00 to 10:00:35": the window is three days long.
    assert header.startswith("Leadership, 2026-11-26 10:00:00 to 2026-11-29 10:00:35 UTC in 60"), (
        header
    )


def test_a_week_of_a_flapping_leader_is_aggregated_and_every_term_counted(tmp_path, open_journal):
    # A term every 200 s for a week: thousands of sub-pixel terms and gaps.
    flaps = 3000
    controller = Controller(open_journal(tmp_path / "flap.db", actor="controller-0"))
    controller.started(0)
    for i in range(flaps):
        controller.acquired(1 + i * 200, epoch=i + 1)
        controller.lost(101 + i * 200)
    page = _page(tmp_path, controller.journal)
    text = page.read_text(encoding="utf-8")
    assert len(text) < 1_000_000, f"{len(text):,} characters for {flaps} terms"
    lanes = browser.lanes(browser.svg_of(text))
    # At most a bar per bin of the plot (1,104 px in 4 px bins), not a rect per term.
    assert len(browser.marks(lanes["replica:controller-0"], "term")) <= 1104 // 4 + 1

    def drawn(lane: str, category: str) -> int:
        return sum(int(m.get("data-count", "1")) for m in browser.marks(lanes[lane], category))

    # What the page draws is every term and every gap, in the count of its bars.
    assert drawn("replica:controller-0", "term") == flaps
    assert drawn("leadership", "leaderless") == flaps - 1
    with devtools.open_page(page, tmp_path / "browser") as loaded:
        assert loaded.problems() == []
        assert loaded.evaluate("document.querySelectorAll('svg.timeline .agg').length") > 100
