"""Discovery endpoints (docs/mixpanel-api.md, "Events and properties breakdowns"): event names, today's top events, an
event's top properties and a property's values, all counted over deduplicated events and checked against a direct
count."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict

import httpx
import pytest
from emu_helpers import dedup

from mpsql.emulator import Emulator

STORAGE = {"time", "distinct_id", "$insert_id", "mp_processing_time_ms"}


def get(client: httpx.Client, emu: Emulator, endpoint: str, prefix: str = "/api/query/",
        **params: object) -> httpx.Response:
    return client.get(prefix + endpoint, params={"project_id": emu.credentials.project_id, **params})


def window_rows(emu: Emulator, first: dt.date | None = None, last: dt.date | None = None) -> list[dict]:
    ds = emu.dataset
    # the shared test project has 10 days, all inside the 31-day discovery window
    return dedup(ds.export_records(first or ds.first_date, last or ds.last_date, time_in_ms=True))


def per_event(rows: list[dict]) -> tuple[Counter, dict[str, set]]:
    counts: Counter = Counter()
    users: dict[str, set] = defaultdict(set)
    for r in rows:
        counts[r["event"]] += 1
        users[r["event"]].add(r["properties"]["distinct_id"])
    return counts, users


def test_event_names_most_common_first(emu: Emulator, client: httpx.Client) -> None:
    counts, users = per_event(window_rows(emu))
    r = get(client, emu, "events/names", type="general")
    assert r.status_code == 200
    assert r.json() == sorted(counts, key=lambda e: (-counts[e], e))
    unique = get(client, emu, "events/names", type="unique", limit=3).json()
    assert unique == sorted(users, key=lambda e: (-len(users[e]), e))[:3]
    average = get(client, emu, "events/names", type="average").json()
    assert average == sorted(counts, key=lambda e: (-counts[e] / len(users[e]), e))
    assert get(client, emu, "events/names", prefix="/api/2.0/", type="general").json() == r.json()


def test_event_names_of_an_explicit_range(emu: Emulator, client: httpx.Client) -> None:
    day = emu.dataset.first_date
    counts, _ = per_event(window_rows(emu, day, day))
    r = get(client, emu, "events/names", type="general", from_date=day.isoformat(), to_date=day.isoformat())
    assert r.json() == sorted(counts, key=lambda e: (-counts[e], e))
    r = get(client, emu, "events/names", type="general", from_date="2019-01-01", to_date="2019-01-31")
    assert r.status_code == 200 and r.json() == []
    r = get(client, emu, "events/names", type="general", from_date=day.isoformat())
    assert r.status_code == 400 and r.json()["error"] == "'to_date' is a required parameter"


def test_top_events_compare_the_last_day_with_the_one_before(emu: Emulator, client: httpx.Client) -> None:
    ds = emu.dataset
    today, _ = per_event(window_rows(emu, ds.last_date, ds.last_date))
    before, _ = per_event(window_rows(emu, ds.last_date - dt.timedelta(days=1), ds.last_date - dt.timedelta(days=1)))
    body = get(client, emu, "events/top", type="general").json()
    assert body["type"] == "general"
    assert [e["event"] for e in body["events"]] == sorted(today, key=lambda e: (-today[e], e))
    for e in body["events"]:
        assert set(e) == {"amount", "event", "percent_change"}
        assert e["amount"] == today[e["event"]]
        assert e["percent_change"] == pytest.approx((today[e["event"]] - before[e["event"]]) / before[e["event"]])
    assert len(get(client, emu, "events/top", type="unique", limit=2).json()["events"]) == 2


def test_top_properties_of_an_event(emu: Emulator, client: httpx.Client) -> None:
    counts: Counter = Counter()
    for r in window_rows(emu):
        if r["event"] == "Purchase":
            counts.update(k for k in r["properties"] if k not in STORAGE)
    expected = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    body = get(client, emu, "events/properties/top", event="Purchase").json()
    assert list(body.items()) == [(k, {"count": n}) for k, n in expected[:10]]
    everything = get(client, emu, "events/properties/top", event="Purchase", limit=1000).json()
    assert list(everything.items()) == [(k, {"count": n}) for k, n in expected]
    assert {"amount", "payment", "items", "$browser"} <= set(everything) and not STORAGE & set(everything)
    assert get(client, emu, "events/properties/top", event="No Such Event").json() == {}


def text(v: object) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize(("name", "event"), [("currency", None), ("tags", "View Item"), ("rating", None),
                                             ("in_stock", "View Item"), ("payment", "Purchase"), ("$city", None)])
def test_property_values_as_strings_most_frequent_first(emu: Emulator, client: httpx.Client, name: str,
                                                        event: str | None) -> None:
    counts: Counter = Counter()
    for r in window_rows(emu):
        if event is not None and r["event"] != event:
            continue
        v = r["properties"].get(name)
        for item in v if isinstance(v, list) else [v]:
            if item is not None:
                counts[text(item)] += 1
    expected = [v for v, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    params = {"name": name} if event is None else {"name": name, "event": event}
    body = get(client, emu, "events/properties/values", **params).json()
    assert body == expected[:255] and all(isinstance(v, str) for v in body)
    assert get(client, emu, "events/properties/values", limit=2, **params).json() == expected[:2]


def test_discovery_parameter_errors(emu: Emulator, client: httpx.Client) -> None:
    pid = emu.credentials.project_id
    for endpoint, params, error in (
        ("events/names", {}, "'type' is a required parameter"),
        ("events/top", {"type": "weekly"}, "Error in type: must be one of general, unique, average"),
        ("events/names", {"type": "general", "limit": "0"}, "Error in limit: must be a positive integer"),
        ("events/properties/top", {}, "'event' is a required parameter"),
        ("events/properties/values", {"event": "Purchase"}, "'name' is a required parameter"),
    ):
        r = get(client, emu, endpoint, **params)
        assert r.status_code == 400, endpoint
        query = "&".join([f"project_id={pid}", *(f"{k}={v}" for k, v in params.items())])
        assert r.json() == {"request": f"/api/query/{endpoint}?{query}", "error": error}
