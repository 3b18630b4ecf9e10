"""Saved reports: ``mp_insight`` (``GET /insights``) and ``mp_flows`` (``GET /arb_funnels``); docs/mixpanel-api.md,
"Insights and Flows".

``mp_insight(bookmark_id)`` -> ``date TIMESTAMP, metric VARCHAR, segment VARCHAR, value DOUBLE``, one row per
date x metric x segment. Insights answers ``{"headers": [...], "series": {...}}`` where ``headers`` names the
nesting of ``series``: the first level is the metric (``$event``: the event or formula name), every further
level a breakdown, and the innermost maps ISO datetimes to numbers. So:

- ``metric`` is the first-level key; ``segment`` is ``$overall`` without breakdowns, else the breakdown values
  joined with ``' / '`` (a breakdown's own ``$overall`` key stays ``$overall`` at the top level and is dropped
  deeper down, so ``'US / $overall'`` reads ``'US'``).
- ``date`` is the bucket's wall-clock start in the project's time zone: Insights keys carry the project's
  offset (``2020-08-31T00:00:00-07:00``), which is dropped so rows read like the other reports' buckets.
- A number under a non-date key (a report without a time axis) gets ``date`` NULL and the key in ``segment``.

The report's own date range applies (Insights takes no dates). Insights may fail "softly" with HTTP 200 and an
``error`` key; that is raised as an error, never returned as rows.

``mp_flows(bookmark_id)`` reads a saved Flows report. Mixpanel documents no Query API endpoint for Flows;
Mixpanel's web app and mixpanel_data read it from ``GET /arb_funnels?bookmark_id=&query_type=flows_sankey``,
an undocumented endpoint that may change. Its ``steps`` list one column of the Sankey diagram each, with
``nodes`` (an event and its user count) whose ``edges`` lead to nodes of a later step. Rows::

    kind VARCHAR, step INTEGER, event VARCHAR, type VARCHAR, next_step INTEGER, next_event VARCHAR,
    next_type VARCHAR, count BIGINT

- ``kind = 'node'``: ``count`` users were at ``event`` in position ``step`` (0-based, Mixpanel's own index;
  the anchor is where the report starts); ``type`` is Mixpanel's node type (``ANCHOR``, ``NORMAL``,
  ``DROPOFF``, ...). A step's drop-off total, where the answer gives one, is a ``DROPOFF`` node with no event.
- ``kind = 'edge'``: ``count`` users went from ``event`` at ``step`` to ``next_event`` at ``next_step``.

Summing ``count`` over one ``kind`` never double-counts. The report's ``breakdowns`` and
``overallConversionRate`` are not rows; ``mp_query('arb_funnels', ...)`` returns the whole answer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from pydantic import Field

from mpsql.errors import ArgumentError, MpsqlError
from mpsql.functions._args import ProjectArgs
from mpsql.functions._reports import OVERALL, bucket_time, count, expect, is_time_key, number
from mpsql.functions._rows import REPORT_TTL, Call, cache_ttl, rows_function

SEPARATOR = " / "


class BookmarkArgs(ProjectArgs):
    bookmark_id: int | None = Field(default=None, ge=0)
    account: str | None = None

    def check(self, function: str, today: dt.date) -> None:
        if self.bookmark_id is None:
            raise ArgumentError(function, "bookmark_id", "is required",
                                "the report id in a board URL: ...#...report-<bookmark_id>")


# ---------------------------------------------------------------------------------------------- mp_insight


def _insight(call: Call[BookmarkArgs]) -> Iterator[tuple[Any, ...]]:
    body = expect(call.function, call.fetch("query", "/insights", {"bookmark_id": call.args.bookmark_id},
                                            ttl=cache_ttl(REPORT_TTL)), dict, "/insights")
    series = expect(call.function, body.get("series") or {}, dict, "/insights series")
    rows = []
    for metric, node in series.items():
        for path, key, value in _leaves(call.function, node, []):
            when = bucket_time(call.function, key) if key is not None else None
            rows.append((when, str(metric), _segment(path), number(value)))
    # By date (undated rows last); sorting is stable, so Mixpanel's metric and segment order stays within a date.
    rows.sort(key=lambda r: (r[0] is None, r[0] or dt.datetime.min))
    return iter(rows)


def _leaves(function: str, node: Any, path: list[str]) -> Iterator[tuple[list[str], str | None, Any]]:
    """``(segment path, date key or None, number)`` for every number under ``node``."""
    if isinstance(node, dict):
        if node and all(is_time_key(k) for k in node):
            for key, value in node.items():
                if isinstance(value, dict | list):
                    raise MpsqlError(f"{function}: this saved report's values are not numbers (a funnel or "
                                     "retention report?); mp_query('insights', params := {bookmark_id: ...}) "
                                     "returns its raw answer")
                yield path, key, value
            return
        for key, value in node.items():
            yield from _leaves(function, value, [*path, str(key)])
        return
    if isinstance(node, list):
        raise MpsqlError(f"{function}: this saved report's series hold lists, not numbers; "
                         "mp_query('insights', ...) returns its raw answer")
    yield path, None, node  # a number without a time axis: its keys are the segment


def _segment(path: list[str]) -> str:
    parts = list(path)
    while len(parts) > 1 and parts[-1] == OVERALL:
        parts.pop()
    return SEPARATOR.join(parts) if parts else OVERALL


MP_INSIGHT = rows_function(
    name="mp_insight",
    schema=pa.schema([pa.field("date", pa.timestamp("us")), pa.field("metric", pa.string()),
                      pa.field("segment", pa.string()), pa.field("value", pa.float64())]),
    model=BookmarkArgs, positional=("bookmark_id",),
    description="A saved Insights report in long form: one row per date, metric and segment ('$overall' "
                "without breakdowns).",
    example="SELECT date, metric, value FROM mp_insight(9101) WHERE segment = '$overall'",
    produce=_insight)


# ---------------------------------------------------------------------------------------------- mp_flows


def _flows(call: Call[BookmarkArgs]) -> Iterator[tuple[Any, ...]]:
    params = {"bookmark_id": call.args.bookmark_id, "query_type": "flows_sankey"}
    body = expect(call.function, call.fetch("query", "/arb_funnels", params, ttl=cache_ttl(REPORT_TTL)), dict,
                  "/arb_funnels")
    steps = expect(call.function, body.get("steps") or [], list, "/arb_funnels steps")
    for index, step in enumerate(steps):
        step = expect(call.function, step, dict, "a flows step")
        position = step.get("step", index)
        for node in expect(call.function, step.get("nodes") or [], list, "a flows step's nodes"):
            node = expect(call.function, node, dict, "a flows node")
            event, kind = node.get("event"), node.get("type")
            # Mixpanel sends counts as text ("totalCount": "120"); the emulator's shape says "count".
            yield "node", position, event, kind, None, None, None, count(node.get("totalCount", node.get("count")))
            for edge in node.get("edges") or []:
                edge = expect(call.function, edge, dict, "a flows edge")
                yield ("edge", position, event, kind, edge.get("step", position + 1), edge.get("event"),
                       edge.get("type"), count(edge.get("totalCount", edge.get("count"))))
        if step.get("dropoff") is not None:
            yield "node", position, None, "DROPOFF", None, None, None, count(step["dropoff"])


MP_FLOWS = rows_function(
    name="mp_flows",
    schema=pa.schema([pa.field("kind", pa.string()), pa.field("step", pa.int32()), pa.field("event", pa.string()),
                      pa.field("type", pa.string()), pa.field("next_step", pa.int32()),
                      pa.field("next_event", pa.string()), pa.field("next_type", pa.string()),
                      pa.field("count", pa.int64())]),
    model=BookmarkArgs, positional=("bookmark_id",),
    description="A saved Flows report as Sankey nodes (users per event and step) and edges (users per transition).",
    example="SELECT step, event, count FROM mp_flows(9201) WHERE kind = 'node' ORDER BY step, count DESC",
    produce=_flows)


FUNCTIONS = (MP_INSIGHT, MP_FLOWS)
