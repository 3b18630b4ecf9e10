"""where_to_sql: Mixpanel's ``where`` expressions as an exact DuckDB predicate over stored export rows.

Every case runs the generated SQL in DuckDB over rows shaped like the local store (``properties`` JSON, ``time``
TIMESTAMPTZ taken from ``properties.time``, ``event``).
"""

from __future__ import annotations

import json
from collections import Counter

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mpsql.emulator.where import compile_where
from mpsql.functions.where_sql import UnsupportedWhere, where_to_sql

T0 = 1704067200  # 2024-01-01T00:00:00Z


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


def _sql_text(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def evaluate(con: duckdb.DuckDBPyConnection, expression: str, rows: list[dict]) -> list[bool | None]:
    """The predicate's value for each properties object, in order (None would mean SQL NULL)."""
    values = ", ".join(f"({i}, {_sql_text(json.dumps(p))})" for i, p in enumerate(rows))
    sql = f"""
        SELECT {where_to_sql(expression)} FROM (
            SELECT i, CAST(p AS JSON) AS properties, 'Signed up' AS event,
                   to_timestamp(CAST(json_extract(CAST(p AS JSON), '$.time') AS DOUBLE)) AS time
            FROM (VALUES {values}) v(i, p)
        ) ORDER BY i"""
    return [r[0] for r in con.sql(sql).fetchall()]


def matches(con: duckdb.DuckDBPyConnection, expression: str, props: dict) -> bool | None:
    return evaluate(con, expression, [{"time": T0, **props}])[0]


# ------------------------------------------------------------------------------------------------ hand-worked cases
# (expression, properties, matches?) written from Mixpanel's expression rules.

PROPS = {
    "n": 3, "f": 2.5, "z": 0, "neg": -7, "s": "abc", "num_text": " 12.5 ", "empty": "", "false_text": "false",
    "t": True, "no": False, "nul": None, "tags": ["red", 2, True, None], "obj": {"k": 1},
    "$browser": "Chrome", "plan name": "pro annual", 'say "hi"': "yes", "préféré": "thé", "a.b": 1, "a/b": 2,
    "~x": 3, "first": "Ada", "last": "Lovelace", "it's": 4, "*": 5, "": 6,
}

CASES = [
    # property names: $, spaces, escaped quotes, unicode, characters that are path syntax elsewhere
    ('properties["$browser"] == "Chrome"', True),
    ('properties["plan name"] == "pro annual"', True),
    (r'properties["say \"hi\""] == "yes"', True),
    ('properties["préféré"] == "th\\u00e9"', True),
    ('properties["a.b"] == 1 and properties["a/b"] == 2 and properties["~x"] == 3', True),
    ('properties["it\'s"] == 4 and properties["*"] == 5 and properties[""] == 6', True),
    # == and != : same type and value; different types are unequal, never an error
    ('properties["n"] == 3', True),
    ('properties["n"] == 3.0', True),
    ('properties["f"] == 2.5', True),
    ('properties["n"] == "3"', False),
    ('properties["n"] != "3"', True),
    ('properties["s"] == "abc"', True),
    ('properties["s"] == "ABC"', False),
    ('properties["t"] == true', True),
    ('properties["t"] == 1', False),
    ('properties["no"] == false', True),
    ('properties["absent"] == 1', False),
    ('properties["absent"] != 1', True),
    ('properties["nul"] == "null"', False),
    ('properties["nul"] != 0', True),
    # > >= < <= : numbers only; anything else is undefined (so not true, and `not` of it is true)
    ('properties["n"] > 2', True),
    ('properties["n"] >= 3', True),
    ('properties["n"] < 3', False),
    ('properties["f"] <= 2.5', True),
    ('properties["s"] > 1', False),
    ('not (properties["s"] > 1)', True),
    ('not (properties["absent"] < 1)', True),
    ('not (properties["t"] > 0)', True),
    ('not (properties["nul"] >= 0)', True),
    # + adds numbers, joins strings, else undefined; - * / % need numbers
    ('properties["n"] + 1 == 4', True),
    ('properties["n"] + properties["f"] == 5.5', True),
    ('properties["first"] + " " + properties["last"] == "Ada Lovelace"', True),
    ('properties["s"] + 1 == "abc1"', False),
    ('not (properties["s"] + 1 > 0)', True),
    ('properties["n"] - 5 == -2', True),
    ('properties["n"] * properties["f"] == 7.5', True),
    ('properties["n"] / 2 == 1.5', True),
    ('not (properties["n"] / properties["z"] >= 0)', True),  # division by zero: undefined
    ('properties["n"] / properties["z"] != 0', True),
    ('properties["neg"] % 2 == -1', True),  # the remainder takes the dividend's sign
    ('7 % -2 == 1', True),
    ('properties["f"] % 1 == 0.5', True),
    ('not (properties["n"] % properties["z"] == 0)', True),
    ('not (properties["t"] * 2 == 2)', True),
    # unary minus
    ('-properties["n"] == -3', True),
    ('not (-properties["s"] < 0)', True),
    # not: negates booleans, not undefined is true, not of another type is undefined
    ('not properties["no"]', True),
    ('not properties["t"]', False),
    ('not properties["absent"]', True),
    ('not properties["s"]', False),
    ('not (not properties["s"])', True),
    ('not defined(properties["absent"])', True),
    # and / or: undefined counts as false
    ('(properties["absent"] > 1) or true', True),
    ('(properties["absent"] > 1) and true', False),
    ('(properties["n"] > 1) and (properties["s"] == "abc")', True),
    ('(properties["n"] > 5) or (properties["s"] == "x")', False),
    # a bare value matches only when it is boolean true
    ('properties["t"]', True),
    ('properties["no"]', False),
    ('properties["n"]', False),
    ('true', True),
    ('false', False),
    # defined: set (even to null) versus absent
    ('defined(properties["n"])', True),
    ('defined(properties["nul"])', True),
    ('defined(properties["absent"])', False),
    # casts
    ('number(properties["num_text"]) == 12.5', True),
    ('not (number(properties["s"]) >= 0)', True),  # number("abc") is undefined
    ('number(properties["t"]) == 1', True),
    ('number(properties["no"]) == 0', True),
    ('not (number(properties["nul"]) == 0)', True),
    ('not (number(properties["empty"]) == 0)', True),
    ('number("1e3") == 1000', True),
    ('number("\\t-.5\\n") == -0.5', True),
    # only plain ASCII decimals are numeric text (Mixpanel's rules name none of these spellings)
    ('not (number("0x10") >= 0)', True),
    ('not (number("1_000") >= 0)', True),
    ('not (number("Infinity") >= 0)', True),
    ('not (number("1e400") >= 0)', True),  # not finite
    ('string(properties["n"]) == "3"', True),
    ('string(12) == "12"', True),
    ('string(properties["f"]) == "2.5"', True),
    ('string(properties["t"]) == "true"', True),
    ('string(properties["s"]) == "abc"', True),
    ('string(properties["nul"]) == "null"', False),
    ('string(properties["nul"]) == string(properties["nul"])', True),  # null equals null
    ('not (string(properties["absent"]) == "")', True),
    ('boolean(string(properties["false_text"])) == false', True),
    ('boolean(string(properties["empty"])) == false', True),
    ('boolean(string(properties["s"]))', True),
    ('boolean(number(properties["z"])) == false', True),
    ('boolean(number(properties["absent"])) == false', True),
    ('boolean(properties["n"] > 1)', True),
    # floor / round / ceil: numbers only; round takes halves up
    ('floor(properties["f"]) == 2', True),
    ('ceil(properties["f"]) == 3', True),
    ('round(properties["f"]) == 3', True),
    ('round(-2.5) == -2', True),
    ('not (floor(properties["s"]) == 0)', True),
    # in, string form: substring
    ('"pro" in properties["plan name"]', True),
    ('"annual " in properties["plan name"]', False),
    ('properties["s"] in "xxabcxx"', True),
    ('not (1 in properties["s"])', True),  # mixed types: undefined
    ('not (properties["absent"] in "abc")', True),
    # in, list literal: membership by type and value
    ('properties["n"] in [1, 2, 3]', True),
    ('properties["f"] in [1, 2, 3]', False),
    ('properties["s"] in ["x", "abc"]', True),
    ('properties["n"] in ["3"]', False),
    ('properties["t"] in [true]', True),
    ('properties["absent"] in [1, "a", true]', False),
    ('not (properties["absent"] in [1])', True),
    ('properties["n"] in []', False),
    # in, list property: membership
    ('"red" in properties["tags"]', True),
    ('2 in properties["tags"]', True),
    ('"2" in properties["tags"]', False),
    ('true in properties["tags"]', True),
    ('not ("red" in properties["absent"])', True),
    # time: the event's time against datetime(ISO text) or datetime(epoch seconds), UTC
    ('event["$time"] >= datetime("2024-01-01T00:00:00")', True),
    ('event["$time"] < datetime("2024-01-01T00:00:00")', False),
    ('properties["$time"] >= datetime(1704067200) and properties["$time"] < datetime(1704067201)', True),
    ('datetime("2024-01-01T00:00:01") > event["$time"]', True),
    ('datetime("2024-01-01T00:00:01") <= event["$time"]', False),
]


@pytest.mark.parametrize(("expression", "expected"), CASES, ids=[c[0] for c in CASES])
def test_hand_worked_case(con: duckdb.DuckDBPyConnection, expression: str, expected: bool) -> None:
    assert matches(con, expression, PROPS) is expected


def test_time_bounds_select_exactly_their_seconds(con: duckdb.DuckDBPyConnection) -> None:
    expression = 'event["$time"] >= datetime("2024-01-01T00:00:00") and event["$time"] < datetime(1704067202)'
    rows = [{"time": T0 - 1}, {"time": T0}, {"time": T0 + 1}, {"time": T0 + 2}]
    assert evaluate(con, expression, rows) == [False, True, True, False]


def test_infinite_numbers_follow_ieee_rules(con: duckdb.DuckDBPyConnection) -> None:
    """JSON allows 1e400 (infinity); infinity minus infinity is NaN, which equals nothing and orders nowhere."""
    def run(expression: str) -> bool:
        sql = where_to_sql(expression)
        return con.sql(f"SELECT {sql} FROM (SELECT JSON '{{\"i\": 1e400}}' AS properties)").fetchall()[0][0]

    assert run('properties["i"] > 1e300')
    assert run('string(properties["i"]) == "inf"')
    assert not run('properties["i"] - properties["i"] == properties["i"] - properties["i"]')
    assert run('properties["i"] - properties["i"] != properties["i"] - properties["i"]')
    assert not run('properties["i"] - properties["i"] > 0')
    assert not run('properties["i"] - properties["i"] <= 0')
    assert run('string(properties["i"] - properties["i"]) == "nan"')


def test_a_missing_properties_object_is_false_not_null(con: duckdb.DuckDBPyConnection) -> None:
    sql = where_to_sql('not (properties["a"] == 1)', properties="p")
    assert con.sql(f"SELECT {sql} FROM (SELECT CAST(NULL AS JSON) AS p)").fetchall() == [(True,)]
    sql = where_to_sql('properties["a"] == 1', properties="p")
    assert con.sql(f"SELECT {sql} FROM (SELECT CAST(NULL AS JSON) AS p)").fetchall() == [(False,)]


def test_each_property_is_extracted_once() -> None:
    sql = where_to_sql('properties["a"] > 1 and properties["a"] < 5 and properties["b"] == properties["a"] + 1')
    assert sql.count("json_extract(properties") == 1


def test_top_level_time_bounds_stay_outside_the_per_row_lambda() -> None:
    """So DuckDB can skip row groups of a Parquet file by their time statistics."""
    sql = where_to_sql('event["$time"] >= datetime(1704067200) and properties["a"] == 1 and '
                       'event["$time"] < datetime(1704153600)')
    lam = sql.index("lambda")
    assert sql.index("time >= TIMESTAMPTZ '2024-01-01 00:00:00+00'") < lam
    assert sql.index("time < TIMESTAMPTZ '2024-01-02 00:00:00+00'") < lam


def test_column_names_are_the_callers(con: duckdb.DuckDBPyConnection) -> None:
    sql = where_to_sql('properties["x"] == 1 and event["$time"] >= datetime(0)', properties="props", time="ts")
    assert "props" in sql and "ts" in sql
    row = "SELECT JSON '{\"x\": 1}' AS props, TIMESTAMPTZ '2024-01-01 00:00:00+00' AS ts"
    assert con.sql(f"SELECT {sql} FROM ({row})").fetchall() == [(True,)]


# ------------------------------------------------------------------------------------------------ unsupported forms

UNSUPPORTED = [
    # syntax errors
    ("", "empty"),
    ('properties["a" == 1', "expected"),
    ("properties[a] == 1", "quoted property name"),
    ('properties["a"] = 1', "unexpected"),
    ('properties["a"] == ', "end of expression"),
    ('properties["a"] == 1 1', "unexpected"),
    ('properties["a"] == "\\x"', "string literal"),
    ('properties["a"] == #', "unexpected character"),
    ('foo(properties["a"])', "unexpected"),
    # outside the documented language
    ('user["$email"] == "a@b.c"', "profiles"),
    ("properties['a'] == 1", "unexpected character"),
    ('properties["a"] == null', "unexpected"),
    ('properties["a"]["b"] == 1', "nested keys"),
    ('properties["a"] not in [1]', "not in"),
    ('properties["a"] == 1 AND true', "unexpected"),
    ('event["name"] == "x"', "$time"),
    ('+properties["a"] == 1', "unexpected"),
    ("defined(1)", "must name a property"),
    ('properties["a"] in [properties["b"]]', "list literals"),
    ('[1] == properties["a"]', "list literal"),
    ("99999999999999999999 == 1", "not exactly representable"),
    # documented meaning unclear, contradicted, or not exact on the local copy
    ('properties["a"] > properties["b"]', "strings"),
    ('properties["$last_seen"] >= "2024-01-01T00:00:00"', "strings"),
    ('properties["a"] == properties["b"]', "lists or objects"),
    ('properties["a"] in properties["b"]', "lists or objects"),
    ('properties["a"] and true', "non-boolean"),
    ('(properties["n"] + 1) or true', "non-boolean"),
    ('boolean(properties["a"])', "list"),
    ('not properties["a"] == 1', "ambiguous"),
    ("1 < 2 < 3", "chained"),
    ('event["$time"] > datetime("2024-01-01T00:00:00")', "exact"),
    ('event["$time"] == datetime(1704067200)', "exact"),
    ('event["$time"] >= 1704067200', "datetime"),
    ('event["$time"] >= datetime(1704067200.5)', "whole epoch seconds"),
    ('event["$time"] >= datetime("2024-01-01")', "YYYY-MM-DDTHH:MM:SS"),
    ('event["$time"] >= datetime("2024-02-30T00:00:00")', "invalid date"),
    ('event["$time"] + 1 > 5', "datetime"),
    ('properties["n"] + 1', "never be true or false"),
]


@pytest.mark.parametrize(("expression", "message"), UNSUPPORTED, ids=[u[0] or "<empty>" for u in UNSUPPORTED])
def test_unsupported_forms_raise_with_a_message(expression: str, message: str) -> None:
    with pytest.raises(UnsupportedWhere, match=None) as info:
        where_to_sql(expression)
    assert message.lower() in str(info.value).lower()
    assert isinstance(info.value, ValueError)


# ------------------------------------------------------------------------------------------------ against the emulator
# Random expressions over a few properties, random property objects; where translation succeeds, the SQL must agree
# with the emulator's evaluator on every row. Numbers stay small and numeric text plain (ASCII decimal), where both
# treat numbers as IEEE doubles and agree on what text is a number.

NAMES = ["a", "b", "$c d"]
STRINGS = ["", "a", "ab", "b a", "12", " 3.5 ", "-2", "1e2", "false", "true", 'q"t', "é"]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-50, 50), st.sampled_from([0.5, -1.5, 2.25, 3.0, 0.1]),
    st.sampled_from(STRINGS),
)
JSON_VALUES = st.one_of(
    SCALARS, st.lists(SCALARS, max_size=3), st.dictionaries(st.sampled_from(["k", "l"]), SCALARS, max_size=2),
)
PROPERTY_OBJECTS = st.builds(
    lambda values, dt: {"time": T0 + dt, **{k: v for k, v in values.items()}},
    st.dictionaries(st.sampled_from(NAMES), JSON_VALUES, max_size=3),
    st.integers(-2, 2),
)


