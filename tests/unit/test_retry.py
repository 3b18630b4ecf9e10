"""RetryPolicy and Retry-After parsing: what is retried, and how long mpsql waits."""

from __future__ import annotations

import email.utils
import random

from mpsql.api.retry import RetryPolicy, parse_retry_after


def test_retry_after_in_seconds_and_as_http_date():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 2.5 ") == 2.5
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(date, now=now) == 30.0
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None


def test_retry_after_is_honoured_but_capped():
    policy = RetryPolicy(max_retry_after=120)
    assert policy.wait(1, 429, retry_after=3) == 3
    assert policy.wait(1, 429, retry_after=10_000) == 120


def test_exponential_backoff_with_jitter_and_cap():
    policy = RetryPolicy(base=2, cap=60, jitter=1, max_attempts=10, rng=random.Random(1))
    waits = [policy.wait(n, 503) for n in range(1, 9)]
    for n, w in enumerate(waits, start=1):
        floor = min(60, 2 * 2 ** (n - 1))
        assert floor <= w <= floor + 1


def test_what_is_retried():
    policy = RetryPolicy(max_attempts=3)
    for status in (429, 500, 502, 503, 504, None):
        assert policy.wait(1, status) is not None
    for status in (400, 401, 402, 403, 404):
        assert policy.wait(1, status) is None
    assert policy.wait(3, 503) is None  # attempts exhausted


def test_the_deadline_comes_from_the_policy_else_the_environment_else_an_hour(monkeypatch):
    import math

    import pytest

    from mpsql.errors import ConfigError

    monkeypatch.delenv("MPSQL_REQUEST_DEADLINE", raising=False)
    assert RetryPolicy().resolved().deadline == 3600.0
    assert RetryPolicy(deadline=90).resolved().deadline == 90
    monkeypatch.setenv("MPSQL_REQUEST_DEADLINE", "120")
    assert RetryPolicy().resolved().deadline == 120.0
    assert RetryPolicy(deadline=90).resolved().deadline == 90  # an explicit policy wins
    monkeypatch.setenv("MPSQL_REQUEST_DEADLINE", "0")
    assert RetryPolicy().resolved().deadline == math.inf
    monkeypatch.setenv("MPSQL_REQUEST_DEADLINE", "ten")
    with pytest.raises(ConfigError, match=r"\$MPSQL_REQUEST_DEADLINE must be a positive number of seconds"):
        RetryPolicy().resolved()
    with pytest.raises(ValueError, match="deadline"):
        RetryPolicy(deadline=0)


def test_a_request_is_out_of_time_once_it_has_spent_its_deadline():
    policy = RetryPolicy(deadline=10)
    assert not policy.out_of_time(9.9)
    assert policy.out_of_time(10)
    assert not RetryPolicy(deadline=float("inf")).out_of_time(1e9)
