"""Frequency, activity stream, Insights bookmarks, saved Flows and the JQL subset (docs/mixpanel-api.md: "Retention and
frequency", "Activity stream", "Insights and Flows", "JQL")."""

from __future__ import annotations

import calendar
import datetime as dt
import json
import math
from collections import Counter, defaultdict

import httpx
import pytest
from report_helpers import assert_error, day, days, deduped, get

from mpsql.emulator import Emulator
from mpsql.emulator.eventstore import dedupe, store_for

F, T = dt.date(2024, 3, 22), dt.date(2024, 3, 31)
ADDICTION = "/api/query/retention/addiction"
STREAM = "/api/query/stream/query"
INSIGHTS = "/api/query/insights"
FLOWS = "/api/query/arb_funnels"
JQL = "/api/query/jql"


# ---------------------------------------------------------------- frequency (retention/addiction)


def test_frequency_counts_users_by_distinct_active_hours(emu: Emulator, client: httpx.Client) -> None:
    r = get(client, emu, ADDICTION, from_date=F.isoformat(), to_date=T.isoformat(), unit="day",
            addiction_unit="hour", event="Page View")
    assert r.status_code == 200
    hours: dict[str, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
    for rec in deduped(emu, F, T):
        if rec["event"] == "Page View":
            t = rec["properties"]["time"]
            hours[day(t)][rec["properties"]["distinct_id"]].add(t % 86_400 // 3600)
    expected = {d: [sum(1 for s in hours[d].values() if len(s) > i) for i in range(24)] for d in days(F, T)}
    assert r.json() == {"data": expected}
    assert all(v[0] > v[1] > 0 for v in expected.values())  # non-increasing, and some users come back


def test_frequency_period_lengths_and_range_clipping(emu: Emulator, client: httpx.Client) -> None:
    weekly = get(client, emu, ADDICTION, from_date=F.isoformat(), to_date=T.isoformat(), unit="week",
                 addiction_unit="day").json()["data"]
    assert list(weekly) == ["2024-03-18", "2024-03-25"] and [len(v) for v in weekly.values()] == [7, 7]
    active: dict[str, set[str]] = defaultdict(set)
    for rec in deduped(emu, F, T):
        if rec["properties"]["time"] >= calendar.timegm((2024, 3, 25, 0, 0, 0)):
            active[rec["properties"]["distinct_id"]].add(day(rec["properties"]["time"]))
    assert weekly["2024-03-25"] == [sum(1 for s in active.values() if len(s) > i) for i in range(7)]
    monthly = get(client, emu, ADDICTION, from_date=F.isoformat(), to_date=T.isoformat(), unit="month",
                  addiction_unit="day").json()["data"]
    assert list(monthly) == ["2024-03-01"] and len(monthly["2024-03-01"]) == 31
    assert monthly["2024-03-01"][10:] == [0] * 21  # only 10 days of the month are in range


def test_frequency_segmented_and_filtered(emu: Emulator, client: httpx.Client) -> None:
    body = get(client, emu, ADDICTION, from_date=T.isoformat(), to_date=T.isoformat(), unit="day",
               addiction_unit="hour", on='properties["$os"]', where='properties["$os"] != "Linux"').json()
    date = body["data"]["2024-03-31"]
    assert date["$overall"][0] == sum(v[0] for k, v in date.items() if k != "$overall")  # one $os per user
    assert "Linux" not in date and len(date) == 5


@pytest.mark.parametrize(("params", "text"), [
    ({"from_date": "2024-03-22", "to_date": "2024-03-31", "addiction_unit": "hour"}, "'unit' is a required"),
    ({"from_date": "2024-03-22", "to_date": "2024-03-31", "unit": "day"}, "'addiction_unit' is a required"),
    ({"from_date": "2024-03-22", "to_date": "2024-03-31", "unit": "hour", "addiction_unit": "hour"},
     "Error in unit"),
    ({"from_date": "2024-03-22", "to_date": "2024-03-31", "unit": "day", "addiction_unit": "week"},
     "Error in addiction_unit"),
    ({"from_date": "2024-03-22", "unit": "day", "addiction_unit": "hour"}, "'to_date' is a required"),
])
def test_bad_frequency_requests(emu: Emulator, client: httpx.Client, params: dict, text: str) -> None:
    assert_error(get(client, emu, ADDICTION, **params), 400, text, ADDICTION)


# ---------------------------------------------------------------- activity stream


def test_stream_returns_the_users_deduplicated_events_oldest_first(emu: Emulator, client: httpx.Client) -> None:
    rows = deduped(emu, F, T, merge=False)
    order = [x["properties"]["time"] for x in deduped(emu, F, T, merge=False, ms=True)]  # oldest first, to the ms
    ids = sorted({r["properties"]["distinct_id"] for r in rows if r["event"] == "Purchase"})[:2]
    r = get(client, emu, STREAM, distinct_ids=json.dumps([*ids, "nobody"]), from_date=F.isoformat(),
            to_date=T.isoformat())
    assert r.status_code == 200
    body = r.json()
    expected = [x for _, x in sorted(((t, i), x) for i, (t, x) in enumerate(zip(order, rows, strict=True))
                                     if x["properties"]["distinct_id"] in ids)]
    assert body == {"status": "ok", "results": {"events": expected}}
    assert len(expected) > 5


@pytest.mark.parametrize(("params", "text"), [
    ({"from_date": "2024-03-22", "to_date": "2024-03-31"}, "'distinct_ids' is a required parameter"),
    ({"distinct_ids": "u_00001", "from_date": "2024-03-22", "to_date": "2024-03-31"}, "Error in distinct_ids"),
    ({"distinct_ids": "[]", "from_date": "2024-03-22", "to_date": "2024-03-31"}, "Error in distinct_ids"),
    ({"distinct_ids": '["u_00001"]', "from_date": "2024-03-22", "to_date": "2024-04-09"}, "to_date cannot be"),
])
def test_bad_stream_requests(emu: Emulator, client: httpx.Client, params: dict, text: str) -> None:
    assert_error(get(client, emu, STREAM, **params), 400, text, STREAM)


# ---------------------------------------------------------------- insights bookmarks


def test_daily_purchases_bookmark(emu: Emulator, client: httpx.Client) -> None:
    r = get(client, emu, INSIGHTS, bookmark_id=9101)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"computed_at", "date_range", "headers", "series"}
    assert dt.datetime.fromisoformat(body["computed_at"]).utcoffset() == dt.timedelta(0)
    assert body["date_range"] == {"from_date": "2024-03-02T00:00:00+00:00",
                                  "to_date": "2024-03-31T23:59:59.999000+00:00"}
    assert body["headers"] == ["$event"]
    counts = Counter(day(x["properties"]["time"]) for x in deduped(emu, F, T) if x["event"] == "Purchase")
    assert body["series"] == {"Purchase": {f"{d}T00:00:00+00:00": counts[d]
                                           for d in days(dt.date(2024, 3, 2), T)}}


def test_uniques_by_browser_bookmark_nests_segments_with_overall(emu: Emulator, client: httpx.Client) -> None:
    body = get(client, emu, INSIGHTS, bookmark_id=9102).json()
    assert body["headers"] == ["$event", "$browser"]
    users: dict[tuple[str, str], set[str]] = defaultdict(set)
    for x in deduped(emu, dt.date(2024, 3, 18), T):
        if x["event"] == "Page View":
            p = x["properties"]
            users[(p["$browser"], day(p["time"]))].add(p["distinct_id"])
            users[("$overall", day(p["time"]))].add(p["distinct_id"])
    series = body["series"]["Page View"]
    assert set(series) == {b for b, _ in users}
    for seg, per_day in series.items():
        assert per_day == {f"{d}T00:00:00+00:00": len(users[(seg, d)]) for d in days(dt.date(2024, 3, 18), T)}


def test_weekly_bookmark_with_two_events(emu: Emulator, client: httpx.Client) -> None:
    body = get(client, emu, INSIGHTS, bookmark_id=9103).json()
    assert list(body["series"]) == ["Sign Up", "Purchase"]
    weeks = ["2024-02-26", "2024-03-04", "2024-03-11", "2024-03-18", "2024-03-25"]  # 03-02..03-31: partial weeks
    rows = deduped(emu, F, T)
    for event in ("Sign Up", "Purchase"):
        late = sum(1 for x in rows if x["event"] == event and day(x["properties"]["time"]) >= "2024-03-25")
        total = sum(1 for x in rows if x["event"] == event)
        assert body["series"][event] == {f"{w}T00:00:00+00:00": n
                                         for w, n in zip(weeks, [0, 0, 0, total - late, late], strict=True)}


def test_insights_errors(emu: Emulator, client: httpx.Client) -> None:
    assert_error(get(client, emu, INSIGHTS), 400, "'bookmark_id' is a required parameter", INSIGHTS)
    assert_error(get(client, emu, INSIGHTS, bookmark_id="x"), 400, "Error in bookmark_id", INSIGHTS)
    assert_error(get(client, emu, INSIGHTS, bookmark_id=4242), 404, "Bookmark 4242 not found", INSIGHTS)
    # a Flows bookmark: Insights fails softly, HTTP 200 with an error key
    r = get(client, emu, INSIGHTS, bookmark_id=9201)
    assert r.status_code == 200 and set(r.json()) == {"error"} and "arb_funnels" in r.json()["error"]


# ---------------------------------------------------------------- saved flows


def test_saved_flow_follows_users_after_their_first_add_to_cart(emu: Emulator, client: httpx.Client) -> None:
    r = get(client, emu, FLOWS, bookmark_id=9201, query_type="flows_sankey")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"computed_at", "steps", "breakdowns", "overallConversionRate", "metadata"}
    per_user: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for x in deduped(emu, F, T):
        per_user[x["properties"]["distinct_id"]].append((x["properties"]["time"], x["event"]))
    paths = []
    for evs in per_user.values():
        evs.sort(key=lambda e: e[0])
        i = next((k for k, e in enumerate(evs) if e[1] == "Add to Cart"), None)
        if i is not None:
            paths.append(tuple(e for _, e in [evs[i], *[x for x in evs[i + 1:] if x[0] - evs[i][0] <= 7 * 86_400]
                                              ][:4]))
    anchor = body["steps"][0]
    assert [(n["event"], n["type"], n["totalCount"]) for n in anchor["nodes"]] == [("Add to Cart", "ANCHOR",
                                                                                   str(len(paths)))]
    for pos in range(1, 4):
        nodes = body["steps"][pos]["nodes"]
        got = {n["event"]: int(n["totalCount"]) for n in nodes if n["type"] == "NORMAL"}
        assert got == dict(Counter(p[pos] for p in paths if len(p) > pos))
        (drop,) = [n for n in nodes if n["type"] == "DROPOFF"]  # users with no further event in the window
        assert (drop["event"], int(drop["totalCount"]), drop["edges"]) == ("$dropoff", sum(
            1 for p in paths if len(p) == pos), [])
        # edges of the previous column lead into this one
        for node in body["steps"][pos - 1]["nodes"]:
            if node["type"] == "DROPOFF":
                continue
            went = Counter(p[pos] if len(p) > pos else "$dropoff" for p in paths if len(p) > pos - 1
                           and p[pos - 1] == node["event"])
            assert {e["event"]: int(e["totalCount"]) for e in node["edges"]} == dict(went)
            assert all(e["step"] == pos for e in node["edges"])
    top = Counter(paths).most_common(1)[0]
    assert body["breakdowns"][0] == {"path": list(top[0]), "count": top[1]}
    assert body["overallConversionRate"] == pytest.approx(sum(1 for p in paths if len(p) == 4) / len(paths))
    assert body["metadata"]["bookmark_id"] == 9201 and body["metadata"]["anchor"] == "Add to Cart"


