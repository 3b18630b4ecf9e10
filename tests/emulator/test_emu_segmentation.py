"""Segmentation family and event breakdowns (docs/mixpanel-api.md, "Segmentation family",
"Events and properties breakdowns") against deduplicated /export data."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections import Counter, defaultdict

import httpx
import pytest
from report_helpers import assert_error, day, days, deduped, get

from mpsql.emulator import Emulator

SEG = "/api/query/segmentation"
F, T = dt.date(2024, 3, 22), dt.date(2024, 3, 31)  # the shared emulator's whole data range


def seg(client: httpx.Client, emu: Emulator, path: str = SEG, **params: object) -> dict:
    params.setdefault("from_date", F.isoformat())
    params.setdefault("to_date", T.isoformat())
    r = get(client, emu, path, **params)
    assert r.status_code == 200, r.text
    return r.json()


def test_general_counts_each_deduplicated_event_once(emu: Emulator, client: httpx.Client) -> None:
    body = seg(client, emu, event="View Item")
    rows = deduped(emu, F, T)
    expected = Counter(day(r["properties"]["time"]) for r in rows if r["event"] == "View Item")
    assert set(body) == {"data", "legend_size"}
    assert body["legend_size"] == 1
    assert body["data"]["series"] == days(F, T)
    assert body["data"]["values"] == {"View Item": {d: expected[d] for d in days(F, T)}}
    # the report leaves out exactly the export's extra copies: raw events minus copies of an earlier key (ms)
    seen: set[tuple] = set()
    copies = 0
    raw = [r for r in emu.dataset.export_records(F, T, time_in_ms=True) if r["event"] == "View Item"]
    for r in raw:
        p = r["properties"]
        if "$insert_id" in p:
            k = (p["distinct_id"], p["time"], p["$insert_id"])
            copies += k in seen
            seen.add(k)
    assert copies > 0 and sum(expected.values()) == len(raw) - copies


def test_api_2_0_alias_serves_the_same_report(emu: Emulator, client: httpx.Client) -> None:
    assert seg(client, emu, "/api/2.0/segmentation", event="Login") == seg(client, emu, event="Login")


def test_unique_and_average_types(emu: Emulator, client: httpx.Client) -> None:
    users: dict[str, set[str]] = defaultdict(set)
    events: Counter[str] = Counter()
    for r in deduped(emu, F, T):
        if r["event"] == "Page View":
            users[day(r["properties"]["time"])].add(r["properties"]["distinct_id"])
            events[day(r["properties"]["time"])] += 1
    unique = seg(client, emu, event="Page View", type="unique")["data"]["values"]["Page View"]
    average = seg(client, emu, event="Page View", type="average")["data"]["values"]["Page View"]
    assert unique == {d: len(users[d]) for d in days(F, T)}
    assert average == pytest.approx({d: events[d] / len(users[d]) for d in days(F, T)})
    assert all(v > 1 for v in average.values())


def test_on_segments_with_where_filter(emu: Emulator, client: httpx.Client) -> None:
    body = seg(client, emu, event="Page View", on='properties["$browser"]', where='properties["load_ms"] > 2000')
    expected: dict[str, Counter[str]] = defaultdict(Counter)
    for r in deduped(emu, F, T):
        p = r["properties"]
        if r["event"] == "Page View" and p["load_ms"] > 2000:
            expected[p["$browser"]][day(p["time"])] += 1
    values = body["data"]["values"]
    assert values == {b: {d: c[d] for d in days(F, T)} for b, c in expected.items()}
    assert body["legend_size"] == len(values) >= 3


def test_segment_keys_for_null_missing_numbers_and_lists(emu: Emulator, client: httpx.Client) -> None:
    rows = [r for r in deduped(emu, F, T) if r["event"] == "View Item"]
    # a property the event never has: one "undefined" segment holding every event
    body = seg(client, emu, event="View Item", on='properties["no_such_prop"]')
    assert {k: sum(v.values()) for k, v in body["data"]["values"].items()} == {"undefined": len(rows)}
    # null values and numbers: "null", "3", "4.5"
    body = seg(client, emu, event="View Item", on='properties["rating"]')
    totals = {k: sum(v.values()) for k, v in body["data"]["values"].items()}
    expected = Counter("null" if r["properties"]["rating"] is None else str(r["properties"]["rating"]) for r in rows)
    assert totals == dict(expected) and {"null", "3", "4.5"} <= set(totals)
    # a list counts once under each distinct element; an empty list under none
    body = seg(client, emu, event="View Item", on='properties["tags"]')
    totals = {k: sum(v.values()) for k, v in body["data"]["values"].items()}
    assert totals == dict(Counter(t for r in rows for t in set(r["properties"]["tags"])))


def test_limit_keeps_the_top_segments(emu: Emulator, client: httpx.Client) -> None:
    counts = Counter(r["properties"]["$city"] for r in deduped(emu, F, T) if r["event"] == "Login")
    body = seg(client, emu, event="Login", on='properties["$city"]', limit=3)
    top = sorted(counts, key=lambda c: (-counts[c], c))[:3]
    assert sorted(body["data"]["values"]) == sorted(top)
    assert body["legend_size"] == 3
    assert len(seg(client, emu, event="Login", on='properties["$city"]')["data"]["values"]) == len(counts)


def test_week_month_hour_and_minute_buckets(emu: Emulator, client: httpx.Client) -> None:
    rows = [r for r in deduped(emu, F, T) if r["event"] == "Search"]
    # 03-23 (Saturday) .. 03-30 (Saturday): both weeks are partial and data exists outside the range in each
    inside = [r for r in rows if "2024-03-23" <= day(r["properties"]["time"]) <= "2024-03-30"]
    assert len(inside) < len(rows) - 10
    week = seg(client, emu, event="Search", unit="week", from_date="2024-03-23", to_date="2024-03-30")["data"]
    assert week["series"] == ["2024-03-18", "2024-03-25"]  # Mondays; the first precedes from_date
    monday = dt.date(2024, 3, 25)
    assert week["values"]["Search"] == {
        "2024-03-18": sum(1 for r in inside if day(r["properties"]["time"]) < monday.isoformat()),
        "2024-03-25": sum(1 for r in inside if day(r["properties"]["time"]) >= monday.isoformat())}
    month = seg(client, emu, event="Search", unit="month", from_date="2024-03-23", to_date="2024-03-30")["data"]
    assert month["values"] == {"Search": {"2024-03-01": len(inside)}}
    hour = seg(client, emu, event="Search", unit="hour")["data"]
    assert len(hour["series"]) == 240 and hour["series"][0] == "2024-03-22 00:00:00"
    by_hour = Counter(dt.datetime.fromtimestamp(r["properties"]["time"], dt.UTC).strftime("%Y-%m-%d %H:00:00")
                      for r in rows)
    assert hour["values"]["Search"] == {k: by_hour[k] for k in hour["series"]}
    minute = seg(client, emu, event="Search", unit="minute", from_date="2024-03-31")["data"]
    assert len(minute["series"]) == 1440 and minute["series"][1] == "2024-03-31 00:01:00"
    assert sum(minute["values"]["Search"].values()) == sum(1 for r in rows if day(r["properties"]["time"])
                                                          == "2024-03-31")


def test_interval_buckets_days_from_from_date_for_uniques(emu: Emulator, client: httpx.Client) -> None:
    body = seg(client, emu, event="Login", type="unique", interval=4)
    assert body["data"]["series"] == ["2024-03-22", "2024-03-26", "2024-03-30"]
    users: dict[str, set[str]] = defaultdict(set)
    for r in deduped(emu, F, T):
        if r["event"] == "Login":
            offset = (dt.date.fromisoformat(day(r["properties"]["time"])) - F).days // 4
            users[(F + dt.timedelta(days=4 * offset)).isoformat()].add(r["properties"]["distinct_id"])
    assert body["data"]["values"]["Login"] == {k: len(v) for k, v in users.items()}


def test_numeric_buckets_cover_every_numeric_value(emu: Emulator, client: httpx.Client) -> None:
    body = seg(client, emu, "/api/query/segmentation/numeric", event="Purchase", on='properties["amount"]')
    amounts = [(r["properties"]["amount"], day(r["properties"]["time"]))
               for r in deduped(emu, F, T) if r["event"] == "Purchase"]
    values = body["data"]["values"]
    assert body["legend_size"] == len(values) and 2 <= len(values) <= 11
    bounds = []
    for label in values:
        m = re.fullmatch(r"([\d,.]+) - ([\d,.]+)", label)
        assert m, label
        bounds.append(tuple(float(x.replace(",", "")) for x in m.groups()))
    widths = {round(hi - lo, 9) for lo, hi in bounds}
    assert len(widths) == 1
    width = widths.pop()
    assert width / 10 ** math.floor(math.log10(width)) in (1, 2, 5)  # a round width
    assert bounds == sorted(bounds)
    assert any("," in label for label in values)  # thousands separators, as in Mixpanel's example
    expected: dict[tuple, Counter[str]] = defaultdict(Counter)
    for amount, d in amounts:
        (lo_hi,) = [b for b in bounds if b[0] <= amount < b[1]]
        expected[lo_hi][d] += 1
    assert {b: Counter({d: n for d, n in values[label].items() if n}) for b, label in zip(bounds, values,
                                                                                            strict=True)} == expected


def test_sum_and_average_per_day(emu: Emulator, client: httpx.Client) -> None:
    amounts: dict[str, list[float]] = defaultdict(list)
    for r in deduped(emu, F, T):
        if r["event"] == "Checkout":
            # the cart total lives in a nested object; the expression reaches into it
            amounts[day(r["properties"]["time"])].append(r["properties"]["cart"]["total"])
    total = seg(client, emu, "/api/query/segmentation/sum", event="Checkout", on='properties["cart"]["total"]')
    assert total["status"] == "ok" and dt.datetime.fromisoformat(total["computed_at"]).tzinfo is not None
    assert total["results"] == pytest.approx({d: math.fsum(amounts[d]) for d in days(F, T)})
    avg = seg(client, emu, "/api/query/segmentation/average", event="Checkout", on='properties["cart"]["total"]')
    assert set(avg) == {"results", "status"}
    assert avg["results"] == pytest.approx({d: math.fsum(amounts[d]) / len(amounts[d]) for d in days(F, T)})


def test_sum_counts_non_numeric_values_as_zero(emu: Emulator, client: httpx.Client) -> None:
    body = seg(client, emu, "/api/query/segmentation/sum", event="Purchase", on='properties["currency"]')
    assert set(body["results"].values()) == {0}
    avg = seg(client, emu, "/api/query/segmentation/average", event="Purchase",
              on='properties["first_purchase"] == true')
    assert set(avg["results"].values()) == {0}  # booleans are not numbers either


def test_events_breaks_down_several_events(emu: Emulator, client: httpx.Client) -> None:
    body = seg(client, emu, "/api/query/events", event=json.dumps(["Sign Up", "Share", "Never Happens"]),
               type="unique", unit="day")
    users: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in deduped(emu, F, T):
        users[(r["event"], day(r["properties"]["time"]))].add(r["properties"]["distinct_id"])
    assert body["legend_size"] == 3
    assert body["data"]["values"] == {e: {d: len(users[(e, d)]) for d in days(F, T)}
                                      for e in ("Sign Up", "Share", "Never Happens")}


def test_events_interval_counts_back_from_today(emu: Emulator, client: httpx.Client) -> None:
    r = get(client, emu, "/api/query/events", event='["Login"]', type="general", unit="day", interval=3)
    assert r.status_code == 200
    assert r.json()["data"]["series"] == ["2024-03-30", "2024-03-31", "2024-04-01"]
    assert r.json()["data"]["values"]["Login"]["2024-04-01"] == 0  # today: no data yet


def test_event_properties_values_and_limit(emu: Emulator, client: httpx.Client) -> None:
    rows = [r for r in deduped(emu, F, T) if r["event"] == "Purchase"]
    body = seg(client, emu, "/api/query/events/properties", event="Purchase", name="currency", type="general",
               unit="week")
    by_currency = Counter(r["properties"]["currency"] for r in rows)
    assert {k: sum(v.values()) for k, v in body["data"]["values"].items()} == dict(by_currency)
    body = seg(client, emu, "/api/query/events/properties", event="Purchase", name="currency", type="general",
               unit="month", values=json.dumps(["EUR", "XXX"]))
    assert body["data"]["values"] == {"EUR": {"2024-03-01": by_currency["EUR"]}, "XXX": {"2024-03-01": 0}}
    body = seg(client, emu, "/api/query/events/properties", event="Purchase", name="currency", type="general",
               unit="month", limit=1)
    assert list(body["data"]["values"]) == [by_currency.most_common(1)[0][0]]


@pytest.mark.parametrize(("path", "params", "status", "text"), [
    (SEG, {"from_date": "2024-03-22", "to_date": "2024-03-31"}, 400, "'event' is a required parameter"),
    (SEG, {"event": "Login", "to_date": "2024-03-31"}, 400, "'from_date' is a required parameter"),
    (SEG, {"event": "Login", "from_date": "2024/03/22", "to_date": "2024-03-31"}, 400, "Error in from_date"),
    (SEG, {"event": "Login", "from_date": "1999-03-22", "to_date": "2024-03-31"}, 400, "bad year"),
    (SEG, {"event": "Login", "from_date": "2024-03-22", "to_date": "2024-04-02"}, 400,
     "to_date cannot be later than today"),
    (SEG, {"event": "Login", "from_date": "2024-03-30", "to_date": "2024-03-22"}, 400, "from_date cannot be later"),
    (SEG, {"event": "Login", "from_date": "2024-03-22", "to_date": "2024-03-31", "unit": "year"}, 400,
     "Error in unit"),
    (SEG, {"event": "Login", "from_date": "2024-03-22", "to_date": "2024-03-31", "type": "total"}, 400,
     "Error in type"),
    (SEG, {"event": "Login", "from_date": "2024-03-22", "to_date": "2024-03-31", "type": "unique", "unit": "hour"},
     400, "not available per hour"),
    (SEG, {"event": "Login", "from_date": "2024-03-22", "to_date": "2024-03-31", "interval": "2"}, 400,
     "only when type is unique or average"),
    (SEG, {"event": "Login", "from_date": "2024-03-22", "to_date": "2024-03-31", "type": "unique", "interval": "2",
           "unit": "day"}, 400, "not both"),
    (SEG, {"event": "Login", "from_date": "2024-03-22", "to_date": "2024-03-31", "unit": "minute"}, 400,
     "minute buckets"),
    (SEG, {"event": "Login", "from_date": "2024-03-22", "to_date": "2024-03-31", "on": 'properties["x"'}, 400,
     "Error in on: invalid expression"),
    (SEG, {"event": "Login", "from_date": "2024-03-22", "to_date": "2024-03-31", "where": "= 1"}, 400,
     "Error in where: invalid expression"),
    (SEG, {"event": "Login", "from_date": "2024-03-22", "to_date": "2024-03-31", "limit": "10001"}, 400,
     "Error in limit"),
    (SEG, {"event": "Login", "from_date": "2024-03-22", "to_date": "2024-03-31", "limit": "0"}, 400,
     "Error in limit"),
    (SEG, {"event": "Login", "from_date": "2024-03-22", "to_date": "2024-03-31", "format": "csv"}, 400,
     "Error in format"),
    ("/api/query/segmentation/numeric", {"event": "Purchase", "from_date": "2024-03-22", "to_date": "2024-03-31"},
     400, "'on' is a required parameter"),
    ("/api/query/segmentation/numeric", {"event": "Purchase", "from_date": "2024-03-22", "to_date": "2024-03-31",
                                         "on": 'properties["amount"]', "unit": "week"}, 400, "Error in unit"),
    ("/api/query/segmentation/sum", {"event": "Purchase", "from_date": "2024-03-22", "to_date": "2024-03-31"},
     400, "'on' is a required parameter"),
    ("/api/query/segmentation/average", {"event": "Purchase", "from_date": "2024-03-22", "to_date": "2024-03-31",
                                         "on": 'properties["amount"]', "unit": "month"}, 400, "Error in unit"),
    ("/api/query/events", {"event": "Login", "type": "general", "unit": "day", "from_date": "2024-03-22",
                           "to_date": "2024-03-31"}, 400, "Error in event"),
    ("/api/query/events", {"event": '["Login"]', "unit": "day", "from_date": "2024-03-22", "to_date": "2024-03-31"},
     400, "'type' is a required parameter"),
    ("/api/query/events", {"event": '["Login"]', "type": "general", "from_date": "2024-03-22",
                           "to_date": "2024-03-31"}, 400, "'unit' is a required parameter"),
    ("/api/query/events", {"event": '["Login"]', "type": "general", "unit": "day", "interval": "3",
                           "from_date": "2024-03-22", "to_date": "2024-03-31"}, 400, "either interval or"),
    ("/api/query/events/properties", {"event": "Purchase", "type": "general", "unit": "day",
                                      "from_date": "2024-03-22", "to_date": "2024-03-31"}, 400,
     "'name' is a required parameter"),
    ("/api/query/events/properties", {"event": "Purchase", "name": "currency", "values": "EUR", "type": "general",
                                      "unit": "day", "from_date": "2024-03-22", "to_date": "2024-03-31"}, 400,
     "Error in values"),
])
def test_bad_requests_get_400_with_the_query_error_body(emu: Emulator, client: httpx.Client, path: str,
                                                        params: dict, status: int, text: str) -> None:
    assert_error(get(client, emu, path, **params), status, text, path)


def test_uniques_count_users_after_id_merge(emu: Emulator, client: httpx.Client) -> None:
    """Anonymous visits ($device:... ids) before a sign-up belong to the user who signed up on that device."""
    merged: dict[str, set[str]] = defaultdict(set)
    raw: dict[str, set[str]] = defaultdict(set)
    week_of = {d: (dt.date.fromisoformat(d) - dt.timedelta(days=dt.date.fromisoformat(d).weekday())).isoformat()
               for d in days(F, T)}
    for rows, users in ((deduped(emu, F, T), merged), (deduped(emu, F, T, merge=False), raw)):
        for r in rows:
            if r["event"] == "Page View":
                users[week_of[day(r["properties"]["time"])]].add(r["properties"]["distinct_id"])
    body = seg(client, emu, event="Page View", type="unique", unit="week")
    assert body["data"]["values"]["Page View"] == {w: len(u) for w, u in merged.items()}
    assert all(len(merged[w]) < len(raw[w]) for w in merged)  # raw ids would count a visitor twice
