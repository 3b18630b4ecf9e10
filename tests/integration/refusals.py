"""The one check of a refused call: an ArgumentError naming the argument, the same text through DuckDB, and no
request sent."""

from __future__ import annotations

import pytest

from mpsql.connection import context_of
from mpsql.errors import ArgumentError


def assert_refused_before_any_request(con, emulator, call: str, argument: str, says: str) -> None:
    with pytest.raises(Exception) as info:
        con.execute(f"SELECT * FROM {call}").fetchall()
    err = context_of(con).last_error
    assert isinstance(err, ArgumentError), info.value
    assert err.argument == argument
    assert says in str(err)
    assert f"argument {argument}:" in str(info.value)  # the user sees the same text through DuckDB
    assert emulator.requests == []
