"""The reports' events held once per dataset: deduplicated, ID-merged, per day and per user (an index, no new rule).

Every report reads the deduplicated events (``eventstore``) with each ``distinct_id`` replaced by its merged
user (``identities``). Doing that per request rebuilt hundreds of thousands of ``Event`` objects and re-sorted
every user's events on each call (seconds on the demo's 90 days). The index makes them once:

- per day: the day's merged events in served order, and the same split by event name;
- per user (built on first use): all of a user's merged events ordered by time, ties in served order, each
  with its day, which is exactly what the reports' per-user grouping (``analytics._by_user``) produces for
  any date range, event names and ``where`` filter, since filtering a stably sorted list keeps its order.

A :class:`Selection` (a date range and optional names) is what the report routes hand to ``analytics``: it
iterates like the event stream it replaces, and groups by user from the index.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from mpsql.emulator.datagen import Dataset
from mpsql.emulator.eventstore import Event, gc_paused, store_for
from mpsql.emulator.identities import identity_map, resolve

if TYPE_CHECKING:
    from mpsql.emulator.where import Expr

__all__ = ["EventIndex", "Selection", "index_for"]


class EventIndex:
    """Merged, deduplicated events of one Dataset, by day (served order) and by user (time order)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self._dates = dataset.dates(dataset.first_date, dataset.last_date)
        self._ordinal = {d: i for i, d in enumerate(self._dates)}
        self._days: dict[dt.date, tuple[list[Event], dict[str, list[Event]]]] = {}
        self._users: dict[str, tuple[list[Event], list[int]]] | None = None
        self._lock = threading.Lock()

    def day(self, date: dt.date) -> tuple[list[Event], dict[str, list[Event]]]:
        """The day's merged events in served order, and the same split by event name (empty outside the data)."""
        hit = self._days.get(date)
        if hit is not None:
            return hit
        mapping = identity_map(self.dataset)
        with gc_paused():
            events = list(resolve(store_for(self.dataset).events(date, date), mapping))
            by_name: dict[str, list[Event]] = {}
            for ev in events:
                by_name.setdefault(ev.name, []).append(ev)
        with self._lock:
            return self._days.setdefault(date, (events, by_name))

    def users(self) -> dict[str, tuple[list[Event], list[int]]]:
        """user -> (their events by time, ties in served order; the day ordinal of each), over all the data."""
        if self._users is not None:
            return self._users
        days = [self.day(d)[0] for d in self._dates]
        with self._lock:
            if self._users is None:
                with gc_paused():
                    served: dict[str, list[tuple[Event, int]]] = {}
                    for ordinal, events in enumerate(days):
                        for ev in events:
                            served.setdefault(ev.distinct_id, []).append((ev, ordinal))
                    users = {}
                    for uid, pairs in served.items():
                        pairs.sort(key=lambda p: p[0].ms)  # milliseconds, as _by_user; stable: ties keep served order
                        users[uid] = ([p[0] for p in pairs], [p[1] for p in pairs])
                self._users = users
            return self._users

    def ordinals(self, from_date: dt.date, to_date: dt.date) -> tuple[int, int]:
        """The [first, last] day ordinals of the data days inside [from_date, to_date] (first > last if none)."""
        dates = self.dataset.dates(from_date, to_date)
        if not dates:
            return 0, -1
        return self._ordinal[dates[0]], self._ordinal[dates[-1]]


def index_for(dataset: Dataset) -> EventIndex:
    """The (one, shared) EventIndex of ``dataset``."""
    return dataset.derived("eventindex", EventIndex)


class Selection(Iterable[Event]):
    """The merged events of [from_date, to_date] (UTC days), optionally only those named ``names``."""

    def __init__(self, index: EventIndex, from_date: dt.date, to_date: dt.date,
                 names: Iterable[str] | None = None) -> None:
        self.index = index
        self.from_date, self.to_date = from_date, to_date
        self.names = None if names is None else frozenset(names)

    def __iter__(self) -> Iterator[Event]:
        """Day by day in served order, as ``EventStore.events`` serves them."""
        for date in self.index.dataset.dates(self.from_date, self.to_date):
            events, by_name = self.index.day(date)
            if self.names is None:
                yield from events
            elif len(self.names) == 1:
                yield from by_name.get(next(iter(self.names)), ())
            else:
                wanted = self.names
                yield from (ev for ev in events if ev.name in wanted)

    def named(self, names: Iterable[str]) -> Selection:
        """The events of this selection whose name is in ``names``."""
        wanted = frozenset(names) if self.names is None else self.names & frozenset(names)
        return Selection(self.index, self.from_date, self.to_date, wanted)

    def by_user(self, where: Expr | None = None) -> dict[str, list[Event]]:
        """user -> their selected events passing ``where``, ordered by time, ties in served order."""
        lo, hi = self.index.ordinals(self.from_date, self.to_date)
        if lo > hi:
            return {}
        whole = lo == 0 and hi == len(self.index._dates) - 1
        wanted = self.names
        out: dict[str, list[Event]] = {}
        for uid, (events, days) in self.index.users().items():
            if whole and wanted is None:
                picked = list(events)
            elif wanted is None:
                picked = [ev for ev, d in zip(events, days, strict=True) if lo <= d <= hi]
            else:
                picked = [ev for ev, d in zip(events, days, strict=True) if lo <= d <= hi and ev.name in wanted]
            if where is not None:
                picked = [ev for ev in picked if where.matches(ev.props)]
            if picked:
                out[uid] = picked
        return out
