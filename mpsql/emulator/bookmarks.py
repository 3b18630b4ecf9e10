"""Ad-hoc reports: a report definition ("bookmark params") evaluated over deduplicated events, pure and stdlib-only.

``POST /insights`` takes ``{"bookmark": {"sections": ..., "displayOptions": ...}}`` and picks the engine from
``sections.show[].behavior.type`` (``funnel``, ``retention``, else Insights); ``POST /arb_funnels`` takes a flat
Flows definition (docs/mixpanel-api.md, "Ad-hoc reports"). The routes (``routes/reports.py``) load the events;
this module validates the definition, raises ``BookmarkError`` (a 400) for anything it does not support, and
returns the response body. Rules and the emulator's choices ([E]): docs/report-semantics.md, "Ad-hoc reports".

What it evaluates:

- Insights: event metrics (``total``, ``unique``, ``dau``/``wau``/``mau`` (distinct users in the 1/7/28 days
  ending each day, ``unit`` day only), ``total`` of a property (a sum), ``average``, ``median``, ``min``,
  ``max``, ``p25``/``p75``/``p90``/``p99`` of a numeric property; per-metric and global property filters;
  breakdowns by event properties (each level with a ``$overall`` rollup); formulas over the metrics by letter
  (``A`` = the first show clause); ``queryLimits.limit`` top segments; a time comparison. Dated charts only.
- Funnels: 2..100 steps with per-step filters, ``loose`` or ``any`` order, a conversion window, exclusions
  between steps, a breakdown by a property of the entry event, over the whole range (``funnel-steps``).
- Retention: a born and a return event (birth alignment), ``day``/``week``/``month`` buckets or custom bucket
  edges, a breakdown by a property of the born event.
- Flows: one anchor event, ``forward`` and ``reverse`` 0..5, a conversion window, unique counts (Sankey).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from mpsql.emulator import analytics
from mpsql.emulator.analytics import OVERALL, Buckets, Step, segment_keys
from mpsql.emulator.eventstore import Event
from mpsql.emulator.saved_reports import _iso_day
from mpsql.emulator.where import UNDEFINED, Expr, WhereSyntaxError, compile_where

__all__ = ["BookmarkError", "Loader", "flows_query", "insights_query"]

Loader = Callable[[dt.date, dt.date, "Sequence[str] | None"], Iterable[Event]]

MAX_LIMIT = 50_000  # queryLimits.limit
DATED_CHARTS = ("line", "column", "stacked-line", "stacked-column")
FUNNEL_CHARTS = ("funnel-steps", "funnel-steps-metric", "table")
RETENTION_CHARTS = ("retention-curve", "retention-table", "table")
COUNT_MATHS = ("total", "unique", "dau", "wau", "mau")
PROPERTY_MATHS = ("average", "median", "min", "max", "p25", "p75", "p90", "p99")
ACTIVE_DAYS = {"dau": 1, "wau": 7, "mau": 28}
PERCENTILES = {"median": 0.5, "p25": 0.25, "p75": 0.75, "p90": 0.9, "p99": 0.99}
WINDOW_UNIT_S = {"second": 1, "minute": 60, "hour": 3600, "day": 86_400, "week": 7 * 86_400}
WINDOW_MAX = {"second": 31_708_800, "minute": 528_480, "hour": 8808, "day": 367, "week": 52}
RETENTION_WIDTH_DAYS = {"day": 1, "week": 7, "month": 30}  # month: rolling 30 days (docs/report-semantics.md)
FLOW_MAX_STEPS = 5
DROPOFF = "$dropoff"


class BookmarkError(ValueError):
    """A definition the emulator refuses: the route answers 400 with this text."""


# ---------------------------------------------------------------------------------------------- small readers


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BookmarkError(f"{where} must be a JSON object")
    return value


def _list(value: Any, where: str, *, empty: bool = True) -> list[Any]:
    if value is None and empty:
        return []
    if not isinstance(value, list) or (not empty and not value):
        raise BookmarkError(f"{where} must be a{'' if empty else ' non-empty'} JSON array")
    return value


def _choice(value: Any, where: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise BookmarkError(f"{where} must be one of {', '.join(choices)} (got {json.dumps(value)})")
    return value


def _int(value: Any, where: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise BookmarkError(f"{where} must be an integer from {lo} to {hi} (got {json.dumps(value)})")
    return value


def _date(value: Any, where: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise BookmarkError(f"{where} must be a date YYYY-MM-DD (got {json.dumps(value)})") from None


def _range(from_date: dt.date, to_date: dt.date, today: dt.date) -> tuple[dt.date, dt.date]:
    if from_date > to_date:
        raise BookmarkError(f"from_date {from_date} is after to_date {to_date}")
    if to_date > today:
        raise BookmarkError(f"to_date cannot be later than today ({today})")
    return from_date, to_date


def _time(section: dict[str, Any], today: dt.date) -> tuple[dt.date, dt.date, str]:
    """``sections.time[0]``: ``between`` dates or ``in the last`` N days (ending yesterday [E]), and the unit."""
    times = _list(section.get("time"), "sections.time", empty=False)
    time = _obj(times[0], "sections.time[0]")
    unit = _choice(time.get("unit", "day"), "sections.time[0].unit", ("day", "week", "month"))
    kind = time.get("dateRangeType")
    if kind == "between":
        value = _list(time.get("value"), "sections.time[0].value", empty=False)
        if len(value) != 2:
            raise BookmarkError("sections.time[0].value must be [from_date, to_date]")
        return (*_range(_date(value[0], "from_date"), _date(value[1], "to_date"), today), unit)
    if kind == "in the last":
        window = _obj(time.get("window"), "sections.time[0].window")
        _choice(window.get("unit"), "sections.time[0].window.unit", ("day",))
        n = _int(window.get("value"), "sections.time[0].window.value", 1, 3650)
        return today - dt.timedelta(days=n), today - dt.timedelta(days=1), unit
    raise BookmarkError(f"sections.time[0].dateRangeType {json.dumps(kind)} is not supported by this server "
                        "(between, in the last)")


# ---------------------------------------------------------------------------------------------- filters


def _literal(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float) and math.isfinite(v):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    raise BookmarkError(f"filter value {json.dumps(v)} is not a string or a finite number")


_NUMBER_OPS = {"is greater than": ">", "is less than": "<", "is at least": ">=", "is at most": "<=",
               "is equal to": "==", "is greater than or equal to": ">=", "is less than or equal to": "<="}


def _filter_text(f: Any, where: str) -> str:
    """One bookmark filter entry as an expression of the expression language (so filters mean in ad-hoc
    reports what ``where`` means in the others)."""
    f = _obj(f, where)
    name = f.get("value", f.get("propertyName"))
    if not isinstance(name, str) or not name or name == "$cohorts":
        raise BookmarkError(f"{where}: only filters on a named event property are supported by this server")
    if f.get("resourceType", "events") not in ("events", "event"):
        raise BookmarkError(f"{where}: only event-property filters (resourceType events) are supported")
    prop = f"properties[{json.dumps(name)}]"
    op, value = f.get("filterOperator"), f.get("filterValue")
    if op in ("equals", "does not equal"):
        values = value if isinstance(value, list) else [value]
        if not values or len(values) > 1000:
            raise BookmarkError(f"{where}: filterValue must hold 1 to 1000 values")
        text = " or ".join(f"{prop} == {_literal(v)}" for v in values)
        return f"({text})" if op == "equals" else f"(not ({text}))"
    if op in _NUMBER_OPS:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BookmarkError(f"{where}: {op} needs a number as filterValue")
        return f"({prop} {_NUMBER_OPS[op]} {_literal(value)})"
    if op in ("is between", "not between"):
        if not isinstance(value, list) or len(value) != 2:
            raise BookmarkError(f"{where}: {op} needs [min, max] as filterValue")
        text = f"({prop} >= {_literal(value[0])} and {prop} <= {_literal(value[1])})"
        return text if op == "is between" else f"(not {text})"
    if op in ("true", "false"):
        return f"({prop} == {op})"
    if op == "is set":
        return f"(defined({prop}))"
    if op == "is not set":
        return f"(not defined({prop}))"
    raise BookmarkError(f"{where}: filterOperator {json.dumps(op)} is not supported by this server (equals, "
                        "does not equal, is greater than, is less than, is at least, is at most, is equal to, "
                        "is between, not between, true, false, is set, is not set)")


def _filters(entries: Any, where: str, determiner: Any = "all") -> Expr | None:
    texts = [_filter_text(f, f"{where}[{i}]") for i, f in enumerate(_list(entries, where))]
    if not texts:
        return None
    joiner = {"all": " and ", "any": " or "}.get(determiner)
    if joiner is None:
        raise BookmarkError(f"{where}: filtersDeterminer must be all or any")
    try:
        return compile_where(joiner.join(texts))
    except WhereSyntaxError as e:  # a property name the expression language cannot spell
        raise BookmarkError(f"{where}: {e}") from None


def _both(a: Expr | None, b: Expr | None) -> Callable[[Event], bool]:
    return lambda ev: (a is None or a.matches(ev.props)) and (b is None or b.matches(ev.props))


def _groups(section: dict[str, Any]) -> list[str]:
    names = []
    for i, g in enumerate(_list(section.get("group"), "sections.group")):
        g = _obj(g, f"sections.group[{i}]")
        for unsupported in ("customBucket", "cohorts", "behavior", "listItemGroup", "customProperty",
                            "customPropertyId"):
            if g.get(unsupported) is not None:
                raise BookmarkError(f"sections.group[{i}]: {unsupported} breakdowns are not supported by this "
                                    "server; break down by an event property")
        name = g.get("value", g.get("propertyName"))
        if not isinstance(name, str) or not name:
            raise BookmarkError(f"sections.group[{i}] must name an event property in value")
        if g.get("resourceType", "events") not in ("events", "event"):
            raise BookmarkError(f"sections.group[{i}]: only event-property breakdowns are supported")
        names.append(name)
    return names


def _paths(ev: Event, groups: Sequence[str]) -> list[tuple[str, ...]]:
    """The full segment paths of ``ev`` (a list value counts under each element, as ``on`` does)."""
    return list(itertools.product(*(segment_keys(ev.props.get(g, UNDEFINED)) for g in groups)))


def _limit(body: dict[str, Any], default: int) -> int:
    limits = body.get("queryLimits")
    if limits is None:
        return default
    limit = _obj(limits, "queryLimits").get("limit", default)
    if isinstance(limit, int) and not isinstance(limit, bool) and limit > MAX_LIMIT:
        raise BookmarkError(f"Query limit exceeds max limit of {MAX_LIMIT} ({limit} was given)")
    return _int(limit, "queryLimits.limit", 1, MAX_LIMIT)


# ---------------------------------------------------------------------------------------------- entry point


def insights_query(body: dict[str, Any], today: dt.date, load: Loader, computed_at: str) -> dict[str, Any]:
    """``POST /insights``: the response to ``body`` (``bookmark``, ``queryLimits``)."""
    bookmark = _obj(body.get("bookmark"), "bookmark")
    section = _obj(bookmark.get("sections"), "bookmark.sections")
    display = _obj(bookmark.get("displayOptions"), "bookmark.displayOptions")
    show = [_obj(s, f"sections.show[{i}]") for i, s in
            enumerate(_list(section.get("show"), "sections.show", empty=False))]
    engines = {(s["behavior"].get("type") if isinstance(s.get("behavior"), dict) else None) for s in show}
    from_date, to_date, unit = _time(section, today)
    if "funnel" in engines or "retention" in engines:
        if len(show) != 1:
            raise BookmarkError("a funnel or retention query holds exactly one show clause")
        if "funnel" in engines:
            _choice(display.get("chartType"), "displayOptions.chartType", FUNNEL_CHARTS)
            series = _funnel(show[0], section, from_date, to_date, load, _limit(body, 200))
        else:
            _choice(display.get("chartType"), "displayOptions.chartType", RETENTION_CHARTS)
            series = _retention(show[0], section, from_date, to_date, unit, today, load, _limit(body, 200))
        return _envelope(computed_at, from_date, to_date, ["$metric"], series)
    _choice(display.get("chartType"), "displayOptions.chartType", DATED_CHARTS)
    groups = _groups(section)
    limit = _limit(body, 3000)
    where = _filters(section.get("filter"), "sections.filter")
    series, hit = _insights(show, groups, where, from_date, to_date, unit, load, limit)
    out = _envelope(computed_at, from_date, to_date, ["$metric", *groups], series)
    out["meta"]["is_segmentation_limit_hit"] = hit
    comparison = display.get("timeComparison", bookmark.get("timeComparison"))
    if comparison is not None:
        c_from, c_to = _compared_range(_obj(comparison, "timeComparison"), from_date, to_date)
        c_series, _ = _insights(show, groups, where, c_from, c_to, unit, load, limit)
        out["comparison"] = {"date_range": _date_range(c_from, c_to), "series": c_series}
    return out


def _date_range(from_date: dt.date, to_date: dt.date) -> dict[str, str]:
    return {"from_date": _iso_day(from_date.isoformat()), "to_date": f"{to_date.isoformat()}T23:59:59.999000+00:00"}


def _envelope(computed_at: str, from_date: dt.date, to_date: dt.date, headers: list[str],
              series: dict[str, Any]) -> dict[str, Any]:
    return {"computed_at": computed_at, "date_range": _date_range(from_date, to_date), "headers": headers,
            "series": series, "meta": {"sampling_factor": 1.0, "is_cached": False, "computation_time": 0,
                                       "is_segmentation_limit_hit": False}}


def _compared_range(comparison: dict[str, Any], from_date: dt.date, to_date: dt.date) -> tuple[dt.date, dt.date]:
    """The range a time comparison compares with [E]: ``relative`` moves it back one day/week/month/quarter/year;
    ``absolute-start`` starts it on the given date, ``absolute-end`` ends it there (same number of days)."""
    kind, value = comparison.get("type"), comparison.get("value")
    days = (to_date - from_date).days
    if kind == "relative":
        value = _choice(value, "timeComparison.value", ("day", "week", "month", "quarter", "year"))
        if value in ("day", "week"):
            shift = dt.timedelta(days=1 if value == "day" else 7)
            return from_date - shift, to_date - shift
        months = {"month": 1, "quarter": 3, "year": 12}[value]
        return analytics.add_months(from_date, -months), analytics.add_months(to_date, -months)
    if kind == "absolute-start":
        start = _date(value, "timeComparison.value")
        return start, start + dt.timedelta(days=days)
    if kind == "absolute-end":
        end = _date(value, "timeComparison.value")
        return end - dt.timedelta(days=days), end
    raise BookmarkError("timeComparison.type must be relative, absolute-start or absolute-end")


# ---------------------------------------------------------------------------------------------- insights


class _Metric:
    """One show clause: an event metric or a formula over the others."""

    def __init__(self, i: int, clause: dict[str, Any]) -> None:
        where = f"sections.show[{i}]"
        self.hidden = bool(clause.get("isHidden"))
        self.formula: str | None = None
        if clause.get("type") == "formula" or "formula" in clause:
            text = clause.get("definition", clause.get("formula"))
            if not isinstance(text, str) or not text.strip():
                raise BookmarkError(f"{where}: a formula needs a definition such as 'B / A'")
            if _list(clause.get("referencedMetrics"), f"{where}.referencedMetrics"):
                raise BookmarkError(f"{where}: formulas with their own referencedMetrics are not supported by "
                                    "this server; refer to the other show clauses by letter")
            self.formula = text
            self.name = str(clause.get("name") or text)
            return
        if "id" in clause and "behavior" not in clause:
            raise BookmarkError(f"{where}: saved metrics are not supported by this server")
        behavior = _obj(clause.get("behavior"), f"{where}.behavior")
        if behavior.get("type") != "event":
            raise BookmarkError(f"{where}.behavior.type {json.dumps(behavior.get('type'))} is not supported by this "
                                "server (event, funnel, retention)")
        event = behavior.get("name")
        if not isinstance(event, str) or not event:
            raise BookmarkError(f"{where}.behavior.name must name an event")
        self.event = event
        self.where = _filters(behavior.get("filters"), f"{where}.behavior.filters",
                              behavior.get("filtersDeterminer", "all"))
        measurement = _obj(clause.get("measurement") or {}, f"{where}.measurement")
        self.math = _choice(measurement.get("math", "total"), f"{where}.measurement.math",
                            COUNT_MATHS + PROPERTY_MATHS)
        prop = measurement.get("property")
        self.property: str | None = None
        if prop is not None:
            prop = _obj(prop, f"{where}.measurement.property")
            if not isinstance(prop.get("name"), str) or not prop["name"]:
                raise BookmarkError(f"{where}.measurement.property must name an event property")
            self.property = prop["name"]
        if self.math in PROPERTY_MATHS and self.property is None:
            raise BookmarkError(f"{where}: math {self.math} needs measurement.property")
        if self.math in ("unique", "dau", "wau", "mau") and self.property is not None:
            raise BookmarkError(f"{where}: math {self.math} counts users and takes no property")
        for key in ("perUserAggregation", "cumulative", "rolling", "segmentMethod", "percentile"):
            if measurement.get(key) not in (None, False, "all"):
                raise BookmarkError(f"{where}.measurement.{key} is not supported by this server")
        label = self.math if self.property is None else f"{self.math} {self.property}"
        self.name = str(clause.get("name") or (event if label == "total" else f"{event} [{label}]"))


def _insights(show: list[dict[str, Any]], groups: list[str], where: Expr | None, from_date: dt.date,
              to_date: dt.date, unit: str, load: Loader, limit: int) -> tuple[dict[str, Any], bool]:
    metrics = [_Metric(i, clause) for i, clause in enumerate(show)]
    events = [m for m in metrics if m.formula is None]
    if any(m.math in ACTIVE_DAYS for m in events) and unit != "day":
        raise BookmarkError("dau, wau and mau are daily values: use sections.time[0].unit day")
    lookback = max((ACTIVE_DAYS.get(m.math, 1) for m in events), default=1) - 1
    names = sorted({m.event for m in events})
    loaded = list(load(from_date - dt.timedelta(days=lookback), to_date, names)) if names else []
    buckets = Buckets(from_date, to_date, unit)
    keys = buckets.series()
    values: list[dict[tuple[str, ...], dict[str, float | None]] | None] = []
    hit = False
    for m in metrics:
        if m.formula is not None:
            values.append(None)
            continue
        table, cut = _metric_values(m, [e for e in loaded if e.name == m.event and _both(m.where, where)(e)],
                                    groups, buckets, keys, from_date, lookback, limit)
        hit = hit or cut
        values.append(table)
    series: dict[str, Any] = {}
    for i, m in enumerate(metrics):
        if m.formula is not None:
            values[i] = _formula_values(m.formula, values, keys, i)
    for m, table in zip(metrics, values, strict=True):
        if not m.hidden and table is not None:
            series[m.name] = _nest(table, len(groups))
    return series, hit


def _metric_values(m: _Metric, events: list[Event], groups: list[str], buckets: Buckets, keys: list[str],
                   from_date: dt.date, lookback: int, limit: int
                   ) -> tuple[dict[tuple[str, ...], dict[str, float | None]], bool]:
    """``{segment path (() = $overall, then each level's prefix): {bucket key: value}}`` and whether ``limit``
    cut segments."""
    per: dict[tuple[str, ...], list[Event]] = defaultdict(list)
    for ev in events:
        paths = _paths(ev, groups)
        for depth in range(len(groups) + 1):
            for prefix in dict.fromkeys(p[:depth] for p in paths):
                per[prefix].append(ev)
    per.setdefault((), [])
    table = {path: _values(m, evs, buckets, keys, from_date, lookback) for path, evs in per.items()}
    kept, cut = _top_paths(table, len(groups), limit)
    return {p: v for p, v in table.items() if p in kept}, cut


def _values(m: _Metric, events: list[Event], buckets: Buckets, keys: list[str], from_date: dt.date,
            lookback: int) -> dict[str, float | None]:
    if m.math in ACTIVE_DAYS:
        days = Buckets(from_date - dt.timedelta(days=lookback), buckets.to_date, "day")
        users: dict[str, set[str]] = defaultdict(set)
        for ev in events:
            key = days.key(ev.time)
            if key is not None:
                users[key].add(ev.distinct_id)
        all_days = days.series()
        width = ACTIVE_DAYS[m.math]
        out: dict[str, float | None] = {}
        for i, key in enumerate(all_days):
            if i >= lookback:
                out[key] = float(len(set().union(*(users.get(k, set()) for k in all_days[i - width + 1:i + 1]))))
        return {k: out.get(k, 0.0) for k in keys}
    grouped: dict[str, list[Event]] = defaultdict(list)
    for ev in events:
        key = buckets.key(ev.time)
        if key is not None:
            grouped[key].append(ev)
    return {k: _aggregate(m, grouped.get(k, [])) for k in keys}


def _aggregate(m: _Metric, events: list[Event]) -> float | None:
    if m.math == "unique":
        return float(len({e.distinct_id for e in events}))
    if m.property is None:
        return float(len(events))  # total
    nums = sorted(v for v in (analytics._number(e.props.get(m.property)) for e in events) if v is not None)
    if m.math == "total":
        return math.fsum(nums)  # a sum: 0 without values
    if not nums:
        return None  # [E] a statistic of no values is null
    if m.math == "average":
        return math.fsum(nums) / len(nums)
    if m.math == "min":
        return float(nums[0])
    if m.math == "max":
        return float(nums[-1])
    q = PERCENTILES[m.math] * (len(nums) - 1)  # linear interpolation between closest ranks [E]
    lo = math.floor(q)
    hi = min(lo + 1, len(nums) - 1)
    return nums[lo] + (nums[hi] - nums[lo]) * (q - lo)


def _top_paths(table: Mapping[tuple[str, ...], Mapping[str, float | None]], depth: int, limit: int
               ) -> tuple[set[tuple[str, ...]], bool]:
    """The paths kept: at each level, the ``limit`` children of a kept parent with the largest totals (ties by
    key) [E]."""
    kept: set[tuple[str, ...]] = {()}
    cut = False
    for level in range(1, depth + 1):
        children: dict[tuple[str, ...], list[tuple[str, ...]]] = defaultdict(list)
        for path in table:
            if len(path) == level and path[:-1] in kept:
                children[path[:-1]].append(path)
        for paths in children.values():
            paths.sort(key=lambda p: (-sum(v or 0.0 for v in table[p].values()), p))
            cut = cut or len(paths) > limit
            kept.update(paths[:limit])
    return kept, cut


def _nest(table: Mapping[tuple[str, ...], Mapping[str, float | None]], depth: int) -> dict[str, Any]:
    """The series nesting: ``$overall`` and each first-level segment; deeper levels repeat the pattern; the top
    ``$overall`` is a leaf directly (docs/mixpanel-api.md, "Ad-hoc reports")."""
    def leaf(path: tuple[str, ...]) -> dict[str, Any]:
        return {_iso_day(k): _json(v) for k, v in table[path].items()}

    def node(path: tuple[str, ...]) -> dict[str, Any]:
        if len(path) == depth:
            return leaf(path)
        out: dict[str, Any] = {OVERALL: leaf(path)}
        for child in sorted((p for p in table if len(p) == len(path) + 1 and p[:-1] == path),
                            key=lambda p: (-sum(v or 0.0 for v in table[p].values()), p)):
            out[child[-1]] = node(child)
        return out

    return node(())


def _json(v: float | None) -> int | float | None:
    if v is None or not math.isfinite(v):
        return None
    return int(v) if v.is_integer() and abs(v) < 2**53 else v


# Formulas: + - * / ^, unary minus, parentheses, numbers, letters naming show clauses (A = 0, ..., Z, BA, ...).
_FORMULA_TOKEN = re.compile(r"\s*(?:(?P<num>\d[\d_]*(?:\.\d+)?(?:[eE][+-]?\d+)?)|(?P<name>[A-Z]+)|(?P<op>[-+*/^()]))")


def _letter_index(name: str) -> int:
    n = 0
    for ch in name:
        n = n * 26 + (ord(ch) - ord("A"))
    return n


def _parse_formula(text: str) -> Callable[[Callable[[int], float | None]], float | None]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text.rstrip()):
        m = _FORMULA_TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise BookmarkError(f"formula {text!r}: unexpected {text[pos:].strip()[:10]!r} (letters, numbers, "
                                "+ - * / ^ and parentheses)")
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    at = 0

    def peek() -> tuple[str, str] | None:
        return tokens[at] if at < len(tokens) else None

    def take() -> tuple[str, str]:
        nonlocal at
        if at >= len(tokens):
            raise BookmarkError(f"formula {text!r} ends too early")
        at += 1
        return tokens[at - 1]

    Node = Callable[[Callable[[int], float | None]], float | None]

    def binary(a: Node, op: str, b: Node) -> Node:
        def run(get: Callable[[int], float | None]) -> float | None:
            x, y = a(get), b(get)
            if x is None or y is None:
                return None
            if op == "+":
                return x + y
            if op == "-":
                return x - y
            if op == "*":
                return x * y
            if op == "/":
                return None if y == 0 else x / y  # [E] a division by zero is null
            try:
                r = x ** y
            except (OverflowError, ZeroDivisionError):
                return None
            return r if isinstance(r, float | int) else None
        return run

    def expr() -> Node:
        left = term()
        while (t := peek()) and t[1] in "+-" and t[0] == "op":
            take()
            left = binary(left, t[1], term())
        return left

    def term() -> Node:
        left = unary()
        while (t := peek()) and t[1] in "*/" and t[0] == "op":
            take()
            left = binary(left, t[1], unary())
        return left

    def unary() -> Node:
        t = peek()
        if t and t == ("op", "-"):
            take()
            inner = unary()
            return lambda get: None if (v := inner(get)) is None else -v
        return power()

    def power() -> Node:
        base = atom()
        t = peek()
        if t and t == ("op", "^"):
            take()
            return binary(base, "^", atom())  # only an atom may follow ^
        return base

    def atom() -> Node:
        kind, value = take()
        if kind == "num":
            number = float(value.replace("_", ""))
            return lambda get: number
        if kind == "name":
            index = _letter_index(value)
            return lambda get: get(index)
        if value == "(":
            inner = expr()
            if take() != ("op", ")"):
                raise BookmarkError(f"formula {text!r}: a parenthesis is not closed")
            return inner
        raise BookmarkError(f"formula {text!r}: unexpected {value!r}")

    tree = expr()
    if at != len(tokens):
        raise BookmarkError(f"formula {text!r}: unexpected {tokens[at][1]!r}")
    return tree


def _formula_values(text: str, values: list[dict[tuple[str, ...], dict[str, float | None]] | None],
                    keys: list[str], own: int) -> dict[tuple[str, ...], dict[str, float | None]]:
    letters = set(re.findall(r"[A-Z]+", text))
    for letter in letters:
        i = _letter_index(letter)
        if i >= len(values) or i == own or values[i] is None:
            raise BookmarkError(f"formula {text!r}: {letter} names no event metric (A is the first show clause)")
    tree = _parse_formula(text)
    used = [values[_letter_index(letter)] for letter in letters]
    paths = sorted(set().union(*(set(t or {}) for t in used)), key=lambda p: (len(p), p))
    out: dict[tuple[str, ...], dict[str, float | None]] = {}
    for path in paths:
        row: dict[str, float | None] = {}
        for key in keys:
            def get(i: int, path: tuple[str, ...] = path, key: str = key) -> float | None:
                table = values[i] or {}
                return table[path][key] if path in table else 0.0
            row[key] = tree(get)
        out[path] = row
    return out


# ---------------------------------------------------------------------------------------------- funnels


def _steps_of(behaviors: list[Any], where: str) -> list[Step]:
    steps = []
    for i, b in enumerate(behaviors):
        b = _obj(b, f"{where}[{i}]")
        if b.get("type", "event") != "event" or not isinstance(b.get("name"), str) or not b["name"]:
            raise BookmarkError(f"{where}[{i}] must be an event behavior with a name")
        label = b.get("renamed") if isinstance(b.get("renamed"), str) and b.get("renamed") else None
        steps.append(Step(b["name"], _filters(b.get("filters"), f"{where}[{i}].filters",
                                              b.get("filtersDeterminer", "all")), label))
    return steps


def _one_group(section: dict[str, Any]) -> Expr | None:
    groups = _groups(section)
    if len(groups) > 1:
        raise BookmarkError("funnels and retention take at most one breakdown on this server")
    return compile_where(f"properties[{json.dumps(groups[0])}]") if groups else None


def _funnel(clause: dict[str, Any], section: dict[str, Any], from_date: dt.date, to_date: dt.date, load: Loader,
            limit: int) -> dict[str, Any]:
    behavior = _obj(clause.get("behavior"), "sections.show[0].behavior")
    steps = _steps_of(_list(behavior.get("behaviors"), "behavior.behaviors", empty=False), "behavior.behaviors")
    if not 2 <= len(steps) <= 100:
        raise BookmarkError("a funnel has 2 to 100 steps")
    order = _choice(behavior.get("funnelOrder", "loose"), "behavior.funnelOrder", ("loose", "any"))
    for i, b in enumerate(behavior["behaviors"]):
        if b.get("funnelOrder", order) != order:
            raise BookmarkError(f"behavior.behaviors[{i}].funnelOrder: per-step orders are not supported by this "
                                "server")
    unit = _choice(behavior.get("conversionWindowUnit", "day"), "behavior.conversionWindowUnit", tuple(WINDOW_MAX))
    length = _int(behavior.get("conversionWindowDuration", 14), "behavior.conversionWindowDuration", 1,
                  WINDOW_MAX[unit])
    window_s = length * WINDOW_UNIT_S[unit]
    _choice(behavior.get("funnelReentryMode", "default"), "behavior.funnelReentryMode", ("default",))
    if _list(behavior.get("aggregateBy"), "behavior.aggregateBy"):
        raise BookmarkError("behavior.aggregateBy (holding properties constant) is not supported by this server")
    exclusions = []
    for i, x in enumerate(_list(behavior.get("exclusions"), "behavior.exclusions")):
        x = _obj(x, f"behavior.exclusions[{i}]")
        if not isinstance(x.get("event"), str) or not x["event"]:
            raise BookmarkError(f"behavior.exclusions[{i}].event must name an event")
        span = _obj(x.get("steps") or {"from": 1, "to": len(steps)}, f"behavior.exclusions[{i}].steps")
        lo = _int(span.get("from"), f"behavior.exclusions[{i}].steps.from", 1, len(steps) - 1)
        hi = _int(span.get("to"), f"behavior.exclusions[{i}].steps.to", lo + 1, len(steps))
        exclusions.append((x["event"], lo, hi))
    measurement = _obj(clause.get("measurement") or {}, "sections.show[0].measurement")
    _choice(measurement.get("math", "conversion_rate_unique"), "measurement.math",
            ("conversion_rate_unique", "unique", "conversion_rate"))
    where = _filters(section.get("filter"), "sections.filter")
    on = _one_group(section)
    names = sorted({s.event for s in steps if s.event} | {e for e, _, _ in exclusions})
    scan_to = to_date + dt.timedelta(days=math.ceil(window_s / analytics.DAY_S))
    lo_s, hi_s = analytics.epoch(from_date), analytics.epoch(to_date) + analytics.DAY_S
    reached: dict[str, list[list[int]]] = defaultdict(list)
    for evs in analytics._by_user(load(from_date, scan_to, names), where).values():
        entry = next((i for i, ev in enumerate(evs) if steps[0].matches(ev) and lo_s <= ev.time < hi_s), None)
        if entry is None:
            continue
        if order == "loose":
            times = analytics._attempt(evs, entry, analytics._next_tables(evs, steps), window_s)
        else:
            times = _any_order(evs, entry, steps, window_s)
        times = _excluded(evs, times, exclusions, window_s)
        reached[OVERALL].append(times)
        if on is not None:
            for seg in segment_keys(analytics._value(on, evs[entry])):
                reached[seg].append(times)
    name = str(clause.get("name") or f"{steps[0].label or steps[0].event} through {steps[-1].label or steps[-1].event}")
    if on is None:
        return {name: _funnel_metrics(steps, reached[OVERALL])}
    segs = analytics._top({s: len(v) for s, v in reached.items() if s != OVERALL}, limit)
    return {name: {seg: _funnel_metrics(steps, reached.get(seg, [])) for seg in [OVERALL, *segs]}}


def _any_order(evs: list[Event], entry: int, steps: list[Step], window_s: int) -> list[int]:
    """[E] Any order: after the entry (step 1), steps 2..n may come in any order within the window; a user
    reaches step k when they did each of steps 2..k; its time (ms) is the latest of their first occurrences."""
    t0 = evs[entry].ms
    times = [t0]
    for step in steps[1:]:
        first = next((ev.ms for ev in evs[entry + 1:] if ev.ms - t0 <= window_s * 1000 and step.matches(ev)), None)
        if first is None:
            break
        times.append(max(times[-1], first))
    return times


def _excluded(evs: list[Event], times: list[int], exclusions: list[tuple[str, int, int]], window_s: int) -> list[int]:
    """[E] An exclusion event strictly after step ``from`` and strictly before step ``to`` (or before the
    window's end when step ``to`` was not reached) drops the user there: steps from then on do not count. Times
    are milliseconds (``analytics._attempt``)."""
    for event, lo, hi in exclusions:
        if len(times) < lo:
            continue
        start = times[lo - 1]
        end = times[hi - 1] if len(times) >= hi else times[0] + window_s * 1000 + 1
        hit = next((ev.ms for ev in evs if ev.name == event and start < ev.ms < end), None)
        if hit is not None:
            times = times[:lo] + [t for t in times[lo:] if t < hit]
    return times


def _funnel_metrics(steps: list[Step], reached: list[list[int]]) -> dict[str, Any]:
    rows = analytics._step_rows(steps, reached)
    out: dict[str, dict[str, Any]] = {k: {} for k in ("count", "step_conv_ratio", "overall_conv_ratio", "avg_time",
                                                       "avg_time_from_start")}
    for i, row in enumerate(rows):
        label = f"{i + 1}. {row['step_label']}"
        for k in out:
            out[k][label] = {"all": row[k]}
    return out


# ---------------------------------------------------------------------------------------------- retention


def _retention(clause: dict[str, Any], section: dict[str, Any], from_date: dt.date, to_date: dt.date, unit: str,
               today: dt.date, load: Loader, limit: int) -> dict[str, Any]:
    behavior = _obj(clause.get("behavior"), "sections.show[0].behavior")
    pair = _steps_of(_list(behavior.get("behaviors"), "behavior.behaviors", empty=False), "behavior.behaviors")
    if len(pair) != 2:
        raise BookmarkError("retention takes exactly two behaviors: the born event, then the return event")
    born, back = pair
    width = RETENTION_WIDTH_DAYS[_choice(behavior.get("retentionUnit", "week"), "behavior.retentionUnit",
                                         tuple(RETENTION_WIDTH_DAYS))]
    _choice(behavior.get("retentionAlignmentType", "birth"), "behavior.retentionAlignmentType", ("birth",))
    _choice(behavior.get("retentionUnboundedMode", "none"), "behavior.retentionUnboundedMode", ("none",))
    custom = _list(behavior.get("retentionCustomBucketSizes"), "behavior.retentionCustomBucketSizes")
    if len(custom) > 730 or any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in custom) or \
            any(b >= c for b, c in itertools.pairwise(custom)):
        raise BookmarkError("behavior.retentionCustomBucketSizes must be at most 730 positive integers, strictly "
                            "ascending")
    # [E] Custom sizes are bucket ends in retention units: [1, 3, 7] is [0, 1), [1, 3), [3, 7); without them,
    # one unit per bucket, as many as the range has units, plus one.
    ends = list(custom) or list(range(1, (to_date - from_date).days // width + 2))
    measurement = _obj(clause.get("measurement") or {}, "sections.show[0].measurement")
    _choice(measurement.get("math", "retention_rate"), "measurement.math", ("retention_rate", "unique"))
    where = _filters(section.get("filter"), "sections.filter")
    on = _one_group(section)
    cohorts = Buckets(from_date, to_date, unit)
    names = sorted({born.event, back.event} - {None})
    # cohort key -> segment -> [size, per-bucket user sets]
    table: dict[str, dict[str, list[Any]]] = defaultdict(dict)
    # Birth is each user's first-ever born event: the loader reads from the start of the data.
    for evs in analytics._by_user(load(dt.date(2000, 1, 1), today, names), where).values():
        i = next((j for j, ev in enumerate(evs) if born.matches(ev)), None)
        if i is None:
            continue
        key = cohorts.key(evs[i].time)
        if key is None:
            continue
        t0 = evs[i].ms  # milliseconds, as the other reports compare times
        hits = set()
        for j, ev in enumerate(evs):
            if j != i and ev.ms >= t0 and back.matches(ev):
                b = _bucket_of((ev.ms - t0) / (width * analytics.DAY_S * 1000), ends)
                if b is not None:
                    hits.add(b)
        segs = [OVERALL] + ([] if on is None else segment_keys(analytics._value(on, evs[i])))
        for seg in segs:
            cell = table[key].setdefault(seg, [0, [0] * len(ends)])
            cell[0] += 1
            for b in hits:
                cell[1][b] += 1
    totals: dict[str, int] = defaultdict(int)
    for segs in table.values():
        for seg, cell in segs.items():
            if seg != OVERALL:
                totals[seg] += cell[0]
    chosen = [OVERALL, *analytics._top(totals, limit)] if on is not None else [OVERALL]

    def cohort_rows(seg: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in sorted(table):
            cell = table[key].get(seg)
            if cell is None:
                continue
            begun = sum(1 for i in range(len(ends)) if dt.date.fromisoformat(key) +
                        dt.timedelta(days=(ends[i - 1] if i else 0) * width) <= today)  # [E] buckets begun by today
            counts = cell[1][:begun]
            out[_iso_day(key)] = {"first": cell[0], "counts": counts, "rates": [c / cell[0] for c in counts]}
        if out:
            firsts = [v["first"] for v in out.values()]
            n = max(len(v["counts"]) for v in out.values())
            avg = [sum(v["counts"][i] for v in out.values() if len(v["counts"]) > i) /
                   sum(1 for v in out.values() if len(v["counts"]) > i) for i in range(n)]
            first = sum(firsts) / len(firsts)
            out["$average"] = {"first": first, "counts": avg, "rates": [c / first for c in avg]}
        return out

    name = str(clause.get("name") or f"{born.label or born.event} and then {back.label or back.event}")
    if on is None:
        return {name: cohort_rows(OVERALL)}
    return {name: {seg: cohort_rows(seg) for seg in chosen}}


def _bucket_of(units: float, ends: list[int]) -> int | None:
    for i, end in enumerate(ends):
        if units < end:
            return i
    return None


# ---------------------------------------------------------------------------------------------- flows


def flows_query(body: dict[str, Any], today: dt.date, load: Loader, computed_at: str) -> dict[str, Any]:
    """``POST /arb_funnels``: a Sankey (``query_type`` ``flows_sankey``) of one anchor event's paths."""
    query_type = body.get("query_type", "flows_sankey")
    if query_type != "flows_sankey":
        raise BookmarkError(f"query_type {json.dumps(query_type)} is not supported by this server (flows_sankey)")
    b = _obj(body.get("bookmark"), "bookmark")
    _int(b.get("version", 2), "version", 2, 2)
    _choice(b.get("chartType", "sankey"), "chartType", ("sankey",))
    _choice(b.get("count_type", "unique"), "count_type", ("unique",))
    steps = _list(b.get("steps"), "steps", empty=False)
    if len(steps) != 1:
        raise BookmarkError("this server supports flows with exactly one anchor step")
    step = _obj(steps[0], "steps[0]")
    if not isinstance(step.get("event"), str) or not step["event"]:
        raise BookmarkError("steps[0].event must name an event")
    forward = _int(step.get("forward", 0), "steps[0].forward", 0, FLOW_MAX_STEPS)
    reverse = _int(step.get("reverse", 0), "steps[0].reverse", 0, FLOW_MAX_STEPS)
    if forward == 0 and reverse == 0:
        raise BookmarkError("steps[0]: forward or reverse must be at least 1")
    if _list(step.get("property_filter_params_list"), "steps[0].property_filter_params_list"):
        raise BookmarkError("steps[0].property_filter_params_list is not supported by this server")
    for key in ("filter_by_event", "filter_by_cohort", "segments"):
        if b.get(key):
            raise BookmarkError(f"{key} is not supported by this server")
    window = _obj(b.get("conversion_window") or {"unit": "day", "value": 7}, "conversion_window")
    w_unit = _choice(window.get("unit"), "conversion_window.unit", ("day", "week"))
    window_s = _int(window.get("value"), "conversion_window.value", 1, 366 if w_unit == "day" else 52) * \
        WINDOW_UNIT_S[w_unit]
    date_range = _obj(b.get("date_range"), "date_range")
    if date_range.get("type") != "between":
        raise BookmarkError("date_range.type must be between on this server")
    from_date, to_date = _range(_date(date_range.get("from_date"), "date_range.from_date"),
                                _date(date_range.get("to_date"), "date_range.to_date"), today)
    hidden = set(_list(b.get("hidden_events"), "hidden_events")) | set(_list(b.get("exclusions"), "exclusions"))
    lo, hi = analytics.epoch(from_date), analytics.epoch(to_date) + analytics.DAY_S
    days = math.ceil(window_s / analytics.DAY_S)
    events = (e for e in load(from_date - dt.timedelta(days=days), min(today, to_date + dt.timedelta(days=days)),
                              None) if e.name not in hidden)
    paths = []
    for evs in analytics._by_user(events).values():
        i = next((j for j, ev in enumerate(evs) if ev.name == step["event"] and lo <= ev.time < hi), None)
        if i is None:
            continue
        t0 = evs[i].ms
        before = [e.name for e in evs[:i] if t0 - e.ms <= window_s * 1000][-reverse:] if reverse else []
        after = [e.name for e in evs[i + 1:] if e.ms - t0 <= window_s * 1000][:forward]
        paths.append([None] * (reverse - len(before)) + before + [evs[i].name] + after)
    return {"computed_at": computed_at, "steps": _sankey(paths, reverse, forward), "breakdowns": [],
            "overallConversionRate": (sum(1 for p in paths if len(p) == reverse + forward + 1) / len(paths))
            if paths else 0.0, "metadata": {"min_sampling_factor": 1.0}}


def _sankey(paths: list[list[str | None]], reverse: int, forward: int) -> list[dict[str, Any]]:
    """Columns 0..reverse+forward (the anchor at ``reverse``): nodes with user counts (as text) and edges to the
    next column. A user with fewer earlier events has none in the first columns; one with fewer later events
    reaches a ``DROPOFF`` node (event ``$dropoff``) and nothing after it [E]."""
    last = reverse + forward

    def at(p: list[str | None], pos: int) -> str | None:
        return p[pos] if pos < len(p) else (DROPOFF if pos == len(p) else None)

    def kind(name: str, pos: int) -> str:
        return "DROPOFF" if name == DROPOFF else "ANCHOR" if pos == reverse else "NORMAL"

    columns = []
    for pos in range(last + 1):
        counts: dict[str, int] = defaultdict(int)
        for p in paths:
            name = at(p, pos)
            if name is not None:
                counts[name] += 1
        nodes = []
        for name in sorted(counts, key=lambda n: (n == DROPOFF, -counts[n], n)):
            edges: list[dict[str, Any]] = []
            if name != DROPOFF and pos < last:
                nxt: dict[str, int] = defaultdict(int)
                for p in paths:
                    if at(p, pos) == name and (target := at(p, pos + 1)) is not None:
                        nxt[target] += 1
                edges = [{"event": e, "type": kind(e, pos + 1), "anchorType": "NORMAL", "step": pos + 1,
                          "totalCount": str(nxt[e]), "isComputed": False}
                         for e in sorted(nxt, key=lambda e: (e == DROPOFF, -nxt[e], e))]
            nodes.append({"event": name, "type": kind(name, pos), "anchorType": "NORMAL", "step": pos,
                          "totalCount": str(counts[name]), "isComputed": False, "isCustomEvent": False,
                          "conversionRateChange": 0.0, "segments": [], "breakdowns": [], "edges": edges})
        columns.append({"step": pos, "nodes": nodes})
    return columns
