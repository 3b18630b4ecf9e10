"""How report functions treat Mixpanel's answers beyond the happy path: the brief cache, error answers, odd shapes."""

from __future__ import annotations

import duckdb
import pytest

from mpsql.api.client import REQUEST_LOG
from mpsql.connection import context_of
from mpsql.emulator.proto import Response, Route
from mpsql.errors import MpsqlError, QueryError

SEGMENTATION = "SELECT * FROM mp_segmentation('Purchase', '2024-03-04', '2024-03-05')"


@pytest.fixture(autouse=True)
def _empty_request_log():
    REQUEST_LOG.clear()


@pytest.fixture
def answer(emulator):
    """``answer(path, body)`` serves ``body`` at a Query API path; the route table is restored after."""
    saved = dict(emulator.routes)

    def answer(path: str, body: object, status: int = 200) -> None:
        emulator.add_route("/api/query" + path,
                           Route(lambda emu, req: Response(status=status, json=body), "query", ("GET", "POST")))

    yield answer
    emulator.routes.clear()
    emulator.routes.update(saved)


def test_an_identical_report_request_is_answered_from_the_cache(con, emulator):
    first = con.execute(SEGMENTATION).fetchall()
    assert con.execute(SEGMENTATION).fetchall() == first
    assert len(emulator.requests) == 1
    log = con.execute("SELECT endpoint, cache_hit, rows FROM mp_requests()").fetchall()
    assert log == [("/segmentation", False, 2), ("/segmentation", True, 2)]


def test_a_different_report_request_is_not(con, emulator):
    con.execute(SEGMENTATION).fetchall()
    con.execute("SELECT * FROM mp_segmentation('Purchase', '2024-03-04', '2024-03-05', type := 'unique')").fetchall()
    assert len(emulator.requests) == 2


def test_cache_ttl_zero_turns_the_report_cache_off(con, emulator, monkeypatch):
    monkeypatch.setenv("MPSQL_CACHE_TTL", "0")
    con.execute(SEGMENTATION).fetchall()
    con.execute(SEGMENTATION).fetchall()
    assert len(emulator.requests) == 2


def test_the_request_carries_mixpanels_parameter_names(con, emulator):
    con.execute("SELECT * FROM mp_segmentation('Purchase', '2024-03-04', '2024-03-05', "
                "by := 'properties[\"currency\"]', filter := 'properties[\"amount\"] > 10', top := 3, unit := 'week')"
                ).fetchall()
    (request,) = emulator.requests
    assert request.path == "/api/query/segmentation"
    assert {k: v for k, v in request.params.items() if k != "project_id"} == {
        "event": "Purchase", "from_date": "2024-03-04", "to_date": "2024-03-05", "on": 'properties["currency"]',
        "where": 'properties["amount"] > 10', "limit": "3", "unit": "week", "type": "general"}


def test_event_counts_sends_its_events_as_a_json_array(con, emulator):
    con.execute("SELECT * FROM mp_event_counts('Purchase', '2024-03-04', '2024-03-04')").fetchall()
    assert emulator.requests[0].params["event"] == '["Purchase"]'


def test_compounded_retention_sends_the_positional_event_as_the_returning_event(con, emulator):
    con.execute("SELECT * FROM mp_retention('Login', '2024-03-04', '2024-03-04', retention_type := 'compounded')"
                ).fetchall()
    params = emulator.requests[0].params
    assert params["event"] == "Login" and "born_event" not in params


def test_retention_sends_unit_or_interval_never_both(con, emulator):
    con.execute("SELECT * FROM mp_retention('Login', '2024-03-04', '2024-03-04', retention_type := 'compounded', "
                "interval := 2)").fetchall()
    params = emulator.requests[0].params
    assert params["interval"] == "2" and "unit" not in params


def test_a_mixpanel_error_is_raised_with_its_message(con, emulator):
    with pytest.raises(duckdb.Error, match="Funnel 424242 not found"):
        con.execute("SELECT * FROM mp_funnel(424242, '2024-03-04', '2024-03-05')").fetchall()
    assert isinstance(context_of(con).last_error, QueryError)


def test_insights_failing_softly_with_http_200_is_an_error_not_rows(con, answer):
    answer("/insights", {"error": "Unable to compute this report"})
    with pytest.raises(duckdb.Error, match="Unable to compute this report"):
        con.execute("SELECT * FROM mp_insight(1)").fetchall()


