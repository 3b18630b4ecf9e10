"""A project served from a JSONL export file (``mpsql emulator --events FILE``, ``Emulator(events=path)``).

Each line is one ``/export`` record, ``{"event": ..., "properties": {"time": ..., "distinct_id": ..., ...}}``;
``time`` in seconds or, from 1e11 up, milliseconds. The file is the project: its first and last UTC days are
the data range, every report and export reads its events (duplicates, identities and all), and "today" is
the day after its last event unless given. The project has no user profiles (Engage answers none).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import OrderedDict, defaultdict
from pathlib import Path
from typing import Any

from mpsql.emulator.datagen import Dataset, DayData

__all__ = ["FileDataset"]

_MS_FROM = 100_000_000_000  # a time this large cannot be seconds (the year 5138): it is milliseconds


class FileDataset(Dataset):
    """The events of one JSONL file, day by day (served in time order, file order on ties)."""

    def __init__(self, path: str | Path, today: dt.date | None = None) -> None:
        per_day: dict[dt.date, list[tuple[int, int, str, dict[str, Any]]]] = defaultdict(list)
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                rec = _record(line, path, n)
                props = dict(rec["properties"])
                t = props["time"]
                t_ms = int(t) if t >= _MS_FROM else round(t * 1000)
                props["time"] = t_ms // 1000
                day = dt.datetime.fromtimestamp(t_ms // 1000, dt.UTC).date()
                per_day[day].append((t_ms, n, rec["event"], props))
        if not per_day:
            raise ValueError(f"{path}: no events")
        first, last = min(per_day), max(per_day)
        today = today or last + dt.timedelta(days=1)
        if today <= last:
            raise ValueError(f"{path}: today ({today}) must come after the last day of events ({last})")
        self.seed = 0
        self.today = today
        self.days = (today - first).days
        self.n_users = 0
        self.first_date, self.last_date = first, today - dt.timedelta(days=1)
        self._days: dict[dt.date, DayData] = {}
        for day, rows in per_day.items():
            rows.sort(key=lambda r: (r[0], r[1]))
            self._days[day] = DayData(
                [json.dumps({"event": name, "properties": props}, ensure_ascii=False,
                            separators=(",", ":")).encode("utf-8") + b"\n" for _, _, name, props in rows],
                [name for _, _, name, _ in rows], [t_ms for t_ms, _, _, _ in rows])
        self._cache: OrderedDict[dt.date, DayData] = OrderedDict()
        self._cache_days = 0
        self._lock = threading.Lock()
        self._users = []
        self._no_derived_yet()

    def day(self, date: dt.date) -> DayData:
        """The file's events of one UTC day (empty when it has none)."""
        return self._days.get(date) or DayData([], [], [])


def _record(line: str, path: str | Path, n: int) -> dict[str, Any]:
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{n}: not JSON ({exc.msg})") from None
    props = rec.get("properties") if isinstance(rec, dict) else None
    ok = (isinstance(rec, dict) and isinstance(rec.get("event"), str) and isinstance(props, dict)
          and isinstance(props.get("time"), int | float) and not isinstance(props.get("time"), bool)
          and props["time"] > 0)
    if not ok:
        raise ValueError(f"{path}:{n}: not an export record (an object with a string event and properties "
                         "holding a numeric time)")
    return rec
