"""The one HTTP client: auth, region routing, the rate budget, retries, and mapping errors to ``MpsqlError``.

Every request mpsql makes goes through ``MixpanelClient._attempt_loop``: it takes a budget slot, sends
(``_send_once``), retries 429/5xx/dropped connections under ``RetryPolicy`` and turns the final failure into a
typed error carrying the HTTP status and Mixpanel's own message, with the secret redacted. A body is only handed
back when it arrived whole, so callers never see a partial response.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import math
import re
import socket
import ssl
import sys
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import quote, quote_plus, urlsplit

import httpx

from mpsql.api.cache import ResponseCache
from mpsql.api.ratelimit import Budget, CancelFlag, Ledger, RateLimits, budget_for
from mpsql.api.regions import Family, base_url
from mpsql.api.retry import DEFAULT_IDLE_TIMEOUT, ENV_DEADLINE, ENV_IDLE, RetryPolicy, env_seconds, parse_retry_after
from mpsql.api.watch import OutOfTime, Watch, watch_client
from mpsql.errors import (
    AuthError,
    Cancelled,
    MixpanelError,
    MpsqlError,
    PlanError,
    QueryError,
    RateLimited,
    ServerError,
    StreamTruncated,
    TransportError,
)

if TYPE_CHECKING:
    from mpsql.config import Account

USER_AGENT = "mpsql/0.1"


@dataclass(frozen=True)
class _Request:
    """What every attempt of one request sends."""

    method: str
    url: str
    endpoint: str
    params: dict[str, str]  # in the URL
    form: dict[str, str] | None  # the body of a POST
    headers: dict[str, str]
    json: dict[str, Any] | None = None  # a JSON object body instead of a form (ad-hoc reports)


@dataclass
class _Failure:
    """An attempt that did not bring a whole body: its error, and whether another attempt could heal it."""

    error: MpsqlError
    status: int | None = None
    retry_after: float | None = None
    final: bool = False


class Sink(Protocol):
    """Receives a response body chunk by chunk; ``finish()`` raises if the body was incomplete."""

    def feed(self, chunk: bytes) -> None: ...
    def finish(self) -> None: ...


S = TypeVar("S", bound=Sink)


@dataclass
class RequestRecord:
    """One logical request as ``mp_requests()`` shows it: never a secret, retries folded in."""

    family: str
    endpoint: str
    params: dict[str, str]
    account: str = ""
    method: str = "GET"
    status: int | None = None
    bytes: int = 0
    rows: int | None = None  # set by the function that turned the body into rows
    milliseconds: float = 0.0
    retries: int = 0
    cache_hit: bool = False
    statement: int | None = None  # which mp_* call asked (the cancel flag it came with carries the number)
    started: float = field(default_factory=time.time)
    error: str | None = None


@dataclass(frozen=True)
class Reply:
    """A whole JSON response and the log record of the request that produced it (or of the cache hit)."""

    body: Any
    record: RequestRecord


REQUEST_LOG: deque[RequestRecord] = deque(maxlen=1000)


def _stderr_notice(message: str) -> None:
    print(f"mpsql: {message}", file=sys.stderr, flush=True)


class _BytesSink:
    """Collects a JSON body in memory, gunzipping it as it arrives when the server compressed it.

    Engage pages are about 0.5 MB of JSON per 1,000 profiles, so JSON is requested gzip-compressed too; a
    compressed body that ends early is a ``StreamTruncated`` (retried), never a half-parsed document.
    """

    def __init__(self, gzip: bool) -> None:
        self.parts: list[bytes] = []
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzip else None

    def feed(self, chunk: bytes) -> None:
        if self._inflate is None:
            self.parts.append(chunk)
            return
        try:
            self.parts.append(self._inflate.decompress(chunk))
        except zlib.error as exc:
            raise StreamTruncated(f"the gzip body is corrupt: {exc}") from None

    def finish(self) -> None:
        if self._inflate is not None and not self._inflate.eof:
            raise StreamTruncated("the gzip body ended early")

    @property
    def body(self) -> bytes:
        return b"".join(self.parts)


class MixpanelClient:
    """Talks to one Mixpanel project (or the emulator) as one account."""

    def __init__(self, account: Account, *, limits: RateLimits | None = None, retry: RetryPolicy | None = None,
                 idle_timeout: float | None = None, notice: Callable[[str], None] = _stderr_notice,
                 transport: httpx.BaseTransport | None = None, cache: ResponseCache | None = None,
                 ledger: Ledger | None = None) -> None:
        """``idle_timeout``: seconds without a byte from the server before an attempt fails (None:
        ``$MPSQL_IDLE_TIMEOUT``, else 600); the retry policy's ``deadline`` caps each request as a whole;
        ``ledger`` keeps the rate budget's request times (shared with other processes)."""
        self.account = account
        self.ledger = ledger
        self.cache = cache if cache is not None else ResponseCache()
        self.limits = limits or RateLimits()
        self.retry = (retry or RetryPolicy()).resolved()
        self.notice = notice
        if idle_timeout is None:
            idle_timeout = env_seconds(ENV_IDLE, DEFAULT_IDLE_TIMEOUT, zero_means_off=False)
        elif not 0 < idle_timeout < math.inf:
            raise ValueError(f"idle_timeout must be a positive number of seconds, not {idle_timeout!r}")
        self.idle_timeout = idle_timeout
        self._http = httpx.Client(timeout=httpx.Timeout(idle_timeout, connect=min(30.0, idle_timeout)),
                                  transport=transport, headers={"User-Agent": USER_AGENT}, follow_redirects=False)
        # Reads wake up to see a cancel or the deadline, even while no byte arrives (see mpsql.api.watch).
        self._watch = Watch()
        watch_client([self._http._transport, *self._http._mounts.values()], self._watch)
        self._auth_header = ("Bearer " + self.account.secret.reveal() if self.account.bearer
                             else "Basic " + base64.b64encode(self._credential_pair().encode()).decode())
        self._forms = _secret_forms(self.account.secret.reveal(), self._credential_pair())
        self._forms_re = re.compile("|".join(re.escape(f) for f, _ in self._forms), re.IGNORECASE)
        self._pieces_re = _pieces_pattern(self.account.secret.reveal())
        # The same forms and pieces as plain lower-case strings: a substring search is far faster on large bodies.
        self._needles = {f.lower() for f, _ in self._forms} | _pieces(self.account.secret.reveal())

    def __repr__(self) -> str:
        return f"MixpanelClient(account={self.account.name!r}, region={self.account.region!r})"

    def close(self) -> None:
        self._http.close()

    # -- what callers use ---------------------------------------------------------------------------------------

    def download(self, family: Family, endpoint: str, params: dict[str, Any],
                 sink_factory: Callable[[bool], S], cancel: CancelFlag | None = None) -> tuple[S, RequestRecord]:
        """Stream a body into a fresh sink per attempt (``sink_factory(gzip)``); return the sink of the whole one
        and the request's log record (the caller fills in ``rows``)."""
        return self._attempt_loop(family, endpoint, self._query_params(family, params), sink_factory, cancel)

    def get_json(self, family: Family, endpoint: str, params: dict[str, Any] | None = None) -> Any:
        """GET a JSON document."""
        return self.fetch_json(family, endpoint, params).body

    def fetch_json(self, family: Family, endpoint: str, params: dict[str, Any] | None = None, *,
                   method: str = "GET", cache_ttl: float | None = None,
                   cancel: CancelFlag | None = None, json_body: dict[str, Any] | None = None) -> Reply:
        """A JSON document by GET, or by POST with the parameters as a form body (Engage, cohorts, JQL), or by
        POST with ``json_body`` as a JSON object body that also carries ``project_id`` (ad-hoc reports;
        docs/mixpanel-api.md, "Ad-hoc reports").

        With ``cache_ttl`` a response stored less than that many seconds ago is answered from the on-disk
        cache, costing no request (the log shows ``cache_hit``). Mixpanel sometimes answers 200 with an
        ``error`` key (Insights; docs/mixpanel-api.md, "Report conventions"): that is raised as a ``QueryError``,
        never cached.
        """
        query = self._query_params(family, params or {})
        shown = _with_body(query, json_body)
        key = self.cache.key(self._cache_scope(), endpoint, method, shown) if cache_ttl else ""
        if cache_ttl:
            hit = self.cache.get(key, cache_ttl)
            if hit is not None:
                record = RequestRecord(family=family, endpoint=endpoint, params=self._shown(shown),
                                       account=self.account.name, method=method, status=200, bytes=hit.size,
                                       cache_hit=True, statement=getattr(cancel, "statement", None))
                REQUEST_LOG.append(record)
                return Reply(hit.body, record)
        sink, record = self._attempt_loop(family, endpoint, query, _BytesSink, cancel, method=method,
                                          json_body=json_body)
        raw = sink.body
        try:
            body = json.loads(raw)
        except ValueError:
            record.error = "the response is not JSON"
            raise QueryError(200, endpoint, "the response is not JSON",
                             self.redact(raw[:4000].decode("utf-8", "replace"), 2000)) from None
        if isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"]:
            record.error = self.redact(body["error"])
            raise QueryError(200, endpoint, record.error, self.redact(json.dumps(body), 2000))
        # An answer echoing the credential is handed back, but never written to disk.
        if cache_ttl and not self._mentions_secret(raw.decode("utf-8", "replace")):
            self.cache.put(key, body, endpoint)
        return Reply(body, record)

    def peek_json(self, family: Family, endpoint: str, params: dict[str, Any] | None = None,
                  method: str = "GET") -> Any:
        """What the cache holds for this request however old, or None; never sends anything (for completion)."""
        entry = self.cache.peek(self.cache.key(self._cache_scope(), endpoint, method,
                                               self._query_params(family, params or {})))
        return None if entry is None else entry.body

    def check_credentials(self) -> Any:
        """``GET /api/app/me``: 200 and the account's description for a valid credential."""
        return self.get_json("app", "/me")

    def budget(self, family: Family) -> Budget:
        """The rate budget this client's requests of ``family`` draw on (shared with other processes)."""
        base = base_url(self.account.region, family, self.account.api_url)
        return budget_for(base, str(self.account.project_id or "legacy"), family, self.limits, self.ledger)

    # -- the machinery -----------------------------------------------------------------------------------------

    def _cache_scope(self) -> str:
        a = self.account
        # A legacy project secret is what picks the project (it sends no project_id), so two secrets under one
        # account name must not share entries: a one-way fingerprint of the secret tells them apart.
        who = a.username or ("oauth:" if a.bearer else "legacy:") + hashlib.sha256(
            b"mpsql-cache|" + a.secret.reveal().encode()).hexdigest()
        return f"{base_url(a.region, 'query', a.api_url)}|{a.project_id}|{a.name}|{who}"

    def _credential_pair(self) -> str:
        if self.account.bearer:  # the token alone: every spelling of it is redacted like a secret
            return self.account.secret.reveal()
        return ":".join(self.account.basic_auth())

    def _query_params(self, family: Family, params: dict[str, Any]) -> dict[str, str]:
        out = {k: _param_text(v) for k, v in params.items() if v is not None}
        if family != "app" and not self.account.is_legacy:
            out["project_id"] = str(self.account.project_id)
        return out

    def _shown(self, query: dict[str, str]) -> dict[str, str]:
        """The parameters as the request log shows them: a secret passed as a parameter is masked."""
        return {k: self.redact(v) for k, v in query.items()}

    def _mentions_secret(self, text: str) -> bool:
        """Whether ``text`` holds any form or piece of the secret that ``redact`` would mask, in any case."""
        folded = text.lower()
        return any(needle in folded for needle in self._needles)

    def redact(self, text: str, limit: int | None = None) -> str:
        """``text`` with every form of the secret replaced by ``***``, then cut to ``limit`` characters.

        Forms: plain, ``user:secret``, base64, URL- and JSON-encoded, in any case; also any run of
        ``_PIECE`` characters of the secret (a server may echo it cut). Cutting comes after redacting (a secret
        cut in half is no longer found), and a text ending in the first characters of a form (the server or an
        earlier cut stopped inside it) has that end masked too.
        """
        if limit is not None:
            text = text[: limit + len(self._forms[0][0])]
        spans = [m.span() for m in self._forms_re.finditer(text)]
        spans += [(m.start(), m.start() + len(m.group(1))) for m in self._pieces_re.finditer(text)]
        if spans:
            text = _masked(text, spans)
        if limit is not None:
            text = text[:limit]
        return _mask_partial_end(text, self._forms)

    def _attempt_loop(self, family: Family, endpoint: str, query: dict[str, str], sink_factory: Callable[[bool], S],
                      cancel: CancelFlag | None, *,
                      method: str = "GET", json_body: dict[str, Any] | None = None) -> tuple[S, RequestRecord]:
        """Send until a whole body arrives or a failure is final; each attempt in a budget slot, within the
        request's deadline (budget waits excluded), with a notice before each retry."""
        request = self._request(family, endpoint, query, method, json_body)
        shown = _with_body(query, json_body)
        record = RequestRecord(family=family, endpoint=endpoint, params=self._shown(shown), account=self.account.name,
                               method=method, statement=getattr(cancel, "statement", None))
        REQUEST_LOG.append(record)
        budget = self.budget(family)
        started = time.monotonic()
        spent = 0.0  # seconds of this request's deadline used: attempts and retry waits, not budget waits
        try:
            attempt = 0
            while True:
                attempt += 1
                _check(cancel)
                with budget.slot(self._announce_budget(family), cancel):
                    begun = time.monotonic()
                    try:
                        outcome = self._send_once(request, sink_factory, record, budget, cancel, attempt,
                                                  deadline=begun + self.retry.deadline - spent)
                    finally:
                        spent += time.monotonic() - begun
                if not isinstance(outcome, _Failure):
                    return outcome, record
                wait = self._retry_wait(outcome, endpoint, attempt, spent)
                record.retries += 1
                what = f"HTTP {outcome.status}" if outcome.status else str(outcome.error)
                self.notice(f"{endpoint}: {what}; retrying in {wait:.1f}s (attempt {attempt + 1} of "
                            f"{self.retry.max_attempts})")
                _sleep(wait, cancel)
                spent += wait
        except Cancelled:
            record.error = "cancelled"
            raise
        except MpsqlError as exc:  # the final failure, or a body the sink refused
            record.error = str(exc)
            raise
        finally:
            record.milliseconds = (time.monotonic() - started) * 1000

    def _request(self, family: Family, endpoint: str, query: dict[str, str], method: str,
                 json_body: dict[str, Any] | None = None) -> _Request:
        url = base_url(self.account.region, family, self.account.api_url) + endpoint
        headers = {"Authorization": self._auth_header, "Accept-Encoding": "gzip"}
        if json_body is not None:
            # A JSON object body; project_id travels in it, not in the URL (docs/mixpanel-api.md, "Ad-hoc reports").
            project = {"project_id": int(query["project_id"])} if "project_id" in query else {}
            return _Request("POST", url, endpoint, {k: v for k, v in query.items() if k != "project_id"}, None,
                            headers, {**json_body, **project})
        if method != "POST":
            return _Request(method, url, endpoint, query, None, headers)
        # Form-encoded body; project_id and workspace_id stay in the query string, where Mixpanel reads them
        # (docs/mixpanel-api.md, "Data views").
        url_params = {k: v for k, v in query.items() if k in ("project_id", "workspace_id")}
        return _Request(method, url, endpoint, url_params, {k: v for k, v in query.items() if k not in url_params},
                        headers)

    def _send_once(self, request: _Request, sink_factory: Callable[[bool], S], record: RequestRecord,
                   budget: Budget, cancel: CancelFlag | None, attempt: int, *, deadline: float) -> S | _Failure:
        """One attempt: the sink of a whole 200 body, or what went wrong and whether another attempt may heal it."""
        endpoint = request.endpoint
        try:
            with self._watch.watching(cancel, deadline), \
                    self._http.stream(request.method, request.url, params=request.params, data=request.form,
                                      json=request.json, headers=request.headers) as resp:
                record.status = resp.status_code
                if resp.status_code == 200:
                    sink = sink_factory(resp.headers.get("content-encoding", "").lower() == "gzip")
                    # Chunks as they arrive (no fixed size to fill), so a cancel is seen promptly even while a slow
                    # body trickles in.
                    for chunk in resp.iter_raw():
                        _check(cancel)
                        record.bytes += len(chunk)
                        sink.feed(chunk)
                    sink.finish()
                    return sink
                body = resp.read()
                retry_after = parse_retry_after(resp.headers.get("retry-after"))
                if retry_after is not None:
                    budget.last_retry_after = retry_after
                return _Failure(self._status_error(resp.status_code, endpoint, body, retry_after),
                                resp.status_code, retry_after)
        except OutOfTime:
            return _Failure(self._out_of_time(endpoint, attempt), final=True)
        except httpx.InvalidURL as exc:  # arguments are checked before this; a backstop, never retried
            return _Failure(MpsqlError(self.redact(
                f"{endpoint}: the request cannot be sent ({exc}): its arguments are too long for a URL (at most "
                f"{URL_ARGUMENTS_LIMIT:,} characters)")), final=True)
        except StreamTruncated as exc:
            return _Failure(exc)
        except httpx.TransportError as exc:
            lasting = _lasting_cause(exc, request.url)
            return _Failure(TransportError(self.redact(f"{endpoint}: {lasting or _describe(exc)}")),
                            final=lasting is not None)

    def _retry_wait(self, failure: _Failure, endpoint: str, attempt: int, spent: float) -> float:
        """Seconds to wait before the next attempt; raises the failure when there is to be none."""
        wait = None if failure.final else self.retry.wait(attempt, failure.status, failure.retry_after)
        error = failure.error
        if wait is not None and self.retry.out_of_time(spent + wait):
            error, wait = self._out_of_time(endpoint, attempt, error), None
        if wait is None:
            if attempt > 1 and not failure.final:
                error.args = (f"{error} (gave up after {attempt} attempts)",)
            raise error
        return wait

    def _out_of_time(self, endpoint: str, attempt: int, last: MpsqlError | None = None) -> TransportError:
        """The error of a request that used up its deadline (``$MPSQL_REQUEST_DEADLINE``)."""
        why = f" (last failure: {last})" if last is not None else ""
        return TransportError(f"{endpoint}: no complete answer within the request deadline of "
                              f"{self.retry.deadline:g}s (${ENV_DEADLINE}), after {attempt} attempt"
                              f"{'s' if attempt > 1 else ''}{why}")

    def _announce_budget(self, family: Family) -> Callable[[float, str], None]:
        def announce(delay: float, reason: str) -> None:
            self.notice(f"waiting {delay:.1f}s for the {family} rate budget ({reason})")

        return announce

    def _status_error(self, status: int, endpoint: str, body: bytes, retry_after: float | None) -> MixpanelError:
        text = body.decode("utf-8", "replace")
        message = text.strip() or "(empty body)"
        try:
            doc = json.loads(text)
            if isinstance(doc, dict):
                message = str(doc.get("error") or doc.get("message") or message)
        except ValueError:
            pass
        message, text = self.redact(message, 500), self.redact(text, 2000)
        if status == 429:
            return RateLimited(status, endpoint, message, text, retry_after=retry_after)
        if status in (401, 403) or "Unable to authenticate request" in message:
            return AuthError(status, endpoint, message, text)
        if status == 402:
            return PlanError(status, endpoint, message, text)
        if status >= 500:
            return ServerError(status, endpoint, message, text)
        if 400 <= status < 500:
            return QueryError(status, endpoint, message, text)
        return MixpanelError(status, endpoint, message, text)


