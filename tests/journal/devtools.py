"""Open a page in headless Chromium over the DevTools protocol and ask what it laid out.

Real browser, no mocks: Debian's ``chromium`` loads a ``file://`` page at
1,400 x 900 with remote debugging on a port of its choosing (read back from
``DevToolsActivePort``), and the test talks to it over a WebSocket
(``websocket-client``, which the Kubernetes client brings). The page's own
Content-Security-Policy does not apply to what DevTools evaluates, so the
test can measure the SVG's text boxes (``getBBox``) while the page itself
still runs no script. Console messages, uncaught exceptions, the browser's
log (CSP violations among them) and every request the page started are kept.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websocket

from tests.journal.browser import CHROMIUM_FLAGS, chromium

#: Every ``<text>`` of the timeline with its box, in the SVG's own units.
_TEXT_BOXES = """
(() => {
  const svg = document.querySelector('svg.timeline');
  const view = svg.viewBox.baseVal;
  const boxes = [...svg.querySelectorAll('text')].map(t => {
    const b = t.getBBox();
    return {text: t.textContent, x: b.x, y: b.y, w: b.width, h: b.height};
  });
  return {width: view.width, height: view.height, boxes: boxes};
})()
"""
#: Per lane: the boxes of its marks and of the labels drawn in its plot.
_LANE_BOXES = """
(() => {
  const box = (e, text) => {
    const b = e.getBBox();
    return {text: text, x: b.x, y: b.y, w: b.width, h: b.height};
  };
  return [...document.querySelectorAll('svg.timeline .lane')].map(lane => ({
    lane: lane.dataset.lane,
    marks: [...lane.querySelectorAll('.m')].map(m => box(m, m.dataset.cat)),
    labels: [...lane.querySelectorAll(':scope > text:not(.lt):not(.lc), :scope > text.lc[x]')]
      .filter(t => parseFloat(t.getAttribute('x')) >= 250)
      .map(t => box(t, t.textContent)),
  }));
})()
"""


@dataclass
class Box:
    """A laid-out element's box in the SVG's units (``text`` for a text element)."""

    text: str
    x: float
    y: float
    w: float
    h: float

    def overlaps(self, other: Box, slack: float = 0.5) -> bool:
        """Tell whether the two boxes share more than ``slack`` in both directions."""
        dx = min(self.x + self.w, other.x + other.w) - max(self.x, other.x)
        dy = min(self.y + self.h, other.y + other.h) - max(self.y, other.y)
        return dx > slack and dy > slack


@dataclass
class Page:
    """A page loaded in Chromium: evaluate expressions, read what it logged and fetched."""

    socket: websocket.WebSocket
    events: list[dict[str, Any]] = field(default_factory=list)
    _id: int = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one DevTools command and return its result."""
        self._id += 1
        self.socket.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self._id:
                assert "error" not in message, message["error"]
                return message["result"]
            self.events.append(message)

    def evaluate(self, expression: str) -> Any:
        """Return the value of a JavaScript expression evaluated in the page."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def problems(self) -> list[str]:
        """Console messages, uncaught exceptions and browser log entries (warnings and errors)."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled":
                found.append(f"console.{params['type']}: {params.get('args')}")
            elif method == "Runtime.exceptionThrown":
                found.append(f"exception: {params['exceptionDetails']}")
            elif method == "Log.entryAdded" and params["entry"]["level"] in ("warning", "error"):
                found.append(f"log: {params['entry']['text']}")
        return found

    def requests(self) -> list[str]:
        """The URLs of every request the page made (its own file included)."""
        return [
            event["params"]["request"]["url"]
            for event in self.events
            if event.get("method") == "Network.requestWillBeSent"
        ]

    def text_boxes(self) -> tuple[float, float, list[Box]]:
        """Return the timeline's ``(width, height, text boxes)``."""
        laid = self.evaluate(_TEXT_BOXES)
        return laid["width"], laid["height"], [Box(**box) for box in laid["boxes"]]

    def lane_boxes(self) -> dict[str, tuple[list[Box], list[Box]]]:
        """Return each lane's ``(mark boxes, label boxes)`` (labels in the plot only)."""
        return {
            lane["lane"]: (
                [Box(**mark) for mark in lane["marks"]],
                [Box(**label) for label in lane["labels"]],
            )
            for lane in self.evaluate(_LANE_BOXES)
        }


@contextlib.contextmanager
def open_page(page: Path, workdir: Path) -> Iterator[Page]:
    """Load ``page`` in a new headless Chromium; yield it once loaded; stop the browser."""
    workdir.mkdir(parents=True, exist_ok=True)
    profile = workdir / "profile"
    process = subprocess.Popen(
        [
            chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port = _port(profile / "DevToolsActivePort", process)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=30) as answer:
            targets = json.load(answer)
        target = next(t for t in targets if t["type"] == "page")
        socket = websocket.create_connection(target["webSocketDebuggerUrl"], timeout=60)
        try:
            loaded = Page(socket)
            for domain in ("Runtime", "Log", "Network", "Page"):
                loaded.call(f"{domain}.enable")
            loaded.call("Page.navigate", url=page.resolve().as_uri())
            deadline = time.monotonic() + 60
            while not any(e.get("method") == "Page.loadEventFired" for e in loaded.events):
                assert time.monotonic() < deadline, "the page did not finish loading"
                loaded.events.append(json.loads(socket.recv()))
            yield loaded
        finally:
            socket.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _port(active: Path, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "chromium exited before it listened"
        if active.exists():
            lines = active.read_text().splitlines()
            if len(lines) >= 2:
                return lines[0]
        time.sleep(0.05)
    raise AssertionError("chromium did not open its DevTools port")
