"""mp_requests, mp_rate_limits, mp_accounts, mp_clear_cache and mp_functions: what a user sees of the machinery."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

import mpsql
from mpsql.api.client import REQUEST_LOG
from mpsql.errors import ArgumentError


@pytest.fixture(autouse=True)
def _empty_request_log():
    REQUEST_LOG.clear()


def test_mp_requests_shows_each_export_window_with_rows_and_no_secret(con, account):
    n = con.execute("SELECT count(*) FROM mp_export('2024-03-04', '2024-03-05')").fetchall()[0][0]
    rows = con.execute("SELECT account, family, method, endpoint, params, status, rows, retries, cache_hit, error "
                       "FROM mp_requests()").fetchall()
    assert [(r[0], r[1], r[2], r[3], r[5], r[7], r[8], r[9]) for r in rows] == [
        ("test", "export", "GET", "/export", 200, 0, False, None)] * 2
    assert [json.loads(r[4])["from_date"] for r in rows] == ["2024-03-04", "2024-03-05"]
    assert sum(r[6] for r in rows) >= n  # rows parsed per window, before deduplication
    text = str(con.execute("SELECT * FROM mp_requests()").fetchall())
    assert account.secret.reveal() not in text


def test_a_cached_discovery_call_costs_no_request_and_shows_as_a_cache_hit(con, emulator):
    first = con.execute("SELECT event FROM mp_events()").fetchall()
    served = len(emulator.requests)
    again = con.execute("SELECT event FROM mp_events()").fetchall()
    assert again == first and len(first) > 3
    assert len(emulator.requests) == served  # no HTTP
    log = con.execute("SELECT endpoint, cache_hit, status, rows FROM mp_requests()").fetchall()
    assert log == [("/events/names", False, 200, len(first)), ("/events/names", True, 200, len(first))]


def test_the_cache_survives_the_connection_but_not_mp_clear_cache(account, emulator):
    from mpsql.api.ratelimit import RateLimits

    def events() -> list:
        c = mpsql.connect(account=account, rate_limits=RateLimits.unlimited())
        try:
            return c.execute("SELECT event FROM mp_events()").fetchall()
        finally:
            c.close()

    events()
    served = len(emulator.requests)
    events()  # a second `mpsql -c` run: answered from disk
    assert len(emulator.requests) == served
    entries = list(Path(os.environ["MPSQL_CACHE_DIR"]).glob("*.json"))
    assert entries and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in entries)
    assert account.secret.reveal() not in "".join(p.read_text() for p in entries)
    c = mpsql.connect(account=account, rate_limits=RateLimits.unlimited())
    assert c.execute("SELECT removed FROM mp_clear_cache()").fetchall() == [(len(entries),)]
    c.close()
    events()
    assert len(emulator.requests) == served + 1


def test_top_events_are_never_cached(con, emulator):
    con.execute("SELECT * FROM mp_top_events()").fetchall()
    con.execute("SELECT * FROM mp_top_events()").fetchall()
    assert sum(r.path.endswith("/events/top") for r in emulator.requests) == 2


def test_mp_cache_ttl_zero_turns_caching_off(con, emulator, monkeypatch):
    monkeypatch.setenv("MPSQL_CACHE_TTL", "0")
    con.execute("SELECT * FROM mp_events()").fetchall()
    con.execute("SELECT * FROM mp_events()").fetchall()
    assert sum(r.path.endswith("/events/names") for r in emulator.requests) == 2


def test_mp_rate_limits_counts_requests_per_family(account, emulator):
    from mpsql.api.ratelimit import Limits, RateLimits

    limits = RateLimits(export=Limits(per_hour=1000, per_second=100), query=Limits(per_hour=977), app=Limits())
    c = mpsql.connect(account=account, rate_limits=limits)
    try:
        before = dict((r[0], r) for r in c.execute("SELECT * FROM mp_rate_limits() WHERE per_hour IN (1000, 977)"
                                                   ).fetchall())
        assert set(before) == {"export", "query"}
        c.execute("SELECT count(*) FROM mp_export('2024-03-01', '2024-03-01')").fetchall()
        rows = {r[0]: r for r in c.execute("SELECT family, used, used_this_hour, left_this_hour FROM "
                                           "mp_rate_limits() WHERE per_hour IN (1000, 977)").fetchall()}
        assert rows["export"][1] == before["export"][6] + 1
        assert rows["export"][2:] == (1, 999)  # this test's ledger is fresh: one request this hour
        assert rows["query"][1] == before["query"][6]
    finally:
        c.close()


def test_mp_accounts_lists_accounts_without_secrets(tmp_path, monkeypatch, account):
    from mpsql.config import Account, ConfigStore, Secret

    path = tmp_path / "config.toml"
    monkeypatch.setenv("MP_CONFIG_PATH", str(path))
    store = ConfigStore(path)
    store.add(Account("prod", "sa.prod", Secret("s3cr3t-prod-value"), 111, "eu"), make_default=True)
    store.add(Account("old", None, Secret("legacy-s3cr3t-value")))
    c = mpsql.connect(account="prod")
    try:
        rows = c.execute("SELECT name, kind, username, project_id, region, is_default, in_use FROM mp_accounts() "
                         "ORDER BY name").fetchall()
        assert rows == [("old", "project_secret", None, None, "us", False, False),
                        ("prod", "service_account", "sa.prod", 111, "eu", True, True)]
        everything = str(c.execute("SELECT * FROM mp_accounts()").fetchall())
        assert "s3cr3t" not in everything
    finally:
        c.close()


def test_mp_functions_lists_every_function_with_signature_and_returns(con):
    rows = {r[0]: r for r in con.execute("SELECT * FROM mp_functions()").fetchall()}
    for name in ("mp_export", "mp_profiles", "mp_events", "mp_top_events", "mp_properties", "mp_property_values",
                 "mp_funnels", "mp_cohorts", "mp_lexicon", "mp_annotations", "mp_accounts", "mp_rate_limits",
                 "mp_requests", "mp_clear_cache", "mp_functions"):
        assert name in rows
    assert rows["mp_profiles"][2] == "distinct_id VARCHAR, last_seen TIMESTAMPTZ, properties JSON"
    assert rows["mp_annotations"][1].startswith("mp_annotations(from_date, to_date, account := NULL)")


def test_mp_accounts_marks_the_default_in_use_when_the_connection_uses_it_implicitly(tmp_path, monkeypatch):
    from mpsql.config import Account, ConfigStore, Secret

    monkeypatch.setenv("MP_CONFIG_PATH", str(tmp_path / "config.toml"))
    store = ConfigStore(tmp_path / "config.toml")
    store.add(Account("prod", "sa.prod", Secret("s3cr3t-prod-value"), 111, "eu"), make_default=True)
    store.add(Account("staging", "sa.stg", Secret("s3cr3t-stg-value"), 222, "eu"))
    c = mpsql.connect()  # no account named: the file's default is what a request would use
    try:
        rows = c.execute("SELECT name, is_default, in_use FROM mp_accounts() ORDER BY name").fetchall()
        assert rows == [("prod", True, True), ("staging", False, False)]
        monkeypatch.setenv("MP_ACCOUNT", "staging")  # read when a request would be made, as resolution is
        rows = c.execute("SELECT name, is_default, in_use FROM mp_accounts() ORDER BY name").fetchall()
        assert rows == [("prod", True, False), ("staging", False, True)]
    finally:
        c.close()


def test_unknown_account_is_named_before_any_request(con, emulator):
    with pytest.raises(Exception, match="account"):
        con.execute("SELECT * FROM mp_events(account := 'nope')").fetchall()
    assert isinstance(mpsql.connection.context_of(con).last_error, ArgumentError)
    assert emulator.requests == []


def test_a_secret_passed_as_a_parameter_is_masked_in_mp_requests(con, account):
    secret = account.secret.reveal()
    con.execute("SELECT * FROM mp_query('events/names', params := {'type': 'general', 'api_secret': ?})",
                [secret]).fetchall()
    text = str(con.execute("SELECT endpoint, params FROM mp_requests()").fetchall())
    assert "api_secret" in text and secret not in text


def test_a_bad_cache_ttl_is_a_clear_configuration_error(con, emulator, monkeypatch):
    from mpsql.errors import ConfigError

    monkeypatch.setenv("MPSQL_CACHE_TTL", "an hour")
    with pytest.raises(Exception, match="MPSQL_CACHE_TTL"):
        con.execute("SELECT * FROM mp_events()").fetchall()
    assert isinstance(mpsql.connection.context_of(con).last_error, ConfigError)
    assert emulator.requests == []
