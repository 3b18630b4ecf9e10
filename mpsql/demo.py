"""The built-in demo project: a local emulator serving a synthetic product whose data ends yesterday."""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import threading
from typing import Any

from mpsql.api.ratelimit import Limits, RateLimits
from mpsql.config import Account, Secret

_lock = threading.Lock()
_emulator = None

DEMO_SEED = 2024
# Ten times Mixpanel's allowance, for the emulator and the client alike: enough to explore, still paced.
EXPORT_PER_HOUR, EXPORT_PER_SECOND, QUERY_PER_HOUR = 600, 30, 600


def demo_rate_limits() -> RateLimits:
    """The client-side budget matching the demo emulator's limits."""
    return RateLimits(export=Limits(per_hour=EXPORT_PER_HOUR, per_second=EXPORT_PER_SECOND, concurrent=100),
                      query=Limits(per_hour=QUERY_PER_HOUR, concurrent=5))


def demo_emulator():
    """The process's demo emulator, started on first use on a free loopback port."""
    global _emulator
    with _lock:
        if _emulator is None:
            from mpsql.emulator import Emulator, ServerLimits

            limits = ServerLimits(export_per_hour=EXPORT_PER_HOUR, export_per_second=EXPORT_PER_SECOND,
                                  query_per_hour=QUERY_PER_HOUR)
            from mpsql.api.cache import cache_dir

            # Every day is generated once: kept in memory, and on disk for the next process (a few s the
            # first time a day is needed, milliseconds after that).
            emu = Emulator(seed=DEMO_SEED, rate_limits=limits, day_folder=cache_dir() / "demo-days")
            emu.start()
            atexit.register(emu.stop)
            _emulator = emu
        return _emulator


def prepare_reports(emulator: Any = None) -> threading.Thread:
    """Build the demo's report index (ID merge, events by day and by user) on a background thread, so that an
    interactive session's first report answers at once rather than after the emulator's one-off parse of the 90
    days (several seconds). Work the first report would do anyway; meanwhile typing goes on."""
    dataset = (emulator or demo_emulator()).dataset

    def build() -> None:
        from mpsql.emulator.eventindex import index_for

        with contextlib.suppress(Exception):  # a failure here is met again, and reported, by the report itself
            index_for(dataset).users()

    thread = threading.Thread(target=build, name="mpsql-demo-prepare", daemon=True)
    thread.start()
    return thread


def demo_range() -> tuple[dt.date, dt.date]:
    """The first and last day of the demo's data: the 90 days ending yesterday (UTC)."""
    ds = demo_emulator().dataset
    return ds.first_date, ds.last_date


def describe_demo() -> str:
    """One line saying what the demo project is and which days it holds."""
    first, last = demo_range()
    return (f"the built-in demo project: synthetic data from {first} to {last} (the {(last - first).days + 1} days "
            "ending yesterday, UTC), served by a local emulator")


def range_notice(function: str, from_date: object, to_date: object) -> str | None:
    """A notice for a call on the demo whose whole date range lies outside the demo's data, else None."""
    try:
        lo, hi = dt.date.fromisoformat(str(from_date)[:10]), dt.date.fromisoformat(str(to_date)[:10])
    except ValueError:
        return None
    first, last = demo_range()
    if hi < first or lo > last:
        return (f"{function}: the demo project holds data from {first} to {last} only; {lo} .. {hi} has none "
                "(try current_date - 30 to current_date - 1)")
    return None


def demo_account() -> Account:
    """An account pointing every API family at the demo emulator."""
    emu = demo_emulator()
    creds = emu.credentials
    # The demo's data is a function of its seed and today's date, whatever port it is served on: days held
    # for it stay valid until tomorrow (older demo days are removed then).
    key = f"demo-{DEMO_SEED}-{emu.today.isoformat()}"
    _forget_old_demo_days(key)
    return Account(name="demo", username=creds.username, secret=Secret(creds.secret),
                   project_id=creds.project_id, region="us", api_url=emu.url, source="demo", store_key=key)


def _forget_old_demo_days(keep: str) -> None:
    import contextlib
    import re
    import shutil

    from mpsql.store.days import store_root

    root = store_root()
    with contextlib.suppress(OSError):
        for entry in root.iterdir():
            # Only folders this function names (demo-<seed>-<date>) and nothing else a user may keep there.
            if (re.fullmatch(rf"demo-{DEMO_SEED}-\d{{4}}-\d{{2}}-\d{{2}}", entry.name) and entry.name != keep
                    and not entry.is_symlink() and entry.is_dir()):
                shutil.rmtree(entry, ignore_errors=True)
