"""The demo project says which days it holds, and says so when a query asks for days it does not hold."""

from __future__ import annotations

import datetime as dt

import pytest

import mpsql
from mpsql.demo import demo_range, range_notice


@pytest.fixture(scope="module")
def demo_con(_demo_days_made):
    notices: list[str] = []
    con = mpsql.connect(demo=True, notice=notices.append)
    yield con, notices
    con.close()


def test_the_demo_holds_the_90_days_ending_yesterday():
    today = dt.datetime.now(dt.UTC).date()
    assert demo_range() == (today - dt.timedelta(days=90), today - dt.timedelta(days=1))


def test_a_range_wholly_outside_the_demo_data_gets_a_notice_naming_the_demos_days(demo_con):
    con, notices = demo_con
    notices.clear()
    assert con.execute("SELECT count(*) FROM mp_export('2024-01-01', '2024-01-07')").fetchone() == (0,)
    first, last = demo_range()
    assert notices == [f"mp_export: the demo project holds data from {first} to {last} only; "
                       "2024-01-01 .. 2024-01-07 has none (try current_date - 30 to current_date - 1)"]


def test_report_functions_get_the_notice_too(demo_con):
    con, notices = demo_con
    notices.clear()
    con.execute("SELECT * FROM mp_event_counts(['Purchase'], '2024-01-01', '2024-01-02')").fetchall()
    assert len(notices) == 1 and notices[0].startswith("mp_event_counts: the demo project holds data from")


def test_a_range_overlapping_the_demo_data_gets_none(demo_con):
    con, notices = demo_con
    notices.clear()
    first, _ = demo_range()
    con.execute(f"SELECT count(*) FROM mp_event_counts(['Purchase'], DATE '{first}' - 5, DATE '{first}')").fetchall()
    assert notices == []


def test_range_notice_only_for_ranges_with_no_demo_day():
    first, last = demo_range()
    assert range_notice("f", first, last) is None
    assert range_notice("f", last, last + dt.timedelta(days=3)) is None
    assert range_notice("f", last + dt.timedelta(days=1), last + dt.timedelta(days=3)) is not None
    assert range_notice("f", "not a date", "2024-01-01") is None


def test_the_cli_banner_names_the_demos_days():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "mpsql", "--demo", "-c", "SELECT 1"], capture_output=True,
                          text=True, timeout=60)
    first, last = demo_range()
    assert proc.stderr.splitlines()[0] == (f"mpsql: using the built-in demo project: synthetic data from {first} to "
                                           f"{last} (the 90 days ending yesterday, UTC), served by a local emulator")
