"""Mixpanel's report computations over deduplicated events (docs/mixpanel-api.md, "Report conventions" and
the report sections), pure and stdlib-only.

Every function takes already-deduplicated ``Event``s (``eventstore``) plus parsed parameters and returns the
JSON-ready body of the matching Query API response; validation and HTTP live in ``routes/reports.py``.

Choices where Mixpanel documents nothing ([E], one place so clients and tests can rely on them):

- Time zone: the project's. Events arrive with ``time`` as wall-clock time of the project's zone written as an
  epoch (``projecttime``), so a UTC calendar over it is the project's calendar. Buckets: ``day`` keys
  ``YYYY-MM-DD``; ``week`` keys the Monday that starts the week; ``month`` keys the 1st; ``hour``/``minute`` keys
  ``YYYY-MM-DD HH:MM:SS``. A week/month key may precede ``from_date``; only events inside
  [from_date, to_date] are counted. Every series key is present in every value map (zero-filled).
- Identity: reports count users after Mixpanel's ID merge (``identities``: the routes pass events whose
  ``distinct_id`` is already the merged user); the mapping derives from ``/export`` output, so every count
  can still be reproduced from it. Rules and sources: docs/report-semantics.md.
- Ordering: a user's events are ordered by time in milliseconds (as ``/export`` serves them with
  ``time_in_ms``), ties in served order; a funnel's window is measured in milliseconds too.
- Segment keys (``on``): strings; ``undefined`` for a missing value or a failed expression, ``null``,
  ``true``/``false``, numbers without a trailing ``.0``; a list value counts once under each distinct
  element (an empty list under no segment); objects as compact JSON.
"""

from __future__ import annotations

import bisect
import calendar
import datetime as dt
import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mpsql.emulator.eventindex import Selection
from mpsql.emulator.eventstore import Event
from mpsql.emulator.where import UNDEFINED, DateTime, Expr, WhereError

__all__ = [
    "OVERALL", "REENTRY", "Buckets", "Step", "activity_stream", "add_months", "epoch", "event_counts", "flows",
    "frequency", "funnel", "numeric_aggregate", "numeric_segmentation", "period_start", "retention", "segment_keys",
    "segmentation",
]

OVERALL = "$overall"
DAY_S = 86_400
TYPES = ("general", "unique", "average")


# ---------------------------------------------------------------- time


def epoch(date: dt.date) -> int:
    """Epoch seconds of ``date`` 00:00 on the wall-clock scale the reports compute on (``projecttime``)."""
    return calendar.timegm(date.timetuple())


def add_months(date: dt.date, n: int) -> dt.date:
    """``date`` moved by ``n`` calendar months (the day clamped to the target month's length)."""
    y, m = divmod(date.month - 1 + n, 12)
    year, month = date.year + y, m + 1
    return date.replace(year=year, month=month, day=min(date.day, calendar.monthrange(year, month)[1]))


def period_start(date: dt.date, unit: str) -> dt.date:
    """Start of the calendar ``unit`` (day / week starting Monday / month) holding ``date``."""
    if unit == "week":
        return date - dt.timedelta(days=date.weekday())
    if unit == "month":
        return date.replace(day=1)
    return date


