"""The REPL driven through prompt-toolkit's pipe input: multi-line entry, Ctrl-C, rendering, errors, refreshes."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from mpsql import __version__
from mpsql.api.client import REQUEST_LOG
from mpsql.cli.runner import EXIT_CONFIG
from mpsql.config import Account, Secret
from mpsql.emulator import Emulator
from mpsql.repl.app import cached_names, run_repl
from tests.repl.conftest import CTRL_C, CTRL_D


def test_a_statement_runs_once_its_semicolon_is_typed(drive):
    s = drive("SELECT 1 AS a,\r  'x' AS b\r;\r")
    assert s.out.count("┌") == 1
    assert "│ a       │ b       │" in s.out and "│ integer │ varchar │" in s.out and "│ 1 row" in s.out


def test_semicolons_inside_strings_comments_and_brackets_do_not_end_the_statement(drive):
    s = drive("SELECT 'a;\rb' AS s, -- c;\r  [1, 2 /* ; */\r  ] AS l;\r.mode line\rSELECT 'a;\rb' AS s, 2 AS n;\r")
    assert s.out.count("┌") == 1  # the first statement ran once, as a whole
    assert "a;\\nb" in s.out
    assert "s = a;\nb\nn = 2" in s.out


def test_ctrl_c_at_the_prompt_clears_the_line(drive):
    s = drive(f"SELECT 'dropped' AS x{CTRL_C}SELECT 'kept' AS x;\r")
    assert "kept" in s.out and "dropped" not in s.out + s.err


def test_several_statements_on_one_line_and_commands_without_semicolons(drive):
    s = drive(".mode csv\rSELECT 1 AS a; SELECT 2 AS b;\rexit\rSELECT 3 AS never;\r")
    assert s.out.split() == ["a", "1", "b", "2"]


def test_short_long_and_wide_results(drive):
    s = drive(".maxrows 6\rSELECT range AS n FROM range(100);\r"
              "SELECT repeat('x', 200) AS wide, 42 AS answer;\r"
              "SELECT " + ", ".join(f"{i} AS c{i}" for i in range(30)) + ";\r")
    tables = s.out.split("┌")[1:]
    assert len(tables) == 3
    long, wide, many = tables
    assert "100 rows (6 shown)" in long and "·" in long
    assert re.findall(r"│\s+(\d+) │", long) == ["0", "1", "2", "97", "98", "99"]
    assert "…" in wide and re.search(r"│\s+42 │", wide)
    assert "30 columns (" in many and "│ c0 " in many and "│ c29 " in many and "c15" not in many
    assert max(len(line) for line in s.out.splitlines()) <= 80  # the width the test REPL has


def test_modes(drive):
    s = drive(".mode json\rSELECT 1 AS a;\r.mode jsonl\rSELECT 2 AS a;\r.mode markdown\rSELECT 3 AS a;\r"
              ".mode csv\rSELECT 4 AS a;\r.mode line\rSELECT 5 AS a;\r.mode\r.mode nope\r")
    assert s.out == '[\n  {"a": 1}\n]\n{"a": 2}\n| a |\n|---|\n| 3 |\na\n4\na = 5\n'
    assert "mode: line" in s.err and "Error: unknown mode nope" in s.err


def test_output_file_timer_and_maxrows(drive, tmp_path):
    target = tmp_path / "out.csv"
    s = drive(f".mode csv\r.output {target}\rSELECT 7 AS seven;\r.output\rSELECT 8 AS eight;\r"
              ".timer on\rSELECT 9 AS nine;\r\\timing\r.maxrows\r.maxrows x\r")
    assert target.read_text() == "seven\n7\n"
    assert s.out == "eight\n8\nnine\n9\n"
    assert re.search(r"Run Time \(s\): real \d+\.\d{3}", s.err)
    assert "timer off" in s.err and "maxrows: 40" in s.err and "Error: .maxrows takes a positive number" in s.err


def test_errors_are_one_block_without_a_traceback(drive):
    s = drive("SELECT * FROM no_such_table;\rSELECT * FROM mp_export('2024-01-02', '2024-01-01');\rSELECT 1 AS ok;\r")
    assert "Error: Catalog Error: Table with name no_such_table does not exist!" in s.err
    assert "Error: ArgumentError: mp_export(): argument" in s.err
    assert "Traceback" not in s.err
    assert "│ ok" in s.out  # the session goes on


def test_debug_adds_the_traceback(drive):
    s = drive("SELECT * FROM mp_export('2024-01-02', '2024-01-01');\r", debug=True)
    assert "Error: ArgumentError" in s.err and "Traceback" in s.err


def test_ddl_refreshes_the_completion_catalog(drive):
    s = drive("CREATE TABLE fresh AS SELECT 1 AS new_column;\r")
    assert s.repl.completer.catalog.tables["fresh"] == [("new_column", "INTEGER")]


@pytest.fixture
def small_project() -> Iterator[Account]:
    """An emulator of its own with a few days of data, so discovery answers quickly."""
    with Emulator(seed=3, days=3, users=30) as emu:
        creds = emu.credentials
        yield Account(name="small", username=creds.username, secret=Secret(creds.secret),
                      project_id=creds.project_id, api_url=emu.url)


def test_discovery_fills_the_names_completion_offers(drive, small_project):
    """The app's provider reads what mp_events() and mp_properties() left in the discovery cache."""
    s = drive("SELECT count(*) FROM mp_events();\rSELECT count(*) FROM mp_properties(event := 'Purchase');\r",
              names=cached_names, account=small_project)
    assert "Error" not in s.err
    names = s.repl.completer.names
    assert {"Purchase", "Sign Up"} <= set(names.events)
    assert "$browser" in names.properties("Purchase")
    requests = len(REQUEST_LOG)
    buffer = "SELECT * FROM mp_export('2024-01-01', '2024-01-02', events := ['Pu"
    offered = [c.text for c in s.repl.completer.get_completions(Document(buffer), CompleteEvent())]
    assert offered == ["Purchase'"]
    assert "$browser'" in [c.text for c in s.repl.completer.get_completions(
        Document("SELECT mp_prop(properties, '$b"), CompleteEvent())]
    assert len(REQUEST_LOG) == requests  # completing asks Mixpanel nothing


