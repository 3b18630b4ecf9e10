"""Report functions refuse bad arguments before any request, naming the argument and what is valid."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpsql.connection import context_of
from mpsql.errors import ArgumentError
from mpsql.functions._args import parse_call
from mpsql.functions.retention import RetentionArgs
from mpsql.functions.segmentation import EventCountsArgs, SegmentationArgs
from tests.conftest import TODAY
from tests.integration.refusals import assert_refused_before_any_request

R = "'2024-03-01', '2024-03-02'"
JQL = "'function main() { return Events(params) }'"

REFUSED = [
    # (call, argument, what the message says)
    (f"mp_segmentation('Purchase', {R}, unit := 'hours')", "unit", "is not valid"),
    (f"mp_segmentation('Purchase', {R}, unit := 'hour', type := 'unique')", "type", "not available with unit 'hour'"),
    (f"mp_segmentation('Purchase', {R}, unit := 'minute', type := 'average')", "type", "no unique users per hour"),
    (f"mp_segmentation('Purchase', {R}, type := 'distinct')", "type", "is not valid"),
    (f"mp_segmentation('', {R})", "event", "is empty"),
    (f"mp_segmentation(NULL, {R})", "event", "is required"),
    ("mp_segmentation('Purchase', '2024-03-05', '2024-03-04')", "from_date", "after to_date"),
    ("mp_segmentation('Purchase', '2024-03-05', '2024-04-02')", "to_date", "in the future"),
    ("mp_segmentation('Purchase', '1999-12-31', '2024-03-04')", "from_date", "before 2000"),
    ("mp_segmentation('Purchase', '2024-02-30', '2024-03-04')", "from_date", "not a date"),
    ("mp_segmentation('Purchase', '2024-03-01', NULL)", "to_date", "is required"),
    (f"mp_segmentation('Purchase', {R}, top := 5)", "top", "only applies with by"),
    (f"mp_segmentation('Purchase', {R}, by := 'properties[\"x\"]', top := 0)", "top", "greater than or equal to 1"),
    (f"mp_segmentation('Purchase', {R}, by := 'properties[\"x\"]', top := 10001)", "top", "less than or equal"),
    (f"mp_segmentation('Purchase', {R}, by := 'country')", "by", "bare name"),
    (f"mp_segmentation('Purchase', {R}, filter := '  ')", "filter", "is empty"),
    (f"mp_segmentation_numeric('Purchase', {R}, NULL)", "by", "is required"),
    (f"mp_segmentation_numeric('Purchase', {R}, 'properties[\"amount\"]', unit := 'minute')", "unit", "not valid"),
    (f"mp_segmentation_numeric('Purchase', {R}, 'properties[\"amount\"]', unit := 'hour', type := 'unique')",
     "type", "not available"),
    (f"mp_segmentation_sum('Purchase', {R}, '')", "by", "is empty"),
    (f"mp_segmentation_average('Purchase', {R}, 'properties[\"amount\"]', unit := 'week')", "unit", "not valid"),
    (f"mp_event_counts([], {R})", "events", "empty list"),
    (f"mp_event_counts(['Purchase', ''], {R})", "events", "empty name"),
    (f"mp_event_counts(['Purchase'], {R}, unit := 'year')", "unit", "not valid"),
    (f"mp_event_counts(['Purchase'], {R}, unit := 'minute', type := 'unique')", "type", "not available"),
    (f"mp_property_counts('Page View', '', {R})", "property", "is empty"),
    (f"mp_property_counts('Page View', '$browser', {R}, values := [])", "values", "empty list"),
    (f"mp_property_counts('Page View', '$browser', {R}, top := 0)", "top", "greater than or equal to 1"),
    (f"mp_funnel(NULL, {R})", "funnel_id", "is required"),
    (f"mp_funnel(-1, {R})", "funnel_id", "greater than or equal to 0"),
    (f"mp_funnel(7001, {R}, unit := 'hour')", "unit", "not valid"),
    (f"mp_funnel(7001, {R}, length := 91, length_unit := 'day')", "length", "90-day limit"),
    (f"mp_funnel(7001, {R}, length := 2161, length_unit := 'hour')", "length", "at most 2160 hours"),
    (f"mp_funnel(7001, {R}, length := 7776001)", "length", "90-day limit"),
    (f"mp_funnel(7001, {R}, length := 0)", "length", "greater than or equal to 1"),
    (f"mp_funnel(7001, {R}, length_unit := 'week', length := 2)", "length_unit", "not valid"),
    (f"mp_funnel(7001, {R}, length_unit := 'hour')", "length_unit", "needs length"),
    (f"mp_funnel(7001, {R}, top := 3)", "top", "only applies with by"),
    (f"mp_funnel(7001, {R}, overall := true, unit := 'week')", "overall", "one bucket"),
    (f"mp_funnel(7001, {R}, filter := 'plan')", "filter", "bare name"),
    (f"mp_retention(NULL, {R})", "born_event", "is required"),
    (f"mp_retention('Sign Up', {R}, unit := 'day', interval := 2)", "interval", "cannot be combined with unit"),
    (f"mp_retention('Sign Up', {R}, interval := 91)", "interval", "90-day limit"),
    (f"mp_retention('Sign Up', {R}, interval := 0)", "interval", "greater than or equal to 1"),
    (f"mp_retention('Sign Up', {R}, interval_count := -1)", "interval_count", "greater than or equal to 0"),
    (f"mp_retention('Sign Up', {R}, retention_type := 'first')", "retention_type", "not valid"),
    (f"mp_retention('Sign Up', {R}, unit := 'hour')", "unit", "not valid"),
    (f"mp_retention('Sign Up', {R}, top := 3)", "top", "only applies with by"),
    (f"mp_retention('Sign Up', {R}, event := '')", "event", "is empty"),
    (f"mp_retention('Login', {R}, retention_type := 'compounded', born_filter := 'properties[\"x\"] == 1')",
     "born_filter", "birth retention only"),
    (f"mp_retention('Login', {R}, retention_type := 'compounded', event := 'Purchase')", "event",
     "no birth event"),
    (f"mp_frequency({R}, unit := 'hour')", "unit", "not valid"),
    (f"mp_frequency({R}, addiction_unit := 'week')", "addiction_unit", "not valid"),
    ("mp_frequency('2024-03-01', '2024-04-02')", "to_date", "in the future"),
    (f"mp_frequency({R}, by := 'properties[\"x\"]', top := 0)", "top", "greater than or equal to 1"),
    ("mp_activity(NULL)", "distinct_ids", "is required"),
    ("mp_activity(['u_00001', ''])", "distinct_ids", "contains an empty name"),
    ("mp_activity(['u_00001'], from_date := '2024-03-05', to_date := '2024-03-04')", "from_date", "after to_date"),
    ("mp_activity(['u_00001'], to_date := '2024-04-02')", "to_date", "in the future"),
    ("mp_activity(['u_00001'], from_date := '2024-04-05')", "from_date", "after to_date"),
    ("mp_insight(NULL)", "bookmark_id", "is required"),
    ("mp_insight(-1)", "bookmark_id", "greater than or equal to 0"),
    ("mp_flows('nine')", "bookmark_id", "is not valid"),
    ("mp_jql('')", "script", "is empty"),
    ("mp_jql('return 1')", "script", "no main()"),
    (f"mp_jql({JQL}, params := 'not json')", "params", "is not JSON"),
    (f"mp_jql({JQL}, params := [1, 2])", "params", "must be a JSON object"),
    ("mp_query('https://evil.example.com/api/query/segmentation')", "endpoint", "is a URL"),
    ("mp_query('//evil.example.com/segmentation')", "endpoint", "is a URL"),
    ("mp_query('/segmentation?event=Purchase')", "endpoint", "query string"),
    ("mp_query('../app/me')", "endpoint", "not a plain relative path"),
    ("mp_query('%2e%2e/app/me')", "endpoint", "not a plain relative path"),
    ("mp_query('/api/query/%2E%2E/%2e%2e/api/app/me')", "endpoint", "not a plain relative path"),
    ("mp_query('.%2e/app/me')", "endpoint", "not a plain relative path"),
    ("mp_query('segmentation/..%2f..%2fapp%2fme')", "endpoint", "not a plain relative path"),
    ("mp_query('%252e%252e/app/me')", "endpoint", "not a plain relative path"),
    ("mp_query('..%5capp%5cme')", "endpoint", "not a plain relative path"),
    ("mp_query('segmentation/%2e')", "endpoint", "not a plain relative path"),
    ("mp_query('%65xport')", "endpoint", "JSONL"),
    ("mp_query('')", "endpoint", "is empty"),
    ("mp_query('/api/query/')", "endpoint", "names no endpoint"),
    ("mp_query('export')", "endpoint", "JSONL"),
    ("mp_query('/api/2.0/export')", "endpoint", "JSONL"),
    ("mp_query('/api/app/projects/1/schemas', method := 'POST')", "method", "change the project"),
    ("mp_query('segmentation', method := 'DELETE')", "method", "not valid"),
    # a date whose arithmetic would overflow, and lenient values that used to mean something else
    ("mp_activity(['u1'], to_date := '0001-01-01')", "to_date", "0001-01-01 is before 2000"),
    ("mp_activity(['u1'], from_date := '0001-01-01')", "from_date", "(valid: a date from 2000-01-01 on)"),
    ("mp_events(account := '')", "account", "is empty (valid: the name of a configured account"),
    ("mp_events(account := '   ')", "account", "is empty"),
    (f"mp_event_counts('  ', {R})", "events", "is empty"),
    (f"mp_event_counts(['Purchase', ' '], {R})", "events", "contains an empty name"),
    ("mp_top_events(top := true)", "top", "true is a boolean, not a number (valid: an integer such as 10)"),
    (f"mp_segmentation('Purchase', {R}, by := 'properties[\"x\"]', top := false)", "top", "is a boolean"),
    ("mp_insight(true)", "bookmark_id", "is a boolean"),
    (f"mp_funnel(7001, {R}, length := true)", "length", "is a boolean"),
    (f"mp_retention('Sign Up', {R}, unbounded := 1)", "unbounded", "1 is a number, not true or false"),
    ("mp_property_values('  ')", "property", "is empty"),
    ("mp_profiles(filter := '')", "filter", "is empty"),
    ("mp_profiles(include_all_users := 0, cohort := 1)", "include_all_users", "is a number"),
]


@pytest.mark.parametrize(("call", "argument", "says"), REFUSED, ids=[c[0][:70] for c in REFUSED])
def test_refused_before_any_request_naming_the_argument(con, emulator, call, argument, says):
    assert_refused_before_any_request(con, emulator, call, argument, says)


def test_messages_say_what_is_valid(con, emulator):
    with pytest.raises(duckdb.Error):
        con.execute(f"SELECT * FROM mp_retention('Sign Up', {R}, unit := 'week', interval := 2)").fetchall()
    assert "valid: interval := N for N-day periods, or unit := 'day'|'week'|'month'" in str(context_of(con).last_error)
    with pytest.raises(duckdb.Error):
        con.execute(f"SELECT * FROM mp_segmentation('Purchase', {R}, by := '$browser')").fetchall()
    assert 'properties["$browser"]' in str(context_of(con).last_error)
    assert emulator.requests == []


def test_an_empty_distinct_ids_list_selects_nobody_without_a_request(con, emulator):
    assert con.execute("SELECT * FROM mp_activity([])").fetchall() == []
    assert emulator.requests == []


def test_describe_makes_no_request(con, emulator):
    for call in ("mp_segmentation('Purchase', current_date - 7, current_date - 1)", "mp_funnel(7001, '2024-03-01', "
                 "'2024-03-02')", "mp_retention('Sign Up', '2024-03-01', '2024-03-02')", "mp_insight(9101)",
                 "mp_flows(9201)", "mp_query('funnels/list')"):
        con.execute(f"DESCRIBE SELECT * FROM {call}").fetchall()
    assert emulator.requests == []


def test_an_unknown_argument_is_refused_by_duckdb(con, emulator):
    with pytest.raises(Exception, match="does not support the supplied arguments"):
        con.execute(f"SELECT * FROM mp_segmentation_sum('Purchase', {R}, 'properties[\"amount\"]', type := 'unique')"
                    ).fetchall()
    assert emulator.requests == []


# -- fuzzing the unit / type / date rules ------------------------------------------------------------------------

UNITS = ("minute", "hour", "day", "week", "month")
dates = st.dates(min_value=dt.date(1998, 12, 1), max_value=TODAY + dt.timedelta(days=10))
units = st.sampled_from((*UNITS, "year", "hours", "Day", ""))
kinds = st.sampled_from(("general", "unique", "average", "total", "UNIQUE"))


def outcome(model, function: str, raw: dict) -> str | None:
    """None when the call is accepted, else the argument the ArgumentError names (anything else fails)."""
    try:
        parse_call(function, model, raw).check(function, TODAY)
    except ArgumentError as err:
        return err.argument
    return None


def bad_choices(unit: str, kind: str) -> set[str]:
    """The arguments holding a value outside their set (either may be named first)."""
    return {name for name, ok in (("unit", unit in UNITS), ("type", kind in ("general", "unique", "average")))
            if not ok}


def date_problem(from_date: dt.date, to_date: dt.date) -> str | None:
    if from_date.year < 2000:
        return "from_date"
    if to_date.year < 2000:  # refused as a date before the order of the two is looked at
        return "to_date"
    if from_date > to_date:
        return "from_date"
    return "to_date" if to_date > TODAY else None


@settings(max_examples=300, deadline=None)
@given(unit=units, kind=kinds, from_date=dates, to_date=dates)
def test_segmentation_accepts_exactly_mixpanels_unit_type_and_date_combinations(unit, kind, from_date, to_date):
    raw = {"event": "Purchase", "from_date": from_date.isoformat(), "to_date": to_date.isoformat(), "unit": unit,
           "type": kind}
    got = outcome(SegmentationArgs, "mp_segmentation", raw)
    before_2000 = {name for name, d in (("from_date", from_date), ("to_date", to_date)) if d.year < 2000}
    if bad_choices(unit, kind) or before_2000:
        assert got in bad_choices(unit, kind) | before_2000
    elif date_problem(from_date, to_date):
        assert got == date_problem(from_date, to_date)
    elif kind != "general" and unit in ("minute", "hour"):
        assert got == "type"  # no hourly uniques, hence no hourly averages
    else:
        assert got is None


@settings(max_examples=200, deadline=None)
@given(unit=units, kind=kinds, events=st.lists(st.sampled_from(("Purchase", "Sign Up", "", " ")), max_size=3))
def test_event_counts_needs_named_events_and_a_valid_unit_and_type(unit, kind, events):
    raw = {"events": events, "from_date": "2024-03-01", "to_date": "2024-03-02", "unit": unit, "type": kind}
    got = outcome(EventCountsArgs, "mp_event_counts", raw)
    blank = {"events"} if any(not e.strip() for e in events) else set()
    if bad_choices(unit, kind) or blank:
        assert got in bad_choices(unit, kind) | blank  # each is refused while parsing: any may be named first
    elif not events or any(not e.strip() for e in events):
        assert got == "events"
    elif kind != "general" and unit in ("minute", "hour"):
        assert got == "type"
    else:
        assert got is None


@settings(max_examples=300, deadline=None)
@given(unit=st.sampled_from((None, "day", "week", "month", "hour")),
       interval=st.one_of(st.none(), st.integers(-2, 120)), interval_count=st.one_of(st.none(), st.integers(-2, 40)))
def test_retention_never_sends_unit_with_interval_and_caps_interval_at_90_days(unit, interval, interval_count):
    raw = {"born_event": "Sign Up", "from_date": "2024-03-01", "to_date": "2024-03-02", "unit": unit,
           "interval": interval, "interval_count": interval_count}
    got = outcome(RetentionArgs, "mp_retention", raw)
    if unit == "hour":
        assert got == "unit"
    elif interval is not None and interval < 1:
        assert got == "interval"
    elif interval_count is not None and interval_count < 0:
        assert got == "interval_count"
    elif interval is not None and (unit is not None or interval > 90):
        assert got == "interval"
    else:
        assert got is None


def test_an_endpoint_with_escaped_plain_characters_is_sent_in_its_decoded_form(con, emulator):
    # '%61' is 'a' (RFC 3986: an escaped unreserved character is the character itself), so this is /events/names.
    rows = con.execute("SELECT * FROM mp_query('%65vents/n%61mes', params := {'type': 'general'})").fetchall()
    assert rows == con.execute("SELECT * FROM mp_query('events/names', params := {'type': 'general'})").fetchall()
    assert [r.path for r in emulator.requests] == ["/api/query/events/names"]