class Buckets:
    """Report time buckets over [from_date, to_date]: a calendar ``unit``, or ``days``-day buckets from from_date."""

    def __init__(self, from_date: dt.date, to_date: dt.date, unit: str = "day", days: int | None = None) -> None:
        self.from_date, self.to_date = from_date, to_date
        self.unit = unit  # minute | hour | day | week | month
        self.days = days  # the ``interval`` parameter: fixed N-day buckets counted from from_date
        self.lo = epoch(from_date)  # first second inside the range
        self.hi = epoch(to_date) + DAY_S  # first second after it
        n = (to_date - from_date).days + 1
        if days is not None:
            self._day_keys = [(from_date + dt.timedelta(days=(i // days) * days)).isoformat() for i in range(n)]
        else:
            calendar_unit = unit if unit in ("week", "month") else "day"
            self._day_keys = [period_start(from_date + dt.timedelta(days=i), calendar_unit).isoformat()
                              for i in range(n)]

    def key(self, ts: int) -> str | None:
        """Bucket key of epoch second ``ts``, or None outside [from_date, to_date]."""
        if not self.lo <= ts < self.hi:
            return None
        off = ts - self.lo
        day_key = self._day_keys[off // DAY_S]
        if self.days is None and self.unit in ("hour", "minute"):
            sod = off % DAY_S
            minute = (sod % 3600) // 60 if self.unit == "minute" else 0
            return f"{day_key} {sod // 3600:02d}:{minute:02d}:00"
        return day_key

    def series(self) -> list[str]:
        """Every bucket key of the range, ascending."""
        day_keys = list(dict.fromkeys(self._day_keys))
        if self.days is not None or self.unit not in ("hour", "minute"):
            return day_keys
        step = 60 if self.unit == "minute" else 3600
        return [f"{k} {s // 3600:02d}:{(s % 3600) // 60:02d}:00" for k in day_keys for s in range(0, DAY_S, step)]


# ---------------------------------------------------------------- expressions and segment keys


def _value(expr: Expr, ev: Event) -> Any:
    try:
        return expr.evaluate(ev.props)
    except WhereError:
        return UNDEFINED


def _matches(where: Expr | None, ev: Event) -> bool:
    return where is None or where.matches(ev.props)


def _scalar_key(v: Any) -> str:
    if v is UNDEFINED:
        return "undefined"
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 2**53 else repr(v)
    if isinstance(v, str):
        return v
    if isinstance(v, DateTime):
        return dt.datetime.fromtimestamp(v.epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


def segment_keys(value: Any) -> list[str]:
    """The segment key(s) an ``on`` value falls under (a list counts once under each distinct element)."""
    if isinstance(value, list | tuple):
        return list(dict.fromkeys(_scalar_key(x) for x in value))
    return [_scalar_key(value)]


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return v


def _json_number(x: float) -> int | float:
    return int(x) if isinstance(x, float) and x.is_integer() and abs(x) < 2**53 else x


# ---------------------------------------------------------------- segmentation family

Segmenter = Callable[[Event], Iterable[str]]


def _tally(events: Iterable[Event], buckets: Buckets, where: Expr | None, segs_of: Segmenter,
           users: bool) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, set[str]]]]:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    uniq: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for ev in events:
        key = buckets.key(ev.time)
        if key is None or not _matches(where, ev):
            continue
        for seg in segs_of(ev):
            counts[seg][key] += 1
            if users:
                uniq[seg][key].add(ev.distinct_id)
    return counts, uniq


def _measure(counts: dict[str, dict[str, int]], uniq: dict[str, dict[str, set[str]]], kind: str,
             seg: str, key: str) -> int | float:
    if kind == "general":
        return counts.get(seg, {}).get(key, 0)
    n_users = len(uniq.get(seg, {}).get(key, ()))
    if kind == "unique":
        return n_users
    return counts[seg][key] / n_users if n_users else 0  # average: events per user


def _envelope(keys: list[str], values: dict[str, dict[str, int | float]]) -> dict[str, Any]:
    return {"data": {"series": keys, "values": values}, "legend_size": len(values)}


def _top(totals: Mapping[str, float], limit: int | None) -> list[str]:
    """Segment keys by descending total (ties by key); the first ``limit`` of them."""
    ranked = sorted(totals, key=lambda s: (-totals[s], s))
    return ranked if limit is None else ranked[:limit]


def segmentation(events: Iterable[Event], buckets: Buckets, *, label: str, kind: str = "general",
                 on: Expr | None = None, where: Expr | None = None, limit: int | None = 60) -> dict[str, Any]:
    """``/segmentation``: events per bucket (``general``), distinct users (``unique``) or events per user
    (``average``), under one key (``label``, the event name) or per ``on`` segment (top ``limit`` by total).
    """
    segs_of: Segmenter = (lambda ev: (label,)) if on is None else (lambda ev: segment_keys(_value(on, ev)))
    counts, uniq = _tally(events, buckets, where, segs_of, users=kind != "general")
    keys = buckets.series()
    segs = list(counts) if on is not None else [label]
    table = {s: {k: _measure(counts, uniq, kind, s, k) for k in keys} for s in segs}
    if on is not None:
        table = {s: table[s] for s in _top({s: sum(v.values()) for s, v in table.items()}, limit)}
    return _envelope(keys, table)


def event_counts(events: Iterable[Event], buckets: Buckets, names: Sequence[str], *, kind: str) -> dict[str, Any]:
    """``/events``: one value map per requested event name (present even when it never occurred)."""
    wanted = set(names)
    counts, uniq = _tally((e for e in events if e.name in wanted), buckets, None, lambda ev: (ev.name,),
                          users=kind != "general")
    keys = buckets.series()
    return _envelope(keys, {n: {k: _measure(counts, uniq, kind, n, k) for k in keys} for n in dict.fromkeys(names)})


def property_counts(events: Iterable[Event], buckets: Buckets, prop: str, *, kind: str,
                    values: Sequence[str] | None = None, limit: int | None = 255) -> dict[str, Any]:
    """``/events/properties``: one value map per value of ``properties[prop]`` (top ``limit`` by total);
    with ``values``, exactly those values (zero-filled when absent)."""
    wanted = None if values is None else set(values)

    def segs_of(ev: Event) -> list[str]:
        keys = segment_keys(ev.props.get(prop, UNDEFINED))
        return keys if wanted is None else [k for k in keys if k in wanted]

    counts, uniq = _tally(events, buckets, None, segs_of, users=kind != "general")
    keys = buckets.series()
    segs = list(counts) if values is None else list(dict.fromkeys(values))
    table = {s: {k: _measure(counts, uniq, kind, s, k) for k in keys} for s in segs}
    if values is None:
        table = {s: table[s] for s in _top({s: sum(v.values()) for s, v in table.items()}, limit)}
    return _envelope(keys, table)


def numeric_buckets(values: Iterable[float]) -> tuple[float, float, int] | None:
    """Mixpanel-style numeric bucketing [E]: about ten equal ranges of a round width (1, 2 or 5 x 10^k)
    covering [min, max], aligned on a multiple of the width. Returns (start, width, count), or None."""
    vals = list(values)
    if not vals:
        return None
    lo, hi = min(vals), max(vals)
    span = hi - lo
    width = 1.0
    if span > 0:
        exp = math.floor(math.log10(span / 10))
        for mult in (1, 2, 5, 10):
            width = mult * 10.0**exp
            if span / width <= 10:
                break
    start = math.floor(lo / width) * width
    count = int((hi - start) // width) + 1
    return start, width, count


def _fmt_bound(x: float, width: float) -> str:
    decimals = max(0, -math.floor(math.log10(width))) if width < 1 else 0
    return f"{x:,.{decimals}f}"


def numeric_segmentation(events: Iterable[Event], buckets: Buckets, *, on: Expr, kind: str = "general",
                         where: Expr | None = None) -> dict[str, Any]:
    """``/segmentation/numeric``: segments are numeric ranges of ``on`` labelled like ``"2,000 - 2,100"``
    (thousands separators, as in Mixpanel's example); non-numeric values are left out; only ranges that
    hold events appear, in ascending order."""
    rows: list[tuple[Event, float]] = []
    for ev in events:
        if buckets.key(ev.time) is None or not _matches(where, ev):
            continue
        v = _number(_value(on, ev))
        if v is not None:
            rows.append((ev, v))
    spec = numeric_buckets(v for _, v in rows)
    keys = buckets.series()
    if spec is None:
        return _envelope(keys, {})
    start, width, count = spec
    labels = [f"{_fmt_bound(start + i * width, width)} - {_fmt_bound(start + (i + 1) * width, width)}"
              for i in range(count)]
    label_of = {id(ev): labels[min(count - 1, int((v - start) // width))] for ev, v in rows}
    counts, uniq = _tally((ev for ev, _ in rows), buckets, None, lambda ev: (label_of[id(ev)],),
                          users=kind != "general")
    segs = [lab for lab in labels if lab in counts]
    return _envelope(keys, {s: {k: _measure(counts, uniq, kind, s, k) for k in keys} for s in segs})


def numeric_aggregate(events: Iterable[Event], buckets: Buckets, *, on: Expr, where: Expr | None = None,
                      average: bool = False) -> dict[str, int | float]:
    """``/segmentation/sum`` and ``/average`` results: per bucket, the sum (or mean) of ``on`` over events;
    a non-numeric value counts as 0.0 (documented). Empty buckets are 0."""
    acc: dict[str, list[float]] = {k: [] for k in buckets.series()}
    for ev in events:
        key = buckets.key(ev.time)
        if key is None or not _matches(where, ev):
            continue
        v = _number(_value(on, ev))
        acc[key].append(0.0 if v is None else v)
    out: dict[str, int | float] = {}
    for key, vals in acc.items():
        total = math.fsum(vals)
        out[key] = _json_number(total / len(vals) if average and vals else total)
    return out


# ---------------------------------------------------------------- funnels


@dataclass(frozen=True)
class Step:
    """One funnel step (or retention/flow anchor): an event name (None = any), optionally filtered by ``where``."""

    event: str | None
    where: Expr | None = None
    label: str | None = None

    def matches(self, ev: Event) -> bool:
        """True when ``ev`` is this step's event and passes its filter."""
        return (self.event is None or ev.name == self.event) and _matches(self.where, ev)


def _by_user(events: Iterable[Event], where: Expr | None = None) -> dict[str, list[Event]]:
    """Each user's events passing ``where``, ordered by time, ties in served order."""
    if isinstance(events, Selection):  # the same grouping, read from the dataset's index
        return events.by_user(where)
    users: dict[str, list[Event]] = defaultdict(list)
    for ev in events:
        if _matches(where, ev):
            users[ev.distinct_id].append(ev)
    for evs in users.values():
        evs.sort(key=lambda e: e.ms)  # milliseconds, as /export serves them with time_in_ms; ties keep served order
    return users


def _next_tables(evs: list[Event], steps: Sequence[Step]) -> list[list[int]]:
    """``nxt[k][i]``: index of the first event at or after ``i`` matching step k (``len(evs)`` if none)."""
    n = len(evs)
    tables = []
    for step in steps:
        nxt = [n] * (n + 1)
        for i in range(n - 1, -1, -1):
            nxt[i] = i if step.matches(evs[i]) else nxt[i + 1]
        tables.append(nxt)
    return tables


def _attempt(evs: list[Event], start: int, nxt: list[list[int]], window_s: int) -> list[int]:
    """Times (ms) of the steps reached by the attempt that starts at ``evs[start]`` (step 0)."""
    t0 = evs[start].ms
    times = [t0]
    i = start
    for table in nxt[1:]:
        i = table[i + 1]
        if i >= len(evs) or evs[i].ms - t0 > window_s * 1000:
            break
        times.append(evs[i].ms)
    return times


def _step_rows(steps: Sequence[Step], reached: list[list[int]]) -> list[dict[str, Any]]:
    rows = []
    n = [sum(1 for t in reached if len(t) > k) for k in range(len(steps))]
    for k, step in enumerate(steps):
        conv = [t for t in reached if len(t) > k]
        if k == 0:
            avg_time: int | None = None
            avg_from_start: int | None = None
            step_ratio = overall_ratio = 1.0
        else:
            avg_time = round(sum(t[k] - t[k - 1] for t in conv) / len(conv) / 1000) if conv else 0
            avg_from_start = round(sum(t[k] - t[0] for t in conv) / len(conv) / 1000) if conv else 0
            step_ratio = n[k] / n[k - 1] if n[k - 1] else 0.0
            overall_ratio = n[k] / n[0] if n[0] else 0.0
        rows.append({"count": n[k], "avg_time": avg_time, "avg_time_from_start": avg_from_start,
                     "step_conv_ratio": step_ratio, "overall_conv_ratio": overall_ratio, "goal": step.event,
                     "event": step.event, "step_label": step.label or step.event or "$any_event"})
    return rows


def _analysis(rows: list[dict[str, Any]]) -> dict[str, int]:
    worst = 1
    for k in range(1, len(rows)):
        if rows[k]["step_conv_ratio"] < rows[worst]["step_conv_ratio"]:
            worst = k
    return {"completion": rows[-1]["count"], "starting_amount": rows[0]["count"], "steps": len(rows),
            "worst": worst}


REENTRY = ("default", "optimized")


def _entry(evs: list[Event], starts: list[int], nxt: list[list[int]], window_s: int,
           reentry: str) -> tuple[list[int], int]:
    """The (step times, start index) a user counts with (docs/report-semantics.md, "Funnels").

    default: the user's first step-1 event in the range is their one entry; later step-1 events neither
    restart its window nor start another entry. optimized: every step-1 event in the range starts an entry;
    the user counts with the entry that gets furthest, the first to get there (earliest last step), and
    of entries that reach the same events the most recent start.
    """
    if reentry == "default":
        return _attempt(evs, starts[0], nxt, window_s), starts[0]
    best: tuple[list[int], int] | None = None
    for i in starts:
        times = _attempt(evs, i, nxt, window_s)
        if best is None or (len(times), -times[-1], i) > (len(best[0]), -best[0][-1], best[1]):
            best = (times, i)
    assert best is not None
    return best


def funnel(events: Iterable[Event], steps: Sequence[Step], buckets: Buckets, *, window_s: int,
           where: Expr | None = None, on: Expr | None = None, limit: int | None = 255,
           reentry: str = "default") -> dict[str, Any]:
    """``/funnels``: users who entered the funnel in [from_date, to_date], each counted once over the whole
    range under the bucket of their entry, so the buckets' counts add up to the range's unique users.

    ``events`` must include completions after ``to_date`` (up to the window). An entry starts at a step-1
    event (``reentry`` picks which, ``_entry``); each next step is the user's first later event matching it no
    more than ``window_s`` seconds after the entry. ``avg_time`` (from the previous step) and
    ``avg_time_from_start`` are mean seconds over the users who reached the step, rounded (null for step 0,
    as the spec says; 0 when nobody reached the step); step 0's ratios are 1; ``worst`` is the step with the
    lowest ``step_conv_ratio``. One bucket spanning the range (``interval`` >= its days) is the overall
    funnel. With ``on``, users are segmented by the value on their entry's step-1 event (top ``limit``
    segments by step-1 users over all dates) and each date holds ``$overall`` and one step list per segment.
    """
    keys = buckets.series()
    per_key: dict[str, dict[str, list[list[int]]]] = {k: defaultdict(list) for k in keys}
    names = {s.event for s in steps}
    if None not in names:
        events = events.named(names) if isinstance(events, Selection) else (e for e in events if e.name in names)
    for evs in _by_user(events, where).values():
        nxt = _next_tables(evs, steps)
        starts = [i for i, ev in enumerate(evs) if nxt[0][i] == i and buckets.key(ev.time) is not None]
        if not starts:
            continue
        times, i = _entry(evs, starts, nxt, window_s, reentry)
        key = buckets.key(evs[i].time)
        assert key is not None
        per_key[key][OVERALL].append(times)
        if on is not None:
            for seg in segment_keys(_value(on, evs[i])):
                per_key[key][seg].append(times)
    if on is None:
        data: dict[str, Any] = {}
        for k in keys:
            rows = _step_rows(steps, per_key[k][OVERALL])
            data[k] = {"steps": rows, "analysis": _analysis(rows)}
        return {"meta": {"dates": keys}, "data": data}
    totals: dict[str, int] = defaultdict(int)
    for k in keys:
        for seg, reached in per_key[k].items():
            if seg != OVERALL:
                totals[seg] += len(reached)
    segs = _top(totals, limit)
    data = {k: {seg: _step_rows(steps, per_key[k].get(seg, [])) for seg in [OVERALL, *segs]} for k in keys}
    return {"meta": {"dates": keys}, "data": data}


# ---------------------------------------------------------------- retention


def _width_days(unit: str, interval: int) -> int:
    """Days per retention bucket: ``interval`` days, a week, or a 30-day month (rolling windows from the
    birth, docs/report-semantics.md "Retention")."""
    return {"week": 7, "month": 30}.get(unit, interval)


def _cohort_length(cohort: dt.date, today: dt.date, width_days: int, n_buckets: int) -> int:
    """Buckets of a cohort that have begun by ``today`` (the emulator truncates there) [E]."""
    n = 0
    while n < n_buckets and cohort + dt.timedelta(days=n * width_days) <= today:
        n += 1
    return n


def retention(events: Iterable[Event], *, from_date: dt.date, to_date: dt.date, today: dt.date,
              born: Step | None, returning: Step | None, retention_type: str = "birth", unit: str = "day",
              interval: int = 1, interval_count: int = 1, unbounded: bool = False, on: Expr | None = None,
              limit: int | None = None) -> dict[str, Any]:
    """``/retention``: ``{cohort date: {"counts": [...], "first": n}}``.

    birth: a user is born at their first-ever ``born`` event (``events`` must start at the beginning of the
    data); cohorts are the ``unit`` periods (days when ``unit`` is ``day``) of [from_date, to_date] holding
    the birth. compounded: every ``returning`` event starts a cohort membership, the first one in each
    period. ``counts[i]`` = cohort users who did ``returning`` (None = any event) in bucket i after their
    birth time: ``[birth + i*w, birth + (i+1)*w)`` with w = ``interval`` days (``unit`` day), 7 days (week)
    or 30 days (month: Mixpanel's rolling month, "Month 1 = 30-60 days since birth"); the birth event itself
    does not count as a return. There are ``interval_count`` + 1 buckets, cut at the last one that has begun
    by ``today`` [E]. ``unbounded`` ("on or after"): a user counts in bucket i when they returned in bucket i
    or any time later, past the last bucket included. With ``on`` (evaluated on the returning event), each
    date holds ``$overall`` and one ``{"counts", "first"}`` per segment (top ``limit`` by total returns);
    ``first`` is the whole cohort's size in every segment [E].
    """
    width_days = _width_days(unit, interval)
    n_buckets = interval_count + 1
    users = _by_user(events)
    cohort_unit = unit if unit in ("week", "month") else "day"
    # cohort date -> segment -> user -> set of bucket indexes hit
    hits: dict[dt.date, dict[str, dict[str, set[int]]]] = defaultdict(lambda: defaultdict(dict))
    sizes: dict[dt.date, int] = defaultdict(int)
    anchor_step = born if retention_type == "birth" else returning
    for uid, evs in users.items():
        anchors: list[tuple[dt.date, int]] = []  # (cohort date, index of the anchor event)
        seen_periods: set[dt.date] = set()
        for i, ev in enumerate(evs):
            if anchor_step is not None and not anchor_step.matches(ev):
                continue
            day = dt.datetime.fromtimestamp(ev.time, dt.UTC).date()
            period = period_start(day, cohort_unit)
            if retention_type == "birth":
                if from_date <= day <= to_date:
                    anchors.append((period, i))
                break  # only the first-ever born event
            if from_date <= day <= to_date and period not in seen_periods:
                seen_periods.add(period)
                anchors.append((period, i))
        if not anchors:
            continue
        back = [j for j, ev in enumerate(evs) if returning is None or returning.matches(ev)]
        back_times = [evs[j].ms for j in back]
        for cohort, i in anchors:
            sizes[cohort] += 1
            t_born = evs[i].ms
            segs = hits[cohort]
            segs[OVERALL].setdefault(uid, set())
            for j in back[bisect.bisect_left(back_times, t_born):]:
                if j == i:  # the birth itself is not a return
                    continue
                ev = evs[j]
                b = (ev.ms - t_born) // (width_days * DAY_S * 1000)
                if b >= n_buckets and not unbounded:
                    break
                segs[OVERALL][uid].add(b)
                if on is not None:
                    for seg in segment_keys(_value(on, ev)):
                        segs[seg].setdefault(uid, set()).add(b)

    def counts_of(per_user: dict[str, set[int]], length: int) -> list[int]:
        out = [0] * length
        for bs in per_user.values():
            if unbounded:
                top = min(max(bs, default=-1), length - 1)  # a return after the last bucket counts too
                for b in range(top + 1):
                    out[b] += 1
            else:
                for b in bs:
                    if b < length:
                        out[b] += 1
        return out

    result: dict[str, Any] = {}
    cohorts = sorted(sizes)
    if on is None:
        for c in cohorts:
            length = _cohort_length(c, today, width_days, n_buckets)
            result[c.isoformat()] = {"counts": counts_of(hits[c][OVERALL], length), "first": sizes[c]}
        return result
    totals: dict[str, int] = defaultdict(int)
    for c in cohorts:
        length = _cohort_length(c, today, width_days, n_buckets)
        for seg, per_user in hits[c].items():
            if seg != OVERALL:
                totals[seg] += sum(counts_of(per_user, length))
    segs = _top(totals, limit)
    for c in cohorts:
        length = _cohort_length(c, today, width_days, n_buckets)
        result[c.isoformat()] = {seg: {"counts": counts_of(hits[c].get(seg, {}), length), "first": sizes[c]}
                                 for seg in [OVERALL, *segs]}
    return result


# ---------------------------------------------------------------- frequency (addiction)


def frequency(events: Iterable[Event], *, from_date: dt.date, to_date: dt.date, unit: str, addiction_unit: str,
              on: Expr | None = None, limit: int | None = None) -> dict[str, Any]:
    """``/retention/addiction``: ``{"data": {period: [n_1, n_2, ...]}}`` where ``n_i`` = users who did the
    event in at least i distinct ``addiction_unit`` slots (hours or days) of the ``unit`` period (calendar
    day / week from Monday / month) keyed by its first day. The array has one entry per slot of the period
    (24 for day/hour); events outside [from_date, to_date] are not counted, even in a period that
    straddles them [E]. With ``on``, each period holds ``$overall`` and one array per segment.
    """
    slot_s = 3600 if addiction_unit == "hour" else DAY_S
    lo, hi = epoch(from_date), epoch(to_date) + DAY_S
    slots: dict[dt.date, dict[str, dict[str, set[int]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(set)))
    periods: dict[dt.date, int] = {}
    d = from_date
    while d <= to_date:
        p = period_start(d, unit)
        if p not in periods:
            end = add_months(p, 1) if unit == "month" else p + dt.timedelta(days=7 if unit == "week" else 1)
            periods[p] = (end - p).days * DAY_S // slot_s
        d += dt.timedelta(days=1)
    for ev in events:
        if not lo <= ev.time < hi:
            continue
        p = period_start(dt.datetime.fromtimestamp(ev.time, dt.UTC).date(), unit)
        slot = (ev.time - epoch(p)) // slot_s
        slots[p][OVERALL][ev.distinct_id].add(slot)
        if on is not None:
            for seg in segment_keys(_value(on, ev)):
                slots[p][seg][ev.distinct_id].add(slot)

    def dist(per_user: Mapping[str, set[int]], n: int) -> list[int]:
        out = [0] * n
        for s in per_user.values():
            for i in range(min(len(s), n)):
                out[i] += 1
        return out

    if on is None:
        return {"data": {p.isoformat(): dist(slots[p][OVERALL], n) for p, n in periods.items()}}
    totals: dict[str, int] = defaultdict(int)
    for p in periods:
        for seg, per_user in slots[p].items():
            if seg != OVERALL:
                totals[seg] += len(per_user)
    segs = _top(totals, limit)
    return {"data": {p.isoformat(): {seg: dist(slots[p].get(seg, {}), n) for seg in [OVERALL, *segs]}
                     for p, n in periods.items()}}


# ---------------------------------------------------------------- activity stream, flows


def activity_stream(events: Iterable[Event], distinct_ids: Iterable[str]) -> dict[str, Any]:
    """``/stream/query``: the users' events oldest first, each ``{"event", "properties"}`` as exported."""
    wanted = set(distinct_ids)
    picked = sorted((e for e in events if e.distinct_id in wanted), key=lambda e: e.ms)
    return {"status": "ok", "results": {"events": [{"event": e.name, "properties": dict(e.props)} for e in picked]}}


def flows(events: Iterable[Event], *, anchor: Step, forward: int, window_s: int,
          anchor_range: tuple[int, int] | None = None, top_paths: int = 10) -> dict[str, Any]:
    """A saved Flows report: each user's first ``anchor`` event (inside ``anchor_range``, epoch seconds
    [lo, hi), when given) and the next ``forward`` events they did within ``window_s`` seconds of it.

    ``steps[i]`` is column i of the Sankey diagram (0 = the anchor), in the node/edge form Mixpanel's web
    app reads [O: client code]: ``{"step": i, "nodes": [{"event", "type", "step", "totalCount", "edges"}]}``
    with ``type`` ``ANCHOR`` / ``NORMAL`` / ``DROPOFF`` (event ``$dropoff``: users with no further event in
    the window), counts as text as Mixpanel sends them, and each node's ``edges`` counting where its users
    went at step i + 1. ``breakdowns`` are the most common full paths ``{"path": [...], "count": n}`` [E];
    ``overallConversionRate`` is the share of anchored users with all ``forward`` steps [E].
    """
    paths: list[tuple[str, ...]] = []
    for evs in _by_user(events).values():
        for i, ev in enumerate(evs):
            if anchor.matches(ev) and (anchor_range is None or anchor_range[0] <= ev.time < anchor_range[1]):
                nxt = [e.name for e in evs[i + 1:] if e.ms - ev.ms <= window_s * 1000][:forward]
                paths.append((ev.name, *nxt))
                break
    dropoff = "$dropoff"

    def at(path: tuple[str, ...], pos: int) -> str:
        return path[pos] if pos < len(path) else dropoff

    steps = []
    for pos in range(forward + 1):
        counts: dict[str, int] = defaultdict(int)
        for p in paths:
            if pos < len(p) or pos == len(p):
                counts[at(p, pos)] += 1
        nodes = []
        for name in sorted(counts, key=lambda n: (n == dropoff, -counts[n], n)):
            kind = "DROPOFF" if name == dropoff else ("ANCHOR" if pos == 0 else "NORMAL")
            edges: list[dict[str, Any]] = []
            if name != dropoff and pos < forward:
                nxt: dict[str, int] = defaultdict(int)
                for p in paths:
                    if pos < len(p) and p[pos] == name:
                        nxt[at(p, pos + 1)] += 1
                edges = [{"event": e, "type": "DROPOFF" if e == dropoff else "NORMAL", "step": pos + 1,
                          "totalCount": str(nxt[e])} for e in sorted(nxt, key=lambda e: (e == dropoff, -nxt[e], e))]
            nodes.append({"event": name, "type": kind, "step": pos, "totalCount": str(counts[name]), "edges": edges})
        steps.append({"step": pos, "nodes": nodes})
    by_path: dict[tuple[str, ...], int] = defaultdict(int)
    for p in paths:
        by_path[p] += 1
    ranked = sorted(by_path, key=lambda p: (-by_path[p], p))[:top_paths]
    complete = sum(1 for p in paths if len(p) == forward + 1)
    return {"steps": steps, "breakdowns": [{"path": list(p), "count": by_path[p]} for p in ranked],
            "overallConversionRate": complete / len(paths) if paths else 0.0}
