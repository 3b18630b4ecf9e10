"""No server can hold a statement: Ctrl-C is seen while waiting for an answer, an idle connection and a request
that runs too long fail with a clear error, and failures that cannot heal are not retried."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time

import duckdb
import httpcore
import httpx
import pytest

import mpsql
from mpsql.api.client import MixpanelClient, _lasting_cause
from mpsql.api.ratelimit import RateLimits
from mpsql.api.retry import RetryPolicy
from mpsql.config import Account, Secret
from mpsql.connection import context_of
from mpsql.emulator import FaultPlan
from mpsql.emulator.proto import Response, Route
from mpsql.errors import Cancelled, ConfigError, TransportError
from tests.conftest import FAST_RETRY, TODAY
from tests.integration.test_interrupt import run_in_thread, wait_for


@pytest.fixture
def silent_server():
    """A server that accepts connections (the kernel completes them) and never sends a byte."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


def connect_to(url: str, retry: RetryPolicy = FAST_RETRY, notices: list[str] | None = None):
    account = Account(name="hang", username="sa.hang", secret=Secret("hang-secret-value"), project_id=1,
                      region="us", api_url=url, source="test")
    con = mpsql.connect(account=account, rate_limits=RateLimits.unlimited(), retry=retry,
                        notice=(notices if notices is not None else []).append)
    context_of(con).today = lambda: TODAY
    return con


@pytest.mark.parametrize("sql", [
    pytest.param("SELECT * FROM mp_events()", id="mp_events"),
    pytest.param("SELECT count(*) FROM mp_export('2024-03-04', '2024-03-04')", id="mp_export"),
])
def test_interrupt_stops_a_statement_waiting_on_a_server_that_never_answers(silent_server, sql):
    con = connect_to(silent_server)
    try:
        thread, outcome = run_in_thread(con, sql)
        wait_for(lambda: context_of(con).running)
        time.sleep(0.5)  # the request is sent and waits for the response headers
        interrupted = time.monotonic()
        mpsql.interrupt(con)
        thread.join(timeout=10)
        assert not thread.is_alive()
        assert time.monotonic() - interrupted < 3
        assert isinstance(outcome[0], duckdb.Error)
        assert isinstance(context_of(con).last_error, Cancelled | KeyboardInterrupt)
        assert con.execute("SELECT 42").fetchall() == [(42,)]
    finally:
        con.close()


def test_a_server_that_never_answers_fails_after_the_idle_timeout(silent_server, monkeypatch):
    monkeypatch.setenv("MPSQL_IDLE_TIMEOUT", "0.5")
    con = connect_to(silent_server, RetryPolicy(max_attempts=2, base=0.01, jitter=0))
    started = time.monotonic()
    with pytest.raises(duckdb.Error, match=r"ReadTimeout: no byte from the server for the idle timeout "
                                           r"\(\$MPSQL_IDLE_TIMEOUT\).*gave up after 2 attempts"):
        con.execute("SELECT * FROM mp_events()").fetchall()
    assert time.monotonic() - started < 5
    con.close()


def test_the_idle_timeout_is_a_client_argument_too(silent_server):
    account = Account(name="hang", username="sa.hang", secret=Secret("hang-secret-value"), project_id=1,
                      region="us", api_url=silent_server, source="test")
    client = MixpanelClient(account, retry=RetryPolicy(max_attempts=1), idle_timeout=0.3, notice=lambda _: None)
    started = time.monotonic()
    with pytest.raises(TransportError, match="idle timeout"):
        client.get_json("query", "/events/names")
    assert time.monotonic() - started < 3
    client.close()


def trickle(emu, req) -> Response:
    """A valid export line every 50 ms, for ever: each read succeeds, so only a deadline stops it."""
    def lines():
        n = 0
        while True:
            n += 1
            yield (json.dumps({"event": "e", "properties": {"time": 1_709_510_400 + n, "distinct_id": "u",
                                                             "$insert_id": str(n)}}) + "\n").encode()
            time.sleep(0.05)
    return Response(stream=lines())


@pytest.fixture
def trickling(emulator):
    saved = dict(emulator.routes)
    emulator.add_route("/api/2.0/export", Route(trickle, "export", ("GET",)))
    yield emulator
    emulator.routes.clear()
    emulator.routes.update(saved)


