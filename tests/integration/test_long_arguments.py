"""Arguments too long for a request URL are refused by name before any request; calls that POST (Engage, JQL,
mp_query with method := 'POST') and SQL predicates pushed into mp_export are not limited by it."""

from __future__ import annotations

import pytest

from mpsql.connection import context_of
from mpsql.errors import ArgumentError

NAMES = "[" + ", ".join(f"'Event number {i:05d}'" for i in range(5000)) + "]"
LONG_FILTER = "'" + " or ".join(f'properties[\"plan\"] == \"p{i:06d}\"' for i in range(4000)) + "'"


@pytest.mark.parametrize(("call", "argument"), [
    pytest.param(f"mp_export('2024-03-04', '2024-03-04', events := {NAMES})", "events", id="export-5000-events"),
    pytest.param(f"mp_export('2024-03-04', '2024-03-04', filter := {LONG_FILTER})", "filter",
                 id="export-100kb-filter"),
    pytest.param(f"mp_segmentation('Purchase', '2024-03-01', '2024-03-02', filter := {LONG_FILTER})", "filter",
                 id="segmentation-100kb-filter"),
    pytest.param(f"mp_event_counts({NAMES}, '2024-03-01', '2024-03-02')", "events", id="event-counts-5000"),
    pytest.param(f"mp_query('segmentation', params := {{'where': {LONG_FILTER}}})", "params",
                 id="query-get-params"),
])
def test_an_argument_too_long_for_a_url_is_refused_by_name_before_any_request(con, emulator, call, argument):
    with pytest.raises(Exception) as info:
        con.execute(f"SELECT * FROM {call}").fetchall()
    err = context_of(con).last_error
    assert isinstance(err, ArgumentError), info.value
    assert err.argument == argument
    assert "once URL-encoded" in str(err) and "at most 60,000" in str(err)
    assert f"argument {argument}:" in str(info.value)
    assert emulator.requests == []


def test_arguments_that_fit_only_together_are_refused_naming_the_largest(con, emulator):
    names = "[" + ", ".join(f"'Event {i:05d}'" for i in range(2500)) + "]"  # about 40,000 characters each
    filter_ = "'" + " or ".join(f'properties[\"p\"] == \"{i:05d}\"' for i in range(1000)) + "'"
    with pytest.raises(Exception, match="argument events:"):
        con.execute(f"SELECT * FROM mp_export('2024-03-04', '2024-03-04', events := {names}, "
                    f"filter := {filter_})").fetchall()
    assert emulator.requests == []


def test_a_long_profile_filter_is_posted_not_refused(con, emulator):
    where = 'properties["$city"] == "' + "nowhere " * 13_000 + '"'
    assert len(where) > 100_000
    assert con.execute("SELECT count(*) FROM mp_profiles(filter := ?)", [where]).fetchone() == (0,)
    assert [r.method for r in emulator.requests] == ["POST"]


def test_mp_query_with_method_post_sends_long_params_in_the_body(con, emulator):
    where = 'properties["$city"] == "' + "nowhere " * 13_000 + '"'
    row = con.execute("SELECT response->>'$.total' FROM mp_query('engage', params := {'where': ?}, "
                      "method := 'POST')", [where]).fetchone()
    assert row == ("0",)


def test_thousands_of_event_names_pushed_down_from_sql_still_give_the_exact_rows(con, emulator):
    names = ", ".join(f"'Event number {i:05d}'" for i in range(5000))
    sql = "SELECT count(*) FROM mp_export('2024-03-04', '2024-03-04') WHERE event IN ({})"
    assert con.execute(sql.format(names + ", 'Purchase'")).fetchone() == \
        con.execute("SELECT count(*) FROM mp_export('2024-03-04', '2024-03-04') WHERE event = 'Purchase'").fetchone()
