"""The only module that touches DuckDB's private source hook; everything DuckDB-version-specific lives here.

DuckDB 2.0's Python package cannot register a table function. What works, and keeps the user's SQL untouched
(CTEs, joins, CTAS, COPY, views, prepared parameters), is a TEMP table macro over a registered Arrow source
with one hidden column ``__args``. The macro compares ``__args`` with ``to_json({...call arguments...})``;
DuckDB folds that to a constant and pushes it into the source as an equality filter, so ``stream()`` receives
the call's arguments at execution time, and never at bind time: ``DESCRIBE``, ``EXPLAIN`` and ``PREPARE``
make no request. Predicates on data columns that a function can apply exactly (``event IN (...)``, ``time >=
...``) are accepted too, to narrow the HTTP request.

It relies on ``DuckDBPyConnection._register_arrow_source`` and ``duckdb._sources``: ``duckdb`` is pinned to
2.0.x and ``tests/contract/test_duckdb_hook.py`` checks the contract.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import duckdb
import pyarrow as pa
from duckdb._sources import ArrowScanSource, nodes

ARGS_COLUMN = "__args"

Node = nodes.Node
Binary, Col, In, Lit = nodes.Binary, nodes.Col, nodes.In, nodes.Lit


class CallError(Exception):
    """The call's arguments did not reach the source (non-constant arguments or pushdown disabled)."""


class TableSource(ArrowScanSource):
    """An Arrow source behind one mp_* macro: decodes the pushed-down call, then streams record batches."""

    schema_is_stable = True

    def __init__(self, name: str, schema: pa.Schema,
                 run: Callable[[dict[str, Any], list[Node], list[str]], Iterator[pa.RecordBatch]],
                 accepts_data: Callable[[Node], bool] | None = None) -> None:
        super().__init__(None)
        self.name = name
        self.schema = schema
        self._full = schema.append(pa.field(ARGS_COLUMN, pa.string()))
        self._run = run
        self._accepts_data = accepts_data

    def __arrow_c_schema__(self) -> object:
        return self._full.__arrow_c_schema__()

    def rows(self) -> int | None:  # an estimate only; unknown before the request
        return None

    def accepts(self, predicate: Node) -> bool:
        if _is_args_filter(predicate):
            return True
        return self._accepts_data is not None and self._accepts_data(predicate)

    def stream(self, columns: Sequence[int] | None, filters: Sequence[Node]) -> tuple[object, bool]:
        args: dict[str, Any] | None = None
        data_filters: list[Node] = []
        for node in filters:
            if _is_args_filter(node):
                args = json.loads(node.right.value)
            else:
                data_filters.append(node)
        if args is None:
            raise CallError(f"{self.name}(): the arguments must be constants (literals, parameters or expressions "
                            f"such as current_date - 7), not columns of another table")
        wanted = list(range(len(self.schema))) if columns is None else [c for c in columns if c < len(self.schema)]
        out_schema = pa.schema([self.schema.field(i) for i in wanted])
        batches = self._run(args, data_filters, [f.name for f in out_schema])
        projected = (pa.RecordBatch.from_arrays([b.column(i) for i in wanted], schema=out_schema) for b in batches)
        reader = pa.RecordBatchReader.from_batches(out_schema, _closing(projected, batches))
        if columns is None:
            return reader.__arrow_c_stream__(), True
        return reader.__arrow_c_stream__(), list(columns) == wanted


def _closing(outer: Iterator[pa.RecordBatch], inner: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Yield from ``outer``; always close ``inner`` so its ``finally`` (HTTP, threads, temp files) runs."""
    try:
        yield from outer
    finally:
        close = getattr(inner, "close", None)
        if close is not None:
            close()


def _is_args_filter(node: Node) -> bool:
    return (isinstance(node, Binary) and node.op == "=" and isinstance(node.left, Col)
            and node.left.parts[-1] == ARGS_COLUMN and isinstance(node.right, Lit))


def source_name(function: str) -> str:
    return f"__mpsql_{function}"


def install_table_function(con: duckdb.DuckDBPyConnection, *, name: str, source: TableSource,
                           positional: Sequence[str], named: dict[str, str], comment: str) -> None:
    """Register ``source`` and define ``name(...)`` as a TEMP table macro over it on ``con``.

    ``named`` maps each option to its SQL default. Every column in the body is qualified (``s.event``) because
    macro parameters shadow column names (docs/duckdb-hook.md, "Writing the macro body").
    """
    con._register_arrow_source(source_name(name), source)
    params = [*positional, *(f"{arg} := {default}" for arg, default in named.items())]
    # Parameter references are quoted: ``by`` (Mixpanel's ``on``) is a keyword DuckDB accepts as a parameter
    # name and at the call site, but not as a bare reference in the macro body.
    packed = ", ".join(f"'{arg}': \"{arg}\"" for arg in [*positional, *named])
    columns = ", ".join(f's."{field.name}"' for field in source.schema)
    # An explicit binary collation: under ``SET default_collation = 'nocase'`` DuckDB would compare
    # ``lower(__args)``, a filter that is not pushed down (and would lower-case every argument).
    con.execute(
        f"CREATE OR REPLACE TEMP MACRO {name}({', '.join(params)}) AS TABLE "
        f"SELECT {columns} FROM {source_name(name)} AS s "
        f"WHERE s.{ARGS_COLUMN} = CAST(to_json({{{packed}}}) AS VARCHAR) COLLATE \"binary\""
    )
    con.execute(f"COMMENT ON MACRO TABLE {name} IS {sql_string(comment)}")


def sql_string(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def unwrap(exc: BaseException) -> str:
    """The useful first part of a DuckDB error that wraps an exception raised inside a source.

    DuckDB reports such errors as ``... failed: <Type>: <message>`` followed by Python's traceback text.
    """
    head = str(exc).split("\nTraceback", 1)[0]
    return head.split("failed: ", 1)[-1].strip()
