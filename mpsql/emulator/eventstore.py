"""The deduplicated events every report reads: per-day, per-event-name column blocks, cached per Dataset.

Reports see each event once (docs/report-semantics.md, "Duplicates"): copies sharing (event, distinct_id,
time in milliseconds, $insert_id) collapse to the latest-ingested copy (greatest ``mp_processing_time_ms``; on
a tie, the copy served last, as mp_export keeps), which is exactly what a client deduplicating ``/export
?time_in_ms=true`` output gets, so every report can be reproduced from the export. Copies whose times differ
only in milliseconds are two events. Events without an ``$insert_id`` are never collapsed.

A day is parsed once and kept column-wise (one list per property, ``UNDEFINED`` where absent) with string
values interned: 90 days x 2000 users of parsed dicts take ~500 MB, these blocks a fraction of that, and a
report over them needs no JSON parsing. ``Event.props`` is a read-only mapping view of one row, which the
``where`` evaluator accepts like the exported ``properties`` object.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import repeat
from typing import Any, NamedTuple

from mpsql.emulator.datagen import Dataset, DayData
from mpsql.emulator.where import UNDEFINED

__all__ = ["Event", "EventStore", "dedupe", "gc_paused", "store_for"]


class Event(NamedTuple):
    """One deduplicated event as reports see it."""

    name: str
    distinct_id: str
    time: int  # epoch seconds (buckets are whole seconds)
    props: Mapping[str, Any]  # the exported ``properties`` object (``time`` and ``distinct_id`` included)
    time_ms: int = -1  # milliseconds when known (dedupe and ordering compare them), else -1

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Event:
        """An Event from one ``/export`` line object (``{"event": ..., "properties": {...}}``); a ``time`` of 1e11
        or more is in milliseconds (``time_in_ms``), as no time in seconds is that late."""
        props = record["properties"]
        t = int(props["time"])
        ms = t if t >= 100_000_000_000 else t * 1000
        return cls(record["event"], str(props.get("distinct_id", "")), ms // 1000, props, ms)

    @property
    def ms(self) -> int:
        """Milliseconds since the epoch (the seconds scaled up when no ms time is known)."""
        return self.time_ms if self.time_ms >= 0 else self.time * 1000


def dedupe(records: Iterable[Mapping[str, Any]]) -> list[Event]:
    """Mixpanel's query-time dedupe of export records, keeping first-occurrence order.

    The kept copy of a duplicate set is the one with the greatest ``mp_processing_time_ms`` (latest
    ingested; on a tie the one served last); it takes the position of the set's first copy.
    """
    kept: list[Event] = []
    where: dict[tuple[str, str, int, str], int] = {}
    for rec in records:
        ev = Event.from_record(rec)
        insert_id = ev.props.get("$insert_id")
        if not isinstance(insert_id, str):
            kept.append(ev)
            continue
        key = (ev.name, ev.distinct_id, ev.ms, insert_id)
        at = where.get(key)
        if at is None:
            where[key] = len(kept)
            kept.append(ev)
        elif _processing_ms(ev.props) >= _processing_ms(kept[at].props):  # a tie: the later copy
            kept[at] = ev
    return kept


def _processing_ms(props: Mapping[str, Any]) -> float:
    v = props.get("mp_processing_time_ms")
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else float("-inf")


_STR_ONLY = {str}


class _Row(Mapping[str, Any]):
    """Read-only view of row ``i`` of a block's columns, with the exported object's key order."""

    __slots__ = ("_cols", "_i")

    def __init__(self, cols: dict[str, list[Any]], i: int) -> None:
        self._cols = cols
        self._i = i

    def __getitem__(self, key: str) -> Any:
        col = self._cols.get(key)
        if col is None or col[self._i] is UNDEFINED:
            raise KeyError(key)
        return col[self._i]

    def get(self, key: str, default: Any = None) -> Any:
        col = self._cols.get(key)
        if col is None:
            return default
        v = col[self._i]
        return default if v is UNDEFINED else v

    def __contains__(self, key: object) -> bool:
        col = self._cols.get(key) if isinstance(key, str) else None
        return col is not None and col[self._i] is not UNDEFINED

    def __iter__(self) -> Iterator[str]:
        i = self._i
        return (k for k, col in self._cols.items() if col[i] is not UNDEFINED)

    def __len__(self) -> int:
        i = self._i
        return sum(1 for col in self._cols.values() if col[i] is not UNDEFINED)

    def __repr__(self) -> str:
        return repr(dict(self))


@dataclass
class _Block:
    """One day's deduplicated events of one name, column-wise, in served (first-occurrence) order."""

    name: str
    pos: list[int]  # position in the day's deduplicated order (merges blocks back into served order)
    distinct_ids: list[str]
    times: list[int]
    times_ms: list[int]
    cols: dict[str, list[Any]]

    def event(self, i: int) -> Event:
        return Event(self.name, self.distinct_ids[i], self.times[i], _Row(self.cols, i), self.times_ms[i])


