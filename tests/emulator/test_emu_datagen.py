"""The synthetic project: determinism, coverage of JSON types, duplicates, funnel and retention shape."""

from __future__ import annotations

import collections
import datetime as dt
import functools
import json
import re
import subprocess
import sys

import httpx
from emu_helpers import export_params

from mpsql.emulator import Emulator
from mpsql.emulator.datagen import Dataset

TODAY = dt.date(2024, 4, 1)



@functools.cache
def two_weeks() -> Dataset:
    """One 14-day, 600-user project shared by the tests that only read it (generated once)."""
    return Dataset(7, TODAY, 14, 600, cache_days=14)

def test_same_seed_same_bytes_over_http() -> None:
    bodies = []
    for seed in (5, 5, 6):
        with Emulator(seed=seed, today=TODAY, days=3, users=80) as emu:
            c = emu.credentials
            p = export_params(emu, from_date="2024-03-29", to_date="2024-03-31")
            bodies.append(httpx.get(emu.url + "/api/2.0/export", params=p, auth=(c.username, c.secret)).content)
    assert bodies[0] == bodies[1] != bodies[2]
    assert len(bodies[0]) > 1000


def test_day_independent_of_cache_and_other_days() -> None:
    a = Dataset(9, TODAY, 20, 200)
    b = Dataset(9, TODAY, 20, 200, cache_days=1)
    d = TODAY - dt.timedelta(days=4)
    for x in a.dates(a.first_date, a.last_date):
        a.day(x)
    assert a.day(d).lines == b.day(d).lines
    assert a.first_date == TODAY - dt.timedelta(days=20) and a.last_date == TODAY - dt.timedelta(days=1)
    assert a.day(TODAY).lines == [] and a.day(a.first_date - dt.timedelta(days=1)).lines == []


def test_records_shape_types_and_range() -> None:
    ds = two_weeks()
    rows = ds.export_records(ds.first_date, ds.last_date)
    assert rows
    days = collections.Counter(dt.datetime.fromtimestamp(r["properties"]["time"], dt.UTC).date() for r in rows)
    assert set(days) == set(ds.dates(ds.first_date, ds.last_date))
    seen_types: set[str] = set()
    for r in rows:
        p = r["properties"]
        assert isinstance(p["time"], int) and isinstance(p["mp_processing_time_ms"], int)
        assert p["mp_processing_time_ms"] > p["time"] * 1000
        assert "$insert_id" not in p or re.fullmatch(r"[A-Za-z0-9-]{1,36}", p["$insert_id"])
        assert isinstance(p["distinct_id"], str) and "ip" not in p and "token" not in p
        for k in ("$browser", "$os", "$city", "$region", "mp_country_code", "$current_url", "$device_id", "mp_lib"):
            assert k in p
        if "$user_id" in p:
            assert p["$user_id"] == p["distinct_id"]
        for v in p.values():
            seen_types.add(type(v).__name__)
            if isinstance(v, list) and v and isinstance(v[0], dict):
                seen_types.add("list_of_objects")
    assert {"str", "int", "float", "bool", "NoneType", "list", "dict", "list_of_objects"} <= seen_types
    cities = {r["properties"]["$city"] for r in rows}
    assert {"São Paulo", "東京"} <= cities
    assert any("🔥" in r["properties"].get("tags", []) for r in rows)
    # served order: by time within a day (duplicates aside)
    originals = [r for r in rows if not r["properties"].get("$lib_version", "").startswith("2.49.1")]
    times = [r["properties"]["time"] for r in originals]
    assert times == sorted(times)


def test_duplicates_about_one_percent_with_later_or_equal_processing_time() -> None:
    ds = two_weeks()
    rows = ds.export_records(ds.first_date, ds.last_date)
    groups: dict[tuple, list[tuple[int, dict]]] = collections.defaultdict(list)
    for i, r in enumerate(rows):
        p = r["properties"]
        if "$insert_id" in p:
            groups[(r["event"], p["distinct_id"], p["time"], p["$insert_id"])].append((i, p))
    dups = [g for g in groups.values() if len(g) > 1]
    share = len(dups) / len(groups)
    assert 0.01 < share < 0.03, share
    for g in dups:
        (i, first), (j, second) = g[0], g[1]
        assert j > i
        assert second["mp_processing_time_ms"] >= first["mp_processing_time_ms"]
        differing = {k for k in first.keys() | second.keys() if first.get(k) != second.get(k)}
        assert differing - {"mp_processing_time_ms"}
        assert (
            dt.datetime.fromtimestamp(first["time"], dt.UTC).date()
            == dt.datetime.fromtimestamp(second["time"], dt.UTC).date()
        )


