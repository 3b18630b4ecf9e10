"""The emulated project's time zone and time mode (docs/mixpanel-api.md, "Time zones").

The synthetic events are generated at true UTC instants. How the project shows them depends on its kind:

- a project created since 2023 (``legacy=False``) stores true instants: export days are UTC days and ``time`` is
  a true epoch, whatever its time zone; reports bucket by days of the project's time zone;
- a legacy project (``legacy=True``, created before 2023) stored each event's local wall-clock time written as
  an epoch: export days are days of the project's time zone and ``time`` is the wall clock.

Reports of either kind are computed over wall-clock times of the project's zone (``Event.time`` shifted by the
zone's offset at that instant), so every bucket (day, week, month, hour) is a project-local one [E: Mixpanel
documents project-zone buckets, not how its windows cross a clock change].
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mpsql.emulator.datagen import Dataset
from mpsql.emulator.eventstore import Event

__all__ = ["ProjectTime"]

_HOUR_MS = 3_600_000
_DAY = dt.timedelta(days=1)


class ProjectTime:
    """A project's time zone (an IANA name) and whether it is in legacy (local wall-clock) time mode."""

    def __init__(self, timezone: str = "UTC", legacy: bool = False) -> None:
        try:
            self.zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder of the database ('America')
            raise ValueError(f"unknown time zone {timezone!r} (an IANA name such as 'America/Los_Angeles')") from None
        self.name = timezone
        self.legacy = legacy
        self._offsets: dict[int, int] = {}

    @property
    def is_utc(self) -> bool:
        """True when wall-clock times equal true instants (the zone never leaves UTC+0 in the emulated years)."""
        return self.name in ("UTC", "Etc/UTC")

    def offset_ms(self, true_ms: int) -> int:
        """The zone's UTC offset at an instant, in ms (cached per hour: offsets change on the hour or half hour at
        most, and the lookup is the cost of every shifted event)."""
        hour = true_ms // _HOUR_MS
        off = self._offsets.get(hour)
        if off is None:
            at = dt.datetime.fromtimestamp(hour * 3600, dt.UTC).astimezone(self.zone)
            delta = at.utcoffset()
            off = self._offsets[hour] = int(delta.total_seconds() * 1000) if delta is not None else 0
        return off

    def wall_ms(self, true_ms: int) -> int:
        """The local wall-clock time of an instant, written as an epoch in ms."""
        return true_ms + self.offset_ms(true_ms)

    def today(self, now: dt.datetime | None = None) -> dt.date:
        """Today's date in the project's time zone."""
        return (now or dt.datetime.now(dt.UTC)).astimezone(self.zone).date()

    # ---------------------------------------------------------------- reports

    def shift(self, events: Iterable[Event], from_date: dt.date, to_date: dt.date) -> Iterator[Event]:
        """``events`` (of the UTC days around the range) as wall-clock times, kept when their local day is in
        [from_date, to_date]."""
        lo = _epoch_ms(from_date)
        hi = _epoch_ms(to_date + _DAY)
        for ev in events:
            wall = self.wall_ms(ev.ms)
            if lo <= wall < hi:
                yield ev._replace(time=wall // 1000, time_ms=wall)

    # ---------------------------------------------------------------- export

    def export_days(self, ds: Dataset, from_date: dt.date, to_date: dt.date,
                    ) -> Iterator[tuple[bytes, str, int, int]]:
        """(line, event name, true ms, served ms) of each export day in order: UTC days for a project in UTC
        time, days of the project's zone for a legacy one (whose served time is the wall clock)."""
        if not self.legacy or self.is_utc:
            for date in ds.dates(from_date, to_date):
                day = ds.day(date)
                for line, name, tms in zip(day.lines, day.events, day.times_ms, strict=True):
                    yield line, name, tms, tms
            return
        for date in _dates(from_date, to_date):
            lo, hi = _epoch_ms(date), _epoch_ms(date + _DAY)
            for utc_day in ds.dates(date - _DAY, date + _DAY):
                day = ds.day(utc_day)
                for line, name, tms in zip(day.lines, day.events, day.times_ms, strict=True):
                    wall = self.wall_ms(tms)
                    if lo <= wall < hi:
                        yield line, name, tms, wall


def _epoch_ms(date: dt.date) -> int:
    return int(dt.datetime.combine(date, dt.time(), dt.UTC).timestamp()) * 1000


def _dates(from_date: dt.date, to_date: dt.date) -> list[dt.date]:
    return [from_date + dt.timedelta(days=i) for i in range((to_date - from_date).days + 1)]