def test_flows_errors(emu: Emulator, client: httpx.Client) -> None:
    assert_error(get(client, emu, FLOWS, bookmark_id=9101, query_type="flows_sankey"), 400, "not a Flows report",
                 FLOWS)
    assert_error(get(client, emu, FLOWS, bookmark_id=9201, query_type="flows_top_paths"), 400,
                 "Error in query_type", FLOWS)
    assert_error(get(client, emu, FLOWS, bookmark_id=1, query_type="flows_sankey"), 404, "not found", FLOWS)


# ---------------------------------------------------------------- JQL subset


def jql(client: httpx.Client, emu: Emulator, script: str, params: dict | None = None) -> httpx.Response:
    data = {"script": script}
    if params is not None:
        data["params"] = json.dumps(params)
    return client.post(JQL, params={"project_id": emu.credentials.project_id}, data=data)


def test_jql_group_by_event_name(emu: Emulator, client: httpx.Client) -> None:
    script = """
    // the documented example, with params
    function main() {
      return Events(params)
        .groupBy(["name"], mixpanel.reducer.count());
    }
    """
    r = jql(client, emu, script, {"from_date": "2024-03-28", "to_date": "2024-03-31T00:00:00.000Z"})
    assert r.status_code == 200
    counts = Counter(x["event"] for x in deduped(emu, dt.date(2024, 3, 28), T))
    assert r.json() == [{"key": [k], "value": counts[k]} for k in sorted(counts)]


