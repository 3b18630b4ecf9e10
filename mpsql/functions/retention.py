"""Retention and frequency: ``mp_retention`` (``GET /retention``) and ``mp_frequency`` (``GET /retention/addiction``),
docs/mixpanel-api.md, "Retention and frequency".

``mp_retention`` -> ``cohort_date DATE, segment VARCHAR, cohort_size BIGINT, period INTEGER, count BIGINT,
rate DOUBLE``: one row per cohort x segment x period.

- ``cohort_date``: the day (or week/month start) the cohort's users were born (did ``born_event``; for
  compounded retention, did the recurring event).
- ``period`` counts from 0 like Mixpanel's ``counts`` array: period 0 is the first interval after the birth
  (e.g. the first 24 hours), period N the (N+1)th. Recent cohorts have fewer periods (not elapsed yet).
- ``count``: cohort users who did ``event`` (any event when NULL) in that period; ``rate = count /
  cohort_size`` (NULL for an empty cohort).
- ``segment`` is ``$overall`` without ``by``; with ``by`` (segmenting the returning event) Mixpanel's
  segment keys, ``$overall`` included.

Retention types: ``'birth'`` (Mixpanel's "first time") needs ``born_event``; ``'compounded'`` ("recurring") has
no birth event, so the positional event is the recurring event and is sent as Mixpanel's ``event``.
Mixpanel refuses ``unit`` and ``interval`` in one request: ``interval := N`` alone means N-day buckets (at most
90), ``unit`` alone periods of a day, a week or a month measured from each user's birth (Mixpanel's rolling
intervals: month 1 is days 30-60 after the birth, docs/report-semantics.md "Retention"), while the cohort is
the calendar day/week/month of the birth. ``interval_count`` is the number of periods after period 0
(Mixpanel's default is 1). ``unbounded := true`` is Mixpanel's "on or after": a user counts in period N when
they came back in period N or any time later.

With ``buckets := [1, 3, 7]`` (period ends in ``unit``s, default days) ``mp_retention`` posts an ad-hoc retention
definition instead (``functions/adhoc.py``; docs/mixpanel-api.md, "Ad-hoc reports"): birth retention from
``born_event`` to ``event``, period i being ``[buckets[i-1], buckets[i])`` units after the birth;
``definition := '<json>'`` sends a whole one.

``mp_frequency`` -> ``date DATE, segment VARCHAR, frequency INTEGER, users BIGINT``: for each ``unit``
period starting at ``date``, ``users`` did the event in **at least** ``frequency`` distinct ``addiction_unit``
slots (hours or days) of it, so ``users`` never increases with ``frequency``. Mixpanel's spec wraps the
answer in ``data``, its prose page does not; both are read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any, Literal

import pyarrow as pa
from pydantic import Field

from mpsql.api.cache import REPORT_TTL, cache_ttl
from mpsql.errors import ArgumentError, MpsqlError
from mpsql.functions._args import Day, ProjectArgs
from mpsql.functions._reports import (
    OVERALL,
    SEGMENT_LIMIT,
    bucket_date,
    check_expression,
    check_top,
    cohort_counts,
    count,
    expect,
    is_time_key,
    require_dates,
    require_name,
)
from mpsql.functions._rows import Call, rows_function
from mpsql.functions.adhoc import (
    check_buckets,
    check_dates_if_any,
    definition_filters,
    parse_definition,
    post,
    property_name,
    refuse_with,
    retention_definition,
    retention_rows,
    with_dates,
)

MAX_INTERVAL_DAYS = 90  # documented: interval may not exceed 90 days

RETENTION_SCHEMA = pa.schema([
    pa.field("cohort_date", pa.date32()),
    pa.field("segment", pa.string()),
    pa.field("cohort_size", pa.int64()),
    pa.field("period", pa.int32()),
    pa.field("count", pa.int64()),
    pa.field("rate", pa.float64()),
])

FREQUENCY_SCHEMA = pa.schema([
    pa.field("date", pa.date32()),
    pa.field("segment", pa.string()),
    pa.field("frequency", pa.int32()),
    pa.field("users", pa.int64()),
])


# ---------------------------------------------------------------------------------------------- mp_retention


class RetentionArgs(ProjectArgs):
    """The arguments of ``mp_retention``; Mixpanel's names in comments where they differ."""

    born_event: str | None = None
    from_date: Day | None = None
    to_date: Day | None = None
    event: str | None = None  # the returning event; NULL = any event
    born_filter: str | None = None  # born_where
    filter: str | None = None  # where
    retention_type: Literal["birth", "compounded"] | None = "birth"
    unit: Literal["day", "week", "month"] | None = None
    interval: int | None = Field(default=None, ge=1)
    interval_count: int | None = Field(default=None, ge=0)
    by: str | None = None  # on
    top: int | None = Field(default=None, ge=1, le=SEGMENT_LIMIT)  # limit
    unbounded: bool | None = None  # unbounded_retention
    buckets: list[int] | None = None  # ad-hoc: custom bucket ends in units (retentionCustomBucketSizes)
    definition: str | None = None  # ad-hoc: a whole retention definition, as JSON text
    account: str | None = None

    def sent_in_url(self) -> bool:
        return self.buckets is None and self.definition is None

    def check(self, function: str, today: dt.date) -> None:
        if self.definition is not None:
            refuse_with(function, {"born_event": self.born_event, "event": self.event, "buckets": self.buckets,
                                   "born_filter": self.born_filter, "filter": self.filter, "unit": self.unit,
                                   "interval": self.interval, "interval_count": self.interval_count, "by": self.by,
                                   "top": self.top, "unbounded": self.unbounded},
                        "cannot be combined with definition := (the definition says it)",
                        "either the typed arguments or definition :=")
            if self.retention_type not in (None, "birth"):
                raise ArgumentError(function, "retention_type", "cannot be combined with definition :=",
                                    "leave retention_type out")
            check_dates_if_any(function, self.from_date, self.to_date, today)
            parse_definition(function, self.definition)
            return
        require_dates(function, self.from_date, self.to_date, today)
        if self.buckets is not None:
            self._check_adhoc(function)
            return
        if (self.retention_type or "birth") == "birth":
            require_name(function, "born_event", self.born_event,
                         "the event that makes a user part of a cohort, e.g. 'Sign Up'")
        else:
            if self.born_event is not None and self.event is not None and self.born_event != self.event:
                raise ArgumentError(function, "event", "compounded retention has no birth event, only the "
                                    f"recurring one; got born_event {self.born_event!r} and event {self.event!r}",
                                    "the recurring event once, e.g. mp_retention('Login', ..., "
                                    "retention_type := 'compounded')")
            if self.born_filter is not None:
                raise ArgumentError(function, "born_filter", "applies to birth retention only",
                                    "filter := ... to filter compounded retention's events")
            if self.born_event is not None:
                require_name(function, "born_event", self.born_event, "the recurring event, e.g. 'Login'")
        if self.event is not None:
            require_name(function, "event", self.event, "an event name, or NULL for any event")
        check_expression(function, "born_filter", self.born_filter)
        check_expression(function, "filter", self.filter)
        check_expression(function, "by", self.by)
        check_top(function, self.top, self.by)
        if self.unit is not None and self.interval is not None:
            raise ArgumentError(function, "interval", f"cannot be combined with unit := '{self.unit}' "
                                "(Mixpanel refuses both in one request)",
                                "interval := N for N-day periods, or unit := 'day'|'week'|'month'")
        if self.interval is not None and self.interval > MAX_INTERVAL_DAYS:
            raise ArgumentError(function, "interval", f"{self.interval} days is more than Mixpanel's "
                                f"{MAX_INTERVAL_DAYS}-day limit", f"1 to {MAX_INTERVAL_DAYS} (days per period)")


    def _check_adhoc(self, function: str) -> None:
        """``buckets :=`` makes an ad-hoc retention query (docs/mixpanel-api.md, "Ad-hoc reports")."""
        check_buckets(function, self.buckets or [])
        if (self.retention_type or "birth") != "birth":
            raise ArgumentError(function, "retention_type", "custom buckets measure birth retention only",
                                "retention_type := 'birth' with buckets :=")
        require_name(function, "born_event", self.born_event, "the event that makes a user part of a cohort")
        require_name(function, "event", self.event, "the return event, e.g. 'Login' (buckets := needs one)")
        refuse_with(function, {"interval": self.interval, "interval_count": self.interval_count,
                               "unbounded": self.unbounded},
                    "does not apply with buckets := (the buckets are the periods)",
                    "buckets := [1, 3, 7] with unit := 'day'|'week'|'month'")
        for argument in ("born_filter", "filter"):
            check_expression(function, argument, getattr(self, argument))
            definition_filters(function, argument, getattr(self, argument))
        check_expression(function, "by", self.by)
        if self.by is not None:
            property_name(function, "by", self.by, bare=False)
        check_top(function, self.top, self.by)


