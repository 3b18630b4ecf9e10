"""mp_bookmarks (saved reports, so report ids can be found in SQL) and data views (workspace_id from
workspace :=, the account's setting or MP_WORKSPACE_ID; Query API only, never export), through the emulator."""

from __future__ import annotations

import dataclasses
import datetime as dt

import duckdb
import pytest

import mpsql
from mpsql.api.ratelimit import RateLimits
from mpsql.config import Account, Secret
from mpsql.connection import context_of
from mpsql.errors import ArgumentError
from tests.conftest import FAST_RETRY, NOW, TODAY


@pytest.fixture(scope="module")
def small_emu():
    """A small project of its own (35 days, 120 users): the saved reports it runs take a moment, not half a
    minute."""
    from mpsql.emulator import Emulator, ServerLimits

    with Emulator(seed=5, today=TODAY, days=35, users=120, rate_limits=ServerLimits.unlimited(),
                  data_views={501: "EU only"}) as emu:
        yield emu


@pytest.fixture
def emulator(small_emu):
    small_emu.reset()
    yield small_emu
    small_emu.reset()


@pytest.fixture
def account(emulator) -> Account:
    c = emulator.credentials
    return Account("small", c.username, Secret(c.secret), c.project_id, api_url=emulator.url, source="test")


@pytest.fixture
def con(account):
    connection = _connect(account)
    yield connection
    connection.close()


def _global_view(emu) -> int:
    return next(iter(emu.data_views))


def _connect(account) -> duckdb.DuckDBPyConnection:
    con = mpsql.connect(account=account, rate_limits=RateLimits.unlimited(), retry=FAST_RETRY)
    context_of(con).today = lambda: TODAY
    context_of(con).now = lambda: NOW
    return con


# ---------------------------------------------------------------- mp_bookmarks


def test_mp_bookmarks_lists_saved_reports_whose_ids_the_report_functions_take(con, emulator):
    rows = con.execute("SELECT id, name, type, description, creator, modified FROM mp_bookmarks() "
                       "ORDER BY id").fetchall()
    by_id = {r[0]: r for r in rows}
    assert {r[2] for r in rows} == {"insights", "flows", "funnels"}
    assert by_id[9101][1:5] == ("Daily purchases", "insights", "Purchases per day, last 30 days", "Ada Analyst")
    assert by_id[9201][2:5] == ("flows", None, "Grace Growth")
    assert isinstance(by_id[9101][5], dt.datetime) and by_id[9101][5].date() < TODAY
    assert [r[0] for r in rows if r[2] == "funnels"] == [7001, 7002, 7003, 7004]
    path = f"/api/app/projects/{emulator.credentials.project_id}/bookmarks"
    assert [(r.path, r.params) for r in emulator.requests] == [(path, {"v": "2"})]

    # the ids found in SQL run the saved reports
    insight = con.execute("SELECT id FROM mp_bookmarks(type := 'insights') WHERE name = 'Daily purchases'").fetchone()
    assert con.execute(f"SELECT count(*) FROM mp_insight({insight[0]})").fetchone()[0] > 0
    flows = con.execute("SELECT id FROM mp_bookmarks(type := 'flows')").fetchall()
    assert flows == [(9201,)]
    assert con.execute("SELECT count(*) FROM mp_flows(9201)").fetchone()[0] > 0
    funnel = con.execute("SELECT min(id) FROM mp_bookmarks(type := 'funnels')").fetchone()[0]
    assert con.execute(f"SELECT count(*) FROM mp_funnel({funnel}, DATE '2024-03-20', DATE '2024-03-26')"
                       ).fetchone()[0] > 0
    assert emulator.requests[1].params == {"v": "2", "type": "insights"}


def test_mp_bookmarks_is_cached_like_discovery(con, emulator):
    first = con.execute("SELECT * FROM mp_bookmarks()").fetchall()
    assert con.execute("SELECT * FROM mp_bookmarks()").fetchall() == first
    assert sum(r.path.endswith("/bookmarks") for r in emulator.requests) == 1


