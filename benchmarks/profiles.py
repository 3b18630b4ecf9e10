"""Profiles benchmark: mp_profiles against a one-page-at-a-time walk, with Mixpanel's round trip emulated.

    python benchmarks/profiles.py                      # 20,000 profiles, 150 ms per request
    python benchmarks/profiles.py --users 50000 --latency 0.3

Serves a synthetic project from the emulator with ``latency`` seconds added to every request (Engage pages cost a
round trip each, and Mixpanel is not on loopback), then times in one run:

  (a) CREATE TABLE p AS SELECT * FROM mp_profiles()     pages ahead four at a time, streamed into DuckDB
  (b) the same walk one page at a time                    (mp_profiles with AHEAD = 1: the baseline)
  (c) mixpanel_data's sequential path: POST each page with httpx, json, rows into a DataFrame, insert

Printed: rows/s for each and the ratios b/a and c/a (time; higher is better for mp_profiles). Absolute times
mean little on a shared machine; the ratios are the result.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time

import duckdb
import httpx
import pandas as pd

import mpsql
from mpsql.api.ratelimit import RateLimits
from mpsql.config import Account, Secret
from mpsql.emulator import Emulator, ServerLimits
from mpsql.functions import profiles


def timed(fn) -> tuple[float, int]:
    start = time.perf_counter()
    rows = fn()
    return time.perf_counter() - start, rows


def via_mpsql(account: Account) -> int:
    con = mpsql.connect(account=account, rate_limits=RateLimits.unlimited())
    try:
        con.execute("CREATE TABLE p AS SELECT * FROM mp_profiles()")
        return con.execute("SELECT count(*) FROM p").fetchall()[0][0]
    finally:
        con.close()


def naive(emu: Emulator) -> int:
    """One page at a time, everything in memory, then into DuckDB (mixpanel_data's sequential fetch)."""
    c = emu.credentials
    rows: list[dict] = []
    page, session = 0, None
    with httpx.Client(auth=(c.username, c.secret), timeout=60) as http:
        while True:
            form = {"page": str(page)} | ({"session_id": session} if session else {})
            body = http.post(f"{emu.url}/api/query/engage", params={"project_id": c.project_id}, data=form).json()
            session = body.get("session_id")
            for item in body["results"]:
                props = item["$properties"]
                rows.append({"distinct_id": str(item["$distinct_id"]), "last_seen": props.get("$last_seen"),
                             "properties": json.dumps(props)})
            if len(body["results"]) < body.get("page_size", 1000):
                break
            page += 1
    con = duckdb.connect()
    con.register("frame", pd.DataFrame(rows))
    con.execute("CREATE TABLE p AS SELECT * FROM frame")
    return con.execute("SELECT count(*) FROM p").fetchall()[0][0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=int, default=20_000)
    p.add_argument("--latency", type=float, default=0.15, help="seconds added to every request")
    args = p.parse_args()
    today = dt.date(2024, 4, 1)
    with Emulator(seed=5, today=today, days=3, users=args.users, rate_limits=ServerLimits.unlimited()) as emu:
        c = emu.credentials
        account = Account("bench", c.username, Secret(c.secret), c.project_id, "us", emu.url)
        via_mpsql(account)  # builds the emulator's profiles once, outside the timings
        emu.latency = args.latency
        a_time, a_rows = timed(lambda: via_mpsql(account))
        ahead = profiles.AHEAD
        profiles.AHEAD = 1
        try:
            b_time, b_rows = timed(lambda: via_mpsql(account))
        finally:
            profiles.AHEAD = ahead
        c_time, c_rows = timed(lambda: naive(emu))
    assert a_rows == b_rows == c_rows, (a_rows, b_rows, c_rows)
    pages = -(-a_rows // 1000)
    print(f"data: {a_rows:,} profiles in {pages} pages, {args.latency * 1000:.0f} ms added per request")
    for label, t in (("(a) mp_profiles, 4 pages ahead", a_time), ("(b) mp_profiles, one page at a time", b_time),
                     ("(c) mixpanel_data's sequential path", c_time)):
        print(f"{label:40} {t:7.2f} s  {a_rows / t:10,.0f} rows/s")
    print(f"b/a = {b_time / a_time:.2f}   (paging ahead vs one page at a time)")
    print(f"c/a = {c_time / a_time:.2f}   (vs mixpanel_data's sequential profile fetch)")


if __name__ == "__main__":
    main()
