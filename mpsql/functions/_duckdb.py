"""The only module that touches DuckDB's private source hook; everything DuckDB-version-specific lives here.

DuckDB 2.0's Python package cannot register a table function. What works, and keeps the user's SQL untouched
(CTEs, joins, CTAS, COPY, views, prepared parameters), is a TEMP table macro over a registered Arrow source
with one hidden column ``__args``. The macro compares ``__args`` with ``to_json({...call arguments...})``;
DuckDB folds that to a constant and pushes it into the source as an equality filter, so ``stream()`` receives
the call's arguments at execution time, and never at bind time: ``DESCRIBE``, ``EXPLAIN`` and ``PREPARE``
make no request. Predicates on data columns that a function can apply exactly (``event IN (...)``, ``time >=
...``) are accepted too, to narrow the HTTP request.

All the functions of a connection route through one registered source, so the user's catalog listings
(``SHOW TABLES``, ``information_schema.tables``) show one internal view, ``__mpsql``, rather than one per function:
DuckDB's registration always creates a visible TEMP view. The rest of mpsql never sees DuckDB's private predicate
nodes: they are translated here into the small :class:`Predicate` types below.

It relies on ``DuckDBPyConnection._register_arrow_source`` and ``duckdb._sources``: ``duckdb`` is pinned to
2.0.x and ``tests/contract/test_duckdb_hook.py`` checks the contract. When upgrading DuckDB, follow "Upgrading
DuckDB" in docs/duckdb-hook.md: the signals listed there (import errors here, "arguments must be constants" on
literal calls, requests made by DESCRIBE/EXPLAIN/PREPARE, predicates no longer offered to ``accepts``) say the
hook changed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
from duckdb._sources import ArrowScanSource, nodes

ARGS_COLUMN = "__args"
FUNCTION_KEY = "__function"  # which function a call's arguments are for, packed with them
INTERNAL_VIEW = "__mpsql"  # the one view DuckDB's registration makes visible; listings may leave it out


# -- predicates, as mpsql's own types ----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Predicate:
    """A predicate DuckDB offers a source (one conjunct of the query's WHERE on the source's columns)."""

    _node: Any = field(repr=False)  # DuckDB's node, with the function's own column names: renders the SQL

    def fragment(self) -> str:
        """The predicate as parenthesised SQL on the function's columns (as EXPLAIN shows it)."""
        return self._node.fragment()


@dataclass(frozen=True, eq=False)
class Compare(Predicate):
    """``column <op> value``: op is one of = != < <= > >=; a TIMESTAMPTZ value is microseconds since the epoch."""

    op: str
    column: str
    value: object
    type: str  # DuckDB's name of the value's (the column's) type, e.g. 'VARCHAR'


@dataclass(frozen=True, eq=False)
class Among(Predicate):
    """``column IN (values...)``, at least one value."""

    column: str
    values: tuple[object, ...]


@dataclass(frozen=True, eq=False)
class Logical(Predicate):
    """``left AND right`` or ``left OR right``."""

    op: str
    left: Predicate
    right: Predicate


@dataclass(frozen=True, eq=False)
class Other(Predicate):
    """Any other predicate (NOT, IS NULL ...): a source that cannot apply it exactly refuses it."""


def _translate(node: Any, rename: Callable[[str], str | None]) -> Predicate:
    """DuckDB's node as a :class:`Predicate`, its columns renamed (``rename`` returns None for a column of
    another function, which makes the predicate ``Other``)."""
    if isinstance(node, nodes.Binary) and node.op in ("AND", "OR"):
        left, right = _translate(node.left, rename), _translate(node.right, rename)
        return Logical(nodes.Binary(node.op, left._node, right._node), node.op, left, right)
    if isinstance(node, nodes.Binary) and isinstance(node.left, nodes.Col) and isinstance(node.right, nodes.Lit):
        column = rename(node.left.parts[0])
        if column is not None:
            own = nodes.Binary(node.op, nodes.Col((column, *node.left.parts[1:])), node.right)
            return Compare(own, node.op, ".".join((column, *node.left.parts[1:])), node.right.value,
                           node.right.type)
    if (isinstance(node, nodes.In) and isinstance(node.operand, nodes.Col)
            and all(isinstance(v, nodes.Lit) for v in node.values)):
        column = rename(node.operand.parts[0])
        if column is not None:
            own = nodes.In(nodes.Col((column, *node.operand.parts[1:])), list(node.values))
            return Among(own, ".".join((column, *node.operand.parts[1:])), tuple(v.value for v in node.values))
    return Other(node)


