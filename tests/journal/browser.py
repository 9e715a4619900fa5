"""Render a page in headless Chromium and read back what it showed and fetched.

Real browser, no mocks: Debian's ``chromium`` takes a screenshot of a
``file://`` page at 1,400 x 900 while writing a network log. The PNG is
decoded with the standard library (zlib and the five PNG row filters), and
the log is searched for requests the page made (those with an initiator;
the browser's own background requests carry ``not an origin``).
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import pytest

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--window-size=1400,900",
)
_EXTERNAL = re.compile(
    r"""(?:\b(?:src|href|xlink:href|action|poster|data)\s*=\s*["']?\s*(?:https?:|ftp:|//))"""
    r"""|(?:url\(\s*["']?\s*(?:https?:|//))|(?:@import)""",
    re.IGNORECASE,
)


def chromium() -> str:
    """Return the Chromium executable; fail (never skip) when it is missing."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("chromium is not installed (make test installs Debian's chromium package)")


@dataclass
class Rendered:
    """What the browser made of a page."""

    png: Path
    page_requests: list[str]


def render(page: Path, workdir: Path) -> Rendered:
    """Screenshot ``page`` and return the PNG and the URLs the page requested."""
    workdir.mkdir(parents=True, exist_ok=True)
    shot, netlog = workdir / "shot.png", workdir / "net.json"
    result = subprocess.run(
        [
            chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={workdir / 'profile'}",
            f"--log-net-log={netlog}",
            f"--screenshot={shot}",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.exists(), result.stderr[-2000:]
    return Rendered(png=shot, page_requests=page_requests(netlog))


def page_requests(netlog: Path) -> list[str]:
    """Return the URLs of requests a page started (not the browser's own), in the net log."""
    log = json.loads(netlog.read_text())
    names = {value: key for key, value in log["constants"]["logEventTypes"].items()}
    urls = []
    for event in log["events"]:
        params = event.get("params") or {}
        if names.get(event["type"]) != "URL_REQUEST_START_JOB" or "url" not in params:
            continue
        if params.get("initiator", "not an origin") != "not an origin":
            urls.append(params["url"])
    return urls


def external_references(page_text: str) -> list[str]:
    """Return every reference in the page's text to something outside it."""
    return [match.group(0) for match in _EXTERNAL.finditer(page_text)]


def decode_png(path: Path) -> tuple[int, int, int, bytes]:
    """Return ``(width, height, channels, pixels)`` of an 8-bit RGB(A) PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    offset, idat = 8, []
    width = height = channels = 0
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _c, _f, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat.append(body)
        offset += 12 + length
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels
    previous = bytearray(stride)
    out = bytearray()
    position = 0
    for _ in range(height):
        kind, row = raw[position], bytearray(raw[position + 1 : position + 1 + stride])
        position += 1 + stride
        if kind == 1:
            for i in range(channels, stride):
                row[i] = (row[i] + row[i - channels]) & 255
        elif kind == 2:
            row = bytearray((a + b) & 255 for a, b in zip(row, previous, strict=True))
        elif kind == 3:
            for i in range(stride):
                left = row[i - channels] if i >= channels else 0
                row[i] = (row[i] + ((left + previous[i]) >> 1)) & 255
        elif kind == 4:
            for i in range(stride):
                a = row[i - channels] if i >= channels else 0
                b = previous[i]
                c = previous[i - channels] if i >= channels else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                predictor = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                row[i] = (row[i] + predictor) & 255
        out += row
        previous = row
    return width, height, channels, bytes(out)


def colours(path: Path) -> dict[tuple[int, int, int], int]:
    """Return how many pixels of each RGB colour the PNG has."""
    width, height, channels, pixels = decode_png(path)
    counts: dict[tuple[int, int, int], int] = {}
    for i in range(0, width * height * channels, channels):
        key = (pixels[i], pixels[i + 1], pixels[i + 2])
        counts[key] = counts.get(key, 0) + 1
    return counts


def svg_of(page_text: str) -> ElementTree.Element:
    """Parse the page's timeline ``<svg>`` as XML (it must be well formed)."""
    start = page_text.index('<svg class="timeline"')
    end = page_text.index("</svg>", start) + len("</svg>")
    return ElementTree.fromstring(page_text[start:end])


def lanes(svg: ElementTree.Element) -> dict[str, ElementTree.Element]:
    """Return the SVG's lane groups by their ``data-lane`` key."""
    return {g.get("data-lane", ""): g for g in svg.iter("g") if g.get("class") == "lane"}


def marks(lane: ElementTree.Element, category: str) -> list[ElementTree.Element]:
    """Return a lane's marks of one category (singles and aggregates)."""
    return [e for e in lane.iter() if e.get("data-cat") == category]


def tooltip(element: ElementTree.Element) -> str:
    """Return the text of a mark's ``<title>`` (its hover details)."""
    title = element.find("title")
    return "" if title is None else (title.text or "")
