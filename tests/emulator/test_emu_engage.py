"""Engage (/api/query/engage, docs/mixpanel-api.md): paging by session, filters, ids, cohorts, behaviours, groups,
the combinations Engage rejects, and profiles that agree with the project's events."""

from __future__ import annotations

import calendar
import datetime as dt
import json
from collections import defaultdict

import httpx
import pytest
from emu_helpers import dedup

from mpsql.emulator import Emulator
from mpsql.emulator.catalog import cohort_members
from mpsql.emulator.datagen import Dataset
from mpsql.emulator.profiles import COMPANY_GROUP_ID, profiles_for

ENGAGE = "/api/query/engage"


def engage(client: httpx.Client, emu: Emulator, path: str = ENGAGE, method: str = "POST",
           **params: object) -> httpx.Response:
    """Engage the documented way: project_id in the query string, the rest form-encoded (or all in a GET)."""
    form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
    pid = {"project_id": emu.credentials.project_id}
    if method == "GET":
        return client.get(path, params={**pid, **form})
    return client.post(path, params=pid, data=form)


def ok(r: httpx.Response) -> dict:
    assert r.status_code == 200, r.text
    return r.json()


def ids(body: dict) -> list[str]:
    return [x["$distinct_id"] for x in body["results"]]


def iso(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


# ---------------------------------------------------------------- paging


def test_pages_walk_every_profile_once_and_end_on_a_short_page(emu: Emulator, client: httpx.Client) -> None:
    everyone = sorted(emu.dataset.user_ids())
    first = ok(engage(client, emu, page_size=37))
    assert list(first) == ["page", "page_size", "session_id", "status", "total", "results"]
    assert (first["page"], first["page_size"], first["status"], first["total"]) == (0, 37, "ok", len(everyone))
    sid = first["session_id"]
    seen, page, body = ids(first), 0, first
    while len(body["results"]) >= body["page_size"]:
        page += 1
        body = ok(engage(client, emu, page=page, session_id=sid, page_size=37))
        assert body["page"] == page and body["session_id"] == sid and "total" not in body
        seen += ids(body)
    assert page == len(everyone) // 37 and 0 < len(body["results"]) < 37
    assert seen == everyone
    past = ok(engage(client, emu, page=page + 3, session_id=sid, page_size=37))
    assert past["results"] == [] and past["page"] == page + 3


def test_exact_multiple_of_page_size_ends_with_an_empty_page(emu: Emulator, client: httpx.Client) -> None:
    n = len(emu.dataset.user_ids())
    assert n % 40 == 0
    sid = ok(engage(client, emu, page_size=40))["session_id"]
    assert len(ok(engage(client, emu, page=n // 40 - 1, session_id=sid, page_size=40))["results"]) == 40
    assert ok(engage(client, emu, page=n // 40, session_id=sid, page_size=40))["results"] == []


def test_page_size_defaults_to_1000_and_is_clamped_there(emu: Emulator, client: httpx.Client) -> None:
    body = ok(engage(client, emu))
    assert body["page_size"] == 1000 and len(body["results"]) == body["total"] == len(emu.dataset.user_ids())
    assert ok(engage(client, emu, page_size=5000))["page_size"] == 1000


def test_get_post_and_legacy_path_answer_alike(emu: Emulator, client: httpx.Client) -> None:
    where = 'properties["plan"] == "team"'
    a = ok(engage(client, emu, where=where))
    b = ok(engage(client, emu, method="GET", where=where))
    c = ok(engage(client, emu, path="/api/2.0/engage", where=where))
    assert a["results"] == b["results"] == c["results"] and a["total"] == b["total"] == c["total"] > 0


def test_session_survives_other_params_and_expires_when_idle(emu: Emulator, client: httpx.Client) -> None:
    first = ok(engage(client, emu, where='properties["plan"] == "pro"', page_size=10))
    sid = first["session_id"]
    again = ok(engage(client, emu, page=1, session_id=sid, page_size=10, where='properties["plan"] == "free"'))
    pros = sorted(d for d, p in profiles_for(emu.dataset).items() if p["plan"] == "pro")
    assert ids(again) == pros[10:20]  # the session's snapshot decides, not the repeated params
    real = emu.clock
    try:
        emu.clock = lambda: real() + 601
        r = engage(client, emu, page=1, session_id=sid, page_size=10)
    finally:
        emu.clock = real
    assert r.status_code == 400
    assert r.json() == {"request": f"{ENGAGE}?project_id={emu.credentials.project_id}", "error": "invalid session"}
    r = engage(client, emu, page=1, session_id="1234567890-EXAMPL")
    assert r.status_code == 400 and r.json()["error"] == "invalid session"


# ---------------------------------------------------------------- selection


@pytest.mark.parametrize(("where", "predicate"), [
    ('properties["plan"] == "pro"', lambda p: p["plan"] == "pro"),
    ('properties["lifetime_value"] > 100 and properties["$city"] in ["Berlin", "Paris", "東京"]',
     lambda p: p["lifetime_value"] > 100 and p["$city"] in ("Berlin", "Paris", "東京")),
    ('not defined(properties["$email"])', lambda p: "$email" not in p),
    ('user["age"] >= 40', lambda p: p.get("age", 0) >= 40),
    ('"vip" in properties["tags"]', lambda p: "vip" in p["tags"]),
    ('properties["$last_seen"] >= "2024-03-30T00:00:00"', lambda p: p["$last_seen"] >= "2024-03-30T00:00:00"),
    ('properties["purchases"] == 0 or properties["newsletter"]', lambda p: p["purchases"] == 0 or p["newsletter"]),
])
def test_where_selects_exactly_the_matching_profiles(emu: Emulator, client: httpx.Client, where: str,
                                                     predicate) -> None:
    profiles = profiles_for(emu.dataset)
    expected = sorted(d for d, p in profiles.items() if predicate(p))
    body = ok(engage(client, emu, where=where))
    assert ids(body) == expected and body["total"] == len(expected)
    assert all(x["$properties"] == profiles[x["$distinct_id"]] for x in body["results"])


def test_unparsable_where_is_400(emu: Emulator, client: httpx.Client) -> None:
    r = engage(client, emu, where='properties["plan" == ')
    assert r.status_code == 400 and r.json()["error"].startswith("Error in where: invalid expression")


def test_output_properties_keep_only_the_named_ones(emu: Emulator, client: httpx.Client) -> None:
    body = ok(engage(client, emu, output_properties=["$email", "plan", "no_such_prop"]))
    profiles = profiles_for(emu.dataset)
    for x in body["results"]:
        p = profiles[x["$distinct_id"]]
        assert x["$properties"] == {k: p[k] for k in ("$email", "plan") if k in p}
    assert any("$email" not in x["$properties"] for x in body["results"])
    r = engage(client, emu, output_properties="$email")
    assert r.status_code == 400 and r.json()["error"].startswith("Error in output_properties")


def test_distinct_id_and_distinct_ids(emu: Emulator, client: httpx.Client) -> None:
    profiles = profiles_for(emu.dataset)
    one = ok(engage(client, emu, distinct_id="u_00007"))
    assert one["results"] == [{"$distinct_id": "u_00007", "$properties": profiles["u_00007"]}] and one["total"] == 1
    many = ok(engage(client, emu, distinct_ids=["u_00009", "nobody", "u_00003", "u_00009"]))
    assert ids(many) == ["u_00003", "u_00009"] and many["total"] == 2
    assert ok(engage(client, emu, distinct_id="nobody"))["results"] == []
    both = ok(engage(client, emu, distinct_ids=["u_00003", "u_00004"], where='properties["$distinct_id"] == 1'))
    assert both["results"] == [] and both["total"] == 0


def test_profile_cohorts_return_exactly_their_members(emu: Emulator, client: httpx.Client) -> None:
    profiles = profiles_for(emu.dataset)
    for cid, predicate in ((1001, lambda p: p["purchases"] > 0), (1002, lambda p: p["$city"] == "Berlin"),
                           (1003, lambda p: p["plan"] == "pro")):
        expected = sorted(d for d, p in profiles.items() if predicate(p))
        body = ok(engage(client, emu, filter_by_cohort={"id": cid}))
        assert ids(body) == expected and body["total"] == len(expected) > 0, cid
        narrowed = ok(engage(client, emu, filter_by_cohort={"id": cid}, where='properties["plan"] == "free"'))
        assert ids(narrowed) == [d for d in expected if profiles[d]["plan"] == "free"]


def test_behavioural_cohort_includes_ids_without_profiles_unless_asked_not_to(emu: Emulator,
                                                                             client: httpx.Client) -> None:
    ds = emu.dataset
    since = ds.last_date - dt.timedelta(days=6)
    visitors = sorted({r["properties"]["distinct_id"] for r in ds.export_records(since, ds.last_date)
                       if r["event"] == "Page View"})
    profiles = profiles_for(ds)
    assert any(d not in profiles for d in visitors) and any(d in profiles for d in visitors)
    body = ok(engage(client, emu, filter_by_cohort={"id": 1004}))
    assert ids(body) == visitors
    assert all(x["$properties"] == profiles.get(x["$distinct_id"], {}) for x in body["results"])
    only = ok(engage(client, emu, filter_by_cohort={"id": 1004}, include_all_users="false"))
    assert ids(only) == [d for d in visitors if d in profiles]
    assert ok(engage(client, emu, filter_by_cohort={"id": 1004}, include_all_users="true"))["total"] == len(visitors)


def test_unknown_or_malformed_cohort_is_400(emu: Emulator, client: httpx.Client) -> None:
    r = engage(client, emu, filter_by_cohort={"id": 999})
    assert r.status_code == 400 and r.json()["error"] == "Error in filter_by_cohort: cohort 999 not found"
    for bad in ("12345", "{id: 3}", '{"name": "x"}'):
        r = engage(client, emu, filter_by_cohort=bad)
        assert r.status_code == 400 and r.json()["error"].startswith("Error in filter_by_cohort"), bad


def test_behaviors_count_events_in_the_window_before_as_of(emu: Emulator, client: httpx.Client) -> None:
    ds = emu.dataset
    as_of = calendar.timegm((ds.last_date - dt.timedelta(days=1)).timetuple())  # start of the second-last day
    start = as_of - 3 * 86_400
    counts: dict[str, int] = defaultdict(int)
    for r in dedup(ds.export_records(ds.first_date, ds.last_date, time_in_ms=True)):
        p = r["properties"]
        if r["event"] == "Purchase" and start <= p["time"] < as_of and p["currency"] == "EUR":
            counts[p["distinct_id"]] += 1
    behaviors = [{"window": "3d", "name": "eur_buys",
                  "event_selectors": [{"event": "Purchase", "selector": 'properties["currency"] == "EUR"'}]}]
    body = ok(engage(client, emu, behaviors=behaviors, as_of_timestamp=as_of, where='behaviors["eur_buys"] >= 1'))
    assert ids(body) == sorted(d for d, n in counts.items() if n >= 1) and body["total"] > 0
    none = ok(engage(client, emu, behaviors=behaviors, as_of_timestamp=as_of, where='behaviors["eur_buys"] == 0'))
    assert body["total"] + none["total"] == len(ds.user_ids())


def test_behaviors_paging_needs_as_of_and_as_of_cannot_be_future(emu: Emulator, client: httpx.Client) -> None:
    behaviors = [{"window": "30d", "name": "b", "event_selectors": [{"event": "Login"}]}]
    sid = ok(engage(client, emu, behaviors=behaviors, page_size=10))["session_id"]
    r = engage(client, emu, behaviors=behaviors, page=1, session_id=sid, page_size=10)
    assert r.status_code == 400 and r.json()["error"] == "request for page in uncached query for params"
    tomorrow = calendar.timegm((emu.today + dt.timedelta(days=2)).timetuple())
    r = engage(client, emu, behaviors=behaviors, as_of_timestamp=tomorrow)
    assert r.status_code == 400 and r.json()["error"] == "Error in as_of_timestamp: must not be in the future"
    r = engage(client, emu, behaviors=[{"name": "b"}])
    assert r.status_code == 400 and r.json()["error"].startswith("Error in behaviors")


def test_group_profiles_by_data_group_id(emu: Emulator, client: httpx.Client) -> None:
    profiles = profiles_for(emu.dataset)
    seats: dict[str, int] = defaultdict(int)
    for p in profiles.values():
        if "company" in p:
            seats[p["company"]] += 1
    body = ok(engage(client, emu, data_group_id=COMPANY_GROUP_ID))
    assert ids(body) == sorted(seats)
    assert {x["$distinct_id"]: x["$properties"]["seats"] for x in body["results"]} == seats
    assert all(x["$properties"]["$name"] == x["$distinct_id"] for x in body["results"])
    sw = ok(engage(client, emu, data_group_id=COMPANY_GROUP_ID, where='properties["industry"] == "software"'))
    assert 0 < sw["total"] < body["total"]
    r = engage(client, emu, data_group_id="12345")
    assert r.status_code == 400 and r.json()["error"] == "Error in data_group_id: unknown group key"


# ---------------------------------------------------------------- rejections


@pytest.mark.parametrize(("params", "error"), [
    ({"distinct_id": "u_00001", "distinct_ids": ["u_00002"]},
     "Error in distinct_ids: distinct_id and distinct_ids cannot be used together"),
    ({"behaviors": [{"window": "7d", "name": "b", "event_selectors": [{"event": "Login"}]}],
      "filter_by_cohort": {"id": 1001}},
     "Error in behaviors: behaviors and filter_by_cohort are mutually exclusive"),
    ({"include_all_users": "true"}, "Error in include_all_users: only applicable with filter_by_cohort"),
    ({"include_all_users": "false"}, "Error in include_all_users: only applicable with filter_by_cohort"),
    ({"page": 1}, "Error in session_id: session_id is required when page is greater than 0"),
    ({"page": -1}, "Error in page: must be an integer >= 0"),
    ({"page_size": 0}, "Error in page_size: must be an integer >= 1"),
    ({"distinct_ids": "u_00001"}, "Error in distinct_ids: must be a JSON-encoded array of distinct ids"),
    ({"filter_by_cohort": {"id": 1001}, "include_all_users": "maybe"},
     "Error in include_all_users: must be true or false"),
])
def test_rejected_parameters_answer_400_with_the_query_error_body(emu: Emulator, client: httpx.Client,
                                                                  params: dict, error: str) -> None:
    for method in ("POST", "GET"):
        r = engage(client, emu, method=method, **params)
        assert r.status_code == 400, (method, params)
        assert r.json() == {"request": f"{ENGAGE}?{r.request.url.query.decode()}", "error": error}


def test_bad_credentials_get_the_query_api_401_body(emu: Emulator) -> None:
    pid = emu.credentials.project_id
    r = httpx.post(emu.url + ENGAGE, params={"project_id": pid}, data={"where": "true"}, auth=("x", "y"))
    assert r.status_code == 401
    assert r.json() == {"request": f"{ENGAGE}?project_id={pid}", "error": "Unable to authenticate request"}
    secret = httpx.post(emu.url + ENGAGE, data={"distinct_id": "u_00001"}, auth=(emu.project_secret, ""))
    assert ok(secret)["total"] == 1


# ---------------------------------------------------------------- profiles vs events


def test_profiles_agree_with_the_events(emu: Emulator) -> None:
    ds = emu.dataset
    rows = dedup(ds.export_records(ds.first_date, ds.last_date, time_in_ms=True))
    last: dict[str, int] = {}
    signup: dict[str, int] = {}
    buys: dict[str, list[float]] = defaultdict(list)
    places: dict[str, set[tuple]] = defaultdict(set)
    for r in rows:
        p = r["properties"]
        did = p["distinct_id"]
        last[did] = max(last.get(did, 0), p["time"])
        places[did].add((p["$city"], p["$region"], p["mp_country_code"], p["$browser"], p["$os"]))
        if r["event"] == "Sign Up":
            signup[did] = p["time"]
        if r["event"] == "Purchase":
            buys[did].append(p["amount"])
    profiles = profiles_for(ds)
    assert list(profiles) == ds.user_ids()
    end_of_data = iso(calendar.timegm(emu.today.timetuple()) - 1)
    for did, p in profiles.items():
        assert p["$created"] <= p["$last_seen"] <= end_of_data
        if did in signup:
            assert p["$created"] == iso(signup[did])
        assert p["$last_seen"] == (iso(last[did]) if did in last else p["$created"])
        assert places[did] <= {(p["$city"], p["$region"], p["$country_code"], p["$browser"], p["$os"])}
        assert p["purchases"] == len(buys[did])
        assert p["lifetime_value"] == pytest.approx(sum(buys[did]), abs=0.006)
        assert ("last_purchase" in p) == bool(buys[did])
    assert sum(1 for d in profiles if d in last) > len(profiles) // 2


def test_profiles_are_deterministic_per_seed_users_and_days() -> None:
    today = dt.date(2024, 4, 1)
    a, b, c = (profiles_for(Dataset(s, today, 5, 60)) for s in (3, 3, 4))
    assert a == b and a != c
    assert cohort_members(Dataset(3, today, 5, 60), 1003) == sorted(d for d, p in a.items() if p["plan"] == "pro")
