"""mp_export through the real HTTP path against the emulator: rows, dedupe, pushdown, SQL forms, bad input."""

from __future__ import annotations

import datetime as dt
import itertools
import json

import duckdb
import pytest

import mpsql
from mpsql.api.ratelimit import RateLimits
from mpsql.config import Account, Secret
from tests.conftest import FAST_RETRY, TODAY

D1, D3 = dt.date(2024, 3, 4), dt.date(2024, 3, 6)
RANGE = "'2024-03-04', '2024-03-06'"


def key(rec: dict) -> tuple:
    p = rec["properties"]
    return (rec["event"], p["distinct_id"], p["time"], p.get("$insert_id"))


def deduped(records: list[dict]) -> dict[tuple, dict]:
    """Mixpanel's rule, independently (docs/report-semantics.md, "Duplicates"): per (event, distinct_id, time,
    $insert_id) the copy with the greatest mp_processing_time_ms, the one served later on a tie; records
    without an $insert_id are never collapsed (their keys get the record's position as a fifth part)."""
    best: dict[tuple, dict] = {}
    for i, rec in enumerate(records):
        k = key(rec) if rec["properties"].get("$insert_id") is not None else (*key(rec), i)
        if k not in best or rec["properties"]["mp_processing_time_ms"] >= best[k]["properties"][
                "mp_processing_time_ms"]:
            best[k] = rec
    return best


def content(rows) -> list[str]:
    """(event, epoch milliseconds, distinct_id, insert_id, properties) rows as sorted canonical JSON: equal lists
    mean the same rows with the same content, whatever their order."""
    return sorted(json.dumps([e, int(t), d, i, json.loads(p) if isinstance(p, str) else p], sort_keys=True)
                  for e, t, d, i, p in rows)


def expected_content(records: list[dict]) -> list[str]:
    return content((r["event"], r["properties"]["time"], r["properties"]["distinct_id"],
                    r["properties"].get("$insert_id"), r["properties"]) for r in deduped(records).values())


def export_requests(emulator) -> list[dict]:
    return [r.params for r in emulator.requests if r.path.endswith("/export")]


# -- rows are exactly the emulator's --------------------------------------------------------------------------

def test_counts_and_deduplicated_counts_match_the_emulators_data(con, emulator):
    records = emulator.dataset.export_records(D1, D3, time_in_ms=True)
    winners = deduped(records)
    assert len(records) > len(winners) > 1000  # the synthetic data really has duplicates
    assert con.execute(f"SELECT count(*) FROM mp_export({RANGE})").fetchone()[0] == len(winners)
    assert con.execute(f"SELECT count(*) FROM mp_export({RANGE}, dedupe := false)").fetchone()[0] == len(records)
    by_event = dict(con.execute(f"SELECT event, count(*) FROM mp_export({RANGE}) GROUP BY ALL").fetchall())
    expected: dict[str, int] = {}
    for k in winners:
        expected[k[0]] = expected.get(k[0], 0) + 1
    assert by_event == expected


def test_every_row_equals_the_winning_record(con, emulator):
    records = emulator.dataset.export_records(D1, D3, time_in_ms=True)
    rows = con.execute(f"SELECT event, epoch_ms(time), distinct_id, insert_id, properties FROM mp_export({RANGE})"
                       ).fetchall()
    assert content(rows) == expected_content(records)  # the whole objects, exactly as sent


def test_mp_export_keeps_exactly_the_copies_the_emulators_reports_count(con, emulator):
    """Both sides apply one duplicate rule, edge cases included: no $insert_id (never collapsed), copies
    whose times differ only in milliseconds (two events, told apart in ms), processing-time ties (the
    copy served later wins)."""
    from mpsql.emulator.eventstore import store_for

    reports = content((e.name, e.ms, e.distinct_id, e.props.get("$insert_id"), {**dict(e.props), "time": e.ms})
                      for e in store_for(emulator.dataset).events(D1, D3))
    rows = con.execute(f"SELECT event, epoch_ms(time), distinct_id, insert_id, properties FROM mp_export({RANGE})"
                       ).fetchall()
    assert content(rows) == reports
    versions = [json.loads(p).get("$lib_version") for (*_, p) in rows]
    assert "2.49.1-tie" in versions and "2.49.1-ms" in versions  # the later copies won their ties
    assert sum(1 for (_, _, _, i, _) in rows if i is None) > 5


