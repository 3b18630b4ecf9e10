"""A request cut short by Ctrl-C (mpsql.interrupt) stays in mp_requests(), marked cancelled."""

from __future__ import annotations

import threading

import duckdb
import pytest

import mpsql


def run_interrupted(con, sql: str, after: float = 0.3) -> None:
    timer = threading.Timer(after, lambda: mpsql.interrupt(con))
    timer.start()
    try:
        with pytest.raises(duckdb.Error):
            con.execute(sql).fetchall()
    finally:
        timer.cancel()


def requests(con) -> list[tuple]:
    return con.execute("SELECT endpoint, status, error FROM mp_requests() WHERE account = 'test'").fetchall()


def test_a_report_request_cancelled_while_waiting_for_the_answer_is_listed_as_cancelled(con, emulator):
    emulator.latency = 1.0
    run_interrupted(con, "SELECT * FROM mp_events()")
    assert requests(con)[-1] == ("/events/names", None, "cancelled")


def test_an_export_cancelled_mid_request_is_listed_as_cancelled(con, emulator):
    emulator.latency = 1.0
    run_interrupted(con, "SELECT * FROM mp_export('2024-03-30', '2024-03-31', store := 'off')")
    assert requests(con)[-1] == ("/export", None, "cancelled")


def test_answered_requests_are_not_marked(con, emulator):
    con.execute("SELECT * FROM mp_events()").fetchall()
    emulator.latency = 1.0
    run_interrupted(con, "SELECT * FROM mp_top_events()")
    shown = requests(con)
    assert shown[-2] == ("/events/names", 200, None)
    assert shown[-1][2] == "cancelled"
