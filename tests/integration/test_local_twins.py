"""The local twins in sql/twins.sql equal the live reports (the emulator's computation) row for row."""

from __future__ import annotations

import datetime as dt

import pytest

import mpsql
from mpsql.api.ratelimit import RateLimits
from mpsql.config import Account, Secret
from mpsql.connection import context_of
from mpsql.emulator.saved_reports import FUNNELS
from tests.conftest import FAST_RETRY, TODAY

FROM, TO = "2024-03-06", "2024-03-12"  # Wednesday to Tuesday: two partial weeks, data on either side


@pytest.fixture(scope="module")
def events(emulator_session):
    """The whole project exported once into a table (birth retention needs every user's first event)."""
    creds = emulator_session.credentials
    account = Account("twins", creds.username, Secret(creds.secret), creds.project_id, "us", emulator_session.url)
    con = mpsql.connect(account=account, rate_limits=RateLimits.unlimited(), retry=FAST_RETRY)
    context_of(con).today = lambda: TODAY
    first = emulator_session.dataset.first_date
    con.execute(f"CREATE TABLE events AS SELECT * FROM mp_export('{first}', '{TODAY - dt.timedelta(days=1)}')")
    yield con
    con.close()


def rows(con, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def close(a: list[tuple], b: list[tuple]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        for u, v in zip(x, y, strict=True):
            if isinstance(u, float) and isinstance(v, float):
                if abs(u - v) > 1e-9 * max(1.0, abs(u)):
                    return False
            elif u != v:
                return False
    return True


@pytest.mark.parametrize("kind", ["general", "unique", "average"])
@pytest.mark.parametrize("unit", ["day", "week"])
def test_segmentation_by_a_property_equals_the_live_report(events, kind, unit):
    live = rows(events, f"SELECT * FROM mp_segmentation('Page View', '{FROM}', '{TO}', "
                        f"by := 'properties[\"$browser\"]', type := '{kind}', unit := '{unit}') ORDER BY date, segment")
    local = rows(events, f"SELECT * FROM mp_local_segmentation('events', 'Page View', '{FROM}', '{TO}', "
                         f"by := '$browser', type := '{kind}', unit := '{unit}') ORDER BY date, segment")
    assert len(live) >= 6 and close(live, local)


def test_segmentation_by_a_list_and_a_sparse_property_with_top(events):
    for by, top in (("tags", 60), ("rating", 3), ("referrer", 60)):
        live = rows(events, f"SELECT * FROM mp_segmentation('View Item', '{FROM}', '{TO}', "
                            f"by := 'properties[\"{by}\"]', top := {top}) ORDER BY date, segment")
        local = rows(events, f"SELECT * FROM mp_local_segmentation('events', 'View Item', '{FROM}', '{TO}', "
                             f"by := '{by}', top := {top}) ORDER BY date, segment")
        assert live and close(live, local), by


def test_unsegmented_segmentation_equals_the_live_report(events):
    live = rows(events, f"SELECT * FROM mp_segmentation('Purchase', '{FROM}', '{TO}') ORDER BY date")
    local = rows(events, f"SELECT * FROM mp_local_segmentation('events', 'Purchase', '{FROM}', '{TO}') ORDER BY date")
    assert len(live) == 7 and close(live, local)


@pytest.mark.parametrize("funnel_id", [7001, 7002])
def test_funnel_equals_the_live_report(events, funnel_id):
    saved = FUNNELS[funnel_id]
    steps = [s.event for s in saved.steps]
    window = saved.length * {"day": 86400, "hour": 3600}[saved.length_unit]
    live = rows(events, f"SELECT * FROM mp_funnel({funnel_id}, '{FROM}', '{TO}') ORDER BY date, step")
    local = rows(events, f"SELECT * FROM mp_local_funnel('events', {steps}, '{FROM}', '{TO}', "
                         f"window_seconds := {window}) ORDER BY date, step")
    assert len(live) == 7 * len(steps) and close(live, local)


@pytest.mark.parametrize(("unit", "interval", "count"),
                         [("day", 1, 7), ("day", 3, 4), ("week", 1, 3), ("month", 1, 2)])
def test_birth_retention_equals_the_live_report(events, unit, interval, count):
    spec = f"unit := '{unit}', interval_count := {count}" + (f", interval := {interval}" if interval != 1 else "")
    if unit == "day" and interval != 1:
        spec = f"interval := {interval}, interval_count := {count}"
    live = rows(events, f"SELECT * FROM mp_retention('Sign Up', '{FROM}', '2024-03-25', event := 'Purchase', "
                        f"{spec}) ORDER BY cohort_date, period")
    local = rows(events, f"SELECT * FROM mp_local_retention('events', 'Sign Up', '{FROM}', '2024-03-25', "
                         f"returning_event := 'Purchase', unit := '{unit}', \"interval\" := {interval}, "
                         f"interval_count := {count}, today := DATE '{TODAY}') ORDER BY cohort_date, period")
    assert live and close(live, local)


def test_overall_funnel_is_the_range_as_one_bucket_live_and_local(events):
    live = rows(events, f"SELECT * FROM mp_funnel(7001, '{FROM}', '{TO}', overall := true) ORDER BY step")
    local = rows(events, f"SELECT * FROM mp_local_funnel('events', ['View Item', 'Add to Cart', 'Checkout', "
                         f"'Purchase'], '{FROM}', '{TO}', window_seconds := 86400, overall := true) ORDER BY step")
    assert [r[0] for r in live] == [dt.date.fromisoformat(FROM)] * 4 and close(live, local)
    # a user counts once over the range, under the day of their entry: the days add up to the overall counts
    days = rows(events, f"SELECT step, sum(count) FROM mp_funnel(7001, '{FROM}', '{TO}') GROUP BY step ORDER BY step")
    assert [n for _, n in days] == [r[4] for r in live]


def test_identities_map_anonymous_device_ids_to_the_user_who_signed_up(events):
    mapping = dict(rows(events, "SELECT distinct_id, user_id FROM mp_identities('events')"))
    anonymous = {d: u for d, u in mapping.items() if d.startswith("$device:")}
    assert len(anonymous) > 100 and all(u.startswith("u_") for u in anonymous.values())
    assert all(mapping[u] == u for u in set(anonymous.values()) if u in mapping)  # users map to themselves
    # the device id inside the anonymous id is the device the user signed up on
    signed = dict(rows(events, """SELECT properties ->> '$."$device_id"', distinct_id FROM events
                                  WHERE event = 'Sign Up'"""))
    assert all(signed.get(d.removeprefix("$device:"), u) == u for d, u in anonymous.items())


def test_a_page_view_to_sign_up_funnel_converts_anonymous_visitors_live_and_local(events):
    """Visitors browse anonymously ($device:... ids) before Sign Up; merged, they convert (docs/report-semantics.md,
    "Identity")."""
    live = rows(events, f"SELECT * FROM mp_funnel(7004, '{FROM}', '{TO}', overall := true) ORDER BY step")
    local = rows(events, f"SELECT * FROM mp_local_funnel('events', ['Page View', 'Sign Up'], '{FROM}', '{TO}', "
                         f"window_seconds := 86400, overall := true) ORDER BY step")
    unmerged = rows(events, f"SELECT * FROM mp_local_funnel('events', ['Page View', 'Sign Up'], '{FROM}', '{TO}', "
                            f"window_seconds := 86400, overall := true, merge_ids := false) ORDER BY step")
    signups = rows(events, f"""SELECT count(*) FROM events WHERE event = 'Sign Up'
                               AND CAST(time AS DATE) BETWEEN '{FROM}' AND '{TO}'""")[0][0]
    assert close(live, local)
    assert unmerged[1][4] == 0  # by raw distinct_id no visitor ever signs up
    assert live[1][4] > 0.9 * signups  # merged, (nearly) every sign-up of the week converts


def test_unbounded_retention_equals_the_live_report_and_never_increases(events):
    live = rows(events, f"SELECT * FROM mp_retention('Sign Up', '{FROM}', '2024-03-25', event := 'Purchase', "
                        f"interval_count := 7, unbounded := true) ORDER BY cohort_date, period")
    local = rows(events, f"SELECT * FROM mp_local_retention('events', 'Sign Up', '{FROM}', '2024-03-25', "
                         f"returning_event := 'Purchase', interval_count := 7, unbounded := true, "
                         f"today := DATE '{TODAY}') ORDER BY cohort_date, period")
    assert live and close(live, local)
    for cohort in {r[0] for r in live}:
        counts = [r[4] for r in live if r[0] == cohort]
        assert counts == sorted(counts, reverse=True)


def test_an_unknown_reentry_mode_is_refused_naming_it(events):
    with pytest.raises(Exception, match="reentry must be default or optimized, not sometimes"):
        rows(events, f"SELECT * FROM mp_local_funnel('events', ['Page View', 'Sign Up'], '{FROM}', '{TO}', "
                     "reentry := 'sometimes')")
