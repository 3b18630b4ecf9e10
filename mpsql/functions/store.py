"""The local event store from SQL: ``mp_sync`` fills it ahead of time, ``mp_store`` lists it, ``mp_store_drop``
forgets days. (``mp_events_local`` in ``sql/store.sql`` reads it without any request.)

``mp_sync`` fetches only what the store lacks: days not held, days fetched before they settled (the lookback
window) and days held for a narrower selection. Each request's days are committed whole as soon as it
arrives, so an interrupted sync keeps what it finished and the next run carries on. It stops, and says so,
rather than wait for the next hour once the hourly export budget is spent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from pydantic import Field

from mpsql.functions._args import Args, Day, Names, check_date_range
from mpsql.functions._clock import clock
from mpsql.functions._context import Progress
from mpsql.functions._rows import Call, rows_function
from mpsql.functions.export import Density, Fetcher, plan_segments
from mpsql.store.days import DayStore, HeldDay, Selection, release_scratch

SYNC_SCHEMA = pa.schema([
    pa.field("date", pa.date32()),
    pa.field("action", pa.string()),  # held | fetched | not fetched | not kept
    pa.field("rows", pa.int64()),
    pa.field("bytes", pa.int64()),
    pa.field("fetched_at", pa.timestamp("us", tz="UTC")),
    pa.field("request", pa.string()),
])


class SyncArgs(Args):
    from_date: Day
    to_date: Day
    events: Names = None
    refresh: bool = False
    account: str | None = None
    window_days: int | None = Field(default=None, ge=1, le=366)

    def check(self, function: str, today: dt.date) -> None:
        check_date_range(function, self.from_date, self.to_date, today)


def _sync(call: Call[SyncArgs]) -> Iterator[tuple[Any, ...]]:
    args, client = call.args, call.client
    store = call.ctx.day_store(client.account)
    # Days in export's zone (a legacy project's own: functions/_clock.py), as mp_export reads them.
    zone = clock(client, ask=bool(client.account.legacy_time)).export_zone
    want = Selection(tuple(sorted(set(args.events))) if args.events is not None else None, None, zone)
    now = call.ctx.now()
    days = [args.from_date + dt.timedelta(days=i) for i in range((args.to_date - args.from_date).days + 1)]
    held = store.held(days)

    def usable(day: HeldDay) -> bool:
        return (not args.refresh and day.servable(store.settings, now)
                and day.selection.covers(want, where_applies_locally=False))

    segments = plan_segments(args.from_date, args.to_date, held, usable)
    budget = client.budget("export")

    def budget_left() -> bool:
        left = budget.remaining_this_hour()
        return left is None or left > 0

    progress = call.progress or Progress(function="mp_sync")
    params: dict[str, Any] = {"time_in_ms": "true", **({"event": list(want.events)} if want.events is not None else {})}
    scratch = store.scratch()
    fetcher = Fetcher(client, scratch, params, want, store, call.cancel, progress,  # type: ignore[arg-type]
                      clock=call.ctx.now, gate=budget_left)
    fetcher.demand.set()
    density = Density.known(store.rows_per_day())
    try:
        for segment in segments:
            if not segment.fetch:
                for day in segment.held:
                    yield _row(day, "held")
                continue
            start = segment.first
            while start <= segment.last and not fetcher.stopped:
                windows = density.next_windows(start, segment.last, args.window_days)
                for window in fetcher.fetch(windows, stored=True):
                    window.release()  # its rows are not read here: only its days, now kept
                    density.saw(window.rows, (window.last - window.first).days + 1)
                    kept = {day.date: day for day in _held_now(store, window.first, window.last)}
                    for i in range((window.last - window.first).days + 1):
                        date = window.first + dt.timedelta(days=i)
                        # Fetched but not written (the answer repeated the secret, the folder was refused): say so.
                        yield _row(kept[date], "fetched") if date in kept else (date, "not kept", None, None,
                                                                                 None, window.span)
                    call.report(window.rows)
                    start = window.last + dt.timedelta(days=1)
            if fetcher.stopped:
                for day in range((segment.last - start).days + 1):
                    yield (start + dt.timedelta(days=day), "not fetched", None, None, None, None)
        if fetcher.stopped:
            client.notice("mp_sync: the hourly export budget is spent; the days marked 'not fetched' are left for "
                          "the next run (it carries on where this one stopped)")
    finally:
        fetcher.close()
        release_scratch(scratch)


def _held_now(store: DayStore, first: dt.date, last: dt.date) -> list[HeldDay]:
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    return list(store.held(days).values())


def _row(day: HeldDay, action: str) -> tuple[Any, ...]:
    return (day.date, action, day.rows, day.bytes, dt.datetime.fromtimestamp(day.fetched_at, dt.UTC), day.request)


MP_SYNC = rows_function(
    name="mp_sync",
    schema=SYNC_SCHEMA,
    model=SyncArgs,
    positional=("from_date", "to_date"),
    description="Fill the local event store for a date range: only days not held, not yet settled or held for a "
                "narrower selection are fetched; one row per day says what was done.",
    example="SELECT action, count(*), sum(rows) FROM mp_sync(current_date - 30, current_date - 1) GROUP BY ALL",
    produce=_sync,
    progress=True,
)


# ---------------------------------------------------------------------------------------------- mp_store

STORE_SCHEMA = pa.schema([
    pa.field("date", pa.date32()),
    pa.field("rows", pa.int64()),
    pa.field("bytes", pa.int64()),
    pa.field("fetched_at", pa.timestamp("us", tz="UTC")),
    pa.field("settled", pa.bool_()),
    pa.field("events", pa.list_(pa.string())),
    pa.field("filter", pa.string()),
    pa.field("request", pa.string()),
    pa.field("version", pa.string()),
    pa.field("path", pa.string()),
])


class StoreArgs(Args):
    account: str | None = None


def _store(call: Call[StoreArgs]) -> Iterator[tuple[Any, ...]]:
    store = call.ctx.day_store(call.client.account)
    for day in store.all_days():
        yield (day.date, day.rows, day.bytes, dt.datetime.fromtimestamp(day.fetched_at, dt.UTC),
               day.settled(store.settings.lookback_days),
               list(day.selection.events) if day.selection.events is not None else None, day.selection.where,
               day.request, day.version, str(day.path))


MP_STORE = rows_function(
    name="mp_store",
    schema=STORE_SCHEMA,
    model=StoreArgs,
    positional=(),
    description="The days the local event store holds for the account's project: rows, bytes, when fetched, "
                "whether settled, which events and filter (NULL = all), the file.",
    example="SELECT date, rows, settled FROM mp_store() ORDER BY date DESC LIMIT 10",
    produce=_store,
)


# ---------------------------------------------------------------------------------------------- mp_store_drop

class DropArgs(Args):
    from_date: Day
    to_date: Day
    account: str | None = None

    def check(self, function: str, today: dt.date) -> None:
        if self.from_date > self.to_date:
            from mpsql.errors import ArgumentError

            raise ArgumentError(function, "from_date", f"{self.from_date} is after to_date {self.to_date}",
                                "from_date <= to_date; both are inclusive")


def _drop(call: Call[DropArgs]) -> Iterator[tuple[Any, ...]]:
    store = call.ctx.day_store(call.client.account)
    days = [call.args.from_date + dt.timedelta(days=i)
            for i in range((call.args.to_date - call.args.from_date).days + 1)]
    for day in store.drop(days):
        yield (day,)


MP_STORE_DROP = rows_function(
    name="mp_store_drop",
    schema=pa.schema([pa.field("date", pa.date32())]),
    model=DropArgs,
    positional=("from_date", "to_date"),
    description="Forget the held days of a date range (the next mp_export or mp_sync fetches them again); "
                "returns the days dropped.",
    example="SELECT count(*) FROM mp_store_drop('2024-01-01', '2024-01-31')",
    produce=_drop,
)

FUNCTIONS = (MP_SYNC, MP_STORE, MP_STORE_DROP)
