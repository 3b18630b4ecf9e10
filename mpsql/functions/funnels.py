"""``mp_funnel``: a saved funnel's steps per date bucket (and segment), one row per date x segment x step.

``GET /funnels`` (docs/mixpanel-api.md, "Funnels") answers ``{"data": {date: {"steps": [...], "analysis":
{...}}}}``; with ``on`` (``by :=``) each date maps to ``{"$overall": [steps], "<segment>": [steps], ...}``
instead. Both become::

    date DATE, segment VARCHAR, step INTEGER, event VARCHAR, count BIGINT,
    step_conversion DOUBLE, overall_conversion DOUBLE, avg_time_seconds DOUBLE

- ``date`` is the cohort bucket: users who did step 1 in it (day, or the week/month start with ``unit``).
- ``segment`` is ``$overall`` for the unsegmented funnel, the key Mixpanel uses for all users in a segmented
  one (so ``WHERE segment = '$overall'`` reads the same with or without ``by``).
- ``step`` counts from 1, as Mixpanel's UI does. ``event`` is the step's label: the event name, or the custom
  event's name for a custom-event step (whose ``event`` field is ``$custom_event:<id>``).
- ``step_conversion`` is against the previous step, ``overall_conversion`` against step 1 (ratios, 0..1).
- ``avg_time_seconds`` is Mixpanel's mean time from the previous step; NULL where Mixpanel sends none.

``length`` (the conversion window) may not exceed 90 days whatever its ``length_unit``; without them the
funnel's saved window applies. Completions after ``to_date`` count (Mixpanel looks past it, up to the window).

Mixpanel counts a user once over the range of a funnel, at their first step-1 event in it
(docs/report-semantics.md, "Funnels"), so the date buckets' counts add up, but their average times do not.
``overall := true`` asks for the range as one bucket (``interval`` = the range's days): one row set dated
``from_date`` with the range's unique users per step and their average time to convert.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any, Literal

import pyarrow as pa
from pydantic import Field

from mpsql.errors import ArgumentError, MpsqlError
from mpsql.functions._args import Day, ProjectArgs
from mpsql.functions._reports import (
    OVERALL,
    SEGMENT_LIMIT,
    bucket_date,
    check_expression,
    check_top,
    count,
    expect,
    number,
    require_dates,
)
from mpsql.functions._rows import REPORT_TTL, Call, cache_ttl, rows_function

NAME = "mp_funnel"
MAX_WINDOW_DAYS = 90  # documented cap of the conversion window
LENGTH_UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86_400}

SCHEMA = pa.schema([
    pa.field("date", pa.date32()),
    pa.field("segment", pa.string()),
    pa.field("step", pa.int32()),
    pa.field("event", pa.string()),
    pa.field("count", pa.int64()),
    pa.field("step_conversion", pa.float64()),
    pa.field("overall_conversion", pa.float64()),
    pa.field("avg_time_seconds", pa.float64()),
])


class FunnelArgs(ProjectArgs):
    """The arguments of ``mp_funnel``; Mixpanel's names in comments where they differ."""

    funnel_id: int | None = Field(default=None, ge=0)
    from_date: Day | None = None
    to_date: Day | None = None
    unit: Literal["day", "week", "month"] | None = "day"
    by: str | None = None  # on
    filter: str | None = None  # where
    length: int | None = Field(default=None, ge=1)
    length_unit: Literal["day", "hour", "minute", "second"] | None = None
    top: int | None = Field(default=None, ge=1, le=SEGMENT_LIMIT)  # limit
    overall: bool | None = False  # interval := the range's days
    account: str | None = None

    def check(self, function: str, today: dt.date) -> None:
        if self.funnel_id is None:
            raise ArgumentError(function, "funnel_id", "is required", "a saved funnel's id (see mp_funnels())")
        require_dates(function, self.from_date, self.to_date, today)
        check_expression(function, "by", self.by)
        check_expression(function, "filter", self.filter)
        check_top(function, self.top, self.by)
        if self.overall and self.unit not in (None, "day"):
            raise ArgumentError(function, "overall", f"makes the whole range one bucket, so unit := '{self.unit}' "
                                "cannot apply", "drop one of overall := true and unit :=")
        if self.length_unit is not None and self.length is None:
            raise ArgumentError(function, "length_unit", "needs length := N (the window is N of this unit)",
                                "e.g. length := 7, length_unit := 'day'")
        if self.length is not None:
            # Without length_unit the funnel's saved unit applies; the cap holds even in seconds.
            seconds = self.length * LENGTH_UNIT_SECONDS[self.length_unit or "second"]
            if seconds > MAX_WINDOW_DAYS * 86_400:
                unit = self.length_unit or "second"
                raise ArgumentError(function, "length", f"{self.length} {unit}s is longer than Mixpanel's "
                                    f"{MAX_WINDOW_DAYS}-day limit on the conversion window",
                                    f"at most {MAX_WINDOW_DAYS * 86_400 // LENGTH_UNIT_SECONDS[unit]} {unit}s")


