"""mp_profiles through the real HTTP path: every page, exactly the matching profiles, values as the project has them."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pytest

import mpsql
from mpsql.api.ratelimit import RateLimits
from mpsql.config import Account, Secret
from mpsql.emulator import Emulator, ServerLimits, catalog
from mpsql.emulator.profiles import profiles_for
from tests.conftest import FAST_RETRY, TODAY


def engage_pages(emulator) -> list[dict]:
    return [r.params for r in emulator.requests if r.path.endswith("/engage")]


def test_every_profile_once_with_its_properties_and_last_seen(con, emulator):
    truth = profiles_for(emulator.dataset)
    rows = con.execute("SELECT distinct_id, last_seen, properties FROM mp_profiles()").fetchall()
    assert len(rows) == len(truth) == len({r[0] for r in rows})
    for distinct_id, last_seen, props in rows[:50] + rows[-50:]:
        assert json.loads(props) == truth[distinct_id]
        expected = dt.datetime.fromisoformat(truth[distinct_id]["$last_seen"]).replace(tzinfo=dt.UTC)
        assert last_seen == expected


@pytest.mark.parametrize(("expression", "predicate"), [
    ('properties["plan"] == "pro"', lambda p: p.get("plan") == "pro"),
    ('properties["purchases"] > 2 and properties["$city"] == "Berlin"',
     lambda p: p.get("purchases", 0) > 2 and p.get("$city") == "Berlin"),
    ('defined(properties["company"])', lambda p: "company" in p),
])
def test_filter_returns_exactly_the_matching_users(con, emulator, expression, predicate):
    truth = profiles_for(emulator.dataset)
    expected = sorted(d for d, p in truth.items() if predicate(p))
    got = [r[0] for r in con.execute("SELECT distinct_id FROM mp_profiles(filter := ?) ORDER BY 1",
                                     [expression]).fetchall()]
    assert got == expected and got


def test_an_empty_result_is_one_request_and_no_rows(con, emulator):
    assert con.execute("SELECT * FROM mp_profiles(filter := 'properties[\"plan\"] == \"none\"')").fetchall() == []
    assert len(engage_pages(emulator)) == 1


def test_cohort_members(con, emulator):
    members = sorted(catalog.cohort_members(emulator.dataset, 1003))
    got = [r[0] for r in con.execute("SELECT distinct_id FROM mp_profiles(cohort := 1003) ORDER BY 1").fetchall()]
    assert got == members and got
    assert json.loads(engage_pages(emulator)[0]["filter_by_cohort"]) == {"id": 1003}


def test_output_properties_restrict_what_comes_back(con, emulator):
    rows = con.execute("SELECT properties FROM mp_profiles(properties := ['$email', 'plan'])").fetchall()
    assert rows and all(set(json.loads(r[0])) <= {"$email", "plan"} for r in rows)
    assert json.loads(engage_pages(emulator)[0]["output_properties"]) == ["$email", "plan"]


def test_distinct_ids_are_deduplicated_in_order(con, emulator):
    rows = con.execute("SELECT distinct_id FROM mp_profiles(distinct_ids := ['u_00003', 'u_00001', 'u_00003'])"
                       ).fetchall()
    assert sorted(r[0] for r in rows) == ["u_00001", "u_00003"]
    assert json.loads(engage_pages(emulator)[0]["distinct_ids"]) == ["u_00003", "u_00001"]


def test_group_profiles(con, emulator):
    from mpsql.emulator.profiles import COMPANY_GROUP_ID, group_profiles_for

    truth = group_profiles_for(emulator.dataset, COMPANY_GROUP_ID)
    rows = con.execute(f"SELECT distinct_id, properties FROM mp_profiles(group_id := '{COMPANY_GROUP_ID}')"
                       ).fetchall()
    assert {r[0]: json.loads(r[1]) for r in rows} == truth


@pytest.fixture(scope="module")
def big():
    """A project with 5,500 profiles: five full pages and a short sixth."""
    emu = Emulator(seed=11, today=TODAY, days=8, users=5500, rate_limits=ServerLimits.unlimited())
    with emu:
        yield emu


def test_many_pages_end_with_a_short_page_and_each_page_is_one_logged_request(big):
    from mpsql.api.client import REQUEST_LOG

    creds = big.credentials
    account = Account("big", creds.username, Secret(creds.secret), creds.project_id, "us", big.url)
    progress = []
    con = mpsql.connect(account=account, rate_limits=RateLimits.unlimited(), retry=FAST_RETRY,
                        on_progress=lambda p: progress.append((p.windows_done, p.windows_total, p.rows)))
    REQUEST_LOG.clear()
    try:
        truth = profiles_for(big.dataset)
        assert len(truth) > 5000 and len(truth) % 1000
        ids = [r[0] for r in con.execute("SELECT distinct_id FROM mp_profiles()").fetchall()]
        assert sorted(ids) == sorted(truth)
        pages = [r.params for r in big.requests if r.path.endswith("/engage")]
        # page 0 first, then the rest fetched a few at a time: each page exactly once
        assert pages[0].get("page", "0") == "0"
        assert sorted(int(p.get("page", "0")) for p in pages) == list(range(len(truth) // 1000 + 1))
        assert len({p.get("session_id") for p in pages[1:]}) == 1
        log = con.execute("SELECT rows FROM mp_requests() WHERE endpoint = '/engage'").fetchall()
        assert [r[0] for r in log] == [1000] * (len(truth) // 1000) + [len(truth) % 1000]
        assert progress[-1] == (len(pages), len(pages), len(truth))
    finally:
        con.close()


def test_an_exact_multiple_of_the_page_size_ends_with_an_empty_page(con, emulator):
    truth = profiles_for(emulator.dataset)
    assert len(truth) == 2000
    n = con.execute("SELECT count(*) FROM mp_profiles()").fetchall()[0][0]
    assert n == len(truth)
    assert [p.get("page", "0") for p in engage_pages(emulator)] == ["0", "1", "2"]  # page 2 came back empty


def _serve_engage(emulator, body: dict) -> None:
    from mpsql.emulator.proto import Response, Route

    emulator.add_route("/api/query/engage", Route(lambda emu, req: Response(json=body), "query", ("GET", "POST")))


@pytest.fixture
def engage_route(emulator):
    saved = dict(emulator.routes)
    yield lambda body: _serve_engage(emulator, body)
    emulator.routes.clear()
    emulator.routes.update(saved)


def test_a_full_page_without_a_session_id_fails_rather_than_ending_early(con, engage_route):
    results = [{"$distinct_id": f"u{i}", "$properties": {}} for i in range(1000)]
    engage_route({"page": 0, "page_size": 1000, "total": 2500, "status": "ok", "results": results})
    with pytest.raises(duckdb.Error, match="session_id"):
        con.execute("SELECT count(*) FROM mp_profiles()").fetchall()


def _engage_pages_route(emulator, make_body) -> None:
    """Answer /engage with ``make_body(n)`` for the n-th request (0, 1, ...), whatever page was asked for."""
    import itertools

    from mpsql.emulator.proto import Response, Route

    counter = itertools.count()
    emulator.add_route("/api/query/engage",
                       Route(lambda emu, req: Response(json=make_body(next(counter))), "query", ("GET", "POST")))


def _full_page(first: int) -> list[dict]:
    return [{"$distinct_id": f"u{i}", "$properties": {}} for i in range(first, first + 1000)]


def test_a_server_that_ignores_page_fails_at_the_first_repeated_page(con, emulator, engage_route):
    page = _full_page(0)
    _engage_pages_route(emulator, lambda n: {"page": 0, "page_size": 1000, "session_id": "s1", "total": 5000,
                                             "status": "ok", "results": page})
    with pytest.raises(duckdb.Error, match=r"same profiles as an earlier page \(the server is not paging\)"):
        con.execute("SELECT count(*) FROM mp_profiles()").fetchall()
    # page 0, then at most the pages already in flight when the repeat was seen
    assert len(engage_pages(emulator)) <= 2 + 4


def test_a_server_without_total_that_repeats_pages_fails_too(con, emulator, engage_route):
    page = _full_page(0)
    _engage_pages_route(emulator, lambda n: {"session_id": "s1", "status": "ok", "results": page})
    with pytest.raises(duckdb.Error, match="the server is not paging"):
        con.execute("SELECT count(*) FROM mp_profiles()").fetchall()
    assert len(engage_pages(emulator)) == 2


def test_pages_running_past_the_announced_total_fail(con, emulator, engage_route):
    # every page is new and full: only the announced total (2500) can end the walk
    _engage_pages_route(emulator, lambda n: {"page": n, "page_size": 1000, "session_id": "s1", "total": 2500,
                                             "status": "ok", "results": _full_page(1000 * n)})
    with pytest.raises(duckdb.Error, match="served 4000 profiles after announcing a total of 2500"):
        con.execute("SELECT count(*) FROM mp_profiles()").fetchall()
    assert len(engage_pages(emulator)) <= 4 + 4


@pytest.mark.parametrize("page_size", [-5, 0, "abc", "1000", 2.5, True, [1000]])
def test_a_nonsense_page_size_fails_after_one_request(con, emulator, engage_route, page_size):
    engage_route({"page": 0, "page_size": page_size, "session_id": "s1", "total": 5000, "status": "ok",
                  "results": _full_page(0)})
    with pytest.raises(duckdb.Error, match=r"announced a page_size of .*not a positive whole number"):
        con.execute("SELECT count(*) FROM mp_profiles()").fetchall()
    assert len(engage_pages(emulator)) == 1


def test_one_page_of_profiles_added_while_paging_is_still_served(con, emulator, engage_route, notices):
    # total 2000, but a third (short) page arrives: kept, with the notice that the total differed
    _engage_pages_route(emulator, lambda n: {"page": n, "page_size": 1000, "session_id": "s1", "total": 2000,
                                             "status": "ok", "results": _full_page(1000 * n)[:1000 if n < 2 else 7]})
    assert con.execute("SELECT count(*) FROM mp_profiles()").fetchall() == [(2007,)]
    assert any("reported 2000 matching profiles but served 2007" in n for n in notices)


def test_fewer_profiles_than_engage_reported_is_said_even_without_a_notice_callback(account, engage_route, capsys):
    results = [{"$distinct_id": f"u{i}", "$properties": {}} for i in range(3)]
    engage_route({"page": 0, "page_size": 1000, "session_id": "s1", "total": 5, "status": "ok", "results": results})
    c = mpsql.connect(account=account, rate_limits=RateLimits.unlimited(), retry=FAST_RETRY)  # no notice :=
    try:
        assert c.execute("SELECT count(*) FROM mp_profiles()").fetchall() == [(3,)]
    finally:
        c.close()
    assert "reported 5 matching profiles but served 3" in capsys.readouterr().err


def test_limit_stops_the_walk_early(big):
    from mpsql.functions.profiles import AHEAD

    creds = big.credentials
    account = Account("big", creds.username, Secret(creds.secret), creds.project_id, "us", big.url)
    con = mpsql.connect(account=account, rate_limits=RateLimits.unlimited(), retry=FAST_RETRY)
    big.reset()
    try:
        assert len(con.execute("SELECT * FROM mp_profiles() LIMIT 5").fetchall()) == 5
        # pages 0 and 1 (DuckDB reads one batch ahead of LIMIT), and those in flight when the statement stopped
        assert len([r for r in big.requests if r.path.endswith("/engage")]) <= 2 + AHEAD
    finally:
        con.close()


def test_pages_travel_gzip_compressed_and_arrive_whole(con, emulator):
    from mpsql.api.client import REQUEST_LOG

    REQUEST_LOG.clear()
    rows = con.execute("SELECT properties FROM mp_profiles()").fetchall()
    served = [r for r in emulator.requests if r.path.endswith("/engage")]
    assert [r.gzip for r in served] == [True, True, False]  # the final empty page is under gzip's 1400 bytes
    wire = con.execute("SELECT sum(bytes) FROM mp_requests() WHERE endpoint = '/engage'").fetchall()[0][0]
    assert wire == sum(r.bytes_sent for r in served)
    assert wire < sum(len(r[0]) for r in rows) / 3  # compressed on the wire, whole once parsed
