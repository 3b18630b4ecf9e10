"""Discovery functions through the real HTTP path, checked against the project's own exported events."""

from __future__ import annotations

import datetime as dt

import pytest

from mpsql.emulator import catalog
from mpsql.emulator.saved_reports import FUNNELS
from tests.conftest import TODAY

# Mixpanel's discovery endpoints look at the last 31 days (docs/mixpanel-api.md, "Events and properties breakdowns").
LAST31 = f"'{TODAY - dt.timedelta(days=31)}', '{TODAY - dt.timedelta(days=1)}'"
STORAGE = ("time", "distinct_id", "$insert_id", "mp_processing_time_ms")


@pytest.fixture(scope="module")
def last31(emulator_session, tmp_path_factory):
    """The discovery window's events, exported once for the module through the real path (a Parquet file)."""
    import mpsql
    from mpsql.api.ratelimit import RateLimits
    from mpsql.config import Account, Secret
    from tests.conftest import FAST_RETRY

    creds = emulator_session.credentials
    account = Account("last31", creds.username, Secret(creds.secret), creds.project_id, "us", emulator_session.url)
    path = tmp_path_factory.mktemp("discovery") / "last31.parquet"
    with mpsql.connect(account=account, rate_limits=RateLimits.unlimited(), retry=FAST_RETRY) as con:
        con.execute(f"COPY (SELECT * FROM mp_export({LAST31})) TO '{path}' (FORMAT parquet)")
    return path


@pytest.fixture
def recent(con, last31):
    con.execute(f"CREATE TABLE recent AS SELECT * FROM read_parquet('{last31}')")
    return con


def test_mp_events_lists_exactly_the_event_names_seen_sorted(recent):
    names = [r[0] for r in recent.execute("SELECT event FROM mp_events()").fetchall()]
    assert names == [r[0] for r in recent.execute("SELECT DISTINCT event FROM recent ORDER BY 1").fetchall()]


def test_mp_top_events_are_the_last_days_counts_with_the_change(con, emulator):
    last = TODAY - dt.timedelta(days=1)
    counts = dict(con.execute(f"SELECT event, count(*) FROM mp_export('{last}', '{last}') GROUP BY ALL").fetchall())
    before = dict(con.execute(f"SELECT event, count(*) FROM mp_export('{last - dt.timedelta(days=1)}', "
                              f"'{last - dt.timedelta(days=1)}') GROUP BY ALL").fetchall())
    rows = con.execute("SELECT event, count, percent_change FROM mp_top_events()").fetchall()
    assert {e: n for e, n, _ in rows} == counts
    assert [n for _, n, _ in rows] == sorted(counts.values(), reverse=True)
    for event, n, change in rows:
        assert change == pytest.approx((n - before[event]) / before[event])
    assert [r[0] for r in con.execute("SELECT event FROM mp_top_events(top := 2)").fetchall()] == \
        [e for e, _, _ in rows[:2]]


def test_mp_properties_counts_how_many_events_carry_each_property(recent):
    got = recent.execute("SELECT property, count FROM mp_properties(event := 'Purchase') ORDER BY 1").fetchall()
    keys = ", ".join(f"'{k}'" for k in STORAGE)
    expected = recent.execute(
        "SELECT k, count(*) FROM (SELECT unnest(json_keys(properties)) AS k FROM recent WHERE event = 'Purchase') "
        f"WHERE k NOT IN ({keys}) GROUP BY k ORDER BY k").fetchall()
    assert got == expected and len(got) > 10


@pytest.mark.parametrize(("prop", "event"), [("$browser", "Page View"), ("category", "View Item"),
                                              ("mp_country_code", None), ("quantity", "Add to Cart")])
def test_mp_property_values_are_exactly_the_distinct_values_present(recent, prop, event):
    on = f", event := '{event}'" if event else ""
    got = {r[0] for r in recent.execute(f"SELECT value FROM mp_property_values('{prop}'{on})").fetchall()}
    where = f"AND event = '{event}'" if event else ""
    expected = {r[0] for r in recent.execute(
        f"SELECT DISTINCT mp_prop(properties, '{prop}') FROM recent WHERE mp_prop(properties, '{prop}') IS NOT NULL "
        f"{where}").fetchall()}
    assert got == expected and got


