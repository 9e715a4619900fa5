"""The timeline's legibility, measured in a real headless Chromium over DevTools.

Each page comes from a journal the real writer made (``replay --html`` run as
the command does) and is laid out by the browser, which reports where every
text landed: nothing is drawn outside the picture, no two labels overlap,
and the page logs nothing and fetches nothing but itself.
"""

from __future__ import annotations

from pathlib import Path

from cli.main import main
from journal import Journal
from tests.journal import browser, devtools
from tests.journal.builders import Controller

ZERO = "helloworld-controller-0"


def _page(tmp_path: Path, *journals: Journal, extra: tuple[str, ...] = ()) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    page = tmp_path / "timeline.html"
    args = ["replay", "--html", str(page), *extra]
    for journal in journals:
        args += ["--journal", str(journal.location.path)]
    assert main(args) in (0, 1)
    return page


def _ticks(boxes: list[devtools.Box]) -> list[devtools.Box]:
    return [box for box in boxes if box.text[:2].isdigit() and ":" in box.text]


def _assert_clean(page: devtools.Page) -> None:
    assert page.problems() == []
    assert page.requests() == [page.evaluate("location.href")]


def test_the_axis_of_a_one_record_journal_reads_exact_and_stays_in_view(tmp_path, open_journal):
    controller = Controller(open_journal(tmp_path / "one.db", actor=ZERO))
    controller.started(0)
    page = _page(tmp_path, controller.journal)
    with devtools.open_page(page, tmp_path / "browser") as loaded:
        width, _height, boxes = loaded.text_boxes()
        _assert_clean(loaded)
    ticks = _ticks(boxes)
    # A one-second window: a tick every 100 ms, each named exactly.
    assert [box.text for box in ticks] == [f"10:00:00.{n}00" for n in range(10)] + ["10:00:01.000"]
    assert all(box.x >= 0 and box.x + box.w <= width for box in ticks), ticks[-1]


def _overlapping(boxes: list[devtools.Box]) -> list[tuple[str, str]]:
    return [(a.text, b.text) for i, a in enumerate(boxes) for b in boxes[i + 1 :] if a.overlaps(b)]


def test_a_drills_label_neither_covers_the_dates_nor_leaves_the_picture(tmp_path, open_journal):
    controller = Controller(open_journal(tmp_path / "drill.db", actor=ZERO))
    controller.started(0)
    controller.acquired(1, epoch=1)
    controller.note(10, "kill the leader", drill="start", scenario="leader-pod-loss")
    controller.note(40, "back", drill="end")
    controller.note(95, "again", drill="start", scenario="zone-loss-" + "x" * 40)
    controller.note(100, "last record")
    # The drill's evidence page starts at the first drill's start mark.
    page = _page(tmp_path, controller.journal, extra=("--since", "2026-11-26T10:00:10Z"))
    with devtools.open_page(page, tmp_path / "browser") as loaded:
        width, _height, boxes = loaded.text_boxes()
        _assert_clean(loaded)
    drills = [box for box in boxes if box.text.startswith("drill: ")]
    assert [box.text[:17] for box in drills] == ["drill: leader-pod", "drill: zone-loss-"]
    assert all(box.x >= 0 and box.x + box.w <= width for box in drills), drills
    assert _overlapping(boxes) == []


