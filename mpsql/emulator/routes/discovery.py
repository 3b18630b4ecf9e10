"""Discovery endpoints of the Query API (docs/mixpanel-api.md, "Cohorts list", "Events and properties
breakdowns"): event names, today's top events, an event's top properties, a property's values, and the saved
cohorts.

All counts come from the deduplicated events (Mixpanel's reports dedup at query time, docs/mixpanel-api.md,
"Duplicates"). Emulator choices [E]: names, properties and values look at the last ``DISCOVERY_DAYS`` days
(``/events/names`` also takes ``from_date``/``to_date``); the project's data ends yesterday, so ``/events/top``'s
"today" is the last day with data and "yesterday" the day before it. Storage fields (``time``, ``distinct_id``,
``$insert_id``, ``mp_processing_time_ms``) are not reported as properties.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mpsql.emulator import messages
from mpsql.emulator.catalog import cohorts_list
from mpsql.emulator.datagen import Dataset
from mpsql.emulator.eventstore import store_for
from mpsql.emulator.proto import HttpError, Request, Response, Route, query_routes
from mpsql.emulator.routes.export import parse_date
from mpsql.emulator.where import UNDEFINED

if TYPE_CHECKING:
    from mpsql.emulator.server import Emulator

DISCOVERY_DAYS = 31
NAMES_DEFAULT_LIMIT = 255
NAMES_MAX_LIMIT = 5000  # [O] /events/names silently clamps its limit here
TOP_DEFAULT_LIMIT = 100
PROPERTIES_DEFAULT_LIMIT = 10
VALUES_DEFAULT_LIMIT = 255
TYPES = ("general", "unique", "average")
STORAGE_FIELDS = frozenset({"time", "distinct_id", "$insert_id", "mp_processing_time_ms"})


# ---------------------------------------------------------------- computations


@dataclass(frozen=True)
class _Summary:
    """Per event name: deduplicated count, distinct ids, and how many of its events carry each property."""

    counts: dict[str, int]
    uniques: dict[str, int]
    properties: dict[str, Counter[str]]


def window(ds: Dataset) -> tuple[dt.date, dt.date]:
    """The discovery window: the last ``DISCOVERY_DAYS`` days before today."""
    return ds.today - dt.timedelta(days=DISCOVERY_DAYS), ds.today - dt.timedelta(days=1)


def summary(ds: Dataset, from_date: dt.date, to_date: dt.date) -> _Summary:
    """Event and property counts over the inclusive range (cached per dataset and range)."""
    return ds.derived(f"discovery:summary:{from_date}:{to_date}", lambda d: _summarise(d, from_date, to_date))


def _summarise(ds: Dataset, from_date: dt.date, to_date: dt.date) -> _Summary:
    """Counted from the event store's per-day columns (the reports' deduplicated events, parsed once)."""
    counts: Counter[str] = Counter()
    users: dict[str, set[str]] = defaultdict(set)
    props: dict[str, Counter[str]] = defaultdict(Counter)
    store = store_for(ds)
    for date in ds.dates(from_date, to_date):
        for name, block in store.day(date).items():
            counts[name] += len(block.pos)
            users[name].update(block.cols.get("distinct_id", ()))
            carried = props[name]
            for key, col in block.cols.items():
                if key not in STORAGE_FIELDS:
                    n = len(col) - col.count(UNDEFINED)
                    if n:
                        carried[key] += n
    return _Summary(dict(counts), {k: len(v) for k, v in users.items()}, dict(props))


def amount(s: _Summary, event: str, type_: str) -> float:
    """An event's number under ``type``: events (general), distinct ids (unique) or events per id (average)."""
    n, u = s.counts.get(event, 0), s.uniques.get(event, 0)
    if type_ == "general":
        return n
    if type_ == "unique":
        return u
    return n / u if u else 0.0


def event_names(ds: Dataset, type_: str, limit: int, from_date: dt.date, to_date: dt.date) -> list[str]:
    """Event names seen in the range, most common first (ties by name)."""
    s = summary(ds, from_date, to_date)
    return sorted(s.counts, key=lambda e: (-amount(s, e, type_), e))[:limit]


def top_events(ds: Dataset, type_: str, limit: int) -> list[dict[str, Any]]:
    """The last data day's events, biggest first, with the change against the day before."""
    today = summary(ds, ds.last_date, ds.last_date)
    before = summary(ds, ds.last_date - dt.timedelta(days=1), ds.last_date - dt.timedelta(days=1))
    rows = []
    for event in today.counts:
        now, then = amount(today, event, type_), amount(before, event, type_)
        change = (now - then) / then if then else 1.0
        rows.append({"amount": now, "event": event, "percent_change": change})
    rows.sort(key=lambda r: (-r["amount"], r["event"]))
    return rows[:limit]