def test_mp_property_values_honours_top(con):
    assert len(con.execute("SELECT * FROM mp_property_values('$city', top := 3)").fetchall()) == 3


def test_mp_funnels_lists_the_saved_funnels(con):
    assert con.execute("SELECT funnel_id, name FROM mp_funnels() ORDER BY 1").fetchall() == \
        sorted((f.funnel_id, f.name) for f in FUNNELS.values())


def test_mp_cohorts_lists_the_saved_cohorts_with_their_sizes(con, emulator):
    expected = sorted(catalog.cohorts_list(emulator.dataset, emulator.credentials.project_id), key=lambda c: c["id"])
    rows = con.execute("SELECT id, name, count, description, created, is_visible, project_id FROM mp_cohorts() "
                       "ORDER BY id").fetchall()
    assert [(r[0], r[1], r[2], r[3], str(r[4]), r[5], r[6]) for r in rows] == [
        (c["id"], c["name"], c["count"], c["description"], c["created"], bool(c["is_visible"]), c["project_id"])
        for c in expected]


def test_mp_lexicon_returns_every_schema_and_filters_by_entity_type(con):
    entries = catalog.schema_entries()
    rows = con.execute("SELECT entity_type, name, description, properties, schema FROM mp_lexicon() ORDER BY 1, 2"
                       ).fetchall()
    assert [(r[0], r[1]) for r in rows] == sorted((e["entityType"], e["name"]) for e in entries)
    by_name = {(e["entityType"], e["name"]): e["schemaJson"] for e in entries}
    for entity, name, description, _props, _schema in rows:
        assert description == by_name[(entity, name)].get("description")
    events = con.execute("SELECT DISTINCT entity_type FROM mp_lexicon(entity_type := 'event')").fetchall()
    assert events == [("event",)]
    price = con.execute("SELECT properties->'$.price'->>'$.type' FROM mp_lexicon(entity_type := 'event') "
                        "WHERE name = 'View Item'").fetchall()
    assert price == [("number",)]


def test_mp_annotations_returns_those_in_the_inclusive_range(con, emulator):
    notes = catalog.annotations(emulator.dataset)
    days = sorted(n["date"][:10] for n in notes)
    lo, hi = days[1], days[-2]
    rows = con.execute(f"SELECT id, date, description, tags FROM mp_annotations('{lo}', '{hi}') ORDER BY date"
                       ).fetchall()
    expected = sorted((n for n in notes if lo <= n["date"][:10] <= hi), key=lambda n: n["date"])
    assert [(r[0], str(r[1]), r[2], r[3]) for r in rows] == [
        (n["id"], n["date"], n["description"], [t["name"] for t in n["tags"]]) for n in expected]
    assert len(rows) == len(notes) - 2


def test_bad_discovery_arguments_fail_before_any_request(con, emulator):
    for sql, argument in (("mp_properties()", "event"), ("mp_top_events(type := 'weekly')", "type"),
                          ("mp_lexicon(entity_type := 'cohort')", "entity_type"),
                          ("mp_annotations('2024-03-10', '2024-03-01')", "from_date"),
                          ("mp_property_values('')", "property")):
        with pytest.raises(Exception, match=argument):
            con.execute(f"SELECT * FROM {sql}").fetchall()
    assert emulator.requests == []


def test_known_names_come_from_the_cache_and_never_make_a_request(con, emulator):
    from mpsql.connection import context_of
    from mpsql.functions.discovery import known_names

    assert known_names(context_of(con)).events == []  # nothing cached yet, and nothing asked
    assert emulator.requests == []
    events = [r[0] for r in con.execute("SELECT event FROM mp_events()").fetchall()]
    props = [r[0] for r in con.execute("SELECT property FROM mp_properties(event := 'Purchase')").fetchall()]
    served = len(emulator.requests)
    names = known_names(context_of(con))
    assert names.events == events
    assert names.properties("Purchase") == sorted(props)
    assert names.properties("Login") == []
    assert set(props) <= set(names.properties())
    assert len(emulator.requests) == served