def test_long_names_across_namespaces_keep_to_the_label_column_and_apart(tmp_path, open_journal):
    journal = open_journal(tmp_path / "many.db", actor=ZERO)
    leader = Controller(journal)
    leader.started(0)
    leader.acquired(1, epoch=1)
    long = "-with-a-name-as-long-as-kubernetes-allows"
    for n, namespace in enumerate(("team-a", "payments-production-eu-west-1")):
        writer = Controller(journal, namespace=namespace, epoch=1)
        for m, kind in enumerate(("", "statefulset/", "daemonset/")):
            for env in ("test", "prod"):
                cm = f"helloworld-config{long}-{env}"
                writer.restart_chain(10 + n * 60 + m * 20, cm, f"{kind}service{long}-{env}", env)
    busy = Controller(journal, namespace="team-a", epoch=1)
    for t in (300, 310, 320):  # a lane with every kind of count
        busy.planned(t, "busy", "busy-config", f"v{t}", f"c{t}")
        busy.retry(t + 1, "busy", "busy-config", f"v{t}", f"c{t}")
        busy.failed(t + 2, "busy", "busy-config", f"v{t}", f"c{t}")
        busy.dropped(t + 3, "busy", "busy-config", f"v{t}", f"c{t}")
    page = _page(tmp_path, journal)
    with devtools.open_page(page, tmp_path / "browser") as loaded:
        _width, _height, boxes = loaded.text_boxes()
        titles = loaded.evaluate(
            "[...document.querySelectorAll('svg.timeline .lane .lt')].map(t => t.firstChild.data)"
        )
        _assert_clean(loaded)
    column = [box for box in boxes if box.x < 240 and box.y > 52]  # under the axis
    assert [box.text for box in column if box.x + box.w > 248] == []
    assert _overlapping(column) == []
    assert len(titles) == len(set(titles)), titles  # every lane told apart
    # Kind, namespace and the name's end stay readable.
    assert any(title.startswith("ds/paym") and title.endswith("-prod") for title in titles)


def _covered(mark: devtools.Box, label: devtools.Box) -> bool:
    """A term's epoch is written inside its own bar, on purpose."""
    inside = mark.x <= label.x and label.x + label.w <= mark.x + mark.w
    return mark.text == "term" and inside


def test_labels_of_a_busy_day_cover_no_mark_and_no_other_label(tmp_path, open_journal):
    zero = Controller(open_journal(tmp_path / "0.db", actor=ZERO))
    one = Controller(open_journal(tmp_path / "1.db", actor="helloworld-controller-1"))
    zero.started(0)
    one.started(1)
    zero.acquired(2, epoch=1)
    t = 10.0
    for n in range(900):  # a day: restarts, retries, failures, notes, late patches
        leader = zero if t < 40_000 else one
        if leader is one and one.epoch is None:
            zero.lost(40_000)
            one.acquired(40_100, epoch=2)
            t = 40_200.0
        workload = ("api", "statefulset/db", "daemonset/agent")[n % 3]
        corr = f"c{n}"
        leader.observed(t, "app-config", f"v{n}", corr=corr)
        leader.planned(t + 5, workload, "app-config", f"v{n}", corr)
        if n % 7 == 0:
            leader.retry(t + 6, workload, "app-config", f"v{n}", corr)
        if n % 31 == 0:
            leader.failed(t + 8, workload, "app-config", f"v{n}", corr)
        else:
            leader.patched(t + (60 if n % 11 == 0 else 5.5), workload, "app-config", f"v{n}", corr)
        if n % 90 == 0:
            leader.note(t + 1, f"checkpoint {n}")
        t += 5 + (n * 37 % 160)
    page = _page(tmp_path, zero.journal, one.journal)
    with devtools.open_page(page, tmp_path / "browser") as loaded:
        lanes = loaded.lane_boxes()
        _width, _height, boxes = loaded.text_boxes()
        _assert_clean(loaded)
    assert len(lanes) >= 8
    drawn = 0
    for key, (marks, labels) in lanes.items():
        drawn += len(labels)
        hidden = [
            (label.text, mark.text)
            for label in labels
            for mark in marks
            if label.overlaps(mark) and not _covered(mark, label)
        ]
        assert hidden == [], (key, hidden[:5])
    assert drawn > 20  # labels are still drawn where there is room
    assert _overlapping(boxes) == []


def test_an_empty_journal_or_window_says_so_and_draws_no_1970_axis(tmp_path, open_journal):
    empty = open_journal(tmp_path / "empty.db", actor=ZERO)
    controller = Controller(open_journal(tmp_path / "busy.db", actor=ZERO))
    controller.started(0)
    controller.acquired(1, epoch=1)
    window = ("--since", "2027-01-01T00:00:00Z", "--until", "2027-01-01T01:00:00Z")
    cases = (
        ((empty,), (), "No records: the journal holds none"),
        ((controller.journal,), window, "No records in the window: 2027-01-01T00:00:00.000000Z"),
        ((empty,), window[2:], "No records in the window: the first record to 2027-01-01T01"),
    )
    for n, (journals, extra, said) in enumerate(cases):
        page = _page(tmp_path / str(n), *journals, extra=extra)
        with devtools.open_page(page, tmp_path / f"browser{n}") as loaded:
            shown = loaded.evaluate("document.body.innerText")
            pictures = loaded.evaluate("document.querySelectorAll('svg.timeline').length")
            _assert_clean(loaded)
        assert said in shown
        assert "1970" not in shown
        assert pictures == 0  # an axis over nothing tells nothing


