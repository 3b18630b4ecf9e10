"""Server-side rate limiting with an injected clock (docs/mixpanel-api.md, "Rate limits")."""

from __future__ import annotations

import datetime as dt
import threading

import httpx
from emu_helpers import export_params

from mpsql.emulator import Emulator, ServerLimits
from mpsql.emulator.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_export_per_second_and_hourly_with_retry_after() -> None:
    clock = Clock()
    with Emulator(
        seed=3,
        today=dt.date(2024, 4, 1),
        days=2,
        users=30,
        clock=clock,
        rate_limits=ServerLimits(export_per_hour=5, export_per_second=3),
    ) as emu:
        c = emu.credentials
        with httpx.Client(base_url=emu.url, auth=(c.username, c.secret)) as cl:
            p = export_params(emu, limit=1)
            assert [cl.get("/api/2.0/export", params=p).status_code for _ in range(3)] == [200] * 3
            r = cl.get("/api/2.0/export", params=p)
            assert r.status_code == 429 and r.headers["retry-after"] == "1"
            assert r.json()["request"].startswith("/api/2.0/export?")
            assert f"project_id: {c.project_id}" in r.json()["error"]
            clock.now += 1.5
            assert [cl.get("/api/2.0/export", params=p).status_code for _ in range(2)] == [200] * 2
            clock.now += 10
            r = cl.get("/api/2.0/export", params=p)  # 6th in the hour
            assert r.status_code == 429
            assert r.headers["retry-after"] == str(3600 - 10 - 1)  # until the first request leaves the window
            assert "6/5 queries in the last hour" in r.json()["error"]
            clock.now += 3600
            assert cl.get("/api/2.0/export", params=p).status_code == 200
            emu.retry_after = False
            emu.rate_limits = ServerLimits(export_per_hour=1)
            r = cl.get("/api/2.0/export", params=p)
            assert r.status_code == 429 and "retry-after" not in r.headers
            emu.reset()
            assert cl.get("/api/2.0/export", params=p).status_code == 200
            emu.rate_limits = ServerLimits.unlimited()
            assert all(cl.get("/api/2.0/export", params=p).status_code == 200 for _ in range(10))


def test_auth_failures_do_not_use_budget() -> None:
    with Emulator(seed=3, days=2, users=30, rate_limits=ServerLimits(export_per_hour=1)) as emu:
        p = export_params(emu, limit=1)
        for _ in range(3):
            assert httpx.get(emu.url + "/api/2.0/export", params=p).status_code == 401
        c = emu.credentials
        assert httpx.get(emu.url + "/api/2.0/export", params=p, auth=(c.username, c.secret)).status_code == 200


def test_concurrency_limits_unit() -> None:
    clock = Clock()
    lim = RateLimiter(clock)
    limits = ServerLimits(query_per_hour=100, query_concurrent=2, export_concurrent=1, export_per_second=None)
    assert lim.admit("query", 1, limits).ok and lim.admit("query", 1, limits).ok
    adm = lim.admit("query", 1, limits)
    assert not adm.ok and adm.retry_after == 1
    assert adm.message.startswith(
        "Query rate limit exceeded for project_id: 1. 3/2 queries running concurrently "
        "and 3/100 queries running in the last hour."
    )
    assert lim.admit("query", 2, limits).ok  # per project
    lim.release("query", 1)
    assert lim.admit("query", 1, limits).ok
    assert lim.admit("export", 1, limits).ok
    adm = lim.admit("export", 1, limits)
    assert not adm.ok and adm.message == "too many export requests in progress for this project"


def test_concurrent_export_over_http_is_released() -> None:
    with Emulator(
        seed=3,
        days=2,
        users=30,
        rate_limits=ServerLimits(export_concurrent=2, export_per_second=None, export_per_hour=None),
    ) as emu:
        c = emu.credentials
        p = export_params(emu)
        codes: list[int] = []

        def one() -> None:
            codes.append(httpx.get(emu.url + "/api/2.0/export", params=p, auth=(c.username, c.secret)).status_code)

        threads = [threading.Thread(target=one) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert set(codes) <= {200, 429} and 200 in codes
        assert httpx.get(emu.url + "/api/2.0/export", params=p, auth=(c.username, c.secret)).status_code == 200
