"""Every fault mode of the emulator: mp_export returns exactly the right rows or fails clearly, never between."""

from __future__ import annotations

import datetime as dt
import hashlib

import duckdb
import pytest

import mpsql
from mpsql.api.ratelimit import RateLimits
from mpsql.api.retry import RetryPolicy
from mpsql.emulator import FaultPlan
from tests.integration.test_export import content, expected_content, export_requests

D1, D3 = dt.date(2024, 3, 4), dt.date(2024, 3, 6)
QUERY = ("SELECT event, epoch_ms(time), distinct_id, insert_id, properties "
         "FROM mp_export('2024-03-04', '2024-03-06', window_days := 1)")


def digest(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


@pytest.fixture
def expected(emulator) -> str:
    """The content hash of the deduplicated export: every row, every property."""
    return digest(expected_content(emulator.dataset.export_records(D1, D3, time_in_ms=True)))


def assert_exact(con, expected: str) -> None:
    # Same hash: no row lost, none twice, none altered (a count would miss a row swapped for another).
    assert digest(content(con.execute(QUERY).fetchall())) == expected


@pytest.mark.parametrize("plan", [
    pytest.param(lambda: FaultPlan.rate_limited(times=3, retry_after=1), id="429-with-retry-after"),
    pytest.param(lambda: FaultPlan.rate_limited(times=3, retry_after=None), id="429-without-retry-after"),
    pytest.param(lambda: FaultPlan.server_error(503, times=2), id="503-json"),
    pytest.param(lambda: FaultPlan.server_error(500, times=1, text=True), id="500-text"),
    pytest.param(lambda: FaultPlan.server_error(502, times=2), id="502"),
    pytest.param(lambda: FaultPlan.cut(after_bytes=5000, times=2), id="cut-mid-stream"),
    pytest.param(lambda: FaultPlan.terminated_early(times=2), id="terminated-early"),
    pytest.param(lambda: FaultPlan.garbage(times=1), id="garbage-line"),
])
def test_transient_faults_are_retried_to_the_exact_rows(con, emulator, expected, notices, plan):
    emulator.faults = plan()
    assert_exact(con, expected)
    assert any("retrying" in n for n in notices)


def test_a_window_that_fails_mid_stream_is_fetched_again_without_duplicates(con, emulator, expected):
    emulator.faults = FaultPlan.cut(after_bytes=20_000, times=1)
    assert_exact(con, expected)
    assert len(export_requests(emulator)) == 4  # three windows, one of them twice


@pytest.mark.parametrize("plan", [
    pytest.param(lambda: FaultPlan.split(times=3), id="records-split-across-chunks"),
    pytest.param(lambda: FaultPlan.drip(delay=0.002, chunk_size=16_384, times=3), id="slow-drip"),
])
def test_odd_but_whole_bodies_need_no_retry(con, emulator, expected, notices, plan):
    emulator.faults = plan()
    assert_exact(con, expected)
    assert len(export_requests(emulator)) == 3
    assert not any("retrying" in n for n in notices)


@pytest.mark.parametrize(("plan", "error"), [
    pytest.param(lambda: FaultPlan.rate_limited(times=-1, retry_after=1), "HTTP 429", id="429-forever"),
    pytest.param(lambda: FaultPlan.server_error(503, times=-1), "HTTP 503", id="503-forever"),
    pytest.param(lambda: FaultPlan.cut(after_bytes=3000, times=-1), "RemoteProtocolError|stopped mid-record",
                 id="cut-forever"),
    pytest.param(lambda: FaultPlan.terminated_early(times=-1), "terminated early", id="terminated-forever"),
])
def test_when_retries_run_out_the_statement_fails_and_ctas_leaves_nothing(con, emulator, plan, error):
    con.execute("CREATE TABLE keep AS SELECT 1 AS x")
    emulator.faults = plan()
    with pytest.raises(duckdb.Error, match=error) as info:
        con.execute("CREATE TABLE jan AS SELECT * FROM mp_export('2024-03-04', '2024-03-06', window_days := 1)")
    assert "gave up after 4 attempts" in str(info.value)
    tables = {t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert tables == {"keep"}


def test_failure_in_a_later_window_fails_the_whole_statement(account, emulator):
    # Break the server once the first rows are out: the last window then fails for good, and the statement must
    # fail rather than return the first windows' rows alone.
    def break_server(progress):
        emulator.faults = FaultPlan.cut(after_bytes=2000, times=-1)

    c = mpsql.connect(account=account, rate_limits=RateLimits.unlimited(), on_progress=break_server,
                      retry=RetryPolicy(max_attempts=2, base=0.01, jitter=0))
    mpsql.connection.context_of(c).today = lambda: dt.date(2024, 4, 1)
    with pytest.raises(duckdb.Error, match="gave up after 2 attempts"):
        c.execute("SELECT count(*) FROM mp_export('2024-03-04', '2024-03-06', window_days := 1)").fetchall()
    c.close()


def test_client_budget_waits_instead_of_hitting_the_servers_limit(account, emulator):
    from mpsql.emulator import ServerLimits

    emulator.rate_limits = ServerLimits(export_per_second=2)
    notices: list[str] = []
    from mpsql.api.ratelimit import Limits

    c = mpsql.connect(account=account, notice=notices.append,
                      rate_limits=RateLimits(export=Limits(per_second=2)),
                      retry=RetryPolicy(max_attempts=1))
    mpsql.connection.context_of(c).today = lambda: dt.date(2024, 4, 1)
    assert c.execute("SELECT count(*) FROM mp_export('2024-03-04', '2024-03-07', window_days := 1)"
                     ).fetchone()[0] > 0
    assert all(r.status == 200 for r in emulator.requests)
    assert any("rate budget" in n for n in notices)
    c.close()