def test_each_restart_reads_as_text_without_hovering(tmp_path, open_journal):
    """The SVG is one image to a screen reader, its tooltips need a mouse: the facts are text."""
    zero = Controller(open_journal(tmp_path / "0.db", actor=ZERO))
    zero.started(0)
    zero.acquired(1, epoch=1)
    zero.restart_chain(10, "app-config", "app", "v1")
    zero.observed(100, "db-config", "v2", corr="c2")
    zero.planned(105, "statefulset/db", "db-config", "v2", "c2")
    zero.retry(106, "statefulset/db", "db-config", "v2", "c2")
    failed = zero.failed(110, "statefulset/db", "db-config", "v2", "c2")
    page = _page(tmp_path, zero.journal)
    with devtools.open_page(page, tmp_path / "browser") as loaded:
        rows = loaded.evaluate(
            "[...document.querySelectorAll('h2')].find(h => h.textContent === 'Restarts')"
            ".nextElementSibling.innerText.split('\\n')"
        )
        _assert_clean(loaded)
    cells = [row.split("\t") for row in rows]
    assert cells[0][:4] == ["planned", "workload", "source", "outcome"]
    app, db = cells[1], cells[2]
    assert app[:3] == ["2026-11-26T10:00:15.000000Z", "shipshape/deployment/app",
                       "configmap/app-config"]  # fmt: skip
    assert app[3].startswith("patched at 2026-11-26T10:00:15.500000Z")
    assert app[4] == "5.500 s"
    assert db[1:4] == ["shipshape/statefulset/db", "configmap/db-config", "failed"]
    assert db[5] == "1"  # one retry
    assert db[6].endswith(f"seq {failed.seq - 2}")  # the restart.planned


def test_a_restart_without_leader_election_says_so_not_epoch_none(tmp_path, open_journal):
    # LEADER_ELECTION_ENABLED=false: the controller stamps no epoch on its records.
    single = Controller(open_journal(tmp_path / "single.db", actor=ZERO))
    single.started(0)
    single.restart_chain(10, "app-config", "app", "v1")
    text = _page(tmp_path, single.journal).read_text(encoding="utf-8")
    lanes = browser.lanes(browser.svg_of(text))
    (restart,) = browser.marks(lanes["workload:shipshape/app"], "restart")
    assert f"by {ZERO} (no leader election)" in browser.tooltip(restart)
    assert "epoch None" not in text


def test_a_night_shifts_axis_names_the_day_where_it_changes(tmp_path, open_journal):
    controller = Controller(open_journal(tmp_path / "night.db", actor=ZERO))
    controller.started(0)
    controller.acquired(1, epoch=1)
    controller.restart_chain(3600 * 13, "app-config", "app", "v1")  # 23:00
    controller.restart_chain(3600 * 16, "app-config", "app", "v2")  # 02:00 the next day
    window = ("--since", "2026-11-26T20:00:00Z", "--until", "2026-11-27T04:00:00Z")
    page = _page(tmp_path, controller.journal, extra=window)
    with devtools.open_page(page, tmp_path / "browser") as loaded:
        width, _height, boxes = loaded.text_boxes()
        _assert_clean(loaded)
    ticks = [box.text for box in boxes if box.y > 25 and box.y < 45 and ":" in box.text]
    assert ticks == ["11-26 20:00", "21:00", "22:00", "23:00", "11-27 00:00", "01:00", "02:00",
                     "03:00", "04:00"]  # fmt: skip
    assert _overlapping(boxes) == []
    assert all(box.x >= 0 and box.x + box.w <= width for box in boxes)
