"""Ad-hoc reports (mp_insights; mp_funnel steps :=; mp_retention buckets :=; mp_flows event :=) equal an
independent computation in plain SQL over what mp_export returns for the same project.

The expectations follow docs/report-semantics.md ("Ad-hoc reports") and use no emulator code: the whole project
is exported once into ``events``; ``ev`` resolves each row's user through ``mp_identities`` (the ID merge
Mixpanel's reports count by) and adds its UTC day (the emulator's project time zone).
"""

from __future__ import annotations

import datetime as dt
import json
import math

import pytest

import mpsql
from mpsql.api.ratelimit import RateLimits
from mpsql.connection import context_of
from mpsql.emulator import Emulator, ServerLimits
from tests.conftest import FAST_RETRY, TODAY

D1, D3 = dt.date(2024, 3, 25), dt.date(2024, 3, 27)
R = f"'{D1}', '{D3}'"
NUMERIC = "CASE WHEN json_type(properties, '$.amount') IN ('DOUBLE', 'BIGINT', 'UBIGINT') " \
          "THEN (properties->>'$.amount')::DOUBLE END"


@pytest.fixture(scope="module")
def emu():
    with Emulator(seed=5, today=TODAY, days=40, users=400, rate_limits=ServerLimits.unlimited()) as server:
        yield server


@pytest.fixture(scope="module")
def con(emu):
    connection = mpsql.connect(account=emu, rate_limits=RateLimits.unlimited(), retry=FAST_RETRY)
    context_of(connection).today = lambda: TODAY
    connection.execute(f"CREATE TABLE events AS SELECT * FROM mp_export('{emu.dataset.first_date}', "
                       f"'{TODAY - dt.timedelta(days=1)}')")
    connection.execute("""
        CREATE TABLE ev AS
        SELECT e.event, e.time, timezone('UTC', e.time)::DATE AS day, coalesce(i.user_id, e.distinct_id) AS usr,
               e.properties
        FROM events AS e LEFT JOIN mp_identities('events') AS i USING (distinct_id)""")
    connection.execute(f"CREATE TABLE days AS SELECT d::DATE AS day FROM range(DATE '{D1}', DATE '{D3}' + 1, "
                       "INTERVAL 1 DAY) AS t(d)")
    yield connection
    connection.close()


def rows(con, sql: str, *params) -> list[tuple]:
    return con.execute(sql, list(params)).fetchall()


def same(got: list[tuple], expected: list[tuple]) -> None:
    """Row for row, floats to 1e-9 relative."""
    assert len(got) == len(expected), (got, expected)
    for g, e in zip(got, expected, strict=True):
        assert len(g) == len(e)
        for u, v in zip(g, e, strict=True):
            if isinstance(u, float) and isinstance(v, float):
                assert math.isclose(u, v, rel_tol=1e-9, abs_tol=1e-9), (g, e)
            else:
                assert u == v, (g, e)


# -- mp_insights ---------------------------------------------------------------------------------------------

STATISTIC = {
    "total": "count(e.event)",
    "unique": "count(DISTINCT e.usr)",
    "sum": f"coalesce(sum({NUMERIC}), 0)",
    "average": f"avg({NUMERIC})",
    "median": f"quantile_cont({NUMERIC}, 0.5)",
    "min": f"min({NUMERIC})",
    "max": f"max({NUMERIC})",
    "p25": f"quantile_cont({NUMERIC}, 0.25)",
    "p75": f"quantile_cont({NUMERIC}, 0.75)",
    "p90": f"quantile_cont({NUMERIC}, 0.9)",
    "p99": f"quantile_cont({NUMERIC}, 0.99)",
}


@pytest.mark.parametrize("math_type", list(STATISTIC))
def test_each_math_type_per_day_equals_sql_over_the_export(con, math_type):
    prop = ", property := 'amount'" if math_type not in ("total", "unique") else ""
    expected = rows(con, f"""
        SELECT d.day::TIMESTAMP, 'Purchase', '$overall', ({STATISTIC[math_type]})::DOUBLE, NULL, NULL
        FROM days AS d LEFT JOIN ev AS e ON e.day = d.day AND e.event = 'Purchase'
        GROUP BY d.day ORDER BY d.day""")
    got = rows(con, f"SELECT * FROM mp_insights('Purchase', {R}, math := '{math_type}'{prop})")
    same(got, expected)
    assert all(r[3] for r in expected)


