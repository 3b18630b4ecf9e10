"""Demo latency benchmark: how long the demo's report and Engage calls take, answered by the emulator.

    python benchmarks/demo_reports.py                        # as the demo runs: days kept, on disk in a folder
    python benchmarks/demo_reports.py --days-cache none      # the generator's own 40-day window (before)
    python benchmarks/demo_reports.py --days-cache memory    # every day kept in memory, none on disk
    python benchmarks/demo_reports.py --folder DIR           # run twice with one DIR: the second process reads
                                                             # the days the first one wrote

Starts an emulator like the demo's (no rate limits, so only the emulator's own work is timed), then runs each
call twice: ``cold`` is the first time the emulator answers it, ``warm`` the second (mpsql's response cache is
emptied in between, so both are real HTTP requests). Calls run in the order a newcomer might try them.
Printed: seconds per call, and the emulator's one-off preparation time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import mpsql
from mpsql.api.ratelimit import RateLimits

CALLS = [
    ("mp_events()", "SELECT * FROM mp_events()"),
    ("mp_profiles(distinct_id := ...)", "SELECT * FROM mp_profiles(distinct_id := 'u_00042')"),
    ("mp_retention(unit := 'week')", "SELECT * FROM mp_retention('Sign Up', current_date - 60, current_date - 1, "
                                     "unit := 'week')"),
    ("mp_funnel", "SELECT * FROM mp_funnel({funnel}, current_date - 30, current_date - 1)"),
    ("mp_segmentation", "SELECT * FROM mp_segmentation('Purchase', current_date - 30, current_date - 1, "
                        "by := 'properties[\"$browser\"]')"),
    ("mp_event_counts", "SELECT * FROM mp_event_counts(['Purchase', 'Sign Up'], current_date - 30, current_date - 1)"),
    ("mp_frequency", "SELECT * FROM mp_frequency(current_date - 30, current_date - 1)"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--users", type=int, default=3000)
    ap.add_argument("--days-cache", choices=("none", "memory", "disk"), default="disk")
    ap.add_argument("--folder", type=Path, default=None, help="the disk cache's folder (default: a new one)")
    args = ap.parse_args()
    from mpsql.emulator import Emulator, ServerLimits

    started = time.perf_counter()
    folder = None
    if args.days_cache == "disk":
        folder = args.folder or Path(tempfile.mkdtemp(prefix="mpsql-bench-days-"))
    emu = Emulator(seed=args.seed, days=args.days, users=args.users, rate_limits=ServerLimits.unlimited(),
                   keep_days=args.days_cache != "none", day_folder=folder)
    emu.start()
    ready = time.perf_counter() - started
    con = mpsql.connect(account=emu, rate_limits=RateLimits.unlimited(), notice=lambda m: None)
    try:
        funnel = con.execute("SELECT funnel_id FROM mp_funnels() LIMIT 1").fetchone()[0]
        con.execute("SELECT * FROM mp_clear_cache()").fetchall()
        print(f"emulator start: {ready:.2f} s ({args.days} days, {args.users} users, seed {args.seed}; "
              f"days cache: {args.days_cache}{f' in {folder}' if folder else ''})")
        print(f"{'call':36} {'cold s':>8} {'warm s':>8}")
        for label, sql in CALLS:
            sql = sql.format(funnel=funnel)
            times = []
            for _ in range(2):
                con.execute("SELECT * FROM mp_clear_cache()").fetchall()
                t = time.perf_counter()
                con.execute(sql).fetchall()
                times.append(time.perf_counter() - t)
            print(f"{label:36} {times[0]:8.2f} {times[1]:8.2f}")
    finally:
        con.close()
        emu.stop()


if __name__ == "__main__":
    main()
