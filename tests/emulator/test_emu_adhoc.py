"""The emulator's ad-hoc report endpoints (POST /insights with a definition, POST /arb_funnels): response shapes,
and a clear 400 for every definition it does not support (docs/mixpanel-api.md, "Ad-hoc reports")."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from tests.emulator.report_helpers import assert_error

TIME = [{"dateRangeType": "between", "unit": "day", "value": ["2024-03-28", "2024-03-30"]}]


def metric(event: str, math: str = "total", prop: str | None = None) -> dict[str, Any]:
    measurement: dict[str, Any] = {"math": math}
    if prop:
        measurement["property"] = {"name": prop, "resourceType": "events"}
    return {"type": "metric", "behavior": {"type": "event", "name": event, "resourceType": "events",
                                           "filtersDeterminer": "all", "filters": []}, "measurement": measurement}


INSIGHTS = {"sections": {"show": [metric("Purchase")], "time": TIME, "filter": [], "group": []},
            "displayOptions": {"chartType": "line"}}
FUNNEL = {"sections": {"show": [{"type": "metric", "behavior": {
    "type": "funnel", "behaviors": [{"type": "event", "name": "View Item"}, {"type": "event", "name": "Purchase"}],
    "conversionWindowDuration": 1, "conversionWindowUnit": "day"}}], "time": TIME},
    "displayOptions": {"chartType": "funnel-steps"}}
RETENTION = {"sections": {"show": [{"type": "metric", "behavior": {
    "type": "retention", "behaviors": [{"type": "event", "name": "Sign Up"}, {"type": "event", "name": "Login"}],
    "retentionUnit": "day", "retentionCustomBucketSizes": [1, 2]}}], "time": TIME},
    "displayOptions": {"chartType": "retention-curve"}}
FLOWS = {"steps": [{"event": "Add to Cart", "forward": 2, "reverse": 0}], "version": 2, "chartType": "sankey",
         "date_range": {"type": "between", "from_date": "2024-03-28", "to_date": "2024-03-30"}}


def post(client: httpx.Client, emu, bookmark: dict[str, Any], path: str = "/api/query/insights",
         **extra: Any) -> httpx.Response:
    return client.post(path, json={"bookmark": bookmark, "project_id": emu.credentials.project_id, **extra})


def changed(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``base`` with the dotted ``path`` (list indexes as numbers) set to ``value``."""
    out = copy.deepcopy(base)
    node: Any = out
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return out


WEEKLY = changed(INSIGHTS, "sections.time.0.unit", "week")


def test_insights_answers_series_with_a_metric_header_and_dated_leaves(client, emu):
    body = post(client, emu, changed(INSIGHTS, "sections.group", [{"value": "$browser"}])).json()
    assert body["headers"] == ["$metric", "$browser"]
    purchase = body["series"]["Purchase"]
    assert list(purchase["$overall"]) == ["2024-03-28T00:00:00+00:00", "2024-03-29T00:00:00+00:00",
                                          "2024-03-30T00:00:00+00:00"]
    browsers = [k for k in purchase if k != "$overall"]
    for day, total in purchase["$overall"].items():  # counts of events add up over the segments
        assert total == sum(purchase[b][day] for b in browsers)
    assert body["meta"]["is_segmentation_limit_hit"] is False


def test_a_hidden_metric_is_left_out_and_a_formula_is_named_by_its_text(client, emu):
    show = [dict(metric("View Item"), isHidden=True), dict(metric("Purchase"), isHidden=True),
            {"type": "formula", "definition": "(B / A) * 100", "measurement": {}, "referencedMetrics": []}]
    series = post(client, emu, changed(INSIGHTS, "sections.show", show)).json()["series"]
    assert list(series) == ["(B / A) * 100"]


def test_a_query_limit_keeps_the_top_segments_and_says_so(client, emu):
    body = post(client, emu, changed(INSIGHTS, "sections.group", [{"value": "$browser"}]),
                queryLimits={"limit": 1}).json()
    assert len(body["series"]["Purchase"]) == 2 and body["meta"]["is_segmentation_limit_hit"] is True


def test_funnel_and_retention_answer_their_series_shapes(client, emu):
    funnel = post(client, emu, FUNNEL).json()["series"]["View Item through Purchase"]
    assert list(funnel["count"]) == ["1. View Item", "2. Purchase"]
    assert funnel["step_conv_ratio"]["1. View Item"] == {"all": 1.0}
    retention = post(client, emu, RETENTION).json()["series"]["Sign Up and then Login"]
    cohort = retention["2024-03-28T00:00:00+00:00"]
    assert len(cohort["counts"]) == 2 and cohort["rates"] == [c / cohort["first"] for c in cohort["counts"]]
    assert "$average" in retention


def test_flows_answer_sankey_steps_with_counts_as_text(client, emu):
    body = post(client, emu, FLOWS, "/api/query/arb_funnels", query_type="flows_sankey").json()
    assert [s["step"] for s in body["steps"]] == [0, 1, 2]
    anchor = body["steps"][0]["nodes"][0]
    assert anchor["event"] == "Add to Cart" and anchor["type"] == "ANCHOR" and isinstance(anchor["totalCount"], str)
    assert sum(int(e["totalCount"]) for e in anchor["edges"]) == int(anchor["totalCount"])