def test_the_latest_processed_duplicate_wins_and_a_tie_goes_to_the_later_copy(con, emulator):
    records = emulator.dataset.export_records(D1, D3, time_in_ms=True)
    copies: dict[tuple, list[dict]] = {}
    for rec in records:
        if "$insert_id" in rec["properties"]:
            copies.setdefault(key(rec), []).append(rec)
    dupes = [v for v in copies.values() if len(v) > 1]
    ties = [v for v in dupes if v[0]["properties"]["mp_processing_time_ms"] == v[-1]["properties"][
        "mp_processing_time_ms"]]
    assert len(dupes) > 50 and len(ties) > 5
    got = {(i, t): p for i, t, p in con.execute(
        f"SELECT insert_id, epoch_ms(time), properties FROM mp_export({RANGE}) WHERE insert_id IS NOT NULL").fetchall()}
    for sample in dupes:
        top = max(r["properties"]["mp_processing_time_ms"] for r in sample)
        latest = [r for r in sample if r["properties"]["mp_processing_time_ms"] == top][-1]  # served last
        key_ms = (latest["properties"]["$insert_id"], latest["properties"]["time"])
        assert json.loads(got[key_ms]) == latest["properties"]


def test_output_schema_is_fixed(con, emulator):
    cols = con.execute(f"DESCRIBE SELECT * FROM mp_export({RANGE})").fetchall()
    assert [(c[0], c[1]) for c in cols] == [("event", "VARCHAR"), ("time", "TIMESTAMP WITH TIME ZONE"),
                                           ("distinct_id", "VARCHAR"), ("insert_id", "VARCHAR"),
                                           ("properties", "JSON")]
    assert export_requests(emulator) == []


def test_property_values_of_every_json_type_survive(con, emulator):
    types = {t for (t,) in con.execute(
        f"SELECT DISTINCT json_type(value) FROM mp_export({RANGE}), json_each(properties)").fetchall()}
    assert {"VARCHAR", "UBIGINT", "DOUBLE", "BOOLEAN", "NULL", "ARRAY", "OBJECT"} <= types


# -- arguments and pushdown -----------------------------------------------------------------------------------

def test_events_argument_is_sent_as_a_json_array(con, emulator):
    winners = deduped(emulator.dataset.export_records(D1, D3, time_in_ms=True))
    n = con.execute(f"SELECT count(*) FROM mp_export({RANGE}, events := ['Purchase', 'Sign Up'])").fetchone()[0]
    assert n == sum(1 for k in winners if k[0] in ("Purchase", "Sign Up"))
    assert all(json.loads(p["event"]) == ["Purchase", "Sign Up"] for p in export_requests(emulator))


def test_where_on_event_narrows_the_request(con, emulator):
    winners = deduped(emulator.dataset.export_records(D1, D3, time_in_ms=True))
    n = con.execute(f"SELECT count(*) FROM mp_export({RANGE}) WHERE event IN ('Purchase', 'Checkout')"
                    ).fetchone()[0]
    assert n == sum(1 for k in winners if k[0] in ("Purchase", "Checkout"))
    assert {p["event"] for p in export_requests(emulator)} == {'["Checkout","Purchase"]'}


def test_time_predicates_narrow_the_date_range_and_stay_exact(con, emulator):
    winners = deduped(emulator.dataset.export_records(D1, D3, time_in_ms=True))
    lo = int(dt.datetime(2024, 3, 5, 12, tzinfo=dt.UTC).timestamp()) * 1000  # ms, as the records hold time
    n = con.execute(f"SELECT count(*) FROM mp_export({RANGE}) WHERE time >= TIMESTAMPTZ '2024-03-05 12:00:00+00'"
                    ).fetchone()[0]
    assert n == sum(1 for k in winners if k[2] >= lo)
    assert min(p["from_date"] for p in export_requests(emulator)) == "2024-03-05"


def test_contradictory_predicates_make_no_request(con, emulator):
    assert con.execute(f"SELECT count(*) FROM mp_export({RANGE}, events := ['Purchase']) WHERE event = 'Search'"
                       ).fetchone()[0] == 0
    assert export_requests(emulator) == []


def test_filter_is_mixpanels_where_expression(con, emulator):
    winners = deduped(emulator.dataset.export_records(D1, D3, time_in_ms=True))
    expected = sum(1 for r in winners.values() if r["properties"].get("$browser") == "Firefox")
    n = con.execute(f"""SELECT count(*) FROM mp_export({RANGE}, filter := 'properties["$browser"] == "Firefox"')"""
                    ).fetchone()[0]
    assert n == expected > 0
    assert {p["where"] for p in export_requests(emulator)} == {'properties["$browser"] == "Firefox"'}