# -- the functions of a connection, behind one source ------------------------------------------------------------


class CallError(Exception):
    """The call's arguments did not reach the source (non-constant arguments or pushdown disabled)."""


@dataclass(frozen=True, eq=False)
class TableSource:
    """What stands behind one mp_* macro: its columns, how to run a call, which data predicates it applies.

    ``run(args, predicates, columns)`` streams record batches in ``schema`` (columns it was not asked for may be
    left NULL); ``accepts_data`` says whether it applies a predicate exactly (then DuckDB does not check it).
    """

    name: str
    schema: pa.Schema
    run: Callable[[dict[str, Any], list[Predicate], list[str]], Iterator[pa.RecordBatch]]
    accepts_data: Callable[[Predicate], bool] | None = None


def _column(function: str, column: str) -> str:
    """A function's column in the shared source's schema."""
    return f"{function}.{column}"


class _SharedSource(ArrowScanSource):
    """One registered Arrow source for all the functions of a connection.

    Its schema holds every function's columns (``mp_export.event`` ...) and one hidden column ``__args``. A
    macro reads only its own function's columns; the equality on ``__args``, pushed down, says which function a
    scan is (``__function``) and with which arguments.
    """

    schema_is_stable = True

    def __init__(self, sources: Sequence[TableSource]) -> None:
        super().__init__(None)
        self.sources = {s.name: s for s in sources}
        fields: list[pa.Field] = []
        self._owner: dict[str, tuple[str, str]] = {}  # shared column -> (function, its own column)
        for s in sources:
            for f in s.schema:
                fields.append(pa.field(_column(s.name, f.name), f.type))
                self._owner[fields[-1].name] = (s.name, f.name)
        self.schema = pa.schema([*fields, pa.field(ARGS_COLUMN, pa.string())])

    def __arrow_c_schema__(self) -> object:
        return self.schema.__arrow_c_schema__()

    def rows(self) -> int | None:  # an estimate only; unknown before the request
        return None

    def _function_of(self, node: Any) -> str | None:
        """The one function whose columns ``node`` reads (None if several or none)."""
        found: set[str] = set()
        pending = [node]
        while pending:
            current = pending.pop()
            if isinstance(current, nodes.Col):
                owner = self._owner.get(current.parts[0])
                found.add(owner[0] if owner else "")
            elif isinstance(current, nodes.Binary):
                pending += [current.left, current.right]
            elif isinstance(current, nodes.In):
                pending += [current.operand, *current.values]
            elif isinstance(current, nodes.Unary | nodes.Postfix):
                pending.append(current.operand)
        return found.pop() if len(found) == 1 and "" not in found else None

    def _translate(self, function: str, node: Any) -> Predicate:
        def rename(column: str) -> str | None:
            owner = self._owner.get(column)
            return owner[1] if owner is not None and owner[0] == function else None

        return _translate(node, rename)

    def accepts(self, predicate: Any) -> bool:
        if _is_args_filter(predicate):
            return True
        function = self._function_of(predicate)
        if function is None:
            return False
        accepts_data = self.sources[function].accepts_data
        return accepts_data is not None and accepts_data(self._translate(function, predicate))

    def stream(self, columns: Sequence[int] | None, filters: Sequence[Any]) -> tuple[object, bool]:
        args: dict[str, Any] | None = None
        data = []
        for node in filters:
            if _is_args_filter(node):
                args = json.loads(node.right.value)
            else:
                data.append(node)
        requested = list(range(len(self.schema))) if columns is None else list(columns)
        if args is None:
            owners = [self._owner[self.schema.field(i).name][0] for i in requested if i < len(self.schema) - 1]
            name = owners[0] if owners else "an mp_* function"
            raise CallError(f"{name}(): the arguments must be constants (literals, parameters or expressions "
                            f"such as current_date - 7), not columns of another table")
        source = self.sources[args.pop(FUNCTION_KEY)]
        function = source.name
        out_schema = pa.schema([self.schema.field(i) for i in requested])
        own = {}  # position in the output -> index in the function's schema
        for pos, i in enumerate(requested):
            owner, column = self._owner.get(self.schema.field(i).name, ("", ""))
            if owner == function:
                own[pos] = source.schema.get_field_index(column)
        batches = source.run(args, [self._translate(function, n) for n in data],
                             [source.schema.field(own[pos]).name for pos in sorted(own)])

        def shaped() -> Iterator[pa.RecordBatch]:
            for b in batches:
                arrays = [b.column(own[pos]) if pos in own else pa.nulls(b.num_rows, f.type)
                          for pos, f in enumerate(out_schema)]
                yield pa.RecordBatch.from_arrays(arrays, schema=out_schema)

        reader = pa.RecordBatchReader.from_batches(out_schema, _closing(shaped(), batches))
        return reader.__arrow_c_stream__(), True


