"""A JSON response body arrives whole however it is chunked and compressed, or fails loudly (then it is retried)."""

from __future__ import annotations

import gzip
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mpsql.api.client import _BytesSink
from mpsql.errors import StreamTruncated

DOC = {"results": [{"$distinct_id": f"u_{i}", "$properties": {"$city": "東京", "n": i}} for i in range(300)]}
RAW = json.dumps(DOC, ensure_ascii=False).encode()
GZ = gzip.compress(RAW)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@given(st.lists(st.integers(min_value=0), max_size=20), st.booleans())
def test_any_chunking_of_a_plain_or_gzip_body_gives_back_the_document(cuts, compressed):
    sink = _BytesSink(compressed)
    for chunk in split(GZ if compressed else RAW, cuts):
        sink.feed(chunk)
    sink.finish()
    assert json.loads(sink.body) == DOC


@given(st.integers(min_value=1, max_value=len(GZ) - 1))
def test_a_gzip_body_cut_short_is_a_truncated_stream(length):
    sink = _BytesSink(True)
    with pytest.raises(StreamTruncated):
        sink.feed(GZ[:length])
        sink.finish()


def test_a_corrupt_gzip_body_is_a_truncated_stream():
    sink = _BytesSink(True)
    with pytest.raises(StreamTruncated):
        sink.feed(GZ[:20] + b"\x00" * 50 + GZ[70:])
        sink.finish()
