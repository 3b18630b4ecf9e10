"""The sql/ property helpers: any property name, typed reads, NULL (never an error) on a mismatch."""

from __future__ import annotations

import datetime as dt
import json

import pytest

import mpsql

PROPS = json.dumps({
    "$browser": "Chrome", "a/b": 1, "t~x": "tilde", "a.b": 7, "amount": 12.5, "whole": 3.0, "text_num": "4.25",
    "in_stock": True, "flag_text": "false", "tags": ["sale", "🔥", 2], "created": "2024-01-05T11:20:47",
    "epoch_s": 1_700_000_000, "epoch_ms": 1_700_000_000_123, "cart": {"currency": "EUR", "items": 2},
    "nothing": None,
})


@pytest.fixture(scope="module")
def db():
    con = mpsql.connect()
    yield con
    con.close()


def one(db, expr: str):
    return db.execute(f"SELECT {expr}", [PROPS]).fetchall()[0][0]


@pytest.mark.parametrize(("expr", "expected"), [
    ("mp_prop($1, '$browser')", "Chrome"),
    ("mp_prop($1, 'a/b')", "1"),
    ("mp_prop($1, 't~x')", "tilde"),
    ("mp_prop($1, 'a.b')", "7"),  # a dot is part of the name, not a path
    ("mp_prop($1, 'missing')", None),
    ("mp_prop($1, 'nothing')", None),
    ("mp_prop($1, 'cart')", '{"currency":"EUR","items":2}'),
    ("mp_prop_num($1, 'amount')", 12.5),
    ("mp_prop_num($1, 'text_num')", 4.25),
    ("mp_prop_num($1, '$browser')", None),
    ("mp_prop_int($1, 'whole')", 3),
    ("mp_prop_int($1, 'amount')", None),
    ("mp_prop_bool($1, 'in_stock')", True),
    ("mp_prop_bool($1, 'flag_text')", False),
    ("mp_prop_bool($1, '$browser')", None),
    ("mp_prop_time($1, 'created')", dt.datetime(2024, 1, 5, 11, 20, 47)),
    ("mp_prop_time($1, 'epoch_s')", dt.datetime(2023, 11, 14, 22, 13, 20)),
    ("mp_prop_time($1, 'epoch_ms')", dt.datetime(2023, 11, 14, 22, 13, 20, 123000)),
    ("mp_prop_time($1, 'in_stock')", None),
    ("mp_prop_list($1, 'tags')", ["sale", "🔥", "2"]),
    ("mp_prop_list($1, '$browser')", None),
    ("mp_prop_json($1, 'cart')->>'$.currency'", "EUR"),
])
def test_property_helpers(db, expr, expected):
    assert one(db, expr) == expected


def test_helpers_work_on_exported_events(con):
    rows = con.execute("SELECT mp_prop(properties, '$browser') AS b, count(*) FROM mp_export('2024-03-04', "
                       "'2024-03-04') GROUP BY ALL").fetchall()
    assert {b for b, _ in rows} <= {"Chrome", "Safari", "Firefox", "Edge", "Mobile Safari", "Chrome Mobile"}
    assert sum(n for _, n in rows) > 100


def test_an_iso_time_with_an_offset_is_read_in_utc_like_epoch_times(db):
    props = json.dumps({"zoned": "2024-01-05T11:20:47+02:00", "utc": "2024-01-05T09:20:47Z", "epoch": 1704446447})
    got = db.execute("SELECT mp_prop_time($1, 'zoned'), mp_prop_time($1, 'utc'), mp_prop_time($1, 'epoch')",
                     [props]).fetchall()[0]
    assert got == (dt.datetime(2024, 1, 5, 9, 20, 47),) * 3
