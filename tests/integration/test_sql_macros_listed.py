"""The SQL macros of sql/*.sql explain themselves: mp_functions() lists them, duckdb_functions() carries their
comment, and the REPL's .schema and completion show their signatures."""

from __future__ import annotations

import re
from pathlib import Path

from mpsql.functions.macros import EVENTS_STUB, macros

SQL = Path(__file__).resolve().parents[2] / "sql"
PUBLIC = sorted({m for f in SQL.glob("*.sql")
                 for m in re.findall(r"CREATE OR REPLACE TEMP MACRO (mp_[a-z]\w*)\(", f.read_text())})


def listed(con) -> dict[str, tuple]:
    return {r[0]: r for r in con.execute("SELECT * FROM mp_functions()").fetchall()}


def test_every_public_macro_of_the_sql_files_is_listed_with_signature_columns_description_and_example(con):
    rows = listed(con)
    assert len(PUBLIC) >= 20 and set(PUBLIC) <= set(rows)
    assert not any(name.startswith("mp__") for name in rows)  # helpers stay out
    for name in PUBLIC:
        _, signature, returns, description, example = rows[name]
        assert signature.startswith(f"{name}(") and returns and len(description) > 20 and name in example, name


def test_table_macros_list_their_columns_and_scalar_macros_their_type(con):
    rows = listed(con)
    assert rows["mp_local_funnel"][1:3] == (
        "mp_local_funnel(events_table, steps, from_date, to_date, window_seconds := 30 * 86400, "
        "reentry := 'default', overall := false, merge_ids := true)",
        "date DATE, segment VARCHAR, step INTEGER, event VARCHAR, count BIGINT, step_conversion DOUBLE, "
        "overall_conversion DOUBLE, avg_time_seconds DOUBLE")
    assert rows["mp_local_segmentation"][2] == "date TIMESTAMP, segment VARCHAR, value DOUBLE"
    assert rows["mp_events_local"][2] == rows["mp_export"][2]
    assert rows["mp_prop"][1:3] == ("mp_prop(props, name)", "VARCHAR")
    assert rows["mp_prop_num"][2] == "DOUBLE" and rows["mp_prop_list"][2] == "VARCHAR[]"
    assert rows["mp_prop"][3].startswith("Text (numbers and booleans as their JSON text")


def test_every_macro_example_runs_on_an_events_table(con, notices):
    con.execute(EVENTS_STUB)
    con.execute("""INSERT INTO events VALUES
        ('Purchase', current_date - 2, 'u1', 'i1', '{"amount": 12.5, "$browser": "Chrome", "tags": ["a", "b"]}'),
        ('View Item', current_date - 2, 'u1', 'i2', '{"$browser": "Chrome"}'),
        ('Sign Up', current_date - 3, 'u2', 'i3', '{"$created": "2024-01-05T11:20:47"}')""")
    for name in PUBLIC:  # the tests' calendar ends on 2024-04-01
        con.execute(listed(con)[name][4].replace("current_date", "DATE '2024-04-01'")).fetchall()


def test_macros_carry_their_description_and_example_as_their_duckdb_comment(con):
    comments = dict(con.execute("SELECT function_name, comment FROM duckdb_functions() "
                                "WHERE function_name LIKE 'mp\\_%' ESCAPE '\\'").fetchall())
    rows = listed(con)
    for name in PUBLIC:
        assert comments[name] == f"{rows[name][3]} Example: {rows[name][4]}", name


def test_the_parsed_macros_match_the_files():
    assert [m.name for m in macros()] == PUBLIC
    assert {m.name for m in macros() if m.table} >= {"mp_local_funnel", "mp_event_breakdown", "mp_events_local"}
