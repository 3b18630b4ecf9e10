"""The local event store through the real HTTP path: a day once held costs no request, and results are the same
row for row with and without it."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import stat
from pathlib import Path

import duckdb
import pytest

import mpsql
from mpsql.api.ratelimit import RateLimits
from mpsql.api.retry import RetryPolicy
from mpsql.connection import context_of
from mpsql.emulator import FaultPlan
from tests.conftest import FAST_RETRY, NOW, TODAY
from tests.integration.test_export import deduped, export_requests

MARCH = "'2024-03-04', '2024-03-10'"
ROWS = "SELECT event, epoch_ms(time), distinct_id, insert_id, CAST(properties AS VARCHAR) FROM mp_export({})"


def digest(con, call: str) -> tuple[int, str]:
    """Row count and a hash of every row in the order served."""
    rows = con.execute(ROWS.format(call)).fetchall()
    return len(rows), hashlib.sha256(repr(rows).encode()).hexdigest()


def spans(emulator) -> list[tuple[str, str]]:
    return [(p["from_date"], p["to_date"]) for p in export_requests(emulator)]


def store_dir() -> Path:
    return Path(os.environ["MPSQL_STORE_DIR"])


def test_a_second_identical_export_costs_no_request_and_returns_the_same_rows(con, emulator):
    first = digest(con, MARCH)
    assert len(export_requests(emulator)) == 2  # a one-day probe, then the rest in one request
    emulator.reset()
    assert digest(con, MARCH) == first
    assert export_requests(emulator) == []
    assert first == digest(con, MARCH + ", store := 'off'")  # the same rows as straight from Mixpanel


def test_rows_are_exactly_the_deduplicated_export(con, emulator):
    records = emulator.dataset.export_records(dt.date(2024, 3, 4), dt.date(2024, 3, 10), time_in_ms=True)
    con.execute(f"SELECT count(*) FROM mp_export({MARCH})").fetchall()  # fills the store
    n = con.execute(f"SELECT count(*) FROM mp_export({MARCH})").fetchone()[0]
    raw = con.execute(f"SELECT count(*) FROM mp_export({MARCH}, dedupe := false)").fetchone()[0]
    assert (n, raw) == (len(deduped(records)), len(records))
    assert n < raw  # the held days keep the duplicates, marked, so both answers come from the store


def test_a_sub_selection_of_held_days_costs_no_request(con, emulator):
    con.execute(f"SELECT count(*) FROM mp_export({MARCH})").fetchall()
    emulator.reset()
    got = digest(con, MARCH + ", events := ['Purchase', 'Sign Up']")
    pushed = con.execute(f"SELECT count(*) FROM mp_export({MARCH}) WHERE event = 'Login'").fetchone()[0]
    assert export_requests(emulator) == []
    assert got == digest(con, MARCH + ", events := ['Purchase', 'Sign Up'], store := 'off'")
    assert pushed == con.execute(f"SELECT count(*) FROM mp_export({MARCH}, store := 'off') WHERE event = 'Login'"
                                 ).fetchone()[0] > 0


def test_a_narrower_held_selection_does_not_answer_a_wider_one(con, emulator):
    con.execute(f"SELECT count(*) FROM mp_export({MARCH}, events := ['Purchase'])").fetchall()
    emulator.reset()
    con.execute(f"SELECT count(*) FROM mp_export({MARCH}, events := ['Purchase'])").fetchall()
    assert export_requests(emulator) == []
    con.execute(f"SELECT count(*) FROM mp_export({MARCH})").fetchall()
    assert export_requests(emulator)  # all events were never fetched for these days
    assert all("event" not in p for p in export_requests(emulator))


def test_a_range_half_held_fetches_only_the_missing_days(con, emulator):
    con.execute("SELECT count(*) FROM mp_export('2024-03-04', '2024-03-06')").fetchall()
    con.execute("SELECT count(*) FROM mp_export('2024-03-09', '2024-03-10')").fetchall()
    emulator.reset()
    got = digest(con, MARCH)
    assert spans(emulator) == [("2024-03-07", "2024-03-08")]
    assert got == digest(con, MARCH + ", store := 'off'")


def test_unsettled_days_are_fetched_again_once_no_longer_fresh(con, emulator, monkeypatch):
    recent = "'2024-03-25', '2024-04-01'"  # today is 2024-04-01: the last five days are not settled yet
    con.execute(f"SELECT count(*) FROM mp_export({recent})").fetchall()
    emulator.reset()
    con.execute(f"SELECT count(*) FROM mp_export({recent})").fetchall()
    assert export_requests(emulator) == []  # fetched minutes ago: fresh enough
    monkeypatch.setenv("MPSQL_STORE_FRESH_SECONDS", "0")
    con.execute(f"SELECT count(*) FROM mp_export({recent})").fetchall()
    # Only the days not yet five days past their end when fetched (today's noon): 03-27 ended 03-28 00:00.
    assert spans(emulator) == [("2024-03-27", "2024-04-01")]


def test_a_day_fetched_before_it_settled_is_fetched_once_more_after(con, emulator, monkeypatch):
    monkeypatch.setenv("MPSQL_STORE_FRESH_SECONDS", "0")
    con.execute("SELECT count(*) FROM mp_export('2024-03-30', '2024-03-30')").fetchall()
    ctx = context_of(con)
    ctx.now = lambda: NOW + 6 * 86_400  # six days later: 2024-03-30 has settled
    emulator.reset()
    con.execute("SELECT count(*) FROM mp_export('2024-03-30', '2024-03-30')").fetchall()
    con.execute("SELECT count(*) FROM mp_export('2024-03-30', '2024-03-30')").fetchall()
    assert spans(emulator) == [("2024-03-30", "2024-03-30")]  # fetched again once, then final


def test_refresh_fetches_held_days_again(con, emulator):
    con.execute(f"SELECT count(*) FROM mp_export({MARCH})").fetchall()
    emulator.reset()
    con.execute(f"SELECT count(*) FROM mp_export({MARCH}, store := 'refresh')").fetchall()
    assert spans(emulator)[-1][1] == "2024-03-10" and spans(emulator)[0][0] == "2024-03-04"


def test_store_off_neither_reads_nor_writes(con, emulator):
    con.execute(f"SELECT count(*) FROM mp_export({MARCH}, store := 'off')").fetchall()
    assert con.execute("SELECT count(*) FROM mp_store()").fetchone()[0] == 0


def test_max_events_does_not_keep_a_partial_day(con, emulator):
    assert con.execute(f"SELECT count(*) FROM mp_export({MARCH}, max_events := 10)").fetchone()[0] == 10
    assert con.execute("SELECT count(*) FROM mp_store()").fetchone()[0] == 0


def test_mp_store_lists_held_days_with_their_manifest(con, emulator):
    con.execute("SELECT count(*) FROM mp_export('2024-03-04', '2024-03-05', events := ['Purchase'])").fetchall()
    rows = con.execute("SELECT date, rows, settled, events, filter, request, version FROM mp_store() ORDER BY date"
                       ).fetchall()
    expected = emulator.dataset.export_records(dt.date(2024, 3, 4), dt.date(2024, 3, 4))
    assert [r[0] for r in rows] == [dt.date(2024, 3, 4), dt.date(2024, 3, 5)]
    assert rows[0][1] == sum(r["event"] == "Purchase" for r in expected)  # duplicates included
    assert rows[0][2:] == (True, ["Purchase"], None, "2024-03-04..2024-03-04", mpsql.__version__)


def test_files_are_private_and_plain_parquet_with_the_partition_column(con, emulator):
    import pyarrow.dataset as pds

    con.execute(f"SELECT count(*) FROM mp_export({MARCH})").fetchall()
    project = next(p for p in store_dir().iterdir() if p.is_dir())
    for path in project.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), path
    dataset = pds.dataset(project / "events", format="parquet", partitioning="hive")
    table = dataset.to_table()
    raw = con.execute(f"SELECT count(*) FROM mp_export({MARCH}, dedupe := false)").fetchone()[0]
    assert table.num_rows == raw
    assert "date" in table.schema.names and "duplicate" in table.schema.names
    assert sorted(set(table.column("date").to_pylist())) == [f"2024-03-{d:02d}" for d in range(4, 11)]
    duck = duckdb.connect()
    kept = duck.execute(f"SELECT count(*) FROM read_parquet('{project}/events/*/*.parquet', hive_partitioning = true)"
                        " WHERE NOT duplicate AND date BETWEEN DATE '2024-03-04' AND DATE '2024-03-10'").fetchone()[0]
    assert kept == con.execute(f"SELECT count(*) FROM mp_export({MARCH})").fetchone()[0]


def test_a_failed_fetch_keeps_no_day_and_ctas_leaves_nothing(account, emulator):
    emulator.faults = FaultPlan.cut(after_bytes=3000, times=-1)
    c = mpsql.connect(account=account, rate_limits=RateLimits.unlimited(),
                      retry=RetryPolicy(max_attempts=2, base=0.01, jitter=0))
    context_of(c).today = lambda: TODAY
    try:
        with pytest.raises(duckdb.Error, match="gave up after 2 attempts"):
            c.execute(f"CREATE TABLE t AS SELECT * FROM mp_export({MARCH})")
        assert c.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 't'").fetchone()[0] == 0
        assert c.execute("SELECT count(*) FROM mp_store()").fetchone()[0] == 0
        assert not list(store_dir().rglob("*.parquet"))
    finally:
        c.close()


def test_a_later_window_failing_keeps_the_earlier_whole_days(account, emulator):
    c = mpsql.connect(account=account, rate_limits=RateLimits.unlimited(),
                      retry=RetryPolicy(max_attempts=2, base=0.01, jitter=0))
    context_of(c).today = lambda: TODAY

    def break_after_first(progress):
        if progress.requests >= 1:
            emulator.faults = FaultPlan.cut(after_bytes=2000, times=-1)

    context_of(c).on_progress = break_after_first
    try:
        with pytest.raises(duckdb.Error):
            c.execute("SELECT count(*) FROM mp_export('2024-03-04', '2024-03-06', window_days := 1)").fetchall()
        emulator.reset()
        held = [r[0] for r in c.execute("SELECT date FROM mp_store()").fetchall()]
        assert dt.date(2024, 3, 4) in held and len(held) < 3
        records = emulator.dataset.export_records(dt.date(2024, 3, 4), dt.date(2024, 3, 6), time_in_ms=True)
        expected = len(deduped(records))
        assert c.execute("SELECT count(*) FROM mp_export('2024-03-04', '2024-03-06')").fetchone()[0] == expected
        assert dt.date(2024, 3, 4).isoformat() not in {s[0] for s in spans(emulator)}  # held: not asked again
    finally:
        c.close()


@pytest.mark.parametrize("plan", [
    pytest.param(lambda: FaultPlan.cut(after_bytes=5000, times=2), id="cut"),
    pytest.param(lambda: FaultPlan.garbage(times=1), id="garbage"),
    pytest.param(lambda: FaultPlan.terminated_early(times=1), id="terminated-early"),
    pytest.param(lambda: FaultPlan.server_error(503, times=2), id="503"),
])
def test_faults_still_give_the_exact_rows_and_whole_days(con, emulator, plan):
    reference = digest(con, MARCH + ", store := 'off'")
    emulator.faults = plan()
    assert digest(con, MARCH) == reference
    emulator.reset()
    assert digest(con, MARCH) == reference and export_requests(emulator) == []


def test_mp_events_local_reads_held_days_only_and_names_the_missing(con, emulator, notices):
    con.execute("SELECT count(*) FROM mp_export('2024-03-04', '2024-03-05')").fetchall()
    emulator.reset()
    n = con.execute("SELECT count(*) FROM mp_events_local('2024-03-04', '2024-03-07')").fetchone()[0]
    assert export_requests(emulator) == []
    assert n == con.execute("SELECT count(*) FROM mp_export('2024-03-04', '2024-03-05')").fetchone()[0]
    assert any("2 of 4 days are not held" in m and "2024-03-06..2024-03-07" in m for m in notices)


def test_mp_sync_fetches_what_is_missing_and_reports_every_day(con, emulator):
    con.execute("SELECT count(*) FROM mp_export('2024-03-06', '2024-03-06')").fetchall()
    emulator.reset()
    rows = con.execute(f"SELECT date, action, rows FROM mp_sync({MARCH}) ORDER BY date").fetchall()
    assert [r[1] for r in rows] == ["fetched", "fetched", "held", "fetched", "fetched", "fetched", "fetched"]
    assert spans(emulator) == [("2024-03-04", "2024-03-05"), ("2024-03-07", "2024-03-10")]
    records = emulator.dataset.export_records(dt.date(2024, 3, 4), dt.date(2024, 3, 4))
    assert rows[0][2] == len(records)
    emulator.reset()
    again = con.execute(f"SELECT DISTINCT action FROM mp_sync({MARCH})").fetchall()
    assert again == [("held",)] and export_requests(emulator) == []


def test_mp_sync_stops_cleanly_when_the_hourly_budget_is_spent(account, emulator):
    from mpsql.api.ratelimit import Limits

    notices: list[str] = []
    c = mpsql.connect(account=account, rate_limits=RateLimits(export=Limits(per_hour=2)), retry=FAST_RETRY,
                      notice=notices.append)
    context_of(c).today = lambda: TODAY
    try:
        rows = c.execute(f"SELECT date, action FROM mp_sync({MARCH}, window_days := 1) ORDER BY date").fetchall()
    finally:
        c.close()
    assert [a for _, a in rows] == ["fetched", "fetched"] + ["not fetched"] * 5
    assert len(export_requests(emulator)) == 2
    assert any("hourly export budget is spent" in n for n in notices)


def test_mp_store_drop_forgets_days(con, emulator):
    con.execute(f"SELECT count(*) FROM mp_export({MARCH})").fetchall()
    dropped = con.execute("SELECT date FROM mp_store_drop('2024-03-05', '2024-03-06') ORDER BY date").fetchall()
    assert dropped == [(dt.date(2024, 3, 5),), (dt.date(2024, 3, 6),)]
    emulator.reset()
    con.execute(f"SELECT count(*) FROM mp_export({MARCH})").fetchall()
    assert spans(emulator) == [("2024-03-05", "2024-03-06")]


def test_a_dead_exports_scratch_folder_is_removed_on_the_next_start(con, emulator):
    con.execute("SELECT count(*) FROM mp_export('2024-03-04', '2024-03-04')").fetchall()
    project = next(p for p in store_dir().iterdir() if p.is_dir())
    dead = project / "tmp" / "mpsql-export-999999999-abc"
    dead.mkdir()
    (dead / "window-0.jsonl").write_bytes(b'{"event": "x"}\n')
    con.execute("SELECT count(*) FROM mp_export('2024-03-05', '2024-03-05')").fetchall()
    assert not dead.exists()
    assert list((project / "tmp").iterdir()) == []  # and the statement's own scratch is gone too


def test_a_symlinked_project_folder_is_refused(con, emulator, tmp_path):
    con.execute("SELECT count(*) FROM mp_export('2024-03-04', '2024-03-04')").fetchall()
    project = next(p for p in store_dir().iterdir() if p.is_dir())
    elsewhere = tmp_path / "elsewhere"
    project.rename(elsewhere)
    project.symlink_to(elsewhere)
    with pytest.raises(duckdb.Error, match="not a plain folder"):
        con.execute("SELECT count(*) FROM mp_export('2024-03-05', '2024-03-05')").fetchall()


FILTER = 'properties["$browser"] == "Firefox" and (properties["price"] > 100 or not defined(properties["price"]))'


def test_a_filter_on_held_whole_days_is_applied_locally(con, emulator):
    con.execute(f"SELECT count(*) FROM mp_export({MARCH})").fetchall()
    emulator.reset()
    got = digest(con, f"{MARCH}, filter := '{FILTER}'")
    assert export_requests(emulator) == []
    assert got == digest(con, f"{MARCH}, filter := '{FILTER}', store := 'off'")
    assert got[0] > 100


def test_a_filter_that_cannot_be_applied_locally_is_asked_of_mixpanel_and_kept_as_such(con, emulator):
    ordering = 'properties["$browser"] > "Edge"'  # string ordering: Mixpanel's rules leave it undefined
    first = digest(con, f"{MARCH}, filter := '{ordering}'")
    assert export_requests(emulator) and all(p["where"] == ordering for p in export_requests(emulator))
    emulator.reset()
    assert digest(con, f"{MARCH}, filter := '{ordering}'") == first
    assert export_requests(emulator) == []  # held under that very filter
    assert con.execute(f"SELECT count(*) FROM mp_export({MARCH})").fetchone()[0] > first[0]
    assert export_requests(emulator)  # a narrower day does not answer the whole selection
    assert {r[0] for r in con.execute("SELECT filter FROM mp_store()").fetchall()} == {None}  # now whole


def test_a_narrower_fetch_never_replaces_a_whole_day(con, emulator, monkeypatch):
    whole = con.execute(f"SELECT count(*) FROM mp_export({MARCH}, dedupe := false)").fetchone()[0]
    ordering = 'properties["$browser"] > "Edge"'
    con.execute(f"SELECT count(*) FROM mp_export({MARCH}, filter := '{ordering}')").fetchall()
    con.execute(f"SELECT count(*) FROM mp_export({MARCH}, events := ['Purchase'], store := 'refresh')").fetchall()
    held = con.execute("SELECT sum(rows), count(*) FILTER (WHERE events IS NOT NULL OR filter IS NOT NULL) "
                       "FROM mp_store()").fetchone()
    assert held == (whole, 0)  # every day still whole, as other engines reading the folder expect
    emulator.reset()
    con.execute(f"SELECT count(*) FROM mp_export({MARCH})").fetchall()
    assert export_requests(emulator) == []


def test_mp_requests_numbers_the_requests_of_each_statement(con, emulator):
    con.execute(f"SELECT count(*) FROM mp_export({MARCH})").fetchall()
    con.execute(f"SELECT count(*) FROM mp_export({MARCH})").fetchall()  # held: no request
    con.execute("SELECT count(*) FROM mp_export('2024-03-11', '2024-03-11')").fetchall()
    rows = con.execute("SELECT statement, count(*) FROM mp_requests() WHERE endpoint = '/export' "
                       "GROUP BY ALL ORDER BY statement DESC LIMIT 2").fetchall()
    assert [n for _, n in rows] == [1, 2]  # the last statement cost one request, the first two
    assert rows[0][0] > rows[1][0]


def test_mpsql_sync_and_mpsql_store_from_the_shell(emulator):
    from tests.integration.test_cli import run

    c = emulator.credentials
    env = {"MP_API_URL": emulator.url, "MP_USERNAME": c.username, "MP_SECRET": c.secret,
           "MP_PROJECT_ID": str(c.project_id)}
    sync = ["sync", "--from", "2024-03-04", "--to", "2024-03-06", "--format", "csv"]
    first = run(sync, env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[1].startswith("fetched,3,2024-03-04,2024-03-06,")
    again = run(sync, env)
    assert again.stdout.splitlines()[1].startswith("held,3,")
    listed = run(["store", "list", "--format", "csv"], env)
    assert [line.split(",")[0] for line in listed.stdout.splitlines()[1:]] == ["2024-03-04", "2024-03-05",
                                                                               "2024-03-06"]
    dropped = run(["store", "drop", "--from", "2024-03-05", "--to", "2024-03-05", "--format", "csv"], env)
    assert dropped.stdout.splitlines() == ["dropped", "2024-03-05"]
    bad = run(["sync", "--from", "2024-13-01"], env)
    assert bad.returncode == 2 and "--from" in bad.stderr and "not a date" in bad.stderr


def test_a_store_folder_that_is_a_file_is_a_clear_error(con, emulator, monkeypatch, tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    monkeypatch.setenv("MPSQL_STORE_DIR", str(not_a_folder))
    with pytest.raises(duckdb.Error, match="cannot use the event store folder"):
        con.execute("SELECT count(*) FROM mp_export('2024-03-04', '2024-03-04')").fetchall()


def test_a_day_folder_replaced_by_a_link_is_neither_read_nor_written_through(con, emulator, notices, tmp_path):
    con.execute("SELECT count(*) FROM mp_export('2024-03-04', '2024-03-04')").fetchall()
    project = next(p for p in store_dir().iterdir() if p.is_dir())
    day = project / "events" / "date=2024-03-04"
    elsewhere = tmp_path / "elsewhere"
    day.rename(elsewhere)
    day.symlink_to(elsewhere)
    before = (elsewhere / "data.parquet").stat().st_mtime_ns
    emulator.reset()
    n = con.execute("SELECT count(*) FROM mp_export('2024-03-04', '2024-03-04')").fetchone()[0]
    assert n > 0 and len(export_requests(emulator)) == 1  # not read through the link: fetched
    assert (elsewhere / "data.parquet").stat().st_mtime_ns == before  # and not written through it
    assert any("could not be kept in the local store" in m for m in notices)


def test_mp_sync_says_not_kept_for_a_day_it_fetched_but_could_not_write(con, emulator, tmp_path):
    """A refused day folder (a link) is fetched, not written: mp_sync's row says so instead of leaving the day out."""
    con.execute("SELECT count(*) FROM mp_export('2024-03-04', '2024-03-04')").fetchall()
    project = next(p for p in store_dir().iterdir() if p.is_dir())
    day = project / "events" / "date=2024-03-04"
    day.rename(tmp_path / "elsewhere")
    day.symlink_to(tmp_path / "elsewhere")
    rows = con.execute("SELECT date, action, request FROM mp_sync('2024-03-04', '2024-03-05') ORDER BY date").fetchall()
    assert [(d.isoformat(), a) for d, a, _ in rows] == [("2024-03-04", "not kept"), ("2024-03-05", "fetched")]
    assert rows[0][2].startswith("2024-03-04..")  # the request that fetched it


