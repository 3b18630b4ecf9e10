"""Query API report endpoints (docs/mixpanel-api.md, the report sections): parameter validation, then ``analytics``.

Every report reads the deduplicated events ``/export`` serves (``eventstore``), bucketed in the project time
zone (UTC). Errors use the query family's body ``{"request": ..., "error": ...}``: 400 for a missing or bad
parameter, 404 for an unknown funnel or bookmark, 412 for a JQL script the emulator cannot run; Insights
fails softly (HTTP 200 with an ``error`` key) for a bookmark it cannot compute [O]. Error texts marked
[E] are the emulator's own wording; Mixpanel's is unknown.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from mpsql.emulator import analytics, bookmarks, jql, messages
from mpsql.emulator.analytics import Buckets, Step
from mpsql.emulator.eventindex import Selection, index_for
from mpsql.emulator.eventstore import Event, store_for
from mpsql.emulator.identities import identity_map, resolve
from mpsql.emulator.proto import HttpError, Request, Response, Route, query_routes
from mpsql.emulator.routes.export import parse_bool, parse_date
from mpsql.emulator.saved_reports import (
    BOOKMARKS,
    FUNNELS,
    LENGTH_UNIT_S,
    bookmark_range,
    flows_report,
    insights_report,
)
from mpsql.emulator.where import Expr, WhereSyntaxError, compile_where

if TYPE_CHECKING:
    from mpsql.emulator.server import Emulator

MAX_SEGMENT_LIMIT = 10_000  # documented cap of every segment ``limit``
MAX_FUNNEL_DAYS = 90  # documented cap of the funnel conversion window
MAX_RETENTION_DAYS = 90  # documented cap of the retention ``interval`` in days
MAX_MINUTE_DAYS = 7  # [E] minute buckets: at most a week (10,080 buckets)
TYPES = ("general", "unique", "average")
SEGMENTATION_UNITS = ("minute", "hour", "day", "week", "month")

# ---------------------------------------------------------------- error texts ([E] unless noted)


def bad_choice(name: str, choices: Sequence[str]) -> str:
    """400 text for a value outside a parameter's enum."""
    return f"Error in {name}: must be one of {', '.join(choices)}"


def bad_int(name: str, lo: int, hi: int | None = None) -> str:
    """400 text for an integer parameter out of range or not an integer."""
    return f"Error in {name}: must be an integer >= {lo}" + (f" and <= {hi}" if hi is not None else "")


def bad_expression(name: str, detail: str) -> str:
    """400 text for an unparsable ``on`` / ``born_where`` (``where`` uses ``messages.bad_where``)."""
    return messages.bad_where(detail) if name == "where" else f"Error in {name}: invalid expression: {detail}"


def bad_json_list(name: str) -> str:
    """400 text for a list parameter that is not a JSON array of strings (docs/mixpanel-api.md, "Report
    conventions")."""
    return f"Error in {name}: must be a JSON-encoded array of strings"


# No uniques per hour or minute (docs/mixpanel-api.md, "Report conventions")
HOURLY_UNIQUES = "Error in unit: unique and average counts are not available per hour or minute"
UNIT_AND_INTERVAL = "Error in interval: send either unit or interval, not both"  # retention: [O] refusal
INTERVAL_GENERAL = "Error in interval: interval replaces unit only when type is unique or average"
INTERVAL_AND_DATES = "Error: specify either interval or from_date and to_date"
FORMAT_UNSUPPORTED = "Error in format: only json is supported by this server"
MINUTE_SPAN = f"Error in unit: minute buckets are limited to ranges of {MAX_MINUTE_DAYS} days"
FUNNEL_TOO_LONG = f"Error in length: the conversion window may not be greater than {MAX_FUNNEL_DAYS} days"
RETENTION_INTERVAL = f"Error in interval: may not be greater than {MAX_RETENTION_DAYS} days"
BORN_EVENT_REQUIRED = "Error in born_event: born_event is required when retention_type is birth"
FLOWS_VIA_INSIGHTS = "This report is a Flows report; query it with /arb_funnels (query_type=flows_sankey)"