def top_properties(ds: Dataset, event: str, limit: int) -> dict[str, dict[str, int]]:
    """The event's property names by how many of its events carry them (ties by name)."""
    counter = summary(ds, *window(ds)).properties.get(event, Counter())
    ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return {name: {"count": n} for name, n in ranked}


def value_text(v: Any) -> str:
    """A property value as ``/events/properties/values`` reports it: always a string."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return v
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


def value_counts(ds: Dataset, name: str, event: str | None) -> Counter[str]:
    """How often each value of property ``name`` occurs (on ``event``, or any event) in the discovery window.

    A list counts each of its items; null values are not counted.
    """
    def build(d: Dataset) -> Counter[str]:
        c: Counter[str] = Counter()
        store = store_for(d)
        for date in d.dates(*window(d)):
            for block in store.day(date).values():
                if event is not None and block.name != event:
                    continue
                for v in block.cols.get(name, ()):
                    for item in v if isinstance(v, list) else [v]:
                        if item is not None and item is not UNDEFINED:
                            c[value_text(item)] += 1
        return c

    return ds.derived(f"discovery:values:{json.dumps([name, event])}", build)


def property_values(ds: Dataset, name: str, event: str | None, limit: int) -> list[str]:
    """Distinct values, most frequent first (ties by value)."""
    ranked = sorted(value_counts(ds, name, event).items(), key=lambda kv: (-kv[1], kv[0]))
    return [v for v, _ in ranked[:limit]]


# ---------------------------------------------------------------- parameters


def _opt(params: dict[str, str], name: str) -> str | None:
    v = params.get(name)
    return v if v is not None and v != "" else None


def _required(params: dict[str, str], name: str) -> str:
    v = _opt(params, name)
    if v is None:
        raise HttpError(400, messages.missing_param(name))
    return v


def _type(params: dict[str, str]) -> str:
    t = _required(params, "type")
    if t not in TYPES:
        raise HttpError(400, messages.bad_param("type", "must be one of general, unique, average"))
    return t


def _limit(params: dict[str, str], default: int, cap: int | None = None) -> int:
    raw = _opt(params, "limit")
    if raw is None:
        return default
    try:
        n = int(raw)
    except ValueError:
        raise HttpError(400, messages.LIMIT_INVALID) from None
    if n < 1:
        raise HttpError(400, messages.LIMIT_INVALID)
    return min(n, cap) if cap is not None else n


# ---------------------------------------------------------------- handlers


def names(emu: Emulator, req: Request) -> Response:
    """``/events/names``: a bare array of event names."""
    p = req.params
    type_ = _type(p)
    limit = _limit(p, NAMES_DEFAULT_LIMIT, NAMES_MAX_LIMIT)
    lo, hi = window(emu.dataset)
    if _opt(p, "from_date") is not None or _opt(p, "to_date") is not None:
        lo, hi = parse_date(p, "from_date"), parse_date(p, "to_date")
        if hi > emu.today:
            raise HttpError(400, messages.TO_DATE_FUTURE)
        if lo > hi:
            raise HttpError(400, messages.FROM_AFTER_TO)
    return Response(json=event_names(emu.dataset, type_, limit, lo, hi))


def top(emu: Emulator, req: Request) -> Response:
    """``/events/top``: ``{"events": [{amount, event, percent_change}], "type": ...}``."""
    type_ = _type(req.params)
    limit = _limit(req.params, TOP_DEFAULT_LIMIT)
    return Response(json={"events": top_events(emu.dataset, type_, limit), "type": type_})


def properties_top(emu: Emulator, req: Request) -> Response:
    """``/events/properties/top``: ``{"<property>": {"count": n}}``."""
    event = _required(req.params, "event")
    return Response(json=top_properties(emu.dataset, event, _limit(req.params, PROPERTIES_DEFAULT_LIMIT)))


def properties_values(emu: Emulator, req: Request) -> Response:
    """``/events/properties/values``: a bare array of strings."""
    name = _required(req.params, "name")
    event = _opt(req.params, "event")
    limit = _limit(req.params, VALUES_DEFAULT_LIMIT)
    return Response(json=property_values(emu.dataset, name, event, limit))


def cohorts(emu: Emulator, req: Request) -> Response:
    """``/cohorts/list``: a bare array of saved cohorts."""
    return Response(json=cohorts_list(emu.dataset, emu.credentials.project_id))


def routes() -> dict[str, Route]:
    """Discovery route table (each under ``/api/query/`` and ``/api/2.0/``)."""
    table: dict[str, Route] = {}
    table.update(query_routes("events/names", names))
    table.update(query_routes("events/top", top))
    table.update(query_routes("events/properties/top", properties_top))
    table.update(query_routes("events/properties/values", properties_values))
    table.update(query_routes("cohorts/list", cohorts))
    return table
