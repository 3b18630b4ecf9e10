"""sql/analysis.sql: quick looks at an events table, on a small hand-made table with known answers."""

from __future__ import annotations

import datetime as dt
import json

import pytest

import mpsql

UTC = dt.UTC
ROWS = [  # event, time, distinct_id, properties
    ("Purchase", dt.datetime(2024, 3, 1, 10, tzinfo=UTC), "a", {"amount": 10, "coupon": None, "$browser": "Chrome"}),
    ("Purchase", dt.datetime(2024, 3, 1, 23, tzinfo=UTC), "b", {"amount": 30, "$browser": "Chrome"}),
    ("Purchase", dt.datetime(2024, 3, 2, 1, tzinfo=UTC), "a", {"amount": "n/a", "$browser": "Safari"}),
    ("Page View", dt.datetime(2024, 3, 2, 2, tzinfo=UTC), "a", {"$browser": "Chrome"}),
    ("Page View", dt.datetime(2024, 3, 2, 3, tzinfo=UTC), "c", {"$browser": "Firefox"}),
]


@pytest.fixture(scope="module")
def db():
    con = mpsql.connect()
    con.execute("CREATE TABLE ev (event VARCHAR, time TIMESTAMPTZ, distinct_id VARCHAR, insert_id VARCHAR, "
                "properties JSON)")
    con.executemany("INSERT INTO ev VALUES (?, ?, ?, NULL, ?)",
                    [(e, t, d, json.dumps(p)) for e, t, d, p in ROWS])
    yield con
    con.close()


def test_event_breakdown(db):
    rows = db.execute("SELECT event, count, unique_users, pct_of_total FROM mp_event_breakdown('ev')").fetchall()
    assert rows == [("Purchase", 3, 2, 60.0), ("Page View", 2, 2, 40.0)]


def test_property_keys(db):
    assert db.execute("SELECT * FROM mp_property_keys('ev', event := 'Purchase')").fetchall() == [
        ("$browser", 3), ("amount", 3), ("coupon", 1)]
    assert db.execute("SELECT * FROM mp_property_keys('ev')").fetchall()[0] == ("$browser", 5)


def test_property_distribution(db):
    assert db.execute("SELECT * FROM mp_property_distribution('ev', 'Purchase', '$browser')").fetchall() == [
        ("Chrome", 2, 66.67), ("Safari", 1, 33.33)]
    assert db.execute("SELECT value FROM mp_property_distribution('ev', 'Purchase', '$browser', top := 1)"
                      ).fetchall() == [("Chrome",)]


def test_numeric_summary_leaves_out_values_that_are_not_numbers(db):
    count, missing, lo, hi, avg, *_, p50, _p75, _p90, _p95, _p99 = db.execute(
        "SELECT * FROM mp_numeric_summary('ev', 'Purchase', 'amount')").fetchall()[0]
    assert (count, missing, lo, hi, avg, p50) == (2, 1, 10.0, 30.0, 20.0, 20.0)


def test_daily_counts_are_utc_days(db):
    assert db.execute("SELECT * FROM mp_daily_counts('ev')").fetchall() == [
        (dt.date(2024, 3, 1), "Purchase", 2), (dt.date(2024, 3, 2), "Page View", 2),
        (dt.date(2024, 3, 2), "Purchase", 1)]
    assert db.execute("SELECT count(*) FROM mp_daily_counts('ev', events := ['Page View'])").fetchall() == [(1,)]


def test_engagement_distribution(db):
    rows = db.execute("SELECT events, users FROM mp_engagement_distribution('ev', buckets := [1, 2, 3])").fetchall()
    assert rows == [("1", 2), ("2", 0), ("3+", 1)]  # b and c did one event, a did three


def test_property_coverage_counts_json_null_as_defined(db):
    assert db.execute("SELECT * FROM mp_property_coverage('ev', 'Purchase', ['amount', 'coupon', 'nope'])"
                      ).fetchall() == [("amount", 3, 3, 100.0), ("coupon", 1, 3, 33.33), ("nope", 0, 3, 0.0)]
