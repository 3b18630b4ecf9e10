"""The emulated project's saved reports: funnels (``/funnels``), Insights bookmarks and a Flows report.

Saved ranges are relative, as in Mixpanel's UI: "last N days" is [today - N, today - 1] in the project
time zone (UTC), so a saved report always covers whole days of data [E].

Insights (``GET /insights?bookmark_id=``, docs/mixpanel-api.md, "Insights and Flows"): ``headers`` names the
nesting of ``series``: ``["$event"]`` gives ``{event: {iso date: n}}``; ``["$event", "<property>"]`` gives
``{event: {"$overall": {iso date: n}, "<value>": {iso date: n}, ...}}`` [O]. Dates are ISO datetimes with the
project's offset (``2024-03-04T00:00:00+00:00``).

Flows: Mixpanel documents no Query API endpoint for Flows. Clients (mixpanel_data) read a saved Flows report
with ``GET /api/query/arb_funnels?bookmark_id=<id>&query_type=flows_sankey`` and get
``{"computed_at", "steps", "breakdowns", "overallConversionRate", "metadata"}`` [O]; the emulator serves
that endpoint with those top-level keys and its own inner shapes (``analytics.flows``) [E]. The Insights
endpoint answers a Flows bookmark with HTTP 200 and an ``error`` key, as Insights fails softly [O].
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mpsql.emulator import analytics
from mpsql.emulator.analytics import Buckets, Step
from mpsql.emulator.eventstore import Event
from mpsql.emulator.where import compile_where

__all__ = ["BOOKMARKS", "BOOKMARK_TYPES", "FUNNELS", "Bookmark", "SavedFunnel", "bookmark_list", "bookmark_range",
           "flows_report", "insights_report"]

LENGTH_UNIT_S = {"second": 1, "minute": 60, "hour": 3600, "day": 86_400}


@dataclass(frozen=True)
class SavedFunnel:
    """A funnel saved in the UI: its steps and default conversion window."""

    funnel_id: int
    name: str
    steps: tuple[Step, ...]
    length: int
    length_unit: str  # second | minute | hour | day


FUNNELS: dict[int, SavedFunnel] = {f.funnel_id: f for f in (
    SavedFunnel(7001, "Purchase funnel",
                (Step("View Item"), Step("Add to Cart"), Step("Checkout"), Step("Purchase")), 1, "day"),
    SavedFunnel(7002, "Sign up to purchase", (Step("Sign Up"), Step("Purchase")), 30, "day"),
    SavedFunnel(7003, "Search to big purchase",
                (Step("Search"), Step("View Item"),
                 Step("Purchase", compile_where('properties["amount"] > 100'), "Purchase over 100")), 2, "hour"),
    SavedFunnel(7004, "Visit to sign up", (Step("Page View"), Step("Sign Up")), 1, "day"),
)}


@dataclass(frozen=True)
class Bookmark:
    """A saved Insights or Flows report over the last ``last_days`` days."""

    bookmark_id: int
    name: str
    type: str  # "insights" | "flows"
    last_days: int
    events: tuple[str, ...] = ()  # insights: one series per event
    math: str = "general"  # insights: general (total) | unique
    unit: str = "day"  # insights: day | week
    breakdown: str | None = None  # insights: a property name
    anchor: str = ""  # flows: the starting event
    forward: int = 3  # flows: steps after the anchor
    window_days: int = 7  # flows: conversion window
    description: str = ""
    creator: str = "Ada Analyst"


BOOKMARKS: dict[int, Bookmark] = {b.bookmark_id: b for b in (
    Bookmark(9101, "Daily purchases", "insights", 30, events=("Purchase",),
             description="Purchases per day, last 30 days"),
    Bookmark(9102, "Page View uniques by browser", "insights", 14, events=("Page View",), math="unique",
             breakdown="$browser"),
    Bookmark(9103, "Weekly sign ups and purchases", "insights", 30, events=("Sign Up", "Purchase"), unit="week"),
    Bookmark(9201, "What users do after Add to Cart", "flows", 30, anchor="Add to Cart", forward=3, window_days=7,
             creator="Grace Growth"),
)}


def bookmark_range(bookmark: Bookmark, today: dt.date) -> tuple[dt.date, dt.date]:
    """The saved relative range resolved against ``today``: [today - last_days, today - 1]."""
    return today - dt.timedelta(days=bookmark.last_days), today - dt.timedelta(days=1)


def _iso_day(key: str) -> str:
    return f"{key}T00:00:00+00:00"


def insights_report(bookmark: Bookmark, events: Iterable[Event], today: dt.date, computed_at: str
                    ) -> dict[str, Any]:
    """The ``/insights`` body of an insights bookmark, from the deduplicated events of its range."""
    from_date, to_date = bookmark_range(bookmark, today)
    buckets = Buckets(from_date, to_date, bookmark.unit)
    rows = [e for e in events if e.name in bookmark.events]
    series: dict[str, Any] = {}
    for name in bookmark.events:
        mine = [e for e in rows if e.name == name]
        overall = analytics.segmentation(mine, buckets, label=name, kind=bookmark.math)["data"]["values"][name]
        if bookmark.breakdown is None:
            series[name] = {_iso_day(k): v for k, v in overall.items()}
            continue
        on = compile_where(f'properties["{bookmark.breakdown}"]')
        segs = analytics.segmentation(mine, buckets, label=name, kind=bookmark.math, on=on, limit=None)
        nested = {analytics.OVERALL: overall, **segs["data"]["values"]}
        series[name] = {seg: {_iso_day(k): v for k, v in vals.items()} for seg, vals in nested.items()}
    headers = ["$event"] if bookmark.breakdown is None else ["$event", bookmark.breakdown]
    return {"computed_at": computed_at,
            "date_range": {"from_date": _iso_day(from_date.isoformat()),
                           "to_date": f"{to_date.isoformat()}T23:59:59.999000+00:00"},
            "headers": headers, "series": series}


def flows_report(bookmark: Bookmark, events: Iterable[Event], today: dt.date, computed_at: str) -> dict[str, Any]:
    """The ``/arb_funnels`` (flows_sankey) body of a flows bookmark [E inner shapes]."""
    from_date, to_date = bookmark_range(bookmark, today)
    lo, hi = analytics.epoch(from_date), analytics.epoch(to_date) + analytics.DAY_S
    window_s = bookmark.window_days * analytics.DAY_S
    # The anchor must fall in the range; the steps after it may run past to_date, up to the window.
    in_range = (e for e in events if lo <= e.time < hi + window_s)
    body = analytics.flows(in_range, anchor=Step(bookmark.anchor), forward=bookmark.forward, window_s=window_s,
                           anchor_range=(lo, hi))
    return {"computed_at": computed_at, **body,
            "metadata": {"bookmark_id": bookmark.bookmark_id, "name": bookmark.name, "query_type": "flows_sankey",
                         "anchor": bookmark.anchor, "forward": bookmark.forward,
                         "conversion_window": {"length": bookmark.window_days, "unit": "day"},
                         "count_type": "unique", "from_date": from_date.isoformat(), "to_date": to_date.isoformat()}}


#: The ``type`` values the App API's bookmark list filters on.
BOOKMARK_TYPES = ("insights", "funnels", "retention", "flows", "launch-analysis")


def bookmark_list(today: dt.date, project_id: int, workspace_id: int | None,
                  kind: str | None = None) -> list[dict[str, Any]]:
    """The saved reports as the App API lists them (``GET .../bookmarks?v=2``): the Insights and Flows bookmarks,
    and each saved funnel as a ``funnels`` report whose id is its ``funnel_id`` [E]. Times are the project's
    wall clock without a zone; ``modified`` is a few days before ``today``, fixed per report."""
    rows: list[tuple[int, str, str, str, str]] = [
        (b.bookmark_id, b.name, b.type, b.description, b.creator) for b in BOOKMARKS.values()]
    rows += [(f.funnel_id, f.name, "funnels", f"{len(f.steps)} steps within {f.length} {f.length_unit}(s)",
              "Ada Analyst") for f in FUNNELS.values()]
    out = []
    for rid, name, rtype, description, creator in sorted(rows):
        if kind is not None and rtype != kind:
            continue
        modified = dt.datetime.combine(today - dt.timedelta(days=rid % 11 + 1), dt.time(9, 30, rid % 60))
        created = modified - dt.timedelta(days=40)
        out.append({"id": rid, "name": name, "type": rtype, "project_id": project_id, "workspace_id": workspace_id,
                    "dashboard_id": None, "created": created.isoformat(), "modified": modified.isoformat(),
                    "creator_id": 500 + len(creator), "creator_name": creator,
                    "creator_email": creator.lower().replace(" ", ".") + "@example.com", "description": description,
                    "params": {}, "metadata": {}, "is_visibility_restricted": False,
                    "is_modification_restricted": False, "can_view": True, "can_share": True})
    return out
