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

Ad hoc (``functions/adhoc.py``): ``mp_funnel(NULL, from_date, to_date, steps := [...])`` posts a funnel
definition instead of naming a saved funnel, always over the whole range (rows dated ``from_date``), with a
window of ``length`` ``length_unit`` (default 14 days; up to 367 days), ``step_order := 'any'`` and
``exclude := [...]`` (docs/mixpanel-api.md, "Ad-hoc reports"); ``definition := '<json>'`` sends a whole one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any, Literal

import pyarrow as pa
from pydantic import Field

from mpsql.api.cache import REPORT_TTL, cache_ttl
from mpsql.errors import ArgumentError, MpsqlError
from mpsql.functions._args import Day, Names, ProjectArgs
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
from mpsql.functions._rows import Call, rows_function
from mpsql.functions.adhoc import WINDOW_MAX as ADHOC_WINDOW_MAX
from mpsql.functions.adhoc import (
    check_dates_if_any,
    definition_filters,
    funnel_definition,
    funnel_rows,
    parse_definition,
    post,
    property_name,
    refuse_with,
    with_dates,
)

NAME = "mp_funnel"
MAX_WINDOW_DAYS = 90  # documented cap of the conversion window (saved funnels, GET /funnels)
MAX_STEPS = 100  # an ad-hoc funnel's steps
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
    steps: Names = None  # an ad-hoc funnel's events, with a NULL funnel_id (docs/mixpanel-api.md, "Ad-hoc reports")
    step_order: Literal["loose", "any"] | None = None  # funnelOrder (ad-hoc; default loose); ORDER is reserved
    exclude: Names = None  # exclusions: events that drop a user between the first and the last step (ad-hoc)
    definition: str | None = None  # a whole funnel definition, as JSON text (ad-hoc)
    account: str | None = None

    def sent_in_url(self) -> bool:
        return self.steps is None and self.definition is None

    def check(self, function: str, today: dt.date) -> None:
        adhoc = self.steps is not None or self.definition is not None
        if self.funnel_id is None and not adhoc:
            raise ArgumentError(function, "funnel_id", "is required (or NULL with steps := for an ad-hoc funnel)",
                                "a saved funnel's id (see mp_funnels()), or mp_funnel(NULL, from_date, to_date, "
                                "steps := ['Sign Up', 'Purchase'])")
        if self.funnel_id is not None and adhoc:
            raise ArgumentError(function, "steps" if self.steps is not None else "definition",
                                "cannot be combined with a saved funnel_id",
                                "NULL as funnel_id: mp_funnel(NULL, from_date, to_date, steps := [...])")
        if not adhoc:
            refuse_with(function, {"step_order": self.step_order, "exclude": self.exclude},
                        "applies to ad-hoc funnels only (steps :=)", "drop it, or steps := [...] with a NULL id")
            self._check_saved(function, today)
        elif self.definition is not None:
            refuse_with(function, {"step_order": self.step_order, "exclude": self.exclude, "by": self.by,
                                   "filter": self.filter, "length": self.length, "length_unit": self.length_unit,
                                   "top": self.top}, "cannot be combined with definition := (the definition "
                        "says it)", "either the typed arguments or definition :=")
            check_dates_if_any(function, self.from_date, self.to_date, today)
            parse_definition(function, self.definition)
        else:
            self._check_adhoc(function, today)

    def _check_saved(self, function: str, today: dt.date) -> None:
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

    def _check_adhoc(self, function: str, today: dt.date) -> None:
        steps = self.steps or []
        if not 2 <= len(steps) <= MAX_STEPS:
            raise ArgumentError(function, "steps", f"has {len(steps)} events",
                                f"2 to {MAX_STEPS} event names, e.g. ['Sign Up', 'Purchase']")
        require_dates(function, self.from_date, self.to_date, today)
        if self.unit not in (None, "day"):
            raise ArgumentError(function, "unit", "an ad-hoc funnel covers the whole range as one bucket",
                                "leave unit out with steps :=")
        check_expression(function, "by", self.by)
        if self.by is not None:
            property_name(function, "by", self.by, bare=False)
        check_expression(function, "filter", self.filter)
        definition_filters(function, "filter", self.filter)
        check_top(function, self.top, self.by)
        if self.length_unit is not None and self.length is None:
            raise ArgumentError(function, "length_unit", "needs length := N (the window is N of this unit)",
                                "e.g. length := 7, length_unit := 'day'")
        unit = self.length_unit or "day"
        if self.length is not None and self.length > ADHOC_WINDOW_MAX[unit]:
            raise ArgumentError(function, "length", f"{self.length} {unit}s is longer than the longest conversion "
                                "window of an ad-hoc funnel", f"at most {ADHOC_WINDOW_MAX[unit]} {unit}s")


def _adhoc_funnel(call: Call[FunnelArgs]) -> Iterator[tuple[Any, ...]]:
    a = call.args
    if a.definition is not None:
        definition = with_dates(parse_definition(NAME, a.definition) or {}, a.from_date, a.to_date)
    else:
        assert a.steps is not None and a.from_date is not None and a.to_date is not None
        definition = funnel_definition(
            a.steps, a.from_date, a.to_date, length=a.length or 14, length_unit=a.length_unit or "day",
            order=a.step_order or "loose", exclude=list(dict.fromkeys(a.exclude or [])),
            filters=definition_filters(NAME, "filter", a.filter),
            by=None if a.by is None else property_name(NAME, "by", a.by, bare=False))
    body = post(call, "/insights", {"bookmark": definition, "queryLimits": {"limit": a.top or 200}})
    dates = body.get("date_range") if isinstance(body.get("date_range"), dict) else {}
    date = bucket_date(NAME, dates["from_date"]) if dates.get("from_date") else a.from_date
    return funnel_rows(NAME, body, date)


def funnel_params(a: FunnelArgs) -> dict[str, Any]:
    params = {"funnel_id": a.funnel_id, "from_date": a.from_date and a.from_date.isoformat(),
              "to_date": a.to_date and a.to_date.isoformat(), "unit": a.unit or "day", "on": a.by, "where": a.filter,
              "length": a.length, "length_unit": a.length_unit, "limit": a.top}
    if a.overall and a.from_date and a.to_date:  # one bucket over the range (Mixpanel refuses unit with interval)
        params.update(unit=None, interval=(a.to_date - a.from_date).days + 1)
    return params


def _funnel(call: Call[FunnelArgs]) -> Iterator[tuple[Any, ...]]:
    if call.args.steps is not None or call.args.definition is not None:
        yield from _adhoc_funnel(call)
        return
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
    description="A funnel's step counts and conversion: a saved funnel per date bucket (and segment, with by :=), "
                "or over the whole range with overall := true; or an ad-hoc funnel over the whole range (NULL id, "
                "steps :=, length :=, step_order :=, exclude :=); unsegmented rows have segment '$overall'.",
    example="SELECT step, event, count, avg_time_seconds FROM mp_funnel(7001, current_date - 30, current_date - 1, "
            "overall := true) ORDER BY step",
    produce=_funnel)
