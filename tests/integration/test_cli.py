"""The non-interactive CLI: -c, -f, stdin, formats, exit codes, stdout for data and stderr for messages."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys

import pytest

from tests.integration.test_export import deduped

DAY = "'2024-03-04', '2024-03-04'"


def run(args: list[str], env: dict[str, str] | None = None, stdin: str | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MP_")}
    full_env["MP_CONFIG_PATH"] = os.environ["MP_CONFIG_PATH"]
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "mpsql", *args], input=stdin, capture_output=True, text=True,
                          env=full_env, timeout=timeout)


@pytest.fixture
def mp_env(emulator) -> dict[str, str]:
    c = emulator.credentials
    return {"MP_API_URL": emulator.url, "MP_USERNAME": c.username, "MP_SECRET": c.secret,
            "MP_PROJECT_ID": str(c.project_id)}


def test_command_prints_a_table_on_stdout(mp_env, emulator):
    import datetime as dt

    n = len(deduped(emulator.dataset.export_records(dt.date(2024, 3, 4), dt.date(2024, 3, 4), time_in_ms=True)))
    r = run(["-c", f"SELECT count(*) AS n FROM mp_export({DAY})"], mp_env)
    assert r.returncode == 0, r.stderr
    assert "│ n " in r.stdout and f"{n}" in r.stdout
    assert r.stderr == ""


def test_formats(mp_env):
    sql = f"SELECT event, count(*) AS n FROM mp_export({DAY}) GROUP BY ALL ORDER BY n DESC, event"
    as_csv = run(["--format", "csv", "-c", sql], mp_env)
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    as_json = json.loads(run(["--format", "json", "-c", sql], mp_env).stdout)
    as_jsonl = [json.loads(line) for line in run(["--format", "jsonl", "-c", sql], mp_env).stdout.splitlines()]
    md = run(["--format", "markdown", "-c", sql], mp_env).stdout.splitlines()
    assert [(r["event"], int(r["n"])) for r in rows] == [(d["event"], d["n"]) for d in as_json]
    assert as_json == as_jsonl
    assert md[0] == "| event | n |" and len(md) == len(rows) + 2


def test_json_columns_are_embedded_as_json(mp_env):
    out = run(["--format", "jsonl", "-c", f"SELECT properties FROM mp_export({DAY}) LIMIT 1"], mp_env).stdout
    assert isinstance(json.loads(out)["properties"], dict)


def test_repeated_commands_files_and_stdin(mp_env, tmp_path):
    script = tmp_path / "q.sql"
    script.write_text("SELECT 2 AS b; SELECT 3 AS c;")
    r = run(["--format", "csv", "-c", "SELECT 1 AS a", "-f", str(script)], mp_env)
    assert r.stdout.split() == ["a", "1", "b", "2", "c", "3"]
    r = run(["--format", "csv"], mp_env, stdin="SELECT 42 AS answer;")
    assert r.stdout.split() == ["answer", "42"]


def test_database_file_persists_a_ctas(mp_env, tmp_path):
    db = str(tmp_path / "a.duckdb")
    assert run([db, "-c", f"CREATE TABLE d AS SELECT * FROM mp_export({DAY})"], mp_env).returncode == 0
    r = run([db, "--format", "csv", "-c", "SELECT count(*) > 0 AS ok FROM d"], {})
    assert r.stdout.split() == ["ok", "true"]


def test_each_statement_is_fetched_once(mp_env, emulator):
    run(["-c", f"SELECT * FROM mp_export({DAY})"], mp_env)
    assert len([r for r in emulator.requests if r.path.endswith("/export")]) == 1


def test_errors_are_one_clear_line_and_exit_1(mp_env):
    r = run(["-c", "SELECT * FROM mp_export('2024-03-05', '2024-03-04')"], mp_env)
    assert r.returncode == 1
    assert r.stderr.startswith("Error: ArgumentError: mp_export(): argument from_date:")
    assert "Traceback" not in r.stderr and r.stdout == ""
    r = run(["-c", "SELEC 1"], mp_env)
    assert r.returncode == 1 and "syntax error" in r.stderr and "Traceback" not in r.stderr


def test_a_failing_statement_stops_the_script(mp_env):
    r = run(["--format", "csv", "-c", "SELECT 1 AS a; SELECT * FROM nope; SELECT 2 AS b"], mp_env)
    assert r.returncode == 1 and r.stdout.split() == ["a", "1"]


def test_missing_credentials_exit_3_and_say_how_to_fix(emulator):
    r = run(["-c", f"SELECT * FROM mp_export({DAY})"], {})
    assert r.returncode == 3
    assert "mpsql auth add" in r.stderr and "--demo" in r.stderr


def test_the_secret_never_reaches_output(mp_env):
    env = dict(mp_env, MP_SECRET="not-the-right-secret-123")
    r = run(["--debug", "-c", f"SELECT * FROM mp_export({DAY})"], env)
    assert r.returncode == 1 and "401" in r.stderr
    assert "not-the-right-secret-123" not in r.stderr + r.stdout


def test_usage_errors_exit_2():
    assert run(["--format", "xml", "-c", "SELECT 1"]).returncode == 2
    assert run(["-f", "/no/such/file.sql"]).returncode == 2


@pytest.mark.slow
def test_demo_quickstart_command(demo_days):
    r = run(["--demo", "-c", "SELECT event, count(*) AS n FROM mp_export(current_date - 30, current_date - 1) "
                             "GROUP BY ALL ORDER BY n DESC"], {})
    assert r.returncode == 0, r.stderr
    assert "Page View" in r.stdout and "Purchase" in r.stdout
    assert "demo project" in r.stderr


def test_progress_line_when_stderr_is_a_terminal(mp_env, monkeypatch):
    from mpsql.cli.main import _parser, run_scripts

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    for k, v in mp_env.items():
        monkeypatch.setenv(k, v)
    out, err = io.StringIO(), Tty()
    args = _parser().parse_args(["--format", "csv"])
    code = run_scripts(args, ["SELECT count(*) FROM mp_export('2024-03-01', '2024-03-06', window_days := 1)"],
                       out, err)
    assert code == 0
    assert "mp_export:" in err.getvalue() and "windows" in err.getvalue()
    assert re.search(r"\d requests?", err.getvalue())  # what the statement cost, counted as it goes


def test_statements_without_a_result_print_nothing(mp_env):
    """BEGIN, SET, CREATE, INSERT answer DuckDB's placeholder Success/Count; a CSV script must not carry it."""
    r = run(["--format", "csv", "-c", "BEGIN; SET threads = 2; CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (1); "
             "COMMIT; SELECT * FROM t; INSERT INTO t VALUES (2) RETURNING a"], mp_env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "a\n1\na\n2\n"


class _Unwritable(io.StringIO):
    def __init__(self, error: OSError) -> None:
        super().__init__()
        self.error = error

    def write(self, text: str) -> int:
        raise self.error


@pytest.mark.parametrize("error", [BrokenPipeError(32, "Broken pipe"), OSError(28, "No space left on device")])
def test_output_that_cannot_be_written_is_an_error_not_a_traceback(error, monkeypatch):
    """``mpsql -c ... | head`` or a full disk: the statement's worker thread must not die with a traceback."""
    import threading

    import duckdb

    died: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda hook_args: died.append(hook_args.exc_value))

    from mpsql.cli.runner import EXIT_FAILED, run_statement

    con = duckdb.connect()
    err = io.StringIO()
    statement = con.extract_statements("SELECT * FROM range(10)")[0]
    code = run_statement(con, statement, fmt="csv", max_rows=40, out=_Unwritable(error), err=err)
    assert code == EXIT_FAILED
    assert died == [] and "Traceback" not in err.getvalue()
    if not isinstance(error, BrokenPipeError):  # the reader went away: nothing to say
        assert "No space left on device" in err.getvalue()


