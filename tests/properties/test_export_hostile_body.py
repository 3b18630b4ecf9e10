"""A body mixing real events with arbitrary JSON values, garbage and truncation gives back exactly the events that
were sent, or fails clearly: never a row that was not sent, never a row of NULLs.

This drives the real path of one window (chunks -> inflate -> JsonlBody -> DuckDB's JSON reader -> checks).
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import math
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mpsql.errors import InvalidResponse, StreamTruncated
from tests.properties.test_export_body import fetch

DAY = dt.date(2024, 3, 1)
START = 1_709_251_200  # 2024-03-01 00:00:00 UTC

scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=False, allow_infinity=False)
           | st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)

events = st.builds(
    lambda name, offset, in_ms, extra: {"event": name, "properties": {
        "time": (START + offset) * 1000 if in_ms else START + offset, "distinct_id": f"u{offset}", **extra}},
    st.text(min_size=1, max_size=10), st.integers(min_value=0, max_value=86_399), st.booleans(),
    st.dictionaries(st.text(min_size=1, max_size=6).filter(lambda k: k != "time"), json_values, max_size=3),
)
# Things a hostile or broken server might put on a line instead: any JSON value, near-events, error objects.
impostors = st.one_of(
    json_values,
    st.builds(lambda v: {"error": v}, st.text(max_size=20)),
    st.builds(lambda name, t: {"event": name, "properties": {"time": t}}, json_values, json_values),
    st.builds(lambda props: {"event": "x", "properties": props}, json_values),
)
lines = st.one_of(st.lists(events, min_size=1, max_size=12),  # half the bodies are sound: all must come back
                  st.lists(st.one_of(events, events, impostors), min_size=1, max_size=12))


def is_event(value: object) -> bool:
    """Whether a line is one mp_export must serve: an event named by a string, with a numeric time on DAY."""
    if not (isinstance(value, dict) and isinstance(value.get("event"), str)
            and isinstance(value.get("properties"), dict)):
        return False
    t = value["properties"].get("time")
    if isinstance(t, bool) or not isinstance(t, int | float) or not 0 < t < 1e14:
        return False
    seconds = t / 1000 if t >= 1e11 else t
    return dt.datetime.fromtimestamp(math.floor(seconds), dt.UTC).date() == DAY


def encode(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode() + b"\n"


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(body=lines, garbage=st.sampled_from([b"", b"", b"", b"<html>502 Bad Gateway</html>\n", b"\x00\xff\xfe\n"]),
       cut=st.integers(min_value=0, max_value=10_000), truncate=st.sampled_from([False, False, False, True]),
       compressed=st.booleans(),
       chunk=st.integers(min_value=1, max_value=4096), part_bytes=st.sampled_from([64, 1000, 1 << 24]))
def test_the_rows_are_exactly_the_events_sent_or_the_window_fails(body, garbage, cut, truncate, compressed, chunk,
                                                                  part_bytes):
    data = b"".join(encode(v) for v in body)
    at = cut % (len(data) + 1)
    data = data[:at] + garbage + data[at:]
    if truncate:
        data = data[: max(0, len(data) - 1 - cut % 40)]
    wire = gzip.compress(data) if compressed else data
    pieces = [wire[i:i + chunk] for i in range(0, len(wire), chunk)]
    try:
        got = fetch(Path(tempfile.mkdtemp()), pieces, compressed, part_bytes)
    except (InvalidResponse, StreamTruncated) as exc:
        assert str(exc).startswith("export: ")  # a clear error, naming what failed
        event(f"failed: {type(exc).__name__}")
        return
    event("served")
    # No error: every line that arrived was an event, and each came back once, in order, exactly as sent.
    sent = [json.loads(line) for line in data.splitlines() if line.strip()]
    assert all(is_event(v) for v in sent)
    assert got == sent
