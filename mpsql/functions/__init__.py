"""The mp_* SQL functions: one module per family, collected here and installed on a DuckDB connection.

The CLI and the REPL use only the names exported here, never the private modules (tests/contract/test_layering.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import duckdb
import pyarrow as pa

from mpsql.errors import ArgumentError, MpsqlError
from mpsql.functions import (
    activity,
    discovery,
    export,
    funnels,
    insights,
    jql,
    ops,
    profiles,
    project,
    query,
    retention,
    segmentation,
    store,
)
from mpsql.functions._context import Context, Progress
from mpsql.functions._duckdb import (
    INTERNAL_VIEW,
    TableMacro,
    TableSource,
    error_message,
    install_table_functions,
    sql_string,
)
from mpsql.functions._spec import TableFunction

__all__ = ["INTERNAL_VIEW", "TABLE_FUNCTIONS", "Context", "Progress", "error_message", "install_functions",
           "sql_string"]

TABLE_FUNCTIONS: tuple[TableFunction, ...] = (
    export.FUNCTION,
    *store.FUNCTIONS,
    profiles.FUNCTION,
    *discovery.FUNCTIONS,
    *segmentation.FUNCTIONS,
    funnels.FUNCTION,
    *retention.FUNCTIONS,
    activity.FUNCTION,
    *insights.FUNCTIONS,
    jql.FUNCTION,
    query.FUNCTION,
    *project.FUNCTIONS,
    *ops.FUNCTIONS,
)


def install_functions(con: duckdb.DuckDBPyConnection, ctx: Context) -> None:
    """Define every mp_* function on ``con`` (TEMP macros: they belong to this connection or cursor only)."""
    install_table_functions(con, [TableMacro(TableSource(fn.name, fn.schema, _runner(fn, ctx), fn.accepts),
                                             fn.positional, fn.named, f"{fn.description} Example: {fn.example}")
                                  for fn in TABLE_FUNCTIONS])
    ops.install_ops(con, TABLE_FUNCTIONS)


def _runner(fn: TableFunction, ctx: Context):
    """``fn.start`` bound to ``ctx``; any mpsql error, raised now or while streaming, is kept as ctx.last_error.

    DuckDB re-raises a source's exception as its own InvalidInputException with the type lost; the CLI reads
    ``last_error`` to report the original.
    """
    def run(args: dict[str, Any], pushed: list, columns: list[str]) -> Iterator[pa.RecordBatch]:
        try:
            _demo_range_notice(fn.name, ctx, args)
            return _recording(fn.start(ctx, args, pushed, columns), ctx, args)
        except ArgumentError as exc:
            ctx.last_error = _without_secret(exc, ctx, args)
            raise ctx.last_error from None
        except BaseException as exc:
            ctx.last_error = exc
            raise

    return run


def _demo_range_notice(function: str, ctx: Context, args: dict[str, Any]) -> None:
    """On the demo project, say so when a call's dates all lie outside the demo's data (else: 0 rows, silently)."""
    if ctx.account is None or ctx.account.source != "demo" or args.get("account") is not None:
        return
    if args.get("from_date") is None or args.get("to_date") is None:
        return
    from mpsql.demo import range_notice

    message = range_notice(function, args["from_date"], args["to_date"])
    if message is not None:
        if ctx.notice is not None:
            ctx.notice(message)
        else:
            import sys

            print(f"mpsql: {message}", file=sys.stderr)


def _without_secret(exc: ArgumentError, ctx: Context, args: dict[str, Any]) -> ArgumentError:
    """``exc`` with the account's secret masked: an argument that holds it (a secret pasted into ``unit :=``)
    is quoted back by the error otherwise. Resolving the account here sends no request."""
    account = args.get("account")
    try:
        client = ctx.client(exc.function, account if isinstance(account, str) else None)
    except MpsqlError:  # no usable account: no secret to mask
        return exc
    problem = client.redact(exc.problem)
    allowed = client.redact(exc.allowed) if exc.allowed else exc.allowed
    if (problem, allowed) == (exc.problem, exc.allowed):
        return exc
    return ArgumentError(exc.function, exc.argument, problem, allowed)


def _recording(batches: Iterator[pa.RecordBatch], ctx: Context,
               args: dict[str, Any]) -> Iterator[pa.RecordBatch]:
    ctx.enter()  # on the first pull: a source that is never read never counts as running
    try:
        yield from batches
    except GeneratorExit:
        raise
    except ArgumentError as exc:
        ctx.last_error = _without_secret(exc, ctx, args)
        raise ctx.last_error from None
    except BaseException as exc:
        ctx.last_error = exc
        raise
    finally:
        ctx.leave()
