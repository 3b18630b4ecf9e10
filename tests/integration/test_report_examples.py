"""Every report response example of Mixpanel's query.openapi.yaml, served as-is, parses to the documented rows.

The examples come from the fixtures under tests/fixtures/openapi/query/ (extracted verbatim from the spec). Each
is served by the session emulator at its path in place of the emulator's own answer (``serve_example``), then
read through the mp_* function that covers the endpoint; the expected rows are written out by hand from the
example. The profile and discovery examples are read by their functions in test_discovery_examples.py; every
example, report or not, also comes back unchanged through ``mp_query``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

import pytest

from mpsql.emulator.proto import Response, Route
from tests.conftest import OPENAPI, openapi_example

UTC = dt.UTC


def query_examples() -> list[dict[str, Any]]:
    with open(os.path.join(OPENAPI, "index.json"), encoding="utf-8") as f:
        return [e for e in json.load(f)["examples"] if e["spec"] == "query"]


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


# -- the documented rows of each example ------------------------------------------------------------------------

NUMERIC = {  # /segmentation/numeric: bucket -> {date: n}; absent dates are 0 in the rows
    "2,000 - 2,100": {"2011-08-06": 1, "2011-08-07": 5, "2011-08-08": 4, "2011-08-09": 15},
    "2,100 - 2,200": {"2011-08-07": 2, "2011-08-08": 7, "2011-08-09": 15},
    "2,200 - 2,300": {"2011-08-06": 1, "2011-08-08": 6, "2011-08-09": 5},
    "2,300 - 2,400": {"2011-08-06": 4, "2011-08-08": 1, "2011-08-09": 12},
    "2,400 - 2,500": {"2011-08-08": 2, "2011-08-09": 5},
}
FREQUENCY = {
    "2012-01-01": [305, 107, 60, 41, 32, 20, 12, 7, 4, 3, 3, 3, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1],
    "2012-01-02": [495, 204, 117, 77, 53, 36, 26, 20, 12, 7, 4, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0],
}
STREAM_ID = "12a34aa567eb8d-9ab1c26f345b67-89123c45-6aeaa7-89f12af345f678"

CASES: dict[tuple[str, str], tuple[str, list[tuple[Any, ...]]]] = {
    # (method, path) -> (SQL, expected rows in order)
    ("GET", "/segmentation"): (
        "SELECT * FROM mp_segmentation('Signed up', '2011-08-06', '2011-08-09')",
        # series arrive out of order; rows are sorted by date
        [(ts("2011-08-06"), "Signed up", 147.0), (ts("2011-08-07"), "Signed up", 146.0),
         (ts("2011-08-08"), "Signed up", 776.0), (ts("2011-08-09"), "Signed up", 1376.0)]),
    ("GET", "/segmentation/numeric"): (
        "SELECT * FROM mp_segmentation_numeric('Purchase', '2011-08-06', '2011-08-09', 'properties[\"amount\"]')",
        [(ts(day), bucket, float(NUMERIC[bucket].get(day, 0)))
         for day in ("2011-08-06", "2011-08-07", "2011-08-08", "2011-08-09") for bucket in NUMERIC]),
    ("GET", "/segmentation/sum"): (
        "SELECT * FROM mp_segmentation_sum('Purchase', '2019-10-06', '2019-10-07', 'properties[\"amount\"]')",
        [(ts("2019-10-06"), 7.0), (ts("2019-10-07"), 4.0)]),
    ("GET", "/segmentation/average"): (
        "SELECT * FROM mp_segmentation_average('Purchase', '2011-08-06', '2011-08-09', 'properties[\"amount\"]')",
        [(ts("2011-08-06"), 8.64705882352939), (ts("2011-08-07"), 4.640625), (ts("2011-08-08"), 3.6230899830221),
         (ts("2011-08-09"), 7.3353658536585)]),
    ("GET", "/events"): (
        "SELECT * FROM mp_event_counts(['account-page', 'splash features'], '2010-05-29', '2010-05-31')",
        [(ts("2010-05-29"), "account-page", 0.0), (ts("2010-05-29"), "splash features", 6.0),
         (ts("2010-05-30"), "account-page", 1.0), (ts("2010-05-30"), "splash features", 4.0),
         (ts("2010-05-31"), "account-page", 0.0), (ts("2010-05-31"), "splash features", 5.0)]),
    ("GET", "/events/properties"): (
        "SELECT * FROM mp_property_counts('Viewed page', 'section', '2010-05-29', '2010-05-31')",
        [(ts("2010-05-29"), "splash features", 6.0), (ts("2010-05-30"), "splash features", 4.0),
         (ts("2010-05-31"), "splash features", 5.0)]),
    ("GET", "/funnels"): (
        "SELECT * FROM mp_funnel(7509, '2016-09-12', '2016-10-02', unit := 'week')",
        # the custom-event step reads as its label, "Game Played"
        [(d("2016-09-12"), "$overall", 1, "App Open", 32688, 1.0, 1.0, 2.0),
         (d("2016-09-12"), "$overall", 2, "Game Played", 20524, 0.627875673029858, 0.627875673029858, 133.0),
         (d("2016-09-19"), "$overall", 1, "App Open", 32486, 1.0, 1.0, 10.0),
         (d("2016-09-19"), "$overall", 2, "Game Played", 20809, 0.6405528535369082, 0.6405528535369082, 75.0),
         (d("2016-09-26"), "$overall", 1, "App Open", 16103, 1.0, 1.0, 10.0),
         (d("2016-09-26"), "$overall", 2, "Game Played", 12679, 0.7873688132646091, 0.7873688132646091, 571.0)]),
    ("GET", "/retention"): (
        "SELECT * FROM mp_retention('Added to cart', '2012-01-01', '2012-01-03', interval_count := 2)",
        [(d("2012-01-01"), "$overall", 2, 0, 2, 1.0), (d("2012-01-01"), "$overall", 2, 1, 1, 0.5),
         (d("2012-01-01"), "$overall", 2, 2, 2, 1.0),
         (d("2012-01-02"), "$overall", 10, 0, 9, 0.9), (d("2012-01-02"), "$overall", 10, 1, 7, 0.7),
         (d("2012-01-02"), "$overall", 10, 2, 6, 0.6),
         (d("2012-01-03"), "$overall", 10, 0, 9, 0.9), (d("2012-01-03"), "$overall", 10, 1, 6, 0.6),
         (d("2012-01-03"), "$overall", 10, 2, 4, 0.4)]),
    ("GET", "/retention/addiction"): (
        "SELECT * FROM mp_frequency('2012-01-01', '2012-01-02')",
        [(d(day), "$overall", i + 1, n) for day, users in FREQUENCY.items() for i, n in enumerate(users)]),
    ("GET", "/insights"): (
        "SELECT * FROM mp_insight(12345)",
        # the -07:00 offset is dropped: wall-clock bucket starts, like every other report
        [(ts("2020-08-31"), "Logged in", "$overall", 9852.0), (ts("2020-08-31"), "Viewed page", "$overall", 10246.0),
         (ts("2020-09-07"), "Logged in", "$overall", 4325.0), (ts("2020-09-07"), "Viewed page", "$overall", 11432.0)]),
    ("GET", "/stream/query"): (
        f"SELECT distinct_id, event, time, properties::VARCHAR FROM mp_activity(['{STREAM_ID}'], "
        "from_date := '2020-09-01', to_date := '2020-09-30')",
        [(STREAM_ID, "Game Played", dt.datetime(2020, 9, 8, 18, 24, 13, tzinfo=UTC),
          {"time": 1599589453, "$distinct_id": STREAM_ID, "$browser": "Chrome", "$city": "Austin",
           "$region": "Texas", "report_name": "insights"}),
         (STREAM_ID, "Viewed Page", dt.datetime(2020, 9, 8, 18, 24, 30, tzinfo=UTC),
          {"time": 1599589470, "distinct_id": STREAM_ID, "$browser": "Chrome", "$city": "Austin",
           "$region": "Texas", "report_name": "funnels"})]),
}


def _decoded(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """JSON text columns (the last column of the activity and profile cases) as Python objects."""
    return [tuple(json.loads(v) if isinstance(v, str) and v.startswith("{") else v for v in row) for row in rows]


# Examples of endpoints that are not reports, read by mp_profiles and the discovery functions in
# test_discovery_examples.py.
NOT_REPORTS = {("POST", "/engage"), ("POST", "/cohorts/list"), ("GET", "/funnels/list"), ("GET", "/events/top"),
               ("GET", "/events/names"), ("GET", "/events/properties/top"), ("GET", "/events/properties/values")}


def test_every_query_example_is_covered():
    served = {(e["method"], e["path"]) for e in query_examples()}
    assert set(CASES) == served - NOT_REPORTS
    assert served >= NOT_REPORTS


@pytest.mark.parametrize(("method", "path"), sorted(CASES))
def test_example_served_as_is_parses_to_the_documented_rows(con, emulator, serve_example, method, path):
    serve_example("query", method, path)
    sql, expected = CASES[(method, path)]
    assert _decoded(con.execute(sql).fetchall()) == expected
    assert [r.path for r in emulator.requests] == ["/api/query" + path]


@pytest.mark.parametrize(("method", "path"), sorted((e["method"], e["path"]) for e in query_examples()))
def test_mp_query_returns_each_example_body_unchanged(con, emulator, serve_example, method, path):
    body = serve_example("query", method, path)
    (response,) = con.execute("SELECT response::VARCHAR FROM mp_query(?, method := ?)", [path, method]).fetchone()
    assert json.loads(response) == body
    assert [(r.method, r.path) for r in emulator.requests] == [(method, "/api/query" + path)]


def test_the_funnel_example_keeps_every_documented_step_field_it_maps(con, serve_example):
    """step_conversion is against the previous step, overall_conversion against step 1 (equal for 2 steps)."""
    serve_example("query", "GET", "/funnels")
    rows = con.execute("SELECT step, count, step_conversion, overall_conversion FROM mp_funnel(7509, '2016-09-12', "
                       "'2016-10-02', unit := 'week') WHERE date = DATE '2016-09-12'").fetchall()
    assert rows == [(1, 32688, 1.0, 1.0), (2, 20524, 20524 / 32688, 20524 / 32688)]


def test_the_frequency_example_without_its_data_wrapper_reads_the_same(con, emulator):
    """The prose page shows the addiction answer without the spec's ``data`` wrapper (docs/mixpanel-api.md,
    "Retention and frequency")."""
    saved = dict(emulator.routes)
    bare = openapi_example("query", "GET", "/retention/addiction")["data"]
    emulator.add_route("/api/query/retention/addiction", Route(lambda emu, req: Response(json=bare), "query"))
    try:
        rows = con.execute("SELECT date, frequency, users FROM mp_frequency('2012-01-01', '2012-01-02')").fetchall()
    finally:
        emulator.routes.clear()
        emulator.routes.update(saved)
    assert rows == [(d(day), i + 1, n) for day, users in FREQUENCY.items() for i, n in enumerate(users)]