def test_jql_filter_functions_selectors_and_reducers(emu: Emulator, client: httpx.Client) -> None:
    rows = [x["properties"] for x in deduped(emu, F, T) if x["event"] == "Purchase"]
    script = """function main() {
      var big = 100;
      return Events({from_date: params.from, to_date: params.to, event_selectors: [{event: "Purchase"}]})
        .filter(function (e) { return e.properties.amount > big && e.properties["currency"] !== "JPY"; })
        .groupBy(["properties.currency"], [mixpanel.reducer.count(), mixpanel.reducer.sum("properties.amount"),
                                           mixpanel.reducer.max(e => e.properties.amount)]);
    }"""
    r = jql(client, emu, script, {"from": "2024-03-22", "to": "2024-03-31"})
    assert r.status_code == 200, r.text
    picked = [p for p in rows if p["amount"] > 100 and p["currency"] != "JPY"]
    by = defaultdict(list)
    for p in picked:
        by[p["currency"]].append(p["amount"])
    got = {row["key"][0]: row["value"] for row in r.json()}
    assert set(got) == set(by) and len(got) == 3
    for cur, amounts in by.items():
        assert got[cur][0] == len(amounts)
        assert got[cur][1] == pytest.approx(math.fsum(amounts))
        assert got[cur][2] == max(amounts)
    selector = """function main() {
      return Events({from_date: "2024-03-22", to_date: "2024-03-31",
                     event_selectors: [{event: "Purchase", selector: 'properties["amount"] > 100'}]})
        .reduce(mixpanel.reducer.count());
    }"""
    assert jql(client, emu, selector).json() == [sum(1 for p in rows if p["amount"] > 100)]


