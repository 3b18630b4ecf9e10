"""mp_profiles refuses the parameter combinations Engage rejects, naming the argument, before any request."""

from __future__ import annotations

import pytest

from mpsql.connection import context_of
from mpsql.errors import ArgumentError


@pytest.mark.parametrize(("call", "argument", "says"), [
    ("distinct_id := 'u_00001', distinct_ids := ['u_00002']", "distinct_ids", "cannot be combined with distinct_id"),
    ("behaviors := '[{\"window\": \"30d\", \"name\": \"b\", \"event_selectors\": [{\"event\": \"Purchase\"}]}]', "
     "cohort := 1", "behaviors", "cannot be combined with cohort"),
    ("include_all_users := true", "include_all_users", "only applies to a cohort"),
    ("as_of := TIMESTAMP '2999-01-01 00:00:00'", "as_of", "in the future"),
    ("behaviors := 'not json'", "behaviors", "is not JSON"),
    ("cohort := -3", "cohort", "greater than or equal to 0"),
    ("properties := ['$email', '']", "properties", "contains an empty name"),
])
def test_rejected_before_any_request(con, emulator, call, argument, says):
    with pytest.raises(Exception) as info:
        con.execute(f"SELECT * FROM mp_profiles({call})").fetchall()
    err = context_of(con).last_error
    assert isinstance(err, ArgumentError), info.value
    assert err.argument == argument
    assert says in str(err)
    assert emulator.requests == []


def test_an_empty_distinct_ids_list_selects_nobody_without_a_request(con, emulator):
    assert con.execute("SELECT * FROM mp_profiles(distinct_ids := [])").fetchall() == []
    assert emulator.requests == []


def test_an_unknown_argument_is_refused_by_duckdb_listing_the_valid_ones(con, emulator):
    with pytest.raises(Exception, match=r"(?s)does not support the supplied arguments.*include_all_users := NULL"):
        con.execute("SELECT * FROM mp_profiles(top := 3)").fetchall()
    assert emulator.requests == []