def _adhoc_retention(call: Call[RetentionArgs]) -> Iterator[tuple[Any, ...]]:
    a = call.args
    if a.definition is not None:
        definition = with_dates(parse_definition(call.function, a.definition) or {}, a.from_date, a.to_date)
    else:
        assert a.born_event and a.event and a.from_date and a.to_date and a.buckets
        definition = retention_definition(
            a.born_event, a.event, a.from_date, a.to_date, unit=a.unit or "day", buckets=a.buckets,
            born_filters=definition_filters(call.function, "born_filter", a.born_filter),
            return_filters=definition_filters(call.function, "filter", a.filter),
            by=None if a.by is None else property_name(call.function, "by", a.by, bare=False))
    body = post(call, "/insights", {"bookmark": definition, "queryLimits": {"limit": a.top or 200}})
    return retention_rows(call.function, body)


def retention_params(a: RetentionArgs) -> dict[str, Any]:
    birth = (a.retention_type or "birth") == "birth"
    returning = a.event if birth else (a.event or a.born_event)
    return {"from_date": a.from_date and a.from_date.isoformat(), "to_date": a.to_date and a.to_date.isoformat(),
            "retention_type": a.retention_type or "birth", "born_event": a.born_event if birth else None,
            "event": returning, "born_where": a.born_filter, "where": a.filter, "unit": a.unit,
            "interval": a.interval, "interval_count": a.interval_count, "on": a.by, "limit": a.top,
            "unbounded_retention": a.unbounded}