def test_jql_group_by_user_map_sort_and_time_in_ms(emu: Emulator, client: httpx.Client) -> None:
    script = """function main() {
      return Events({from_date: "2024-03-31", to_date: "2024-03-31"})
        .groupByUser(mixpanel.reducer.count())
        .map(r => ({user: r.key[0], n: r.value, many: r.value >= 10 ? "yes" : "no"}))
        .sortDesc("n");
    }"""
    r = jql(client, emu, script)
    assert r.status_code == 200, r.text
    per_user = Counter(x["properties"]["distinct_id"] for x in deduped(emu, T, T, merge=False))  # JQL: ids as sent
    got = r.json()
    assert {row["user"]: row["n"] for row in got} == dict(per_user)
    assert [row["n"] for row in got] == sorted(per_user.values(), reverse=True)
    assert all(row["many"] == ("yes" if row["n"] >= 10 else "no") for row in got)
    first = jql(client, emu, 'function main() { return Events({from_date: "2024-03-31", to_date: "2024-03-31"})'
                             '.reduce(mixpanel.reducer.min("time")); }').json()[0]
    earliest = min(x["properties"]["time"] for x in deduped(emu, T, T))
    assert first // 1000 == earliest and first > 10**12  # milliseconds


def test_jql_people(emu: Emulator, client: httpx.Client) -> None:
    from mpsql.emulator.profiles import profiles_for

    r = jql(client, emu, 'function main() { return People().groupBy(["properties.plan"], mixpanel.reducer.count()); }')
    assert r.status_code == 200, r.text
    plans = Counter(p.get("plan") for p in profiles_for(emu.dataset).values())
    assert {tuple(row["key"]): row["value"] for row in r.json()} == {(k,): v for k, v in plans.items()}