@pytest.mark.parametrize(("math_type", "days"), [("dau", 1), ("wau", 7), ("mau", 28)])
def test_active_users_count_the_users_of_the_days_ending_each_day(con, math_type, days):
    expected = rows(con, f"""
        SELECT d.day::TIMESTAMP, 'Login', '$overall', count(DISTINCT e.usr)::DOUBLE, NULL, NULL
        FROM days AS d LEFT JOIN ev AS e ON e.event = 'Login' AND e.day BETWEEN d.day - {days - 1} AND d.day
        GROUP BY d.day ORDER BY d.day""")
    got = rows(con, f"SELECT * FROM mp_insights('Login', {R}, math := '{math_type}')")
    same(got, expected)
    if days > 1:  # the window reaches back before from_date
        dau = rows(con, f"SELECT value FROM mp_insights('Login', {R}, math := 'dau')")
        assert all(w > d for (*_, w, _c, _v), (d,) in zip(got, dau, strict=True))


def test_a_breakdown_gives_each_value_and_the_overall_row(con):
    expected = rows(con, f"""
        WITH browsers AS (SELECT DISTINCT json_extract_string(properties, '$."$browser"') AS b FROM ev
                          WHERE event = 'Page View' AND day BETWEEN '{D1}' AND '{D3}'),
        grid AS (SELECT day, b FROM days, browsers UNION ALL SELECT day, '$overall' FROM days)
        SELECT g.day::TIMESTAMP, 'Page View', g.b, count(DISTINCT e.usr)::DOUBLE
        FROM grid AS g LEFT JOIN ev AS e ON e.event = 'Page View' AND e.day = g.day
             AND (g.b = '$overall' OR json_extract_string(e.properties, '$."$browser"') = g.b)
        GROUP BY ALL ORDER BY 1, 3""")
    got = rows(con, f"SELECT date, metric, segment, value FROM mp_insights('Page View', {R}, math := 'unique', "
                    "by := ['$browser']) ORDER BY date, segment")
    same(got, expected)
    assert len({r[2] for r in got}) >= 4


def test_top_keeps_the_segments_with_the_largest_totals(con):
    expected = rows(con, f"""
        SELECT json_extract_string(properties, '$."$browser"') AS b FROM ev
        WHERE event = 'Page View' AND day BETWEEN '{D1}' AND '{D3}' GROUP BY b ORDER BY count(*) DESC, b LIMIT 2""")
    got = rows(con, f"SELECT DISTINCT segment FROM mp_insights('Page View', {R}, by := 'properties[\"$browser\"]', "
                    "top := 2) WHERE segment <> '$overall' ORDER BY segment")
    assert got == sorted(expected)


def test_a_filter_keeps_the_events_that_match_it(con):
    expected = rows(con, f"""
        SELECT d.day::TIMESTAMP, count(e.event)::DOUBLE
        FROM days AS d LEFT JOIN ev AS e ON e.day = d.day AND e.event = 'Purchase' AND {NUMERIC} > 100
             AND json_extract_string(e.properties, '$.mp_country_code') = 'US'
        GROUP BY d.day ORDER BY d.day""")
    got = rows(con, f"SELECT date, value FROM mp_insights('Purchase', {R}, filter := "
                    "'properties[\"amount\"] > 100 and properties[\"mp_country_code\"] == \"US\"')")
    same(got, expected)
    everything = rows(con, f"SELECT date, value FROM mp_insights('Purchase', {R})")
    assert sum(v for _, v in got) < sum(v for _, v in everything)


def test_a_formula_combines_the_events_metrics_by_letter(con):
    expected = rows(con, """
        SELECT d.day::TIMESTAMP, 'B / A', '$overall',
               (count(DISTINCT e.usr) FILTER (e.event = 'Purchase')
                / nullif(count(DISTINCT e.usr) FILTER (e.event = 'View Item'), 0))::DOUBLE
        FROM days AS d LEFT JOIN ev AS e ON e.day = d.day GROUP BY d.day ORDER BY d.day""")
    got = rows(con, f"SELECT date, metric, segment, value FROM mp_insights(['View Item', 'Purchase'], {R}, "
                    "math := 'unique', formula := 'B / A')")
    same(got, expected)  # only the formula's rows: its metrics are hidden


