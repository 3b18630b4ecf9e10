"""Each report's rows equal an independent computation over ``mp_export`` of the same project and range.

The expectations are written here, in SQL or in plain Python over the exported (deduplicated) rows, from
Mixpanel's documented semantics (docs/mixpanel-api.md, docs/report-semantics.md) and the emulator's documented choices
where Mixpanel documents nothing (project time zone UTC; segment keys as text, ``null``/``undefined`` for null/missing
values; a user's events ordered by time). No emulator computation is reused: the saved reports' definitions (which
events, which window) are read from the emulator's catalogue, as a user would read them in Mixpanel's UI.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, NamedTuple

import pytest

from mpsql.emulator.saved_reports import BOOKMARKS, FUNNELS
from tests.conftest import TODAY

DAY = 86_400
D1, D3 = dt.date(2024, 3, 4), dt.date(2024, 3, 6)  # Monday to Wednesday
RANGE = "'2024-03-04', '2024-03-06'"


class Ev(NamedTuple):
    event: str
    t: int  # epoch seconds
    distinct_id: str
    props: dict[str, Any]
    ms: int = 0  # epoch milliseconds (mp_export asks for them: order within a second)


def exported(con, from_date: dt.date, to_date: dt.date, events: list[str] | None = None,
             properties: bool = True) -> list[Ev]:
    """The deduplicated export of the range, in time order to the millisecond (stable: ties keep the export's
    order)."""
    props = "properties::VARCHAR" if properties else "'{}'"
    rows = con.execute(f"SELECT event, epoch_ms(time), distinct_id, {props} "
                       "FROM mp_export(?, ?, events := ?)", [from_date, to_date, events]).fetchall()
    evs = [Ev(e, ms // 1000, d, json.loads(p), ms) for e, ms, d, p in rows]
    evs.sort(key=lambda ev: ev.ms)
    return evs


def day_of(t: int) -> dt.date:
    return dt.datetime.fromtimestamp(t, dt.UTC).date()


def midnight(d: dt.date) -> dt.datetime:
    return dt.datetime.combine(d, dt.time())


def days(from_date: dt.date, to_date: dt.date) -> list[dt.date]:
    return [from_date + dt.timedelta(days=i) for i in range((to_date - from_date).days + 1)]


def key(props: dict[str, Any], name: str) -> str:
    """A segment key: the value as text, 'null' for null, 'undefined' when the property is missing."""
    if name not in props:
        return "undefined"
    value = props[name]
    return "null" if value is None else str(value)


def by_user(evs: Iterable[Ev]) -> dict[str, list[Ev]]:
    users: dict[str, list[Ev]] = defaultdict(list)
    for ev in evs:
        users[ev.distinct_id].append(ev)
    return users


def rows(con, sql: str) -> list[tuple[Any, ...]]:
    return con.execute(sql).fetchall()


# -- segmentation family ---------------------------------------------------------------------------------------

def test_segmentation_counts_each_days_events_like_sql_over_the_export(con):
    expected = rows(con, f"""
        WITH e AS (SELECT timezone('UTC', time)::DATE AS day FROM mp_export({RANGE}, events := ['Purchase']))
        SELECT d.day, 'Purchase', count(e.day)::DOUBLE
        FROM range(DATE '2024-03-04', DATE '2024-03-07', INTERVAL 1 DAY) AS d(day) LEFT JOIN e ON e.day = d.day
        GROUP BY ALL ORDER BY 1""")
    assert rows(con, f"SELECT * FROM mp_segmentation('Purchase', {RANGE})") == expected
    assert len(expected) == 3 and all(v > 0 for *_, v in expected)


def test_unique_users_per_day_and_browser_like_sql_over_the_export(con):
    expected = rows(con, f"""
        SELECT timezone('UTC', time)::DATE::TIMESTAMP AS date, json_extract_string(properties, '$."$browser"'),
               count(DISTINCT distinct_id)::DOUBLE
        FROM mp_export({RANGE}, events := ['Page View']) GROUP BY ALL ORDER BY ALL""")
    got = rows(con, f"SELECT * FROM mp_segmentation('Page View', {RANGE}, by := 'properties[\"$browser\"]', "
                    "type := 'unique') ORDER BY ALL")
    assert got == expected  # every browser occurs every day, so the zero-filled grid has no extra rows


def test_average_is_events_per_user_each_day(con):
    evs = exported(con, D1, D3, ["Search"])
    expected = []
    for d in days(D1, D3):
        mine = [e for e in evs if day_of(e.t) == d]
        expected.append((midnight(d), "Search", len(mine) / len({e.distinct_id for e in mine})))
    got = rows(con, f"SELECT * FROM mp_segmentation('Search', {RANGE}, type := 'average')")
    assert [r[:2] for r in got] == [r[:2] for r in expected]
    assert [r[2] for r in got] == pytest.approx([r[2] for r in expected], rel=1e-12)


def test_hourly_buckets_are_wall_clock_hours_of_the_project_day(con):
    evs = exported(con, D1, D1, ["Purchase"])
    per_hour = defaultdict(int)
    for e in evs:
        per_hour[e.t // 3600 * 3600] += 1
    start = int(dt.datetime.combine(D1, dt.time(), dt.UTC).timestamp())
    expected = [(midnight(D1) + dt.timedelta(hours=h), "Purchase", float(per_hour[start + h * 3600]))
                for h in range(24)]
    assert rows(con, "SELECT * FROM mp_segmentation('Purchase', '2024-03-04', '2024-03-04', unit := 'hour')") == \
        expected


def test_filter_and_by_with_null_and_missing_values(con):
    evs = exported(con, D1, D3, ["Checkout"])
    grid: dict[tuple[dt.datetime, str], float] = defaultdict(float)
    for e in evs:
        if e.props["cart"]["currency"] == "EUR":
            grid[(midnight(day_of(e.t)), key(e.props, "coupon"))] += 1
    segments = {s for _, s in grid}
    assert "null" in segments  # a coupon of null is its own segment
    expected = sorted((d, s, grid[(d, s)]) for d in map(midnight, days(D1, D3)) for s in segments)
    got = rows(con, f"SELECT * FROM mp_segmentation('Checkout', {RANGE}, by := 'properties[\"coupon\"]', "
                    "filter := 'properties[\"cart\"][\"currency\"] == \"EUR\"') ORDER BY ALL")
    assert got == expected


def test_by_a_missing_property_is_the_undefined_segment(con):
    evs = exported(con, D1, D1, ["Login"])
    got = rows(con, "SELECT segment, value FROM mp_segmentation('Login', '2024-03-04', '2024-03-04', "
                    "by := 'properties[\"coupon\"]')")
    assert got == [("undefined", float(len(evs)))]


def test_top_keeps_the_segments_with_the_largest_totals(con):
    evs = exported(con, D1, D3, ["Page View"])
    totals: dict[str, int] = defaultdict(int)
    for e in evs:
        totals[key(e.props, "$browser")] += 1
    top2 = sorted(totals, key=lambda s: (-totals[s], s))[:2]
    got = rows(con, f"SELECT DISTINCT segment FROM mp_segmentation('Page View', {RANGE}, "
                    "by := 'properties[\"$browser\"]', top := 2) ORDER BY 1")
    assert [s for (s,) in got] == sorted(top2)


def test_numeric_buckets_partition_the_amounts_per_day(con):
    evs = exported(con, D1, D3, ["Purchase"])
    got = rows(con, f"SELECT date, bucket, value FROM mp_segmentation_numeric('Purchase', {RANGE}, "
                    "'properties[\"amount\"]')")
    labels = list(dict.fromkeys(b for _, b, _ in got))
    bounds = {b: tuple(float(x.replace(",", "")) for x in b.split(" - ")) for b in labels}
    expected = []
    for d in days(D1, D3):
        for b in labels:
            lo, hi = bounds[b]
            n = sum(1 for e in evs if day_of(e.t) == d and lo <= e.props["amount"] < hi)
            expected.append((midnight(d), b, float(n)))
    assert got == expected
    assert sum(v for *_, v in got) == len(evs)  # the ranges cover every amount


def test_sum_and_average_of_an_expression_per_day(con):
    expected = rows(con, f"""
        SELECT timezone('UTC', time)::DATE::TIMESTAMP, sum((properties->>'$.amount')::DOUBLE),
               avg((properties->>'$.amount')::DOUBLE)
        FROM mp_export({RANGE}, events := ['Purchase']) GROUP BY ALL ORDER BY 1""")
    sums = rows(con, f"SELECT * FROM mp_segmentation_sum('Purchase', {RANGE}, 'properties[\"amount\"]')")
    averages = rows(con, f"SELECT * FROM mp_segmentation_average('Purchase', {RANGE}, 'properties[\"amount\"]')")
    assert [d for d, _ in sums] == [d for d, _, _ in expected] == [d for d, _ in averages]
    assert [v for _, v in sums] == pytest.approx([s for _, s, _ in expected], rel=1e-12)
    assert [v for _, v in averages] == pytest.approx([a for _, _, a in expected], rel=1e-12)


def test_event_counts_total_and_unique_per_event_and_day(con):
    evs = exported(con, D1, D3, ["Sign Up", "Purchase"])
    for kind in ("general", "unique"):
        expected = []
        for d in days(D1, D3):
            for name in ("Sign Up", "Purchase"):
                mine = [e for e in evs if e.event == name and day_of(e.t) == d]
                n = len(mine) if kind == "general" else len({e.distinct_id for e in mine})
                expected.append((midnight(d), name, float(n)))
        got = rows(con, f"SELECT * FROM mp_event_counts(['Sign Up', 'Purchase'], {RANGE}, type := '{kind}')")
        assert got == expected


def test_weekly_event_counts_key_the_monday(con):
    # Wednesday to Wednesday: partial weeks, with Share events on their days outside the range
    evs = exported(con, dt.date(2024, 3, 6), dt.date(2024, 3, 13), ["Share"])
    around = exported(con, dt.date(2024, 3, 4), dt.date(2024, 3, 17), ["Share"])
    assert len(around) > len(evs)
    weeks = [dt.date(2024, 3, 4), dt.date(2024, 3, 11)]
    expected = [(midnight(w), "Share", float(sum(1 for e in evs if w <= day_of(e.t) < w + dt.timedelta(days=7))))
                for w in weeks]
    assert rows(con, "SELECT * FROM mp_event_counts('Share', '2024-03-06', '2024-03-13', unit := 'week')") == expected


def test_property_counts_per_value_and_for_chosen_values(con):
    evs = exported(con, D1, D3, ["Page View"])
    grid: dict[tuple[dt.datetime, str], int] = defaultdict(int)
    for e in evs:
        grid[(midnight(day_of(e.t)), key(e.props, "$browser"))] += 1
    expected = sorted((d, b, float(n)) for (d, b), n in grid.items())
    assert rows(con, f"SELECT * FROM mp_property_counts('Page View', '$browser', {RANGE}) ORDER BY ALL") == expected
    chosen = rows(con, f"SELECT * FROM mp_property_counts('Page View', '$browser', {RANGE}, "
                       "values := ['Safari', 'Edge']) ORDER BY ALL")
    assert chosen == [r for r in expected if r[1] in ("Safari", "Edge")]


# -- funnels ----------------------------------------------------------------------------------------------------

def funnel_rows(evs: list[Ev], steps: list[str], from_date: dt.date, to_date: dt.date, window: int,
                by: str | None = None) -> list[tuple[Any, ...]]:
    """Mixpanel's funnel from raw events ("Conversion Details in Funnels"): each user enters once, at their first
    step-1 event in the range, and counts under that event's day; each next step is the first later matching
    event within the window of the entry. Every day of the range has rows, and with ``by`` every segment seen in
    the range has rows on every day. (The steps here are events of identified users, so ID merge changes
    nothing.)"""
    reached: dict[tuple[dt.date, str], list[list[int]]] = defaultdict(list)
    segments = {"$overall"}
    for user_evs in by_user(evs).values():
        entry = next((i for i, ev in enumerate(user_evs)
                      if ev.event == steps[0] and from_date <= day_of(ev.t) <= to_date), None)
        if entry is None:
            continue
        first = user_evs[entry]
        times, j = [first.ms], entry
        for step in steps[1:]:  # in milliseconds, as Mixpanel measures them
            j = next((k for k in range(j + 1, len(user_evs))
                      if user_evs[k].ms - first.ms <= window * 1000 and user_evs[k].event == step), None)
            if j is None:
                break
            times.append(user_evs[j].ms)
        d = day_of(first.t)
        reached[(d, "$overall")].append(times)
        if by is not None:
            reached[(d, key(first.props, by))].append(times)
            segments.add(key(first.props, by))
    out = []
    for d in days(from_date, to_date):
        for segment in sorted(segments, key=lambda s: (s != "$overall", s)):
            attempts = reached.get((d, segment), [])
            n = [sum(1 for a in attempts if len(a) > k) for k in range(len(steps))]
            for k, name in enumerate(steps):
                done = [a for a in attempts if len(a) > k]
                avg = None if k == 0 else float(round(sum(a[k] - a[k - 1] for a in done) / len(done) / 1000)
                                                if done else 0)
                step_conv = 1.0 if k == 0 else (n[k] / n[k - 1] if n[k - 1] else 0.0)
                overall = 1.0 if k == 0 else (n[k] / n[0] if n[0] else 0.0)
                out.append((d, segment, k + 1, name, n[k], step_conv, overall, avg))
    return out


def test_saved_funnel_per_day_equals_the_funnel_computed_from_the_export(con):
    saved = FUNNELS[7001]
    steps = [s.event for s in saved.steps]
    assert saved.length_unit == "day"
    window = saved.length * DAY
    evs = exported(con, D1, D3 + dt.timedelta(days=saved.length), steps)  # completions may follow to_date
    expected = funnel_rows(evs, steps, D1, D3, window)
    got = rows(con, f"SELECT * FROM mp_funnel(7001, {RANGE})")
    assert got == expected
    assert [r[4] for r in got if r[0] == D1] == sorted((r[4] for r in got if r[0] == D1), reverse=True)


def test_funnel_with_a_two_hour_window_segmented_by_browser(con):
    steps = [s.event for s in FUNNELS[7001].steps]
    evs = exported(con, D1, D1 + dt.timedelta(days=1), steps)
    expected = funnel_rows(evs, steps, D1, D1, 2 * 3600, by="$browser")
    got = rows(con, "SELECT * FROM mp_funnel(7001, '2024-03-04', '2024-03-04', length := 2, length_unit := 'hour', "
                    "by := 'properties[\"$browser\"]')")
    assert sorted(got, key=lambda r: (r[0], r[1] != "$overall", r[1], r[2])) == expected
    assert got[0][1] == "$overall"


# -- retention and frequency ------------------------------------------------------------------------------------

def retention_rows(cohorts: dict[dt.date, dict[str, tuple[int, int]]], returns: dict[str, list[Ev]],
                   periods: int, by: str | None = None) -> list[tuple[Any, ...]]:
    """Rows from cohorts {day: {user: (birth time, index of the birth among the user's returns, or -1)}} and each
    user's returning events: counts[i] = cohort users with a return in [birth + i days, birth + (i+1) days).
    With ``by`` (a property of the returning event) every segment seen has rows in every cohort."""
    hits: dict[dt.date, dict[str, list[set[str]]]] = {}
    segments = {"$overall"}
    for cohort, members in cohorts.items():
        mine = hits[cohort] = defaultdict(lambda: [set() for _ in range(periods)])
        for user, (born, skip) in members.items():
            for idx, ev in enumerate(returns.get(user, [])):
                if idx == skip or ev.t < born or (ev.t - born) // DAY >= periods:
                    continue
                mine["$overall"][(ev.t - born) // DAY].add(user)
                if by is not None:
                    mine[key(ev.props, by)][(ev.t - born) // DAY].add(user)
                    segments.add(key(ev.props, by))
    out = []
    for cohort in sorted(cohorts):
        size = len(cohorts[cohort])
        for segment in sorted(segments, key=lambda s: (s != "$overall", s)):
            for i, users in enumerate(hits[cohort][segment]):
                out.append((cohort, segment, size, i, len(users), len(users) / size))
    return out


def test_birth_retention_from_first_sign_up_to_purchases(con):
    # Cohorts early in the data, so "first-ever sign-up" needs only a few days of export.
    first_date = TODAY - dt.timedelta(days=90)
    lo, hi = first_date + dt.timedelta(days=1), first_date + dt.timedelta(days=3)
    born: dict[str, int] = {}
    for ev in exported(con, first_date, hi, ["Sign Up"]):
        born.setdefault(ev.distinct_id, ev.t)  # the first-ever birth event
    cohorts: dict[dt.date, dict[str, tuple[int, int]]] = defaultdict(dict)
    for user, t in born.items():
        if lo <= day_of(t) <= hi:
            cohorts[day_of(t)][user] = (t, -1)
    purchases = by_user(exported(con, lo, hi + dt.timedelta(days=4), ["Purchase"]))
    expected = retention_rows(cohorts, purchases, periods=4, by="currency")
    got = rows(con, f"SELECT * FROM mp_retention('Sign Up', '{lo}', '{hi}', event := 'Purchase', interval_count := 3, "
                    "by := 'properties[\"currency\"]')")
    got = sorted(got, key=lambda r: (r[0], r[1] != "$overall", r[1], r[3]))
    assert got == expected
    assert len(cohorts) == 3 and {r[2] for r in got if r[0] == lo} == {len(cohorts[lo])}  # segments: cohort size


def test_compounded_retention_anchors_each_days_first_login(con):
    logins = by_user(exported(con, D1, D3 + dt.timedelta(days=3), ["Login"]))
    cohorts: dict[dt.date, dict[str, tuple[int, int]]] = defaultdict(dict)
    for user, evs in logins.items():
        for idx, ev in enumerate(evs):
            d = day_of(ev.t)
            if D1 <= d <= D3 and user not in cohorts[d]:
                cohorts[d][user] = (ev.t, idx)  # the anchor itself is not a return
    expected = retention_rows(cohorts, logins, periods=3)
    got = rows(con, f"SELECT * FROM mp_retention('Login', {RANGE}, retention_type := 'compounded', "
                    "interval_count := 2)")
    assert got == expected


def test_frequency_counts_users_active_in_at_least_n_hours(con):
    evs = exported(con, D1, D3, ["Page View"])
    expected = []
    for d in days(D1, D3):
        hours: dict[str, set[int]] = defaultdict(set)
        for e in evs:
            if day_of(e.t) == d:
                hours[e.distinct_id].add(dt.datetime.fromtimestamp(e.t, dt.UTC).hour)
        expected += [(d, "$overall", n, sum(1 for h in hours.values() if len(h) >= n)) for n in range(1, 25)]
    got = rows(con, f"SELECT * FROM mp_frequency({RANGE}, event := 'Page View')")
    assert got == expected


def test_weekly_frequency_in_days_segmented_by_browser(con):
    monday, sunday = dt.date(2024, 3, 4), dt.date(2024, 3, 10)
    active: dict[str, dict[str, set[dt.date]]] = defaultdict(lambda: defaultdict(set))
    for e in exported(con, monday, sunday, ["Login"]):
        active["$overall"][e.distinct_id].add(day_of(e.t))
        active[key(e.props, "$browser")][e.distinct_id].add(day_of(e.t))
    expected = sorted((monday, s, n, sum(1 for d in per_user.values() if len(d) >= n))
                      for s, per_user in active.items() for n in range(1, 8))
    got = rows(con, "SELECT * FROM mp_frequency('2024-03-04', '2024-03-10', event := 'Login', unit := 'week', "
                    "addiction_unit := 'day', by := 'properties[\"$browser\"]')")
    assert sorted(got) == expected
    assert got[0][1] == "$overall" and len(active) > 3


# -- activity, saved reports, JQL -------------------------------------------------------------------------------

def test_activity_feed_is_the_users_exported_events(con):
    evs = exported(con, D1, D3)
    ids = sorted({e.distinct_id for e in evs if e.distinct_id.startswith("u_")})[:3]
    # The activity stream serves times in seconds (the export here was asked for milliseconds).
    expected = sorted((e.distinct_id, e.event, e.t, json.dumps({**e.props, "time": e.t}, sort_keys=True))
                      for e in evs if e.distinct_id in ids)
    got = rows(con, f"SELECT distinct_id, event, epoch(time)::BIGINT, properties::VARCHAR FROM mp_activity({ids!r}, "
                    f"from_date := '2024-03-04', to_date := '2024-03-06')")
    assert [t for _, _, t, _ in got] == sorted(t for _, _, t, _ in got)  # oldest first
    assert sorted((d, e, t, json.dumps(json.loads(p), sort_keys=True)) for d, e, t, p in got) == expected


def insight_range(bookmark_id: int) -> tuple[dt.date, dt.date]:
    """A saved report's relative range "last N days": [today - N, today - 1]."""
    n = BOOKMARKS[bookmark_id].last_days
    return TODAY - dt.timedelta(days=n), TODAY - dt.timedelta(days=1)


def test_daily_insight_counts_its_event_over_its_saved_range(con):
    saved = BOOKMARKS[9101]
    assert (saved.events, saved.math, saved.unit, saved.breakdown) == (("Purchase",), "general", "day", None)
    lo, hi = insight_range(9101)
    evs = exported(con, lo, hi, ["Purchase"])
    expected = [(midnight(d), "Purchase", "$overall", float(sum(1 for e in evs if day_of(e.t) == d)))
                for d in days(lo, hi)]
    assert rows(con, "SELECT * FROM mp_insight(9101)") == expected


def test_insight_with_a_breakdown_has_overall_and_one_segment_per_value(con):
    saved = BOOKMARKS[9102]
    assert (saved.events, saved.math, saved.breakdown) == (("Page View",), "unique", "$browser")
    lo, hi = insight_range(9102)
    evs = exported(con, lo, hi, ["Page View"])
    users: dict[tuple[dt.datetime, str], set[str]] = defaultdict(set)
    for e in evs:
        users[(midnight(day_of(e.t)), "$overall")].add(e.distinct_id)
        users[(midnight(day_of(e.t)), key(e.props, "$browser"))].add(e.distinct_id)
    expected = sorted((d, "Page View", s, float(len(u))) for (d, s), u in users.items())
    got = rows(con, "SELECT * FROM mp_insight(9102)")
    assert sorted(got) == expected
    assert [r[2] for r in got[:1]] == ["$overall"]  # Mixpanel's order within a date: $overall first


def test_weekly_insight_keys_mondays_and_counts_only_inside_its_range(con):
    saved = BOOKMARKS[9103]
    assert (saved.events, saved.unit) == (("Sign Up", "Purchase"), "week")
    lo, hi = insight_range(9103)
    assert lo.weekday() != 0  # the first week is partial: its Monday precedes the range...
    assert exported(con, lo - dt.timedelta(days=lo.weekday()), lo - dt.timedelta(days=1), list(saved.events))
    evs = exported(con, lo, hi, list(saved.events))  # ...and holds events the report must leave out
    expected = []
    for d in days(lo, hi):
        if d.weekday() == 0 or d == lo:
            week = d - dt.timedelta(days=d.weekday())
            for name in saved.events:
                n = sum(1 for e in evs if e.event == name and week <= day_of(e.t) < week + dt.timedelta(days=7))
                expected.append((midnight(week), name, "$overall", float(n)))
    assert rows(con, "SELECT * FROM mp_insight(9103)") == expected


def test_flows_nodes_count_users_per_event_and_position_after_the_anchor(con):
    saved = BOOKMARKS[9201]
    lo, hi = insight_range(9201)
    window = saved.window_days * DAY
    evs = exported(con, lo, min(hi + dt.timedelta(days=saved.window_days), TODAY - dt.timedelta(days=1)),
                   properties=False)
    paths = []
    for user_evs in by_user(evs).values():
        for i, ev in enumerate(user_evs):
            if ev.event == saved.anchor and lo <= day_of(ev.t) <= hi:
                after = [e.event for e in user_evs[i + 1:] if e.t - ev.t <= window][:saved.forward]
                paths.append([ev.event, *after])
                break
    nodes: dict[tuple[int, str], int] = defaultdict(int)
    dropoffs: dict[int, int] = defaultdict(int)
    for path in paths:
        for pos, name in enumerate(path):
            nodes[(pos, name)] += 1
        if len(path) <= saved.forward:
            dropoffs[len(path)] += 1
    got = rows(con, "SELECT step, event, type, count FROM mp_flows(9201) WHERE kind = 'node'")
    assert {(s, e): n for s, e, t, n in got if t != "DROPOFF"} == dict(nodes)
    assert {s: n for s, e, t, n in got if t == "DROPOFF"} == dict(dropoffs)
    assert dict(nodes)[(0, saved.anchor)] == len(paths)


def test_jql_group_by_name_counts_every_exported_event(con):
    evs = exported(con, D1, D3)
    counts: dict[str, int] = defaultdict(int)
    for e in evs:
        counts[e.event] += 1
    got = rows(con, "SELECT value->>'$.key[0]', (value->>'$.value')::BIGINT FROM mp_jql('function main() { return "
                    "Events(params).groupBy([\"name\"], mixpanel.reducer.count()) }', params := {'from_date': "
                    "'2024-03-04', 'to_date': '2024-03-06'})")
    assert dict(got) == dict(counts)
    assert math.fsum(n for _, n in got) == len(evs)
