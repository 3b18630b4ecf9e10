"""An export body split anywhere (plain or gzip) gives back every record; a body cut anywhere fails loudly.

This drives the real path of one window: raw chunks -> JsonlBody -> temporary file -> DuckDB's JSON reader.
"""

from __future__ import annotations

import datetime as dt
import gzip
import itertools
import json
import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mpsql.errors import InvalidResponse, StreamTruncated
from mpsql.functions.export import PART_BYTES, SCHEMA, RowFilter, Window
from mpsql.store.days import Selection

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
records = st.lists(
    st.builds(
        lambda event, n, extra: {"event": event, "properties": {
            "time": 1_709_251_200 + n, "distinct_id": f"u{n}", "$insert_id": f"id-{n}", **extra}},
        st.sampled_from(["Sign Up", "Purchase", "Página vista", "購入"]),
        st.integers(min_value=0, max_value=86_000),
        st.dictionaries(st.text(min_size=1, max_size=8).filter(lambda k: k not in {"time", "distinct_id"}),
                        json_values, max_size=4),
    ),
    min_size=1, max_size=25, unique_by=lambda r: r["properties"]["$insert_id"],
)


def body_of(recs: list[dict]) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in recs)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in itertools.pairwise([0, *points, len(data)])]


DAY = dt.date(2024, 3, 1)  # every generated record's time falls on this UTC day


def fetch(tmp_path, chunks: list[bytes], compressed: bool, part_bytes: int = PART_BYTES) -> list[dict]:
    """What the client does with one attempt's chunks; returns the window's rows as records.

    ``part_bytes`` small makes the body parse in many parts while it is still arriving (however fast it comes)."""
    scratch = Path(tempfile.mkdtemp(dir=tmp_path))
    window = Window(scratch, 0, DAY, DAY, Selection(), part_bytes=part_bytes, part_slower_than=math.inf)(compressed)
    try:
        for chunk in chunks:
            window.feed(chunk)
        window.finish()
        window.parsed.set()
        rows = [r for batch in window.read(RowFilter(dedupe=False), SCHEMA.names) for r in batch.to_pylist()]
    finally:
        window.close()
        window.release()
        window.release()
    return [{"event": r["event"], "properties": json.loads(r["properties"])} for r in rows]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(recs=records, cuts=st.lists(st.integers(min_value=0), max_size=30), compressed=st.booleans(),
       part_bytes=st.sampled_from([1, 50, 300, PART_BYTES]))
def test_any_chunking_gives_back_every_record(tmp_path, recs, cuts, compressed, part_bytes):
    plain = body_of(recs)
    wire = gzip.compress(plain) if compressed else plain
    assert fetch(tmp_path, split(wire, cuts), compressed, part_bytes) == recs


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(recs=records, cut=st.integers(min_value=1), compressed=st.booleans(),
       cuts=st.lists(st.integers(min_value=0), max_size=8), part_bytes=st.sampled_from([1, 120, PART_BYTES]))
def test_a_body_cut_anywhere_fails_loudly_or_is_whole_records(tmp_path, recs, cut, compressed, cuts, part_bytes):
    plain = body_of(recs)
    wire = gzip.compress(plain) if compressed else plain
    stop = cut % len(wire)  # strictly shorter than the whole body
    try:
        got = fetch(tmp_path, split(wire[:stop], cuts), compressed, part_bytes)
    except StreamTruncated:
        return
    # Only a plain body cut right after a newline can pass, and then it is whole records (the HTTP layer is what
    # notices that such a body ended early: a chunked body without its last chunk is a transport error).
    assert not compressed or stop == 0
    assert got == recs[: len(got)]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(records, min_size=1, max_size=3), cuts=st.lists(st.integers(min_value=0), max_size=20))
def test_gzip_members_back_to_back_are_one_body(tmp_path, parts, cuts):
    wire = b"".join(gzip.compress(body_of(p)) for p in parts)
    assert fetch(tmp_path, split(wire, cuts), True) == [r for p in parts for r in p]


@pytest.mark.parametrize("compressed", [False, True])
def test_terminated_early_line_is_a_failure(tmp_path, compressed):
    body = body_of([{"event": "a", "properties": {"time": 1, "distinct_id": "u"}}]) + b"terminated early\n"
    with pytest.raises(StreamTruncated):
        fetch(tmp_path, [gzip.compress(body) if compressed else body], compressed)


def test_last_record_without_newline_is_kept(tmp_path):
    got = fetch(tmp_path, [b'{"event":"a","properties":{"time":1709251200}}\n'
                           b'{"event":"b","properties":{"time":1709251201}}'], False)
    assert [r["event"] for r in got] == ["a", "b"]


def test_corrupt_gzip_fails(tmp_path):
    data = bytearray(gzip.compress(body_of([{"event": "a", "properties": {"x": 1}}] * 50)))
    data[20] ^= 0xFF
    with pytest.raises(StreamTruncated):
        fetch(tmp_path, [bytes(data)], True)


def test_empty_body_is_empty(tmp_path):
    assert fetch(tmp_path, [], False) == []


def _records(n: int) -> list[dict]:
    return [{"event": "e", "properties": {"time": 1_709_251_200 + i, "distinct_id": f"u{i}", "$insert_id": f"i{i}"}}
            for i in range(n)]


def test_a_second_attempt_starts_from_nothing_after_parts_of_the_first_were_parsed(tmp_path):
    recs = _records(40)
    plain = body_of(recs)
    window = Window(Path(tempfile.mkdtemp(dir=tmp_path)), 0, DAY, DAY, Selection(), part_bytes=200,
                    part_slower_than=math.inf)
    try:
        window(False)
        for i in range(0, len(plain) // 2, 97):  # the first attempt dies half way, several parts parsed
            window.feed(plain[i:i + 97])
        window(False)
        for i in range(0, len(plain), 97):
            window.feed(plain[i:i + 97])
        window.finish()
        rows = [r for b in window.read(RowFilter(dedupe=False), SCHEMA.names) for r in b.to_pylist()]
    finally:
        window.close()
        window.release()
        window.release()
    assert [r["distinct_id"] for r in rows] == [f"u{i}" for i in range(40)]


@pytest.mark.parametrize("bad", [b"[1, 2]\n", b'{"event": "e", "properties": {"time": "soon"}}\n'])
def test_a_bad_line_in_a_later_part_is_named_by_its_line_in_the_whole_body(tmp_path, bad):
    plain = body_of(_records(30))
    lines = plain.splitlines(keepends=True)
    body = b"".join(lines[:25]) + bad + b"".join(lines[25:])
    with pytest.raises(InvalidResponse, match=r"line 26 of the body"):
        fetch(tmp_path, [body[i:i + 64] for i in range(0, len(body), 64)], False, part_bytes=150)


def test_a_body_that_arrives_faster_than_a_parse_is_parsed_whole(tmp_path):
    """Parts only pay off while the network is the bottleneck: a fast body is one part, parsed once in."""
    plain = body_of(_records(200))
    window = Window(Path(tempfile.mkdtemp(dir=tmp_path)), 0, DAY, DAY, Selection(), part_bytes=100,
                    part_slower_than=1.0)  # any body arrives faster than one byte a second
    try:
        window(False)
        for i in range(0, len(plain), 500):
            window.feed(plain[i:i + 500])
        assert window._parts == []  # nothing handed to the lane while it was arriving
        window.finish()
        assert window.rows == 200
    finally:
        window.close()
        window.release()
        window.release()
