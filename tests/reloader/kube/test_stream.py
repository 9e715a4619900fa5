"""The chunked-coding decoder of the watch stream reader."""

from __future__ import annotations

import pytest
import urllib3.exceptions

from reloader.kube.stream import _Dechunker

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
