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
        with pytest.raises(ConfigError, match=r"^no Mixpanel credentials"):
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


@pytest.mark.parametrize("run", [
    pytest.param(lambda con, sql: con.execute(sql), id="execute"),
    pytest.param(lambda con, sql: con.execute(sql).fetchall(), id="execute-fetch"),
    pytest.param(lambda con, sql: con.sql(sql).fetchall(), id="sql-fetchall"),
    pytest.param(lambda con, sql: con.sql(sql).df(), id="sql-df"),
    pytest.param(lambda con, sql: str(con.sql(sql)), id="sql-preview"),
    pytest.param(lambda con, sql: con.sql(sql).filter("true").fetchall(), id="derived-relation"),
])
def test_a_statement_raises_mpsqls_own_error_with_the_message_alone(run, monkeypatch, tmp_path):
    monkeypatch.delenv("MP_SECRET", raising=False)
    monkeypatch.delenv("MP_ACCOUNT", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("MP_CONFIG_PATH", str(tmp_path / "none.toml"))
    con = mpsql.connect()
    try:
        with pytest.raises(ConfigError) as caught:
            run(con, "SELECT * FROM mp_events()")
        assert isinstance(caught.value, duckdb.Error)  # code catching DuckDB's errors still catches it
        text = str(caught.value)
        assert text.startswith("no Mixpanel credentials") and "__mpsql" not in text and "Traceback" not in text
    finally:
        con.close()


def test_an_argument_error_inside_a_statement_is_an_argument_error(con, emulator):
    with pytest.raises(ArgumentError, match=r"^mp_export\(\): argument from_date") as caught:
        con.sql("SELECT * FROM mp_export('2024-02-01', '2024-01-01')").fetchall()
    assert caught.value.function == "mp_export" and caught.value.argument == "from_date"
    assert emulator.requests == []


def test_duckdbs_own_errors_pass_through_unchanged(con):
    with pytest.raises(duckdb.CatalogException):
        con.execute("SELECT * FROM no_such_table")
    with pytest.raises(duckdb.BinderException):
        con.sql("SELECT nope").fetchall()


def test_the_proxy_is_a_duckdb_connection_in_use(con, emulator):
    rel = con.sql("SELECT 42 AS x")  # noqa: F841 - DuckDB finds it by name
    assert con.sql("SELECT * FROM rel").fetchall() == [(42,)]  # a relation named in SQL, as with DuckDB's own
    assert con.execute("SELECT * FROM rel").fetchone() == (42,)
    assert isinstance(con.duckdb_connection, duckdb.DuckDBPyConnection)
    assert con.execute("SELECT count(*) > 0 FROM mp_events()").fetchone() == (True,)


def test_show_tables_lists_the_users_tables_and_one_internal_view(con):
    con.execute("CREATE TABLE mine AS SELECT 1 AS x")
    assert con.execute("SHOW TABLES").fetchall() == [("__mpsql",), ("mine",)]
    names = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall()]
    assert names == ["__mpsql", "mine"]  # before: one __mpsql_mp_* view per function (32)
