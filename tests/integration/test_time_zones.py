"""Project time zones and legacy time (docs/mixpanel-api.md, "Time zones"), over the real HTTP path.

The same synthetic events are served by three emulated projects: (a) a UTC project, (b) one in
America/Los_Angeles (created since 2023: true epochs, UTC export days, reports in Los Angeles days) and (c) a
legacy project in Asia/Tokyo (created before 2023: export days are Tokyo days and ``time`` is Tokyo wall-clock
time written as an epoch). mp_export must give the same UTC instants for all three, its counts per project day
must equal the live reports', and time pushdown must never lose rows at a day's edge.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import duckdb
import pytest

import mpsql
from mpsql.api.ratelimit import RateLimits
from mpsql.config import Account
from mpsql.connection import context_of
from mpsql.emulator import Emulator, ServerLimits
from mpsql.emulator.proto import Response, Route
from mpsql.errors import ArgumentError
from tests.conftest import FAST_RETRY, NOW, TODAY

PROJECTS = {"utc": ("UTC", False), "los_angeles": ("America/Los_Angeles", False), "tokyo_legacy": ("Asia/Tokyo", True)}
# Export ranges holding all of the data (UTC days 2024-03-28..31): export days are UTC days but a legacy
# project's are its own, and Tokyo's 2024-04-01 holds UTC's 2024-03-31 afternoon.
EXPORT_RANGE = {"utc": ("2024-03-28", "2024-03-31"), "los_angeles": ("2024-03-28", "2024-03-31"),
                "tokyo_legacy": ("2024-03-28", "2024-04-01")}
# Every project day the data touches (reports bucket by them).
PROJECT_DAYS = {"utc": ("2024-03-28", "2024-03-31"), "los_angeles": ("2024-03-27", "2024-03-31"),
                "tokyo_legacy": ("2024-03-28", "2024-04-01")}


@pytest.fixture(scope="module")
def projects() -> Iterator[dict[str, Emulator]]:
    emus = {name: Emulator(seed=5, today=TODAY, days=4, users=80, rate_limits=ServerLimits.unlimited(),
                           timezone=zone, legacy_time=legacy) for name, (zone, legacy) in PROJECTS.items()}
    for emu in emus.values():
        emu.start()
    yield emus
    for emu in emus.values():
        emu.stop()


def connect(emu: Emulator) -> duckdb.DuckDBPyConnection:
    con = mpsql.connect(account=emu, rate_limits=RateLimits.unlimited(), retry=FAST_RETRY)
    context_of(con).today = lambda: TODAY
    context_of(con).now = lambda: NOW  # noon UTC: 05:00 in Los Angeles, 21:00 in Tokyo, all on 2024-04-01
    return con


@pytest.fixture(scope="module")
def exported(projects: dict[str, Emulator]) -> dict[str, list[tuple]]:
    """Every project's whole export as (event, epoch ms, distinct_id, insert_id), sorted."""
    out = {}
    for name, emu in projects.items():
        con = connect(emu)
        lo, hi = EXPORT_RANGE[name]
        out[name] = con.execute(f"SELECT event, epoch_ms(time), distinct_id, insert_id FROM mp_export('{lo}', '{hi}', "
                                "store := 'off') ORDER BY ALL").fetchall()
        con.close()
    return out


def export_requests(emu: Emulator) -> list[dict]:
    return [r.params for r in emu.requests if r.path.endswith("/export")]


def test_the_three_projects_give_the_same_utc_instants(exported: dict[str, list[tuple]]) -> None:
    assert len(exported["utc"]) > 500
    assert exported["los_angeles"] == exported["utc"]
    assert exported["tokyo_legacy"] == exported["utc"]


