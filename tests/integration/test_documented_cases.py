"""Hand-worked cases from Mixpanel's documentation, with the numbers the documentation gives.

The events below restate the documentation's examples (sources in each test's docstring and in
docs/report-semantics.md); the expected numbers are the documented answers, worked by hand, not the output
of either implementation. Each case runs against the emulator's live reports, served from a JSONL export file
written here (``Emulator(events=...)``, as ``mpsql emulator --events FILE`` does), and against the local twins
over the same file exported with mp_export.

Event names map the documentation's abstract steps onto the emulator's saved funnels: funnel 7003 is
Search -> View Item -> Purchase over 100 (A -> B -> C), funnel 7004 Page View -> Sign Up (A -> B).
"""

from __future__ import annotations

import calendar
import datetime as dt
import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import mpsql
from mpsql.api.ratelimit import RateLimits
from mpsql.config import Account, Secret
from mpsql.connection import context_of
from mpsql.emulator import Emulator, ServerLimits
from tests.conftest import FAST_RETRY

_ids = itertools.count(1)


def rec(event: str, distinct_id: str, when: str, **props: Any) -> dict[str, Any]:
    """One export record at ``when`` (``YYYY-MM-DD HH:MM``, UTC) with a fresh $insert_id."""
    t = calendar.timegm(dt.datetime.strptime(when, "%Y-%m-%d %H:%M").timetuple())
    n = next(_ids)
    return {"event": event, "properties": {"time": t, "distinct_id": distinct_id, "$insert_id": f"case-{n:04d}",
                                           "mp_processing_time_ms": t * 1000 + 500, **props}}


def _later(when: str, days: int = 0, hours: int = 0) -> str:
    t = dt.datetime.strptime(when, "%Y-%m-%d %H:%M") + dt.timedelta(days=days, hours=hours)
    return t.strftime("%Y-%m-%d %H:%M")


BIRTH = "2024-01-31 10:00"

CASES = [
    # Funnels: A at 1:00 pm, A at 1:30, B at 1:45, C at 2:15; A -> B -> C with a one-hour window.
    rec("Search", "funnel-user", "2024-02-05 13:00"),
    rec("Search", "funnel-user", "2024-02-05 13:30"),
    rec("View Item", "funnel-user", "2024-02-05 13:45"),
    rec("Purchase", "funnel-user", "2024-02-05 14:15", amount=150),
    # Re-entry scenario 1: A -> (A's window ends) -> A^ -> B.
    rec("Page View", "reentry-1", "2024-02-06 10:00"),
    rec("Page View", "reentry-1", "2024-02-06 11:30"),
    rec("Sign Up", "reentry-1", "2024-02-06 11:45"),
    # Re-entry scenario 2: A -> A^ -> (A's window ends) -> B.
    rec("Page View", "reentry-2", "2024-02-07 10:00"),
    rec("Page View", "reentry-2", "2024-02-07 10:40"),
    rec("Sign Up", "reentry-2", "2024-02-07 11:20"),
    # Several entries before step 2, all in the window: A -> A^ -> A^^ -> B.
    rec("Page View", "reentry-3", "2024-02-08 10:00"),
    rec("Page View", "reentry-3", "2024-02-08 10:10"),
    rec("Page View", "reentry-3", "2024-02-08 10:20"),
    rec("Sign Up", "reentry-3", "2024-02-08 10:30"),
    # Two conversions in the range: A -> B -> A^ -> B^.
    rec("Page View", "reentry-4", "2024-02-09 10:00"),
    rec("Sign Up", "reentry-4", "2024-02-09 10:05"),
    rec("Page View", "reentry-4", "2024-02-09 10:30"),
    rec("Sign Up", "reentry-4", "2024-02-09 10:50"),
    # ID merge: anonymous on a first device, signs up; anonymous on a second device, logs in.
    rec("Page View", "$device:d-one", "2024-02-12 09:00", **{"$device_id": "d-one"}),
    rec("Sign Up", "charlie", "2024-02-12 09:05", **{"$device_id": "d-one", "$user_id": "charlie"}),
    rec("Page View", "$device:d-two", "2024-02-12 18:00", **{"$device_id": "d-two"}),
    rec("Login", "charlie", "2024-02-12 18:01", **{"$device_id": "d-two", "$user_id": "charlie"}),
    # Retention by month: four users born on Jan 31; returns on day 29, day 30 (+1 h), day 59, day 61.
    *[rec("Sign Up", f"born-{i}", BIRTH) for i in range(1, 5)],
    rec("Purchase", "born-1", _later(BIRTH, days=29)),
    rec("Purchase", "born-2", _later(BIRTH, days=30, hours=1)),
    rec("Purchase", "born-3", _later(BIRTH, days=59)),
    rec("Purchase", "born-4", _later(BIRTH, days=61)),
]