def test_previous_period_pairs_each_day_with_the_same_day_of_the_period_before(con):
    expected = rows(con, """
        SELECT d.day::TIMESTAMP, count(e.event)::DOUBLE, (d.day - 3)::TIMESTAMP,
               (SELECT count(*) FROM ev AS p WHERE p.event = 'Purchase' AND p.day = d.day - 3)::DOUBLE
        FROM days AS d LEFT JOIN ev AS e ON e.day = d.day AND e.event = 'Purchase'
        GROUP BY d.day ORDER BY d.day""")
    got = rows(con, f"SELECT date, value, compare_date, compare_value FROM mp_insights('Purchase', {R}, "
                    "compare := 'previous_period')")
    same(got, expected)


# -- mp_funnel(NULL, ..., steps :=) ----------------------------------------------------------------------------

def test_a_three_step_funnel_with_a_window_and_an_exclusion(con):
    window = 86_400
    expected = rows(con, f"""
        WITH entry AS (SELECT usr, min(time) AS t0 FROM ev WHERE event = 'View Item'
                       AND day BETWEEN '{D1}' AND '{D3}' GROUP BY usr),
        s2 AS (SELECT n.usr, n.t0, min(e.time) AS t1 FROM entry AS n LEFT JOIN ev AS e ON e.usr = n.usr
               AND e.event = 'Add to Cart' AND e.time > n.t0 AND e.time <= n.t0 + INTERVAL {window} SECOND
               GROUP BY ALL),
        s3 AS (SELECT s.usr, s.t0, s.t1, min(e.time) AS t2 FROM s2 AS s LEFT JOIN ev AS e ON e.usr = s.usr
               AND e.event = 'Purchase' AND e.time > s.t1 AND e.time <= s.t0 + INTERVAL {window} SECOND
               GROUP BY ALL),
        ex AS (SELECT s.*, min(e.time) AS x FROM s3 AS s LEFT JOIN ev AS e ON e.usr = s.usr AND e.event = 'Search'
               AND e.time > s.t0 AND e.time < coalesce(s.t2, s.t0 + INTERVAL {window + 1} SECOND) GROUP BY ALL),
        kept AS (SELECT t0, CASE WHEN x IS NULL OR t1 < x THEN t1 END AS t1,
                        CASE WHEN x IS NULL OR t2 < x THEN t2 END AS t2 FROM ex),
        n AS (SELECT count(*) AS n1, count(t1) AS n2, count(t2) FILTER (t1 IS NOT NULL) AS n3,
                     round(avg(epoch(t1) - epoch(t0))) AS a2,
                     round(avg(epoch(t2) - epoch(t1)) FILTER (t1 IS NOT NULL)) AS a3 FROM kept)
        SELECT * FROM (
            SELECT 1 AS step, 'View Item', n1, 1.0, 1.0, NULL::DOUBLE FROM n UNION ALL
            SELECT 2, 'Add to Cart', n2, n2 / n1, n2 / n1, a2 FROM n UNION ALL
            SELECT 3, 'Purchase', n3, n3 / n2, n3 / n1, a3 FROM n) ORDER BY step""")
    got = rows(con, f"""SELECT step, event, count, step_conversion, overall_conversion, avg_time_seconds
                        FROM mp_funnel(NULL, {R}, steps := ['View Item', 'Add to Cart', 'Purchase'],
                                       length := 1, length_unit := 'day', exclude := ['Search'])""")
    same(got, [(s, e, c, float(a), float(b), None if t is None else float(t)) for s, e, c, a, b, t in expected])
    assert got[2][2] > 0
    without = rows(con, f"SELECT count FROM mp_funnel(NULL, {R}, steps := ['View Item', 'Add to Cart', "
                        "'Purchase'], length := 1, length_unit := 'day') ORDER BY step")
    assert without[0][0] == got[0][2] and without[2][0] > got[2][2]  # the exclusion dropped someone


def test_an_adhoc_funnel_is_dated_from_date_and_segments_by_the_entry_event(con):
    got = rows(con, f"SELECT DISTINCT date FROM mp_funnel(NULL, {R}, steps := ['Sign Up', 'Purchase'])")
    assert got == [(D1,)]
    by = rows(con, f"SELECT segment, count FROM mp_funnel(NULL, {R}, steps := ['Sign Up', 'Purchase'], "
                   "by := 'properties[\"plan\"]') WHERE step = 1 ORDER BY segment")
    expected = rows(con, f"""
        WITH entry AS (SELECT usr, arg_min(json_extract_string(properties, '$.plan'), time) AS plan FROM ev
                       WHERE event = 'Sign Up' AND day BETWEEN '{D1}' AND '{D3}' GROUP BY usr)
        SELECT plan, count(*) FROM entry GROUP BY ALL UNION ALL SELECT '$overall', count(*) FROM entry ORDER BY 1""")
    assert by == expected


