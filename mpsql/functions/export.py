"""``mp_export``: raw events from Mixpanel's export API as a streaming, deduplicated DuckDB table, read through
the local event store so that a settled day is fetched once.

How a call runs, top to bottom:

1. ``start_export`` validates the arguments and resolves the account before any request (``ArgumentError``).
2. ``plan_export`` folds pushed-down predicates in: ``event = / IN`` narrows the API's ``event`` list and
   ``time`` bounds narrow the date range; the exact predicate is still applied to every row.
3. ``plan_segments`` splits the days into those the store already holds for this selection (read locally, no
   request) and runs of days to fetch. ``plan_windows`` cuts each run into as few requests as safety allows,
   sized by the project's known density (a one-day probe first when nothing is known yet).
4. ``Fetcher`` downloads windows, a few at a time; each body is parsed in parts while it downloads, by DuckDB's
   own JSON reader on a private connection (one part at a time for the statement: ``ParseLane``), checked line
   by line (``Window``), and written as one Parquet file per day. A window that fails is downloaded again from
   scratch before any of its rows are used, so retries never duplicate or lose rows; its days are committed to
   the store only once whole.
5. The consumer reads each window (or the held day files) in date order with Mixpanel's dedup rule and the exact
   predicates applied, as Arrow batches aligned to DuckDB's row groups.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import heapq
import itertools
import json
import math
import os
import queue
import re
import tempfile
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa
from pydantic import Field

from mpsql.api.client import URL_ARGUMENTS_LIMIT, MixpanelClient, url_size
from mpsql.api.framing import TERMINATED_EARLY, JsonlBody
from mpsql.errors import ArgumentError, Cancelled, ConfigError, InvalidResponse, StreamTruncated
from mpsql.functions._args import Args, Day, Names, check_date_range, parse_call, sql_named
from mpsql.functions._clock import clock, today_for
from mpsql.functions._context import CancelScope, Context, Progress
from mpsql.functions._duckdb import Among, Compare, Logical, sql_string
from mpsql.functions._duckdb import Predicate as Node
from mpsql.functions._rows import BATCH_ROWS
from mpsql.functions._spec import TableFunction
from mpsql.functions.where_sql import UnsupportedWhere, where_to_sql
from mpsql.store.days import DayStore, HeldDay, Selection, make_scratch, manifest, release_scratch, remove_orphans

NAME = "mp_export"
MAX_EVENTS = 100_000  # Mixpanel's cap on the export `limit` parameter (docs/mixpanel-api.md, export)

SCHEMA = pa.schema([
    pa.field("event", pa.string()),
    pa.field("time", pa.timestamp("us", tz="UTC")),
    pa.field("distinct_id", pa.string()),
    pa.field("insert_id", pa.string()),
    pa.field("properties", pa.json_()),
])

StoreMode = Literal["use", "refresh", "off", "local"]


class ExportArgs(Args):
    """The arguments of ``mp_export``."""

    from_date: Day
    to_date: Day
    events: Names = None
    filter: str | None = None
    max_events: int | None = Field(default=None, ge=1, le=MAX_EVENTS)
    dedupe: bool = True
    account: str | None = None
    window_days: int | None = Field(default=None, ge=1, le=366)
    store: StoreMode = "use"


@dataclass(frozen=True)
class ExportPlan:
    """What will be requested, after pushed-down predicates narrowed the call."""

    from_date: dt.date
    to_date: dt.date
    events: tuple[str, ...] | None  # None: all events
    exact_sql: str  # the pushed-down predicates as SQL, re-applied to every row ('' when none)
    empty: bool = False  # the predicates exclude every row: no request at all
    zone: str = "UTC"  # the zone whose days export's dates name: UTC, or a legacy project's (functions/_clock.py)


# -- pushdown ---------------------------------------------------------------------------------------------------

_COMPARE = {"=", "!=", "<", "<=", ">", ">="}


def accepts(node: Node) -> bool:
    """Predicates on ``event`` and ``time`` against literals, combined with AND/OR; applied exactly later."""
    if isinstance(node, Logical):
        return accepts(node.left) and accepts(node.right)
    if isinstance(node, Compare) and node.op in _COMPARE:
        return node.column in ("event", "time")
    if isinstance(node, Among):
        return node.column == "event"
    return False


def _event_names(node: Node) -> set[str] | None:
    """The event names a predicate allows, or None if it does not restrict the event to a list."""
    if isinstance(node, Compare) and node.op == "=" and node.column == "event":
        return {node.value}
    if isinstance(node, Among) and node.column == "event":
        return set(node.values)
    if isinstance(node, Logical) and node.op == "AND":
        left, right = _event_names(node.left), _event_names(node.right)
        if left is None or right is None:
            return left if right is None else right
        return left & right
    if isinstance(node, Logical) and node.op == "OR":
        left, right = _event_names(node.left), _event_names(node.right)
        return None if left is None or right is None else left | right
    return None


def _time_bounds(node: Node) -> tuple[int | None, int | None]:
    """The (lowest, highest) microsecond epoch a predicate allows for ``time``; None where unbounded."""
    if isinstance(node, Logical) and node.op == "AND":
        (lo1, hi1), (lo2, hi2) = _time_bounds(node.left), _time_bounds(node.right)
        los = [v for v in (lo1, lo2) if v is not None]
        his = [v for v in (hi1, hi2) if v is not None]
        return (max(los) if los else None, min(his) if his else None)
    if isinstance(node, Compare) and node.op in (">", ">=", "<", "<=", "=") and node.column == "time":
        value = node.value
        if not isinstance(value, int):
            return (None, None)
        lo = value if node.op in (">", ">=", "=") else None
        hi = value if node.op in ("<", "<=", "=") else None
        return (lo, hi)
    return (None, None)


# A legacy project's export day holds the events whose local wall-clock date it is; read back as instants, an
# event near midnight may land up to a clock change (at most two hours) plus the hour repeated in autumn on the
# other side of midnight. Time bounds therefore fetch the days this much wider; the exact predicate does the rest.
_LEGACY_MARGIN = dt.timedelta(hours=3)


def _export_day(micros: int, zone: str, margin: dt.timedelta) -> dt.date:
    """The export day holding instant ``micros`` (microseconds since the epoch): its UTC date, or for a legacy
    project its date on the project's wall clock, ``margin`` earlier (negative: later)."""
    instant = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=micros)
    if zone == "UTC":
        return instant.date()
    import zoneinfo

    return (instant.astimezone(zoneinfo.ZoneInfo(zone)).replace(tzinfo=None) - margin).date()