def test_a_legacy_projects_exported_time_is_its_wall_clock(projects: dict[str, Emulator]) -> None:
    con = connect(projects["tokyo_legacy"])
    rows = con.execute("SELECT DISTINCT CAST(properties->>'$.time' AS BIGINT) - epoch_ms(time) FROM "
                       "mp_export('2024-03-29', '2024-03-29', store := 'off')").fetchall()
    assert rows == [(9 * 3_600_000,)]  # Tokyo is UTC+9, all year
    # The Tokyo day 2024-03-29 is 2024-03-28 15:00 .. 2024-03-29 15:00 UTC.
    first, last = con.execute("SELECT min(time), max(time) FROM mp_export('2024-03-29', '2024-03-29', "
                              "store := 'off')").fetchone()
    assert dt.datetime(2024, 3, 28, 15, tzinfo=dt.UTC) <= first <= last < dt.datetime(2024, 3, 29, 15, tzinfo=dt.UTC)
    assert last - first > dt.timedelta(hours=20)
    assert [p["from_date"] for p in export_requests(projects["tokyo_legacy"])][-1] == "2024-03-29"


@pytest.mark.parametrize("name", PROJECTS)
def test_counts_per_project_day_equal_the_live_segmentation(projects: dict[str, Emulator], name: str) -> None:
    zone = PROJECTS[name][0]
    con = connect(projects[name])
    lo, hi = EXPORT_RANGE[name]
    first, last = PROJECT_DAYS[name]
    local = dict(con.execute(f"""
        SELECT CAST(timezone('{zone}', time) AS DATE)::TIMESTAMP, count(*)
        FROM mp_export('{lo}', '{hi}') WHERE event = 'Page View' GROUP BY ALL""").fetchall())
    live = dict(con.execute(f"SELECT date, value FROM mp_segmentation('Page View', '{first}', '{last}')").fetchall())
    assert len(local) == len(live) and sum(local.values()) > 100
    assert {d: float(n) for d, n in local.items()} == live


EDGES = [
    "2024-03-30 00:00:00+00", "2024-03-30 00:00:00.001+00",  # UTC midnight, and a millisecond after it
    "2024-03-30 07:00:00+00",  # midnight in Los Angeles (daylight time)
    "2024-03-29 14:59:59.999+00",  # a millisecond before midnight in Tokyo
    "2024-03-30 16:00:00+00",  # an hour after midnight in Tokyo
]
WINDOWS = [("2024-03-29 15:00:00+00", "2024-03-30 15:00:00+00"),  # the Tokyo day 2024-03-30
           ("2024-03-30 06:59:59.999+00", "2024-03-30 07:00:00.001+00")]  # two milliseconds around LA's midnight


@pytest.mark.parametrize("name", PROJECTS)
def test_time_pushdown_at_day_edges_equals_the_whole_export_filtered(projects: dict[str, Emulator],
                                                                    name: str) -> None:
    con = connect(projects[name])
    lo, hi = EXPORT_RANGE[name]
    con.execute(f"CREATE TABLE whole AS SELECT * FROM mp_export('{lo}', '{hi}', store := 'off')")
    wheres = [f"time {op} TIMESTAMPTZ '{edge}'" for edge in EDGES for op in (">=", "<")]
    wheres += [f"time >= TIMESTAMPTZ '{a}' AND time < TIMESTAMPTZ '{b}'" for a, b in WINDOWS]
    for where in wheres:
        pushed = con.execute(f"SELECT event, time, insert_id FROM mp_export('{lo}', '{hi}', store := 'off') "
                             f"WHERE {where} ORDER BY ALL").fetchall()
        local = con.execute(f"SELECT event, time, insert_id FROM whole WHERE {where} ORDER BY ALL").fetchall()
        assert pushed == local, (name, where)
    # The pushdown really narrowed the requests (else the comparison proves nothing).
    spans = {(p["from_date"], p["to_date"]) for p in export_requests(projects[name])}
    assert any(span != (lo, hi) for span in spans)