@pytest.fixture(scope="module")
def emu(tmp_path_factory) -> Iterator[Emulator]:
    path = tmp_path_factory.mktemp("cases") / "documented.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in CASES), encoding="utf-8")
    with Emulator(events=path, rate_limits=ServerLimits.unlimited()) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def client(emu: Emulator) -> Iterator[httpx.Client]:
    c = emu.credentials
    with httpx.Client(base_url=emu.url, auth=(c.username, c.secret), timeout=30) as cl:
        yield cl


@pytest.fixture(scope="module")
def con(emu: Emulator):
    """The file exported with mp_export into ``events``, for the twins."""
    c = emu.credentials
    account = Account("cases", c.username, Secret(c.secret), c.project_id, "us", emu.url)
    connection = mpsql.connect(account=account, rate_limits=RateLimits.unlimited(), retry=FAST_RETRY)
    context_of(connection).today = lambda: emu.today
    last = emu.today - dt.timedelta(days=1)
    connection.execute(f"CREATE TABLE events AS SELECT * FROM mp_export('{emu.dataset.first_date}', '{last}')")
    yield connection
    connection.close()


def query(client: httpx.Client, emu: Emulator, path: str, **params: Any) -> Any:
    r = client.get(path, params={"project_id": emu.credentials.project_id, **params})
    assert r.status_code == 200, r.text
    return r.json()


def live_funnel(client, emu, funnel_id: int, day: str, **params: Any) -> list[dict[str, Any]]:
    body = query(client, emu, "/api/query/funnels", funnel_id=funnel_id, from_date=day, to_date=day,
                 length=1, length_unit="hour", **params)
    return body["data"][day]["steps"]


def local_funnel(con, steps: list[str], day: str, **named: str) -> list[tuple[int, float | None]]:
    extra = "".join(f", {k} := {v}" for k, v in named.items())
    return con.execute(f"SELECT count, avg_time_seconds FROM mp_local_funnel('events', {steps}, '{day}', '{day}', "
                       f"window_seconds := 3600{extra}) ORDER BY step").fetchall()


ABC = ["Search", "View Item", "Purchase"]
AB = ["Page View", "Sign Up"]


def test_a_later_first_step_does_not_restart_the_conversion_window(client, emu, con):
    """"Conversion Details in Funnels" (help.mixpanel.com) and "Funnels Advanced: Conversion Window"
    (docs.mixpanel.com/docs/reports/funnels/funnels-advanced): A at 1:00 pm, A at 1:30, B at 1:45, C at
    2:15, one-hour window: the user converts through B and is not counted as converting through C."""
    steps = live_funnel(client, emu, 7003, "2024-02-05")
    assert [s["count"] for s in steps] == [1, 1, 0]
    assert steps[1]["avg_time_from_start"] == 45 * 60  # B is measured from the first A (1:00 -> 1:45)
    assert local_funnel(con, ABC, "2024-02-05") == [(1, None), (1, 45 * 60.0), (0, 0.0)]


@pytest.mark.parametrize(("day", "default", "optimized"), [
    # Scenario 1: A -> window ends -> A^ -> B. Default: not converted; optimized: A^ -> B converts (15 min).
    ("2024-02-06", [(1, None), (0, 0.0)], [(1, None), (1, 15 * 60.0)]),
    # Scenario 2: A -> A^ -> window ends -> B. Default: not converted; optimized: A^ -> B converts (40 min).
    ("2024-02-07", [(1, None), (0, 0.0)], [(1, None), (1, 40 * 60.0)]),
    # A -> A^ -> A^^ -> B in the window: default measures from A (30 min); optimized records A^^ -> B (10 min).
    ("2024-02-08", [(1, None), (1, 30 * 60.0)], [(1, None), (1, 10 * 60.0)]),
    # A -> B -> A^ -> B^: the user counts once, with the first converted funnel A -> B (5 min).
    ("2024-02-09", [(1, None), (1, 5 * 60.0)], [(1, None), (1, 5 * 60.0)]),
])
def test_optimized_reentry_counts_later_entries(client, emu, con, day, default, optimized):
    """"Funnels Advanced: Optimized Re-entry" (docs.mixpanel.com/docs/reports/funnels/funnels-advanced):
    scenarios 1 and 2, "the most recent entry" before step 2, and "the first converted funnel only"."""
    for mode, want in (("default", default), ("optimized", optimized)):
        steps = live_funnel(client, emu, 7004, day, reentry=mode)
        assert [(s["count"], s["avg_time"]) for s in steps] == [(n, None if t is None else int(t)) for n, t in want]
        assert local_funnel(con, AB, day, reentry=f"'{mode}'") == want, mode


