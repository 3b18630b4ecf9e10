"""The pandas, Arrow and Polars paths from an mpsql connection that work in DuckDB 2.0, each running the
statement (so downloading) once."""

from __future__ import annotations

import warnings

import pytest

SQL = ("SELECT event, count(*) AS n FROM mp_export('2024-03-31', '2024-03-31', store := 'off') "
       "GROUP BY ALL ORDER BY n DESC")


def exports(emulator) -> int:
    return sum(1 for r in emulator.requests if r.path.endswith("/export"))


@pytest.fixture
def expected(con, emulator):
    rows = con.execute(SQL).fetchall()
    assert rows and exports(emulator) == 1
    emulator.reset()
    return rows


def test_pandas_from_execute_df(con, emulator, expected):
    frame = con.execute(SQL).df()
    assert list(frame.itertuples(index=False, name=None)) == expected
    assert exports(emulator) == 1


def test_arrow_table_from_sql_to_arrow_table_without_a_warning(con, emulator, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = con.sql(SQL).to_arrow_table()
    assert list(zip(*table.to_pydict().values(), strict=True)) == expected
    assert exports(emulator) == 1


def test_arrow_batches_streamed_from_sql_to_arrow_reader(con, emulator, expected):
    reader = con.sql(SQL).to_arrow_reader()
    table = reader.read_all()  # drain it before the next statement on this connection
    assert table.num_rows == len(expected)
    assert con.execute("SELECT 1").fetchone() == (1,)
    assert exports(emulator) == 1


def test_the_db_api_arrow_path_works_but_warns_about_a_copy(con, emulator, expected):
    with pytest.warns(UserWarning, match="extra copy"):
        table = con.execute(SQL).to_arrow_table()
    assert table.num_rows == len(expected)


def test_execute_results_have_no_arrow_or_pl_in_duckdb_2(con):
    cursor = con.execute("SELECT 1")
    assert not hasattr(cursor, "arrow") and not hasattr(cursor, "pl")


def test_polars_from_sql_pl(con, emulator, expected):
    pytest.importorskip("polars")
    frame = con.sql(SQL).pl()
    assert frame.rows() == expected
    assert exports(emulator) == 1


def test_a_relation_read_twice_runs_twice_so_downloads_twice(con, emulator, expected):
    relation = con.sql(SQL)
    relation.df()
    relation.df()
    assert exports(emulator) == 2
