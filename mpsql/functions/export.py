"""``mp_export``: raw events from Mixpanel's export API as a streaming, deduplicated DuckDB table.

How a call runs, top to bottom:

1. ``start_export`` validates the arguments and resolves the account before any request (``ArgumentError``).
2. ``plan_export`` folds pushed-down predicates in: ``event = / IN`` narrows the API's ``event`` list and
   ``time`` bounds narrow the date range; the exact predicate is still applied to every row.
3. The range is cut into day-aligned windows, the first one day long and the next sized from the density
   seen so far (``next_window_days``). A worker thread downloads each window to a temporary file
   and parses it with DuckDB's own JSON reader on a private connection, where Mixpanel's dedup rule is
   applied; ``JsonlBody`` and that parse together prove the body arrived whole. A window that fails is
   downloaded again from scratch before any of its rows are handed on, so retries never duplicate or lose rows.
4. The consumer yields the window's rows as Arrow batches aligned to DuckDB's row-group size, one window
   ahead of the download, so memory stays flat however long the range is.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import os
import queue
import shutil
import tempfile
import threading
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
from pydantic import Field

from mpsql.api.client import MixpanelClient
from mpsql.api.framing import TERMINATED_EARLY, JsonlBody
from mpsql.errors import Cancelled, StreamTruncated
from mpsql.functions._args import Args, Day, Names, check_date_range, parse_call, sql_named
from mpsql.functions._context import CancelScope, Context, Progress
from mpsql.functions._duckdb import Binary, Col, In, Lit, Node
from mpsql.functions._spec import TableFunction

NAME = "mp_export"
MAX_EVENTS = 100_000  # Mixpanel's cap on the export `limit` parameter (FACTS.md §5.1)
ROW_GROUP = 122_880
# A window's parse spills to the statement's temporary folder beyond this, so memory stays flat however dense
# the project is (windows are sized in days, not events).
WINDOW_MEMORY = "256MB"  # DuckDB's row-group size: smaller batches make a CTAS into a file markedly slower

SCHEMA = pa.schema([
    pa.field("event", pa.string()),
    pa.field("time", pa.timestamp("us", tz="UTC")),
    pa.field("distinct_id", pa.string()),
    pa.field("insert_id", pa.string()),
    pa.field("properties", pa.json_()),
])


class ExportArgs(Args):
    """The arguments of ``mp_export``."""

    from_date: Day
    to_date: Day
    events: Names = None
    filter: str | None = None
    max_events: int | None = Field(default=None, ge=1, le=MAX_EVENTS)
    dedupe: bool = True
    account: str | None = None
    window_days: int | None = Field(default=None, ge=1, le=31)


@dataclass(frozen=True)
class ExportPlan:
    """What will be requested, after pushed-down predicates narrowed the call."""

    from_date: dt.date
    to_date: dt.date
    events: tuple[str, ...] | None  # None: all events
    exact_sql: str  # the pushed-down predicates as SQL, re-applied to every row ('' when none)
    empty: bool = False  # the predicates exclude every row: no request at all


# -- pushdown ---------------------------------------------------------------------------------------------------

_COMPARE = {"=", "!=", "<", "<=", ">", ">="}


def accepts(node: Node) -> bool:
    """Predicates on ``event`` and ``time`` against literals, combined with AND/OR; applied exactly later."""
    if isinstance(node, Binary) and node.op in ("AND", "OR"):
        return accepts(node.left) and accepts(node.right)
    if isinstance(node, Binary) and node.op in _COMPARE:
        return (isinstance(node.left, Col) and isinstance(node.right, Lit)
                and node.left.parts[-1] in ("event", "time"))
    if isinstance(node, In):
        return (isinstance(node.operand, Col) and node.operand.parts[-1] == "event"
                and all(isinstance(v, Lit) for v in node.values))
    return False


def _event_names(node: Node) -> set[str] | None:
    """The event names a predicate allows, or None if it does not restrict the event to a list."""
    if isinstance(node, Binary) and node.op == "=" and node.left.parts[-1] == "event":
        return {node.right.value}
    if isinstance(node, In) and node.operand.parts[-1] == "event":
        return {v.value for v in node.values}
    if isinstance(node, Binary) and node.op == "AND":
        left, right = _event_names(node.left), _event_names(node.right)
        if left is None or right is None:
            return left if right is None else right
        return left & right
    if isinstance(node, Binary) and node.op == "OR":
        left, right = _event_names(node.left), _event_names(node.right)
        return None if left is None or right is None else left | right
    return None


def _time_bounds(node: Node) -> tuple[int | None, int | None]:
    """The (lowest, highest) microsecond epoch a predicate allows for ``time``; None where unbounded."""
    if isinstance(node, Binary) and node.op == "AND":
        (lo1, hi1), (lo2, hi2) = _time_bounds(node.left), _time_bounds(node.right)
        los = [v for v in (lo1, lo2) if v is not None]
        his = [v for v in (hi1, hi2) if v is not None]
        return (max(los) if los else None, min(his) if his else None)
    if isinstance(node, Binary) and node.op in (">", ">=", "<", "<=", "=") and node.left.parts[-1] == "time":
        value = node.right.value
        if not isinstance(value, int):
            return (None, None)
        lo = value if node.op in (">", ">=", "=") else None
        hi = value if node.op in ("<", "<=", "=") else None
        return (lo, hi)
    return (None, None)


def _utc_day(micros: int) -> dt.date:
    return (dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=micros)).date()


def plan_export(args: ExportArgs, pushed: Sequence[Node]) -> ExportPlan:
    """Narrow the request with pushed-down predicates; the plan's ``exact_sql`` keeps the result exact."""
    from_date, to_date = args.from_date, args.to_date
    events: set[str] | None = set(args.events) if args.events is not None else None
    for node in pushed:
        names = _event_names(node)
        if names is not None:
            events = names if events is None else events & names
        lo, hi = _time_bounds(node)
        # Export days are UTC days for projects created since 2023 (FACTS.md §8.1).
        if lo is not None:
            from_date = max(from_date, _utc_day(lo))
        if hi is not None:
            to_date = min(to_date, _utc_day(hi))
    exact = " AND ".join(f"({node.fragment()})" for node in pushed)
    empty = from_date > to_date or (events is not None and not events)
    return ExportPlan(from_date, to_date, tuple(sorted(events)) if events is not None else None, exact, empty)


