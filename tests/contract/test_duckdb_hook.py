"""The private DuckDB hook mp_* functions rely on behaves as pinned (duckdb 2.0.x).

If DuckDB changes it, these fail first and say what broke; docs/duckdb-hook.md ("Upgrading DuckDB") says what
to check when upgrading. mpsql has no fallback: that page only sketches a public-API route it does not implement.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from mpsql.functions._duckdb import Among, Compare, TableMacro, TableSource, install_table_functions

SCHEMA = pa.schema([("event", pa.string()), ("n", pa.int64())])


def install(con, run, accepts=None, named=None):
    """``probe_fn(a, ...named)`` on ``con``, served by ``run``."""
    install_table_functions(con, [TableMacro(TableSource("probe_fn", SCHEMA, run, accepts), ("a",), named or {},
                                             "probe")])


@pytest.fixture
def probe():
    calls: list[tuple[dict, list]] = []

    def run(args, pushed, columns):
        calls.append((args, [p.fragment() for p in pushed]))
        yield pa.RecordBatch.from_pydict({"event": ["a", "b"], "n": [1, 2]}, schema=SCHEMA)

    def accepts(node):
        return isinstance(node, Compare | Among) and node.column == "event"

    con = duckdb.connect()
    install(con, run, accepts, named={"opt": "NULL"})
    yield con, calls
    con.close()


def test_arguments_arrive_folded_as_one_json_filter(probe):
    con, calls = probe
    assert con.execute("SELECT * FROM probe_fn(DATE '2024-01-01' + 1, opt := ['x'])").fetchall() == [
        ("a", 1), ("b", 2)]
    assert calls == [({"a": "2024-01-02", "opt": ["x"]}, [])]


def test_prepared_parameters_are_folded(probe):
    con, calls = probe
    con.execute("SELECT count(*) FROM probe_fn(?, opt := $2)", ["v", 5]).fetchall()
    assert calls[-1][0] == {"a": "v", "opt": 5}


def test_describe_explain_prepare_make_no_call(probe):
    con, calls = probe
    assert con.execute("DESCRIBE SELECT * FROM probe_fn(1)").fetchall()[0][:2] == ("event", "VARCHAR")
    con.execute("EXPLAIN SELECT * FROM probe_fn(1)").fetchall()
    con.execute("PREPARE p AS SELECT * FROM probe_fn(?)")
    assert calls == []
    con.execute("EXECUTE p(3)").fetchall()
    assert len(calls) == 1


def test_accepted_data_predicates_reach_the_source(probe):
    con, calls = probe
    con.execute("SELECT n FROM probe_fn(1) WHERE event IN ('a', 'c')").fetchall()
    assert calls[-1][1] == ["(\"event\" IN ('a', 'c'))"]


def test_the_columns_a_query_reads_reach_the_source():
    seen: list[list[str]] = []

    def run(args, pushed, columns):
        seen.append(columns)
        yield pa.RecordBatch.from_pydict({"event": ["a"], "n": [1]}, schema=SCHEMA)

    con = duckdb.connect()
    install(con, run, named={})
    assert con.execute("SELECT sum(n) FROM probe_fn(1)").fetchall() == [(1,)]
    assert con.execute("SELECT * FROM probe_fn(1)").fetchall() == [("a", 1)]
    con.close()
    assert seen == [["n"], ["event", "n"]]


def test_non_constant_arguments_fail_safe(probe):
    con, _ = probe
    with pytest.raises(duckdb.Error, match="must be constants"):
        con.execute("SELECT (SELECT count(*) FROM probe_fn(v)) FROM (VALUES (1), (2)) t(v)").fetchall()


def test_macro_is_listed_with_its_comment(probe):
    con, _ = probe
    rows = con.execute("SELECT function_type, comment FROM duckdb_functions() WHERE function_name = 'probe_fn'"
                       ).fetchall()
    assert rows == [("table_macro", "probe")]


def test_other_connections_are_untouched(probe):
    other = duckdb.connect()
    with pytest.raises(duckdb.CatalogException):
        other.execute("SELECT * FROM probe_fn(1)")
    other.close()


@pytest.mark.parametrize("collation", ["nocase", "noaccent", "nocase.noaccent"])
def test_a_default_collation_changes_neither_the_arguments_nor_the_pushdown(probe, collation):
    con, calls = probe
    con.execute(f"SET default_collation = '{collation}'")
    assert con.execute("SELECT * FROM probe_fn('MiXeD Ünïcode')").fetchall() == [("a", 1), ("b", 2)]
    assert calls[-1] == ({"a": "MiXeD Ünïcode", "opt": None}, [])  # not lower-cased or stripped of accents
    plan = con.execute("EXPLAIN SELECT * FROM probe_fn('X')").fetchall()[0][1]
    # the arguments are a filter on the scan itself (pushed down), with no Filter operator above it
    assert "Filters:" in plan and "lower(" not in plan
    assert '"__args" = \'{"__function":"probe_fn","a":"X","opt":null}\'' in plan


def test_a_collation_set_before_the_macro_is_made_is_harmless_too():
    con = duckdb.connect()
    con.execute("SET default_collation = 'nocase'")
    calls = []

    def run(args, pushed, columns):
        calls.append(args)
        yield pa.RecordBatch.from_pydict({"event": ["a"], "n": [1]}, schema=SCHEMA)

    install(con, run, named={})
    assert con.execute("SELECT n FROM probe_fn('Up')").fetchall() == [(1,)]
    assert calls == [{"a": "Up"}]
    con.close()


def test_all_functions_share_one_registered_view_in_the_catalog():
    """DuckDB's registration always makes a visible TEMP view: one for every function of a connection, not one each."""
    con = duckdb.connect()
    other = pa.schema([("event", pa.int64()), ("m", pa.string())])  # a column name of SCHEMA, another type

    def run_other(args, pushed, columns):
        yield pa.RecordBatch.from_pydict({"event": [7], "m": ["x"]}, schema=other)

    def run(args, pushed, columns):
        yield pa.RecordBatch.from_pydict({"event": ["a"], "n": [1]}, schema=SCHEMA)

    install_table_functions(con, [TableMacro(TableSource("probe_fn", SCHEMA, run), ("a",), {}, ""),
                                  TableMacro(TableSource("other_fn", other, run_other), (), {}, "")])
    con.execute("CREATE TABLE mine AS SELECT 1 AS x")
    assert con.execute("SHOW TABLES").fetchall() == [("__mpsql",), ("mine",)]
    assert con.execute("SELECT p.event, o.event, o.m FROM probe_fn(1) p, other_fn() o").fetchall() == [("a", 7, "x")]
    con.close()