def test_an_answer_of_the_wrong_shape_fails_clearly_rather_than_giving_wrong_rows(con, answer):
    answer("/segmentation", {"series": ["2024-03-04"]})
    with pytest.raises(duckdb.Error, match=r"no data\.values object"):
        con.execute(SEGMENTATION).fetchall()
    answer("/funnels", [1, 2])
    with pytest.raises(duckdb.Error, match="JSON list, expected an object"):
        con.execute("SELECT * FROM mp_funnel(1, '2024-03-04', '2024-03-05')").fetchall()
    answer("/segmentation/sum", {"results": {"yesterday": 3}})
    with pytest.raises(duckdb.Error, match="bucket key that is not a date: 'yesterday'"):
        con.execute("SELECT * FROM mp_segmentation_sum('Purchase', '2024-03-04', '2024-03-05', 'properties[\"a\"]')"
                    ).fetchall()
    assert isinstance(context_of(con).last_error, MpsqlError)


def test_hourly_buckets_keep_their_time(con, answer):
    answer("/segmentation", {"data": {"series": ["2024-03-04 01:00:00", "2024-03-04 00:00:00"],
                                      "values": {"Purchase": {"2024-03-04 00:00:00": 2, "2024-03-04 01:00:00": 5}}},
                             "legend_size": 1})
    rows = con.execute("SELECT strftime(date, '%H:%M'), value FROM mp_segmentation('Purchase', '2024-03-04', "
                       "'2024-03-04', unit := 'hour')").fetchall()
    assert rows == [("00:00", 2.0), ("01:00", 5.0)]


def test_segmented_funnel_steps_may_also_come_wrapped_in_a_steps_object(con, answer):
    step = {"count": 4, "step_conv_ratio": 1, "overall_conv_ratio": 1, "avg_time": None, "event": "A", "goal": "A"}
    answer("/funnels", {"meta": {"dates": ["2024-03-04"]},
                        "data": {"2024-03-04": {"Chrome": {"steps": [step]}, "$overall": [dict(step, count=9)]}}})
    rows = con.execute("SELECT segment, step, event, count FROM mp_funnel(1, '2024-03-04', '2024-03-04', "
                       "by := 'properties[\"$browser\"]')").fetchall()
    assert rows == [("$overall", 1, "A", 9), ("Chrome", 1, "A", 4)]


def test_insights_with_two_breakdowns_join_segment_values(con, answer):
    answer("/insights", {"headers": ["$event", "country", "$browser"], "series": {"Login": {
        "$overall": {"2024-03-04T00:00:00+01:00": 10},
        "US": {"$overall": {"2024-03-04T00:00:00+01:00": 6}, "Chrome": {"2024-03-04T00:00:00+01:00": 4}}}}})
    rows = con.execute("SELECT date, metric, segment, value FROM mp_insight(5)").fetchall()
    assert [r[1:] for r in rows] == [("Login", "$overall", 10.0), ("Login", "US", 6.0), ("Login", "US / Chrome", 4.0)]
    assert {str(r[0]) for r in rows} == {"2024-03-04 00:00:00"}  # the wall clock of the project's offset


def test_flows_in_mixpanels_sankey_shape_give_nodes_and_edges(con, answer):
    """The shape Mixpanel's web app reads: counts as text, node types, edges to the next step."""
    answer("/arb_funnels", {"computed_at": "2024-03-04T00:00:00", "overallConversionRate": 0.3, "breakdowns": [],
                            "steps": [
        {"nodes": [{"event": "Login", "type": "ANCHOR", "totalCount": "100", "edges": [
            {"event": "Search", "type": "NORMAL", "step": 1, "totalCount": "70"},
            {"event": "$dropoff", "type": "DROPOFF", "step": 1, "totalCount": "30"}]}]},
        {"nodes": [{"event": "Search", "type": "NORMAL", "totalCount": "70", "edges": []},
                   {"event": "$dropoff", "type": "DROPOFF", "totalCount": "30"}]}]})
    rows = con.execute("SELECT * FROM mp_flows(1)").fetchall()
    assert rows == [
        ("node", 0, "Login", "ANCHOR", None, None, None, 100),
        ("edge", 0, "Login", "ANCHOR", 1, "Search", "NORMAL", 70),
        ("edge", 0, "Login", "ANCHOR", 1, "$dropoff", "DROPOFF", 30),
        ("node", 1, "Search", "NORMAL", None, None, None, 70),
        ("node", 1, "$dropoff", "DROPOFF", None, None, None, 30),
    ]


def test_a_flows_step_with_a_drop_off_of_zero_gives_a_zero_row_like_any_other_count(con, answer):
    answer("/arb_funnels", {"steps": [
        {"nodes": [{"event": "Login", "type": "ANCHOR", "count": 5, "edges": []}], "dropoff": 0},
        {"nodes": [{"event": "Search", "type": "NORMAL", "count": 5, "edges": []}], "dropoff": 2}]})
    rows = con.execute("SELECT step, count FROM mp_flows(1) WHERE type = 'DROPOFF' ORDER BY step").fetchall()
    assert rows == [(0, 0), (1, 2)]