def unknown_funnel(funnel_id: int) -> str:
    """404 text for a funnel_id with no saved funnel."""
    return f"Funnel {funnel_id} not found"


def unknown_bookmark(bookmark_id: int) -> str:
    """404 text for a bookmark_id with no saved report."""
    return f"Bookmark {bookmark_id} not found"


# ---------------------------------------------------------------- parameter parsing


def _required(p: dict[str, str], name: str) -> str:
    raw = _given(p, name, required=True)
    assert raw is not None
    return raw


def _dates(emu: Emulator, p: dict[str, str]) -> tuple[dt.date, dt.date]:
    from_date, to_date = parse_date(p, "from_date"), parse_date(p, "to_date")
    if to_date > emu.today:
        raise HttpError(400, messages.TO_DATE_FUTURE)
    if from_date > to_date:
        raise HttpError(400, messages.FROM_AFTER_TO)
    return from_date, to_date


def _int(p: dict[str, str], name: str, default: int | None, lo: int = 1, hi: int | None = None) -> int | None:
    raw = p.get(name, "").strip()
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise HttpError(400, bad_int(name, lo, hi)) from None
    if value < lo or (hi is not None and value > hi):
        raise HttpError(400, bad_int(name, lo, hi))
    return value


def _choice(p: dict[str, str], name: str, choices: Sequence[str], default: str | None) -> str | None:
    raw = p.get(name, "").strip()
    if raw == "":
        return default
    if raw not in choices:
        raise HttpError(400, bad_choice(name, choices))
    return raw


def _given(p: dict[str, str], name: str, required: bool) -> str | None:
    """The parameter's text, or None when absent or blank (a 400 naming it when ``required``)."""
    raw = p.get(name, "")
    if raw.strip() == "":
        if required:
            raise HttpError(400, messages.missing_param(name))
        return None
    return raw


def _expr(p: dict[str, str], name: str, required: bool = False) -> Expr | None:
    raw = _given(p, name, required)
    if raw is None:
        return None
    try:
        return compile_where(raw)
    except WhereSyntaxError as e:
        raise HttpError(400, bad_expression(name, str(e))) from None


def _json_list(p: dict[str, str], name: str, required: bool = True) -> list[str] | None:
    raw = _given(p, name, required)
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        raise HttpError(400, bad_json_list(name)) from None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise HttpError(400, bad_json_list(name))
    return value


def _json_format(p: dict[str, str]) -> None:
    if p.get("format", "").strip() not in ("", "json"):
        raise HttpError(400, FORMAT_UNSUPPORTED)


def _limit(p: dict[str, str], default: int) -> int:
    value = _int(p, "limit", default, 1, MAX_SEGMENT_LIMIT)
    assert value is not None
    return value


def _buckets(from_date: dt.date, to_date: dt.date, unit: str, days: int | None, kind: str) -> Buckets:
    if days is None and unit in ("hour", "minute") and kind != "general":
        raise HttpError(400, HOURLY_UNIQUES)
    if days is None and unit == "minute" and (to_date - from_date).days >= MAX_MINUTE_DAYS:
        raise HttpError(400, MINUTE_SPAN)
    return Buckets(from_date, to_date, unit, days)


def _events(emu: Emulator, from_date: dt.date, to_date: dt.date, names: Iterable[str] | None,
            merged: bool = True) -> Iterable[Event]:
    """Deduplicated events of the range; with ``merged`` (every report but the activity stream) each
    ``distinct_id`` is its ID-merged user (``identities``, docs/report-semantics.md)."""
    clock = emu.project_time
    if clock.is_utc:
        if merged:  # read from the dataset's index (per day, per user by time)
            return Selection(index_for(emu.dataset), from_date, to_date, names)
        return store_for(emu.dataset).events(from_date, to_date, names)
    # The project's days, as wall-clock times (projecttime): the UTC days around them, shifted (not indexed).
    day = dt.timedelta(days=1)
    events = clock.shift(store_for(emu.dataset).events(from_date - day, to_date + day, names), from_date, to_date)
    return resolve(events, identity_map(emu.dataset)) if merged else events


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


# ---------------------------------------------------------------- segmentation family


