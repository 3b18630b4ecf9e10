"""mpsql.interrupt(con) stops a running statement: HTTP transfers, retry sleeps and rate-budget waits included."""

from __future__ import annotations

import threading

import duckdb

import mpsql
from mpsql.api.ratelimit import Limits, RateLimits
from mpsql.connection import context_of
from mpsql.emulator import FaultPlan
from mpsql.errors import Cancelled
from tests.conftest import FAST_RETRY, TODAY


def run_in_thread(con, sql: str) -> tuple[threading.Thread, list]:
    outcome: list = []

    def target() -> None:
        try:
            outcome.append(con.execute(sql).fetchall())
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome


def wait_for(predicate, timeout: float = 20) -> None:
    done = threading.Event()
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return
        done.wait(0.02)
    raise AssertionError("condition never held")


def export_requests(emulator) -> int:
    return sum(r.path.endswith("/export") for r in emulator.requests)


def test_interrupt_stops_a_slow_export_mid_download_and_the_connection_answers_next(con, emulator):
    emulator.faults = FaultPlan.drip(delay=0.05, chunk_size=512, times=100)
    thread, outcome = run_in_thread(con, "SELECT count(*) FROM mp_export('2024-01-05', '2024-03-30', "
                                         "window_days := 1)")
    wait_for(lambda: context_of(con).running)
    threading.Event().wait(0.3)  # the first window is still dripping in
    mpsql.interrupt(con)
    thread.join(timeout=20)
    assert not thread.is_alive()
    assert isinstance(outcome[0], duckdb.Error)
    assert isinstance(context_of(con).last_error, Cancelled | KeyboardInterrupt)
    assert export_requests(emulator) <= 1  # of 86 windows
    emulator.faults = FaultPlan()
    assert con.execute("SELECT 42").fetchall() == [(42,)]
    assert con.execute("SELECT count(*) > 0 FROM mp_export('2024-03-04', '2024-03-04')").fetchall() == [(True,)]


def test_interrupt_ends_a_rate_budget_wait(account, emulator):
    # One export request an hour: the second window waits for the budget, then Ctrl-C / interrupt ends it.
    limits = RateLimits(export=Limits(per_hour=1), query=Limits(), app=Limits())
    notices: list[str] = []
    con = mpsql.connect(account=account, rate_limits=limits, retry=FAST_RETRY, notice=notices.append)
    context_of(con).today = lambda: TODAY
    try:
        thread, outcome = run_in_thread(con, "SELECT count(*) FROM mp_export('2024-03-01', '2024-03-02', "
                                             "window_days := 1)")
        wait_for(lambda: any("rate budget" in n for n in notices))
        mpsql.interrupt(con)
        thread.join(timeout=20)
        assert not thread.is_alive()
        assert isinstance(outcome[0], duckdb.Error)
        # (a cancelled transfer of an earlier test may still land in the log: look at this test's windows)
        windows = [r.params["from_date"] for r in emulator.requests if r.path.endswith("/export")
                   and r.params["from_date"].startswith("2024-03-0")]
        assert windows == ["2024-03-01"]
    finally:
        con.close()


def test_interrupt_ends_a_retry_sleep_of_a_report(account, emulator):
    from mpsql.api.retry import RetryPolicy

    slow_retry = RetryPolicy(max_attempts=5, base=30, cap=30, jitter=0, max_retry_after=30)
    con = mpsql.connect(account=account, rate_limits=RateLimits.unlimited(), retry=slow_retry,
                        notice=lambda m: None)
    context_of(con).today = lambda: TODAY
    emulator.faults = FaultPlan.server_error(times=5)
    try:
        thread, outcome = run_in_thread(con, "SELECT * FROM mp_events()")
        wait_for(lambda: len(emulator.requests) >= 1)
        mpsql.interrupt(con)
        thread.join(timeout=20)
        assert not thread.is_alive()
        assert isinstance(outcome[0], duckdb.Error)
        assert len(emulator.requests) == 1
    finally:
        con.close()


def test_an_interrupt_with_nothing_running_does_not_cancel_the_next_statement(con, emulator):
    mpsql.interrupt(con)
    assert con.execute("SELECT count(*) > 0 FROM mp_export('2024-03-04', '2024-03-04')").fetchall() == [(True,)]
    assert len(con.execute("SELECT * FROM mp_events()").fetchall()) > 3


def test_interrupt_stops_profile_paging_mid_page(con, emulator):
    emulator.latency = 0.5  # each page: a slow round trip
    thread, outcome = run_in_thread(con, "SELECT count(*) FROM mp_profiles()")
    wait_for(lambda: context_of(con).running)
    threading.Event().wait(0.2)  # page 0 is still on its way
    mpsql.interrupt(con)
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert isinstance(outcome[0], duckdb.Error)
    assert isinstance(context_of(con).last_error, Cancelled)
    assert sum(r.path.endswith("/engage") for r in emulator.requests) <= 1