def test_a_200_answer_that_is_not_json_fails_without_echoing_the_secret(con, emulator, account):
    secret = account.secret.reveal()
    saved = dict(emulator.routes)
    emulator.add_route("/api/query/segmentation", Route(lambda emu, req: Response(text=f"<html>{secret}</html>"),
                                                        "query", ("GET",)))
    try:
        with pytest.raises(duckdb.Error, match="not JSON"):
            con.execute(SEGMENTATION).fetchall()
    finally:
        emulator.routes.clear()
        emulator.routes.update(saved)
    error = context_of(con).last_error
    assert isinstance(error, QueryError) and secret not in str(error) + error.body


def test_jql_gives_one_json_row_per_element(con, answer, emulator):
    answer("/jql", [{"key": ["a"], "value": 1}, 7, "x", None])
    rows = con.execute("SELECT value::VARCHAR FROM mp_jql('function main() { return 1 }', "
                       "params := {'x': [1, 2]})").fetchall()
    assert rows == [('{"key":["a"],"value":1}',), ("7",), ('"x"',), (None,)]  # a JSON null is SQL NULL
    (request,) = emulator.requests
    assert request.method == "POST" and request.params["params"] == '{"x":[1,2]}'


def test_mp_query_reaches_the_app_api_by_prefix(con, emulator):
    (body,) = con.execute("SELECT response->>'$.status' FROM mp_query('/api/app/me')").fetchone()
    assert body is not None
    assert [r.path for r in emulator.requests] == ["/api/app/me"]


REPORTS = ("mp_segmentation", "mp_segmentation_numeric", "mp_segmentation_sum", "mp_segmentation_average",
           "mp_event_counts", "mp_property_counts", "mp_funnel", "mp_retention", "mp_frequency", "mp_activity",
           "mp_insight", "mp_flows", "mp_jql", "mp_query")


def test_every_report_functions_example_runs_and_returns_rows(tmp_path):
    """The examples mp_functions() shows use current_date, so they run against a small emulator living today."""
    import mpsql
    from mpsql.api.ratelimit import RateLimits
    from mpsql.config import Account, Secret
    from mpsql.emulator import Emulator, ServerLimits
    from mpsql.functions import TABLE_FUNCTIONS

    examples = {fn.name: fn.example for fn in TABLE_FUNCTIONS if fn.name in REPORTS}
    assert sorted(examples) == sorted(REPORTS)
    with Emulator(seed=3, days=35, users=150, rate_limits=ServerLimits.unlimited()) as emu:
        creds = emu.credentials
        account = Account(name="today", username=creds.username, secret=Secret(creds.secret),
                          project_id=creds.project_id, api_url=emu.url, source="test")
        c = mpsql.connect(account=account, rate_limits=RateLimits.unlimited())
        try:
            empty = [name for name, sql in examples.items() if not c.execute(sql).fetchall()]
        finally:
            c.close()
    assert empty == []


@pytest.mark.parametrize(("node", "needle"), [
    ({"event": "Login", "type": "ANCHOR", "count": 10**40}, "where a count was expected"),
    ({"event": "Login", "type": "ANCHOR", "count": 1e400}, "where a count was expected"),  # JSON's 1e400 is inf
    ({"event": "Login", "type": "ANCHOR", "count": 1, "edges": [{"event": "x", "step": 10**12, "count": 1}]},
     "does not fit the column next_step"),
])
def test_a_value_no_column_can_hold_is_an_invalid_answer_not_a_crash(con, answer, node, needle):
    """A hostile or broken answer: numbers past BIGINT/INTEGER fail the statement by name, never as a traceback."""
    answer("/arb_funnels", {"steps": [{"nodes": [node]}]})
    with pytest.raises(duckdb.Error, match=needle):
        con.execute("SELECT * FROM mp_flows(1)").fetchall()
    assert isinstance(context_of(con).last_error, MpsqlError)


def test_a_flows_answer_without_steps_is_an_error_not_zero_rows(con, answer):
    answer("/arb_funnels", {"computed_at": "2024-03-31"})
    with pytest.raises(duckdb.Error, match="has no 'steps'"):
        con.execute("SELECT * FROM mp_flows(1)").fetchall()


def test_a_flows_answer_with_no_steps_is_zero_rows(con, answer):
    answer("/arb_funnels", {"steps": []})
    assert con.execute("SELECT count(*) FROM mp_flows(1)").fetchone() == (0,)