def start(argv_options: dict, keys: str = CTRL_D) -> int:
    """``run_repl`` as ``mpsql`` calls it on a terminal, with ``keys`` typed."""
    args = argparse.Namespace(**{"database": ":memory:", "account": None, "demo": False, "debug": False,
                                 "format": "table", "max_rows": 40, **argv_options})
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        pipe.send_text(keys)
        return run_repl(args)


def test_without_an_account_it_says_how_to_add_one(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("MPSQL_HISTORY", str(tmp_path / "history"))
    assert start({}, "SELECT 1 AS plain_duckdb_works;\r" + CTRL_D) == 0
    captured = capsys.readouterr()
    assert "mpsql auth add NAME" in captured.err and "mpsql --demo" in captured.err
    assert "plain_duckdb_works" in captured.out
    assert (tmp_path / "history").read_text().count("plain_duckdb_works") == 1


def test_demo_banner_is_one_line_and_format_flags_set_the_mode(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("MPSQL_HISTORY", str(tmp_path / "history"))
    assert start({"demo": True, "format": "csv"}, "SELECT 1 AS a;\r" + CTRL_D) == 0
    captured = capsys.readouterr()
    assert captured.out == "a\n1\n"
    from mpsql.demo import demo_range

    first, last = demo_range()
    assert captured.err.splitlines() == [
        f"mpsql {__version__} · the built-in demo project: synthetic data from {first} to {last} (the 90 days "
        "ending yesterday, UTC), served by a local emulator. .help lists commands; Ctrl-D exits."]


def test_an_unknown_account_is_a_configuration_error(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("MPSQL_HISTORY", str(tmp_path / "history"))
    assert start({"account": "nope"}) == EXIT_CONFIG
    assert "no account named 'nope'" in capsys.readouterr().err


def test_a_failed_ddl_in_a_transaction_reports_one_error(drive):
    s = drive("BEGIN;\rCREATE TABLE t (a INTEGER);\rCREATE TABLE t (a INTEGER);\rROLLBACK;\rSELECT 1 AS ok;\r")
    assert [line for line in s.err.splitlines() if line.startswith("Error")] == [
        'Error: Catalog Error: Table with name "t" already exists!']
    assert "│ ok" in s.out


def test_nested_values_null_blob_and_duplicate_names(drive):
    s = drive(".mode csv\rSELECT [1, NULL] AS l, {'a': NULL, 'd': DATE '2024-01-02'} AS s, "
              "[TIMESTAMP '2024-01-02 03:04:05'] AS ts, '\\x00\\xFFab'::BLOB AS b, [1.5::DECIMAL(4, 2)] AS dl;\r"
              ".mode json\rSELECT 1 AS a, 2 AS a;\r")
    assert s.out.startswith("l,s,ts,b,dl\n\"[1, NULL]\",\"{'a': NULL, 'd': 2024-01-02}\","
                            "[2024-01-02 03:04:05],\\x00\\xFFab,[1.50]\n")
    assert '{"a": 1, "a_1": 2}' in s.out  # no value is lost


def test_control_characters_in_mixpanel_data_reach_the_terminal_escaped(drive, emulator, account):
    import io

    from prompt_toolkit.history import InMemoryHistory

    from mpsql.emulator.proto import Response, Route
    from mpsql.repl import Repl
    from tests.repl.conftest import FakeNames

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    hostile = "Sign\x1b]0;pwned\x07Up\x9b2J"
    saved = dict(emulator.routes)
    emulator.add_route("/api/query/events/names",
                       Route(lambda emu, req: Response(json=[hostile]), "query", ("GET", "POST")))
    repl = Repl(out=Terminal(), err=io.StringIO(), width=80, pager=True, account=account,
                names=lambda con: FakeNames(), history=InMemoryHistory())
    try:
        s = drive("SELECT event FROM mp_events();\r.mode csv\rSELECT event FROM mp_events();\r"
                  ".mode json\rSELECT event FROM mp_events();\r", repl=repl)
    finally:
        repl.close()
        emulator.routes.clear()
        emulator.routes.update(saved)
    assert not any(ch in s.out for ch in "\x1b\x07\x9b")
    assert "│ Sign\\x1b]0;pwned\\x07Up\\x9b2J" in s.out  # the table
    assert "\nSign\\x1b]0;pwned\\x07Up\\x9b2J\n" in s.out  # csv
    assert '"event": "Sign\\u001b]0;pwned\\u0007Up\\u009b2J"' in s.out  # json: escaped, still the same JSON


def names_requests(emulator) -> int:
    return sum(1 for r in emulator.requests if r.path.endswith("/events/names"))


def test_a_fresh_session_loads_event_names_in_the_background_without_blocking_typing(drive, make_repl, emulator):
    emulator.latency = 1.5  # the names take a while to come
    s = drive("SELECT 42 AS answer;\r", names=cached_names)
    loader = s.repl.names_loader
    assert "42" in s.out and loader is not None and loader.is_alive()  # typing and running did not wait
    loader.join(10)
    assert names_requests(emulator) == 1
    buffer = "SELECT * FROM mp_export('2024-01-01', '2024-01-02', events := ['Pur"
    offered = [c.text for c in s.repl.completer.get_completions(Document(buffer), CompleteEvent())]
    assert offered == ["Purchase'"]
    emulator.latency = 0.0
    again = make_repl(names=cached_names)  # a later session the same day: the names come from the cache
    assert again.names_loader is None and "Purchase" in again.completer.names.events
    assert names_requests(emulator) == 1


def test_without_an_account_nothing_is_loaded(make_repl, emulator, monkeypatch, tmp_path):
    for var in ("MP_SECRET", "MP_ACCOUNT", "MP_USERNAME", "MP_PROJECT_ID"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MP_CONFIG_PATH", str(tmp_path / "none.toml"))
    repl = make_repl(account=None, names=cached_names)
    assert repl.names_loader is None and repl.completer.names.events == []
    assert emulator.requests == []


def test_with_caching_off_nothing_is_loaded(make_repl, emulator, monkeypatch):
    monkeypatch.setenv("MPSQL_CACHE_TTL", "0")
    repl = make_repl(names=cached_names)
    if repl.names_loader is not None:
        repl.names_loader.join(10)
    assert names_requests(emulator) == 0
