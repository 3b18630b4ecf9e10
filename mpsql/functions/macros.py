"""The SQL macros of ``sql/*.sql`` as ``mp_functions()`` lists them: signature, columns, description, example.

Each public macro (``mp_`` but not ``mp__``) is read from its file: the signature from its ``CREATE ... MACRO``
line, the description from the ``--`` comment right above it, the example from that comment's
``-- example:`` line. Its columns are what DuckDB says the example returns (``DESCRIBE``), worked out once per
process on a private connection holding an empty ``events`` table with ``mp_export``'s columns, so they never
drift from the SQL. The description and example also become the macro's comment in ``duckdb_functions()``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources

import duckdb

from mpsql.functions._duckdb import sql_string

_CREATE = re.compile(r"CREATE OR REPLACE TEMP MACRO (mp_[a-z]\w*)\((.*?)\)\s+AS(\s+TABLE)?\b", re.S)
EVENTS_STUB = ("CREATE TABLE events (event VARCHAR, time TIMESTAMPTZ, distinct_id VARCHAR, insert_id VARCHAR, "
               "properties JSON)")


@dataclass(frozen=True)
class Macro:
    name: str
    signature: str
    table: bool  # a table macro (FROM name(...)); else a scalar one
    description: str
    example: str
    file: str


def sql_files() -> list[tuple[str, str]]:
    """``(file name, text)`` of the shipped SQL files, in the order they are installed."""
    entries = sorted(resources.files("mpsql.sql").iterdir(), key=lambda p: p.name)
    return [(e.name, e.read_text(encoding="utf-8")) for e in entries if e.name.endswith(".sql")]


@functools.cache
def macros() -> tuple[Macro, ...]:
    """Every public macro of the SQL files."""
    found = []
    for file, text in sql_files():
        for m in _CREATE.finditer(text):
            name = m.group(1)
            if name.startswith("mp__"):
                continue
            params = " ".join(m.group(2).split())
            comment = _comment_above(text, m.start())
            example = next((line.split(":", 1)[1].strip() for line in comment if line.startswith("example:")), "")
            described = " ".join(line for line in comment if not line.startswith("example:"))
            found.append(Macro(name, f"{name}({params})", bool(m.group(3)), described, example, file))
    return tuple(sorted(found, key=lambda mc: mc.name))


def _comment_above(text: str, pos: int) -> list[str]:
    lines = text[:pos].splitlines()
    block: list[str] = []
    while lines and lines[-1].startswith("--"):
        block.insert(0, lines.pop()[2:].strip())
    return block


@functools.cache
def macro_rows() -> tuple[tuple[str, str, str, str, str], ...]:
    """``(name, signature, returns, description, example)`` of every public macro, as mp_functions() lists them."""
    from mpsql.functions import TABLE_FUNCTIONS
    from mpsql.functions._duckdb import TableMacro, TableSource, install_table_functions

    con = duckdb.connect(config={"autoinstall_known_extensions": False})
    try:
        # mp_events_local reads through mp_export; DESCRIBE makes no request
        install_table_functions(con, [TableMacro(TableSource(fn.name, fn.schema, _never, fn.accepts),
                                                 fn.positional, fn.named, "") for fn in TABLE_FUNCTIONS])
        for _, text in sql_files():
            con.execute(text)
        con.execute(EVENTS_STUB)
        rows = []
        for mc in macros():
            if mc.table:  # the call's own columns, whatever the example selects from it
                described = con.execute(f"DESCRIBE SELECT * FROM {_call(mc.example, mc.name)}").fetchall()
                returns = ", ".join(f"{col} {_short(typ)}" for col, typ, *_ in described)
            else:
                described = con.execute(f"DESCRIBE SELECT {_call(mc.example, mc.name)} FROM events").fetchall()
                returns = _short(described[0][1])
            rows.append((mc.name, mc.signature, returns, mc.description, mc.example))
        return tuple(rows)
    finally:
        con.close()


def _short(sql_type: str) -> str:
    """DuckDB's short spelling of a type, as the other mp_* functions' columns are written."""
    return sql_type.replace("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ")


def _call(example: str, name: str) -> str:
    """``name(...)`` as the example calls it (brackets balanced; strings may hold brackets)."""
    start = example.index(name + "(")
    depth, quoted = 0, False
    for i in range(start + len(name), len(example)):
        ch = example[i]
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch in "([":
            depth += 1
        elif not quoted and ch in ")]":
            depth -= 1
            if depth == 0:
                return example[start:i + 1]
    raise ValueError(f"no complete call of {name} in its example: {example}")


def _never(args, pushed, columns):  # pragma: no cover - DESCRIBE never runs a source
    raise AssertionError("DESCRIBE ran a source")


def comment_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Give each public macro its description and example as its comment in ``duckdb_functions()``."""
    for mc in macros():
        kind = "MACRO TABLE" if mc.table else "MACRO"
        con.execute(f"COMMENT ON {kind} {mc.name} IS {sql_string(f'{mc.description} Example: {mc.example}')}")