def funnel_params(a: FunnelArgs) -> dict[str, Any]:
    params = {"funnel_id": a.funnel_id, "from_date": a.from_date and a.from_date.isoformat(),
              "to_date": a.to_date and a.to_date.isoformat(), "unit": a.unit or "day", "on": a.by, "where": a.filter,
              "length": a.length, "length_unit": a.length_unit, "limit": a.top}
    if a.overall and a.from_date and a.to_date:  # one bucket over the range (Mixpanel refuses unit with interval)
        params.update(unit=None, interval=(a.to_date - a.from_date).days + 1)
    return params


def _funnel(call: Call[FunnelArgs]) -> Iterator[tuple[Any, ...]]:
    body = expect(NAME, call.fetch("query", "/funnels", funnel_params(call.args), ttl=cache_ttl(REPORT_TTL)), dict,
                  "/funnels")
    data = expect(NAME, body.get("data") or {}, dict, "/funnels data")
    for date, key in sorted((bucket_date(NAME, k), k) for k in data):
        for segment, steps in _segments(data[key], segmented=call.args.by is not None):
            for i, step in enumerate(steps, start=1):
                yield _row(date, segment, i, step)


def _segments(day: Any, segmented: bool) -> list[tuple[str, list[Any]]]:
    """``[(segment, steps)]`` of one date, ``$overall`` first.

    Unsegmented: ``{"steps": [...], "analysis": {...}}``. Segmented: ``{segment: [steps] | {"steps": [...]}}``
    (the segmented shape is observed, not documented, so both inner forms are read).
    """
    day = expect(NAME, day, dict, "a /funnels date")
    if isinstance(day.get("steps"), list) and (not segmented or "analysis" in day):
        return [(OVERALL, day["steps"])]
    out = []
    for segment, inner in day.items():
        steps = inner.get("steps") if isinstance(inner, dict) else inner
        if not isinstance(steps, list):
            raise MpsqlError(f"{NAME}: segment {segment!r} of Mixpanel's answer holds no step list")
        out.append((str(segment), steps))
    out.sort(key=lambda pair: pair[0] != OVERALL)  # stable: Mixpanel's order otherwise
    return out


def _row(date: dt.date, segment: str, i: int, step: Any) -> tuple[Any, ...]:
    step = expect(NAME, step, dict, "a funnel step")
    label = step.get("step_label") or step.get("event") or step.get("goal")
    return (date, segment, i, None if label is None else str(label), count(step.get("count")),
            number(step.get("step_conv_ratio")), number(step.get("overall_conv_ratio")), number(step.get("avg_time")))


FUNCTION = rows_function(
    name=NAME, schema=SCHEMA, model=FunnelArgs, positional=("funnel_id", "from_date", "to_date"),
    description="A saved funnel's step counts and conversion per date bucket (and segment, with by :=), or over "
                "the whole range with overall := true; unsegmented rows have segment '$overall'.",
    example="SELECT step, event, count, avg_time_seconds FROM mp_funnel(7001, current_date - 30, current_date - 1, "
            "overall := true) ORDER BY step",
    produce=_funnel)
