"""Retention (docs/mixpanel-api.md, "Retention and frequency"): birth and compounded cohorts, bucket edges,
truncation, unbounded, segments, errors."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import httpx
import pytest
from report_helpers import assert_error, day, deduped, get

from mpsql.emulator import Emulator
from mpsql.emulator.analytics import Step, retention
from mpsql.emulator.eventstore import Event
from mpsql.emulator.where import compile_where

RETENTION = "/api/query/retention"
F, T = dt.date(2024, 3, 22), dt.date(2024, 3, 31)
D0 = 1_711_065_600  # 2024-03-22T00:00:00Z
H, DAY = 3600, 86_400
FAR = dt.date(2024, 12, 31)  # a "today" far enough away that nothing is truncated


def ev(name: str, uid: str, t: int, **props: object) -> Event:
    return Event(name, uid, t, {"time": t, "distinct_id": uid, **props})


def birth(events: list[Event], **kw: object) -> dict:
    args: dict = {"from_date": F, "to_date": T, "today": FAR, "born": Step("S"), "returning": Step(None)}
    args.update(kw)
    return retention(events, **args)


# ---------------------------------------------------------------- semantics on hand-made events


def test_birth_uses_the_first_ever_born_event() -> None:
    events = [ev("S", "old", D0 - 5 * DAY), ev("S", "old", D0 + H), ev("X", "old", D0 + 2 * H),
              ev("S", "new", D0 + H), ev("X", "new", D0 + 2 * H)]
    assert birth(events) == {"2024-03-22": {"counts": [1, 0], "first": 1}}


def test_buckets_are_measured_from_the_birth_time() -> None:
    born = D0 + 23 * H
    events = [ev("S", "u1", born), ev("X", "u1", born + DAY - 1),  # bucket 0: within the first 24 h
              ev("S", "u2", born), ev("X", "u2", born + DAY),  # bucket 1 starts exactly 24 h later
              ev("S", "u3", born), ev("X", "u3", born + 3 * DAY)]  # bucket 3
    body = birth(events, interval_count=3)
    assert body == {"2024-03-22": {"counts": [1, 1, 0, 1], "first": 3}}


def test_the_birth_event_itself_is_not_a_return() -> None:
    events = [ev("S", "u1", D0), ev("S", "u2", D0), ev("S", "u2", D0 + 10)]
    assert birth(events, returning=Step("S")) == {"2024-03-22": {"counts": [1, 0], "first": 2}}


def test_interval_days_and_count() -> None:
    events = [ev("S", "u1", D0), ev("X", "u1", D0 + 8 * DAY), ev("S", "u2", D0), ev("X", "u2", D0 + 6 * DAY)]
    body = birth(events, interval=7, interval_count=2)
    assert body == {"2024-03-22": {"counts": [1, 1, 0], "first": 2}}


def test_counts_stop_at_buckets_not_begun_by_today() -> None:
    events = [ev("S", "u1", D0 + DAY), ev("X", "u1", D0 + DAY + 5)]
    body = birth(events, today=dt.date(2024, 3, 25), interval_count=10)
    assert body == {"2024-03-23": {"counts": [1, 0, 0], "first": 1}}  # buckets 03-23, 03-24, 03-25


def test_on_or_after_counts_returns_past_the_last_bucket() -> None:
    events = [ev("S", "u1", D0), ev("X", "u1", D0 + 5 * DAY), ev("S", "u2", D0), ev("X", "u2", D0 + H)]
    assert birth(events, interval_count=2)["2024-03-22"]["counts"] == [1, 0, 0]
    assert birth(events, interval_count=2, unbounded=True)["2024-03-22"]["counts"] == [2, 1, 1]


def test_unbounded_counts_a_user_in_every_bucket_up_to_their_last_return() -> None:
    events = [ev("S", "u1", D0), ev("X", "u1", D0 + 3 * DAY), ev("S", "u2", D0), ev("X", "u2", D0 + DAY)]
    assert birth(events, interval_count=3)["2024-03-22"]["counts"] == [0, 1, 0, 1]
    assert birth(events, interval_count=3, unbounded=True)["2024-03-22"]["counts"] == [2, 2, 1, 1]


def test_born_where_and_where_filter_their_events() -> None:
    events = [ev("S", "u1", D0, ok=False), ev("S", "u1", D0 + H, ok=True), ev("X", "u1", D0 + 2 * H, ok=True),
              ev("S", "u2", D0, ok=True), ev("X", "u2", D0 + 2 * H, ok=False)]
    ok = compile_where('properties["ok"] == true')
    body = birth(events, born=Step("S", ok), returning=Step(None, ok))
    # u1's first born event that passes born_where is the second one; its own S does not return
    assert body == {"2024-03-22": {"counts": [1, 0], "first": 2}}


def test_compounded_cohorts_every_day_the_event_happens() -> None:
    events = [ev("P", "u1", D0), ev("P", "u1", D0 + 5), ev("P", "u1", D0 + DAY + 5),
              ev("P", "u2", D0 + DAY), ev("P", "u2", D0 + DAY + 7)]
    body = retention(events, from_date=F, to_date=T, today=FAR, born=None, returning=Step("P"),
                     retention_type="compounded", interval_count=1)
    assert body == {"2024-03-22": {"counts": [1, 1], "first": 1}, "2024-03-23": {"counts": [1, 0], "first": 2}}


def test_week_and_month_units() -> None:
    events = [ev("S", "u1", D0), ev("X", "u1", D0 + 8 * DAY), ev("S", "u2", D0 + 2 * DAY)]  # Fri, Sun
    weekly = birth(events, unit="week", interval_count=1)
    assert weekly == {"2024-03-18": {"counts": [0, 1], "first": 2}}  # cohorts are weeks (from Monday)
    jan31 = 1_706_659_200  # 2024-01-31T00:00:00Z
    # Month 1 is days 30-60 after the birth: a return on day 29 (Feb 29, a calendar month later) is month 0
    events = [ev("S", "u1", jan31), ev("X", "u1", jan31 + 29 * DAY),
              ev("S", "u2", jan31), ev("X", "u2", jan31 + 30 * DAY),  # the first second of month 1
              ev("S", "u3", jan31), ev("X", "u3", jan31 + 60 * DAY - 1)]  # the last second of month 1
    monthly = birth(events, from_date=dt.date(2024, 1, 1), to_date=dt.date(2024, 1, 31), unit="month",
                    interval_count=1)
    assert monthly == {"2024-01-01": {"counts": [1, 2], "first": 3}}


def test_on_segments_the_returning_event() -> None:
    events = [ev("S", "u1", D0), ev("X", "u1", D0 + H, os="ios"), ev("X", "u1", D0 + DAY + H, os="web"),
              ev("S", "u2", D0), ev("X", "u2", D0 + H, os="ios")]
    body = birth(events, on=compile_where('properties["os"]'))
    assert body == {"2024-03-22": {"$overall": {"counts": [2, 1], "first": 2},
                                   "ios": {"counts": [2, 0], "first": 2},
                                   "web": {"counts": [0, 1], "first": 2}}}


# ---------------------------------------------------------------- over HTTP against the export


def expected_birth(emu: Emulator, born_event: str, interval_count: int) -> dict[str, dict]:
    """Cohort day -> counts/first, restating the rule over the whole export (births are first-ever)."""
    per_user: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for r in deduped(emu, emu.dataset.first_date, emu.dataset.last_date):
        per_user[r["properties"]["distinct_id"]].append((r["properties"]["time"], r["event"]))
    firsts: dict[str, int] = defaultdict(int)
    returned: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for evs in per_user.values():
        evs.sort(key=lambda e: e[0])
        at = next((i for i, e in enumerate(evs) if e[1] == born_event), None)
        if at is None or not F.isoformat() <= day(evs[at][0]) <= T.isoformat():
            continue
        cohort, t0 = day(evs[at][0]), evs[at][0]
        firsts[cohort] += 1
        for b in {(t - t0) // DAY for i, (t, _) in enumerate(evs) if i != at and t >= t0}:
            returned[cohort][b] += 1
    out = {}
    for d, n in firsts.items():
        length = min(interval_count + 1, (emu.today - dt.date.fromisoformat(d)).days + 1)
        out[d] = {"counts": [returned[d][b] for b in range(length)], "first": n}
    return out


def test_birth_retention_matches_the_export(emu: Emulator, client: httpx.Client) -> None:
    r = get(client, emu, RETENTION, born_event="Sign Up", from_date=F.isoformat(), to_date=T.isoformat(),
            interval_count=3)
    assert r.status_code == 200
    body = r.json()
    assert body == expected_birth(emu, "Sign Up", 3)
    assert len(body) == 10 and all(len(v["counts"]) <= 4 for v in body.values())
    assert len(body["2024-03-31"]["counts"]) == 2  # 03-31 and today (04-01) have begun; 04-02 has not


def test_compounded_retention_matches_the_export(emu: Emulator, client: httpx.Client) -> None:
    r = get(client, emu, RETENTION, retention_type="compounded", event="Login", from_date=F.isoformat(),
            to_date=T.isoformat(), interval=2, interval_count=2)
    body = r.json()
    per_user: dict[str, list[int]] = defaultdict(list)
    for rec in deduped(emu, F, T):
        if rec["event"] == "Login":
            per_user[rec["properties"]["distinct_id"]].append(rec["properties"]["time"])
    expected: dict[str, dict] = {}
    for times in per_user.values():
        times.sort()
        anchors: dict[str, int] = {}
        for i, t in enumerate(times):
            anchors.setdefault(day(t), i)  # the first Login of each day starts a cohort membership
        for d, i in anchors.items():
            c = expected.setdefault(d, {"first": 0, "hit": [0, 0, 0]})
            c["first"] += 1
            for b in {(times[j] - times[i]) // (2 * DAY) for j in range(i + 1, len(times))}:
                if b <= 2:
                    c["hit"][b] += 1
    for d, c in expected.items():
        n = min(3, (emu.today - dt.date.fromisoformat(d)).days // 2 + 1)
        assert body[d] == {"counts": c["hit"][:n], "first": c["first"]}
    assert set(body) == set(expected)


@pytest.mark.parametrize(("params", "text"), [
    ({"born_event": "Sign Up", "to_date": "2024-03-31"}, "'from_date' is a required parameter"),
    ({"from_date": "2024-03-22", "to_date": "2024-03-31"}, "born_event is required"),
    ({"born_event": "Sign Up", "from_date": "2024-03-22", "to_date": "2024-04-02"}, "to_date cannot be later"),
    ({"born_event": "Sign Up", "from_date": "2024-03-22", "to_date": "2024-03-31", "retention_type": "first"},
     "Error in retention_type"),
    ({"born_event": "Sign Up", "from_date": "2024-03-22", "to_date": "2024-03-31", "unit": "day", "interval": "1"},
     "not both"),
    ({"born_event": "Sign Up", "from_date": "2024-03-22", "to_date": "2024-03-31", "interval": "91"},
     "greater than 90 days"),
    ({"born_event": "Sign Up", "from_date": "2024-03-22", "to_date": "2024-03-31", "interval": "0"},
     "Error in interval"),
    ({"born_event": "Sign Up", "from_date": "2024-03-22", "to_date": "2024-03-31", "interval_count": "-1"},
     "Error in interval_count"),
    ({"born_event": "Sign Up", "from_date": "2024-03-22", "to_date": "2024-03-31", "unit": "hour"},
     "Error in unit"),
    ({"born_event": "Sign Up", "from_date": "2024-03-22", "to_date": "2024-03-31", "unbounded_retention": "yes"},
     "Error in unbounded_retention"),
    ({"born_event": "Sign Up", "from_date": "2024-03-22", "to_date": "2024-03-31", "born_where": "(("},
     "Error in born_where"),
])
def test_bad_retention_requests(emu: Emulator, client: httpx.Client, params: dict, text: str) -> None:
    assert_error(get(client, emu, RETENTION, **params), 400, text, RETENTION)


def test_ninety_day_interval_and_compounded_without_born_event_are_fine(emu: Emulator, client: httpx.Client) -> None:
    r = get(client, emu, RETENTION, born_event="Sign Up", from_date=F.isoformat(), to_date=T.isoformat(), interval=90)
    assert r.status_code == 200 and all(v["counts"] == [v["counts"][0]] for v in r.json().values())
    r = get(client, emu, RETENTION, retention_type="compounded", from_date=T.isoformat(), to_date=T.isoformat(),
            unbounded_retention="true", unit="week")
    assert r.status_code == 200 and list(r.json()) == ["2024-03-25"]