def _prop(name: str) -> str:
    return "properties[" + json.dumps(name) + "]"


def _literal(v: object) -> str:
    return json.dumps(v)


LITERALS = st.one_of(
    st.integers(-5, 5).map(str), st.sampled_from(["0.5", "2.25", "3.0", "0"]),
    st.sampled_from(STRINGS).map(_literal), st.sampled_from(["true", "false"]),
)
PROPS_EXPR = st.sampled_from(NAMES).map(_prop)

values = st.recursive(
    st.one_of(PROPS_EXPR, LITERALS),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "%"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        inner.map(lambda x: f"-{x}"),
        st.tuples(st.sampled_from(["number", "string", "floor", "round", "ceil"]), inner).map(
            lambda t: f"{t[0]}({t[1]})"),
    ),
    max_leaves=4,
)

LIST_LITERALS = st.lists(LITERALS, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]")
TIME_TESTS = st.tuples(
    st.sampled_from(['event["$time"]', 'properties["$time"]']), st.sampled_from([">=", "<"]),
    st.integers(-2, 2).map(lambda d: f"datetime({T0 + d})"),
).map(lambda t: f"{t[0]} {t[1]} {t[2]}")

atoms = st.one_of(
    st.tuples(values, st.sampled_from(["==", "!=", ">", ">=", "<", "<="]), values).map(
        lambda t: f"({t[0]} {t[1]} {t[2]})"),
    st.tuples(values, st.sampled_from(["==", "!=", ">", "<="]), LITERALS).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
    st.tuples(values, LIST_LITERALS).map(lambda t: f"({t[0]} in {t[1]})"),
    st.tuples(values, values).map(lambda t: f"({t[0]} in {t[1]})"),
    st.tuples(LITERALS, PROPS_EXPR).map(lambda t: f"({t[0]} in {t[1]})"),
    PROPS_EXPR.map(lambda p: f"defined({p})"),
    values.map(lambda v: f"boolean({v})"),
    TIME_TESTS,
)

conditions = st.recursive(
    atoms,
    lambda inner: st.one_of(
        inner.map(lambda c: f"not ({c})"),
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        inner.map(lambda c: f"not ({c})"),
    ),
    max_leaves=4,
)
# A bare property too: Mixpanel matches a row only when the whole expression is boolean true.
expressions = st.one_of(conditions, conditions, conditions, PROPS_EXPR)


def test_agrees_with_the_emulator(con: duckdb.DuckDBPyConnection) -> None:
    outcome: Counter[str] = Counter()

    @settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(expression=expressions, rows=st.lists(PROPERTY_OBJECTS, min_size=1, max_size=6))
    def check(expression: str, rows: list[dict]) -> None:
        try:
            where_to_sql(expression)
        except UnsupportedWhere:
            outcome["unsupported"] += 1
            return
        outcome["translated"] += 1
        expected = [compile_where(expression).matches(r) for r in rows]
        assert evaluate(con, expression, rows) == expected, expression

    check()
    total = outcome["translated"] + outcome["unsupported"]
    assert outcome["translated"] >= 0.8 * total, outcome  # typically about 95%
