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

Ad hoc (``functions/adhoc.py``): ``mp_flows(NULL, event := 'Add to Cart', from_date := ..., to_date := ...,
forward := 2, reverse := 1)`` posts a Flows definition (``POST /arb_funnels``) whose anchor is at ``step`` =
``reverse``. ``mp_insights`` (ad-hoc Insights) lives in ``adhoc.py`` and maps ``series`` like ``mp_insight``.

Summing ``count`` over one ``kind`` never double-counts. The report's ``breakdowns`` and
``overallConversionRate`` are not rows; ``mp_query('arb_funnels', ...)`` returns the whole answer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from pydantic import Field

from mpsql.api.cache import REPORT_TTL, cache_ttl
from mpsql.errors import ArgumentError, InvalidResponse
from mpsql.functions._args import Day, ProjectArgs
from mpsql.functions._reports import (
    count,
    expect,
    require_dates,
    require_name,
    series_leaves,
)
from mpsql.functions._rows import Call, rows_function
from mpsql.functions.adhoc import (
    MAX_FLOW_STEPS,
    MP_INSIGHTS,
    check_dates_if_any,
    flows_definition,
    parse_definition,
    post,
    refuse_with,
)


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
    return iter(series_leaves(call.function, body.get("series")))


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


class FlowsArgs(ProjectArgs):
    """``mp_flows``: a saved report's ``bookmark_id``, or (with NULL there) an anchor ``event`` and a range, or a
    whole ``definition`` (docs/mixpanel-api.md, "Ad-hoc reports")."""

    bookmark_id: int | None = Field(default=None, ge=0)
    event: str | None = None  # steps[0].event: the anchor
    from_date: Day | None = None
    to_date: Day | None = None
    forward: int | None = Field(default=None, ge=0, le=MAX_FLOW_STEPS)  # events after the anchor (default 3)
    reverse: int | None = Field(default=None, ge=0, le=MAX_FLOW_STEPS)  # events before it (default 0)
    length: int | None = Field(default=None, ge=1, le=366)  # conversion_window in days (default 7)
    definition: str | None = None
    account: str | None = None

    def sent_in_url(self) -> bool:
        return self.event is None and self.definition is None

    def check(self, function: str, today: dt.date) -> None:
        adhoc = {"forward": self.forward, "reverse": self.reverse, "length": self.length}
        if self.bookmark_id is not None:
            refuse_with(function, {"event": self.event, "definition": self.definition, **adhoc,
                                   "from_date": self.from_date, "to_date": self.to_date},
                        "does not apply to a saved report (its own definition and range apply)",
                        "NULL as bookmark_id for an ad-hoc flow: mp_flows(NULL, event := ..., from_date := ..., "
                        "to_date := ...)")
            return
        if self.definition is not None:
            refuse_with(function, {"event": self.event, **adhoc}, "cannot be combined with definition := "
                        "(the definition says it)", "either the typed arguments or definition :=")
            check_dates_if_any(function, self.from_date, self.to_date, today)
            parse_definition(function, self.definition, flows=True)
            return
        if self.event is None:
            raise ArgumentError(function, "bookmark_id", "is required (or NULL with event := for an ad-hoc flow)",
                                "a saved Flows report's id (see mp_bookmarks('flows')), or mp_flows(NULL, "
                                "event := 'Add to Cart', from_date := ..., to_date := ...)")
        require_name(function, "event", self.event, "the anchor event, e.g. 'Add to Cart'")
        require_dates(function, self.from_date, self.to_date, today)
        if (self.forward, self.reverse) in ((0, 0), (0, None), (None, 0)):
            raise ArgumentError(function, "forward", "and reverse are both 0: the flow has no steps",
                                f"forward := 1..{MAX_FLOW_STEPS} and/or reverse := 1..{MAX_FLOW_STEPS}")


def _flows(call: Call[FlowsArgs]) -> Iterator[tuple[Any, ...]]:
    a = call.args
    if a.bookmark_id is not None:
        params = {"bookmark_id": a.bookmark_id, "query_type": "flows_sankey"}
        body = expect(call.function, call.fetch("query", "/arb_funnels", params, ttl=cache_ttl(REPORT_TTL)), dict,
                      "/arb_funnels")
    else:
        if a.definition is not None:
            definition = parse_definition(call.function, a.definition, flows=True) or {}
            if a.from_date is not None and a.to_date is not None:
                definition["date_range"] = {"type": "between", "from_date": a.from_date.isoformat(),
                                            "to_date": a.to_date.isoformat()}
        else:
            assert a.event is not None and a.from_date is not None and a.to_date is not None
            reverse = a.reverse or 0
            forward = a.forward if a.forward is not None else (0 if reverse else 3)
            definition = flows_definition(a.event, a.from_date, a.to_date, forward=forward, reverse=reverse,
                                          window_days=a.length or 7)
        body = post(call, "/arb_funnels", {"bookmark": definition, "query_type": "flows_sankey"})
    return _flow_rows(call.function, body)


def _flow_rows(function: str, body: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    if "steps" not in body:  # an empty list is an answer (no flows); no list at all is not
        raise InvalidResponse(f"{function}: Mixpanel's flows answer has no 'steps': {str(body)[:200]}")
    steps = expect(function, body["steps"] or [], list, "/arb_funnels steps")
    for index, step in enumerate(steps):
        step = expect(function, step, dict, "a flows step")
        position = step.get("step", index)
        for node in expect(function, step.get("nodes") or [], list, "a flows step's nodes"):
            node = expect(function, node, dict, "a flows node")
            event, kind = node.get("event"), node.get("type")
            # Mixpanel sends counts as text ("totalCount": "120"); the emulator's shape says "count".
            yield "node", position, event, kind, None, None, None, count(node.get("totalCount", node.get("count")))
            for edge in node.get("edges") or []:
                edge = expect(function, edge, dict, "a flows edge")
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
    model=FlowsArgs, positional=("bookmark_id",),
    description="A Flows report as Sankey nodes (users per event and step) and edges (users per transition): a "
                "saved one by id, or ad hoc from an anchor event (NULL id, event :=, forward :=, reverse :=).",
    example="SELECT step, event, count FROM mp_flows(9201) WHERE kind = 'node' ORDER BY step, count DESC",
    produce=_flows)


FUNCTIONS = (MP_INSIGHT, MP_FLOWS, MP_INSIGHTS)
