"""A hostile server echoes the secret in every way it can; no spelling of it reaches an error, a notice, a
``mp_requests()`` row or a file under the cache directory.

The server echoes what the client really sent (the Authorization header decoded), so the test goes through
the real HTTP path: client, retries, redaction, export parse, cache.
"""

from __future__ import annotations

import base64
import json
import os
from urllib.parse import quote, quote_plus

import duckdb
import pytest

import mpsql
from mpsql.api.ratelimit import RateLimits
from mpsql.config import Account, Secret
from mpsql.connection import context_of
from mpsql.emulator.proto import Response, Route
from mpsql.emulator.server import Credentials, _basic_credentials
from tests.conftest import FAST_RETRY, TODAY

USER = "sweep.probe.mp-service-account"
# Distinctive, and with characters that URL-encoding, form-encoding and JSON-escaping all change.
SECRET = "Qx7/Sweep+Probe=Secret~K4zW"


def spellings(secret: str = SECRET, user: str = USER) -> list[str]:
    """Every spelling of the secret the sweep looks for (compared case-insensitively)."""
    pair = f"{user}:{secret}".encode()
    forms = [secret, quote(secret, safe=""), quote_plus(secret), secret.replace("/", "\\/"),
             base64.b64encode(pair).decode().rstrip("="), base64.urlsafe_b64encode(pair).decode().rstrip("="),
             base64.b64encode(secret.encode()).decode().rstrip("=")]
    # A piece of the secret is a leak too: any 8 characters of it in a row.
    forms += [secret[i : i + 8] for i in range(len(secret) - 7)]
    return forms


def leaks(text: str) -> list[str]:
    folded = text.lower()
    return [form for form in spellings() if form.lower() in folded]


def echoes(secret: str, user: str) -> dict[str, str]:
    """The ways a server may repeat the secret back."""
    pair = f"{user}:{secret}"
    return {
        "plain": secret,
        "upper": secret.upper(),
        "swapcase": secret.swapcase(),
        "url-encoded": quote(secret, safe=""),
        "url-encoded-lower": quote(secret, safe="").lower(),
        "form-encoded": quote_plus(secret),
        "base64-pair": base64.b64encode(pair.encode()).decode(),
        "base64-pair-urlsafe": base64.urlsafe_b64encode(pair.encode()).decode(),
        "header": "Basic " + base64.b64encode(pair.encode()).decode(),
    }


def sent_secret(req) -> tuple[str, str]:
    user, pw = _basic_credentials(req.headers.get("Authorization", "")) or ("", "")
    return pw, user