def test_id_merge_counts_devices_and_user_as_one_user(client, emu, con):
    """"Identifying Users (Simplified)" (docs.mixpanel.com/docs/tracking-methods/id-management/
    identifying-users-simplified): events before identify carry only $device_id; an event with both $device_id
    and $user_id merges the device into the user, "even if a user has multiple anonymous sessions (eg: on
    desktop and mobile)": two devices and one user id are one user, whose visit converts to the sign-up."""
    day = "2024-02-12"
    uniques = query(client, emu, "/api/query/segmentation", event="Page View", from_date=day, to_date=day,
                    type="unique")
    assert uniques["data"]["values"]["Page View"][day] == 1
    assert [s["count"] for s in live_funnel(client, emu, 7004, day)] == [1, 1]
    assert con.execute(f"SELECT value FROM mp_local_segmentation('events', 'Page View', '{day}', '{day}', "
                       "type := 'unique')").fetchall() == [(1.0,)]
    assert [n for n, _ in local_funnel(con, AB, day)] == [1, 1]
    mapping = dict(con.execute("SELECT distinct_id, user_id FROM mp_identities('events') "
                               "WHERE distinct_id IN ('$device:d-one', '$device:d-two', 'charlie')").fetchall())
    assert mapping == {"$device:d-one": "charlie", "$device:d-two": "charlie", "charlie": "charlie"}


@pytest.mark.parametrize(("unbounded", "counts"), [(False, [1, 2, 1]), (True, [4, 3, 1])])
def test_retention_months_are_30_day_windows_from_birth(client, emu, con, unbounded, counts):
    """"Advanced Retention Functionality" (help.mixpanel.com): rolling retention measures from each user's
    birth, "Month 1 retention = 30-60 days since person's birth"; "On or After" counts a user who comes back
    in that unit "or any time unit afterward". Returns on days 29, 30, 59 and 61: months 0, 1, 1, 2."""
    body = query(client, emu, "/api/query/retention", born_event="Sign Up", event="Purchase",
                 from_date="2024-01-01", to_date="2024-01-31", unit="month", interval_count=2,
                 unbounded_retention=str(unbounded).lower())
    assert body == {"2024-01-01": {"counts": counts, "first": 4}}
    local = con.execute("SELECT count FROM mp_local_retention('events', 'Sign Up', '2024-01-01', '2024-01-31', "
                        f"returning_event := 'Purchase', unit := 'month', interval_count := 2, "
                        f"unbounded := {str(unbounded).lower()}, today := DATE '{emu.today}') ORDER BY period")
    assert [n for (n,) in local.fetchall()] == counts


def test_mpsql_emulator_serves_a_given_export_file(tmp_path):
    """``mpsql emulator --events FILE``: the file is the project, replayed offline."""
    path = tmp_path / "export.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in CASES[:4]), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "mpsql", "emulator", "--events", str(path), "--port", "0",
                             "--no-rate-limits"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        env = dict(proc.stdout.readline().strip().removeprefix("export ").split("=", 1) for _ in range(4))
        r = httpx.get(env["MP_API_URL"] + "/api/2.0/export", auth=(env["MP_USERNAME"], env["MP_SECRET"]),
                      params={"project_id": env["MP_PROJECT_ID"], "from_date": "2024-02-05", "to_date": "2024-02-05"})
        assert [json.loads(line) for line in r.text.splitlines()] == CASES[:4]
        after = httpx.get(env["MP_API_URL"] + "/api/2.0/export", auth=(env["MP_USERNAME"], env["MP_SECRET"]),
                          params={"project_id": env["MP_PROJECT_ID"], "from_date": "2024-02-07",
                                  "to_date": "2024-02-07"})
        assert after.status_code == 400  # today is 2024-02-06, the day after the file's last event
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_file_that_is_not_an_export_is_refused_naming_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(CASES[0]) + "\n" + '{"event": "x"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.jsonl:2: not an export record"):
        Emulator(events=path)
