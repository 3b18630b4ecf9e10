"""EXPLAIN is drawn as DuckDB's CLI draws it, and never shows mpsql's internal "__args" filter."""

from __future__ import annotations

import io
import subprocess
import sys

import mpsql
from mpsql.cli.render import hide_args, write_result

QUERY = ("EXPLAIN SELECT event, count(*) FROM mp_export('2024-01-01', '2024-01-02') "
         "WHERE event = 'Purchase' GROUP BY ALL")


def plan_of(sql: str) -> list[tuple]:
    con = mpsql.connect()
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_the_plan_keeps_the_users_filter_and_drops_the_internal_one_narrowing_the_boxes():
    (key, plan), = plan_of(QUERY)
    assert key == "physical_plan" and '"__args"' in plan  # DuckDB's own text carries it
    shown = hide_args(plan)
    assert "__args" not in shown and "from_date" not in shown
    lines = shown.splitlines()
    assert "│ Filters:" in shown and "\"event\" = 'Purchase'" in shown
    assert not any(line.rstrip().endswith(",") for line in lines)  # no comma left dangling
    assert len({len(line) for line in lines}) == 1 and len(lines[0]) < 60  # one box width, fitted to the text
    assert lines[0].startswith("╭─ Hash Group By ") and lines[-1].startswith("╰")
    assert sum("┬" in line for line in lines) == 2 and sum("┴" in line for line in lines) == 2


def test_a_scan_whose_only_filter_was_internal_has_no_filters_heading():
    (_, plan), = plan_of("EXPLAIN SELECT * FROM mp_events()")
    shown = hide_args(plan)
    assert "Filters" not in shown and "__args" not in shown
    assert "│ Function: PYTHON_ARROW_SCAN" in shown


def test_side_by_side_boxes_keep_their_drawing_with_the_internal_filter_blanked():
    (_, plan), = plan_of("EXPLAIN SELECT * FROM mp_export('2024-01-01', '2024-01-02') e "
                         "JOIN mp_events() m ON e.event = m.event")
    shown = hide_args(plan)
    assert "__args" not in shown
    assert [len(line) for line in shown.splitlines()] == [len(line) for line in plan.splitlines()]


def test_table_format_draws_a_titled_plan_not_a_table_cell():
    out = io.StringIO()
    rows = plan_of(QUERY)
    assert write_result(out, "table", ["explain_key", "explain_value"], ["VARCHAR", "VARCHAR"], [rows]) == 1
    text = out.getvalue()
    assert text.splitlines()[2] == "││       Physical Plan       ││"
    assert text.splitlines()[5] == hide_args(rows[0][1]).splitlines()[0]
    assert "explain_key" not in text and "__args" not in text


def test_csv_keeps_the_plan_as_data_without_the_internal_filter():
    out = io.StringIO()
    write_result(out, "csv", ["explain_key", "explain_value"], ["VARCHAR", "VARCHAR"], [plan_of(QUERY)])
    assert out.getvalue().startswith("explain_key,explain_value\nphysical_plan,\"╭─ Hash Group By")
    assert "__args" not in out.getvalue()


def test_mpsql_c_explain_prints_the_plan():
    proc = subprocess.run([sys.executable, "-m", "mpsql", "-c", QUERY], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Physical Plan" in proc.stdout and "╭─ Python Arrow Scan" in proc.stdout and "__args" not in proc.stdout