def test_a_server_trickling_valid_lines_for_ever_fails_at_the_request_deadline(account, trickling):
    con = mpsql.connect(account=account, rate_limits=RateLimits.unlimited(),
                        retry=RetryPolicy(max_attempts=4, base=0.01, jitter=0, deadline=1.5))
    context_of(con).today = lambda: TODAY
    started = time.monotonic()
    with pytest.raises(duckdb.Error, match=r"no complete answer within the request deadline of 1.5s "
                                           r"\(\$MPSQL_REQUEST_DEADLINE\), after 1 attempt"):
        con.execute("SELECT count(*) FROM mp_export('2024-03-04', '2024-03-04')").fetchall()
    assert time.monotonic() - started < 5
    con.close()


def test_the_request_deadline_is_read_from_the_environment(account, trickling, monkeypatch):
    monkeypatch.setenv("MPSQL_REQUEST_DEADLINE", "1")
    con = mpsql.connect(account=account, rate_limits=RateLimits.unlimited(), retry=FAST_RETRY)
    context_of(con).today = lambda: TODAY
    started = time.monotonic()
    with pytest.raises(duckdb.Error, match=r"request deadline of 1s"):
        con.execute("SELECT count(*) FROM mp_export('2024-03-04', '2024-03-04')").fetchall()
    assert time.monotonic() - started < 4
    con.close()


def test_retries_stop_when_the_next_wait_would_pass_the_deadline(account, emulator):
    emulator.faults = FaultPlan.server_error(503, times=-1)
    notices: list[str] = []
    con = mpsql.connect(account=account, rate_limits=RateLimits.unlimited(), notice=notices.append,
                        retry=RetryPolicy(max_attempts=50, base=0.4, cap=0.4, jitter=0, deadline=1.0))
    context_of(con).today = lambda: TODAY
    with pytest.raises(duckdb.Error, match=r"request deadline of 1s.*last failure: Mixpanel /events/names "
                                           r"returned HTTP 503"):
        con.execute("SELECT * FROM mp_events()").fetchall()
    assert 2 <= len(emulator.requests) <= 3  # 0.4 s apart within one second, not 50
    con.close()


def test_a_host_name_that_does_not_resolve_fails_at_once(notices):
    con = connect_to("http://no-such-host.invalid", RetryPolicy(max_attempts=6, base=1, jitter=0), notices)
    started = time.monotonic()
    with pytest.raises(duckdb.Error, match="the host name does not resolve") as info:
        con.execute("SELECT * FROM mp_events()").fetchall()
    assert time.monotonic() - started < 5
    assert notices == []  # no retry
    assert "gave up" not in str(info.value)
    con.close()


def test_a_tls_failure_fails_at_once(emulator, notices):
    # The emulator speaks plain HTTP: a TLS handshake with it can never succeed.
    con = connect_to(emulator.url.replace("http://", "https://"), RetryPolicy(max_attempts=6, base=1, jitter=0),
                     notices)
    with pytest.raises(duckdb.Error, match="the TLS connection failed"):
        con.execute("SELECT * FROM mp_events()").fetchall()
    assert notices == []
    con.close()


def test_a_refused_connection_is_retried_on_loopback_only():
    refused = httpx.ConnectError("[Errno 111] Connection refused")
    refused.__cause__ = ConnectionRefusedError(111, "Connection refused")
    assert _lasting_cause(refused, "http://127.0.0.1:9/api") is None  # a local server may be restarting
    assert _lasting_cause(refused, "http://localhost:9/api") is None
    assert _lasting_cause(refused, "https://mixpanel.example.com/api") == \
        "the connection was refused (nothing listens at that address)"
    assert _lasting_cause(httpx.ReadTimeout("timed out"), "https://mixpanel.example.com/api") is None


def test_a_tls_handshake_dropped_by_the_peer_is_retried_but_a_refused_one_is_not():
    dropped = httpx.ConnectError("EOF occurred in violation of protocol")
    dropped.__cause__ = ssl.SSLEOFError(8, "EOF occurred in violation of protocol")
    assert _lasting_cause(dropped, "https://mixpanel.example.com/api") is None
    bad_cert = httpx.ConnectError("certificate verify failed")
    bad_cert.__cause__ = ssl.SSLCertVerificationError(1, "certificate verify failed")
    assert _lasting_cause(bad_cert, "https://mixpanel.example.com/api").startswith("the TLS connection failed")
    mid_body = httpx.ReadError("bad record mac")
    mid_body.__cause__ = ssl.SSLError(1, "bad record mac")
    assert _lasting_cause(mid_body, "https://mixpanel.example.com/api") is None  # not while connecting


