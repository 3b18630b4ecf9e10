"""definition := is refused for its depth before it is parsed, whatever thread parses it."""

from __future__ import annotations

import pytest

from mpsql.errors import ArgumentError
from mpsql.functions.adhoc import MAX_DEFINITION_DEPTH, _nesting, parse_definition


@pytest.mark.parametrize(("text", "depth"), [
    ("{}", 1), ('{"a": [1, {"b": []}]}', 4), ('{"a": "[[[[{{{"}', 1), ('{"a": "\\"[["}', 1), ("1", 0),
])
def test_nesting_counts_brackets_outside_strings(text, depth):
    assert _nesting(text) == depth


def test_a_definition_deeper_than_the_limit_is_refused_before_parsing():
    deep = '{"sections": ' + "[" * MAX_DEFINITION_DEPTH + "]" * MAX_DEFINITION_DEPTH + "}"
    with pytest.raises(ArgumentError, match="nests too deeply"):
        parse_definition("mp_insights", deep)
