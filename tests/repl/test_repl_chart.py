""".chart draws the last result in the terminal: bars for labels, lines for dates, one line per segment."""

from __future__ import annotations

import datetime as dt

import pytest

from mpsql.repl.chart import ChartError, chart


def test_bars_for_labels_scaled_to_the_largest_value():
    text = chart(["event", "n"], ["VARCHAR", "BIGINT"], [("Page View", 100), ("Purchase", 50), ("Sign Up", 0)],
                 width=61)  # 9 for the labels, 14 for the frame and values: bars of up to 38 cells
    lines = text.splitlines()
    assert lines[0] == "n"
    assert lines[1].startswith("Page View │") and lines[1].endswith(" 100")
    assert lines[1].count("█") == 2 * lines[2].count("█") == 38
    assert lines[3] == "  Sign Up │ 0"


def test_a_line_for_dates_with_the_range_on_the_axes():
    days = [dt.date(2024, 3, d) for d in range(1, 8)]
    rows = [(d, float(i)) for i, d in enumerate(days)]
    text = chart(["date", "value"], ["DATE", "DOUBLE"], rows, width=40, height=10)
    lines = text.splitlines()
    assert lines[0].startswith("6 ┤") and lines[0].rstrip().endswith("●")  # the highest point, at the right
    assert lines[6].startswith("0 ┤●")  # the lowest, at the left
    assert lines[-2].strip().startswith("2024-03-01") and lines[-2].rstrip().endswith("2024-03-07")
    assert lines[-1] == "● value"


def test_long_form_reports_draw_one_series_per_segment_largest_first():
    rows = [(dt.date(2024, 3, d), seg, v) for d in (1, 2, 3) for seg, v in (("Chrome", 10.0 * d), ("Firefox", d))]
    text = chart(["date", "segment", "value"], ["DATE", "VARCHAR", "DOUBLE"], rows, width=40, height=8)
    assert text.splitlines()[-1] == "● Chrome  ○ Firefox"
    assert "●" in text and "○" in text


def test_kind_and_column_can_be_chosen():
    rows = [(1, 5, 7.0), (2, 6, 1.0)]
    assert chart(["x", "a", "b"], ["INTEGER", "INTEGER", "DOUBLE"], rows, kind="bar", y="b").startswith("b\n")


@pytest.mark.parametrize(("columns", "types", "rows", "why"), [
    (["a", "b"], ["VARCHAR", "BIGINT"], [], "no rows"),
    (["a"], ["BIGINT"], [(1,)], "two columns"),
    (["a", "b"], ["VARCHAR", "VARCHAR"], [("x", "y")], "no numeric column"),
])
def test_results_that_cannot_be_drawn_say_why(columns, types, rows, why):
    with pytest.raises(ChartError, match=why):
        chart(columns, types, rows)


def test_chart_in_the_repl_draws_the_last_result(drive):
    s = drive("SELECT * FROM (VALUES ('a', 3), ('b', 1)) t(k, n);\r.chart\rCREATE TABLE x (i INT);\r.chart bar\r"
              ".chart pie\r")
    charts = s.out.split("n\n")[1:]
    assert len(charts) == 2 and charts[0] == charts[1]  # DDL leaves the last result in place
    assert charts[0].splitlines()[0].startswith("a │███") and charts[0].splitlines()[0].endswith(" 3")
    assert "Error: .chart: unknown chart kind" not in s.err  # 'pie' is read as a column name
    assert "Error: .chart: no column pie after the first" in s.err


def test_chart_before_any_result_says_what_to_do(drive):
    s = drive(".chart\r")
    assert "Error: nothing to draw yet: run a query first" in s.err