def test_to_date_is_checked_against_the_projects_today(projects: dict[str, Emulator]) -> None:
    # At 01:00 UTC on 2024-04-01 it is still 2024-03-31 in Los Angeles and already the afternoon in Tokyo.
    early = dt.datetime(2024, 4, 1, 1, tzinfo=dt.UTC).timestamp()
    late = dt.datetime(2024, 3, 31, 20, tzinfo=dt.UTC).timestamp()  # 05:00 on 2024-04-01 in Tokyo
    la = connect(projects["los_angeles"])
    context_of(la).now = lambda: early
    before = len(projects["los_angeles"].requests)
    with pytest.raises(duckdb.Error, match=r"to_date: 2024-04-01 is in the future \(today is 2024-03-31 in the "
                                           r"project's time zone, America/Los_Angeles\)"):
        la.execute("SELECT * FROM mp_segmentation('Page View', '2024-03-30', '2024-04-01')")
    assert isinstance(context_of(la).last_error, ArgumentError)
    assert len(projects["los_angeles"].requests) == before  # refused before any request
    assert la.execute("SELECT count(*) FROM mp_segmentation('Page View', '2024-03-30', '2024-03-31')").fetchone()[0]
    tokyo = connect(projects["tokyo_legacy"])
    context_of(tokyo).now = lambda: late
    context_of(tokyo).today = lambda: dt.date(2024, 3, 31)  # UTC's today is 2024-03-31: Tokyo's is 04-01
    assert tokyo.execute("SELECT count(*) FROM mp_export('2024-04-01', '2024-04-01', store := 'off')").fetchone()[0]
    with pytest.raises(duckdb.Error, match="to_date: 2024-04-02 is in the future"):
        tokyo.execute("SELECT count(*) FROM mp_export('2024-04-01', '2024-04-02')")


def test_mp_project_shows_the_zone_mode_and_data_views(projects: dict[str, Emulator]) -> None:
    con = connect(projects["tokyo_legacy"])
    row = con.execute("SELECT project_id, timezone, utc_offset, timezone_source, legacy_time, today, region, "
                      "json_array_length(data_views) FROM mp_project()").fetchone()
    assert row == (projects["tokyo_legacy"].credentials.project_id, "Asia/Tokyo", "+09:00", "account", True,
                   dt.date(2024, 4, 1), "us", 1)


def test_the_time_zone_is_learned_from_me_once_and_cached(projects: dict[str, Emulator]) -> None:
    emu = projects["los_angeles"]
    c = emu.credentials
    account = Account("la", c.username, c.secret, c.project_id, api_url=emu.url, source="test")
    con = mpsql.connect(account=account, rate_limits=RateLimits.unlimited(), retry=FAST_RETRY)
    context_of(con).today, context_of(con).now = (lambda: TODAY), (lambda: NOW)
    emu.reset()
    assert con.execute("SELECT timezone, utc_offset, timezone_source, legacy_time FROM mp_project()").fetchone() == \
        ("America/Los_Angeles", "-07:00", "/api/app/me", False)
    con.execute("SELECT * FROM mp_segmentation('Page View', '2024-03-31', '2024-04-01')").fetchall()
    assert [r.path for r in emu.requests].count("/api/app/me") == 1  # the second lookup is the cache's
    # An old date needs no time zone at all: no /me.
    emu.reset()
    con.execute("SELECT * FROM mp_segmentation('Page View', '2024-03-30', '2024-03-30')").fetchall()
    assert [r.path for r in emu.requests] == ["/api/query/segmentation"]


@pytest.mark.parametrize("zone", ["America", "Etc/" + "A" * 300, "Mars/Olympus\x1b[31m"])
def test_a_me_answer_naming_no_time_zone_is_a_notice_and_utc(projects: dict[str, Emulator], zone: str) -> None:
    """A folder of the zone database ("America") or a name too long for a file name is no zone either."""
    emu = projects["utc"]
    c = emu.credentials
    saved = dict(emu.routes)

    def me(_emu, _req) -> Response:
        return Response(json={"results": {"projects": {str(c.project_id): {"name": "p", "timezone": zone}}}})

    emu.add_route("/api/app/me", Route(me, "app", ("GET",)))
    notices: list[str] = []
    account = Account("odd", c.username, c.secret, c.project_id, api_url=emu.url, source="test")
    con = mpsql.connect(account=account, rate_limits=RateLimits.unlimited(), retry=FAST_RETRY, notice=notices.append)
    context_of(con).today, context_of(con).now = (lambda: TODAY), (lambda: NOW)
    try:
        row = con.execute("SELECT timezone, timezone_source FROM mp_project()").fetchone()
    finally:
        emu.routes.clear()
        emu.routes.update(saved)
    assert row == ("UTC", "assumed")
    assert [n for n in notices if "names no time zone" in n]
    assert all(len(n) < 400 and "\x1b" not in n for n in notices)


