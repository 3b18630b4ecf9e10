"""``TableFunction``: the declarative record of one mp_* function, read by install, mp_functions() and docs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    from pydantic import BaseModel

    from mpsql.functions._context import Context
    from mpsql.functions._duckdb import Predicate


@dataclass(frozen=True)
class TableFunction:
    """Name, SQL signature, fixed output schema, and how to run a call.

    ``start(ctx, arguments, pushed_predicates, columns)`` validates and plans eagerly (errors surface before any
    request) and returns a lazy iterator of record batches in ``schema``; ``columns`` names the ones the query
    reads, so a source may leave the others empty (all NULL).
    """

    name: str
    schema: pa.Schema
    positional: tuple[str, ...]
    named: dict[str, str]  # option -> SQL default
    description: str
    example: str
    start: Callable[[Context, dict[str, Any], list[Predicate], list[str]], Iterator[pa.RecordBatch]]
    accepts: Callable[[Predicate], bool] | None = None
    model: type[BaseModel] | None = None  # the argument model ``named`` is derived from (``sql_named``)

    @property
    def signature(self) -> str:
        options = ", ".join(f"{arg} := {default}" for arg, default in self.named.items())
        return f"{self.name}({', '.join([*self.positional, options] if options else self.positional)})"

    @property
    def returns(self) -> str:
        from mpsql.functions._types import sql_type

        return ", ".join(f"{f.name} {sql_type(f.type)}" for f in self.schema)