def test_a_ledger_file_replaced_by_a_link_is_not_followed(con, emulator, tmp_path):
    ledger = store_dir() / "ratelimit-ledger.json"
    con.execute("SELECT count(*) FROM mp_export('2024-03-04', '2024-03-04')").fetchall()
    target = tmp_path / "target.json"
    target.write_text("{}")
    ledger.unlink()
    ledger.symlink_to(target)
    assert con.execute("SELECT count(*) FROM mp_export('2024-03-05', '2024-03-05')").fetchone()[0] > 0
    assert target.read_text() == "{}"


@pytest.mark.parametrize("variable, value", [("MPSQL_STORE_LOOKBACK_DAYS", "five"),
                                             ("MPSQL_STORE_LOOKBACK_DAYS", "-1"),
                                             ("MPSQL_STORE_FRESH_SECONDS", "nan"),
                                             ("MPSQL_STORE_FRESH_SECONDS", "soon")])
def test_a_bad_store_setting_is_named_before_any_request(con, emulator, monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(duckdb.Error, match=f"\\${variable} must be"):
        con.execute("SELECT count(*) FROM mp_export('2024-03-04', '2024-03-04')").fetchall()
    assert export_requests(emulator) == []


def test_a_statement_reads_the_held_days_it_planned_with_whatever_replaces_them(con, emulator, tmp_path):
    from mpsql.store.days import DayStore

    con.execute("SELECT count(*) FROM mp_export('2024-03-04', '2024-03-04')").fetchall()
    project = next(p for p in store_dir().iterdir() if p.is_dir())
    store = DayStore(store_dir(), project.name)
    day = dt.date(2024, 3, 4)
    pinned = store.pin([day], tmp_path)
    rows = pinned[day].rows
    other = tmp_path / "other.parquet"
    duckdb.connect().execute(f"COPY (SELECT 1 AS x) TO '{other}' (FORMAT parquet)")
    os.replace(other, store.day_path(day))  # another process replaces the day meanwhile
    assert duckdb.connect().execute(f"SELECT count(*) FROM read_parquet('{pinned[day].path}')").fetchone()[0] == rows


def test_a_scratch_folder_whose_lock_is_held_is_live_whatever_its_pid_says(tmp_path):
    import fcntl

    from mpsql.store.days import LOCK_FILE, remove_orphans

    live = tmp_path / "mpsql-export-999999999-live"  # a pid from another namespace: not alive here
    live.mkdir()
    fd = os.open(live / LOCK_FILE, os.O_WRONLY | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    dead = tmp_path / "mpsql-export-999999999-dead"
    dead.mkdir()
    (dead / LOCK_FILE).write_text("")
    try:
        assert remove_orphans(tmp_path) == 1
        assert live.exists() and not dead.exists()
    finally:
        os.close(fd)


def test_the_demo_removes_only_its_own_old_folders():
    keep = store_dir() / "demo-thesis"
    keep.mkdir()
    (keep / "chapter1.txt").write_text("precious")
    old = store_dir() / "demo-2024-2020-01-01"
    old.mkdir()
    con = mpsql.connect(demo=True)
    con.close()
    assert (keep / "chapter1.txt").read_text() == "precious"
    assert not old.exists()