def test_max_events_caps_the_rows(con, emulator):
    assert con.execute(f"SELECT count(*) FROM mp_export({RANGE}, max_events := 250)").fetchone()[0] == 250
    assert all(int(p["limit"]) <= 250 for p in export_requests(emulator))


def test_single_event_name_is_accepted(con):
    assert con.execute(f"SELECT DISTINCT event FROM mp_export({RANGE}, events := 'Purchase')").fetchall() == [
        ("Purchase",)]


# -- SQL forms ------------------------------------------------------------------------------------------------

def test_works_in_ctas_insert_copy_views_ctes_joins_and_prepared(con, emulator, tmp_path):
    n = len(deduped(emulator.dataset.export_records(D1, D1, time_in_ms=True)))
    con.execute("CREATE TABLE t AS SELECT * FROM mp_export('2024-03-04', '2024-03-04')")
    assert con.execute("SELECT count(*) FROM t").fetchone()[0] == n
    con.execute("INSERT INTO t SELECT * FROM mp_export('2024-03-04', '2024-03-04', events := ['Purchase'])")
    purchases = con.execute("SELECT count(*) FROM t WHERE event = 'Purchase'").fetchone()[0]
    assert purchases % 2 == 0
    out = tmp_path / "e.parquet"
    con.execute(f"COPY (SELECT * FROM mp_export('2024-03-04', '2024-03-04')) TO '{out}' (FORMAT parquet)")
    assert con.execute(f"SELECT count(*) FROM '{out}'").fetchone()[0] == n
    con.execute("CREATE VIEW v AS SELECT * FROM mp_export('2024-03-04', '2024-03-04')")
    assert con.execute("SELECT count(*) FROM v").fetchone()[0] == n
    assert con.execute("WITH e AS (FROM mp_export('2024-03-04', '2024-03-04')) "
                       "SELECT count(*) FROM e JOIN (SELECT DISTINCT distinct_id FROM e) u USING (distinct_id)"
                       ).fetchone()[0] == n
    assert con.execute("SELECT count(*) FROM mp_export(?, ?)", ["2024-03-04", dt.date(2024, 3, 4)]
                       ).fetchone()[0] == n
    assert con.execute("SELECT count(*) FROM mp_export($a, $a, events := $e)",
                       {"a": "2024-03-04", "e": ["Purchase"]}).fetchone()[0] == purchases // 2


def test_describe_explain_prepare_make_no_request(con, emulator):
    con.execute(f"DESCRIBE SELECT * FROM mp_export({RANGE})").fetchall()
    con.execute(f"EXPLAIN SELECT * FROM mp_export({RANGE})").fetchall()
    con.execute("PREPARE q AS SELECT count(*) FROM mp_export(?, ?)")
    assert export_requests(emulator) == []
    con.execute("EXECUTE q('2024-03-04', '2024-03-04')").fetchall()
    assert len(export_requests(emulator)) == 1


def test_limit_stops_downloading(con, emulator):
    assert len(con.execute("SELECT * FROM mp_export('2024-01-01', '2024-03-31') LIMIT 5").fetchall()) == 5
    assert len(export_requests(emulator)) <= 3  # the first window and at most two prefetched


def test_long_ranges_are_fetched_in_day_aligned_windows(con, emulator):
    con.execute("SELECT count(*) FROM mp_export('2024-01-01', '2024-03-31')").fetchall()
    # A set: a request still in flight from an earlier test's cancelled prefetch may land in the log too.
    spans = sorted({(p["from_date"], p["to_date"]) for p in export_requests(emulator)})
    assert spans[0][0] == "2024-01-01" and spans[-1][1] == "2024-03-31"
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert dt.date.fromisoformat(start) == dt.date.fromisoformat(end) + dt.timedelta(days=1)
    assert len(spans) <= 14


def test_cursor_needs_its_own_install(con):
    cur = con.cursor()
    with pytest.raises(duckdb.CatalogException):
        cur.execute(f"SELECT count(*) FROM mp_export({RANGE})")
    mpsql.install(cur, account=mpsql.connection.context_of(con).account, rate_limits=RateLimits.unlimited())
    assert cur.execute("SELECT count(*) FROM mp_export('2024-03-04', '2024-03-04')").fetchone()[0] > 0