@pytest.mark.parametrize(("script", "kind", "text"), [
    ("function main() { return Events({from_date: '2024-03-31', to_date: '2024-03-31'}) }}", "SyntaxError",
     "Unexpected"),
    ("function main() { for (var i = 0; i < 3; i++) {} return 1; }", "Error", "not supported"),
    ("function main() { return Events({from_date: '2024-03-31', to_date: '2024-03-31'})"
     ".reduce(function (acc, events) { return 1; }); }", "Error", "custom reducer"),
    ("function main() { return Events({from_date: '2024-03-31', to_date: '2024-03-31'}).join(People()); }",
     "Error", "not supported"),
    ("function main() { return Evnts({}); }", "ReferenceError", "Evnts is not defined"),
    ("function main() { return Events({from_date: 'last week', to_date: '2024-03-31'}); }", "Error", "from_date"),
    ("var x = 1;", "SyntaxError", "Unexpected"),
    ("function main() { x = 1; return x; }", "Error", "not supported"),
])
def test_jql_scripts_outside_the_subset_fail_with_412(emu: Emulator, client: httpx.Client, script: str, kind: str,
                                                      text: str) -> None:
    r = jql(client, emu, script)
    assert_error(r, 412, text, JQL)
    assert r.json()["error"].startswith(f"UserVisiblePreconditionFailedError: Uncaught exception {kind}: ")


@pytest.mark.parametrize(("expr", "value"), [
    ('"1" == 1', True), ('"1" === 1', False), ("null == undefined", True), ("null === undefined", False),
    ('0 || "x"', "x"), ("1 && 2", 2), ('!""', True), ("[1, 2].length", 2), ('"héllo".length', 5),
    ("({a: {b: [10, 20]}}).a.b[1]", 20), ("3 % 2", 1), ("10 / 4", 2.5), ('-"3"', -3), ('"b" > "a"', True),
    ('2 < "10"', True), ('"2" < "10"', False), ("1 + 2 + '3'", "33"), ("true ? 'y' : 'n'", "y"),
    ("((a, b) => a * b)(6, 7)", 42), ("(function (x) { var y = x + 1; return y * 2; })(4)", 10),
    ("params.k[0]", 1), ("params.missing", None), ("-7 % 3", -1),
])
def test_jql_expressions_follow_javascript(emu: Emulator, expr: str, value: object) -> None:
    from mpsql.emulator import jql as jql_mod

    got = jql_mod.run(f"function main() {{ return {expr}; }}", {"k": [1]}, jql_mod.Source(emu.dataset, emu.today))
    assert got == [value] and type(got[0]) is type(value)


def test_jql_request_errors(emu: Emulator, client: httpx.Client) -> None:
    pid = emu.credentials.project_id
    assert_error(client.post(JQL, params={"project_id": pid}, data={"params": "{}"}), 400,
                 "'script' is a required parameter", JQL)
    bad_params = client.post(JQL, params={"project_id": pid}, data={"script": "function main() { return 1; }",
                                                                     "params": "{nope"})
    assert_error(bad_params, 400, "Error in params", JQL)
    assert_error(client.get(JQL, params={"project_id": pid, "script": "x"}), 400, "Invalid API endpoint", JQL)
    assert jql(client, emu, "function main() { return [1, 'a' + 1, 7 / 2, null]; }").json() == [1, "a1", 3.5, None]


def test_reports_read_each_day_once_from_the_cache(emu: Emulator, client: httpx.Client) -> None:
    store = store_for(emu.dataset)
    assert store is store_for(emu.dataset)
    get(client, emu, "/api/query/segmentation", event="Login", from_date=F.isoformat(), to_date=T.isoformat())
    built = {d: store.day(d) for d in emu.dataset.dates(F, T)}
    get(client, emu, "/api/query/segmentation", event="Search", from_date=F.isoformat(), to_date=T.isoformat())
    assert all(store.day(d) is blocks for d, blocks in built.items())


def test_the_event_store_serves_exactly_the_deduplicated_export(emu: Emulator) -> None:
    expected = deduped(emu, F, T, merge=False)
    got = list(store_for(emu.dataset).events(F, T))
    assert [{"event": e.name, "properties": dict(e.props)} for e in got] == expected
    assert all(e.distinct_id == e.props["distinct_id"] and e.time == e.props["time"] == e.ms // 1000 for e in got)
    assert [(e.name, dict(e.props)) for e in dedupe(emu.dataset.export_records(F, T, time_in_ms=True))] == \
        [(x["event"], x["properties"]) for x in deduped(emu, F, T, merge=False, ms=True)]
    only = list(store_for(emu.dataset).events(T, T, ["Purchase", "Sign Up"]))
    assert [dict(e.props) for e in only] == [x["properties"] for x in expected
                                             if x["event"] in ("Purchase", "Sign Up") and day(x["properties"]["time"])
                                             == T.isoformat()]
