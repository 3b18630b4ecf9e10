"""Emulator latency benchmark: the demo's report and Engage calls, cold and warm, through the real HTTP path.

    python benchmarks/emulator_latency.py                      # this tree only
    python benchmarks/emulator_latency.py --against d4e2f0c    # also a git revision (the "before"), with ratios

Serves the demo's dataset (seed 2024, 90 days ending yesterday, 3000 users) from an emulator with no rate
limits, its generated days already on disk as the demo keeps them (generated once before timing, shared by
every run), and runs each call through mpsql (DuckDB -> httpx -> loopback HTTP -> emulator):

- ``cold``: the call is the first thing a fresh process's emulator answers (``mpsql --demo -c '...'``): it
  includes the dataset's one-off preparation (parsing the days, the ID-merge mapping, indexes);
- ``warm``: the same call again in that process (mpsql's response cache emptied: a real request again);
- ``seq``: every call once, in the order below, in one process (each call's first time, after the others).

With ``--against REV`` the same runs are made with the package as it is at REV (extracted with ``git archive``
into a scratch folder) and ratios before/after are printed: absolute times on a shared machine are noisy,
the ratios are the result. Each figure is the median of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

SEED, DAYS, USERS = 2024, 90, 3000

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
    ("mp_profiles()", "SELECT count(*) FROM mp_profiles()"),
]
FUNNEL_ID = 7001  # the emulator's first saved funnel (mp_funnels()); not looked up, so no call precedes a cold one


# ---------------------------------------------------------------- worker (one process, one emulator)


def _worker(days_folder: Path, labels: list[str], warm: bool) -> dict[str, list[float]]:
    """Times of ``labels`` in one process: [first] or [first, second] each."""
    import mpsql
    from mpsql.api.ratelimit import RateLimits
    from mpsql.emulator import Emulator
    from mpsql.emulator import RateLimits as ServerLimits

    emu = Emulator(seed=SEED, days=DAYS, users=USERS, rate_limits=ServerLimits.unlimited(), day_folder=days_folder)
    if not labels:  # preparation: every day generated and written to the folder
        for date in emu.dataset.dates(emu.dataset.first_date, emu.dataset.last_date):
            emu.dataset.day(date)
        return {}
    emu.start()
    con = mpsql.connect(account=emu, rate_limits=RateLimits.unlimited(), notice=lambda m: None)
    out: dict[str, list[float]] = {}
    try:
        sqls = dict(CALLS)
        for label in labels:
            sql = sqls[label].format(funnel=FUNNEL_ID)
            out[label] = []
            for _ in range(2 if warm else 1):
                con.execute("SELECT * FROM mp_clear_cache()").fetchall()
                t = time.perf_counter()
                con.execute(sql).fetchall()
                out[label].append(time.perf_counter() - t)
    finally:
        con.close()
        emu.stop()
    return out


def _worker_main(args: argparse.Namespace) -> None:
    if args.tree:
        # The package under test is the extracted tree, not the (editable) one installed in this environment.
        sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")]
        sys.path.insert(0, args.tree)
    import mpsql

    assert args.tree is None or mpsql.__file__.startswith(args.tree), mpsql.__file__
    print(json.dumps(_worker(Path(args.days), args.labels, warm=not args.seq)))


# ---------------------------------------------------------------- driver


def _run(tree: str | None, days: Path, labels: list[str], seq: bool) -> dict[str, list[float]]:
    cmd = [sys.executable, __file__, "--worker", "--days", str(days), *(["--tree", tree] if tree else []),
           *(["--seq"] if seq else []), "--labels", *labels]
    # The day folder lives under the cache directory; keep the run away from a developer's own one.
    env = dict(os.environ, MPSQL_CACHE_DIR=str(days.parent / "cache"))
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"worker failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _extract(rev: str, into: Path) -> str:
    """The package at git revision ``rev`` (mpsql/ with sql/ as mpsql/sql), extracted under ``into``."""
    root = Path(__file__).resolve().parent.parent
    archive = into / "rev.tar"
    subprocess.run(["git", "-C", str(root), "archive", "-o", str(archive), rev, "mpsql", "sql"], check=True)
    tree = into / "tree"
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    (tree / "sql").rename(tree / "mpsql" / "sql")
    return str(tree)


def _measure(tree: str | None, days: Path, repeat: int) -> dict[str, dict[str, float]]:
    """Median cold, warm and in-sequence seconds per call."""
    labels = [label for label, _ in CALLS]
    cold: dict[str, list[float]] = {k: [] for k in labels}
    warm: dict[str, list[float]] = {k: [] for k in labels}
    seq: dict[str, list[float]] = {k: [] for k in labels}
    for _ in range(repeat):
        for label in labels:
            first, second = _run(tree, days, [label], seq=False)[label]
            cold[label].append(first)
            warm[label].append(second)
        for label, (t,) in _run(tree, days, labels, seq=True).items():
            seq[label].append(t)
    return {k: {"cold": statistics.median(cold[k]), "warm": statistics.median(warm[k]),
                "seq": statistics.median(seq[k])} for k in labels}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--against", metavar="REV", help="also measure the package at this git revision (before)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per figure (the median is printed)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--seq", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--tree", help=argparse.SUPPRESS)
    ap.add_argument("--days", help=argparse.SUPPRESS)
    ap.add_argument("--labels", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        _worker_main(args)
        return
    with tempfile.TemporaryDirectory(prefix="mpsql-bench-latency-") as scratch:
        days = Path(scratch) / "days"
        t = time.perf_counter()
        _run(None, days, [], seq=True)  # generates the days on disk (once, not timed below)
        print(f"demo dataset: seed {SEED}, {DAYS} days, {USERS} users; days generated to disk in "
              f"{time.perf_counter() - t:.1f} s (not counted)")
        after = _measure(None, days, args.repeat)
        before = _measure(_extract(args.against, Path(scratch)), days, args.repeat) if args.against else None
    cols = ("cold", "warm", "seq")
    if before is None:
        print(f"{'call':34} " + " ".join(f"{c + ' s':>8}" for c in cols))
        for label, t in after.items():
            print(f"{label:34} " + " ".join(f"{t[c]:8.2f}" for c in cols))
        return
    print(f"seconds, before ({args.against}) -> after (this tree), and before/after")
    print(f"{'call':34} " + "  ".join(f"{c:>20}" for c in cols))
    for label, t in after.items():
        b = before[label]
        cells = [f"{b[c]:6.2f} ->{t[c]:6.2f} {b[c] / max(t[c], 1e-3):5.1f}x" for c in cols]
        print(f"{label:34} " + "  ".join(f"{cell:>20}" for cell in cells))


if __name__ == "__main__":
    main()
