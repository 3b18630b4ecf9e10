"""Every line of an export body must be an event: anything else fails the statement loudly, never a row of NULLs.

A server (or a proxy in front of it) answering 200 with an error object, a `null`, `{}`, a list for `properties`,
`time: true` or a time in milliseconds must not turn into invented rows; well-formed JSON of the wrong shape is
not retried as if the body had been cut.
"""

from __future__ import annotations

import json

import duckdb
import pytest

from mpsql.emulator.proto import Response, Route
from tests.integration.test_export import export_requests

DAY = "'2024-03-04', '2024-03-04'"
T = 1_709_510_400  # 2024-03-04 00:00:00 UTC
GOOD = {"event": "Purchase", "properties": {"time": T + 60, "distinct_id": "u1", "$insert_id": "a1"}}


@pytest.fixture
def serve_lines(emulator):
    """Make the emulator's export answer 200 with the given lines (one JSONL body)."""
    saved = dict(emulator.routes)

    def serve(*lines: str) -> None:
        body = "".join(line + "\n" for line in lines).encode()
        emulator.add_route("/api/2.0/export", Route(lambda emu, req: Response(stream=iter([body])), "export",
                                                    ("GET",)))

    yield serve
    emulator.routes.clear()
    emulator.routes.update(saved)


@pytest.mark.parametrize("line", [
    pytest.param('{"error": "Query rate limit exceeded"}', id="an-error-object"),
    pytest.param("null", id="null"),
    pytest.param("{}", id="empty-object"),
    pytest.param('{"event": "Purchase", "properties": [1, 2]}', id="properties-a-list"),
    pytest.param('{"event": "Purchase", "properties": {"time": true, "distinct_id": "u"}}', id="time-true"),
    pytest.param('{"event": "Purchase", "properties": {"time": "2024-03-04", "distinct_id": "u"}}', id="time-text"),
    pytest.param('{"event": 7, "properties": {"time": 1709510460, "distinct_id": "u"}}', id="event-not-text"),
    pytest.param('{"event": "Purchase", "properties": {"distinct_id": "u"}}', id="no-time"),
    pytest.param('[{"event": "Purchase"}]', id="a-list"),
])
def test_a_line_that_is_not_an_event_fails_the_statement_naming_it(con, emulator, serve_lines, line):
    serve_lines(json.dumps(GOOD), line)
    with pytest.raises(duckdb.Error, match=r"line 2 of the body for 2024-03-04\.\.2024-03-04 is not a Mixpanel event"):
        con.execute(f"SELECT * FROM mp_export({DAY})").fetchall()
    assert len(export_requests(emulator)) == 1  # the same request would get the same answer: not retried


def test_events_outside_the_requested_days_fail_the_statement(con, emulator, serve_lines):
    stray = {"event": "Purchase", "properties": {"time": T - 3600, "distinct_id": "u2"}}
    serve_lines(json.dumps(GOOD), json.dumps(stray))
    with pytest.raises(duckdb.Error, match="holds events outside those days"):
        con.execute(f"SELECT * FROM mp_export({DAY})").fetchall()


def test_a_time_in_milliseconds_is_read_as_milliseconds(con, emulator, serve_lines):
    in_ms = {"event": "Purchase", "properties": {"time": (T + 90) * 1000 + 250, "distinct_id": "u3"}}
    serve_lines(json.dumps(GOOD), json.dumps(in_ms))
    rows = con.execute(f"SELECT distinct_id, epoch_ms(time) FROM mp_export({DAY}) ORDER BY 1").fetchall()
    assert rows == [("u1", (T + 60) * 1000), ("u3", (T + 90) * 1000 + 250)]  # not the year 55969


def test_a_record_far_larger_than_mixpanel_allows_is_read_whole_in_one_request(con, emulator, serve_lines):
    # Mixpanel caps an event at 1 MB; DuckDB 2.0's reader takes a 17 MB line whole, so nothing is retried or cut.
    huge = {"event": "Purchase", "properties": {"time": T, "distinct_id": "u", "blob": "x" * 17_000_000}}
    serve_lines(json.dumps(GOOD), json.dumps(huge))
    rows = con.execute(f"SELECT distinct_id, length(properties->>'$.blob') FROM mp_export({DAY}) ORDER BY 1"
                       ).fetchall()
    assert rows == [("u", 17_000_000), ("u1", None)]
    assert len(export_requests(emulator)) == 1
