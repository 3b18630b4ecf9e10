"""Ingest benchmark: mp_export against DuckDB's own read_json, Python pipelines, and a one-request streaming client.

    python benchmarks/ingest.py                  # every scenario below (builds ~2.3M events once, in _work/)
    python benchmarks/ingest.py --quick          # the same scenarios at a fifth of the size
    python benchmarks/ingest.py --rss-check      # also 4x the events through (a), to show memory stays flat

Builds Mixpanel-shaped events (about 15 properties each) as one gzip JSONL file per day, serves them over loopback
HTTP the way Mixpanel's export API does (gzip, chunked; optionally at a capped rate per response), and times, each
pipeline in its own process (so peak RSS is its own), printing requests beside rows/s:

  dense, 1M events / 30 days and 500k / 10 days:
    (a)  CREATE TABLE t AS SELECT * FROM mp_export(...) into a database file (deduplicated, an empty store)
    (a-) the same with store := 'off'
    (b)  DuckDB's read_json of the same gzip files into the same columns: the ceiling      target a/b <= 1.5
    (c)  a batched pure-Python ingest (json.loads per line, 50,000-row DataFrame inserts)    target c/a >= 4
  sparse, 250k events / 90 days:
    (p)  a one-request streaming client in the style of mixpanel-headless's stream_events (json.loads per line,
         counting the events) against (s), mpsql counting the rows of mp_export (the same work: every event
         handed to the consumer; mpsql also deduplicates and keeps the days in the store)  target p/s >= 1
  dense and throughput-capped (each response streams at 4 MB/s, as Mixpanel's servers bound theirs):
    (s) against (p)                                                                        target p/s >= 2
  (a) is shown beside both: a CTAS also writes every row into the database file, which (p) does not.
  re-query: SELECT event, count(*) ... GROUP BY ALL, first fetch against the same query served by the store
                                                                                           target >= 20
Absolute times mean little on a shared machine; the ratios (of times) are the result.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parent
WORK = ROOT / "_work"
CAPPED_BYTES_PER_SECOND = 4_000_000

BROWSERS = ["Chrome", "Safari", "Firefox", "Edge", "Opera"]
CITIES = ["San Francisco", "New York", "London", "São Paulo", "東京", "Berlin", "Paris", "Mumbai"]
EVENTS = ["Page View", "View Item", "Search", "Add to Cart", "Checkout", "Purchase", "Sign Up", "Login"]


# -- data ---------------------------------------------------------------------------------------------------------

def build(n: int, first_day: dt.date, days: int) -> Path:
    """One gzip JSONL file per day under _work/<n>-<days>-<first day>/, made once and reused."""
    folder = WORK / f"{n}-{days}-{first_day.isoformat()}"
    done = folder / "done"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(n)
    per_day = n // days
    for d in range(days):
        day = first_day + dt.timedelta(days=d)
        start = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())
        count = per_day + (n - per_day * days if d == days - 1 else 0)
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

def serve(folder: Path, throughput: float | None = None) -> tuple[ThreadingHTTPServer, str]:
    """Serve ``folder``'s days for any requested range, one gzip member per day back to back (RFC 1952 allows
    it; Mixpanel sends one member, and mpsql reads both), so no compression happens while timing. With
    ``throughput`` each response goes out no faster than that many bytes a second."""
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
            started, sent = time.monotonic(), 0
            for i in range(0, len(data), 1 << 16):
                chunk = view[i : i + (1 << 16)]
                self.wfile.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                sent += len(chunk)
                if throughput:
                    ahead = sent / throughput - (time.monotonic() - started)
                    if ahead > 0:
                        time.sleep(ahead)
            self.wfile.write(b"0\r\n\r\n")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


# -- the pipelines, each run in a child process -------------------------------------------------------------------

def child(mode: str, source: str, db: str, first: str, last: str) -> None:
    """Run one pipeline; the clock covers the ingest itself, after imports and connecting."""
    requests, extra = 0, {}
    if mode.startswith("mpsql"):
        import mpsql
        from mpsql.api.ratelimit import RateLimits
        from mpsql.config import Account, Secret

        account = Account(name="bench", username="bench", secret=Secret("bench-secret"), project_id=1,
                          api_url=source)
        con = mpsql.connect(db, account=account, rate_limits=RateLimits.unlimited())
        call = f"mp_export('{first}', '{last}'{', store := ' + repr('off') if mode == 'mpsql-off' else ''})"
        t0 = time.perf_counter()
        if mode == "mpsql-stream":  # every row handed on and counted (the days still go to the store)
            con.execute(f"CREATE TABLE t AS SELECT count(*) AS n FROM {call}")
        elif mode == "mpsql-query":  # the same query twice: the first fetches, the second reads the store
            query = f"SELECT event, count(*) AS n FROM {call} GROUP BY ALL"
            con.execute(f"CREATE TABLE t AS {query}")
            first_seconds = time.perf_counter() - t0
            t1 = time.perf_counter()
            con.execute(f"CREATE TABLE t2 AS {query}")
            extra = {"first_seconds": first_seconds, "again_seconds": time.perf_counter() - t1}
        else:
            con.execute(f"CREATE TABLE t AS SELECT * FROM {call}")
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
    elif mode == "peer":
        # mixpanel-headless's stream_events: one request for the range, json.loads per line, a dict per event.
        import duckdb
        import httpx

        con = duckdb.connect(db)
        count = 0
        t0 = time.perf_counter()
        import zlib

        with httpx.stream("GET", source + "/api/2.0/export",
                          params={"from_date": first, "to_date": last, "project_id": 1},
                          auth=("bench", "bench-secret"), headers={"Accept-Encoding": "gzip"}, timeout=600) as r:
            # Gunzipped by hand: this server sends one gzip member per day back to back (Mixpanel sends one),
            # and httpx's own decoder stops after the first member.
            inflate, tail = zlib.decompressobj(16 + zlib.MAX_WBITS), b""
            for raw in r.iter_raw():
                while raw:
                    tail += inflate.decompress(raw)
                    raw = inflate.unused_data
                    if inflate.eof:
                        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
                *lines, tail = tail.split(b"\n")
                for line in lines:
                    if line:
                        json.loads(line)
                        count += 1
        requests = 1
        con.execute(f"CREATE TABLE t AS SELECT * FROM range({count})")
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
        requests = 1
    con.execute("CHECKPOINT")  # the rows are on disk, as they are when the statement's connection closes
    seconds = time.perf_counter() - t0
    if mode.startswith("mpsql"):  # counted after the clock stopped
        requests = con.execute("SELECT count(*) FROM mp_requests() WHERE endpoint = '/export'").fetchone()[0]
    if mode == "mpsql-query":
        rows = con.execute("SELECT sum(n) FROM t").fetchone()[0]
    else:
        rows = con.execute("SELECT sum(n) FROM t" if mode == "mpsql-stream" else "SELECT count(*) FROM t").fetchone()[0]
    con.close()
    print(json.dumps({"mode": mode, "rows": rows, "seconds": seconds, "peak_mb": peak_rss_mb(),
                      "requests": requests, **extra}))


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
    store = tempfile.mkdtemp(prefix="bench-store-", dir=WORK)  # every run starts with an empty store
    env = {**os.environ, "MPSQL_STORE_DIR": store}
    out = subprocess.run([sys.executable, __file__, "--child", mode, source, str(db), first, last],
                         capture_output=True, text=True, check=False, env=env)
    shutil.rmtree(store, ignore_errors=True)
    if out.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{out.stderr[-3000:]}")
    db.unlink(missing_ok=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["rate"] = result["rows"] / result["seconds"]
    return result


def best_of(repeat: int, mode: str, source: str, first: str, last: str) -> dict:
    return min((run_child(mode, source, first, last) for _ in range(repeat)), key=lambda r: r["seconds"])


def show(label: str, r: dict) -> None:
    print(f"  ({label:2}) {r['mode']:14} {r['rows']:>10,} rows {r['seconds']:7.2f} s {r['rate']:>10,.0f} rows/s "
          f"{r['requests']:>3} requests  peak RSS {r['peak_mb']:5.0f} MB")


def versus_peer(repeat: int, url: str, first: str, last: str) -> str:
    """(s) and (a) against (p) on one server; the summary's words."""
    s = best_of(repeat, "mpsql-stream", url, first, last)
    a = best_of(repeat, "mpsql", url, first, last)
    p = best_of(repeat, "peer", url, first, last)
    for label, r in (("s", s), ("a", a), ("p", p)):
        show(label, r)
    return (f"p/s = {p['seconds'] / s['seconds']:.2f} counting rows (CTAS: p/a = {p['seconds'] / a['seconds']:.2f}), "
            f"{s['requests']} requests vs {p['requests']}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="every shape at a fifth of its size")
    p.add_argument("--repeat", type=int, default=1, help="best of N runs for each pipeline")
    p.add_argument("--rss-check", action="store_true", help="also run (a) with 4x the events")
    args = p.parse_args()
    scale = 5 if args.quick else 1
    today = dt.datetime.now(dt.UTC).date()

    def shape(events: int, days: int) -> tuple[Path, str, str]:
        first_day = today - dt.timedelta(days=days)
        t = time.perf_counter()
        folder = build(events // scale, first_day, days)
        size = sum(f.stat().st_size for f in days_of(folder)) / 1e6
        print(f"\n{events // scale:,} events over {days} days, {size:.0f} MB gzip "
              f"(data ready in {time.perf_counter() - t:.0f}s)")
        return folder, first_day.isoformat(), (today - dt.timedelta(days=1)).isoformat()

    summary: list[str] = []
    for events, days in ((1_000_000, 30), (500_000, 10)):
        folder, first, last = shape(events, days)
        server, url = serve(folder)
        a = best_of(args.repeat, "mpsql", url, first, last)
        off = best_of(args.repeat, "mpsql-off", url, first, last)
        b = best_of(args.repeat, "read_json", str(folder), first, last)
        for label, r in (("a", a), ("a-", off), ("b", b)):
            show(label, r)
        summary.append(f"{events // scale:,}/{days} days: a/b = {a['seconds'] / b['seconds']:.2f} "
                       f"(store off: {off['seconds'] / b['seconds']:.2f}; target <= 1.5), "
                       f"{a['requests']} requests")
        if days == 30:
            c = best_of(args.repeat, "python-batched", url, first, first)  # one day: Python is slow
            show("c", c)
            summary.append(f"c/a = {a['rate'] / c['rate']:.1f} in rows/s (target >= 4)")
            q = run_child("mpsql-query", url, first, last)
            print(f"  (q)  GROUP BY event: first fetch {q['first_seconds']:.2f} s, again from the store "
                  f"{q['again_seconds']:.3f} s")
            summary.append(f"re-query from the store {q['first_seconds'] / q['again_seconds']:.0f}x faster than "
                           f"the first fetch (target >= 20)")
            capped_server, capped = serve(folder, CAPPED_BYTES_PER_SECOND)
            print(f"  throughput-capped at {CAPPED_BYTES_PER_SECOND / 1e6:.0f} MB/s per response:")
            summary.append("capped dense: " + versus_peer(args.repeat, capped, first, last) + " (target >= 2)")
            capped_server.shutdown()
        server.shutdown()

    folder, first, last = shape(250_000, 90)
    server, url = serve(folder)
    summary.append("sparse 90 days: " + versus_peer(args.repeat, url, first, last) + " (target >= 1)")
    server.shutdown()

    if args.rss_check:
        # Peak RSS at N and 4N events over the same 30 days. A CTAS into a file also grows DuckDB's cache of the
        # table it writes, which DuckDB's own read_json shows too; the streaming run isolates mpsql's memory.
        n = 1_000_000 // scale
        small_folder, first, last = shape(n, 30)
        big_folder, _, _ = shape(4 * n, 30)
        print(f"peak RSS from {n:,} to {4 * n:,} events (target: growth < 100 MB):")
        for mode in ("mpsql-stream", "mpsql", "read_json"):
            sizes = []
            for folder in (small_folder, big_folder):
                server, url = serve(folder)
                sizes.append(run_child(mode, str(folder) if mode == "read_json" else url, first, last))
                server.shutdown()
            print(f"  {mode:14} {sizes[0]['peak_mb']:6.0f} MB -> {sizes[1]['peak_mb']:6.0f} MB "
                  f"({sizes[1]['peak_mb'] - sizes[0]['peak_mb']:+.0f} MB)")

    print("\nsummary:")
    for line in summary:
        print("  " + line)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:7])
    else:
        os.makedirs(WORK, exist_ok=True)
        main()
