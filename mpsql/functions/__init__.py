"""The mp_* SQL functions: one module per family, collected here and installed on a DuckDB connection."""

from __future__ import annotations

import duckdb

from mpsql.functions import export, ops
from mpsql.functions._context import Context
from mpsql.functions._duckdb import TableSource, install_table_function
from mpsql.functions._spec import TableFunction

TABLE_FUNCTIONS: tuple[TableFunction, ...] = (export.FUNCTION,)


def install_functions(con: duckdb.DuckDBPyConnection, ctx: Context) -> None:
    """Define every mp_* function on ``con`` (TEMP macros: they belong to this connection or cursor only)."""
    for fn in TABLE_FUNCTIONS:
        source = TableSource(fn.name, fn.schema, _runner(fn, ctx), fn.accepts)
        install_table_function(con, name=fn.name, source=source, positional=fn.positional, named=fn.named,
                               comment=f"{fn.description} Example: {fn.example}")
    ops.install_ops(con, TABLE_FUNCTIONS)


def _runner(fn: TableFunction, ctx: Context):
    def run(args, pushed):
        try:
            return fn.start(ctx, args, pushed)
        except BaseException as exc:
            ctx.last_error = exc
            raise

    return run
