"""``mp_activity``: the activity feed (``GET /stream/query``, docs/mixpanel-api.md, "Activity stream") of some
users, one row per event.

``distinct_id VARCHAR, event VARCHAR, time TIMESTAMPTZ, properties JSON`` — the same shape as ``mp_export``'s
columns, so the two union cleanly. ``properties`` is the event's object exactly as Mixpanel sent it; Mixpanel's
own example spells the user's id ``distinct_id`` on one event and ``$distinct_id`` on the next, so both are read.
``time`` is ``properties.time`` (epoch seconds).

Mixpanel requires a date range; here it defaults to the 30 days ending today (``to_date`` defaults to today,
``from_date`` to 29 days before ``to_date``). Mixpanel marks the endpoint as maintenance mode; ``mp_export``
with ``filter := 'properties["distinct_id"] == "..."'`` is the bulk alternative. An empty ``distinct_ids`` list
selects nobody and makes no request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from mpsql.api.cache import REPORT_TTL, cache_ttl
from mpsql.errors import ArgumentError
from mpsql.functions._args import Day, Names, ProjectArgs, check_date_range
from mpsql.functions._reports import expect
from mpsql.functions._rows import Call, rows_function

NAME = "mp_activity"
DEFAULT_DAYS = 30
_MS_THRESHOLD = 100_000_000_000  # an epoch above this is milliseconds (year 5138 in seconds)

SCHEMA = pa.schema([
    pa.field("distinct_id", pa.string()),
    pa.field("event", pa.string()),
    pa.field("time", pa.timestamp("us", tz="UTC")),
    pa.field("properties", pa.json_()),
])


class ActivityArgs(ProjectArgs):
    distinct_ids: Names = None
    from_date: Day | None = None
    to_date: Day | None = None
    account: str | None = None

    def check(self, function: str, today: dt.date) -> None:
        if self.distinct_ids is None:
            raise ArgumentError(function, "distinct_ids", "is required", "a list of ids such as ['u_00001']")
        from_date, to_date = self.range(today)
        check_date_range(function, from_date, to_date, today)

    def range(self, today: dt.date) -> tuple[dt.date, dt.date]:
        """The inclusive range requested: the given dates, or the last ``DEFAULT_DAYS`` days to ``to_date``."""
        to_date = self.to_date or today
        from_date = self.from_date or to_date - dt.timedelta(days=DEFAULT_DAYS - 1)
        return from_date, to_date


def _activity(call: Call[ActivityArgs]) -> Iterator[tuple[Any, ...]]:
    ids = list(dict.fromkeys(call.args.distinct_ids or []))
    if not ids:
        return  # an empty list selects nobody; no request
    from_date, to_date = call.args.range(call.today)
    params = {"distinct_ids": ids, "from_date": from_date.isoformat(), "to_date": to_date.isoformat()}
    body = expect(NAME, call.fetch("query", "/stream/query", params, ttl=cache_ttl(REPORT_TTL)), dict,
                  "/stream/query")
    results = expect(NAME, body.get("results") or {}, dict, "/stream/query results")
    for item in expect(NAME, results.get("events") or [], list, "/stream/query events"):
        item = expect(NAME, item, dict, "a /stream/query event")
        props = item.get("properties") or {}
        did = props.get("distinct_id", props.get("$distinct_id"))
        yield None if did is None else str(did), item.get("event"), _time(props.get("time")), props


def _time(value: Any) -> dt.datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    seconds = value / 1000 if value > _MS_THRESHOLD else value
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


FUNCTION = rows_function(
    name=NAME, schema=SCHEMA, model=ActivityArgs, positional=("distinct_ids",),
    description="The activity feed of some users: their events, oldest first (last 30 days unless dated).",
    example="SELECT time, event, properties FROM mp_activity(['u_00001'], from_date := current_date - 30)",
    produce=_activity)
