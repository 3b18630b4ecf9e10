"""Unit tests of the where-expression parser and evaluator (docs/mixpanel-api.md, "The expression language")."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mpsql.emulator.where import UNDEFINED, WhereSyntaxError, compile_where

PROPS = {
    "time": 1_704_067_200,
    "city": "São Paulo",
    "n": 7,
    "price": 19.99,
    "flag": True,
    "none": None,
    "tags": ["sale", "🔥"],
    "cart": {"items": 2, "currency": "EUR"},
    "num_s": "12.5",
    "zero": 0,
}


def ev(expr: str, props: dict | None = None):
    return compile_where(expr).evaluate(PROPS if props is None else props)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ('properties["city"] == "São Paulo"', True),
        ('properties["n"] == 7', True),
        ('properties["n"] == 7.0', True),
        ('properties["n"] == "7"', False),  # different types -> false
        ('properties["flag"] == 1', False),
        ('properties["missing"] == 1', False),
        ('properties["missing"] != 1', True),
        ('properties["n"] > 3 and properties["price"] < 20', True),
        ('properties["n"] > 30 or properties["flag"]', True),
        ('not properties["flag"]', False),
        ('not properties["missing"]', True),  # not undefined -> true
        ('not properties["n"] > 30', True),
        ('defined(properties["none"])', True),
        ('defined(properties["missing"])', False),
        ('not defined(properties["missing"])', True),
        ('"Paulo" in properties["city"]', True),
        ('"sale" in properties["tags"]', True),
        ('properties["n"] in [1, 7, 9]', True),
        ('properties["n"] not in [1, 9]', True),
        ('properties["cart"]["currency"] == "EUR"', True),
        ('properties["n"] % 4 == 3', True),
        ("-7 % 4 == -3", True),  # dividend's sign
        ('properties["n"] * 2 + 1 == 15', True),
        ('-properties["n"] == -7', True),
        ("(1 + 2) * 3 == 9", True),
        ('"a" + "b" == "ab"', True),
        ('number(properties["num_s"]) == 12.5', True),
        ("number(true) == 1", True),
        ('string(12) == "12"', True),
        ('string(true) == "true"', True),
        ('boolean(properties["zero"])', False),
        ('boolean("false")', False),
        ('boolean("x")', True),
        ('floor(properties["price"]) == 19', True),
        ('ceil(properties["price"]) == 20', True),
        ("round(2.5) == 3", True),
        ('event["$time"] >= datetime("2024-01-01T00:00:00")', True),
        ('properties["$time"] < datetime("2024-01-01T00:00:01")', True),
        ('event["$time"] == datetime(1704067200)', True),
        ('properties["time"] > 1700000000', True),
        ("properties['city'] == 'São Paulo'", True),
        ('properties["city"] == "S\\u00e3o Paulo"', True),
        ("TRUE AND true", True),
    ],
)
def test_expressions(expr: str, expected: bool) -> None:
    assert ev(expr) is expected


@pytest.mark.parametrize(
    "expr",
    [
        'properties["n"] > "3"',  # mismatched comparison
        'properties["n"] - "a"',
        'properties["n"] / 0',
        'number("abc")',
        'number(properties["none"])',
        'floor("x")',
        "1 in 2",
        '-properties["city"]',
        "not 5",
    ],
)
def test_undefined_results(expr: str) -> None:
    assert ev(expr) is UNDEFINED


def test_null_string_cast_and_time_in_ms() -> None:
    assert ev('string(properties["none"])') is None
    assert ev('event["$time"] == datetime(1704067200)', {"time": 1_704_067_200_000})


def test_and_or_with_non_boolean_operand_is_error_not_match() -> None:
    expr = compile_where('properties["n"] and true')
    assert expr.matches(PROPS) is False
    with pytest.raises(ValueError):
        expr.evaluate(PROPS)
    assert compile_where('properties["missing"] or true').matches(PROPS)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "properties[",
        'properties["a"] ==',
        '"unterminated',
        "foo(1)",
        'properties["a"] == 1 1',
        "(1 + 2",
        "properties[1]",
        "1 ===  2",
        "@",
    ],
)
def test_syntax_errors(bad: str) -> None:
    with pytest.raises(WhereSyntaxError):
        compile_where(bad)


def test_deep_nesting_is_a_syntax_error_not_a_crash() -> None:
    with pytest.raises(WhereSyntaxError):
        compile_where("(" * 5000 + "1" + ")" * 5000)


finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9)


@given(a=finite, b=finite)
def test_number_comparisons_agree_with_python(a: float, b: float) -> None:
    props = {"a": a, "b": b}
    assert compile_where('properties["a"] < properties["b"]').evaluate(props) is (a < b)
    assert compile_where('properties["a"] == properties["b"]').evaluate(props) is (a == b)
    got = compile_where('properties["a"] % properties["b"]').evaluate(props)
    if b == 0:
        assert got is UNDEFINED
    else:
        assert got == pytest.approx(math.fmod(a, b))
        assert got == 0 or math.copysign(1, got) == math.copysign(1, a)


@given(s=st.text(max_size=30))
def test_string_literals_round_trip(s: str) -> None:
    import json

    expr = compile_where(f'properties["s"] == {json.dumps(s)}')
    assert expr.matches({"s": s})
    assert not expr.matches({"s": s + "x"})
    assert compile_where(f'{json.dumps(s)} in properties["s"]').matches({"s": "<" + s + ">"})


def test_user_and_behaviors_read_the_given_scopes_and_are_undefined_otherwise() -> None:
    profile = {"$email": "a@example.com", "plan": "pro"}
    scopes = {"user": profile, "behaviors": {"buys": 2}}
    expr = compile_where('user["plan"] == "pro" and behaviors["buys"] > 1 and properties["plan"] == "pro"')
    assert expr.matches(profile, scopes)
    assert not expr.matches(profile)
    assert compile_where('user["$email"]').evaluate(PROPS) is UNDEFINED
    assert compile_where('behaviors["buys"]').evaluate(PROPS, {"user": profile}) is UNDEFINED
    assert compile_where('not defined(behaviors["other"])').matches({}, scopes)