MAX_WINDOW_DAYS = 7
TARGET_WINDOW_ROWS = 150_000  # about 50 MB of JSON: what one window may hold in memory at a time


def next_window_days(rows: int, days: int) -> int:
    """How many days the next window should span, given that the last one held ``rows`` events in ``days`` days.

    Export cannot be paged, only split by date, so windows are sized from the density seen so far: memory stays
    flat however dense the project is, and sparse projects spend few of the 60-per-hour export requests.
    """
    per_day = max(1.0, rows / days)
    return min(MAX_WINDOW_DAYS, max(1, int(TARGET_WINDOW_ROWS // per_day)))


def window_end(start: dt.date, to_date: dt.date, days: int) -> dt.date:
    """The inclusive last day of a window of ``days`` days from ``start``, clipped to ``to_date``."""
    return min(to_date, start + dt.timedelta(days=days - 1))


# -- download and parse one window ------------------------------------------------------------------------------

_PARSE = """
CREATE TABLE w AS
SELECT event,
       to_timestamp(CAST(k[1] AS DOUBLE)) AS time,
       CAST(k[2] ->> '$' AS VARCHAR) AS distinct_id,
       CAST(k[3] ->> '$' AS VARCHAR) AS insert_id,
       TRY_CAST(k[4] AS DOUBLE) AS processed,
       properties
FROM (
  SELECT event, properties,
         json_extract(properties, ['$.time', '$.distinct_id', '$."$insert_id"', '$.mp_processing_time_ms']) AS k
  FROM read_json(?, format = 'newline_delimited', columns = {event: 'VARCHAR', properties: 'JSON'})
)
"""

_EMPTY = """
CREATE TABLE w (event VARCHAR, time TIMESTAMPTZ, distinct_id VARCHAR, insert_id VARCHAR, processed DOUBLE,
                properties JSON)
"""

# Mixpanel's rule (FACTS.md §8.3): one row per (event, distinct_id, time, $insert_id), the copy with the greatest
# mp_processing_time_ms wins; rows without an insert id are never deduplicated. Only key columns are touched to
# find the losers, so the JSON payload is never shuffled.
_LOSERS = """
CREATE TABLE losers AS
SELECT unnest(list(rowid ORDER BY processed DESC NULLS LAST, rowid DESC)[2:]) AS rid
FROM w WHERE insert_id IS NOT NULL
GROUP BY event, distinct_id, time, insert_id HAVING count(*) > 1
"""


class Window:
    """One window's rows, parsed and deduplicated on a private DuckDB connection."""

    def __init__(self, workdir: str, index: int, span: str, dedupe: bool, exact_sql: str) -> None:
        self.span = span
        self.path = os.path.join(workdir, f"window-{index}.jsonl")
        self._dedupe = dedupe
        self._exact_sql = exact_sql
        self._file: Any = None
        self.body: JsonlBody | None = None
        self.con: duckdb.DuckDBPyConnection | None = None
        self.parsed_rows = 0

    # The client calls this once per attempt: every attempt starts from an empty file.
    def __call__(self, gzip: bool) -> Window:
        self._close_file()
        self.path = self.path.removesuffix(".gz") + (".gz" if gzip else "")  # DuckDB detects gzip by name
        self._file = open(self.path, "wb")  # noqa: SIM115 - closed in finish() or the next attempt
        self.body = JsonlBody(self._file, gzip=gzip, endpoint="export")
        return self

    def feed(self, chunk: bytes) -> None:
        assert self.body is not None
        self.body.feed(chunk)

    def finish(self) -> None:
        assert self.body is not None
        self.body.finish()
        self._close_file()
        self._parse()

    def _parse(self) -> None:
        self.close()
        con = duckdb.connect(config={"threads": 2, "preserve_insertion_order": True,
                                     "autoinstall_known_extensions": False,
                                     })
        try:
            con.execute("SET TimeZone = 'UTC'")
            if self.body is not None and (self.body.lines or (self.body.gzip and self.body.wire_bytes)):
                con.execute(_PARSE, [self.path])
            else:  # an empty body: DuckDB cannot infer anything from an empty file
                con.execute(_EMPTY)
            if self._dedupe:
                con.execute(_LOSERS)
            self.parsed_rows = con.execute("SELECT count(*) FROM w").fetchall()[0][0]
        except duckdb.Error as exc:
            con.close()
            # A cut or corrupt gzip stream, a line cut short, junk such as 'terminated early': fetch it again.
            first = str(exc).splitlines()[0].replace(self.path, "<body>")
            if _ends_terminated_early(self.path):
                first = "Mixpanel ended the body with 'terminated early'"
            raise StreamTruncated(f"export: the body of {self.span} is not whole JSONL ({first})") from None
        self.con = con

    def rows(self) -> Iterator[pa.RecordBatch]:
        """The window's result rows in batches of one DuckDB row group."""
        assert self.con is not None
        where = []
        if self._dedupe:
            where.append("rowid NOT IN (SELECT rid FROM losers)")
        if self._exact_sql:
            where.append(self._exact_sql)
        sql = "SELECT event, time, distinct_id, insert_id, properties FROM w"
        if where:
            sql += " WHERE " + " AND ".join(where)
        reader = self.con.sql(sql).to_arrow_reader(ROW_GROUP)
        for batch in reader:
            yield _as_schema(batch)

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def close(self) -> None:
        self._close_file()
        if self.con is not None:
            self.con.close()
            self.con = None


def _ends_terminated_early(path: str) -> bool:
    """Whether a body that failed to parse ends with Mixpanel's 'terminated early' line (for a clear message)."""
    last = b""
    try:
        with (gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")) as fh:
            for line in fh:
                if line.strip():
                    last = line
    except (OSError, EOFError, zlib.error):
        return False
    return last.strip() == TERMINATED_EARLY


def _as_schema(batch: pa.RecordBatch) -> pa.RecordBatch:
    """DuckDB hands JSON back as plain strings; mark the column as JSON so it arrives typed."""
    props = batch.column(4)
    if not isinstance(props.type, pa.ExtensionType):
        props = pa.ExtensionArray.from_storage(pa.json_(), props.cast(pa.string()))
    return pa.RecordBatch.from_arrays([*batch.columns[:4], props], schema=SCHEMA)


# -- the statement ----------------------------------------------------------------------------------------------

def start_export(ctx: Context, raw: dict[str, Any], pushed: list[Node]) -> Iterator[pa.RecordBatch]:
    """Validate, resolve the account and plan now (before any request); return the lazy row stream."""
    args = parse_call(NAME, ExportArgs, raw)
    check_date_range(NAME, args.from_date, args.to_date, ctx.today())
    client = ctx.client(NAME, args.account)
    plan = plan_export(args, pushed)
    return _stream(ctx, client, args, plan)


def _stream(ctx: Context, client: MixpanelClient, args: ExportArgs, plan: ExportPlan) -> Iterator[pa.RecordBatch]:
    if plan.empty:
        return
    total_days = (plan.to_date - plan.from_date).days + 1
    progress = Progress(function=NAME, windows_total=-(-total_days // (args.window_days or 1)))
    cancel = ctx.scope()  # set when the consumer stops, or by mpsql.interrupt(con) / Ctrl-C
    ready: queue.Queue[Window | BaseException | None] = queue.Queue(maxsize=1)
    workdir = tempfile.mkdtemp(prefix="mpsql-export-")
    remaining = [args.max_events]  # rows still allowed under max_events, shared with the worker

    def fetch_all() -> None:
        try:
            start, days, index = plan.from_date, args.window_days or 1, 0
            while start <= plan.to_date:
                if cancel.is_set() or (remaining[0] is not None and remaining[0] <= 0):
                    break
                end = window_end(start, plan.to_date, days)
                params: dict[str, Any] = {"from_date": start.isoformat(), "to_date": end.isoformat()}
                if plan.events is not None:
                    params["event"] = list(plan.events)
                if args.filter:
                    params["where"] = args.filter
                if remaining[0] is not None:
                    params["limit"] = remaining[0]
                window = Window(workdir, index, f"{start}..{end}", args.dedupe, plan.exact_sql)
                try:
                    _, record = client.download("export", "/export", params, window, cancel)
                    record.rows = window.parsed_rows
                except BaseException:
                    window.close()
                    raise
                if window.body is not None:
                    progress.bytes += window.body.wire_bytes
                if args.window_days is None:
                    days = next_window_days(window.parsed_rows, (end - start).days + 1)
                start, index = end + dt.timedelta(days=1), index + 1
                left = (plan.to_date - start).days + 1
                progress.windows_total = index + max(0, -(-left // days))
                _put(ready, window, cancel)
            _put(ready, None, cancel)
        except Cancelled:
            pass
        except BaseException as exc:
            _put(ready, exc, cancel)

    worker = threading.Thread(target=fetch_all, name="mpsql-export", daemon=True)
    worker.start()

    def window_batches() -> Iterator[pa.RecordBatch]:
        while True:
            item = _get(ready, cancel)
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            try:
                for batch in item.rows():
                    if cancel.is_set():
                        raise Cancelled(f"{NAME}: cancelled")
                    if remaining[0] is not None:
                        if remaining[0] <= 0:
                            break
                        batch = batch.slice(0, remaining[0])
                        remaining[0] -= batch.num_rows
                    progress.rows += batch.num_rows
                    _report(ctx, progress)
                    yield batch
            finally:
                item.close()
            progress.windows_done += 1
            _report(ctx, progress)
            if remaining[0] is not None and remaining[0] <= 0:
                return

    try:
        with contextlib.closing(window_batches()) as batches:
            yield from _row_groups(batches)
    finally:
        cancel.set()
        _drain(ready)
        worker.join(timeout=30)
        _drain(ready)
        shutil.rmtree(workdir, ignore_errors=True)


def _row_groups(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The same rows re-cut into whole DuckDB row groups across windows.

    Each window ends in a partial batch; handed on as is, a CTAS into a file writes one partial row group per
    window, which DuckDB rewrites at checkpoint (measured: +1.5 GB peak memory and +50% time at 4M events).
    The first batch goes out at once, so ``LIMIT 5`` does not wait for a row group's worth of windows.
    """
    first = next(batches, None)
    if first is None:
        return
    yield first
    held: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        if count == 0 and batch.num_rows == ROW_GROUP:
            yield batch
            continue
        held.append(batch)
        count += batch.num_rows
        while count >= ROW_GROUP:
            table = pa.Table.from_batches(held, schema=SCHEMA)
            yield table.slice(0, ROW_GROUP).combine_chunks().to_batches()[0]
            rest = table.slice(ROW_GROUP)
            held, count = rest.to_batches(), rest.num_rows
    if count:
        yield pa.Table.from_batches(held, schema=SCHEMA).combine_chunks().to_batches()[0]


def _report(ctx: Context, progress: Progress) -> None:
    if ctx.on_progress is not None:
        ctx.on_progress(progress)


def _get(q: queue.Queue, cancel: CancelScope) -> Any:
    """The worker's next item; ``Cancelled`` if the statement is interrupted while waiting for it."""
    while True:
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            if cancel.is_set():
                raise Cancelled(f"{NAME}: cancelled") from None


def _put(q: queue.Queue, item: Any, cancel: CancelScope) -> None:
    """Hand ``item`` to the consumer, unless the statement was cancelled while waiting."""
    while not cancel.is_set():
        try:
            q.put(item, timeout=0.1)
            return
        except queue.Full:
            continue
    if isinstance(item, Window):
        item.close()


def _drain(q: queue.Queue) -> None:
    while True:
        try:
            item = q.get_nowait()
        except queue.Empty:
            return
        if isinstance(item, Window):
            item.close()


FUNCTION = TableFunction(
    name=NAME,
    schema=SCHEMA,
    positional=("from_date", "to_date"),
    named=sql_named(ExportArgs, ("from_date", "to_date")),
    model=ExportArgs,
    description="Raw events from Mixpanel's export API, deduplicated by Mixpanel's rule, streamed.",
    example="SELECT event, count(*) FROM mp_export(current_date - 7, current_date - 1) GROUP BY ALL",
    start=start_export,
    accepts=accepts,
)