def segmentation(emu: Emulator, req: Request) -> Response:
    """``/segmentation``: event, from_date, to_date, on, unit, interval, where, limit, type."""
    p = req.params
    event = _required(p, "event")
    from_date, to_date = _dates(emu, p)
    kind = _choice(p, "type", TYPES, "general")
    assert kind is not None
    days = _int(p, "interval", None)
    if days is not None and p.get("unit", "").strip():
        raise HttpError(400, UNIT_AND_INTERVAL)
    if days is not None and kind == "general":
        raise HttpError(400, INTERVAL_GENERAL)
    unit = _choice(p, "unit", SEGMENTATION_UNITS, "day")
    assert unit is not None
    on, where = _expr(p, "on"), _expr(p, "where")
    limit = _limit(p, 60)
    _json_format(p)
    buckets = _buckets(from_date, to_date, unit, days, kind)
    body = analytics.segmentation(_events(emu, from_date, to_date, [event]), buckets, label=event, kind=kind,
                                  on=on, where=where, limit=limit)
    return Response(json=body)


def segmentation_numeric(emu: Emulator, req: Request) -> Response:
    """``/segmentation/numeric``: event, from_date, to_date, on (numeric, required), unit hour|day, where, type."""
    p = req.params
    event = _required(p, "event")
    from_date, to_date = _dates(emu, p)
    on = _expr(p, "on", required=True)
    assert on is not None
    kind = _choice(p, "type", TYPES, "general")
    unit = _choice(p, "unit", ("hour", "day"), "day")
    assert kind is not None and unit is not None
    where = _expr(p, "where")
    buckets = _buckets(from_date, to_date, unit, None, kind)
    body = analytics.numeric_segmentation(_events(emu, from_date, to_date, [event]), buckets, on=on, kind=kind,
                                          where=where)
    return Response(json=body)


def _numeric_aggregate(emu: Emulator, req: Request, average: bool) -> Response:
    p = req.params
    event = _required(p, "event")
    from_date, to_date = _dates(emu, p)
    on = _expr(p, "on", required=True)
    unit = _choice(p, "unit", ("hour", "day"), "day")
    assert on is not None and unit is not None
    where = _expr(p, "where")
    results = analytics.numeric_aggregate(_events(emu, from_date, to_date, [event]), Buckets(from_date, to_date, unit),
                                          on=on, where=where, average=average)
    if average:
        return Response(json={"results": results, "status": "ok"})
    return Response(json={"status": "ok", "computed_at": _now_iso(), "results": results})


def segmentation_sum(emu: Emulator, req: Request) -> Response:
    """``/segmentation/sum``: per-bucket sum of the numeric ``on`` expression."""
    return _numeric_aggregate(emu, req, average=False)


def segmentation_average(emu: Emulator, req: Request) -> Response:
    """``/segmentation/average``: per-bucket mean of the numeric ``on`` expression."""
    return _numeric_aggregate(emu, req, average=True)


# ---------------------------------------------------------------- event breakdown


def _range_or_interval(emu: Emulator, p: dict[str, str], unit: str) -> tuple[dt.date, dt.date]:
    """from_date/to_date, or ``interval`` units back from today (1 = the current unit) [D]."""
    interval = _int(p, "interval", None)
    has_dates = p.get("from_date", "").strip() != "" or p.get("to_date", "").strip() != ""
    if interval is None:
        return _dates(emu, p)
    if has_dates:
        raise HttpError(400, INTERVAL_AND_DATES)
    if unit not in ("day", "week", "month"):
        raise HttpError(400, bad_choice("unit", ("day", "week", "month")))  # [E] interval counts whole days
    current = analytics.period_start(emu.today, unit)
    if unit == "month":
        start = analytics.add_months(current, -(interval - 1))
    else:
        start = current - dt.timedelta(days=(interval - 1) * (7 if unit == "week" else 1))
    return start, emu.today


def _required_type_and_unit(p: dict[str, str]) -> tuple[str, str]:
    """``type`` and ``unit``, both required on ``/events`` and ``/events/properties`` (docs/mixpanel-api.md,
    "Events and properties breakdowns")."""
    kind = _choice(p, "type", TYPES, None)
    unit = _choice(p, "unit", SEGMENTATION_UNITS, None)
    if kind is None:
        raise HttpError(400, messages.missing_param("type"))
    if unit is None:
        raise HttpError(400, messages.missing_param("unit"))
    return kind, unit