def test_legacy_project_secret_auth(emulator):
    legacy = Account(name="legacy", username=None, secret=Secret(emulator.project_secret), api_url=emulator.url)
    c = mpsql.connect(account=legacy, rate_limits=RateLimits.unlimited(), retry=FAST_RETRY)
    assert c.execute("SELECT count(*) FROM mp_export('2024-03-04', '2024-03-04')").fetchone()[0] > 0
    assert "project_id" not in export_requests(emulator)[0]
    c.close()


# -- bad input fails before any request, naming the argument ---------------------------------------------------

@pytest.mark.parametrize(("call", "argument", "text"), [
    ("mp_export('2024-13-01', '2024-03-04')", "from_date", "not a date"),
    ("mp_export('yesterday', '2024-03-04')", "from_date", "not a date"),
    ("mp_export('2024-03-05', '2024-03-04')", "from_date", "after to_date"),
    ("mp_export('2024-03-04', '2024-04-02')", "to_date", "in the future"),
    ("mp_export('1999-12-31', '2024-03-04')", "from_date", "before 2000"),
    ("mp_export('2024-03-04', '2024-03-04', max_events := 100001)", "max_events", "100000"),
    ("mp_export('2024-03-04', '2024-03-04', max_events := 0)", "max_events", "greater than"),
    ("mp_export('2024-03-04', '2024-03-04', events := [1, 2])", "events", "valid"),
    ("mp_export('2024-03-04', '2024-03-04', dedupe := 'perhaps')", "dedupe", "valid"),
    ("mp_export('2024-03-04', '2024-03-04', max_events := true)", "max_events", "true is a boolean, not a number"),
    ("mp_export('2024-03-04', '2024-03-04', dedupe := 1)", "dedupe", "1 is a number, not true or false"),
    ("mp_export('2024-03-04', '2024-03-04', events := '  ')", "events", "is empty"),
    ("mp_export('2024-03-04', '2024-03-04', events := ['Purchase', ''])", "events", "contains an empty name"),
    ("mp_export('2024-03-04', '2024-03-04', filter := ' ')", "filter", "is empty"),
    ("mp_export('2024-03-04', '2024-03-04', account := '')", "account", "is empty"),
    ("mp_export('2024-03-04', '0001-01-01')", "to_date", "before 2000"),
])
def test_bad_arguments_are_named_and_cost_no_request(con, emulator, call, argument, text):
    with pytest.raises(duckdb.Error) as info:
        con.execute(f"SELECT * FROM {call}").fetchall()
    message = str(info.value)
    assert f"mp_export(): argument {argument}:" in message
    assert text in message
    assert export_requests(emulator) == []


def test_unknown_account_is_named(con, emulator):
    with pytest.raises(duckdb.Error, match=r"argument account: .*no-such"):
        con.execute(f"SELECT * FROM mp_export({RANGE}, account := 'no-such')").fetchall()
    assert export_requests(emulator) == []


def test_missing_credentials_say_what_is_missing(emulator, monkeypatch):
    c = mpsql.connect()
    with pytest.raises(duckdb.Error, match="MP_SECRET is not set"):
        c.execute(f"SELECT * FROM mp_export({RANGE})").fetchall()
    monkeypatch.setenv("MP_USERNAME", "someone")
    monkeypatch.setenv("MP_SECRET", "hunter2-secret")
    monkeypatch.setenv("MP_API_URL", emulator.url)
    c2 = mpsql.connect()
    with pytest.raises(duckdb.Error, match="MP_PROJECT_ID") as info:
        c2.execute(f"SELECT * FROM mp_export({RANGE})").fetchall()
    assert "hunter2-secret" not in str(info.value)
    assert export_requests(emulator) == []
    c.close()
    c2.close()


def test_wrong_secret_is_an_auth_error_without_the_secret(emulator):
    bad = Account(name="bad", username=emulator.credentials.username, secret=Secret("wrong-secret-value"),
                  project_id=emulator.credentials.project_id, api_url=emulator.url)
    c = mpsql.connect(account=bad, rate_limits=RateLimits.unlimited(), retry=FAST_RETRY)
    with pytest.raises(duckdb.Error, match="401") as info:
        c.execute(f"SELECT * FROM mp_export({RANGE})").fetchall()
    assert "wrong-secret-value" not in str(info.value)
    assert "Unable to authenticate request" in str(info.value)
    c.close()


def test_today_is_pinned_for_tests():
    assert dt.date(2024, 4, 1) == TODAY