def test_mp_bookmarks_refuses_a_bad_type_before_any_request(con, emulator):
    with pytest.raises(duckdb.Error, match="type"):
        con.execute("SELECT * FROM mp_bookmarks(type := 'dashboards')").fetchall()
    assert isinstance(context_of(con).last_error, ArgumentError) and emulator.requests == []


# ---------------------------------------------------------------- data views


def test_workspace_argument_is_sent_on_query_calls(con, emulator):
    view = 501
    assert con.execute(f"SELECT count(*) FROM mp_events(workspace := {view})").fetchone()[0] > 0
    con.execute("SELECT * FROM mp_segmentation('Purchase', DATE '2024-03-20', DATE '2024-03-22', "
                f"workspace := {view})").fetchall()
    con.execute(f"SELECT * FROM mp_profiles(workspace := {view}) LIMIT 3").fetchall()
    logs = emulator.requests
    assert [r.params.get("workspace_id") for r in logs] == [str(view)] * len(logs) and len(logs) >= 3
    # an unknown data view is Mixpanel's 403, named
    with pytest.raises(duckdb.Error, match="data view"):
        con.execute("SELECT * FROM mp_events(workspace := 99)").fetchall()
    with pytest.raises(duckdb.Error, match="workspace"):
        con.execute("SELECT * FROM mp_events(workspace := 0)").fetchall()


def test_signatures_offer_workspace_before_account(con):
    sig = dict(con.execute("SELECT name, signature FROM mp_functions()").fetchall())
    for name in ("mp_events", "mp_segmentation", "mp_funnel", "mp_insight", "mp_profiles", "mp_bookmarks",
                 "mp_retention", "mp_jql"):
        assert sig[name].endswith("workspace := NULL, account := NULL)"), sig[name]
    assert "workspace" not in sig["mp_export"]


def test_the_accounts_data_view_applies_to_query_calls_not_export(account, emulator):
    view = _global_view(emulator)
    con = _connect(dataclasses.replace(account, workspace_id=view))
    try:
        con.execute("SELECT count(*) FROM mp_events()").fetchall()
        con.execute("SELECT count(*) FROM mp_export(DATE '2024-03-30', DATE '2024-03-30')").fetchall()
        con.execute("SELECT * FROM mp_bookmarks()").fetchall()
    finally:
        con.close()
    by_family = {r.path: r for r in emulator.requests}
    assert by_family["/api/query/events/names"].params["workspace_id"] == str(view)
    assert "workspace_id" not in by_family["/api/2.0/export"].params
    assert f"/api/app/workspaces/{view}/bookmarks" in by_family


def test_mp_workspace_id_applies_and_a_bad_one_is_named(account, emulator, monkeypatch, tmp_path):
    from mpsql.config import ConfigStore

    view = _global_view(emulator)
    path = tmp_path / "config.toml"
    ConfigStore(path).add(account)
    monkeypatch.setenv("MP_CONFIG_PATH", str(path))
    monkeypatch.setenv("MP_WORKSPACE_ID", str(view))
    con = _connect(None)
    try:
        con.execute("SELECT count(*) FROM mp_events()").fetchall()
        assert emulator.requests[-1].params["workspace_id"] == str(view)
        monkeypatch.setenv("MP_WORKSPACE_ID", "all")
        with pytest.raises(duckdb.Error, match="MP_WORKSPACE_ID must be a positive integer"):
            _connect(None).execute("SELECT count(*) FROM mp_top_events()").fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("bad", ["0", "-3", "'eu'", "true"])
def test_a_bad_workspace_is_named_before_any_request(con, emulator, bad):
    with pytest.raises(duckdb.Error, match="workspace"):
        con.execute(f"SELECT * FROM mp_segmentation('Purchase', DATE '2024-03-20', DATE '2024-03-22', "
                    f"workspace := {bad})").fetchall()
    assert isinstance(context_of(con).last_error, ArgumentError) and emulator.requests == []
