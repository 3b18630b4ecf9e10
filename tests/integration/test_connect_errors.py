"""mpsql.connect(): the account is checked at once, an Emulator can be connected to, and mpsql's errors are DuckDB's."""

from __future__ import annotations

import subprocess
import sys

import duckdb
import pytest

import mpsql
from mpsql.errors import ArgumentError, ConfigError, MpsqlError


def test_every_mpsql_error_is_a_duckdb_error():
    assert issubclass(MpsqlError, duckdb.Error)
    assert issubclass(ConfigError, duckdb.Error) and issubclass(ArgumentError, duckdb.Error)


def test_an_unknown_account_name_fails_at_connect_with_a_config_error():
    with pytest.raises(ConfigError, match="'nope'"):
        mpsql.connect(account="nope")


def test_mp_account_naming_no_account_fails_at_connect(monkeypatch):
    monkeypatch.setenv("MP_ACCOUNT", "nope")
    with pytest.raises(ConfigError, match="MP_ACCOUNT is 'nope'"):
        mpsql.connect()


def test_without_credentials_connect_succeeds_and_offline_sql_works():
    con = mpsql.connect()
    try:
        assert con.execute("SELECT mp_prop('{\"$browser\": \"Chrome\"}'::JSON, '$browser')").fetchone() == ("Chrome",)
        with pytest.raises(duckdb.Error, match="ConfigError: no Mixpanel credentials"):
            con.execute("SELECT * FROM mp_export(current_date - 2, current_date - 1)")
    finally:
        con.close()


def test_connect_to_an_emulator_by_passing_the_emulator(emulator):
    con = mpsql.connect(account=emulator)
    try:
        assert con.execute("SELECT count(*) > 0 FROM mp_events()").fetchone() == (True,)
    finally:
        con.close()


def test_an_emulators_bare_credentials_are_refused_with_a_hint(emulator):
    with pytest.raises(TypeError, match="pass the Emulator itself, account=emu"):
        mpsql.connect(account=emulator.credentials)


def test_demo_with_an_account_is_refused():
    with pytest.raises(ConfigError, match="takes no account"):
        mpsql.connect(demo=True, account="prod")


def test_cli_demo_with_an_account_exits_3_saying_why():
    proc = subprocess.run([sys.executable, "-m", "mpsql", "--demo", "--account", "prod", "-c", "SELECT 1"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3
    assert "takes no account" in proc.stderr
