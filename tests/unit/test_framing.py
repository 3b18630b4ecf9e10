"""JsonlBody: a plain export body is framed in time linear in its size, whatever the length of its lines."""

from __future__ import annotations

import io
import json
import time

import pytest

from mpsql.api.framing import JsonlBody
from mpsql.errors import StreamTruncated


def feed_all(body: JsonlBody, data: bytes, chunk: int) -> None:
    for i in range(0, len(data), chunk):
        body.feed(data[i : i + chunk])
    body.finish()


def test_a_32_mb_line_in_8_kb_chunks_is_framed_in_linear_time():
    # Appending every chunk to one bytes object copied the line so far each time: ~60 GB of copying here.
    line = json.dumps({"event": "e", "properties": {"time": 1, "blob": "x" * 32_000_000}}).encode() + b"\n"
    out = io.BytesIO()
    body = JsonlBody(out, gzip=False)
    started = time.perf_counter()
    feed_all(body, line, 8192)
    assert time.perf_counter() - started < 2.0
    assert out.getvalue() == line
    assert (body.lines, body.bytes) == (1, len(line))


@pytest.mark.parametrize("chunk", [1, 3, 7, 4096])
def test_lines_split_across_any_chunks_arrive_exactly(chunk):
    data = b'{"event":"a","properties":{}}\n{"event":"b","properties":{"x":"' + b"y" * 500 + b'"}}\n'
    out = io.BytesIO()
    body = JsonlBody(out, gzip=False)
    feed_all(body, data, chunk)
    assert out.getvalue() == data
    assert body.lines == 2


@pytest.mark.parametrize("chunk", [1, 5, 4096])
def test_a_body_ending_with_terminated_early_is_truncated(chunk):
    data = b'{"event":"a","properties":{}}\nterminated early\n'
    with pytest.raises(StreamTruncated, match="terminated early"):
        feed_all(JsonlBody(io.BytesIO(), gzip=False), data, chunk)


def test_a_last_line_without_newline_is_kept_only_when_it_is_a_whole_record():
    out = io.BytesIO()
    body = JsonlBody(out, gzip=False)
    feed_all(body, b'{"event":"a","properties":{}}\n{"event":"b","properties":{}}', 4)
    assert out.getvalue().count(b"\n") == 2
    with pytest.raises(StreamTruncated, match="mid-record after 1 lines"):
        feed_all(JsonlBody(io.BytesIO(), gzip=False), b'{"event":"a","properties":{}}\n{"event":"b","pro', 4)
