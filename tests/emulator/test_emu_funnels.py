"""Funnels (docs/mixpanel-api.md, "Funnels"): step order, conversion window, cohorts, ratios, segments, saved
funnels, errors."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import httpx
import pytest
from report_helpers import assert_error, day, days, deduped, get

from mpsql.emulator import Emulator
from mpsql.emulator.analytics import Buckets, Step, funnel
from mpsql.emulator.eventstore import Event
from mpsql.emulator.where import compile_where

FUNNELS = "/api/query/funnels"
F, T = dt.date(2024, 3, 22), dt.date(2024, 3, 31)
D0 = 1_711_065_600  # 2024-03-22T00:00:00Z
H = 3600


def ev(name: str, uid: str, t: int, **props: object) -> Event:
    return Event(name, uid, t, {"time": t, "distinct_id": uid, **props})


ABC = (Step("A"), Step("B"), Step("C"))
TWO_DAYS = Buckets(F, F + dt.timedelta(days=1))


def counts(body: dict, date: str = "2024-03-22") -> list[int]:
    return [s["count"] for s in body["data"][date]["steps"]]


# ---------------------------------------------------------------- semantics on hand-made events


def test_steps_must_happen_in_order() -> None:
    events = [ev("A", "u1", D0 + 10), ev("C", "u1", D0 + 20), ev("B", "u1", D0 + 30),  # C before B: stops at B
              ev("A", "u2", D0 + 10), ev("B", "u2", D0 + 20), ev("C", "u2", D0 + 30),
              ev("B", "u3", D0 + 5), ev("C", "u3", D0 + 6)]  # never entered
    body = funnel(events, ABC, TWO_DAYS, window_s=86_400)
    assert counts(body) == [2, 2, 1]
    assert counts(body, "2024-03-23") == [0, 0, 0]


def test_window_starts_at_the_first_step() -> None:
    events = [ev("A", "u1", D0), ev("B", "u1", D0 + 2 * H), ev("C", "u1", D0 + 3 * H + 1),  # C 1 s too late
              ev("A", "u2", D0), ev("B", "u2", D0 + 2 * H), ev("C", "u2", D0 + 3 * H)]  # exactly at the edge
    assert counts(funnel(events, ABC, TWO_DAYS, window_s=3 * H)) == [2, 2, 1]


def test_completions_after_the_cohort_day_count_for_the_entry_day() -> None:
    events = [ev("A", "u1", D0 + 23 * H), ev("B", "u1", D0 + 26 * H), ev("C", "u1", D0 + 50 * H)]
    body = funnel(events, ABC, Buckets(F, F), window_s=2 * 86_400)
    assert body["meta"]["dates"] == ["2024-03-22"]
    assert counts(body) == [1, 1, 1]


REENTERING = [ev("A", "u1", D0), ev("A", "u1", D0 + H), ev("B", "u1", D0 + 3 * H), ev("C", "u1", D0 + 4 * H),
              ev("A", "u1", D0 + 86_400 + 10)]


def test_by_default_a_user_enters_once_at_their_first_step_one_in_the_range() -> None:
    body = funnel(REENTERING, ABC, TWO_DAYS, window_s=int(3.5 * H))
    # the first A's 3.5 h window ends before C; neither the second A nor the next day's A starts another entry
    assert counts(body) == [1, 1, 0]
    assert [s["avg_time"] for s in body["data"]["2024-03-22"]["steps"]] == [None, 3 * H, 0]
    assert counts(body, "2024-03-23") == [0, 0, 0]  # counted once over the range, so the days add up


def test_optimized_reentry_counts_the_entry_that_got_furthest() -> None:
    body = funnel(REENTERING, ABC, TWO_DAYS, window_s=int(3.5 * H), reentry="optimized")
    assert counts(body) == [1, 1, 1]  # the second A (1:00) reaches C 3 h later, inside its window
    steps = body["data"]["2024-03-22"]["steps"]
    assert [s["avg_time"] for s in steps] == [None, 2 * H, H]
    assert [s["avg_time_from_start"] for s in steps] == [None, 2 * H, 3 * H]
    assert counts(body, "2024-03-23") == [0, 0, 0]


def test_ratios_averages_and_analysis() -> None:
    events = []
    for i in range(4):  # four users enter; three reach B after 60 s * (i+1); one reaches C
        uid = f"u{i}"
        events.append(ev("A", uid, D0 + 100))
        if i < 3:
            events.append(ev("B", uid, D0 + 100 + 60 * (i + 1)))
        if i == 0:
            events.append(ev("C", uid, D0 + 100 + 60 + 30))
    body = funnel(events, (Step("A"), Step("B", label="Bee"), Step("C")), Buckets(F, F), window_s=86_400)
    steps = body["data"]["2024-03-22"]["steps"]
    assert [s["count"] for s in steps] == [4, 3, 1]
    assert [s["step_conv_ratio"] for s in steps] == [1, 0.75, pytest.approx(1 / 3)]
    assert [s["overall_conv_ratio"] for s in steps] == [1, 0.75, 0.25]
    assert steps[1]["avg_time"] == 120 and steps[2]["avg_time"] == 30 and steps[2]["avg_time_from_start"] == 90
    assert [(s["goal"], s["event"], s["step_label"]) for s in steps] == [("A", "A", "A"), ("B", "B", "Bee"),
                                                                        ("C", "C", "C")]
    assert body["data"]["2024-03-22"]["analysis"] == {"completion": 1, "starting_amount": 4, "steps": 3,
                                                      "worst": 2}


def test_where_filters_every_step_and_step_filters_apply_to_their_step() -> None:
    events = [ev("A", "u1", D0, ok=True), ev("B", "u1", D0 + 1, ok=False), ev("B", "u1", D0 + 2, ok=True),
              ev("A", "u2", D0, ok=False), ev("B", "u2", D0 + 1, ok=True)]
    body = funnel(events, ABC[:2], Buckets(F, F), window_s=60, where=compile_where('properties["ok"] == true'))
    assert counts(body) == [1, 1]
    only_true_b = (Step("A"), Step("B", compile_where('properties["ok"] == true')))
    assert counts(funnel(events, only_true_b, Buckets(F, F), window_s=60)) == [2, 2]


def test_segments_by_the_entry_event_with_overall_and_limit() -> None:
    events = [ev("A", "u1", D0, os="ios"), ev("B", "u1", D0 + 1, os="android"),
              ev("A", "u2", D0, os="ios"), ev("A", "u3", D0, os="web"), ev("B", "u3", D0 + 1)]
    body = funnel(events, ABC[:2], Buckets(F, F), window_s=60, on=compile_where('properties["os"]'))
    date = body["data"]["2024-03-22"]
    assert list(date) == ["$overall", "ios", "web"]
    assert [[s["count"] for s in date[k]] for k in date] == [[3, 2], [2, 1], [1, 1]]
    limited = funnel(events, ABC[:2], Buckets(F, F), window_s=60, on=compile_where('properties["os"]'), limit=1)
    assert list(limited["data"]["2024-03-22"]) == ["$overall", "ios"]


# ---------------------------------------------------------------- saved funnels over HTTP


def expected_funnel(emu: Emulator, steps: list[str], window_s: int, from_date: dt.date, to_date: dt.date,
                    ) -> dict[str, list[list[int]]]:
    """cohort day -> step times (ms) of each entering user's one entry (a plain re-statement of the documented
    rule, in milliseconds as /export serves them with time_in_ms)."""
    scan_to = to_date + dt.timedelta(days=-(-window_s // 86_400))
    per_user: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for r in deduped(emu, from_date, min(scan_to, emu.dataset.last_date), ms=True):
        if r["event"] in steps:
            per_user[r["properties"]["distinct_id"]].append((r["properties"]["time"], r["event"]))
    out: dict[str, list[list[int]]] = defaultdict(list)
    for evs in per_user.values():
        evs.sort(key=lambda e: e[0])
        entry = next((i for i, (t0, name) in enumerate(evs)
                      if name == steps[0] and from_date.isoformat() <= day(t0 // 1000) <= to_date.isoformat()), None)
        if entry is None:
            continue  # the user's one entry is their first step-1 event in the range
        t0 = evs[entry][0]
        times, at = [t0], entry
        for step in steps[1:]:
            nxt = next((j for j in range(at + 1, len(evs)) if evs[j][1] == step), None)
            if nxt is None or evs[nxt][0] - t0 > window_s * 1000:
                break
            times.append(evs[nxt][0])
            at = nxt
        best = {day(t0 // 1000): times}
        for d, times in best.items():
            out[d].append(times)
    return out


def test_saved_purchase_funnel_matches_the_export(emu: Emulator, client: httpx.Client) -> None:
    r = get(client, emu, FUNNELS, funnel_id=7001, from_date=F.isoformat(), to_date=T.isoformat())
    assert r.status_code == 200
    body = r.json()
    assert body["meta"] == {"dates": days(F, T)}
    steps = ["View Item", "Add to Cart", "Checkout", "Purchase"]
    expected = expected_funnel(emu, steps, 86_400, F, T)
    for d in days(F, T):
        got = body["data"][d]["steps"]
        attempts = expected[d]
        want = [sum(1 for a in attempts if len(a) > k) for k in range(4)]
        assert [s["count"] for s in got] == want
        assert [s["event"] for s in got] == steps
        for k in range(1, 4):
            reached = [a for a in attempts if len(a) > k]
            assert got[k]["avg_time_from_start"] == (round(sum(a[k] - a[0] for a in reached) / len(reached) / 1000)
                                                     if reached else 0)
            assert got[k]["overall_conv_ratio"] == pytest.approx(want[k] / want[0] if want[0] else 0)
        assert body["data"][d]["analysis"]["completion"] == want[-1]
    assert sum(len(v) for v in expected.values()) > 50


def test_length_and_weekly_cohorts_override_the_saved_funnel(emu: Emulator, client: httpx.Client) -> None:
    r = get(client, emu, FUNNELS, funnel_id=7002, from_date=F.isoformat(), to_date=T.isoformat(), length=3,
            length_unit="hour", unit="week")
    body = r.json()
    assert body["meta"]["dates"] == ["2024-03-18", "2024-03-25"]
    expected = expected_funnel(emu, ["Sign Up", "Purchase"], 3 * H, F, T)
    for week, lo, hi in (("2024-03-18", F, dt.date(2024, 3, 24)), ("2024-03-25", dt.date(2024, 3, 25), T)):
        attempts = [a for d in days(lo, hi) for a in expected[d]]  # sign-ups happen once per user
        assert [s["count"] for s in body["data"][week]["steps"]] == [len(attempts),
                                                                    sum(1 for a in attempts if len(a) == 2)]


def test_on_segments_sum_to_overall(emu: Emulator, client: httpx.Client) -> None:
    plain = get(client, emu, FUNNELS, funnel_id=7001, from_date=F.isoformat(), to_date=T.isoformat()).json()
    body = get(client, emu, FUNNELS, funnel_id=7001, from_date=F.isoformat(), to_date=T.isoformat(),
               on='properties["$os"]').json()
    for d in days(F, T):
        date = body["data"][d]
        assert date["$overall"] == plain["data"][d]["steps"]
        # each user has one $os, so the segments partition the overall counts
        for k in range(4):
            assert sum(date[s][k]["count"] for s in date if s != "$overall") == date["$overall"][k]["count"]
    limited = get(client, emu, FUNNELS, funnel_id=7001, from_date=F.isoformat(), to_date=T.isoformat(),
                  on='properties["$os"]', limit=2).json()
    assert all(len(limited["data"][d]) == 3 for d in days(F, T))


def test_funnels_list(emu: Emulator, client: httpx.Client) -> None:
    r = get(client, emu, "/api/query/funnels/list")
    assert r.json() == [{"funnel_id": 7001, "name": "Purchase funnel"},
                        {"funnel_id": 7002, "name": "Sign up to purchase"},
                        {"funnel_id": 7003, "name": "Search to big purchase"},
                        {"funnel_id": 7004, "name": "Visit to sign up"}]
    for item in r.json():
        got = get(client, emu, FUNNELS, funnel_id=item["funnel_id"], from_date=T.isoformat(), to_date=T.isoformat())
        assert got.status_code == 200


def test_step_filter_of_a_saved_funnel(emu: Emulator, client: httpx.Client) -> None:
    body = get(client, emu, FUNNELS, funnel_id=7003, from_date=F.isoformat(), to_date=T.isoformat(),
               interval=10).json()
    assert body["meta"]["dates"] == ["2024-03-22"]
    last = body["data"]["2024-03-22"]["steps"][-1]
    assert (last["event"], last["step_label"]) == ("Purchase", "Purchase over 100")


@pytest.mark.parametrize(("params", "status", "text"), [
    ({"from_date": "2024-03-22", "to_date": "2024-03-31"}, 400, "'funnel_id' is a required parameter"),
    ({"funnel_id": "abc", "from_date": "2024-03-22", "to_date": "2024-03-31"}, 400, "Error in funnel_id"),
    ({"funnel_id": "999", "from_date": "2024-03-22", "to_date": "2024-03-31"}, 404, "Funnel 999 not found"),
    ({"funnel_id": "7001", "to_date": "2024-03-31"}, 400, "'from_date' is a required parameter"),
    ({"funnel_id": "7001", "from_date": "2024-03-22", "to_date": "2024-04-05"}, 400, "to_date cannot be later"),
    ({"funnel_id": "7001", "from_date": "2024-03-22", "to_date": "2024-03-31", "length": "91"}, 400,
     "greater than 90 days"),
    ({"funnel_id": "7001", "from_date": "2024-03-22", "to_date": "2024-03-31", "length": "2161",
      "length_unit": "hour"}, 400, "greater than 90 days"),
    ({"funnel_id": "7001", "from_date": "2024-03-22", "to_date": "2024-03-31", "length": "0"}, 400,
     "Error in length"),
    ({"funnel_id": "7001", "from_date": "2024-03-22", "to_date": "2024-03-31", "length_unit": "week"}, 400,
     "Error in length_unit"),
    ({"funnel_id": "7001", "from_date": "2024-03-22", "to_date": "2024-03-31", "unit": "week", "interval": "7"},
     400, "not both"),
    ({"funnel_id": "7001", "from_date": "2024-03-22", "to_date": "2024-03-31", "unit": "hour"}, 400,
     "Error in unit"),
    ({"funnel_id": "7001", "from_date": "2024-03-22", "to_date": "2024-03-31", "on": "properties["}, 400,
     "Error in on"),
    ({"funnel_id": "7001", "from_date": "2024-03-22", "to_date": "2024-03-31", "limit": "10001"}, 400,
     "Error in limit"),
])
def test_bad_funnel_requests(emu: Emulator, client: httpx.Client, params: dict, status: int, text: str) -> None:
    assert_error(get(client, emu, FUNNELS, **params), status, text, FUNNELS)


def test_ninety_day_window_is_allowed(emu: Emulator, client: httpx.Client) -> None:
    r = get(client, emu, FUNNELS, funnel_id=7002, from_date=T.isoformat(), to_date=T.isoformat(), length=90)
    assert r.status_code == 200