def events(emu: Emulator, req: Request) -> Response:
    """``/events``: event (JSON array), type, unit, from_date/to_date or interval."""
    p = req.params
    names = _json_list(p, "event")
    assert names is not None
    kind, unit = _required_type_and_unit(p)
    from_date, to_date = _range_or_interval(emu, p, unit)
    _json_format(p)
    buckets = _buckets(from_date, to_date, unit, None, kind)
    return Response(json=analytics.event_counts(_events(emu, from_date, to_date, names), buckets, names, kind=kind))


def event_properties(emu: Emulator, req: Request) -> Response:
    """``/events/properties``: event, name, values (JSON array), type, unit, from_date/to_date or interval, limit."""
    p = req.params
    event = _required(p, "event")
    name = _required(p, "name")
    values = _json_list(p, "values", required=False)
    kind, unit = _required_type_and_unit(p)
    from_date, to_date = _range_or_interval(emu, p, unit)
    limit = _limit(p, 255)
    _json_format(p)
    buckets = _buckets(from_date, to_date, unit, None, kind)
    body = analytics.property_counts(_events(emu, from_date, to_date, [event]), buckets, name, kind=kind,
                                     values=values, limit=limit)
    return Response(json=body)


# ---------------------------------------------------------------- funnels


def _cohort_buckets(p: dict[str, str], from_date: dt.date, to_date: dt.date) -> Buckets:
    """Funnel cohorts: ``interval`` days (default 1) or a ``unit``; not both."""
    days = _int(p, "interval", None)
    unit = _choice(p, "unit", ("day", "week", "month"), None)
    if days is not None and unit is not None:
        raise HttpError(400, UNIT_AND_INTERVAL)
    if unit is not None:
        return Buckets(from_date, to_date, unit)
    return Buckets(from_date, to_date, "day", days if days not in (None, 1) else None)


def funnels(emu: Emulator, req: Request) -> Response:
    """``/funnels``: funnel_id, from_date, to_date, length, length_unit, interval, unit, on, where, limit, and
    the emulator's ``reentry`` (default | optimized)."""
    p = req.params
    funnel_id = _int(p, "funnel_id", None, lo=0)
    if funnel_id is None:
        raise HttpError(400, messages.missing_param("funnel_id"))
    saved = FUNNELS.get(funnel_id)
    if saved is None:
        raise HttpError(404, unknown_funnel(funnel_id))
    from_date, to_date = _dates(emu, p)
    length = _int(p, "length", saved.length)
    length_unit = _choice(p, "length_unit", tuple(LENGTH_UNIT_S), saved.length_unit)
    assert length is not None and length_unit is not None
    window_s = length * LENGTH_UNIT_S[length_unit]
    if window_s > MAX_FUNNEL_DAYS * analytics.DAY_S:
        raise HttpError(400, FUNNEL_TOO_LONG)
    buckets = _cohort_buckets(p, from_date, to_date)
    on, where = _expr(p, "on"), _expr(p, "where")
    limit = _limit(p, 255)
    # Completions are looked for after to_date, up to the conversion window.
    scan_to = to_date + dt.timedelta(days=math.ceil(window_s / analytics.DAY_S))
    names = [s.event for s in saved.steps if s.event is not None]
    # reentry: the emulator's name for Mixpanel's UI option "Optimized Re-entry" (not a documented API parameter).
    reentry = _choice(p, "reentry", analytics.REENTRY, "default")
    assert reentry is not None
    body = analytics.funnel(_events(emu, from_date, scan_to, names), saved.steps, buckets, window_s=window_s,
                            where=where, on=on, limit=limit, reentry=reentry)
    return Response(json=body)


def funnels_list(emu: Emulator, req: Request) -> Response:
    """``/funnels/list``: ``[{"funnel_id", "name"}]`` of the saved funnels."""
    return Response(json=[{"funnel_id": f.funnel_id, "name": f.name} for f in FUNNELS.values()])


