"""The store and the request budget across processes: a killed sync leaves only whole days and resumes; two
processes syncing and querying at once neither corrupt the store nor exceed Mixpanel's per-second limit."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from mpsql.emulator import FaultPlan, ServerLimits
from tests.integration.test_export import export_requests


def mpsql_process(emulator, store: Path, sql: str) -> subprocess.Popen:
    c = emulator.credentials
    env = {k: v for k, v in os.environ.items() if not k.startswith("MP_")}
    env.update({"MP_CONFIG_PATH": os.environ["MP_CONFIG_PATH"], "MP_API_URL": emulator.url,
                "MP_USERNAME": c.username, "MP_SECRET": c.secret, "MP_PROJECT_ID": str(c.project_id),
                "MPSQL_STORE_DIR": str(store)})
    return subprocess.Popen([sys.executable, "-m", "mpsql", "--format", "csv", "-c", sql], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def day_files(store: Path) -> dict[dt.date, Path]:
    return {dt.date.fromisoformat(p.parent.name.removeprefix("date=")): p
            for p in store.glob("*/events/date=*/data.parquet")}


def assert_whole(store: Path, emulator) -> None:
    """Every held day holds exactly the lines the export serves for it, and nothing else is in the day folders."""
    duck = duckdb.connect()
    for day, path in day_files(store).items():
        expected = len(emulator.dataset.export_records(day, day))
        assert duck.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchone()[0] == expected, day
    strays = [p for p in store.glob("*/events/**/*") if p.is_file() and p.name != "data.parquet"]
    assert strays == []


def test_a_killed_sync_leaves_only_whole_days_and_the_next_run_carries_on(emulator, tmp_path):
    store = tmp_path / "store"
    emulator.faults = FaultPlan.drip(delay=0.03, chunk_size=4096, times=-1)  # slow enough to kill mid-way
    sync = "SELECT count(*) FROM mp_sync('2024-02-01', '2024-02-20', window_days := 1)"
    proc = mpsql_process(emulator, store, sync)
    deadline = time.monotonic() + 60
    while len(day_files(store)) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    held = set(day_files(store))
    assert 3 <= len(held) < 20
    assert_whole(store, emulator)

    emulator.reset()
    again = mpsql_process(emulator, store, "SELECT action, count(*) FROM mp_sync('2024-02-01', '2024-02-20') "
                                           "GROUP BY ALL ORDER BY ALL")
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert out.splitlines()[1:] == [f"fetched,{20 - len(held)}", f"held,{len(held)}"]
    assert {p["from_date"] for p in export_requests(emulator)}.isdisjoint({d.isoformat() for d in held})
    assert_whole(store, emulator)
    assert not list(store.glob("*/tmp/*"))  # the killed run's scratch folder was cleared by the next start


def test_two_processes_syncing_and_querying_share_one_budget_and_one_store(emulator, tmp_path):
    store = tmp_path / "store"
    emulator.rate_limits = ServerLimits(export_per_second=3, export_per_hour=60)  # Mixpanel's own limits
    sync = "SELECT count(*) FROM mp_sync('2024-03-01', '2024-03-05', window_days := 1)"
    query = "SELECT count(*) FROM mp_export('2024-03-03', '2024-03-07', window_days := 1)"
    procs = [mpsql_process(emulator, store, sql) for sql in (sync, sync, query)]
    outputs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in outputs]
    statuses = [r.status for r in emulator.requests if r.path.endswith("/export")]
    assert statuses and set(statuses) == {200}  # never a 429: the three processes paced themselves as one
    assert set(day_files(store)) == {dt.date(2024, 3, d) for d in range(1, 8)}
    assert_whole(store, emulator)
    # The query's answer is the deduplicated export of its days, whichever process fetched them.
    from tests.integration.test_export import deduped

    expected = len(deduped(emulator.dataset.export_records(dt.date(2024, 3, 3), dt.date(2024, 3, 7), time_in_ms=True)))
    assert outputs[2][0].splitlines()[1] == str(expected)