# -- mp_retention(..., buckets :=) -----------------------------------------------------------------------------

def test_retention_with_custom_buckets(con):
    expected = rows(con, f"""
        WITH birth AS (SELECT usr, min(time) AS t0 FROM ev WHERE event = 'Sign Up' GROUP BY usr),
        cohort AS (SELECT usr, t0, timezone('UTC', t0)::DATE AS c FROM birth
                   WHERE timezone('UTC', t0)::DATE BETWEEN '{D1}' AND '{D3}'),
        buckets AS (SELECT * FROM (VALUES (0, 0, 1), (1, 1, 3), (2, 3, 7)) AS b(period, lo, hi)),
        hits AS (SELECT c.c, b.period, count(DISTINCT c.usr) FILTER (e.usr IS NOT NULL) AS n
                 FROM cohort AS c CROSS JOIN buckets AS b LEFT JOIN ev AS e ON e.usr = c.usr AND e.event = 'Login'
                      AND e.time >= c.t0 AND (epoch(e.time) - epoch(c.t0)) / 86400 >= b.lo
                      AND (epoch(e.time) - epoch(c.t0)) / 86400 < b.hi
                 GROUP BY ALL)
        SELECT h.c, '$overall', s.size, h.period, h.n, h.n / s.size
        FROM hits AS h JOIN (SELECT c, count(*) AS size FROM cohort GROUP BY c) AS s USING (c)
        ORDER BY h.c, h.period""")
    got = rows(con, f"SELECT * FROM mp_retention('Sign Up', {R}, event := 'Login', buckets := [1, 3, 7])")
    same(got, expected)
    assert len(got) == 9 and any(r[4] for r in got)


# -- mp_flows(NULL, event :=) ----------------------------------------------------------------------------------

