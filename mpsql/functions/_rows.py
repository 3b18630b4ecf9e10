"""Functions answered by JSON responses: one call path (validate, resolve, fetch lazily) and one Arrow mapping.

Every mp_* function other than ``mp_export`` is a ``rows_function``: its argument model validates the call
before any request, then a producer turns Mixpanel's JSON into row tuples in the function's schema, and
``to_batches`` is the one place those Python values become Arrow (JSON columns, timestamps, dates).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import pyarrow as pa

from mpsql.api.client import MixpanelClient, Reply
from mpsql.api.regions import Family
from mpsql.errors import Cancelled, InvalidResponse
from mpsql.functions._args import Args, parse_call, sql_named
from mpsql.functions._clock import today_for
from mpsql.functions._context import CancelScope, Context, Progress
from mpsql.functions._spec import TableFunction

A = TypeVar("A", bound=Args)

BATCH_ROWS = 122_880  # DuckDB's row-group size: smaller batches make a CTAS into a file markedly slower


@dataclass
class Call(Generic[A]):
    """One running call: its validated arguments, its account's client, and the replies it has fetched."""

    function: str
    args: A
    client: MixpanelClient
    ctx: Context
    today: dt.date
    replies: list[Reply] = field(default_factory=list)
    progress: Progress | None = None
    cancel: CancelScope | None = None

    def fetch(self, family: Family, endpoint: str, params: dict[str, Any] | None = None, *, method: str = "GET",
              ttl: float | None = None, json_body: dict[str, Any] | None = None) -> Any:
        """The JSON body of one request (from the cache when ``ttl`` allows); the reply is kept for ``rows``."""
        return self.accept(self.request(family, endpoint, params, method=method, ttl=ttl, json_body=json_body))

    def request(self, family: Family, endpoint: str, params: dict[str, Any] | None = None, *, method: str = "GET",
                ttl: float | None = None, json_body: dict[str, Any] | None = None) -> Reply:
        """One request, nothing recorded: safe to run on worker threads (pair it with ``accept`` in order).

        A Query API request carries the data view: ``workspace :=``, else the account's ``workspace_id``
        (config or ``MP_WORKSPACE_ID``); export never does (docs/mixpanel-api.md, "Data views")."""
        if family == "query":
            workspace = getattr(self.args, "workspace", None) or self.client.account.workspace_id
            if workspace is not None and "workspace_id" not in (params or {}):
                params = {**(params or {}), "workspace_id": workspace}
        return self.client.fetch_json(family, endpoint, params, method=method, cache_ttl=ttl, cancel=self.cancel,
                                      json_body=json_body)

    def accept(self, reply: Reply) -> Any:
        """Keep ``reply`` (for ``report``'s row count and the progress line's bytes); returns its body."""
        self.replies.append(reply)
        if self.progress is not None:
            self.progress.bytes += reply.record.bytes
        return reply.body

    def report(self, rows: int) -> None:
        """Count ``rows`` against the last reply (``mp_requests().rows``) and the progress line; a cancelled
        statement stops here, between pages."""
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled(f"{self.function}: cancelled")
        if self.replies:
            record = self.replies[-1].record
            record.rows = (record.rows or 0) + rows
        if self.progress is not None:
            self.progress.rows += rows
            self.progress.windows_done += 1
            self.ctx.report(self.progress)


Producer = Callable[[Call[A]], Iterable[Sequence[Any]]]


def rows_function(*, name: str, schema: pa.Schema, model: type[A], positional: tuple[str, ...],
                  description: str, example: str, produce: Producer[A],
                  progress: bool = False, needs_account: bool = True) -> TableFunction:
    """A ``TableFunction`` whose rows come from ``produce(call)``; its named SQL arguments are the model's other
    fields with their defaults (``sql_named``).

    The model's ``check(function, today)`` runs and the account resolves when the statement starts, so bad
    input fails before any request; ``produce`` runs lazily as DuckDB pulls rows. Single-request functions
    need not count rows: the total is recorded on their one reply.
    """

    def start(ctx: Context, raw: dict[str, Any], pushed: list, columns: list[str]) -> Iterator[pa.RecordBatch]:
        args = parse_call(name, model, raw)
        account = getattr(args, "account", None)
        # The project's today where the project's zone could change the verdict (docs/mixpanel-api.md, "Report
        # conventions": a to_date after the project's today is refused).
        today = today_for(ctx, name, account, getattr(args, "to_date", None)) if needs_account else ctx.today()
        args.check(name, today)
        client = ctx.client(name, account) if needs_account else None
        call = Call(name, args, client, ctx, today, cancel=ctx.scope())  # type: ignore[arg-type]
        if progress:
            call.progress = Progress(function=name)
        return _run(call, produce, schema)

    return TableFunction(name=name, schema=schema, positional=positional, named=sql_named(model, positional),
                         description=description, example=example, start=start, model=model)


def _run(call: Call[A], produce: Producer[A], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    total = 0
    for batch in to_batches(schema, produce(call)):
        total += batch.num_rows
        yield batch
    if len(call.replies) == 1 and call.replies[0].record.rows is None:
        call.replies[0].record.rows = total


def to_batches(schema: pa.Schema, rows: Iterable[Sequence[Any]], size: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """Row tuples (in ``schema`` order) as record batches of up to ``size`` rows.

    JSON columns take any JSON-able value (text already encoded is kept as-is when passed as ``RawJson``);
    timestamp columns take aware datetimes or epoch seconds; date columns
    take dates or 'YYYY-MM-DD' text.
    """
    chunk: list[Sequence[Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield _batch(schema, chunk)
            chunk = []
    if chunk:
        yield _batch(schema, chunk)


class RawJson(str):
    """Text that is already JSON (a JSON column stores it as-is)."""


def _batch(schema: pa.Schema, rows: list[Sequence[Any]]) -> pa.RecordBatch:
    arrays = []
    for i, f in enumerate(schema):
        values = [row[i] for row in rows]
        try:
            arrays.append(_array(f.type, values))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError) as exc:
            # Rows come from an answer: a value that fits no column of this type is the answer's fault.
            raise InvalidResponse(f"Mixpanel answered a value that does not fit the column {f.name} "
                                  f"({f.type}): {str(exc)[:200]}") from None
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _array(kind: pa.DataType, values: list[Any]) -> pa.Array:
    if isinstance(kind, pa.JsonType):
        text = [None if v is None else v if isinstance(v, RawJson) else _json(v) for v in values]
        return pa.array(text, type=kind)
    if pa.types.is_timestamp(kind):
        return pa.array([_timestamp(v) for v in values], type=kind)
    if pa.types.is_date(kind):
        return pa.array([_date(v) for v in values], type=kind)
    return pa.array(values, type=kind)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _timestamp(value: Any) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    raise TypeError(f"not a timestamp: {value!r}")


def _date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])
