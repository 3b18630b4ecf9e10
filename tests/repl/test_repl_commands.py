"""Every dot command and its backslash alias, as typed at the prompt."""

from __future__ import annotations

import re

import pytest

from mpsql.config import Account, ConfigStore, Secret
from mpsql.repl.commands import COMMANDS


def test_help_lists_every_command(drive):
    s = drive(".help\r\\?\r")
    for cmd in COMMANDS:
        assert s.err.count(cmd.names[0]) >= 2, cmd.names[0]
    assert "Ctrl-C" in s.err and "Ctrl-D" in s.err


def test_tables_and_schema(drive):
    s = drive("CREATE TABLE t (a INTEGER, b VARCHAR);\rCREATE VIEW v AS SELECT a FROM t;\r"
              ".mode csv\r.tables\r\\dt\r.schema t\r\\d v\r.schema\r.schema mp_export\r.schema nope\r")
    listing = "name,kind,columns,rows\nt,table,2,0\nv,view,1,\n"
    assert s.out.count(listing) == 2  # .tables and \dt; the mp_* sources are not listed
    assert "CREATE TABLE t(a INTEGER, b VARCHAR);" in s.out and "CREATE VIEW v AS SELECT a FROM t;" in s.out
    assert s.out.count("CREATE TABLE t(") == 2  # \d v shows only v; .schema shows both
    assert "mp_export(from_date, to_date, events := NULL" in s.out
    assert "-> event VARCHAR, time TIMESTAMPTZ, distinct_id VARCHAR, insert_id VARCHAR, properties JSON" in s.out
    assert "Error: no table, view or mp_* function named nope" in s.err


def test_tables_when_there_are_none(drive):
    s = drive(".tables\r.schema\r")
    assert "no tables yet" in s.err and "no tables or views yet" in s.err


def test_functions_lists_the_mp_functions_with_descriptions(drive, con):
    import csv
    import io

    s = drive(".mode csv\r.functions\r\\df\r")
    shown = list(csv.reader(io.StringIO(s.out)))
    expected = [[name, signature, description] for name, signature, description in
                con.execute("SELECT name, signature, description FROM mp_functions() ORDER BY name").fetchall()]
    assert shown == [["name", "signature", "description"], *expected] * 2


def test_schema_of_a_sql_macro_shows_its_signature_and_columns(drive):
    s = drive(".schema mp_local_funnel\r.schema mp_prop\r")
    assert "mp_local_funnel(events_table, steps, from_date, to_date, window_seconds := 30 * 86400, " in s.out
    assert "-> date DATE, segment VARCHAR, step INTEGER" in s.out
    assert "mp_prop(props, name)" in s.out


@pytest.fixture
def accounts_file(tmp_path, monkeypatch, emulator) -> ConfigStore:
    """A config with two accounts pointing at the test emulator."""
    monkeypatch.setenv("MP_CONFIG_PATH", str(tmp_path / "config.toml"))
    store = ConfigStore()
    creds = emulator.credentials
    for name in ("prod", "staging"):
        store.add(Account(name=name, username=creds.username, secret=Secret(creds.secret),
                          project_id=creds.project_id, api_url=emulator.url))
    return store


def test_accounts_and_switching(drive, accounts_file, emulator):
    secret = emulator.credentials.secret
    s = drive(".mode csv\r.accounts\r.account staging\r.account\r.account nope\r"
              "SELECT count(*) > 0 AS ok FROM mp_export('2024-03-04', '2024-03-04');\r.account demo\r.account\r",
              account=None)
    assert "prod,service_account" in s.out and "staging,service_account" in s.out
    assert secret not in s.out + s.err
    assert "account staging: service account" in s.err
    assert "Error: there is no account named 'nope'" in s.err
    assert "ok\ntrue" in s.out  # the mp_* functions now run as staging
    assert s.err.rstrip().endswith("(the 90 days ending yesterday, UTC), served by a local emulator")
    assert s.repl.prompt_text() == "demo> "


def test_prompt_names_the_account(make_repl, accounts_file):
    repl = make_repl(account="prod")
    assert repl.prompt_text() == "prod> "
    assert make_repl(account=None).prompt_text() == "mpsql> "


def test_limits_show_the_rate_budget(drive):
    s = drive(".mode csv\r.limits\r")
    header = s.out.splitlines()[0].split(",")
    assert header[0] == "family" and "left_this_hour" in header
    assert {line.split(",")[0] for line in s.out.splitlines()[1:]} >= {"export", "query"}


def test_read_runs_sql_and_commands_from_a_file(drive, tmp_path):
    script = tmp_path / "script.sql"
    script.write_text(".mode csv\nSELECT 1 AS a;\nSELECT\n  2 AS b\n;\n.mode jsonl\nSELECT 3 AS c -- last, no ;\n")
    s = drive(f".read {script}\r\\i {tmp_path / 'missing.sql'}\r")
    assert s.out == 'a\n1\nb\n2\n{"c": 3}\n'
    assert re.search(r"Error: cannot read .*missing.sql: No such file", s.err)


def test_open_switches_database(drive, tmp_path):
    db = tmp_path / "saved.duckdb"
    s = drive(f".open {db}\rCREATE TABLE kept AS SELECT 5 AS five;\r.open\r.tables\r.open {db}\r.mode csv\r"
              "SELECT five FROM kept;\rSELECT count(*) AS n FROM mp_functions() WHERE name = 'mp_export';\r")
    assert f"opened {db}" in s.err and "opened :memory:" in s.err and "no tables yet" in s.err
    assert "five\n5\n" in s.out and "n\n1\n" in s.out  # the mp_* functions come along
    assert "kept" in s.repl.completer.catalog.tables


def test_quit_forms(drive):
    for keys in (".quit\r", ".exit\r", "\\q\r", "quit\r", "exit;\r"):
        s = drive(keys + "SELECT 1 AS never;\r")
        assert "never" not in s.out and s.repl.running is False


def test_prefixes_and_unknown_commands(drive):
    s = drive(".mo csv\rSELECT 1 AS a;\r.m csv\r.nope\r\\x\r.timer maybe\r.pager off\r")
    assert s.out == "a\n1\n"
    assert "Error: ambiguous command .m: .mode, .maxrows" in s.err.splitlines()
    assert "Error: unknown command .nope;" in s.err and "Error: unknown command \\x;" in s.err
    assert "Error: .timer takes on or off" in s.err and "pager off" in s.err


def test_settings_commands_confirm_what_they_set(drive):
    s = drive(".mode csv\r.maxrows 5\r.timer on\r.pager off\r")
    assert s.err.splitlines() == ["mode csv", "maxrows 5", "timer on", "pager off"]
    assert s.repl.mode == "csv" and s.repl.max_rows == 5


def test_read_runs_a_command_after_leading_comments(drive, tmp_path):
    script = tmp_path / "script.sql"
    script.write_text("-- set up\n/* output as CSV */\n.mode csv\nSELECT 1 AS a;\n")
    s = drive(f".read {script}\r")
    assert "Error" not in s.err
    assert s.out == "a\n1\n"