def plan_export(args: ExportArgs, pushed: Sequence[Node], zone: str = "UTC") -> ExportPlan:
    """Narrow the request with pushed-down predicates; the plan's ``exact_sql`` keeps the result exact.

    ``zone`` is the zone of export's days (``ProjectClock.export_zone``): UTC for projects created since 2023,
    the project's own for a legacy one (docs/mixpanel-api.md, "Time zones")."""
    from_date, to_date = args.from_date, args.to_date
    events: set[str] | None = set(args.events) if args.events is not None else None
    for node in pushed:
        names = _event_names(node)
        if names is not None:
            events = names if events is None else events & names
        lo, hi = _time_bounds(node)
        if lo is not None:
            from_date = max(from_date, _export_day(lo, zone, _LEGACY_MARGIN))
        if hi is not None:
            to_date = min(to_date, _export_day(hi, zone, -_LEGACY_MARGIN))
    exact = " AND ".join(f"({node.fragment()})" for node in pushed)
    empty = from_date > to_date or (events is not None and not events)
    if events is not None and url_size(sorted(events)) + url_size(args.filter or "") > URL_ARGUMENTS_LIMIT:
        # Too many pushed-down names for a URL: ask as the call did; the exact predicate still filters every row.
        events = set(args.events) if args.events is not None else None
    return ExportPlan(from_date, to_date, tuple(sorted(events)) if events is not None else None, exact, empty,
                      zone)


# -- which days to read, which to fetch, and in how many requests -----------------------------------------------

@dataclass(frozen=True)
class Segment:
    """Consecutive days handled alike: ``held`` days are read from the store, the others are fetched."""

    first: dt.date
    last: dt.date
    held: tuple[HeldDay, ...] = ()

    @property
    def fetch(self) -> bool:
        return not self.held

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


def plan_segments(first: dt.date, last: dt.date, held: dict[dt.date, HeldDay], usable: Callable[[HeldDay], bool],
                  ) -> list[Segment]:
    """The days ``first..last`` in order, grouped into runs to read (held and ``usable``) and runs to fetch."""
    segments: list[Segment] = []
    day = first
    while day <= last:
        have = held.get(day)
        ok = have is not None and usable(have)
        if segments and segments[-1].fetch != ok and segments[-1].last == day - dt.timedelta(days=1):
            prev = segments[-1]
            segments[-1] = Segment(prev.first, day, (*prev.held, have) if ok else ())  # type: ignore[arg-type]
        else:
            segments.append(Segment(day, day, (have,) if ok else ()))  # type: ignore[arg-type]
        day += dt.timedelta(days=1)
    return segments


TARGET_WINDOW_ROWS = 250_000  # about 90 MB of JSON (~12 MB gzip on the wire): what one request may carry
PROBE_TRUST_ROWS = 1_000  # a density measured on fewer rows only lets the next window grow 32-fold
MAX_IN_FLIGHT = 4  # windows downloading at once (Mixpanel allows 100 concurrent and 3 a second per project)