def _retention(call: Call[RetentionArgs]) -> Iterator[tuple[Any, ...]]:
    if call.args.buckets is not None or call.args.definition is not None:
        yield from _adhoc_retention(call)
        return
    body = expect(call.function, call.fetch("query", "/retention", retention_params(call.args),
                                            ttl=cache_ttl(REPORT_TTL)), dict, "/retention")
    if set(body) == {"data"} and isinstance(body["data"], dict):
        body = body["data"]
    cohorts = sorted((bucket_date(call.function, k), k) for k in body if is_time_key(k))
    for cohort_date, key in cohorts:
        for segment, cohort in _retention_segments(call.function, body[key]):
            for size, period, n, rate in cohort_counts(call.function, key, cohort):
                yield cohort_date, segment, size, period, n, rate


def _retention_segments(function: str, cohort: Any) -> list[tuple[str, dict[str, Any]]]:
    """``[(segment, {"counts", "first"})]``: unsegmented cohorts have ``counts`` at the top (docs/mixpanel-api.md,
    "Retention and frequency")."""
    cohort = expect(function, cohort, dict, "a /retention cohort")
    if "counts" in cohort or "first" in cohort:
        return [(OVERALL, cohort)]
    out = [(str(seg), expect(function, inner, dict, "a /retention segment")) for seg, inner in cohort.items()]
    out.sort(key=lambda pair: pair[0] != OVERALL)
    return out


MP_RETENTION = rows_function(
    name="mp_retention", schema=RETENTION_SCHEMA, model=RetentionArgs,
    positional=("born_event", "from_date", "to_date"),
    description="Retention cohorts: per cohort date and period, users who came back and the rate "
                "(birth or compounded; custom periods with buckets := [1, 3, 7]); unsegmented rows have segment "
                "'$overall'.",
    example="SELECT cohort_date, period, rate FROM mp_retention('Sign Up', current_date - 30, current_date - 1, "
            "event := 'Purchase', interval_count := 7)",
    produce=_retention)


# ---------------------------------------------------------------------------------------------- mp_frequency


class FrequencyArgs(ProjectArgs):
    from_date: Day | None = None
    to_date: Day | None = None
    event: str | None = None  # NULL = any event
    unit: Literal["day", "week", "month"] | None = "day"
    addiction_unit: Literal["hour", "day"] | None = "hour"
    filter: str | None = None  # where
    by: str | None = None  # on
    top: int | None = Field(default=None, ge=1, le=SEGMENT_LIMIT)  # limit
    account: str | None = None

    def check(self, function: str, today: dt.date) -> None:
        require_dates(function, self.from_date, self.to_date, today)
        if self.event is not None:
            require_name(function, "event", self.event, "an event name, or NULL for any event")
        check_expression(function, "filter", self.filter)
        check_expression(function, "by", self.by)
        check_top(function, self.top, self.by)


def frequency_params(a: FrequencyArgs) -> dict[str, Any]:
    return {"from_date": a.from_date and a.from_date.isoformat(), "to_date": a.to_date and a.to_date.isoformat(),
            "unit": a.unit or "day", "addiction_unit": a.addiction_unit or "hour", "event": a.event,
            "where": a.filter, "on": a.by, "limit": a.top}


def _frequency(call: Call[FrequencyArgs]) -> Iterator[tuple[Any, ...]]:
    body = expect(call.function, call.fetch("query", "/retention/addiction", frequency_params(call.args),
                                            ttl=cache_ttl(REPORT_TTL)), dict, "/retention/addiction")
    data = body["data"] if isinstance(body.get("data"), dict) else body
    for date, key in sorted((bucket_date(call.function, k), k) for k in data if is_time_key(k)):
        value = data[key]
        if isinstance(value, list):
            segments = [(OVERALL, value)]
        else:
            segments = [(str(s), v) for s, v in expect(call.function, value, dict, "a frequency period").items()]
            segments.sort(key=lambda pair: pair[0] != OVERALL)
        for segment, users in segments:
            if not isinstance(users, list):
                raise MpsqlError(f"{call.function}: segment {segment!r} of period {key} is not a list of counts")
            for i, n in enumerate(users, start=1):
                yield date, segment, i, count(n)


MP_FREQUENCY = rows_function(
    name="mp_frequency", schema=FREQUENCY_SCHEMA, model=FrequencyArgs, positional=("from_date", "to_date"),
    description="Frequency (addiction): per period, users who did the event in at least N distinct hours (or days).",
    example="SELECT date, frequency, users FROM mp_frequency(current_date - 7, current_date - 1, event := 'Login')",
    produce=_frequency)


FUNCTIONS = (MP_RETENTION, MP_FREQUENCY)
