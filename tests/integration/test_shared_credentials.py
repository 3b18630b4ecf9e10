"""Credentials as Mixpanel's own clients pass them (MP_OAUTH_TOKEN, MP_API_BASE_URL), over real HTTP through the
emulator: a Bearer token authenticates, never shows, and the environment's credentials are a row of mp_accounts()."""

from __future__ import annotations

import httpx
import pytest

import mpsql
from mpsql.api.client import MixpanelClient
from mpsql.api.ratelimit import RateLimits
from mpsql.config import Account, Secret
from mpsql.connection import context_of
from mpsql.errors import AuthError
from tests.conftest import TODAY


@pytest.fixture(scope="module")
def emulator():
    """A small project of its own: these tests are about credentials, not data."""
    from mpsql.emulator import Emulator, ServerLimits

    with Emulator(seed=3, today=TODAY, days=5, users=60, rate_limits=ServerLimits.unlimited()) as emu:
        yield emu


@pytest.fixture
def oauth_env(emulator, monkeypatch, tmp_path):
    monkeypatch.setenv("MP_CONFIG_PATH", str(tmp_path / "none.toml"))
    monkeypatch.setenv("MP_OAUTH_TOKEN", emulator.oauth_token)
    monkeypatch.setenv("MP_PROJECT_ID", str(emulator.credentials.project_id))
    monkeypatch.setenv("MP_API_BASE_URL", emulator.url)
    return emulator


def test_an_oauth_token_from_the_environment_queries_the_project(oauth_env):
    con = mpsql.connect(rate_limits=RateLimits.unlimited())
    try:
        context_of(con).today = lambda: TODAY
        events = con.execute("SELECT count(*) FROM mp_events()").fetchone()[0]
        assert events > 0
        exported = con.execute("SELECT count(*) FROM mp_export(DATE '2024-03-30', DATE '2024-03-30')").fetchone()[0]
        assert exported > 0 and oauth_env.requests[-1].path == "/api/2.0/export"
        rows = con.execute("SELECT name, kind, username, project_id, in_use, source FROM mp_accounts()").fetchall()
        assert rows == [("env", "oauth_token", None, oauth_env.credentials.project_id, True, "environment")]
        shown = str(con.execute("SELECT * FROM mp_accounts()").fetchall()) + \
            str(con.execute("SELECT * FROM mp_requests()").fetchall())
        assert oauth_env.oauth_token not in shown and oauth_env.oauth_token[-12:] not in shown
    finally:
        con.close()


def test_environment_credentials_are_a_row_before_any_request(emulator, monkeypatch, tmp_path):
    monkeypatch.setenv("MP_CONFIG_PATH", str(tmp_path / "none.toml"))
    monkeypatch.setenv("MP_SECRET", "env-secret-value-123")
    monkeypatch.setenv("MP_USERNAME", "env.sa")
    monkeypatch.setenv("MP_PROJECT_ID", "42")
    con = mpsql.connect()
    try:
        rows = con.execute("SELECT name, kind, username, project_id, is_default, source FROM mp_accounts()").fetchall()
        assert rows == [("env", "service_account", "env.sa", 42, False, "environment")]
        assert "env-secret-value" not in str(con.execute("SELECT * FROM mp_accounts()").fetchall())
    finally:
        con.close()


def test_a_wrong_token_is_an_auth_error_that_never_shows_the_token(emulator):
    token = "wrong-oauth-token-abcdef0123456789"
    account = Account("tok", None, Secret(token), emulator.credentials.project_id, api_url=emulator.url,
                      bearer=True)
    client = MixpanelClient(account, limits=RateLimits.unlimited())
    try:
        with pytest.raises(AuthError) as e:
            client.get_json("query", "/events/names", {"type": "general"})
        assert e.value.status == 401 and token not in str(e.value)
        echoed = f"header Bearer {token}; url {httpx.QueryParams({'t': token})}; cut {token[:12]}"
        assert token[:12] not in client.redact(echoed) and token not in client.redact(echoed)
        assert "Bearer" in repr(client._auth_header[:6]) and token not in repr(client)
    finally:
        client.close()


def test_the_repl_history_filter_knows_the_environment_token(monkeypatch, tmp_path):
    from mpsql.repl.history import configured_secrets

    monkeypatch.setenv("MP_CONFIG_PATH", str(tmp_path / "none.toml"))
    monkeypatch.setenv("MP_OAUTH_TOKEN", "history-oauth-token-5150")
    assert "history-oauth-token-5150" in configured_secrets()