_PARTIAL_MIN = 4  # a shorter trailing prefix of a secret form gives nothing away and would mask ordinary words
_PIECE = 8  # any run this long of the secret (or of its URL-encoding) is masked wherever it appears


def _pieces(secret: str) -> set[str]:
    """Every run of ``_PIECE`` characters of the secret and of its URL-encoding, lower-cased."""
    return {form[i : i + _PIECE].lower() for form in (secret, quote(secret, safe=""))
            for i in range(max(1, len(form) - _PIECE + 1)) if form}


def _pieces_pattern(secret: str) -> re.Pattern[str]:
    """Finds every run of ``_PIECE`` characters of the secret, overlapping (a lookahead), in any case."""
    return re.compile("(?=(" + "|".join(re.escape(p) for p in sorted(_pieces(secret))) + "))", re.IGNORECASE)


def _masked(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with each union of overlapping ``spans`` replaced by one ``***``."""
    out, pos = [], 0
    spans.sort()
    start, end = spans[0]
    for s, e in spans[1:]:
        if s <= end:
            end = max(end, e)
            continue
        out += [text[pos:start], "***"]
        pos, start, end = end, s, e
    out += [text[pos:start], "***", text[end:]]
    return "".join(out)


def _secret_forms(secret: str, pair: str) -> tuple[tuple[str, int], ...]:
    """Every spelling of the secret a server may echo, longest first (so the longest match is masked whole), each
    with the length a trailing start of it must reach to be masked: into the secret, not just ``user:``."""
    user = pair[: len(pair) - len(secret) - 1] if pair.endswith(":" + secret) else ""
    forms: dict[str, int] = {}
    for plain, before in ((secret, ""), (pair, f"{user}:" if user else "")):
        encoders = [lambda t: t, lambda t: quote(t, safe=""), lambda t: quote_plus(t, safe=""),
                    lambda t: json.dumps(t)[1:-1], lambda t: json.dumps(t)[1:-1].replace("/", "\\/"),
                    lambda t: json.dumps(t, ensure_ascii=False)[1:-1]]
        for encode in encoders:
            forms.setdefault(encode(plain), len(encode(before)) + _PARTIAL_MIN)
        for b64 in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = b64(plain.encode()).decode()
            reach = len(before.encode()) * 4 // 3 + 1 + _PARTIAL_MIN  # past the characters encoding ``user:``
            forms.setdefault(encoded, reach)
            forms.setdefault(encoded.rstrip("="), reach)
    return tuple(sorted(((f, n) for f, n in forms.items() if f and f != ":"), key=lambda fn: -len(fn[0])))


def _mask_partial_end(text: str, forms: tuple[tuple[str, int], ...]) -> str:
    """``text`` with a trailing start of a secret form (long enough to hold part of the secret) masked."""
    for form, shortest in forms:
        for size in range(min(len(form), len(text)), shortest - 1, -1):
            if text[-size:].lower() == form[:size].lower():
                return text[:-size] + "***"
    return text


# httpx refuses a URL longer than 65,536 characters: the arguments of a GET must leave room for the rest of it.
URL_ARGUMENTS_LIMIT = 60_000


def url_size(value: Any) -> int:
    """How many characters ``value`` takes as a URL query parameter (percent-encoded, at most)."""
    return len(quote(_param_text(value), safe=""))


def _with_body(query: dict[str, str], json_body: dict[str, Any] | None) -> dict[str, str]:
    """A request's parameters as the log and the cache key see them: the query string plus a JSON body's keys."""
    return query if json_body is None else {**query, **{k: _param_text(v) for k, v in json_body.items()}}


def _param_text(value: Any) -> str:
    """Mixpanel wants list parameters as JSON-encoded strings (docs/mixpanel-api.md, "Report conventions")."""
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _describe(exc: httpx.TransportError) -> str:
    text = str(exc) or "no detail"
    if isinstance(exc, httpx.ReadTimeout):
        text = f"no byte from the server for the idle timeout (${ENV_IDLE}): {text}"
    return f"{type(exc).__name__}: {text}"


def _lasting_cause(exc: BaseException, url: str) -> str | None:
    """Why a transport failure cannot heal within a retry's wait, or None when another attempt may succeed.

    Only failures to connect qualify. A host name that does not resolve and a TLS handshake the server refuses
    (bad certificate, not TLS at all) stay as they are; a connection dropped mid-handshake does not. A refused
    connection means nothing listens there, which lasts for a remote host (a wrong ``api_url``, a proxy or
    firewall) but may be a local server restarting, so loopback is retried.
    """
    if not isinstance(exc, httpx.ConnectError):
        return None
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, socket.gaierror):
            return f"the host name does not resolve ({cause.strerror or cause})"
        if isinstance(cause, ssl.SSLError) and not isinstance(cause, _TLS_DROPPED):
            return f"the TLS connection failed ({getattr(cause, 'reason', None) or cause})"
        if isinstance(cause, ConnectionRefusedError) and not _is_loopback(urlsplit(url).hostname or ""):
            return "the connection was refused (nothing listens at that address)"
        cause = cause.__cause__ or cause.__context__
    return None


_TLS_DROPPED = (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError)  # the peer hung up: may heal


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check(cancel: CancelFlag | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("cancelled")


def _sleep(seconds: float, cancel: CancelFlag | None) -> None:
    if cancel is None:
        time.sleep(seconds)
    elif cancel.wait(seconds):
        raise Cancelled("cancelled")
