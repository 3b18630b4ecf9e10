"""The one HTTP client: auth, region routing, the rate budget, retries, and mapping errors to ``MpsqlError``.

Every request mpsql makes goes through ``MixpanelClient._attempt_loop``: it takes a budget slot, sends, retries
429/5xx/dropped connections under ``RetryPolicy`` and turns the final failure into a typed error carrying the
HTTP status and Mixpanel's own message, with the secret redacted. A body is only handed back when it arrived
whole, so callers never see a partial response.
"""

from __future__ import annotations

import base64
import json
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import httpx

from mpsql.api.ratelimit import RateLimits, budget_for
from mpsql.api.regions import Family, base_url
from mpsql.api.retry import RetryPolicy, parse_retry_after
from mpsql.errors import (
    AuthError,
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


class Sink(Protocol):
    """Receives a response body chunk by chunk; ``finish()`` raises if the body was incomplete."""

    def feed(self, chunk: bytes) -> None: ...
    def finish(self) -> None: ...


S = TypeVar("S", bound=Sink)


class Cancelled(MpsqlError):
    """The statement that wanted this response was cancelled (LIMIT reached, Ctrl-C, or an error elsewhere)."""


@dataclass
class RequestRecord:
    """One logical request as ``mp_requests()`` shows it: never a secret, retries folded in."""

    family: str
    endpoint: str
    params: dict[str, str]
    status: int | None = None
    bytes: int = 0
    milliseconds: float = 0.0
    retries: int = 0
    started: float = field(default_factory=time.time)
    error: str | None = None


REQUEST_LOG: deque[RequestRecord] = deque(maxlen=1000)


def _stderr_notice(message: str) -> None:
    print(f"mpsql: {message}", file=sys.stderr, flush=True)


class _BytesSink:
    """Collects a small JSON body in memory."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def feed(self, chunk: bytes) -> None:
        self.parts.append(chunk)

    def finish(self) -> None:
        pass


class MixpanelClient:
    """Talks to one Mixpanel project (or the emulator) as one account."""

    def __init__(self, account: Account, *, limits: RateLimits | None = None, retry: RetryPolicy | None = None,
                 timeout: float = 600.0, notice: Callable[[str], None] = _stderr_notice,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.account = account
        self.limits = limits or RateLimits()
        self.retry = retry or RetryPolicy()
        self.notice = notice
        # Export bodies can stream for many minutes (FACTS.md §1), so the read timeout is generous.
        self._http = httpx.Client(timeout=httpx.Timeout(timeout, connect=30.0), transport=transport,
                                  headers={"User-Agent": USER_AGENT}, follow_redirects=False)
        self._auth_header = "Basic " + base64.b64encode(self._credential_pair().encode()).decode()

    def __repr__(self) -> str:
        return f"MixpanelClient(account={self.account.name!r}, region={self.account.region!r})"

    def close(self) -> None:
        self._http.close()

    # -- what callers use ---------------------------------------------------------------------------------------

    def download(self, family: Family, endpoint: str, params: dict[str, Any],
                 sink_factory: Callable[[bool], S], cancel: threading.Event | None = None) -> S:
        """Stream a body into a fresh sink per attempt (``sink_factory(gzip)``); return the sink of the whole one."""
        return self._attempt_loop(family, endpoint, params, sink_factory, cancel)

    def get_json(self, family: Family, endpoint: str, params: dict[str, Any] | None = None) -> Any:
        """GET a JSON document."""
        sink = self._attempt_loop(family, endpoint, params or {}, lambda gzip: _BytesSink(), None, gzip_ok=False)
        return json.loads(b"".join(sink.parts))

    def check_credentials(self) -> Any:
        """``GET /api/app/me``: 200 and the account's description for a valid credential."""
        return self.get_json("app", "/me")

    # -- the machinery -----------------------------------------------------------------------------------------

    def _credential_pair(self) -> str:
        return ":".join(self.account.basic_auth())

    def _query_params(self, family: Family, params: dict[str, Any]) -> dict[str, str]:
        out = {k: _param_text(v) for k, v in params.items() if v is not None}
        if family != "app" and not self.account.is_legacy:
            out["project_id"] = str(self.account.project_id)
        return out

    def redact(self, text: str) -> str:
        """``text`` with every form of the secret replaced by ``***``."""
        secret = self.account.secret.reveal()
        for form in (self._auth_header.removeprefix("Basic "), self._credential_pair(), secret):
            if form and form != ":":
                text = text.replace(form, "***")
        return text

    def _attempt_loop(self, family: Family, endpoint: str, params: dict[str, Any], sink_factory: Callable[[bool], S],
                      cancel: threading.Event | None, *, gzip_ok: bool = True) -> S:
        base = base_url(self.account.region, family, self.account.api_url)
        url = base + endpoint
        query = self._query_params(family, params)
        record = RequestRecord(family=family, endpoint=endpoint, params=dict(query))
        REQUEST_LOG.append(record)
        budget = budget_for(base, str(self.account.project_id or "legacy"), family, self.limits)
        started = time.monotonic()
        attempt = 0
        headers = {"Authorization": self._auth_header, "Accept-Encoding": "gzip" if gzip_ok else "identity"}
        try:
            while True:
                attempt += 1
                _check(cancel)
                status: int | None = None
                retry_after: float | None = None
                try:
                    with budget.slot(self._announce_budget(family)), \
                            self._http.stream("GET", url, params=query, headers=headers) as resp:
                        status = resp.status_code
                        record.status = status
                        if status == 200:
                            gzip = resp.headers.get("content-encoding", "").lower() == "gzip"
                            sink = sink_factory(gzip)
                            for chunk in resp.iter_raw(1 << 16):
                                _check(cancel)
                                record.bytes += len(chunk)
                                sink.feed(chunk)
                            sink.finish()
                            return sink
                        body = resp.read()
                        retry_after = parse_retry_after(resp.headers.get("retry-after"))
                        if retry_after is not None:
                            budget.last_retry_after = retry_after
                        failure: MpsqlError = self._status_error(status, endpoint, body, retry_after)
                except (httpx.TransportError, StreamTruncated) as exc:
                    if isinstance(exc, StreamTruncated):
                        failure = exc
                    else:
                        failure = TransportError(self.redact(f"{endpoint}: {type(exc).__name__}: {exc}"))
                    status = None
                wait = self.retry.wait(attempt, status, retry_after)
                if wait is None:
                    if attempt > 1:
                        failure.args = (f"{failure} (gave up after {attempt} attempts)",)
                    record.error = str(failure)
                    raise failure
                record.retries += 1
                what = f"HTTP {status}" if status else str(failure)
                self.notice(f"{endpoint}: {what}; retrying in {wait:.1f}s (attempt {attempt + 1} of "
                            f"{self.retry.max_attempts})")
                _sleep(wait, cancel)
        finally:
            record.milliseconds = (time.monotonic() - started) * 1000

    def _announce_budget(self, family: Family) -> Callable[[float, str], None]:
        def announce(delay: float, reason: str) -> None:
            self.notice(f"waiting {delay:.1f}s for the {family} rate budget ({reason})")

        return announce

    def _status_error(self, status: int, endpoint: str, body: bytes, retry_after: float | None) -> MixpanelError:
        text = body.decode("utf-8", "replace")
        message = text.strip()[:500] or "(empty body)"
        try:
            doc = json.loads(text)
            if isinstance(doc, dict):
                message = str(doc.get("error") or doc.get("message") or message)
        except ValueError:
            pass
        message, text = self.redact(message), self.redact(text[:2000])
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


def _param_text(value: Any) -> str:
    """Mixpanel wants list parameters as JSON-encoded strings (FACTS.md §4)."""
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("cancelled")


def _sleep(seconds: float, cancel: threading.Event | None) -> None:
    if cancel is None:
        time.sleep(seconds)
    elif cancel.wait(seconds):
        raise Cancelled("cancelled")