def test_a_form_encoded_definition_is_accepted_too(client, emu):
    import json

    resp = client.post("/api/query/insights", data={"bookmark": json.dumps(INSIGHTS),
                                                    "project_id": emu.credentials.project_id})
    assert resp.status_code == 200 and "Purchase" in resp.json()["series"]


UNSUPPORTED = [
    # (endpoint's base definition, dotted path, value, text of the 400)
    (INSIGHTS, "displayOptions.chartType", "bar", "displayOptions.chartType must be one of line"),
    (INSIGHTS, "sections.show.0.measurement.math", "sessions", "math must be one of total"),
    (INSIGHTS, "sections.show.0.measurement.math", "median", "math median needs measurement.property"),
    (INSIGHTS, "sections.show.0.measurement.perUserAggregation", "average", "perUserAggregation is not supported"),
    (INSIGHTS, "sections.show.0.behavior.type", "cohort", "behavior.type \"cohort\" is not supported"),
    (INSIGHTS, "sections.show", [{"type": "metric", "id": 88}], "saved metrics are not supported"),
    (INSIGHTS, "sections.time.0.unit", "hour", "unit must be one of day, week, month"),
    (INSIGHTS, "sections.time.0.value", ["2024-03-30", "2024-03-28"], "is after to_date"),
    (INSIGHTS, "sections.time.0.value", ["2024-03-30", "2024-04-05"], "to_date cannot be later than today"),
    (INSIGHTS, "sections.time.0.dateRangeType", "since", "dateRangeType \"since\" is not supported"),
    (INSIGHTS, "sections.group", [{"value": "amount", "customBucket": {"bucketSize": 5}}],
     "customBucket breakdowns are not supported"),
    (INSIGHTS, "sections.filter", [{"value": "$cohorts", "filterOperator": "contains", "filterValue": []}],
     "only filters on a named event property"),
    (INSIGHTS, "sections.filter", [{"value": "a", "filterOperator": "was in the", "filterValue": 7}],
     "filterOperator \"was in the\" is not supported"),
    (WEEKLY, "sections.show.0.measurement.math", "wau", "dau, wau and mau are daily"),
    (INSIGHTS, "sections.show", [metric("Purchase"), {"type": "formula", "definition": "B / A"}],
     "B names no event metric"),
    (INSIGHTS, "displayOptions.timeComparison", {"type": "sideways"}, "timeComparison.type must be"),
    (FUNNEL, "sections.show.0.behavior.behaviors", [{"type": "event", "name": "A"}], "2 to 100 steps"),
    (FUNNEL, "sections.show.0.behavior.conversionWindowUnit", "session", "conversionWindowUnit must be one of"),
    (FUNNEL, "sections.show.0.behavior.conversionWindowDuration", 368, "from 1 to 367"),
    (FUNNEL, "sections.show.0.behavior.funnelReentryMode", "aggressive", "funnelReentryMode must be one of default"),
    (FUNNEL, "sections.show.0.behavior.aggregateBy", [{"value": "account_id"}], "aggregateBy"),
    (FUNNEL, "sections.show.0.behavior.exclusions", [{"event": "Logout", "steps": {"from": 2, "to": 2}}],
     "steps.from must be an integer from 1 to 1"),
    (RETENTION, "sections.show.0.behavior.retentionAlignmentType", "interval_start",
     "retentionAlignmentType must be one of birth"),
    (RETENTION, "sections.show.0.behavior.retentionCustomBucketSizes", [3, 1], "strictly ascending"),
    (RETENTION, "sections.show.0.behavior.retentionUnboundedMode", "carry_forward", "retentionUnboundedMode"),
    (RETENTION, "sections.group", [{"value": "a"}, {"value": "b"}], "at most one breakdown"),
]


@pytest.mark.parametrize(("base", "path", "value", "says"), UNSUPPORTED,
                         ids=[f"{p}={str(v)[:20]}" for _, p, v, _ in UNSUPPORTED])
def test_an_unsupported_definition_is_a_400_naming_what_is_wrong(client, emu, base, path, value, says):
    assert_error(post(client, emu, changed(base, path, value)), 400, says, "/api/query/insights")


@pytest.mark.parametrize(("path", "value", "says"), [
    ("steps.0.forward", 6, "steps[0].forward must be an integer from 0 to 5"),
    ("steps.0.forward", 0, "forward or reverse must be at least 1"),
    ("count_type", "session", "count_type must be one of unique"),
    ("version", 1, "version must be an integer from 2 to 2"),
    ("filter_by_cohort", {"id": 1}, "filter_by_cohort is not supported"),
    ("date_range", {"type": "in the last"}, "date_range.type must be between"),
])
def test_an_unsupported_flows_definition_is_a_400(client, emu, path, value, says):
    resp = post(client, emu, changed(FLOWS, path, value), "/api/query/arb_funnels", query_type="flows_sankey")
    assert_error(resp, 400, says, "/api/query/arb_funnels")


def test_a_query_limit_over_fifty_thousand_is_refused_with_mixpanels_text(client, emu):
    resp = post(client, emu, INSIGHTS, queryLimits={"limit": 50_001})
    assert_error(resp, 400, "Query limit exceeds max limit of 50000 (50001 was given)", "/api/query/insights")


def test_other_flows_query_types_are_refused(client, emu):
    resp = post(client, emu, FLOWS, "/api/query/arb_funnels", query_type="flows_top_paths")
    assert_error(resp, 400, "query_type \"flows_top_paths\" is not supported", "/api/query/arb_funnels")