def test_los_angeles_days_around_the_change_to_daylight_time_follow_local_days() -> None:
    """Los Angeles moved to daylight time on 2024-03-10 (a 23-hour day): reports and the export's local days
    still agree."""
    with Emulator(seed=9, today=dt.date(2024, 3, 12), days=3, users=40, rate_limits=ServerLimits.unlimited(),
                  timezone="America/Los_Angeles") as emu:
        con = connect(emu)
        noon = dt.datetime(2024, 3, 12, 12, tzinfo=dt.UTC).timestamp()
        context_of(con).today, context_of(con).now = (lambda: emu.today), (lambda: noon)
        local = dict(con.execute("""
            SELECT CAST(timezone('America/Los_Angeles', time) AS DATE)::TIMESTAMP, count(*)
            FROM mp_export('2024-03-09', '2024-03-11') WHERE event = 'Page View' GROUP BY ALL""").fetchall())
        live = dict(con.execute("SELECT date, value FROM mp_segmentation('Page View', '2024-03-08', '2024-03-11')"
                                ).fetchall())
        assert {d: float(n) for d, n in local.items()} == live and len(live) == 4
        day = dt.datetime(2024, 3, 10)
        assert local[day] < local[day + dt.timedelta(days=1)] or live[day] == local[day]


def test_a_legacy_projects_held_days_give_the_same_rows(projects: dict[str, Emulator],
                                                       exported: dict[str, list[tuple]]) -> None:
    emu = projects["tokyo_legacy"]
    con = connect(emu)
    lo, hi = EXPORT_RANGE["tokyo_legacy"]
    query = f"SELECT event, epoch_ms(time), distinct_id, insert_id FROM mp_export('{lo}', '{hi}') ORDER BY ALL"
    assert con.execute(query).fetchall() == exported["tokyo_legacy"]
    emu.reset()
    assert con.execute(query).fetchall() == exported["tokyo_legacy"]
    assert export_requests(emu) == []  # every day came from the store
    assert con.execute("SELECT min(date), max(date) FROM mp_store()").fetchone() == (dt.date(2024, 3, 28),
                                                                                   dt.date(2024, 4, 1))


def test_a_legacy_project_across_the_autumn_clock_change() -> None:
    """Los Angeles left daylight time at 02:00 on 2024-11-03, so 01:00-02:00 happened twice. A legacy project
    stored wall-clock times, and mpsql reads a repeated one as its later (standard-time) instant: the events of
    the first 01:00-02:00 come back an hour late, every other event exactly (README, "Time zones")."""
    common = {"seed": 4, "today": dt.date(2024, 11, 5), "days": 3, "users": 40,
              "rate_limits": ServerLimits.unlimited()}
    with Emulator(**common) as utc, Emulator(**common, timezone="America/Los_Angeles", legacy_time=True) as legacy:
        rows = {}
        for name, emu, (lo, hi) in (("utc", utc, ("2024-11-02", "2024-11-04")),
                                    ("legacy", legacy, ("2024-11-01", "2024-11-04"))):
            con = connect(emu)
            context_of(con).today = lambda: dt.date(2024, 11, 5)
            context_of(con).now = lambda: dt.datetime(2024, 11, 5, 12, tzinfo=dt.UTC).timestamp()
            rows[name] = sorted(con.execute(f"SELECT insert_id, event, epoch_ms(time) FROM mp_export('{lo}', '{hi}', "
                                            "dedupe := false) WHERE insert_id IS NOT NULL").fetchall())
            con.close()
        first_hour = (int(dt.datetime(2024, 11, 3, 8, tzinfo=dt.UTC).timestamp()) * 1000,  # 01:00 PDT
                      int(dt.datetime(2024, 11, 3, 9, tzinfo=dt.UTC).timestamp()) * 1000)  # 02:00 PDT = 01:00 PST
        shifted = sorted((i, e, t + 3_600_000 if first_hour[0] <= t < first_hour[1] else t) for i, e, t in rows["utc"])
        assert rows["legacy"] == shifted
        assert sum(1 for _, _, t in rows["utc"] if first_hour[0] <= t < first_hour[1]) > 0
