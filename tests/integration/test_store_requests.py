"""What a long export costs in requests: Mixpanel allows 60 export requests an hour, so they are counted."""

from __future__ import annotations

import datetime as dt

import mpsql
from mpsql.api.ratelimit import RateLimits
from mpsql.config import Account, Secret
from mpsql.connection import context_of
from mpsql.emulator import Emulator, ServerLimits
from mpsql.functions import export
from tests.integration.test_export import deduped


def test_the_whole_demo_project_is_exported_in_at_most_two_requests(demo_days):
    from mpsql.demo import demo_emulator

    con = mpsql.connect(demo=True)
    try:
        emu = demo_emulator()
        before = len([r for r in emu.requests if r.path.endswith("/export")])
        n = con.execute("SELECT count(*) FROM mp_export(current_date - 90, current_date - 1)").fetchone()[0]
        requests = [r for r in emu.requests if r.path.endswith("/export")][before:]
        print(f"\n90-day demo project: {n} events in {len(requests)} export requests")
        assert n > 200_000
        assert len(requests) <= 2
        again = con.execute("SELECT count(*) FROM mp_export(current_date - 90, current_date - 1)").fetchone()[0]
        assert again == n
        assert len([r for r in emu.requests if r.path.endswith("/export")][before:]) == len(requests)
    finally:
        con.close()


def test_a_year_of_a_dense_project_takes_far_fewer_requests_than_days(monkeypatch):
    # Dense relative to what one request may carry: the target is lowered so a small synthetic year is "dense"
    # (the real target is 250,000 events a request; the planner only sees the ratio).
    monkeypatch.setattr(export, "TARGET_WINDOW_ROWS", 3_000)
    today = dt.date(2025, 1, 1)
    with Emulator(seed=11, today=today, days=366, users=120, rate_limits=ServerLimits.unlimited()) as emu:
        c = emu.credentials
        account = Account(name="dense", username=c.username, secret=Secret(c.secret), project_id=c.project_id,
                          api_url=emu.url)
        con = mpsql.connect(account=account, rate_limits=RateLimits.unlimited())
        context_of(con).today = lambda: today
        try:
            n = con.execute("SELECT count(*) FROM mp_export('2024-01-01', '2024-12-31')").fetchone()[0]
        finally:
            con.close()
        requests = [r for r in emu.requests if r.path.endswith("/export")]
        expected = len(deduped(emu.dataset.export_records(dt.date(2024, 1, 1), dt.date(2024, 12, 31), time_in_ms=True)))
    per_request = expected / len(requests)
    print(f"\na dense year: {n} events, 366 days, {len(requests)} export requests ({per_request:,.0f} a request)")
    assert n == expected > 3_000 * 5
    assert len(requests) <= 366 // 20