def test_the_data_holds_every_duplicate_edge_case() -> None:
    """No $insert_id (sent twice: two events), copies a few ms apart in the same second, processing-time ties."""
    ds = two_weeks()
    bare, ms_apart, ties = 0, 0, 0
    for d in ds.dates(ds.first_date, ds.last_date):
        day = ds.day(d)
        seen: dict[tuple, tuple[int, int]] = {}
        for line, t_ms in zip(day.lines, day.times_ms, strict=True):
            r = json.loads(line)
            p = r["properties"]
            if "$insert_id" not in p:
                bare += 1
                continue
            key = (r["event"], p["distinct_id"], p["time"], p["$insert_id"])
            if key in seen:
                ms_apart += seen[key][0] != t_ms
                ties += seen[key][1] == p["mp_processing_time_ms"]
            seen[key] = (t_ms, p["mp_processing_time_ms"])
    assert bare > 20 and ms_apart > 10 and ties > 10, (bare, ms_apart, ties)


def test_funnel_drop_off_and_retention_decay() -> None:
    ds = Dataset(7, TODAY, 30, 1500)
    rows = ds.export_records(ds.first_date, ds.last_date)
    c = collections.Counter(r["event"] for r in rows)
    assert c["Page View"] > c["View Item"] > c["Add to Cart"] > c["Checkout"] > c["Purchase"] > 0
    assert c["Sign Up"] > 0 and c["Search"] > 0
    signup_day: dict[str, int] = {}
    active: dict[int, set[str]] = collections.defaultdict(set)
    for r in rows:
        p = r["properties"]
        day = (dt.datetime.fromtimestamp(p["time"], dt.UTC).date() - ds.first_date).days
        if r["event"] == "Sign Up":
            signup_day[p["distinct_id"]] = day
        active[day].add(p["distinct_id"])
    cohort = [u for u, d in signup_day.items() if d <= 10]
    ret = [sum(1 for u in cohort if signup_day[u] + k in active and u in active[signup_day[u] + k]) for k in (1, 15)]
    assert ret[0] > ret[1]
    originals = [r for r in rows if r["event"] == "Sign Up" and r["properties"]["$lib_version"] == "2.49.0"
                 and "$insert_id" in r["properties"]]  # a retried event without one counts twice
    assert len({r["properties"]["distinct_id"] for r in originals}) == len(originals)  # once per user


def test_cli_prints_credentials_and_serves(tmp_path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mpsql.emulator",
            "--port",
            "0",
            "--days",
            "3",
            "--users",
            "50",
            "--today",
            "2024-04-01",
            "--no-rate-limits",
            "--seed",
            "4",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines = [proc.stdout.readline().strip() for _ in range(4)]
        assert all(line.startswith("export ") for line in lines)  # pasteable into a shell
        env = dict(line.removeprefix("export ").split("=", 1) for line in lines)
        assert set(env) == {"MP_API_URL", "MP_USERNAME", "MP_SECRET", "MP_PROJECT_ID"}
        r = httpx.get(
            env["MP_API_URL"] + "/api/2.0/export",
            auth=(env["MP_USERNAME"], env["MP_SECRET"]),
            params={"project_id": env["MP_PROJECT_ID"], "from_date": "2024-03-31", "to_date": "2024-03-31"},
        )
        assert r.status_code == 200 and r.text
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_records_dedup_keeps_the_latest_processed_copy_and_derived_builds_once() -> None:
    ds = Dataset(7, TODAY, 6, 300)
    raw = ds.export_records(ds.first_date, ds.last_date)
    assert list(ds.records(ds.first_date, ds.last_date, dedup=False)) == raw
    unique = list(ds.records(ds.first_date, ds.last_date))
    latest: dict[tuple, dict] = {}
    in_ms = ds.export_records(ds.first_date, ds.last_date, time_in_ms=True)
    for i, (r, ms) in enumerate(zip(raw, in_ms, strict=True)):
        p = r["properties"]
        assert ms["properties"]["time"] // 1000 == p["time"]
        # compared in milliseconds; no $insert_id: never collapsed
        key = (r["event"], p["distinct_id"], ms["properties"]["time"], p.get("$insert_id", i))
        if key not in latest or p["mp_processing_time_ms"] >= latest[key]["properties"]["mp_processing_time_ms"]:
            latest[key] = r  # a tie keeps the copy served later
    assert len(raw) > len(unique) == len(latest)
    assert sorted(map(repr, unique)) == sorted(map(repr, latest.values()))
    calls: list[int] = []
    first = ds.derived("k", lambda d: calls.append(1) or [d.n_users])
    assert ds.derived("k", lambda d: calls.append(1) or []) is first and first == [300] and calls == [1]