# --- hostile answers and an unwritable cache -----------------------------------------------------------------


@pytest.fixture
def answer(emulator):
    """``answer(path, body)``: the emulator answers the Query API ``path`` with ``body``, as-is, for this test."""
    from mpsql.emulator.proto import Response, Route

    saved = dict(emulator.routes)

    def serve(path: str, body: object) -> None:
        emulator.add_route(f"/api/query{path}", Route(lambda emu, req: Response(json=body), "query",
                                                      ("GET", "POST")))

    yield serve
    emulator.routes.clear()
    emulator.routes.update(saved)


def test_null_event_names_are_left_out_with_a_notice_never_listed_as_None(con, answer, notices):
    answer("/events/names", ["Signup", None, "Purchase", 7, True])
    assert con.execute("SELECT event FROM mp_events()").fetchall() == [("7",), ("Purchase",), ("Signup",),
                                                                      ("true",)]
    assert notices == ["mp_events: Mixpanel's /events/names held 1 null name(s); they are not listed"]


@pytest.mark.parametrize("item", [{"name": "Signup"}, ["Signup"]])
def test_an_object_in_the_event_names_fails_clearly_rather_than_becoming_a_repr(con, answer, item):
    answer("/events/names", ["Signup", item])
    kind = "object" if isinstance(item, dict) else "array"
    with pytest.raises(Exception, match=f"/events/names list holds a JSON {kind} where an event name was expected"):
        con.execute("SELECT event FROM mp_events()").fetchall()


def test_property_values_keep_null_as_null_and_numbers_as_their_json_text(con, answer):
    answer("/events/properties/values", ["US", None, 3, 2.5, False])
    rows = con.execute("SELECT value FROM mp_property_values('$country_code')").fetchall()
    assert rows == [("US",), (None,), ("3",), ("2.5",), ("false",)]


def test_an_object_among_property_values_fails_clearly(con, answer):
    answer("/events/properties/values", ["US", {"code": "DE"}])
    with pytest.raises(Exception, match=r"/events/properties/values list holds a JSON object where a property "
                                        r"value was expected: \{\"code\": \"DE\"\}"):
        con.execute("SELECT value FROM mp_property_values('$country_code')").fetchall()


def test_a_cache_that_cannot_be_written_is_a_notice_and_the_rows_still_come(con, emulator, notices, tmp_path,
                                                                            monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("MPSQL_CACHE_DIR", str(blocker / "cache"))
    first = con.execute("SELECT event FROM mp_events()").fetchall()
    assert first == con.execute("SELECT event FROM mp_events()").fetchall() and len(first) > 3
    assert sum(r.path.endswith("/events/names") for r in emulator.requests) == 2  # nothing cached
    assert notices == [f"the response cache in {blocker / 'cache'} was not written (Not a directory); "
                       "results are correct but not cached"]  # said once


def test_a_symlinked_cache_folder_is_not_followed(con, emulator, notices, tmp_path, monkeypatch):
    target = tmp_path / "target"
    target.mkdir()
    (tmp_path / "cache").symlink_to(target)
    monkeypatch.setenv("MPSQL_CACHE_DIR", str(tmp_path / "cache"))
    assert len(con.execute("SELECT event FROM mp_events()").fetchall()) > 3
    assert list(target.iterdir()) == []
    assert len(notices) == 1 and "is a symbolic link" in notices[0]


def test_a_nocase_default_collation_leaves_every_call_and_its_arguments_intact(con, emulator):
    expected = con.execute("SELECT event FROM mp_events()").fetchall()
    event = expected[0][0]
    con.execute("SET default_collation = 'nocase'")
    assert con.execute("SELECT event FROM mp_events()").fetchall() == expected
    con.execute("SELECT * FROM mp_property_values('$browser', event := ?)", [event]).fetchall()
    sent = [r.params for r in emulator.requests if r.path.endswith("/events/properties/values")]
    assert sent[-1]["event"] == event and event != event.lower()  # sent as typed, not lower-cased
