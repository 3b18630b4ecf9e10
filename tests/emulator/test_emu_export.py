"""/api/2.0/export over real HTTP: parameters, filters, limit, gzip, chunking, validation errors."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import httpx
import pytest
from emu_helpers import export_params, raw_get

from mpsql.emulator import Emulator

EXPORT = "/api/2.0/export"


def lines_of(text: str) -> list[dict]:
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_jsonl_matches_export_records_and_range_is_inclusive(emu: Emulator, client: httpx.Client) -> None:
    d1 = emu.dataset.last_date - dt.timedelta(days=2)
    d2 = emu.dataset.last_date
    r = client.get(EXPORT, params=export_params(emu, from_date=d1.isoformat(), to_date=d2.isoformat()))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert r.headers["transfer-encoding"] == "chunked"
    rows = lines_of(r.text)
    assert rows == emu.dataset.export_records(d1, d2)
    days = {dt.datetime.fromtimestamp(x["properties"]["time"], dt.UTC).date() for x in rows}
    assert days == {d1, d1 + dt.timedelta(days=1), d2}
    # compact JSON, one object per line
    first = r.text.split("\n", 1)[0]
    assert first == json.dumps(rows[0], ensure_ascii=False, separators=(",", ":"))


def test_outside_range_is_empty_200(emu: Emulator, client: httpx.Client) -> None:
    r = client.get(EXPORT, params=export_params(emu, from_date="2020-01-01", to_date="2020-01-31"))
    assert r.status_code == 200 and r.content == b""
    r = client.get(EXPORT, params=export_params(emu, to_date=emu.today.isoformat(), from_date=emu.today.isoformat()))
    assert r.status_code == 200 and r.content == b""


def test_event_filter(emu: Emulator, client: httpx.Client) -> None:
    r = client.get(EXPORT, params=export_params(emu, event=json.dumps(["Purchase", "Sign Up"])))
    rows = lines_of(r.text)
    assert rows and {x["event"] for x in rows} <= {"Purchase", "Sign Up"}
    expected = [
        x
        for x in emu.dataset.export_records(emu.dataset.last_date, emu.dataset.last_date)
        if x["event"] in ("Purchase", "Sign Up")
    ]
    assert rows == expected


def test_where_filter_and_time(emu: Emulator, client: httpx.Client) -> None:
    where = 'properties["amount"] > 50 and defined(properties["items"])'
    r = client.get(EXPORT, params=export_params(emu, where=where))
    rows = lines_of(r.text)
    assert rows and all(x["event"] == "Purchase" and x["properties"]["amount"] > 50 for x in rows)
    day = emu.dataset.last_date
    noon = int(dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.UTC).timestamp())
    r = client.get(EXPORT, params=export_params(emu, where=f'event["$time"] >= datetime({noon})'))
    rows = lines_of(r.text)
    assert rows and all(x["properties"]["time"] >= noon for x in rows)
    iso = f"{day.isoformat()}T12:00:00"
    r2 = client.get(EXPORT, params=export_params(emu, where=f'properties["$time"] >= datetime("{iso}")'))
    assert lines_of(r2.text) == rows


def test_limit_and_cap(emu: Emulator, client: httpx.Client) -> None:
    r = client.get(EXPORT, params=export_params(emu, limit=7))
    assert len(lines_of(r.text)) == 7
    r = client.get(EXPORT, params=export_params(emu, limit=100001))
    assert r.status_code == 400
    assert r.json()["error"] == "limit must be <= 100000"
    assert r.json()["request"].startswith("/api/2.0/export?") and "limit=100001" in r.json()["request"]


def test_time_in_ms(emu: Emulator, client: httpx.Client) -> None:
    secs = lines_of(client.get(EXPORT, params=export_params(emu, limit=50)).text)
    ms = lines_of(client.get(EXPORT, params=export_params(emu, limit=50, time_in_ms="true")).text)
    assert len(secs) == len(ms) == 50
    for a, b in zip(secs, ms, strict=True):
        assert b["properties"]["time"] // 1000 == a["properties"]["time"]
        assert {k: v for k, v in a["properties"].items() if k != "time"} == {
            k: v for k, v in b["properties"].items() if k != "time"
        }
    assert any(b["properties"]["time"] % 1000 for b in ms)


def test_gzip_only_when_asked_and_large(emu: Emulator) -> None:
    big = raw_get(emu, EXPORT, export_params(emu), gzip=True)
    assert big.complete and big.headers.get("content-encoding") == "gzip"
    plain = raw_get(emu, EXPORT, export_params(emu), gzip=False)
    assert plain.complete and "content-encoding" not in plain.headers
    assert gzip.decompress(big.body) == plain.body
    small = raw_get(emu, EXPORT, export_params(emu, limit=1), gzip=True)  # one record < 1400 bytes
    assert len(small.body) <= 1400 and "content-encoding" not in small.headers
    assert json.loads(small.body)


def test_chunked_in_64k_pieces(emu: Emulator) -> None:
    r = raw_get(emu, EXPORT, export_params(emu, from_date=emu.dataset.first_date.isoformat()))
    assert r.headers["transfer-encoding"] == "chunked" and r.complete
    assert len(r.chunks) > 2 and max(map(len, r.chunks)) < 200_000
    assert "content-length" not in r.headers


def test_validation_errors(emu: Emulator, client: httpx.Client) -> None:
    today = emu.today
    cases = [
        ({"from_date": None}, "'from_date' is a required parameter"),
        ({"to_date": None}, "'to_date' is a required parameter"),
        ({"from_date": "2024/01/01"}, "Error in from_date: invalid date, expected yyyy-mm-dd"),
        ({"from_date": "2024-02-30"}, "Error in from_date: invalid date, expected yyyy-mm-dd"),
        ({"from_date": "1999-12-31"}, "Error in from_date: invalid date, bad year"),
        ({"to_date": (today + dt.timedelta(days=1)).isoformat()}, "to_date cannot be later than today"),
        (
            {"from_date": emu.dataset.last_date.isoformat(), "to_date": emu.dataset.first_date.isoformat()},
            "from_date cannot be later than to_date",
        ),
        ({"event": "Purchase"}, None),
        ({"event": '"Purchase"'}, None),
        ({"event": "[1, 2]"}, None),
        ({"where": 'properties["a" =='}, None),
        ({"limit": "ten"}, None),
        ({"time_in_ms": "maybe"}, None),
    ]
    for override, message in cases:
        params = export_params(emu, **override)
        params = {k: v for k, v in params.items() if v is not None}
        r = client.get(EXPORT, params=params)
        assert r.status_code == 400, override
        body = r.json()
        assert set(body) == {"request", "error"}
        assert body["request"] == "/api/2.0/export?" + str(r.request.url.query, "ascii")
        if message:
            assert body["error"] == message


def test_unknown_endpoint(emu: Emulator, client: httpx.Client) -> None:
    r = client.get("/api/2.0/nope", params={"project_id": emu.credentials.project_id})
    assert r.status_code == 400
    assert r.json() == {
        "request": f"/api/2.0/nope?project_id={emu.credentials.project_id}",
        "error": "Invalid API endpoint",
    }
    assert client.get("/api/query/nope").json()["error"] == "Invalid API endpoint"
    r = client.get("/api/app/nope")
    assert r.status_code == 404 and r.json()["status"] == "error"


def test_request_log(emu: Emulator, client: httpx.Client) -> None:
    client.get(EXPORT, params=export_params(emu, limit=3))
    (log,) = emu.requests
    assert (log.method, log.path, log.status, log.gzip) == ("GET", "/api/2.0/export", 200, True)
    assert log.params["limit"] == "3" and log.bytes_sent > 0
    emu.reset()
    assert emu.requests == []


def test_throughput_caps_how_fast_one_response_streams(emu: Emulator, client: httpx.Client) -> None:
    import time

    day = emu.dataset.last_date
    params = export_params(emu, from_date=day.isoformat(), to_date=day.isoformat())
    whole = client.get(EXPORT, params=params, headers={"Accept-Encoding": "identity"}).content
    emu.throughput = len(whole) / 0.5  # the body should take about half a second
    try:
        started = time.monotonic()
        capped = client.get(EXPORT, params=params, headers={"Accept-Encoding": "identity"}).content
        took = time.monotonic() - started
    finally:
        emu.throughput = None
    assert capped == whole
    assert took >= 0.4


def test_the_request_log_shows_the_days_each_export_covered(emu: Emulator, client: httpx.Client) -> None:
    d1, d2 = emu.dataset.last_date - dt.timedelta(days=1), emu.dataset.last_date
    client.get(EXPORT, params=export_params(emu, from_date=d1.isoformat(), to_date=d2.isoformat()))
    assert [r.days for r in emu.requests if r.path == EXPORT] == [f"{d1}..{d2}"]


def test_time_in_ms_serves_milliseconds_and_seconds_otherwise(emu: Emulator, client: httpx.Client) -> None:
    seconds = lines_of(client.get(EXPORT, params=export_params(emu)).text)
    ms = lines_of(client.get(EXPORT, params=export_params(emu, time_in_ms="true")).text)
    assert len(ms) == len(seconds) > 100
    assert all(m["properties"]["time"] // 1000 == s["properties"]["time"] for m, s in zip(ms, seconds, strict=True))
    assert any(m["properties"]["time"] % 1000 for m in ms)  # real milliseconds, not seconds scaled up
    assert {k for m, s in zip(ms, seconds, strict=True) for k in m["properties"]
            if m["properties"][k] != s["properties"][k]} == {"time"}


def test_a_project_time_zone_and_legacy_time() -> None:
    """A legacy project (Asia/Tokyo) exports Tokyo days with Tokyo wall-clock times; a project in Los Angeles
    created since 2023 exports UTC days with true epochs, and /me names each one's zone."""
    kw = {"seed": 3, "today": dt.date(2024, 4, 1), "days": 2, "users": 30}
    with Emulator(**kw) as utc, Emulator(**kw, timezone="America/Los_Angeles") as la, \
            Emulator(**kw, timezone="Asia/Tokyo", legacy_time=True) as tokyo:
        def export(emu: Emulator, day: str) -> list[dict]:
            c = emu.credentials
            with httpx.Client(base_url=emu.url, auth=(c.username, c.secret)) as cl:
                assert cl.get("/api/app/me").json()["results"]["projects"][str(c.project_id)]["timezone"] == \
                    emu.project_time.name
                return lines_of(cl.get(EXPORT, params=export_params(emu, from_date=day, to_date=day,
                                                                     time_in_ms="true")).text)
        assert export(la, "2024-03-31") == export(utc, "2024-03-31")
        nine = 9 * 3_600_000
        tokyo_day = [(r["event"], r["properties"]["time"] - nine) for r in export(tokyo, "2024-03-31")]
        true_times = [(r["event"], r["properties"]["time"]) for day in ("2024-03-30", "2024-03-31")
                      for r in export(utc, day)]
        lo = int(dt.datetime(2024, 3, 30, 15, tzinfo=dt.UTC).timestamp()) * 1000  # Tokyo midnight of the 31st
        assert tokyo_day == [(e, t) for e, t in true_times if lo <= t < lo + 86_400_000] and len(tokyo_day) > 50


@pytest.mark.parametrize("zone", ["Mars/Olympus", "America", "Etc/" + "A" * 300])  # a folder; too long a name
def test_an_unknown_time_zone_is_refused(zone: str) -> None:
    with pytest.raises(ValueError, match=f"unknown time zone '{zone[:20]}"):
        Emulator(days=1, users=5, timezone=zone)