def test_json_output_stays_valid_json_with_nan_and_infinity():
    sql = "SELECT 'nan'::DOUBLE AS a, 'inf'::DOUBLE AS b, '-inf'::DOUBLE AS c, 1.5::DOUBLE AS d"
    r = run(["--format", "json", "-c", sql])
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [{"a": "NaN", "b": "Infinity", "c": "-Infinity", "d": 1.5}]


def test_control_characters_piped_are_exact_in_csv_and_json_and_escaped_in_a_table():
    sql = "SELECT chr(27) || '[2J' || chr(7) || 'x' AS e"
    assert run(["--format", "csv", "-c", sql]).stdout == "e\n\x1b[2J\x07x\n"
    assert json.loads(run(["--format", "json", "-c", sql]).stdout) == [{"e": "\x1b[2J\x07x"}]
    table = run(["-c", sql]).stdout
    assert "\\x1b[2J\\x07x" in table and "\x1b" not in table and "\x07" not in table


def test_control_characters_in_an_error_message_are_shown_escaped():
    r = run(["-c", "SELECT error('bad ' || chr(27) || ']0;pwned' || chr(7) || ' event')"])
    assert r.returncode == 1
    assert "bad \\x1b]0;pwned\\x07 event" in r.stderr and "\x1b" not in r.stderr and "\x07" not in r.stderr
