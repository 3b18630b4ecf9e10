"""Segmentation and event breakdowns: ``mp_segmentation``, ``mp_segmentation_numeric``, ``mp_segmentation_sum``,
``mp_segmentation_average``, ``mp_event_counts`` and ``mp_property_counts`` (docs/mixpanel-api.md,
"Segmentation family", "Events and properties breakdowns").

Every function returns one row per time bucket x segment, never a JSON blob:

- ``date TIMESTAMP`` is the bucket's start in the project's time zone (midnight for day/week/month buckets;
  these endpoints also bucket by hour and minute, and a fixed schema cannot switch to DATE by unit).
- ``segment`` is the key Mixpanel answers with: with ``by :=`` the segment's value as text (``undefined`` for
  events without it); without ``by``, Mixpanel's single key, **the event name**.
- ``value DOUBLE``: counts are whole numbers, but ``type := 'average'`` answers events per user, a fraction.
- The rows form a complete date x segment grid: a bucket that Mixpanel leaves out of a segment's map is 0.

Mixpanel's ``on`` is ``by :=``, its ``where`` is ``filter :=`` and its ``limit`` is ``top :=`` (DuckDB reserves
the originals). Identical requests within ``REPORT_TTL`` are answered from the response cache.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any, Literal

import pyarrow as pa
from pydantic import Field

from mpsql.api.cache import REPORT_TTL, cache_ttl
from mpsql.functions._args import Day, Names, ProjectArgs
from mpsql.functions._reports import (
    SEGMENT_LIMIT,
    bucket_time,
    check_expression,
    check_kind_unit,
    check_names,
    check_top,
    expect,
    number,
    require_dates,
    require_name,
    series_rows,
)
from mpsql.functions._rows import Call, rows_function

Kind = Literal["general", "unique", "average"]
Unit = Literal["minute", "hour", "day", "week", "month"]
NumericUnit = Literal["hour", "day"]

EVENT_EXAMPLE = "an event name such as 'Purchase' (see mp_events())"
BY_EXAMPLE = "an expression such as 'properties[\"amount\"]'"


class _Report(ProjectArgs):
    """Fields every segmentation-family call has."""

    event: str | None = None
    from_date: Day | None = None
    to_date: Day | None = None
    account: str | None = None

    def check_common(self, function: str, today: dt.date) -> None:
        require_name(function, "event", self.event, EVENT_EXAMPLE)
        require_dates(function, self.from_date, self.to_date, today)


class _Filtered(_Report):
    """The reports whose endpoint takes a ``where`` expression (``/events/properties`` does not)."""

    filter: str | None = None  # where

    def check_common(self, function: str, today: dt.date) -> None:
        super().check_common(function, today)
        check_expression(function, "filter", self.filter)


def _day(d: dt.date | None) -> str | None:
    return None if d is None else d.isoformat()


# ---------------------------------------------------------------------------------------------- mp_segmentation


class SegmentationArgs(_Filtered):
    by: str | None = None  # on
    unit: Unit | None = "day"
    type: Kind | None = "general"
    top: int | None = Field(default=None, ge=1, le=SEGMENT_LIMIT)  # limit

    def check(self, function: str, today: dt.date) -> None:
        self.check_common(function, today)
        check_expression(function, "by", self.by)
        check_top(function, self.top, self.by)
        check_kind_unit(function, self.type, self.unit)


def segmentation_params(a: SegmentationArgs) -> dict[str, Any]:
    return {"event": a.event, "from_date": _day(a.from_date), "to_date": _day(a.to_date), "on": a.by,
            "unit": a.unit or "day", "where": a.filter, "type": a.type or "general", "limit": a.top}


def _segmentation(call: Call[SegmentationArgs]) -> Iterator[tuple[Any, ...]]:
    body = call.fetch("query", "/segmentation", segmentation_params(call.args), ttl=cache_ttl(REPORT_TTL))
    for when, segment, value in series_rows(call.function, body):
        yield when, segment, number(value)


SERIES_SCHEMA = pa.schema([pa.field("date", pa.timestamp("us")), pa.field("segment", pa.string()),
                           pa.field("value", pa.float64())])

MP_SEGMENTATION = rows_function(
    name="mp_segmentation", schema=SERIES_SCHEMA, model=SegmentationArgs,
    positional=("event", "from_date", "to_date"),
    description="Counts of one event per time bucket, optionally per segment (by := expression); "
                "unsegmented rows carry the event name as segment.",
    example="SELECT date, segment, value FROM mp_segmentation('Purchase', current_date - 30, current_date - 1, "
            "by := 'properties[\"$browser\"]')",
    produce=_segmentation)


# ---------------------------------------------------------------------------------------------- numeric


class NumericArgs(_Filtered):
    by: str | None = None  # on: the numeric expression
    unit: NumericUnit | None = "day"
    type: Kind | None = "general"

    def check(self, function: str, today: dt.date) -> None:
        self.check_common(function, today)
        require_name(function, "by", self.by, BY_EXAMPLE)
        check_expression(function, "by", self.by)
        check_kind_unit(function, self.type, self.unit)


def _numeric(call: Call[NumericArgs]) -> Iterator[tuple[Any, ...]]:
    a = call.args
    params = {"event": a.event, "from_date": _day(a.from_date), "to_date": _day(a.to_date), "on": a.by,
              "unit": a.unit or "day", "where": a.filter, "type": a.type or "general"}
    body = call.fetch("query", "/segmentation/numeric", params, ttl=cache_ttl(REPORT_TTL))
    # Bucket labels are ranges with thousands separators, e.g. "2,000 - 2,100" (docs/mixpanel-api.md,
    # "Segmentation family"); kept as text.
    for when, bucket, value in series_rows(call.function, body):
        yield when, bucket, number(value)


MP_SEGMENTATION_NUMERIC = rows_function(
    name="mp_segmentation_numeric",
    schema=pa.schema([pa.field("date", pa.timestamp("us")), pa.field("bucket", pa.string()),
                      pa.field("value", pa.float64())]),
    model=NumericArgs, positional=("event", "from_date", "to_date", "by"),
    description="Counts of one event per time bucket and numeric range of an expression (Mixpanel's buckets, "
                "labelled like '2,000 - 2,100').",
    example="SELECT * FROM mp_segmentation_numeric('Purchase', current_date - 7, current_date - 1, "
            "'properties[\"amount\"]')",
    produce=_numeric)


# ---------------------------------------------------------------------------------------------- sum, average


class AggregateArgs(_Filtered):
    by: str | None = None  # on: the numeric expression summed or averaged
    unit: NumericUnit | None = "day"

    def check(self, function: str, today: dt.date) -> None:
        self.check_common(function, today)
        require_name(function, "by", self.by, BY_EXAMPLE)
        check_expression(function, "by", self.by)


def _aggregate(endpoint: str):
    def produce(call: Call[AggregateArgs]) -> Iterator[tuple[Any, ...]]:
        a = call.args
        params = {"event": a.event, "from_date": _day(a.from_date), "to_date": _day(a.to_date), "on": a.by,
                  "unit": a.unit or "day", "where": a.filter}
        body = expect(call.function, call.fetch("query", endpoint, params, ttl=cache_ttl(REPORT_TTL)), dict,
                      endpoint)
        # {"results": {bucket: number}}, buckets unsorted; the spec says integer, sums of decimals are floats.
        results = expect(call.function, body.get("results") or {}, dict, endpoint + " results")
        for when, key in sorted((bucket_time(call.function, k), k) for k in results):
            yield when, number(results[key])

    return produce


DATE_VALUE = pa.schema([pa.field("date", pa.timestamp("us")), pa.field("value", pa.float64())])

MP_SEGMENTATION_SUM = rows_function(
    name="mp_segmentation_sum", schema=DATE_VALUE, model=AggregateArgs,
    positional=("event", "from_date", "to_date", "by"),
    description="Sum of a numeric expression over one event's occurrences per time bucket (non-numbers count 0).",
    example="SELECT * FROM mp_segmentation_sum('Purchase', current_date - 7, current_date - 1, "
            "'properties[\"amount\"]')",
    produce=_aggregate("/segmentation/sum"))

MP_SEGMENTATION_AVERAGE = rows_function(
    name="mp_segmentation_average", schema=DATE_VALUE, model=AggregateArgs,
    positional=("event", "from_date", "to_date", "by"),
    description="Mean of a numeric expression over one event's occurrences per time bucket.",
    example="SELECT * FROM mp_segmentation_average('Purchase', current_date - 7, current_date - 1, "
            "'properties[\"amount\"]')",
    produce=_aggregate("/segmentation/average"))


# ---------------------------------------------------------------------------------------------- mp_event_counts


class EventCountsArgs(ProjectArgs):
    events: Names = None
    from_date: Day | None = None
    to_date: Day | None = None
    type: Kind | None = "general"
    unit: Unit | None = "day"
    account: str | None = None

    def check(self, function: str, today: dt.date) -> None:
        check_names(function, "events", self.events, "a list of event names such as ['Sign Up', 'Purchase']")
        require_dates(function, self.from_date, self.to_date, today)
        check_kind_unit(function, self.type, self.unit)


def _event_counts(call: Call[EventCountsArgs]) -> Iterator[tuple[Any, ...]]:
    a = call.args
    names = list(dict.fromkeys(a.events or []))
    # /events takes its events as a JSON array even for one; type and unit are required there
    # (docs/mixpanel-api.md, "Events and properties breakdowns").
    params = {"event": names, "from_date": _day(a.from_date), "to_date": _day(a.to_date),
              "type": a.type or "general", "unit": a.unit or "day"}
    body = call.fetch("query", "/events", params, ttl=cache_ttl(REPORT_TTL))
    for when, event, value in series_rows(call.function, body):
        yield when, event, number(value)


MP_EVENT_COUNTS = rows_function(
    name="mp_event_counts",
    schema=pa.schema([pa.field("date", pa.timestamp("us")), pa.field("event", pa.string()),
                      pa.field("value", pa.float64())]),
    model=EventCountsArgs, positional=("events", "from_date", "to_date"),
    description="Counts of several events per time bucket, one row per date and event.",
    example="SELECT * FROM mp_event_counts(['Sign Up', 'Purchase'], current_date - 30, current_date - 1, "
            "type := 'unique')",
    produce=_event_counts)


# ---------------------------------------------------------------------------------------------- mp_property_counts


class PropertyCountsArgs(_Report):
    property: str | None = None
    type: Kind | None = "general"
    unit: Unit | None = "day"
    values: Names = None
    top: int | None = Field(default=None, ge=1, le=SEGMENT_LIMIT)  # limit, default 255 at Mixpanel

    def check(self, function: str, today: dt.date) -> None:
        self.check_common(function, today)
        require_name(function, "property", self.property, "a property name such as '$browser' (see mp_properties())")
        if self.values is not None:
            check_names(function, "values", self.values, "a list of property values such as ['Chrome', 'Safari']")
        check_kind_unit(function, self.type, self.unit)


def _property_counts(call: Call[PropertyCountsArgs]) -> Iterator[tuple[Any, ...]]:
    a = call.args
    params = {"event": a.event, "name": a.property, "from_date": _day(a.from_date), "to_date": _day(a.to_date),
              "type": a.type or "general", "unit": a.unit or "day",
              "values": None if a.values is None else list(dict.fromkeys(a.values)), "limit": a.top}
    body = call.fetch("query", "/events/properties", params, ttl=cache_ttl(REPORT_TTL))
    for when, value_text, value in series_rows(call.function, body):
        yield when, value_text, number(value)


MP_PROPERTY_COUNTS = rows_function(
    name="mp_property_counts",
    schema=pa.schema([pa.field("date", pa.timestamp("us")), pa.field("property_value", pa.string()),
                      pa.field("value", pa.float64())]),
    model=PropertyCountsArgs, positional=("event", "property", "from_date", "to_date"),
    description="Counts of one event per time bucket and value of one property (top 255 values unless top := N).",
    example="SELECT * FROM mp_property_counts('Page View', '$browser', current_date - 7, current_date - 1)",
    produce=_property_counts)


FUNCTIONS = (MP_SEGMENTATION, MP_SEGMENTATION_NUMERIC, MP_SEGMENTATION_SUM, MP_SEGMENTATION_AVERAGE, MP_EVENT_COUNTS,
             MP_PROPERTY_COUNTS)
