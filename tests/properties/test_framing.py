"""JsonlBody: any chunking of a whole body (plain or gzip) yields exactly its lines; any cut is loud."""

from __future__ import annotations

import gzip
import io
import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpsql.api.framing import JsonlBody
from mpsql.errors import StreamTruncated

# Property values of every JSON type, with multi-byte characters so cuts land inside UTF-8 sequences too.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
records = st.lists(
    st.fixed_dictionaries({"event": st.sampled_from(["Sign Up", "Purchase", "Página vista", "購入"]),
                           "properties": st.dictionaries(st.text(min_size=1, max_size=8), json_values,
                                                         max_size=4)}),
    max_size=25,
)


def body_of(recs: list[dict]) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in recs)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def run(chunks: list[bytes], compressed: bool) -> tuple[bytes, JsonlBody]:
    out = io.BytesIO()
    body = JsonlBody(out, gzip=compressed)
    for chunk in chunks:
        body.feed(chunk)
    body.finish()
    return out.getvalue(), body


@settings(max_examples=150, deadline=None)
@given(recs=records, cuts=st.lists(st.integers(min_value=0), max_size=30), compressed=st.booleans())
def test_any_chunking_gives_back_every_record(recs, cuts, compressed):
    plain = body_of(recs)
    wire = gzip.compress(plain) if compressed else plain
    written, body = run(split(wire, cuts), compressed)
    assert written == plain
    assert [json.loads(line) for line in written.splitlines()] == recs
    assert body.lines == len(recs)
    assert body.wire_bytes == len(wire)


@settings(max_examples=150, deadline=None)
@given(recs=records.filter(lambda r: len(r) > 0), cut=st.integers(min_value=1), compressed=st.booleans(),
       cuts=st.lists(st.integers(min_value=0), max_size=8))
def test_a_body_cut_anywhere_fails_loudly_or_is_whole_records(recs, cut, compressed, cuts):
    plain = body_of(recs)
    wire = gzip.compress(plain) if compressed else plain
    stop = cut % len(wire)  # strictly shorter than the whole body
    try:
        written, _ = run(split(wire[:stop], cuts), compressed)
    except StreamTruncated:
        return
    # Only a plain body cut exactly after a newline (or before the last one) can pass: it is whole records.
    assert not compressed or stop == 0
    lines = written.splitlines()
    assert [json.loads(line) for line in lines] == recs[: len(lines)]


def test_terminated_early_line_is_a_failure():
    with pytest.raises(StreamTruncated, match="terminated early"):
        run([body_of([{"event": "a", "properties": {}}]) + b"terminated early\n"], False)
    with pytest.raises(StreamTruncated, match="terminated early"):
        run([gzip.compress(b'{"event":"a","properties":{}}\nterminated early')], True)


def test_last_record_without_newline_is_kept():
    written, body = run([b'{"event":"a","properties":{}}\n{"event":"b","properties":{}}'], False)
    assert written.splitlines()[-1] == b'{"event":"b","properties":{}}'
    assert body.lines == 2


def test_corrupt_gzip_fails():
    data = bytearray(gzip.compress(body_of([{"event": "a", "properties": {"x": 1}}] * 50)))
    data[20] ^= 0xFF
    with pytest.raises(StreamTruncated):
        run([bytes(data)], True)


def test_empty_body_is_empty():
    written, body = run([], False)
    assert written == b"" and body.lines == 0


@settings(max_examples=50, deadline=None)
@given(parts=st.lists(records, min_size=1, max_size=4), cuts=st.lists(st.integers(min_value=0), max_size=20))
def test_gzip_members_back_to_back_are_one_body(parts, cuts):
    plain = b"".join(body_of(p) for p in parts)
    wire = b"".join(gzip.compress(body_of(p)) for p in parts)
    written, _ = run(split(wire, cuts), True)
    assert written == plain