def _is_args_filter(node: Any) -> bool:
    return (isinstance(node, nodes.Binary) and node.op == "=" and isinstance(node.left, nodes.Col)
            and node.left.parts == (ARGS_COLUMN,) and isinstance(node.right, nodes.Lit))


def _closing(outer: Iterator[pa.RecordBatch], inner: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Yield from ``outer``; always close ``inner`` so its ``finally`` (HTTP, threads, temp files) runs."""
    try:
        yield from outer
    finally:
        close = getattr(inner, "close", None)
        if close is not None:
            close()


@dataclass(frozen=True)
class TableMacro:
    """One mp_* function to define: its source, SQL parameters (``named`` maps each option to its SQL default)
    and the comment ``duckdb_functions()`` shows."""

    source: TableSource
    positional: Sequence[str]
    named: dict[str, str]
    comment: str


def install_table_functions(con: duckdb.DuckDBPyConnection, macros: Sequence[TableMacro]) -> None:
    """Register one source for ``macros`` and define each as a TEMP table macro over it on ``con``.

    A later call replaces the earlier one's source (install every function of a connection in one call). Every
    column in a body is qualified (``s.event``) because macro parameters shadow column names
    (docs/duckdb-hook.md, "Writing the macro body").
    """
    con._register_arrow_source(INTERNAL_VIEW, _SharedSource([m.source for m in macros]))
    for m in macros:
        name = m.source.name
        params = [*m.positional, *(f"{arg} := {default}" for arg, default in m.named.items())]
        # Parameter references are quoted: ``by`` (Mixpanel's ``on``) is a keyword DuckDB accepts as a parameter
        # name and at the call site, but not as a bare reference in the macro body.
        packed = ", ".join([f"'{FUNCTION_KEY}': '{name}'",
                            *(f"'{arg}': \"{arg}\"" for arg in [*m.positional, *m.named])])
        columns = ", ".join(f's."{_column(name, f.name)}" AS "{f.name}"' for f in m.source.schema)
        # An explicit binary collation: under ``SET default_collation = 'nocase'`` DuckDB would compare
        # ``lower(__args)``, a filter that is not pushed down (and would lower-case every argument).
        con.execute(
            f"CREATE OR REPLACE TEMP MACRO {name}({', '.join(params)}) AS TABLE "
            f"SELECT {columns} FROM {INTERNAL_VIEW} AS s "
            f"WHERE s.{ARGS_COLUMN} = CAST(to_json({{{packed}}}) AS VARCHAR) COLLATE \"binary\""
        )
        con.execute(f"COMMENT ON MACRO TABLE {name} IS {sql_string(m.comment)}")


def sql_string(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def error_message(exc: BaseException) -> str:
    """The useful first part of a DuckDB error that wraps an exception raised inside a source.

    DuckDB reports such errors as ``... failed: <Type>: <message>`` followed by Python's traceback text.
    """
    head = str(exc).split("\nTraceback", 1)[0]
    return head.split("failed: ", 1)[-1].strip()