# ---------------------------------------------------------------- retention


def retention(emu: Emulator, req: Request) -> Response:
    """``/retention``: from_date, to_date, retention_type, born_event, event, born_where, where, interval,
    interval_count, unit, unbounded_retention, on, limit."""
    p = req.params
    from_date, to_date = _dates(emu, p)
    rtype = _choice(p, "retention_type", ("birth", "compounded"), "birth")
    assert rtype is not None
    born_event = p.get("born_event", "").strip() or None
    if rtype == "birth" and born_event is None:
        raise HttpError(400, BORN_EVENT_REQUIRED)
    event = p.get("event", "").strip() or None
    born_where, where = _expr(p, "born_where"), _expr(p, "where")
    interval = _int(p, "interval", None)
    unit = _choice(p, "unit", ("day", "week", "month"), None)
    if interval is not None and unit is not None:
        raise HttpError(400, UNIT_AND_INTERVAL)
    if interval is not None and interval > MAX_RETENTION_DAYS:
        raise HttpError(400, RETENTION_INTERVAL)
    interval_count = _int(p, "interval_count", 1, lo=0)
    assert interval_count is not None
    unbounded = parse_bool(p.get("unbounded_retention"), bad_choice("unbounded_retention", ("true", "false")))
    on = _expr(p, "on")
    limit = _limit(p, 255)
    returning = Step(event, where)
    born = Step(born_event, born_where) if rtype == "birth" else None
    names = None if event is None else {event} | ({born_event} if born_event and rtype == "birth" else set())
    # Birth needs each user's first-ever born event, so read from the start of the data; returns can run
    # past to_date up to today.
    start = emu.dataset.first_date if rtype == "birth" else from_date
    body = analytics.retention(_events(emu, start, emu.today, names), from_date=from_date, to_date=to_date,
                               today=emu.today, born=born, returning=returning, retention_type=rtype,
                               unit=unit or "day", interval=interval or 1, interval_count=interval_count,
                               unbounded=unbounded, on=on, limit=limit)
    return Response(json=body)


def retention_addiction(emu: Emulator, req: Request) -> Response:
    """``/retention/addiction`` (frequency): from_date, to_date, unit, addiction_unit, event, where, on, limit."""
    p = req.params
    from_date, to_date = _dates(emu, p)
    unit = _choice(p, "unit", ("day", "week", "month"), None)
    if unit is None:
        raise HttpError(400, messages.missing_param("unit"))
    addiction_unit = _choice(p, "addiction_unit", ("hour", "day"), None)
    if addiction_unit is None:
        raise HttpError(400, messages.missing_param("addiction_unit"))
    event = p.get("event", "").strip() or None
    where, on = _expr(p, "where"), _expr(p, "on")
    limit = _limit(p, 255)
    step = Step(event, where)
    evs = (e for e in _events(emu, from_date, to_date, None if event is None else [event]) if step.matches(e))
    body = analytics.frequency(evs, from_date=from_date, to_date=to_date, unit=unit, addiction_unit=addiction_unit,
                               on=on, limit=limit)
    return Response(json=body)


# ---------------------------------------------------------------- activity stream


def stream_query(emu: Emulator, req: Request) -> Response:
    """``/stream/query``: distinct_ids (JSON array), from_date, to_date."""
    p = req.params
    ids = _json_list(p, "distinct_ids")
    assert ids is not None
    from_date, to_date = _dates(emu, p)
    return Response(json=analytics.activity_stream(_events(emu, from_date, to_date, None, merged=False), ids))


# ---------------------------------------------------------------- saved reports (insights, flows)


def _bookmark(p: dict[str, str]) -> Any:
    bookmark_id = _int(p, "bookmark_id", None, lo=0)
    if bookmark_id is None:
        raise HttpError(400, messages.missing_param("bookmark_id"))
    saved = BOOKMARKS.get(bookmark_id)
    if saved is None:
        raise HttpError(404, unknown_bookmark(bookmark_id))
    return saved


