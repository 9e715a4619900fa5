"""The incident as a picture: ``replay --html``, rendered in a real headless Chromium.

Each crafted golden journal (a failover, a leaderless gap, a split brain,
retries, a drill) gets its own page, and each page is checked three ways:
the screenshot is not blank (and shows the lanes' colours), the SVG parsed
as XML has the expected lanes and marks, and the page loads nothing from
outside (neither in its text nor in the browser's network log).
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from cli.main import main
from journal import Journal, export_dr_drill
from journal.picture import build_timeline, render_html
from journal.snapshot import file_sha256
from tests.journal import browser
from tests.journal.builders import Controller
from tests.journal.helpers import ROOT

CM, APP, API = "app-config", "app", "api"
ZERO, ONE = "helloworld-controller-0", "helloworld-controller-1"
TERM_COLOURS = {(0x3F, 0x8F, 0x3F), (0x2F, 0x6F, 0x9F)}  # epochs, odd and even
ANOMALY_RED = (0xD6, 0x27, 0x28)


@pytest.fixture
def replicas(tmp_path, open_journal):
    """Replicas 0 and 1 of the controller, each writing its own journal."""
    return [
        Controller(open_journal(tmp_path / f"{i}.db", actor=name))
        for i, name in enumerate((ZERO, ONE))
    ]


def _baseline(zero: Controller, one: Controller) -> None:
    zero.started(0)
    one.started(0.5)
    zero.acquired(1, epoch=1)
    one.observed_leader(1.5, ZERO, 1)
    for replica in (zero, one):
        replica.observed(2, CM, "v0", event="ADDED")
    zero.skipped(2.1, CM, "adopted")


def _page(tmp_path: Path, *journals: Journal, extra: tuple[str, ...] = ()) -> tuple[Path, str]:
    """Run ``replay --html`` over the journals; return the page and its text."""
    page = tmp_path / "timeline.html"
    args = ["replay", "--html", str(page), *extra]
    for journal in journals:
        args += ["--journal", str(journal.location.path)]
    assert main(args) in (0, 1)
    return page, page.read_text(encoding="utf-8")


def _check_in_browser(page: Path, text: str, tmp_path: Path) -> dict[tuple[int, int, int], int]:
    """Render the page; assert it is not blank and loads nothing; return its colours."""
    assert browser.external_references(text) == []
    rendered = browser.render(page, tmp_path / "browser")
    assert rendered.page_requests == []
    width, height, _channels, _pixels = browser.decode_png(rendered.png)
    assert (width, height) == (1400, 900)
    colours = browser.colours(rendered.png)
    white = colours.get((255, 255, 255), 0)
    assert len(colours) >= 20, "the screenshot has almost no colours: blank?"
    assert white < 0.95 * width * height, "the screenshot is (nearly) all white"
    assert sum(colours.get(c, 0) for c in TERM_COLOURS) > 500, "no leader term drawn"
    return colours


def test_a_failover(tmp_path, replicas):
    zero, one = replicas
    _baseline(zero, one)
    zero.restart_chain(10, CM, APP, "v1")
    zero.lost(60)
    one.acquired(65, epoch=2)
    one.restart_chain(80, CM, APP, "v2")
    page, text = _page(tmp_path, zero.journal, one.journal)

    svg = browser.svg_of(text)
    lanes = browser.lanes(svg)
    assert {f"replica:{ZERO}", f"replica:{ONE}", "leadership", f"configmap:shipshape/{CM}",
            f"workload:shipshape/{APP}"} <= set(lanes)  # fmt: skip
    (first,) = browser.marks(lanes[f"replica:{ZERO}"], "term")
    (second,) = browser.marks(lanes[f"replica:{ONE}"], "term")
    assert "epoch 1" in browser.tooltip(first) and "lost" in browser.tooltip(first)
    assert "epoch 2" in browser.tooltip(second)
    assert float(first.get("x")) < float(second.get("x"))
    # The 5 s handover is a short leaderless stretch, not an anomaly.
    (gap,) = browser.marks(lanes["leadership"], "leaderless")
    assert "c-leaderless-short" in gap.get("class")
    restarts = browser.marks(lanes[f"workload:shipshape/{APP}"], "restart")
    assert len(restarts) == 2
    assert all("outcome patched" in browser.tooltip(r) for r in restarts)
    assert "change to patch 5.500 s" in browser.tooltip(restarts[0])
    assert [m.get("data-journal") for m in restarts] == ["0", "1"]
    assert len(browser.marks(lanes[f"configmap:shipshape/{CM}"], "change")) == 2
    _check_in_browser(page, text, tmp_path)


def test_a_leaderless_gap(tmp_path, replicas):
    zero, one = replicas
    _baseline(zero, one)
    zero.released(30)
    acquired = one.acquired(100, epoch=2)
    page, text = _page(tmp_path, zero.journal, one.journal)

    lanes = browser.lanes(browser.svg_of(text))
    (gap,) = browser.marks(lanes["leadership"], "leaderless")
    assert "c-leaderless-long" in gap.get("class")
    assert "no leader for 70.0 s" in browser.tooltip(gap)
    (anomaly,) = browser.marks(lanes["anomalies"], "anomaly")
    assert anomaly.get("data-seq") == str(acquired.seq)
    assert anomaly.get("data-journal") == "1"
    assert f"leaderless_gap — {one.journal.location.display} seq {acquired.seq}" in (
        browser.tooltip(anomaly)
    )
    # Labelled with its journal and seq where there is room.
    assert f"leaderless_gap 1.db#{acquired.seq}" in text
    colours = _check_in_browser(page, text, tmp_path)
    assert colours.get(ANOMALY_RED, 0) > 20


def test_a_split_brain(tmp_path, replicas):
    zero, one = replicas
    _baseline(zero, one)
    one.acquired(20, epoch=1)  # a second acquisition claims the same epoch
    zero.restart_chain(30, CM, APP, "v1")
    page, text = _page(tmp_path, zero.journal, one.journal)

    lanes = browser.lanes(browser.svg_of(text))
    (overlap,) = browser.marks(lanes["leadership"], "overlap")
    assert "2 leaders at once" in browser.tooltip(overlap)
    anomalies = browser.marks(lanes["anomalies"], "anomaly")
    assert "overlapping_leaders" in browser.tooltip(anomalies[0])
    assert browser.marks(lanes["leadership"], "anomaly")  # shown on the leadership lane too
    colours = _check_in_browser(page, text, tmp_path)
    assert colours.get(ANOMALY_RED, 0) > 200  # the overlap band


def test_retries_and_failures(tmp_path, replicas):
    zero, one = replicas
    _baseline(zero, one)
    zero.observed(10, CM, "v1", corr="c1")
    zero.planned(15, API, CM, "v1", "c1")
    retries = [zero.retry(t, API, CM, "v1", "c1") for t in (20, 40)]
    zero.patched(60, API, CM, "v1", "c1")
    zero.planned(100, APP, CM, "v1", "c2")
    zero.retry(130, APP, CM, "v1", "c2")
    failed = zero.failed(160, APP, CM, "v1", "c2")
    page, text = _page(tmp_path, zero.journal)

    lanes = browser.lanes(browser.svg_of(text))
    api, app = lanes[f"workload:shipshape/{API}"], lanes[f"workload:shipshape/{APP}"]
    assert [m.get("data-seq") for m in browser.marks(api, "retry")] == [str(r.seq) for r in retries]
    (restart,) = browser.marks(api, "restart")
    assert "retries 2" in browser.tooltip(restart)
    assert f"retry #{retries[0].seq}" in text  # labelled with its seq
    (failure,) = browser.marks(app, "failed")
    assert failure.get("data-seq") == str(failed.seq)
    (failed_restart,) = browser.marks(app, "restart")
    assert "c-failed" in failed_restart.get("class")
    _check_in_browser(page, text, tmp_path)


def test_a_drill(tmp_path, replicas):
    zero, one = replicas
    _baseline(zero, one)
    zero.note(50, "zone a is gone", drill="start", scenario="zone-loss")
    zero.lost(60)
    zero.started(65)  # the pod comes back and leads again
    zero.acquired(70, epoch=2)
    zero.observed(71, CM, "v0", event="ADDED")
    zero.restart_chain(90, CM, APP, "v1")
    zero.note(200, "service restored", drill="end")
    zero.note(210, "after the drill")

    evidence = tmp_path / "evidence"
    result = export_dr_drill(zero.journal, evidence)
    picture = evidence / "dr-drill-20261126.timeline.html"
    manifest = json.loads(result.manifest.read_text())
    assert manifest["timeline"] == {"file": picture.name, "sha256": file_sha256(picture)}
    assert f"[{picture.name}]({picture.name})" in result.report.read_text()

    text = picture.read_text(encoding="utf-8")
    svg = browser.svg_of(text)
    (window,) = [g for g in svg.iter("g") if g.get("class") == "drillwin"]
    assert "drill: zone-loss" in browser.tooltip(window.find("rect"))
    lanes = browser.lanes(svg)
    notes = lanes["notes"]
    assert len(browser.marks(notes, "drill_start")) == 1
    assert len(browser.marks(notes, "drill_end")) == 1
    assert "after the drill" not in text  # outside the drill window
    assert "dr-drill-20261126.journal.db" in text  # named after the snapshot
    (term,) = browser.marks(lanes[f"replica:{ZERO}"], "term")
    assert "epoch 2" in browser.tooltip(term)
    assert len(browser.marks(lanes[f"workload:shipshape/{APP}"], "restart")) == 1
    _check_in_browser(picture, text, tmp_path)


def test_the_network_check_sees_an_external_load(tmp_path):
    page = tmp_path / "leaky.html"
    page.write_text(
        '<!DOCTYPE html><html><body><img src="http://example.invalid/x.png">'
        '<div style="background:url(https://example.invalid/b.png)">x</div></body></html>'
    )
    assert len(browser.external_references(page.read_text())) == 2
    rendered = browser.render(page, tmp_path / "browser")
    assert sorted(rendered.page_requests) == [
        "http://example.invalid/x.png",
        "https://example.invalid/b.png",
    ]


def test_record_text_is_escaped(tmp_path, replicas):
    zero, one = replicas
    _baseline(zero, one)
    hostile = '<script>alert(1)</script><img src="http://evil.invalid/x"> & \x01 "q"'
    zero.note(10, hostile)
    _page_path, text = _page(tmp_path, zero.journal)
    assert "<script" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert browser.external_references(text) == []
    (note,) = browser.marks(browser.lanes(browser.svg_of(text))["notes"], "note")
    assert "<script>alert(1)</script>" in browser.tooltip(note)  # unescaped by the parser


def test_a_day_of_a_thousand_restarts_is_aggregated(tmp_path, open_journal):
    controller = Controller(open_journal(tmp_path / "day.db", actor=ZERO))
    controller.started(0)
    controller.acquired(1, epoch=1)
    for n in range(1000):
        controller.restart_chain(60 + n * 86.0, CM, f"app-{n % 2}", f"v{n}")
    timeline = build_timeline([controller.journal])
    text = render_html(timeline)
    assert len(text.encode()) < 1_000_000
    lanes = browser.lanes(browser.svg_of(text))
    total = 0
    for n in range(2):
        restarts = browser.marks(lanes[f"workload:shipshape/app-{n}"], "restart")
        counts = [int(m.get("data-count", "1")) for m in restarts]
        assert max(counts) > 1  # dense: drawn as aggregates with counts
        assert len(restarts) < 300  # at most one per 4 px column
        total += sum(counts)
    assert total == 1000


def test_several_journals_and_a_window(tmp_path, replicas):
    zero, one = replicas
    _baseline(zero, one)
    zero.restart_chain(10, CM, APP, "v1")
    zero.restart_chain(500, CM, APP, "v2")
    _page_path, text = _page(
        tmp_path,
        zero.journal,
        one.journal,
        extra=("--since", "2026-11-26T10:05:00Z", "--until", "2026-11-26T10:10:00Z"),
    )
    lanes = browser.lanes(browser.svg_of(text))
    (restart,) = browser.marks(lanes[f"workload:shipshape/{APP}"], "restart")
    assert "planned 2026-11-26T10:08:25.000000Z" in browser.tooltip(restart)
    assert "UTC, 2026-11-26T10:05:00.000000Z to 2026-11-26T10:10:00.000000Z" in text


def test_replay_text_has_strips_and_counts_without_colour_in_a_pipe(tmp_path, replicas):
    zero, one = replicas
    _baseline(zero, one)
    zero.restart_chain(10, CM, APP, "v1")
    zero.released(30)
    one.acquired(100, epoch=2)
    one.restart_chain(110, CM, APP, "v2")
    args = ["replay", "--journal", zero.journal.location.path, "--journal",
            one.journal.location.path]  # fmt: skip
    piped = _cli(args, tty=False)
    assert "\x1b[" not in piped
    lines = piped.splitlines()
    strip = next(line for line in lines if line.startswith(f"  {ZERO} |"))
    other = next(line for line in lines if line.startswith(f"  {ONE} |"))
    summary = next(line for line in lines if line.startswith("  (any)"))
    assert strip.split("|")[1].startswith("=") and strip.split("|")[1].endswith(".")
    assert other.split("|")[1].startswith(".") and other.split("|")[1].endswith("=")
    assert "-" in summary.split("|")[1]  # the 70 s without a leader
    assert f"  shipshape/{APP}: 2 (patched 2)" in lines
    coloured = _cli(args, tty=True)
    assert "\x1b[32m=\x1b[0m" in coloured
    assert "\x1b[" not in _cli(args, tty=True, env={"NO_COLOR": "1"})


def _cli(args: list[str], *, tty: bool, env: dict[str, str] | None = None) -> str:
    """Run the CLI as a process with stdout a pipe or a terminal; return its output."""
    command = [sys.executable, "-m", "cli.main", *map(str, args)]
    environment = {**os.environ, "TERM": "xterm", **(env or {})}
    environment.pop("NO_COLOR", None) if env is None else None
    if not tty:
        return subprocess.run(
            command, cwd=ROOT, env=environment, capture_output=True, text=True, check=True
        ).stdout
    leader, follower = pty.openpty()
    process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=60) == 0
    return b"".join(chunks).decode()


def test_a_statefulset_and_a_deployment_of_one_name_get_a_lane_each(tmp_path, open_journal):
    controller = Controller(open_journal(tmp_path / "kinds.db", actor=ZERO))
    controller.started(0)
    controller.acquired(1, epoch=1)
    controller.restart_chain(60, CM, "statefulset/db", "v1")
    controller.restart_chain(120, CM, "db", "v2")  # a bare name: the Deployment db
    lanes = browser.lanes(browser.svg_of(render_html(build_timeline([controller.journal]))))
    (sts,) = browser.marks(lanes["workload:statefulset:shipshape/db"], "restart")
    (deploy,) = browser.marks(lanes["workload:shipshape/db"], "restart")
    assert "restart of statefulset/db" in browser.tooltip(sts)
    assert "restart of deployment/db" in browser.tooltip(deploy)
