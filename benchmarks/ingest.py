"""Ingest benchmark: mp_export into a database file, against DuckDB's own read_json and a naive Python pipeline.

    python benchmarks/ingest.py                  # 1,000,000 events
    python benchmarks/ingest.py --events 200000  # quicker
    python benchmarks/ingest.py --rss-check      # also 4x the events through (a), to show memory stays flat

Builds N Mixpanel-shaped events (about 15 properties each) as one gzip JSONL file per day, serves them over
loopback HTTP the way Mixpanel's export API does (gzip, chunked), and times in one run:

  (a) CREATE TABLE t AS SELECT * FROM mp_export(...)            into a database file (deduplicated, default)
  (a') the same with dedupe := false
  (b) DuckDB's read_json of the same gzip data from a local file into the same columns: the ceiling
  (c) line-by-line json.loads with batched inserts, as mixpanel_data did

Each runs in its own process so peak RSS is its own. Printed: rows/s, peak RSS, and the ratios a/b (time; target
<= 1.5) and c/a (time; target >= 8). Absolute times mean little on a shared machine; the ratios are the result.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import random
import resource
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parent
WORK = ROOT / "_work"
DAYS = 30

BROWSERS = ["Chrome", "Safari", "Firefox", "Edge", "Opera"]
CITIES = ["San Francisco", "New York", "London", "São Paulo", "東京", "Berlin", "Paris", "Mumbai"]
EVENTS = ["Page View", "View Item", "Search", "Add to Cart", "Checkout", "Purchase", "Sign Up", "Login"]


# -- data ---------------------------------------------------------------------------------------------------------

def build(n: int, first_day: dt.date) -> Path:
    """One gzip JSONL file per day under _work/<n>/, made once and reused."""
    folder = WORK / f"{n}-{first_day.isoformat()}"
    done = folder / "done"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(n)
    per_day = n // DAYS
    for d in range(DAYS):
        day = first_day + dt.timedelta(days=d)
        start = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())
        count = per_day + (n - per_day * DAYS if d == DAYS - 1 else 0)
        lines = []
        for i in range(count):
            t = start + (i * 86400) // max(1, count)
            user = f"user-{rng.randrange(50_000)}"
            props = {
                "time": t, "distinct_id": user, "$insert_id": f"{d:02d}{i:08d}{rng.randrange(16**8):08x}",
                "mp_processing_time_ms": t * 1000 + rng.randrange(100_000),
                "$browser": rng.choice(BROWSERS), "$city": rng.choice(CITIES), "$os": "Mac OS X",
                "$current_url": f"https://shop.example.com/p/{rng.randrange(5000)}", "mp_lib": "web",
                "$device_id": f"{rng.randrange(16**12):012x}", "price": round(rng.uniform(1, 500), 2),
                "quantity": rng.randrange(1, 5), "is_member": rng.random() < 0.3,
                "tags": ["sale", "new"][: rng.randrange(3)], "coupon": None if rng.random() < 0.8 else "SAVE10",
                "cart": {"items": rng.randrange(1, 9), "currency": "EUR"},
            }
            lines.append(json.dumps({"event": rng.choice(EVENTS), "properties": props}, separators=(",", ":")))
        data = ("\n".join(lines) + "\n").encode() if lines else b""
        (folder / f"{day.isoformat()}.jsonl.gz").write_bytes(gzip.compress(data, compresslevel=6))
    done.write_text("ok")
    return folder


def days_of(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.jsonl.gz"))


# -- a loopback server shaped like Mixpanel's export API ----------------------------------------------------------

def serve(folder: Path) -> tuple[ThreadingHTTPServer, str]:
    """Serve ``folder``'s days for any requested range, one gzip member per day back to back (RFC 1952 allows
    it; Mixpanel sends one member, and mpsql reads both), so no compression happens while timing."""
    days = {p.name.split(".")[0]: p.read_bytes() for p in days_of(folder)}

    def body(first: str, last: str) -> bytes:
        day, end, parts = dt.date.fromisoformat(first), dt.date.fromisoformat(last), []
        while day <= end:
            parts.append(days.get(day.isoformat(), b""))
            day += dt.timedelta(days=1)
        return b"".join(parts)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            q = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
            data = body(q["from_date"], q["to_date"])
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            view = memoryview(data)
            for i in range(0, len(data), 1 << 16):
                chunk = view[i : i + (1 << 16)]
                self.wfile.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


# -- the three pipelines, each run in a child process ----------------------------------------------------------

def child(mode: str, source: str, db: str, first: str, last: str) -> None:
    """Run one pipeline; the clock covers the ingest itself, after imports and connecting."""
    if mode in ("mpsql", "mpsql-nodedupe", "mpsql-stream"):
        import mpsql
        from mpsql.api.ratelimit import RateLimits
        from mpsql.config import Account, Secret

        account = Account(name="bench", username="bench", secret=Secret("bench-secret"), project_id=1,
                          api_url=source)
        con = mpsql.connect(db, account=account, rate_limits=RateLimits.unlimited())
        dedupe = "false" if mode == "mpsql-nodedupe" else "true"
        t0 = time.perf_counter()
        if mode == "mpsql-stream":  # every row through mpsql, nothing kept: mpsql's own memory
            con.execute(f"CREATE TABLE t AS SELECT count(*) AS n FROM mp_export('{first}', '{last}')")
        else:
            con.execute(f"CREATE TABLE t AS SELECT * FROM mp_export('{first}', '{last}', dedupe := {dedupe})")
    elif mode == "read_json":
        import duckdb

        con = duckdb.connect(db)
        files = [str(p) for p in days_of(Path(source))]
        t0 = time.perf_counter()
        con.execute(
            "CREATE TABLE t AS SELECT event, to_timestamp(CAST(properties->>'$.time' AS DOUBLE)) AS time, "
            "properties->>'$.distinct_id' AS distinct_id, properties->>'$.\"$insert_id\"' AS insert_id, properties "
            "FROM read_json(?, format = 'newline_delimited', columns = {event: 'VARCHAR', properties: 'JSON'})",
            [files])
    elif mode in ("naive", "python-batched"):
        # mixpanel_data's pipeline: json.loads per line, one dict per event, 1,000-row INSERT OR IGNORE batches
        # into a table keyed on insert_id, committed per batch.
        import duckdb
        import httpx

        con = duckdb.connect(db)
        con.execute("CREATE TABLE t (event VARCHAR, time TIMESTAMPTZ, distinct_id VARCHAR, "
                    "insert_id VARCHAR PRIMARY KEY, properties JSON)")
        batch: list[tuple] = []
        t0 = time.perf_counter()
        size = 1_000 if mode == "naive" else 50_000

        def flush() -> None:
            con.execute("BEGIN")
            if mode == "naive":
                con.executemany("INSERT OR IGNORE INTO t VALUES (?, to_timestamp(?), ?, ?, ?)", batch)
            else:  # a competent pure-Python pipeline: the same parse, inserted as 50k-row DataFrames
                import pandas as pd

                frame = pd.DataFrame(batch, columns=["event", "time", "distinct_id", "insert_id", "properties"])  # noqa: F841
                con.execute("INSERT OR IGNORE INTO t SELECT event, to_timestamp(time), distinct_id, insert_id, "
                            "properties FROM frame")
            con.execute("COMMIT")
            batch.clear()

        with httpx.stream("GET", source + "/api/2.0/export",
                          params={"from_date": first, "to_date": last, "project_id": 1},
                          auth=("bench", "bench-secret"), headers={"Accept-Encoding": "gzip"}, timeout=600) as r:
            for line in r.iter_lines():
                if not line:
                    continue
                rec = json.loads(line)
                p = dict(rec["properties"])
                batch.append((rec["event"], p.pop("time"), p.pop("distinct_id"), p.pop("$insert_id", None),
                              json.dumps(p)))
                if len(batch) >= size:
                    flush()
        if batch:
            flush()
    con.execute("CHECKPOINT")  # the rows are on disk, as they are when the statement's connection closes
    seconds = time.perf_counter() - t0
    rows = con.execute("SELECT sum(n) FROM t" if mode == "mpsql-stream" else "SELECT count(*) FROM t").fetchone()[0]
    con.close()
    peak_mb = peak_rss_mb()
    print(json.dumps({"mode": mode, "rows": rows, "seconds": seconds, "peak_mb": peak_mb}))


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM; ru_maxrss would carry the parent's peak across fork+exec)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(mode: str, source: str, first: str, last: str) -> dict:
    db = WORK / f"bench-{mode}.duckdb"
    for path in (db, Path(str(db) + ".wal")):
        path.unlink(missing_ok=True)
    out = subprocess.run([sys.executable, __file__, "--child", mode, source, str(db), first, last],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{out.stderr[-3000:]}")
    db.unlink(missing_ok=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=1, help="best of N runs for each pipeline")
    p.add_argument("--rss-check", action="store_true", help="also run (a) with 4x the events")
    p.add_argument("--skip-naive", action="store_true")
    args = p.parse_args()

    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    first_day = yesterday - dt.timedelta(days=DAYS - 1)
    first, last = first_day.isoformat(), yesterday.isoformat()
    t = time.perf_counter()
    folder = build(args.events, first_day)
    size = sum(p.stat().st_size for p in days_of(folder)) / 1e6
    print(f"data: {args.events:,} events over {DAYS} days, {size:.0f} MB gzip "
          f"(ready in {time.perf_counter() - t:.0f}s)")
    server, url = serve(folder)

    modes = [("a", "mpsql", last), ("a'", "mpsql-nodedupe", last), ("b", "read_json", last)]
    if not args.skip_naive:
        # The Python pipelines are too slow for the whole range; their rows/s over the first day is what counts.
        modes += [("c", "naive", first), ("c'", "python-batched", first)]
    results: dict[str, dict] = {}
    for label, mode, until in modes:
        source = str(folder) if mode == "read_json" else url
        runs = [run_child(mode, source, first, until) for _ in range(args.repeat)]
        best = min(runs, key=lambda r: r["seconds"])
        best["rate"] = best["rows"] / best["seconds"]
        results[label] = best
        print(f"({label:2}) {mode:15} {best['rows']:>10,} rows  {best['seconds']:7.2f} s  "
              f"{best['rate']:>10,.0f} rows/s  peak RSS {best['peak_mb']:6.0f} MB")
    a, b = results["a"]["seconds"], results["b"]["seconds"]
    print(f"a/b  = {a / b:.2f}   (time: mp_export vs DuckDB read_json of a local file; target <= 1.5)")
    a_nodedupe, c_batched = results["a'"], results.get("c'")
    print(f"a'/b = {a_nodedupe['seconds'] / b:.2f}   (the same without dedupe)")
    if "c" in results:
        print(f"c/a  = {results['a']['rate'] / results['c']['rate']:.1f}   (rows/s: mp_export over mixpanel_data's "
              f"pipeline; target >= 8)")
        print(f"c'/a = {results['a']['rate'] / c_batched['rate']:.1f}   (rows/s: mp_export over a batched "
              "pure-Python pipeline)")

    if args.rss_check:
        # Peak RSS at N and 4N events over the same 30 days. A CTAS into a file also grows DuckDB's cache of the
        # table it writes, which DuckDB's own read_json shows too; the streaming run isolates mpsql's memory.
        base = run_child("mpsql-stream", url, first, last)
        server.shutdown()
        big = 4 * args.events
        server, url = serve(build(big, first_day))
        print(f"peak RSS from {args.events:,} to {big:,} events (target: growth < 100 MB):")
        for label, mode, small in (("streaming mp_export", "mpsql-stream", base), ("(a) CTAS", "mpsql", results["a"]),
                                   ("(b) read_json CTAS", "read_json", results["b"])):
            source = str(build(big, first_day)) if mode == "read_json" else url
            grown = run_child(mode, source, first, last)
            print(f"  {label:20} {small['peak_mb']:6.0f} MB -> {grown['peak_mb']:6.0f} MB  "
                  f"({grown['peak_mb'] - small['peak_mb']:+.0f} MB; {grown['rows'] / grown['seconds']:,.0f} rows/s)")
    server.shutdown()

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:7])
    else:
        os.makedirs(WORK, exist_ok=True)
        main()