def _adhoc_body(p: dict[str, str]) -> dict[str, Any]:
    """An ad-hoc query's JSON body (its object values arrive as JSON text among the parameters)."""
    body: dict[str, Any] = {"query_type": p.get("query_type", "flows_sankey")}
    for key in ("bookmark", "queryLimits"):
        if p.get(key, "").strip():
            try:
                body[key] = json.loads(p[key])
            except ValueError:
                raise HttpError(400, f"Error in {key}: must be a JSON object") from None
    return body


def _adhoc(emu: Emulator, req: Request, run: Any) -> Response:
    """An ad-hoc report (docs/mixpanel-api.md, "Ad-hoc reports"): the definition evaluated by ``bookmarks``."""
    def load(lo: dt.date, hi: dt.date, names: Sequence[str] | None) -> Iterable[Event]:
        lo, hi = max(lo, emu.dataset.first_date), min(hi, emu.today)
        return _events(emu, lo, hi, names) if lo <= hi else ()

    try:
        return Response(json=run(_adhoc_body(req.params), emu.today, load, _now_iso()))
    except bookmarks.BookmarkError as e:
        raise HttpError(400, str(e)) from None


def insights(emu: Emulator, req: Request) -> Response:
    """``/insights``: bookmark_id -> the saved report over its own relative range; a POSTed ``bookmark`` -> an
    ad-hoc Insights, funnel or retention query."""
    if req.method == "POST" and "bookmark" in req.params:
        return _adhoc(emu, req, bookmarks.insights_query)
    saved = _bookmark(req.params)
    if saved.type != "insights":
        return Response(json={"error": FLOWS_VIA_INSIGHTS})  # Insights fails softly, HTTP 200 [O]
    from_date, to_date = bookmark_range(saved, emu.today)
    body = insights_report(saved, _events(emu, from_date, to_date, saved.events), emu.today, _now_iso())
    return Response(json=body)


def arb_funnels(emu: Emulator, req: Request) -> Response:
    """``/arb_funnels?bookmark_id=&query_type=flows_sankey``: a saved Flows report [O endpoint, E shape]; a POSTed
    ``bookmark``: an ad-hoc Flows query."""
    p = req.params
    if req.method == "POST" and "bookmark" in p:
        return _adhoc(emu, req, bookmarks.flows_query)
    saved = _bookmark(p)
    if p.get("query_type", "flows_sankey").strip() != "flows_sankey":
        raise HttpError(400, bad_choice("query_type", ("flows_sankey",)))
    if saved.type != "flows":
        raise HttpError(400, f"Error in bookmark_id: bookmark {saved.bookmark_id} is not a Flows report")
    from_date, to_date = bookmark_range(saved, emu.today)
    scan_to = min(emu.today, to_date + dt.timedelta(days=saved.window_days))
    body = flows_report(saved, _events(emu, from_date, scan_to, None), emu.today, _now_iso())
    return Response(json=body)


# ---------------------------------------------------------------- JQL


def jql_query(emu: Emulator, req: Request) -> Response:
    """``/jql`` (POST, form body): script, params -> the subset interpreter in ``jql``."""
    p = req.params
    script = _required(p, "script")
    raw_params = p.get("params", "").strip()
    try:
        params = json.loads(raw_params) if raw_params else {}
    except ValueError:
        raise HttpError(400, "Error in params: must be a JSON-encoded object") from None
    try:
        result = jql.run(script, params, jql.Source(emu.dataset, emu.today))
    except jql.JQLError as e:
        raise HttpError(412, e.body) from None
    return Response(json=result)


def routes() -> dict[str, Route]:
    """Query API report routes (each under /api/query/<ep> and /api/2.0/<ep>)."""
    table: dict[str, Route] = {}
    for endpoint, handler in (
        ("segmentation", segmentation), ("segmentation/numeric", segmentation_numeric),
        ("segmentation/sum", segmentation_sum), ("segmentation/average", segmentation_average),
        ("events", events), ("events/properties", event_properties),
        ("funnels", funnels), ("funnels/list", funnels_list),
        ("retention", retention), ("retention/addiction", retention_addiction),
        ("stream/query", stream_query), ("insights", insights), ("arb_funnels", arb_funnels),
    ):
        table.update(query_routes(endpoint, handler))
    table.update(query_routes("jql", jql_query, methods=("POST",)))
    return table