def test_flows_two_steps_forward(con):
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE paths AS
        WITH anchor AS (SELECT usr, min(time) AS t0 FROM ev WHERE event = 'Add to Cart'
                        AND day BETWEEN '{D1}' AND '{D3}' GROUP BY usr),
        nxt AS (SELECT a.usr, e.event, row_number() OVER (PARTITION BY a.usr ORDER BY e.time) AS k
                FROM anchor AS a JOIN ev AS e ON e.usr = a.usr AND e.time > a.t0
                     AND e.time <= a.t0 + INTERVAL 7 DAY)
        SELECT a.usr, (SELECT event FROM nxt WHERE nxt.usr = a.usr AND k = 1) AS p1,
               (SELECT event FROM nxt WHERE nxt.usr = a.usr AND k = 2) AS p2
        FROM anchor AS a""")
    expected_nodes = rows(con, """
        SELECT * FROM (
            SELECT 0 AS step, 'Add to Cart' AS event, 'ANCHOR' AS type, count(*) AS n FROM paths UNION ALL
            SELECT 1, coalesce(p1, '$dropoff'), CASE WHEN p1 IS NULL THEN 'DROPOFF' ELSE 'NORMAL' END, count(*)
            FROM paths GROUP BY ALL UNION ALL
            SELECT 2, coalesce(p2, '$dropoff'), CASE WHEN p2 IS NULL THEN 'DROPOFF' ELSE 'NORMAL' END, count(*)
            FROM paths WHERE p1 IS NOT NULL GROUP BY ALL)
        ORDER BY ALL""")
    expected_edges = rows(con, """
        SELECT * FROM (
            SELECT 0 AS step, 'Add to Cart' AS event, coalesce(p1, '$dropoff') AS next, count(*) FROM paths
            GROUP BY ALL UNION ALL
            SELECT 1, p1, coalesce(p2, '$dropoff'), count(*) FROM paths WHERE p1 IS NOT NULL GROUP BY ALL)
        ORDER BY ALL""")
    call = f"mp_flows(NULL, event := 'Add to Cart', from_date := '{D1}', to_date := '{D3}', forward := 2)"
    nodes = rows(con, f"SELECT step, event, type, count FROM {call} WHERE kind = 'node' ORDER BY ALL")
    edges = rows(con, f"SELECT step, event, next_event, count FROM {call} WHERE kind = 'edge' ORDER BY ALL")
    assert nodes == expected_nodes and edges == expected_edges
    assert len(nodes) > 5


def test_flows_reverse_counts_the_events_before_the_anchor(con):
    expected = rows(con, f"""
        WITH anchor AS (SELECT usr, min(time) AS t0 FROM ev WHERE event = 'Purchase'
                        AND day BETWEEN '{D1}' AND '{D3}' GROUP BY usr),
        prev AS (SELECT a.usr, arg_max(e.event, e.time) AS p FROM anchor AS a JOIN ev AS e ON e.usr = a.usr
                 AND e.time < a.t0 AND e.time >= a.t0 - INTERVAL 7 DAY GROUP BY a.usr)
        SELECT p, count(*) FROM prev GROUP BY ALL ORDER BY ALL""")
    got = rows(con, f"SELECT event, count FROM mp_flows(NULL, event := 'Purchase', from_date := '{D1}', "
                    f"to_date := '{D3}', reverse := 1, forward := 0) WHERE kind = 'node' AND step = 0 ORDER BY ALL")
    assert got == expected and got


# -- the local twin (sql/twins_insights.sql) -------------------------------------------------------------------

@pytest.mark.parametrize(("math_type", "unit"), [("total", "day"), ("unique", "day"), ("total", "week"),
                                                  ("unique", "month"), ("dau", "day"), ("wau", "day"),
                                                  ("mau", "day")])
def test_the_local_twin_equals_the_live_report(con, math_type, unit):
    events = "['Login', 'Purchase']"
    live = rows(con, f"SELECT date, metric, segment, value FROM mp_insights({events}, {R}, math := '{math_type}', "
                     f"unit := '{unit}') ORDER BY date, metric")
    local = rows(con, f"SELECT * FROM mp_local_insights('events', {events}, {R}, math := '{math_type}', "
                      f"unit := '{unit}') ORDER BY date, metric")
    same(local, live)
    assert live and all(v > 0 for *_, v in live)


def test_a_formula_is_a_pivot_of_the_local_twin(con):
    live = rows(con, f"SELECT date, value FROM mp_insights(['Login', 'Purchase'], {R}, math := 'dau', "
                     "formula := 'B / A') ORDER BY date")
    local = rows(con, f"""
        SELECT date, "Purchase" / "Login" FROM (
            PIVOT mp_local_insights('events', ['Login', 'Purchase'], {R}, math := 'dau')
            ON metric USING first(value) GROUP BY date) ORDER BY date""")
    same(local, live)


def test_the_local_twin_refuses_what_it_does_not_compute(con):
    for args, says in (("math := 'median'", "math must be"), ("math := 'wau', unit := 'week'", "daily values")):
        with pytest.raises(Exception, match=says):
            con.execute(f"SELECT * FROM mp_local_insights('events', ['Login'], {R}, {args})").fetchall()


# -- more options ----------------------------------------------------------------------------------------------

def test_two_breakdowns_nest_with_a_rollup_at_each_level(con):
    expected = rows(con, f"""
        WITH p AS (SELECT day, usr, json_extract_string(properties, '$."$browser"') AS b,
                          json_extract_string(properties, '$.mp_country_code') AS c
                   FROM ev WHERE event = 'Purchase' AND day BETWEEN '{D1}' AND '{D3}')
        SELECT day::TIMESTAMP, '$overall', count(DISTINCT usr)::DOUBLE FROM p GROUP BY ALL UNION ALL
        SELECT day::TIMESTAMP, b, count(DISTINCT usr)::DOUBLE FROM p GROUP BY ALL UNION ALL
        SELECT day::TIMESTAMP, b || ' / ' || c, count(DISTINCT usr)::DOUBLE FROM p GROUP BY ALL ORDER BY 1, 2""")
    got = rows(con, f"""SELECT date, segment, value
                        FROM mp_insights('Purchase', {R}, math := 'unique', by := ['$browser', 'mp_country_code'])
                        WHERE value > 0 ORDER BY 1, 2""")  # the grid is zero-filled; SQL's GROUP BY is not
    assert got == expected and any(" / " in s for _, s, _ in got)


def test_any_order_reaches_a_step_once_every_earlier_step_happened_in_the_window(con):
    expected = rows(con, f"""
        WITH entry AS (SELECT usr, min(time) AS t0 FROM ev WHERE event = 'View Item'
                       AND day BETWEEN '{D1}' AND '{D3}' GROUP BY usr),
        firsts AS (SELECT n.usr, min(e.time) FILTER (e.event = 'Purchase') AS tp,
                          min(e.time) FILTER (e.event = 'Add to Cart') AS ta
                   FROM entry AS n LEFT JOIN ev AS e ON e.usr = n.usr AND e.time > n.t0
                        AND e.time <= n.t0 + INTERVAL 1 DAY GROUP BY n.usr)
        SELECT count(*), count(tp), count(tp) FILTER (ta IS NOT NULL) FROM firsts""")
    got = rows(con, f"SELECT list(count ORDER BY step) FROM mp_funnel(NULL, {R}, steps := ['View Item', 'Purchase', "
                    "'Add to Cart'], length := 1, length_unit := 'day', step_order := 'any')")
    assert got[0][0] == list(expected[0])
    loose = rows(con, f"SELECT list(count ORDER BY step) FROM mp_funnel(NULL, {R}, steps := ['View Item', "
                      "'Purchase', 'Add to Cart'], length := 1, length_unit := 'day')")
    assert loose[0][0][2] < got[0][0][2]  # in order, Add to Cart rarely follows the Purchase


def test_retention_filters_and_a_breakdown_by_the_born_events_property(con):
    expected = rows(con, f"""
        WITH birth AS (SELECT usr, arg_min(time, time) AS t0,
                              arg_min(json_extract_string(properties, '$.plan'), time) AS plan
                       FROM ev WHERE event = 'Sign Up' GROUP BY usr),
        cohort AS (SELECT * FROM birth WHERE timezone('UTC', t0)::DATE BETWEEN '{D1}' AND '{D3}'),
        back AS (SELECT c.usr, c.plan, max(CASE WHEN e.usr IS NOT NULL THEN 1 ELSE 0 END) AS came
                 FROM cohort AS c LEFT JOIN ev AS e ON e.usr = c.usr AND e.event = 'Login'
                      AND json_extract_string(e.properties, '$.method') = 'google'
                      AND e.time >= c.t0 AND epoch(e.time) - epoch(c.t0) < 7 * 86400 GROUP BY ALL)
        SELECT plan, count(*), sum(came) FROM back GROUP BY plan UNION ALL
        SELECT '$overall', count(*), sum(came) FROM back ORDER BY 1""")
    got = rows(con, f"""SELECT segment, sum(cohort_size), sum(count) FROM mp_retention('Sign Up', {R}, event := 'Login',
                            buckets := [7], filter := 'properties["method"] == "google"', by := 'properties["plan"]')
                        GROUP BY segment ORDER BY 1""")
    assert [(s, int(n), int(c)) for s, n, c in got] == [(s, int(n), int(c)) for s, n, c in expected]


def test_a_definition_passed_whole_answers_like_the_typed_arguments(con):
    from mpsql.functions.adhoc import InsightsArgs, insights_definition

    args = InsightsArgs(events=["Purchase"], from_date=D1, to_date=D3, math="sum", property="amount",
                        by=["$browser"])
    text = json.dumps(insights_definition(args)).replace("'", "''")
    typed = rows(con, f"SELECT * FROM mp_insights('Purchase', {R}, math := 'sum', property := 'amount', "
                      "by := ['$browser']) ORDER BY ALL")
    assert rows(con, f"SELECT * FROM mp_insights(NULL, NULL, NULL, definition := '{text}') ORDER BY ALL") == typed
    # dates given with a definition replace its range
    shorter = rows(con, f"SELECT DISTINCT date FROM mp_insights(NULL, '{D1}', '{D1}', definition := '{text}')")
    assert shorter == [(dt.datetime.combine(D1, dt.time()),)]


# -- what each ad-hoc call costs ----------------------------------------------------------------------------------

# A range no other test here asks about, so the first call is not already in the (module's) response cache.
FRESH = "'2024-03-20', '2024-03-21'"


@pytest.mark.parametrize(("call", "path"), [
    (f"mp_insights('Login', {FRESH}, math := 'dau')", "/api/query/insights"),
    (f"mp_funnel(NULL, {FRESH}, steps := ['View Item', 'Purchase'])", "/api/query/insights"),
    (f"mp_retention('Sign Up', {FRESH}, event := 'Login', buckets := [1, 3])", "/api/query/insights"),
    ("mp_flows(NULL, event := 'Add to Cart', from_date := '2024-03-20', to_date := '2024-03-21', forward := 2)",
     "/api/query/arb_funnels"),
])
def test_an_ad_hoc_report_costs_one_request_and_again_none(con, emu, call, path):
    emu.reset()
    con.execute(f"SELECT * FROM {call}").fetchall()
    con.execute(f"SELECT * FROM {call}").fetchall()  # the same definition within five minutes: the cache
    assert [(r.method, r.path.rstrip("/")) for r in emu.requests] == [("POST", path)]
