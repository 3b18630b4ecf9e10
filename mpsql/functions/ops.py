"""Introspection functions that need no HTTP: ``mp_functions()``."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from mpsql.functions._duckdb import sql_string
from mpsql.functions._spec import TableFunction

DESCRIPTION = "Every mp_* function with its signature, output columns, a one-line description and an example."
# mp_functions() lists itself too: (name, signature, returns, description, example)
SELF_ROW = ("mp_functions", "mp_functions()",
            "name VARCHAR, signature VARCHAR, returns VARCHAR, description VARCHAR, example VARCHAR",
            DESCRIPTION, "SELECT name, description FROM mp_functions()")


def install_ops(con: duckdb.DuckDBPyConnection, functions: Sequence[TableFunction]) -> None:
    """Define ``mp_functions()`` listing ``functions`` and itself."""
    rows = [(fn.name, fn.signature, fn.returns, fn.description, fn.example) for fn in functions]
    rows.append(SELF_ROW)
    values = ", ".join("(" + ", ".join(sql_string(v) for v in row) + ")" for row in sorted(rows))
    con.execute(
        "CREATE OR REPLACE TEMP MACRO mp_functions() AS TABLE "
        f"SELECT * FROM (VALUES {values}) AS t(name, signature, returns, description, example)"
    )
    con.execute(f"COMMENT ON MACRO TABLE mp_functions IS {sql_string(DESCRIPTION)}")