def at_boundary(text: str, boundary: int) -> str:
    """Padding that puts ``text`` across character ``boundary`` of the body (where the client cuts it)."""
    return "p" * (boundary - len(text) // 2) + text


def hostile_json(status: int, shape: str):
    """A handler answering ``status`` with every echo of the secret in a body of ``shape``."""
    def handler(emu, req) -> Response:
        secret, user = sent_secret(req)
        said = " ".join(f"{k}={v}" for k, v in echoes(secret, user).items())
        if shape == "error-at-500":  # the message is cut at 500 characters
            return Response(status=status, json={"error": at_boundary(secret, 500)})
        if shape == "body-at-2000":  # the body is cut at 2000 characters
            return Response(status=status, json={"error": "bad request", "detail": at_boundary(secret, 2000)})
        if shape == "text":
            return Response(status=status, text=f"nginx says: {said} {at_boundary(secret, 2000)}")
        if shape == "cut-echo":  # the server itself cut its echo inside the secret
            return Response(status=status, json={"error": "unknown token " + secret[:-3]})
        return Response(status=status, json={"request": req.echo, "error": f"auth failed for {said}"})
    return handler


def hostile_export(shape: str):
    """An export route whose body carries the secret in a line DuckDB refuses to parse."""
    def handler(emu, req) -> Response:
        secret, user = sent_secret(req)
        good = json.dumps({"event": "e", "properties": {"time": 1_709_510_400, "distinct_id": "u1",
                                                         "$insert_id": "i1"}})
        if shape == "time-is-secret":  # the cast error quotes the value
            bad = json.dumps({"event": "e", "properties": {"time": secret, "distinct_id": "u2"}})
        elif shape == "echoes":
            bad = json.dumps({"event": "e", "properties": {"time": json.dumps(echoes(secret, user))}})
        else:  # not JSON at all
            bad = f"<html>{secret} {quote(secret)}</html>"
        return Response(stream=iter([(good + "\n" + bad + "\n").encode()]))
    return handler


@pytest.fixture
def hostile(emulator):
    """The session emulator, authenticating the sweep's own account and serving the hostile routes."""
    saved_routes, saved_creds = dict(emulator.routes), emulator.credentials
    emulator.credentials = Credentials(USER, SECRET, saved_creds.project_id)
    for status in (200, 400, 401, 500, 503):
        for shape in ("error-at-500", "body-at-2000", "text", "cut-echo", "echo"):
            emulator.add_route(f"/api/query/hostile/{status}/{shape}",
                               Route(hostile_json(status, shape), "query", ("GET", "POST")))
    yield emulator
    emulator.routes.clear()
    emulator.routes.update(saved_routes)
    emulator.credentials = saved_creds


@pytest.fixture
def sweep(hostile):
    """A connection as the sweep's account, with the notices it printed."""
    notices: list[str] = []
    account = Account(name="sweep", username=USER, secret=Secret(SECRET), project_id=hostile.credentials.project_id,
                      region="us", api_url=hostile.url, source="test")
    con = mpsql.connect(account=account, rate_limits=RateLimits.unlimited(), retry=FAST_RETRY,
                        notice=notices.append)
    context_of(con).today = lambda: TODAY
    yield con, notices
    con.close()


def assert_no_secret_anywhere(con, notices: list[str], errors: list[str]) -> None:
    for text in errors:
        assert leaks(text) == [], f"error leaks {leaks(text)}"
    for text in notices:
        assert leaks(text) == [], f"notice leaks {leaks(text)}"
    for row in con.execute("SELECT * FROM mp_requests()").fetchall():
        assert leaks(repr(row)) == [], f"mp_requests row leaks {leaks(repr(row))}"
    cache = os.environ["MPSQL_CACHE_DIR"]
    for folder, _, files in os.walk(cache):
        for name in files:
            with open(os.path.join(folder, name), "rb") as fh:
                text = fh.read().decode("utf-8", "replace")
            assert leaks(name + text) == [], f"cache file {name} leaks"


def failure_texts(con, sql: str) -> list[str]:
    """The text of the statement's error and of the Python exception behind it, with its body."""
    with pytest.raises(duckdb.Error) as info:
        con.execute(sql).fetchall()
    texts = [str(info.value)]
    last = context_of(con).last_error
    if last is not None:
        texts += [str(last), repr(last), str(getattr(last, "body", "")), str(getattr(last, "message", ""))]
    return texts


def test_the_sweep_finds_every_spelling_it_looks_for():
    for name, echo in echoes(SECRET, USER).items():
        assert leaks(f"x {echo} y"), name
    assert leaks(f"x {SECRET[:10]}")  # a surviving prefix is a leak
    assert leaks(SECRET.swapcase())
    assert not leaks("Mixpanel returned HTTP 400: bad request ***")


@pytest.mark.parametrize("status", [200, 400, 401, 500, 503])
@pytest.mark.parametrize("shape", ["error-at-500", "body-at-2000", "text", "cut-echo", "echo"])
def test_an_error_body_echoing_the_secret_reaches_no_error_notice_log_or_cache(sweep, status, shape):
    con, notices = sweep
    sql = f"SELECT * FROM mp_query('hostile/{status}/{shape}')"
    errors = failure_texts(con, sql)
    assert f"/hostile/{status}/{shape}" in errors[0]
    assert_no_secret_anywhere(con, notices, errors)


@pytest.mark.parametrize("shape", ["time-is-secret", "echoes", "not-json"])
def test_an_export_line_that_fails_to_parse_does_not_carry_the_secret(sweep, hostile, shape):
    con, notices = sweep
    hostile.add_route("/api/2.0/export", Route(hostile_export(shape), "export", ("GET",)))
    errors = failure_texts(con, "SELECT * FROM mp_export('2024-03-04', '2024-03-04')")
    if shape == "not-json":  # perhaps a proxy's page: fetched again, and each retry notice quotes the error
        assert "gave up after 4 attempts" in errors[0]
        assert any("retrying" in n for n in notices)
    else:  # JSON, but not an event: the same request would get the same answer, so it fails at once
        assert "line 2 of the body" in errors[0] and "is not a Mixpanel event" in errors[0]
    assert_no_secret_anywhere(con, notices, errors)


@pytest.mark.parametrize("status", [400, 401, 503])
@pytest.mark.parametrize("shape", ["error-at-500", "body-at-2000", "text", "echo"])
def test_an_export_error_body_echoing_the_secret_reaches_no_error_notice_log_or_cache(sweep, hostile, status,
                                                                                      shape):
    con, notices = sweep
    hostile.add_route("/api/2.0/export", Route(hostile_json(status, shape), "export", ("GET",)))
    errors = failure_texts(con, "SELECT * FROM mp_export('2024-03-04', '2024-03-04')")
    assert f"HTTP {status}" in errors[0]
    assert_no_secret_anywhere(con, notices, errors)


def test_a_successful_answer_echoing_the_secret_is_returned_but_never_cached(sweep, hostile):
    con, notices = sweep

    def answer(emu, req) -> Response:
        secret, user = sent_secret(req)
        return Response(json={"echo": echoes(secret, user)})

    def plain(emu, req) -> Response:
        return Response(json={"ok": True})

    hostile.add_route("/api/query/hostile/echo-ok", Route(answer, "query", ("GET",)))
    hostile.add_route("/api/query/hostile/ok", Route(plain, "query", ("GET",)))
    for _ in range(2):
        (response,) = con.execute("SELECT * FROM mp_query('hostile/echo-ok')").fetchone()
        assert SECRET in json.loads(response)["echo"]["plain"]  # data is handed back as the server sent it
        con.execute("SELECT * FROM mp_query('hostile/ok')").fetchall()
    served = [r.path for r in hostile.requests]
    assert served.count("/api/query/hostile/echo-ok") == 2  # asked twice: not cached
    assert served.count("/api/query/hostile/ok") == 1  # the plain answer was cached
    assert any(files for _, _, files in os.walk(os.environ["MPSQL_CACHE_DIR"]))
    assert_no_secret_anywhere(con, notices, [])


# A secret pasted into an argument (by mistake, or by a statement built from untrusted text) is quoted back by
# the argument's error unless masked; every one of these is refused before any request.
SECRET_IN_ARGUMENT = [
    "mp_insights('Login', '2024-03-01', '2024-03-03', math := '{s}')",
    "mp_insights('Login', '2024-03-01', '2024-03-03', compare := '{s}')",
    "mp_insights('Login', '2024-03-01', '2024-03-03', workspace := '{s}')",
    "mp_funnel(NULL, '2024-03-01', '2024-03-03', steps := ['Login', 'Purchase'], step_order := '{s}')",
    "mp_funnel(NULL, '2024-03-01', '2024-03-03', steps := ['Login', 'Purchase'], filter := '{s}')",
    "mp_retention('Sign Up', '2024-03-01', '2024-03-03', unit := '{s}')",
    "mp_segmentation('Login', '2024-03-01', '2024-03-03', type := '{s}')",
    "mp_export('2024-03-01', '2024-03-03', store := '{s}')",
]


@pytest.mark.parametrize("call", SECRET_IN_ARGUMENT)
def test_an_argument_holding_the_secret_is_refused_without_quoting_it(sweep, call):
    con, notices = sweep
    before = con.execute("SELECT count(*) FROM mp_requests()").fetchone()[0]
    errors = failure_texts(con, f"SELECT * FROM {call.format(s=SECRET)}")
    assert "argument" in errors[0] and "***" in errors[0]
    assert con.execute("SELECT count(*) FROM mp_requests()").fetchone()[0] == before
    assert_no_secret_anywhere(con, notices, errors)