def plan_windows(first: dt.date, last: dt.date, rows_per_day: float | None, *, fixed_days: int | None = None,
                 target: int | None = None) -> list[tuple[dt.date, dt.date]]:
    """Cut ``first..last`` into day-aligned request windows.

    ``fixed_days`` (``window_days :=``) gives every window that many days. Otherwise each window is sized to hold
    about ``target`` rows at the known density, so a sparse range is one request and a dense one a few that can
    run at once; with nothing known the first window is one day (a probe) and the caller plans the rest after it.
    """
    total = (last - first).days + 1
    if fixed_days is not None:
        sizes = [fixed_days] * (total // fixed_days) + ([total % fixed_days] if total % fixed_days else [])
    elif rows_per_day is None:
        return [(first, first)]
    else:
        # As many windows as the rows need (29 days of 33k rows are 4 windows of 7-8 days, not 5 of 6: a fifth
        # would wait for a first to be read before it is even sent), evenly sized.
        count = min(total, max(1, math.ceil(total * rows_per_day / (target or TARGET_WINDOW_ROWS))))
        sizes = [total // count + (1 if i < total % count else 0) for i in range(count)]  # even: no tiny last one
    out = []
    start = first
    for size in sizes:
        end = start + dt.timedelta(days=size - 1)
        out.append((start, end))
        start = end + dt.timedelta(days=1)
    return out


@dataclass
class Density:
    """Rows a day, as known so far: from the store's recent days, then from each window as it arrives.

    A density measured on few rows (a one-day probe of a quiet day) is not trusted far: the next windows may
    then reach only 32 times as many days, and are planned again from what they hold.
    """

    per_day: float | None = None
    rows: int = 0
    days: int = 0
    trusted: bool = False

    @classmethod
    def known(cls, per_day: float | None) -> Density:
        return cls(per_day=per_day, trusted=per_day is not None)

    def saw(self, rows: int, days: int) -> None:
        self.rows += rows
        self.days += days
        self.per_day = self.rows / self.days
        self.trusted = self.trusted or self.rows >= PROBE_TRUST_ROWS

    def next_windows(self, start: dt.date, last: dt.date, fixed_days: int | None) -> list[tuple[dt.date, dt.date]]:
        """The next requests from ``start`` towards ``last``: at most twice as many as run at once (so downloads
        keep overlapping), after which a project whose density changes over the range (one that grows, a launch)
        is planned again from what arrived."""
        windows = plan_windows(start, self.horizon(start, last), self.per_day, fixed_days=fixed_days)
        return windows[:2 * MAX_IN_FLIGHT]

    def horizon(self, start: dt.date, last: dt.date) -> dt.date:
        """The last day the next windows may reach."""
        if self.per_day is None or self.trusted:
            return last
        return min(last, start + dt.timedelta(days=32 * max(1, self.days) - 1))


# -- one window: download, parse as it arrives, check, write one Parquet file per day ----------------------------

# Every line must be a Mixpanel event: an object with a string ``event`` and a ``properties`` object whose ``time``
# is a number. A time of 1e11 or more cannot be seconds (that is the year 5138): it is read as milliseconds.
_PARSE = """
INSERT INTO w
SELECT CASE WHEN json_type(event) = 'VARCHAR' THEN event ->> '$' END AS event,
       CASE WHEN json_type(k[1]) IN ('BIGINT', 'UBIGINT', 'DOUBLE') AND t > 0 AND t < 1e14
            THEN make_timestamp(CAST(round(t * CASE WHEN t >= 1e11 THEN 1000 ELSE 1000000 END) AS BIGINT))
       END::TIMESTAMPTZ AS time,
       CAST(k[2] ->> '$' AS VARCHAR) AS distinct_id,
       CAST(k[3] ->> '$' AS VARCHAR) AS insert_id,
       TRY_CAST(k[4] AS DOUBLE) AS processed,
       false AS duplicate,
       properties
FROM (
  SELECT event, properties, k, TRY_CAST(k[1] AS DOUBLE) AS t
  FROM (
    SELECT event, properties,
           json_extract(properties, ['$.time', '$.distinct_id', '$."$insert_id"', '$.mp_processing_time_ms']) AS k
    FROM read_json(?, format = 'newline_delimited', columns = {event: 'JSON', properties: 'JSON'},
                   maximum_object_size = 16777216)
  )
)
"""

_EMPTY = """
CREATE OR REPLACE TABLE w (event VARCHAR, time TIMESTAMPTZ, distinct_id VARCHAR, insert_id VARCHAR,
                           processed DOUBLE, duplicate BOOLEAN, properties JSON)
"""

# Mixpanel's rule (docs/mixpanel-api.md, duplicates): one row per (event, distinct_id, time, $insert_id), the copy
# with the greatest mp_processing_time_ms wins; rows without an insert id are never deduplicated. Copies share their
# insert id, so only the few rows whose insert id repeats are ranked (4x faster than grouping every row by the whole
# key), and only key columns are read: the JSON payload is never shuffled. The store keeps the losers, marked.
_MARK_DUPLICATES = """
UPDATE w SET duplicate = true WHERE rowid IN (
  SELECT rid FROM (
    SELECT w.rowid AS rid, row_number() OVER (PARTITION BY w.event, w.distinct_id, w.time, w.insert_id
                                              ORDER BY w.processed DESC NULLS LAST, w.rowid DESC) AS n
    FROM w SEMI JOIN (SELECT insert_id FROM w WHERE insert_id IS NOT NULL GROUP BY insert_id HAVING count(*) > 1) AS d
      ON w.insert_id = d.insert_id)
  WHERE n > 1)
"""

_DAY_COLUMNS = "event, time, distinct_id, insert_id, properties, duplicate"

# A body that arrives slower than DuckDB parses it (a response streamed at a bounded rate, as Mixpanel's are) is
# parsed in parts of at least PART_BYTES of JSON while the rest downloads, so it costs little more than its
# download. A body that arrives faster is parsed whole once it is in: measured, parts then only add set-up work
# (on loopback at full speed, 500k events took 1.6x DuckDB's own read_json in 16 MB parts, 1.4x whole).
# Parts end on line boundaries.
PART_BYTES = 16 << 20
PART_SLOWER_THAN = 100e6  # bytes of JSON a second: about half what a parse on two cores takes in


def _private_connection(scratch: Path, zone: str = "UTC") -> duckdb.DuckDBPyConnection:
    """A DuckDB connection of mpsql's own (never the user's), spilling to the statement's scratch folder.

    Its time zone is that of export's days (``Selection.zone``): UTC, or a legacy project's. So a window's
    day split and date check are in export's days, and ``_PARSE``'s cast of a wall-clock time to TIMESTAMPTZ
    reads a legacy project's local time as the true instant (a wall-clock time repeated when clocks go back is
    read as its later, standard-time instant; one skipped when they go forward with the offset before the
    change: DuckDB's reading of a local time)."""
    con = duckdb.connect(config={"threads": 2, "preserve_insertion_order": True,
                                 "autoinstall_known_extensions": False, "temp_directory": str(scratch / "spill")})
    con.execute(f"SET GLOBAL TimeZone = {sql_string(zone)}")  # GLOBAL: its cursors (write_days, read) too
    return con


@dataclass
class _Part:
    """A run of whole lines of one attempt's body, in a file of its own until it is parsed and checked."""

    path: Path
    first_line: int  # index in the whole body of its first line (= the rowid of its first row in ``w``)
    lines: int
    last: bool = False


class ParseLane:
    """Parses the parts of a statement's windows one at a time (a parse takes both cores: two at once would only
    slow each other), the earliest window's first: the statement reads windows in order, so the window it needs
    next is whole soonest, and is read while later ones are still parsed."""

    def __init__(self) -> None:
        self._queue: list[tuple[int, int, Future[None], Callable[[], None]]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    def submit(self, window: int, work: Callable[[], None]) -> Future[None]:
        future: Future[None] = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("the parse lane is closed")
            heapq.heappush(self._queue, (window, next(self._seq), future, work))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="mpsql-parse", daemon=True)
                self._thread.start()
            self._cond.notify()
        return future

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                _, _, future, work = heapq.heappop(self._queue)
            if not future.set_running_or_notify_cancel():
                continue
            try:
                work()
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(None)

    def close(self) -> None:
        """Call off the parts not begun; wait for the one being parsed."""
        with self._cond:
            self._closed = True
            for _, _, future, _ in self._queue:
                future.cancel()
            self._queue.clear()
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join()


class Window:
    """One request's rows: its body parsed part by part as it downloads into a private DuckDB table ``w``, then,
    once whole, checked and deduplicated.

    Two parties share the parsed rows: the reader (the statement, via ``read``) and the writer (``write_days``,
    one Parquet file per day for the store), at the same time on two cursors; each calls ``release`` when done.
    """

    def __init__(self, scratch: Path, index: int, first: dt.date, last: dt.date, selection: Selection, *,
                 redact: Callable[[str, int], str] = lambda text, limit: text[:limit], version: str = "",
                 clock: Callable[[], float] = time.time, lane: ParseLane | None = None,
                 part_bytes: int = PART_BYTES, part_slower_than: float = PART_SLOWER_THAN) -> None:
        self.scratch = scratch
        self.first, self.last = first, last
        self.span = f"{first}..{last}"
        self.selection = selection
        self.index = index
        self.rows = 0  # every line of the body, duplicates included
        self.fetched_at = 0.0
        self.body: JsonlBody | None = None
        self._redact = redact  # DuckDB's parse errors quote the offending value, which may echo the secret
        self._version = version
        self._clock = clock
        self._own_lane = lane is None
        self._lane = lane or ParseLane()
        self._part_bytes, self._part_slower_than = part_bytes, part_slower_than
        self._attempt = 0
        self._file: Any = None
        self._part: _Part | None = None  # being written
        self._part_start = 0  # body bytes before it
        self._part_began = 0.0  # time.monotonic() when its first bytes came
        self._parts: list[Future[None]] = []  # this attempt's parts, submitted to the lane
        self._inflate: Any = None
        self.wire_bytes = 0  # as sent (compressed), for the progress line
        self.con: duckdb.DuckDBPyConnection | None = None  # holds the rows (table w)
        self.parsed = threading.Event()  # set once the rows may be read
        self._shares = 2  # the reader's and the writer's: the rows are dropped when both are done
        self._lock = threading.Lock()

    # The client calls this once per attempt: every attempt starts from nothing.
    def __call__(self, gzip: bool) -> Window:
        self._settle()
        if self.con is None:
            self.con = _private_connection(self.scratch, self.selection.zone)
        self.con.execute(_EMPTY)  # drops what an earlier attempt parsed
        self._attempt += 1
        self._part_start, self._part_began = 0, time.monotonic()
        self.body = JsonlBody(_PartSink(self), gzip=False, endpoint="export")
        self._open_part()
        # A gzip body is inflated as it arrives (a core that would otherwise wait on the network).
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzip else None
        self.wire_bytes = 0
        return self

    def feed(self, chunk: bytes) -> None:
        assert self.body is not None
        self.wire_bytes += len(chunk)
        if self._inflate is None:
            self.body.feed(chunk)
        else:
            while chunk:
                if self._inflate.eof:  # gzip members back to back make one body
                    self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
                try:
                    self.body.feed(self._inflate.decompress(chunk))
                except zlib.error as exc:
                    raise StreamTruncated(f"export: the gzip body of {self.span} is corrupt ({exc})") from None
                chunk = self._inflate.unused_data if self._inflate.eof else b""
        # The file holds whole lines only (the body keeps a line's start until its end arrives): cut it here.
        written = self.body.bytes - self._part_start
        if written >= self._part_bytes and written < self._part_slower_than * (time.monotonic() - self._part_began):
            self._cut(last=False)
        for part in self._parts:  # a part that failed fails the attempt now, not after the rest downloads
            if part.done() and part.exception() is not None:
                part.result()

    def finish(self) -> None:
        """Prove the body whole and well formed (the client retries the request if not), then hold its rows."""
        assert self.body is not None and self.con is not None
        if self._inflate is not None and self.wire_bytes and not self._inflate.eof:
            raise StreamTruncated(f"export: the gzip body of {self.span} ended early")
        self.body.finish()
        self._cut(last=True)
        for part in self._parts:
            part.result()
        self.fetched_at = self._clock()
        self.rows = self.con.execute("SELECT count(*) FROM w").fetchone()[0]  # type: ignore[index]
        self.con.execute(_MARK_DUPLICATES)

    def read(self, rows: RowFilter, columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
        """The window's rows that pass ``rows``, in the body's order."""
        assert self.con is not None
        cursor = self.con.cursor()
        try:
            yield from _select(cursor, "w", rows, columns)
        finally:
            cursor.close()

    def write_days(self) -> dict[dt.date, Path]:
        """One Parquet file per day (every row, duplicates marked) with the manifest in its metadata."""
        assert self.con is not None
        folder = self.scratch / f"window-{self.index}"
        folder.mkdir(mode=0o700)
        files: dict[dt.date, Path] = {}
        cursor = self.con.cursor()
        try:
            day = self.first
            while day <= self.last:
                path = folder / f"{day.isoformat()}.parquet"
                meta = manifest(day, self.fetched_at, self.selection, self.span, self._version).replace("'", "''")
                # Export's days (the connection's zone: docs/mixpanel-api.md, time zones); each keeps the body's order.
                # zstd level 1: half the time of the default level on event JSON, and no larger.
                cursor.execute(f"COPY (SELECT {_DAY_COLUMNS} FROM w WHERE time >= ?::TIMESTAMPTZ "
                               f"AND time < ?::TIMESTAMPTZ + INTERVAL 1 DAY) TO {sql_string(str(path))} "
                               f"(FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, "
                               f"KV_METADATA {{mpsql: '{meta}'}})",
                               [day.isoformat(), day.isoformat()])
                os.chmod(path, 0o600)
                files[day] = path
                day += dt.timedelta(days=1)
        finally:
            cursor.close()
        return files

    def echoes(self, secret: str) -> bool:
        """Whether any row carries ``secret`` (a hostile server echoing the credential): such rows are never kept."""
        if not secret or self.con is None:
            return False
        cursor = self.con.cursor()
        try:
            return bool(cursor.execute("SELECT count(*) FROM w WHERE contains(CAST(properties AS VARCHAR), ?) "
                                       "OR contains(event, ?)", [secret, secret]).fetchone()[0])  # type: ignore[index]
        finally:
            cursor.close()

    def release(self) -> None:
        """The reader or the writer is done; the rows go when both are."""
        with self._lock:
            self._shares -= 1
            con = self.con if self._shares <= 0 else None
            if con is not None:
                self.con = None
        if con is not None:
            self._settle()
            con.close()
            if self._own_lane:
                self._lane.close()

    def close(self) -> None:
        """The download is over (done or failed): no part of it is parsed any more."""
        self._settle()

    # -- parts ------------------------------------------------------------------------------------------------

    def _open_part(self) -> None:
        assert self.body is not None
        path = self.scratch / f"window-{self.index}-{self._attempt}-{len(self._parts)}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
        self._file = os.fdopen(fd, "wb")
        self._part = _Part(path, self.body.lines, 0)

    def _cut(self, *, last: bool) -> None:
        """Hand the part written so far to the lane (an empty last part only if the body had no line at all)."""
        assert self.body is not None and self._part is not None
        part, self._part = self._part, None
        self._file.close()
        self._file = None
        part.lines, part.last = self.body.lines - part.first_line, last
        if part.lines:
            self._parts.append(self._lane.submit(self.index, lambda: self._parse(part)))
        else:
            with contextlib.suppress(OSError):
                os.unlink(part.path)
        self._part_start, self._part_began = self.body.bytes, time.monotonic()
        if not last:
            self._open_part()

    def _settle(self) -> None:
        """Close the part being written and wait for (or call off) the parts handed to the lane."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._part is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._part.path)
            self._part = None
        for part in self._parts:
            part.cancel()
        for part in self._parts:
            with contextlib.suppress(BaseException):
                part.result()
        self._parts = []

    def _parse(self, part: _Part) -> None:
        """Parse one part into ``w`` and check its rows (runs on the lane)."""
        con = self.con
        assert con is not None
        try:
            try:
                con.execute(_PARSE, [str(part.path)])
            except (duckdb.Error, UnicodeDecodeError) as exc:
                raise self._parse_error(exc, part) from None
            self._check(con, part)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(part.path)

    def _parse_error(self, exc: BaseException, part: _Part) -> InvalidResponse | StreamTruncated:
        # (DuckDB's message quotes the bad bytes; when they are not UTF-8, reading the message itself fails.)
        first = self._redact(str(exc).splitlines()[0].replace(str(part.path), "<body>"), 500)
        if "maximum_object_size" in first:
            # Not something a second download would mend: Mixpanel caps an event at 1 MB.
            return InvalidResponse(f"export: the body of {self.span} holds a record larger than 16 MB")
        shape = re.search(r"transform error .* in line (\d+)", first)
        if shape:  # well-formed JSON of the wrong shape (a list, a string, a number): not a cut body
            number = int(shape.group(1))
            return InvalidResponse(f"export: line {part.first_line + number} of the body for {self.span} is not a "
                                   f"Mixpanel event (an object with an 'event' name and 'properties' holding a "
                                   f"numeric 'time'): {self._redact(_line(part.path, number - 1), 300)}")
        if part.last and _ends_terminated_early(part.path):
            first = "Mixpanel ended the body with 'terminated early'"
        # A cut or corrupt gzip stream, a line cut short, junk such as a proxy's error page: fetch it again.
        return StreamTruncated(f"export: the body of {self.span} is not whole JSONL ({first})")

    def _check(self, con: duckdb.DuckDBPyConnection, part: _Part) -> None:
        """Every row is an event of one of the requested days; otherwise the window fails, naming the line."""
        bad, low, high = con.execute(
            "SELECT min(rowid) FILTER (WHERE event IS NULL OR time IS NULL), "
            "min(time) FILTER (WHERE CAST(time AS DATE) NOT BETWEEN ? AND ?), "
            "max(time) FILTER (WHERE CAST(time AS DATE) NOT BETWEEN ? AND ?) FROM w WHERE rowid >= ?",
            [self.first, self.last, self.first, self.last, part.first_line]).fetchone()  # type: ignore[misc]
        if bad is not None:
            line = _line(part.path, bad - part.first_line)
            raise InvalidResponse(f"export: line {bad + 1} of the body for {self.span} is not a Mixpanel event "
                                  f"(an object with an 'event' name and 'properties' holding a numeric 'time'): "
                                  f"{self._redact(line, 300)}")
        if low is not None:
            raise InvalidResponse(f"export: the response for {self.span} holds events outside those days "
                                  f"({low} .. {high})")


class _PartSink:
    """The file the body writes its whole lines to: the window's current part."""

    def __init__(self, window: Window) -> None:
        self._window = window

    def write(self, data: bytes) -> None:
        self._window._file.write(data)

    def writelines(self, parts: Iterable[bytes]) -> None:
        self._window._file.writelines(parts)


def _line(path: Path, index: int) -> str:
    """Line ``index`` (0-based) of a body file, for an error message; JSON escapes written out (``\\u0041`` as
    ``A``), so that redaction sees a secret however the server spelled it."""
    try:
        with open(path, "rb") as fh:
            for i, line in enumerate(fh):
                if i == index:
                    text = line.decode("utf-8", "replace").strip()
                    try:
                        return json.dumps(json.loads(text), ensure_ascii=False)
                    except ValueError:
                        return text
    except OSError:
        pass
    return "(unreadable)"


def _ends_terminated_early(path: Path) -> bool:
    """Whether a body that failed to parse ends with Mixpanel's 'terminated early' line (for a clear message)."""
    last = b""
    try:
        with open(path, "rb") as fh:
            for line in fh:
                if line.strip():
                    last = line
    except OSError:
        return False
    return last.strip() == TERMINATED_EARLY


# -- reading day files ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RowFilter:
    """What every served row must satisfy, as SQL over the day files' columns."""

    dedupe: bool = True
    events: tuple[str, ...] | None = None
    where_sql: str = ""
    exact_sql: str = ""

    def sql(self) -> str:
        parts = []
        if self.dedupe:
            parts.append("NOT duplicate")
        if self.events is not None:
            parts.append("event IN (" + ", ".join(sql_string(e) for e in self.events) + ")")
        if self.where_sql:
            parts.append(f"({self.where_sql})")
        if self.exact_sql:
            parts.append(self.exact_sql)
        return " AND ".join(parts) or "true"


def read_days(con: duckdb.DuckDBPyConnection, files: Sequence[Path], rows: RowFilter,
              columns: Sequence[str] = tuple(SCHEMA.names)) -> Iterator[pa.RecordBatch]:
    """The rows of held day ``files`` in order (each day keeps the export's order), filtered, in row-group batches.

    Only ``columns`` are read (a query counting events never decompresses ``properties``); the others come back
    as NULL columns, which the table function does not hand on.
    """
    if not files:
        return
    listing = ", ".join(sql_string(str(f)) for f in files)
    yield from _select(con, f"read_parquet([{listing}])", rows, columns)


def _select(con: duckdb.DuckDBPyConnection, source: str, rows: RowFilter,
            columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
    wanted = [name for name in SCHEMA.names if name in columns] or ["event"]
    sql = f"SELECT {', '.join(wanted)} FROM {source} WHERE {rows.sql()}"
    for batch in con.sql(sql).to_arrow_reader(BATCH_ROWS):
        yield _as_schema(batch, wanted)


def _as_schema(batch: pa.RecordBatch, names: Sequence[str]) -> pa.RecordBatch:
    """The batch in ``SCHEMA``: columns not read are NULL, and JSON (which DuckDB hands back as plain strings) is
    marked as JSON so it arrives typed."""
    arrays = []
    for column_field in SCHEMA:
        if column_field.name not in names:
            arrays.append(pa.nulls(batch.num_rows, column_field.type))
            continue
        column = batch.column(names.index(column_field.name))
        if column_field.name == "properties" and not isinstance(column.type, pa.ExtensionType):
            column = pa.ExtensionArray.from_storage(pa.json_(), column.cast(pa.string()))
        arrays.append(column)
    return pa.RecordBatch.from_arrays(arrays, schema=SCHEMA)


# -- fetching windows, a few at a time ---------------------------------------------------------------------------

@dataclass
class Fetcher:
    """Downloads windows for one statement, up to ``MAX_IN_FLIGHT`` at once, handing them back in order.

    A window is handed on as soon as its rows are checked; meanwhile its days are written and committed to the
    store (whole days only). Until the consumer has asked for more than a first batch only one window is in
    flight, so ``LIMIT 5`` costs one request.
    """

    client: MixpanelClient
    scratch: Path
    params: dict[str, Any]  # the request's fixed parameters (event, where, limit)
    selection: Selection
    store: DayStore | None
    cancel: CancelScope
    progress: Progress
    clock: Callable[[], float] = time.time
    gate: Callable[[], bool] | None = None  # asked before each request; False stops fetching (mp_sync's budget)
    demand: threading.Event = field(default_factory=threading.Event)
    stopped: bool = False  # the gate said no: windows were left unfetched
    _index: int = 0
    _pool: ThreadPoolExecutor | None = None
    _lane: ParseLane | None = None

    def fetch(self, windows: Sequence[tuple[dt.date, dt.date]], *, stored: bool = False) -> Iterator[Window]:
        """The windows in order, each once its rows are checked (with ``stored``, once its days are kept too).

        The caller owns the reader's share of each window it receives and must ``release`` it.
        """
        pending: deque[tuple[Window, Future[Window]]] = deque()
        todo = deque(windows)
        try:
            while todo or pending:
                limit = MAX_IN_FLIGHT if self.demand.is_set() else 1
                while todo and len(pending) < limit and self._may_send(todo):
                    pending.append(self._submit(*todo.popleft()))
                if not pending:
                    return
                window, future = pending[0]
                while not (future.done() or (window.parsed.is_set() and not stored)):
                    if self.cancel.wait(0.02):
                        raise Cancelled(f"{NAME}: cancelled")
                    if self.demand.is_set() and len(pending) < MAX_IN_FLIGHT and todo and self._may_send(todo):
                        pending.append(self._submit(*todo.popleft()))
                if not window.parsed.is_set():
                    future.result()  # the download failed: its error
                pending.popleft()
                yield window
        finally:
            for window, future in pending:  # never handed on: nobody will read them
                future.cancel()
                future.add_done_callback(lambda _, w=window: w.release())

    def _may_send(self, todo: deque[tuple[dt.date, dt.date]]) -> bool:
        if self.gate is None or self.gate():
            return True
        self.stopped = True
        todo.clear()
        return False

    def _submit(self, first: dt.date, last: dt.date) -> tuple[Window, Future[Window]]:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(MAX_IN_FLIGHT, thread_name_prefix="mpsql-export")
        if self._lane is None:
            self._lane = ParseLane()
        window = Window(self.scratch, self._index, first, last, self.selection, redact=self.client.redact,
                        version=_version(), clock=self.clock, lane=self._lane)
        self._index += 1
        return window, self._pool.submit(self._download, window)

    def _download(self, window: Window) -> Window:
        params = {"from_date": window.first.isoformat(), "to_date": window.last.isoformat(), **self.params}
        try:
            try:
                _, record = self.client.download("export", "/export", params, window, self.cancel)
            finally:
                window.close()
            record.rows = window.rows
            self.progress.bytes += window.wire_bytes
            self.progress.requests += 1
            window.parsed.set()
            # A body cut short by `limit` is not a whole day: it is served, never kept.
            complete = self.params.get("limit") is None or window.rows < self.params["limit"]
            if self.store is not None and complete:
                self._keep(window)
        finally:
            window.release()  # the writer's share
        return window

    def _keep(self, window: Window) -> None:
        """Write and commit the window's days; a store that cannot be written is a notice, not a failure."""
        assert self.store is not None
        if window.echoes(self.client.account.secret.reveal()):
            self.client.notice(f"{NAME}: the response for {window.span} repeats the account's secret; its days are "
                               "not kept in the local store")
            return
        held = self.store.held(_days(window.first, window.last))
        try:
            for day, path in window.write_days().items():
                before = held.get(day)
                # Never a narrower selection over a wider one: a whole day stays whole (for mpsql and for any
                # engine reading the folder); the narrower rows were served, and are fetched again when asked.
                if before is not None and not self.selection.covers(before.selection, where_applies_locally=True):
                    continue
                self.store.commit(day, path)
        except (OSError, duckdb.Error, ConfigError) as exc:
            self.client.notice(f"{NAME}: the days {window.span} could not be kept in the local store "
                               f"({type(exc).__name__}: {exc}); the rows are correct but will be fetched again")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self._lane is not None:
            self._lane.close()


def _version() -> str:
    from mpsql.version import __version__

    return __version__


# -- the statement ----------------------------------------------------------------------------------------------

def start_export(ctx: Context, raw: dict[str, Any], pushed: list[Node],
                 columns: Sequence[str] = ()) -> Iterator[pa.RecordBatch]:
    """Validate, resolve the account and plan now (before any request); return the lazy row stream."""
    args = parse_call(NAME, ExportArgs, raw)
    check_date_range(NAME, args.from_date, args.to_date, today_for(ctx, NAME, args.account, args.to_date))
    client = ctx.client(NAME, args.account)
    # Only a legacy project changes what export's days and times mean; its zone may come from /api/app/me.
    found = clock(client, ask=bool(client.account.legacy_time))
    plan = plan_export(args, pushed, found.export_zone)
    store = ctx.day_store(client.account) if args.store != "off" else None
    local_where = ""
    if args.filter:
        try:
            local_where = where_to_sql(args.filter)
        except UnsupportedWhere as exc:
            if args.store == "local":
                raise ArgumentError(NAME, "filter", f"cannot be applied to held days: {exc}") from None
            local_where = ""  # held days without this very `where` cannot answer it: they are fetched
    if plan.empty:
        return iter(())
    return ExportRun(ctx, client, args, plan, store, local_where, tuple(columns) or tuple(SCHEMA.names)).rows()


# What the worker hands the consumer: a fetched window, or held day files, with the filter their rows need.
_Item = tuple["list[Path] | Window", RowFilter]


class ExportRun:
    """One statement's rows: a worker fetches (or finds held) the days in order while the consumer reads them.

    The worker (``produce``) walks the planned segments: held days are handed on as files, missing days are
    fetched window by window. The consumer (``rows``) reads each item in turn, applies ``max_events``, reports
    progress and re-cuts the batches into whole row groups.
    """

    def __init__(self, ctx: Context, client: MixpanelClient, args: ExportArgs, plan: ExportPlan,
                 store: DayStore | None, local_where: str, columns: tuple[str, ...]) -> None:
        self.ctx, self.client, self.args, self.plan, self.store = ctx, client, args, plan, store
        self.local_where, self.columns = local_where, columns
        self.want = Selection(plan.events, args.filter or None, plan.zone)
        self.cancel = ctx.scope()  # set when the consumer stops, or by mpsql.interrupt(con) / Ctrl-C
        self.ready: queue.Queue[_Item | BaseException | None] = queue.Queue(maxsize=1)
        self.remaining = args.max_events

    def rows(self) -> Iterator[pa.RecordBatch]:
        """The statement's batches (lazy: nothing is fetched before the first is asked for)."""
        now = self.ctx.now()
        scratch = self.store.scratch() if self.store is not None else _system_scratch()
        try:
            # The held days are pinned (hard-linked into the scratch folder) before planning: another process
            # replacing one meanwhile cannot change what this statement reads.
            held = self.store.pin(_days(self.plan.from_date, self.plan.to_date), scratch) if self.store else {}
            segments = plan_segments(self.plan.from_date, self.plan.to_date, held, lambda day: self._usable(day, now))
            if self.args.store == "local":
                segments = _held_only(segments, self.plan, self.client.notice)
            self.progress = Progress(function=NAME, windows_total=sum(1 for s in segments if not s.fetch))
            # Known from the store's recent days, else learnt from the first window (a probe): one for all runs.
            self.density = Density.known(self.store.rows_per_day() if self.store is not None else None)
            self.fetcher = Fetcher(self.client, scratch, _request_params(self.args, self.plan), self.want,
                                   self.store, self.cancel, self.progress, clock=self.ctx.now)
            worker = threading.Thread(target=self._produce, args=(segments,), name="mpsql-export", daemon=True)
            con = _private_connection(scratch)
            worker.start()
            try:
                with contextlib.closing(self._consume(con)) as stream:
                    yield from _row_groups(stream)
            finally:
                self.cancel.set()
                _drain(self.ready)
                worker.join(timeout=30)
                self.fetcher.close()
                con.close()
        finally:
            release_scratch(scratch)

    def _usable(self, day: HeldDay, now: float) -> bool:
        """Whether a held day may answer this call: it covers the selection and is settled (or fresh enough)."""
        if not day.selection.covers(self.want, where_applies_locally=bool(self.local_where)):
            return False
        assert self.store is not None
        return self.args.store == "local" or (self.args.store == "use" and day.servable(self.store.settings, now))

    def _row_filter(self, where: str | None) -> RowFilter:
        # Rows fetched with the call's `where` (or held under it) were filtered by Mixpanel; rows of a day held
        # whole get the same `where` applied locally.
        local = self.local_where if self.args.filter and where is None else ""
        return RowFilter(self.args.dedupe, self.plan.events, local, self.plan.exact_sql)

    # -- the worker -------------------------------------------------------------------------------------------

    def _produce(self, segments: list[Segment]) -> None:
        try:
            for segment in segments:
                if segment.fetch:
                    self._fetch(segment)
                else:
                    for group in _same_where(segment.held):
                        _put(self.ready, ([d.path for d in group], self._row_filter(group[0].selection.where)),
                             self.cancel)
            _put(self.ready, None, self.cancel)
        except Cancelled:
            pass
        except BaseException as exc:
            _put(self.ready, exc, self.cancel)

    def _fetch(self, segment: Segment) -> None:
        """Fetch a run of missing days, planning the windows as the density becomes known."""
        density = self.density
        start = segment.first
        while start <= segment.last:
            windows = density.next_windows(start, segment.last, self.args.window_days)
            self.progress.windows_total += len(windows)
            for window in self.fetcher.fetch(windows):
                density.saw(window.rows, (window.last - window.first).days + 1)
                if not _put(self.ready, (window, self._row_filter(self.args.filter or None)), self.cancel):
                    window.release()
                start = window.last + dt.timedelta(days=1)

    # -- the consumer -----------------------------------------------------------------------------------------

    def _consume(self, con: duckdb.DuckDBPyConnection) -> Iterator[pa.RecordBatch]:
        while True:
            item = _get(self.ready, self.cancel)
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield from self._read(con, *item)
            self.fetcher.demand.set()
            self.progress.windows_done += 1
            self.ctx.report(self.progress)
            if self.remaining is not None and self.remaining <= 0:
                return

    def _read(self, con: duckdb.DuckDBPyConnection, source: list[Path] | Window,
              rows: RowFilter) -> Iterator[pa.RecordBatch]:
        """One item's batches, cut at ``max_events``."""
        if isinstance(source, Window):
            stream, done = source.read(rows, self.columns), source.release
        else:
            stream = _held_rows(read_days(con, source, rows, self.columns), source)
            done = lambda: None  # noqa: E731
        try:
            for batch in stream:
                if self.cancel.is_set():
                    raise Cancelled(f"{NAME}: cancelled")
                if self.remaining is not None:
                    if self.remaining <= 0:
                        return
                    batch = batch.slice(0, self.remaining)
                    self.remaining -= batch.num_rows
                self.progress.rows += batch.num_rows
                self.ctx.report(self.progress)
                yield batch
                # Asked for more after a first batch: not a `LIMIT 5`, so further windows may be fetched.
                self.fetcher.demand.set()
        finally:
            stream.close()  # type: ignore[attr-defined]
            done()


def _held_rows(batches: Iterator[pa.RecordBatch], files: Sequence[Path]) -> Iterator[pa.RecordBatch]:
    """The rows of held days; a day file that cannot be read is a clear error saying how to mend it."""
    try:
        yield from batches
    except (duckdb.Error, UnicodeDecodeError) as exc:
        days = ", ".join(f.stem.removeprefix("held-") for f in files[:3]) + (", ..." if len(files) > 3 else "")
        raise InvalidResponse(f"{NAME}: a held day file ({days}) cannot be read ({str(exc).splitlines()[0][:200]}); "
                              "drop it with mp_store_drop(...) or fetch it again with store := 'refresh'") from None
    finally:
        batches.close()  # type: ignore[attr-defined]


def _held_only(segments: list[Segment], plan: ExportPlan, notice: Callable[[str], None]) -> list[Segment]:
    """``store := 'local'``: the held segments only, with a notice naming the days left out."""
    missing = [s for s in segments if s.fetch]
    if missing:
        days = sum(s.days for s in missing)
        spans = ", ".join(f"{s.first}..{s.last}" if s.days > 1 else str(s.first) for s in missing[:5])
        notice(f"{NAME}: {days} of {(plan.to_date - plan.from_date).days + 1} days are not held for this selection "
               f"({spans}{', ...' if len(missing) > 5 else ''}); they are left out. Fetch them with mp_sync(...) or "
               f"store := 'use'.")
    return [s for s in segments if not s.fetch]


def _request_params(args: ExportArgs, plan: ExportPlan) -> dict[str, Any]:
    """The export parameters every window of the call shares (its dates are added per window)."""
    params: dict[str, Any] = {"time_in_ms": "true"}  # milliseconds: order within a second, exact dedupe
    if plan.events is not None:
        params["event"] = list(plan.events)
    if args.filter:
        params["where"] = args.filter
    if args.max_events is not None:
        params["limit"] = args.max_events
    return params


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def _same_where(days: Sequence[HeldDay]) -> list[list[HeldDay]]:
    """Consecutive held days grouped by the ``where`` they were fetched with (it decides their filter)."""
    groups: list[list[HeldDay]] = []
    for day in days:
        if groups and groups[-1][0].selection.where == day.selection.where:
            groups[-1].append(day)
        else:
            groups.append([day])
    return groups


def _system_scratch() -> Path:
    """A scratch folder in the system's temporary folder (``store := 'off'``), with dead statements' removed."""
    parent = Path(tempfile.gettempdir())
    remove_orphans(parent)
    return make_scratch(parent)


def _row_groups(batches: Iterator[pa.RecordBatch], size: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
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
        if count == 0 and batch.num_rows == size:
            yield batch
            continue
        held.append(batch)
        count += batch.num_rows
        while count >= size:
            table = pa.Table.from_batches(held, schema=SCHEMA)
            yield table.slice(0, size).combine_chunks().to_batches()[0]
            rest = table.slice(size)
            held, count = rest.to_batches(), rest.num_rows
    if count:
        yield pa.Table.from_batches(held, schema=SCHEMA).combine_chunks().to_batches()[0]


def _get(q: queue.Queue, cancel: CancelScope) -> Any:
    """The worker's next item; ``Cancelled`` if the statement is interrupted while waiting for it."""
    while True:
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            if cancel.is_set():
                raise Cancelled(f"{NAME}: cancelled") from None


def _put(q: queue.Queue, item: Any, cancel: CancelScope) -> bool:
    """Hand ``item`` to the consumer; False if the statement was cancelled while waiting."""
    while not cancel.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _drain(q: queue.Queue) -> None:
    """Empty the queue, releasing windows nobody will read."""
    while True:
        try:
            item = q.get_nowait()
        except queue.Empty:
            return
        if isinstance(item, tuple) and isinstance(item[0], Window):
            item[0].release()


FUNCTION = TableFunction(
    name=NAME,
    schema=SCHEMA,
    positional=("from_date", "to_date"),
    named=sql_named(ExportArgs, ("from_date", "to_date")),
    model=ExportArgs,
    description="Raw events from Mixpanel's export API, deduplicated by Mixpanel's rule, streamed; settled days "
                "are kept in the local store and read from there (store := 'use' | 'refresh' | 'off' | 'local').",
    example="SELECT event, count(*) FROM mp_export(current_date - 7, current_date - 1) GROUP BY ALL",
    start=start_export,
    accepts=accepts,
)