class EventStore:
    """Deduplicated events of one Dataset, built day by day on first use and kept in an LRU of days."""

    def __init__(self, dataset: Dataset, max_days: int = 800) -> None:
        self.dataset = dataset
        self._max_days = max_days
        self._days: OrderedDict[dt.date, dict[str, _Block]] = OrderedDict()
        self._lock = threading.Lock()
        self._interned: dict[str, str] = {}

    def day(self, date: dt.date) -> dict[str, _Block]:
        """The blocks of one day by event name (empty outside the data range)."""
        with self._lock:
            hit = self._days.get(date)
            if hit is not None:
                self._days.move_to_end(date)
                return hit
        blocks = self._build(date)
        with self._lock:
            self._days[date] = blocks
            while len(self._days) > self._max_days:
                self._days.popitem(last=False)
        return blocks

    def events(self, from_date: dt.date, to_date: dt.date, names: Iterable[str] | None = None) -> Iterator[Event]:
        """Deduplicated events of [from_date, to_date] (UTC days), day by day in served order."""
        wanted = None if names is None else frozenset(names)
        for date in self.dataset.dates(from_date, to_date):
            blocks = [b for n, b in self.day(date).items() if wanted is None or n in wanted]
            if len(blocks) == 1:
                b = blocks[0]
                yield from (b.event(i) for i in range(len(b.pos)))
                continue
            order = sorted((p, bi, i) for bi, b in enumerate(blocks) for i, p in enumerate(b.pos))
            for _, bi, i in order:
                yield blocks[bi].event(i)

    def names(self, from_date: dt.date, to_date: dt.date) -> set[str]:
        """Event names present in the range."""
        out: set[str] = set()
        for date in self.dataset.dates(from_date, to_date):
            out.update(self.day(date))
        return out

    # ------------------------------------------------------------ building

    def _build(self, date: dt.date) -> dict[str, _Block]:
        data = self.dataset.day(date)
        with gc_paused():
            return self._columns(data)

    def _columns(self, data: DayData) -> dict[str, _Block]:
        # One json.loads per day: the decoder shares key strings across the whole document.
        recs = json.loads(b"[" + b",".join(line.rstrip(b"\n") for line in data.lines) + b"]") if data.lines else []
        kept: list[int] = []  # index into recs of each kept event, in first-occurrence order
        seen: dict[tuple[str, str, int, str], int] = {}
        for i, rec in enumerate(recs):
            props = rec["properties"]
            insert_id = props.get("$insert_id")
            if isinstance(insert_id, str):
                key = (rec["event"], str(props.get("distinct_id", "")), data.times_ms[i], insert_id)
                at = seen.get(key)
                if at is not None:
                    if _processing_ms(props) >= _processing_ms(recs[kept[at]]["properties"]):  # tie: later copy
                        kept[at] = i
                    continue
                seen[key] = len(kept)
            kept.append(i)
        grouped: dict[str, tuple[list[int], list[int]]] = {}
        for pos, i in enumerate(kept):
            g = grouped.setdefault(recs[i]["event"], ([], []))
            g[0].append(pos)
            g[1].append(i)
        blocks: dict[str, _Block] = {}
        with self._lock:
            memo = self._interned.setdefault
            for name, (pos_list, idxs) in grouped.items():
                props_list = [recs[i]["properties"] for i in idxs]
                keys: dict[str, None] = {}
                for props in props_list:
                    keys.update(dict.fromkeys(props))
                cols: dict[str, list[Any]] = {}
                for k in keys:
                    raw = list(map(dict.get, props_list, repeat(k), repeat(UNDEFINED)))
                    if k == "$insert_id":  # unique per event: interning would only grow the memo
                        cols[memo(k, k)] = raw
                        continue
                    # Interning repeated short strings ($browser, $city, ...) keeps 90 days small; a column of
                    # short strings only (the common case) is interned by map() without a Python-level loop.
                    if set(map(type, raw)) == _STR_ONLY and max(map(len, raw)) <= 64:
                        cols[memo(k, k)] = list(map(memo, raw, raw))
                    else:
                        cols[memo(k, k)] = [memo(v, v) if v.__class__ is str and len(v) <= 64 else v for v in raw]
                name = memo(name, name)
                blocks[name] = _Block(name=name, pos=pos_list, distinct_ids=[str(d) for d in cols["distinct_id"]]
                                      if "distinct_id" in cols else [""] * len(idxs),
                                      times=[int(t) for t in cols["time"]],
                                      times_ms=[data.times_ms[i] for i in idxs], cols=cols)
        return blocks


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a day's records are parsed into columns.

    Parsing allocates hundreds of thousands of containers that all stay alive; every collection they trigger
    walks the whole (large, live) heap again: a day parses about three times faster without them. The
    collector's previous state is restored afterwards (builds in other threads only delay it).
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def store_for(dataset: Dataset) -> EventStore:
    """The (one, shared) EventStore of ``dataset``."""
    return dataset.derived("eventstore", EventStore)
