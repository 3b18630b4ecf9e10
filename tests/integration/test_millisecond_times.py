"""Millisecond times (docs/mixpanel-api.md, "Export": ``time_in_ms``): mp_export asks for them, so they survive
export, the local store and deduplication, and two events in one second keep their order.

A hand-made project served from a JSONL file (``Emulator(events=...)``) over loopback HTTP:

- user ``a`` signs up at .200 and buys at .700 of the same second; user ``b`` buys at .100 and signs up at .900.
  Their insert ids sort the other way round, so whole seconds (ties broken by insert id or served order)
  would get both users wrong;
- three sends of one ``Page View`` (one ``$insert_id``): two at the same millisecond (one event: the later
  processed copy wins) and one 500 ms later in the same second (another event).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

import mpsql
from mpsql.api.ratelimit import RateLimits
from mpsql.connection import context_of
from mpsql.emulator import Emulator, ServerLimits
from tests.conftest import FAST_RETRY

DAY = "2024-03-05"
SECOND = int(dt.datetime(2024, 3, 5, 10, 0, 0, tzinfo=dt.UTC).timestamp()) * 1000  # ms
NEXT_SECOND = SECOND + 60_000


def event(name: str, uid: str, ms: int, insert_id: str, processed: int, **extra: object) -> dict:
    return {"event": name, "properties": {"time": ms, "distinct_id": uid, "$insert_id": insert_id,
                                          "mp_processing_time_ms": processed, **extra}}


EVENTS = [
    event("Sign Up", "a", SECOND + 200, "zz-a-signup", SECOND + 5_000),
    event("Purchase", "a", SECOND + 700, "aa-a-buy", SECOND + 5_000, amount=10),
    event("Purchase", "b", NEXT_SECOND + 100, "zz-b-buy", NEXT_SECOND + 5_000, amount=20),
    event("Sign Up", "b", NEXT_SECOND + 900, "aa-b-signup", NEXT_SECOND + 5_000),
    event("Page View", "c", SECOND + 300, "view-1", SECOND + 1_000, copy="first"),
    event("Page View", "c", SECOND + 300, "view-1", SECOND + 2_000, copy="latest"),
    event("Page View", "c", SECOND + 800, "view-1", SECOND + 1_500, copy="other ms"),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    path: Path = tmp_path_factory.mktemp("ms") / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    with Emulator(events=path, rate_limits=ServerLimits.unlimited()) as emu:
        yield emu


@pytest.fixture
def con(project: Emulator) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = mpsql.connect(account=project, rate_limits=RateLimits.unlimited(), retry=FAST_RETRY)
    context_of(connection).today = lambda: project.today
    context_of(connection).now = lambda: dt.datetime(2024, 3, 20, tzinfo=dt.UTC).timestamp()  # the day settled
    project.reset()
    yield connection
    connection.close()


def export_requests(emu: Emulator) -> list[dict]:
    return [r.params for r in emu.requests if r.path.endswith("/export")]


def test_export_asks_for_milliseconds_and_keeps_them(con: duckdb.DuckDBPyConnection, project: Emulator) -> None:
    rows = con.execute(f"SELECT event, distinct_id, epoch_ms(time), CAST(properties->>'$.time' AS BIGINT) "
                       f"FROM mp_export('{DAY}', '{DAY}') WHERE event <> 'Page View' ORDER BY time").fetchall()
    assert rows == [("Sign Up", "a", SECOND + 200, SECOND + 200), ("Purchase", "a", SECOND + 700, SECOND + 700),
                    ("Purchase", "b", NEXT_SECOND + 100, NEXT_SECOND + 100),
                    ("Sign Up", "b", NEXT_SECOND + 900, NEXT_SECOND + 900)]
    assert [p.get("time_in_ms") for p in export_requests(project)] == ["true"]


def test_dedupe_compares_milliseconds(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(f"SELECT epoch_ms(time), properties->>'$.copy' FROM mp_export('{DAY}', '{DAY}') "
                       "WHERE event = 'Page View' ORDER BY time").fetchall()
    assert rows == [(SECOND + 300, "latest"), (SECOND + 800, "other ms")]
    assert con.execute(f"SELECT count(*) FROM mp_export('{DAY}', '{DAY}', dedupe := false) "
                       "WHERE event = 'Page View'").fetchone() == (3,)


def test_milliseconds_survive_the_store(con: duckdb.DuckDBPyConnection, project: Emulator) -> None:
    query = f"SELECT event, distinct_id, epoch_ms(time), properties FROM mp_export('{DAY}', '{DAY}') ORDER BY ALL"
    fetched = con.execute(query).fetchall()
    assert len(export_requests(project)) == 1
    held = con.execute(query).fetchall()
    assert len(export_requests(project)) == 1  # the second read is the store's
    assert held == fetched and {t % 1000 for _, _, t, _ in held} == {200, 700, 100, 900, 300, 800}
    assert con.execute("SELECT version FROM mp_store()").fetchone()[0]


def test_a_funnel_within_one_second_converts_in_the_right_order(con: duckdb.DuckDBPyConnection) -> None:
    live = con.execute(f"SELECT step, count FROM mp_funnel(7002, '{DAY}', '{DAY}') ORDER BY step").fetchall()
    assert live == [(1, 2), (2, 1)]  # a signed up then bought; b bought before signing up
    con.execute(f"CREATE TABLE events AS SELECT * FROM mp_export('{DAY}', '{DAY}')")
    local = con.execute(f"SELECT step, count FROM mp_local_funnel('events', ['Sign Up', 'Purchase'], '{DAY}', "
                        f"'{DAY}', window_seconds := 86400) ORDER BY step").fetchall()
    assert local == live
    gap = con.execute(f"SELECT avg_time_seconds FROM mp_local_funnel('events', ['Sign Up', 'Purchase'], '{DAY}', "
                      f"'{DAY}', window_seconds := 86400) WHERE step = 2").fetchone()[0]
    assert gap == 0.0  # half a second, rounded to whole seconds like Mixpanel's avg_time


def test_a_funnel_window_is_measured_in_milliseconds(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE TABLE events AS SELECT * FROM mp_export('{DAY}', '{DAY}')")
    # a's purchase is 500 ms after the sign-up: outside a zero-second window, inside a one-second one
    counts = [con.execute(f"SELECT count FROM mp_local_funnel('events', ['Sign Up', 'Purchase'], '{DAY}', '{DAY}', "
                          f"window_seconds := {w}) WHERE step = 2").fetchone()[0] for w in (0, 1)]
    assert counts == [0, 1]