def test_a_refused_loopback_connection_is_retried(notices):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    con = connect_to(f"http://127.0.0.1:{port}", notices=notices)
    with pytest.raises(duckdb.Error, match=r"ConnectError.*gave up after 4 attempts"):
        con.execute("SELECT * FROM mp_events()").fetchall()
    assert len(notices) == 3
    con.close()


@pytest.mark.parametrize(("variable", "value"), [
    ("MPSQL_IDLE_TIMEOUT", "soon"), ("MPSQL_IDLE_TIMEOUT", "0"), ("MPSQL_IDLE_TIMEOUT", "-5"),
    ("MPSQL_IDLE_TIMEOUT", "nan"), ("MPSQL_REQUEST_DEADLINE", "an hour"), ("MPSQL_REQUEST_DEADLINE", "-1"),
    ("MPSQL_REQUEST_DEADLINE", "inf"),
])
def test_a_bad_timeout_setting_is_a_configuration_error_naming_the_variable(con, emulator, monkeypatch,
                                                                           variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(duckdb.Error, match=rf"\${variable} must be a positive number of seconds"):
        con.execute("SELECT * FROM mp_events()").fetchall()
    assert isinstance(context_of(con).last_error, ConfigError)
    assert emulator.requests == []


def test_a_request_deadline_of_zero_turns_it_off(account, emulator, monkeypatch):
    monkeypatch.setenv("MPSQL_REQUEST_DEADLINE", "0")
    client = MixpanelClient(account, limits=RateLimits.unlimited(), notice=lambda _: None)
    assert client.retry.deadline == float("inf")
    assert client.get_json("query", "/events/names", {"type": "general"})
    client.close()


def test_the_defaults_are_an_hour_per_request_and_ten_minutes_idle(account):
    client = MixpanelClient(account, notice=lambda _: None)
    assert (client.retry.deadline, client.idle_timeout) == (3600.0, 600.0)
    client.close()


def test_a_cancel_reaches_a_read_between_slices_of_a_thread_waiting_on_its_own():
    # The watch is per thread: a cancel flag set on one thread's request stops that request only.
    from mpsql.api.watch import Watch

    watch, flag = Watch(), threading.Event()
    seen: list[float] = []

    def other() -> None:
        seen.append(watch.until)

    with watch.watching(flag, 123.0):
        t = threading.Thread(target=other)
        t.start()
        t.join()
        flag.set()
        with pytest.raises(Cancelled):
            watch.check()
    assert seen == [float("inf")]


class _SlowConnect(httpcore.NetworkBackend):
    """A backend whose connect blocks like a slow name lookup or a host that drops the SYN."""

    def __init__(self) -> None:
        self.closed = threading.Event()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        time.sleep(1.0)
        closed = self.closed

        class Stream(httpcore.NetworkStream):
            def close(self) -> None:
                closed.set()

        return Stream()


def test_a_cancel_reaches_a_connect_that_blocks():
    from mpsql.api.watch import Watch, WatchedBackend

    watch, flag, slow = Watch(), threading.Event(), _SlowConnect()
    backend = WatchedBackend(slow, watch)
    threading.Timer(0.2, flag.set).start()
    started = time.monotonic()
    with watch.watching(flag, float("inf")), pytest.raises(Cancelled):
        backend.connect_tcp("mixpanel.example.com", 443, timeout=30)
    assert time.monotonic() - started < 0.6
    assert slow.closed.wait(3)  # the connection that completed after the cancel is closed, not leaked


def test_a_deadline_reaches_a_connect_that_blocks():
    from mpsql.api.watch import OutOfTime, Watch, WatchedBackend

    watch = Watch()
    backend = WatchedBackend(_SlowConnect(), watch)
    started = time.monotonic()
    with watch.watching(None, time.monotonic() + 0.3), pytest.raises(OutOfTime):
        backend.connect_tcp("mixpanel.example.com", 443, timeout=30)
    assert time.monotonic() - started < 0.7


def test_the_client_connection_pool_is_watched(account):
    # httpx offers no public hook for the network backend: this fails first if an upgrade moves the private one.
    from mpsql.api.watch import WatchedBackend

    client = MixpanelClient(account, notice=lambda _: None)
    assert isinstance(client._http._transport._pool._network_backend, WatchedBackend)
    client.close()
