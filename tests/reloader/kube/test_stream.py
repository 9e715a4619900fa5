"""The watch stream reader: its chunked-coding decoder and its coalescing window."""

from __future__ import annotations

import pytest
import urllib3.exceptions

from reloader.kube.stream import _Dechunker, next_window

BODY = b'{"type":"ADDED"}\n{"type":"MODIFIED","object":{"data":{"K":"\\r\\n"}}}\n'


def encode(*pieces: bytes, extension: bytes = b"") -> bytes:
    out = b"".join(b"%x%s\r\n%s\r\n" % (len(p), extension, p) for p in pieces)
    return out + b"0\r\n\r\n"


@pytest.mark.parametrize("step", [1, 2, 3, 7, 64, 10_000])
def test_a_body_fed_in_pieces_of_any_size_comes_back_whole(step):
    wire = encode(BODY[:5], BODY[5:40], BODY[40:])
    dechunker = _Dechunker()
    out = b"".join(dechunker.feed(wire[i : i + step]) for i in range(0, len(wire), step))
    assert out == BODY
    assert dechunker.done


def test_chunk_extensions_are_ignored_and_the_body_ends_at_the_last_chunk():
    dechunker = _Dechunker()
    assert dechunker.feed(encode(BODY, extension=b";name=value") + b"trailer: x\r\n") == BODY
    assert dechunker.done


def test_an_unfinished_body_is_not_done():
    dechunker = _Dechunker()
    assert dechunker.feed(b"5\r\nhel") == b"hel"
    assert not dechunker.done
    assert dechunker.feed(b"lo\r\n") == b"lo"
    assert not dechunker.done


@pytest.mark.parametrize(
    "wire",
    [b"zz\r\nhello\r\n", b"5\r\nhelloXX", b"f" * 5000],
    ids=["bad size", "no CRLF after the data", "endless size line"],
)
def test_a_malformed_coding_is_a_protocol_error(wire):
    with pytest.raises(urllib3.exceptions.ProtocolError):
        _Dechunker().feed(wire)


def test_a_busy_stream_widens_its_window_up_to_the_busy_one_and_one_event_narrows_it():
    quiet, busy = 0.05, 0.25
    window, seen = quiet, []
    for events in (5, 9, 12, 30, 40, 1, 3, 0, 2):
        window = next_window(window, events, quiet=quiet, busy=busy)
        seen.append(window)
    assert seen == [0.1, 0.2, 0.25, 0.25, 0.25, quiet, 0.1, quiet, 0.1]
    # A fixed window (busy no wider than quiet) never changes.
    assert next_window(quiet, 50, quiet=quiet, busy=quiet) == quiet
    # No coalescing at all stays none, however busy.
    assert next_window(0.0, 50, quiet=0.0, busy=0.0) == 0.0
