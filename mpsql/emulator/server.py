"""The Emulator: a Mixpanel-compatible HTTP/1.1 server on loopback (auth, rate limits, faults, error bodies).

A peer of Mixpanel, deliberately independent of ``mpsql.api``: it shares no model with the client.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import gzip as gzip_mod
import hmac
import json
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from mpsql.emulator import messages
from mpsql.emulator.datagen import Dataset
from mpsql.emulator.eventfile import FileDataset
from mpsql.emulator.faults import Fault, FaultPlan
from mpsql.emulator.projecttime import ProjectTime
from mpsql.emulator.proto import HttpError, Request, RequestLog, Response, Route, resolve
from mpsql.emulator.ratelimit import RateLimiter, ServerLimits
from mpsql.emulator.routes import default_routes
from mpsql.emulator.streaming import GZIP_MIN_BYTES, BodyPlan, ConnectionCut

__all__ = ["Credentials", "Emulator"]

_SECRET_PARAMS = frozenset({"api_secret", "secret", "password", "token", "api_key", "sig"})


@dataclass(frozen=True)
class Credentials:
    """A service account of the emulated project."""

    username: str
    secret: str = field(repr=False)
    project_id: int


class Emulator:
    """A Mixpanel project served over HTTP on loopback; use as a context manager or start()/stop()."""

    def __init__(self, seed: int = 7, today: dt.date | None = None, days: int = 90, users: int = 3000,
                 rate_limits: ServerLimits | None = None, host: str = "127.0.0.1", port: int = 0,
                 retry_after: bool = True, clock: Callable[[], float] | None = None,
                 project_id: int | None = None, faults: FaultPlan | None = None, latency: float = 0.0,
                 throughput: float | None = None, events: str | Path | None = None,
                 data_views: dict[int, str] | None = None, keep_days: bool = False,
                 day_folder: Path | None = None, timezone: str = "UTC", legacy_time: bool = False) -> None:
        self.seed = seed
        # The project's time zone and time mode (projecttime): reports bucket by its days; a legacy project
        # (created before 2023) exports wall-clock times and project days. ``today`` is the project's today.
        self.project_time = ProjectTime(timezone, legacy_time)
        if today is None and events is None:
            today = self.project_time.today()
        # Seconds every API request waits before it is answered: Mixpanel's round trip, for benchmarks.
        self.latency = latency
        # Bytes a second one streamed response may go out at (None: as fast as the socket takes them). Mixpanel's
        # export servers stream each response at a bounded rate; benchmarks use this to show concurrent windows.
        self.throughput = throughput
        # events: serve a JSONL export file as the project (eventfile) instead of the synthetic data; keep_days /
        # day_folder: every generated day is made once (in memory, and on disk with a folder).
        if events is not None:
            self.dataset: Dataset = FileDataset(events, today)
        elif keep_days or day_folder is not None:
            from mpsql.emulator.daycache import CachedDataset

            self.dataset = CachedDataset(seed, today or dt.datetime.now(dt.UTC).date(), days, users, day_folder)
        else:
            self.dataset = Dataset(seed, today or dt.datetime.now(dt.UTC).date(), days, users)
        self.today: dt.date = self.dataset.today
        self.rate_limits = rate_limits if rate_limits is not None else ServerLimits()
        self.host, self.port = host, port
        self.retry_after = retry_after
        self.clock = clock or time.monotonic
        self.limiter = RateLimiter(lambda: self.clock())
        rng = random.Random(f"mpsql-emulator:{seed}:credentials")
        pid = project_id if project_id is not None else 3_000_000 + seed % 1_000_000
        self.credentials = Credentials(f"emulator.{rng.getrandbits(24):06x}.mp-service-account",
                                       f"{rng.getrandbits(128):032x}", pid)
        self.project_secret = f"{rng.getrandbits(128):032x}"
        # An OAuth access token of the project's user (``Authorization: Bearer``), as MP_OAUTH_TOKEN carries.
        self.oauth_token = f"mp-oauth-{rng.getrandbits(128):032x}"
        # Data views (workspaces) by id: every project has its global one ("All Project Data"); ``data_views``
        # adds more. Query API calls may name one (``workspace_id``); an unknown id is a 403. Every data view
        # of the emulator sees all of the project's data.
        self.data_views: dict[int, str] = {pid * 10 + 1: "All Project Data", **(data_views or {})}
        self.organization_id = 900_000 + seed % 100_000
        self.faults = faults or FaultPlan()
        self.routes: dict[str, Route] = default_routes()
        self._log: list[RequestLog] = []
        self._log_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> Emulator:
        """Bind and serve in a daemon thread; returns once the server loop is running."""
        if self._server is not None:
            return self
        server = _Server((self.host, self.port), _Handler)
        server.emulator = self
        ready = threading.Event()

        def run() -> None:
            ready.set()
            server.serve_forever(poll_interval=0.05)

        self._server = server
        self._thread = threading.Thread(target=run, name=f"mpsql-emulator-{server.server_address[1]}",
                                        daemon=True)
        self._thread.start()
        ready.wait()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Block until interrupted (the CLI's loop)."""
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(0.5)
        finally:
            self.stop()

    @property
    def url(self) -> str:
        """Base URL every API family is served under."""
        if self._server is None:
            raise RuntimeError("emulator is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # ---------------------------------------------------------------- knobs

    def set_faults(self, *faults: Fault, **kw: Any) -> None:
        """Replace the fault plan: ``set_faults(Fault(...))`` or ``set_faults(kind="cut")``."""
        self.faults = FaultPlan(*faults, **kw)

    def reset(self) -> None:
        """Clear faults, rate-limit counters and the request log."""
        self.faults = FaultPlan()
        self.limiter.reset()
        with self._log_lock:
            self._log.clear()

    @property
    def requests(self) -> list[RequestLog]:
        """Snapshot of the request log (oldest first)."""
        with self._log_lock:
            return list(self._log)

    def add_route(self, path: str, route: Route) -> None:
        """Serve ``path`` with ``route`` on this instance."""
        self.routes[path] = route

    def _record(self, entry: RequestLog) -> None:
        with self._log_lock:
            self._log.append(entry)

    # ---------------------------------------------------------------- auth

    def authenticate(self, req: Request, family: str) -> None:
        """Check credentials for ``family``; sets req.project_id / req.auth_kind or raises HttpError."""
        header = req.headers.get("Authorization", "")
        user_pw = _basic_credentials(header)
        c = self.credentials
        bearer = _bearer_token(header)
        if user_pw is None and bearer is None:
            raise HttpError(401, messages.APP_AUTH_FAILED if family == "app" else messages.AUTH_FAILED)
        user, pw = user_pw or ("", "")
        # An OAuth token stands for a user of the project: it needs project_id like a service account.
        is_sa = (user == c.username and pw == c.secret) or (
            bearer is not None and hmac.compare_digest(bearer.encode(), self.oauth_token.encode()))
        is_secret = family != "app" and user == self.project_secret and pw == ""
        if not (is_sa or is_secret):
            raise HttpError(401, messages.APP_AUTH_FAILED if family == "app" else messages.AUTH_FAILED)
        raw_pid = req.params.get("project_id", "")
        if family == "app":
            req.auth_kind, req.project_id = "service_account", None
            return
        if is_sa and raw_pid == "":
            raise HttpError(401, messages.PROJECT_ID_REQUIRED)
        if raw_pid != "" and raw_pid.strip() != str(c.project_id):
            raise HttpError(403, messages.PROJECT_FORBIDDEN)
        req.auth_kind = "service_account" if is_sa else "project_secret"
        req.project_id = c.project_id
        raw_wid = req.params.get("workspace_id", "").strip()
        if family == "query" and raw_wid:  # export is project-wide and ignores data views
            if not raw_wid.isdigit():
                raise HttpError(400, messages.WORKSPACE_ID_INVALID)
            if int(raw_wid) not in self.data_views:
                raise HttpError(403, messages.WORKSPACE_FORBIDDEN)


def _check_names(pairs: list[tuple[str, str]]) -> None:
    """A name given twice, or in the ``name[]`` array form, is a 400: the emulator reads one value per name, and
    keeping only one of them would answer a question nobody asked."""
    seen: set[str] = set()
    for name, _ in pairs:
        if name.endswith("]") and "[" in name:
            raise HttpError(400, f"parameter {name!r}: the name[] form is not understood; send a list as JSON text")
        if name in seen:
            raise HttpError(400, f"parameter {name!r} is given more than once")
        seen.add(name)


def _body_params(content_type: str, body: bytes, params: dict[str, str]) -> None:
    """Add a request body's parameters to ``params`` (the query string's value wins for a name in both).

    A form body (``application/x-www-form-urlencoded``) and a JSON object body (``application/json``: a string
    value as is, any other value as its JSON text) are understood. Any other non-empty body is a 400: a
    parameter the emulator cannot read must never be ignored silently (an unfiltered answer looks right).
    """
    if not body.strip():
        return
    kind = content_type.split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise HttpError(400, "request body is not UTF-8 text") from None
    if kind == "application/x-www-form-urlencoded":
        pairs = parse_qsl(text, keep_blank_values=True)
        _check_names(pairs)
        for k, v in pairs:
            params.setdefault(k, v)
        return
    if kind == "application/json":
        try:
            doc = json.loads(text)
        except ValueError:
            raise HttpError(400, "request body is not valid JSON") from None
        if not isinstance(doc, dict):
            raise HttpError(400, "a JSON request body must be an object of parameters")
        for k, v in doc.items():
            params.setdefault(str(k), v if isinstance(v, str) else json.dumps(v, separators=(",", ":")))
        return
    raise HttpError(400, f"unsupported request body encoding {kind or '(no Content-Type)'!r}: send "
                         "parameters in the query string, as a form (application/x-www-form-urlencoded) or as "
                         "a JSON object (application/json)")


def _bearer_token(header: str) -> str | None:
    """The token of ``Bearer <token>``, else None."""
    scheme, _, rest = header.strip().partition(" ")
    return rest.strip() or None if scheme.lower() == "bearer" else None


def _basic_credentials(header: str) -> tuple[str, str] | None:
    """(user, password) from ``Basic <base64>`` or the plain ``Basic user:secret`` form."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "basic" or not rest.strip():
        return None
    rest = rest.strip()
    decoded: str | None
    try:
        decoded = base64.b64decode(rest, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = None
    if decoded is None or ":" not in decoded:
        decoded = rest
    if ":" not in decoded:
        return None
    user, _, pw = decoded.partition(":")
    return user, pw


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    emulator: Emulator


def _family_of(path: str) -> str:
    if path.startswith("/_emulator/"):
        return "control"
    if path.startswith("/api/app/"):
        return "app"
    return "export" if path.startswith("/api/2.0/export") else "query"


class _Handler(BaseHTTPRequestHandler):
    """Parses a request, runs faults, route, auth, rate limit and handler, and writes the answer."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    # ------------------------------------------------------------ pipeline

    def _dispatch(self) -> None:
        emu = self.server.emulator
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        pairs = parse_qsl(split.query, keep_blank_values=True)
        params = dict(pairs)
        encoding_error = None
        try:
            _check_names(pairs)
            _body_params(self.headers.get("Content-Type") or "", body, params)
        except HttpError as e:
            encoding_error = e
        req = Request(self.command, split.path, split.query, params, self.headers, body)
        route, req.path_params = resolve(emu.routes, req.path)
        if route is None and len(req.path) > 1 and req.path.endswith("/"):
            # Mixpanel serves /api/query/engage/ as /api/query/engage: real clients send the slash.
            stripped = req.path.rstrip("/")
            route, req.path_params = resolve(emu.routes, stripped)
            if route is not None:
                req.path = stripped
        family = route.family if route else _family_of(req.path)
        self._sent, self._gzip, self._status = 0, False, 0
        self._admitted_family: str | None = None
        self._logged = family == "control"
        self._req, self._params = req, params
        try:
            if encoding_error is not None and family != "control":
                raise encoding_error
            self._run(emu, req, route, family)
        except HttpError as e:
            self._send_error(req, family, e)
        except Exception as e:  # a bug in a handler: answer 500 if nothing was sent yet
            if not self._status:
                self._send_error(req, family, HttpError(500, f"Internal Server Error: {type(e).__name__}"))
            self.close_connection = True
        finally:
            if self._admitted_family:
                emu.limiter.release(self._admitted_family, req.project_id or 0)
            self._log_now()

    def _log_now(self) -> None:
        """Append the request log entry once, just before the response's last bytes leave."""
        if self._logged:
            return
        self._logged = True
        req = self._req
        safe = {k: v for k, v in self._params.items() if k.lower() not in _SECRET_PARAMS}
        days = None
        if self.server.emulator.routes.get(req.path) is not None and req.path.endswith("/export"):
            days = f"{safe.get('from_date', '')}..{safe.get('to_date', '')}"
        self.server.emulator._record(RequestLog(req.method, req.path, safe, self._status, self._sent,
                                                self._gzip, dt.datetime.now(dt.UTC), days))

    def _run(self, emu: Emulator, req: Request, route: Route | None, family: str) -> None:
        if family != "control":
            fault = emu.faults.take_status(req.path)
            if fault is not None:
                self._send_fault(req, family, fault)
                return
        if route is None:
            if family == "app":
                raise HttpError(404, messages.NOT_FOUND)
            raise HttpError(400, messages.INVALID_ENDPOINT)
        if req.method not in route.methods:
            raise HttpError(405 if family in ("app", "control") else 400, messages.INVALID_ENDPOINT)
        if family != "control":
            emu.authenticate(req, family)
        if family in ("export", "query"):
            adm = emu.limiter.admit(family, req.project_id or 0, emu.rate_limits)
            if not adm.ok:
                headers = {"Retry-After": str(adm.retry_after)} if emu.retry_after else {}
                raise HttpError(429, adm.message, headers)
            self._admitted_family = family
        if emu.latency and family != "control":
            time.sleep(emu.latency)
        resp = route.handler(emu, req)
        self._send_response(req, resp)

    # ------------------------------------------------------------ writers

    def _send_bytes(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None,
                    allow_gzip: bool = True) -> None:
        gz = allow_gzip and self._accepts_gzip() and len(body) > GZIP_MIN_BYTES
        if gz:
            body = gzip_mod.compress(body, mtime=0)
        self._status, self._gzip = status, gz
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if gz:
            self.send_header("Content-Encoding", "gzip")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self._sent = len(body)
        self._log_now()
        self.wfile.write(body)

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self._send_bytes(status, body, "application/json", headers)

    def _send_error(self, req: Request, family: str, e: HttpError) -> None:
        if family in ("app", "control"):
            self._send_json(e.status, {"status": "error", "error": e.message}, e.headers)
        else:
            self._send_json(e.status, {"request": req.echo, "error": e.message}, e.headers)

    def _send_fault(self, req: Request, family: str, fault: Fault) -> None:
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        if fault.body is not None:
            self._send_bytes(fault.status, fault.body.encode("utf-8"), "text/plain; charset=utf-8", headers)
            return
        text = _FAULT_TEXT.get(fault.status, "Internal Server Error")
        if fault.status == 429:
            text = messages.query_rate_limited(self.server.emulator.credentials.project_id, 1, 5, 61, 60)
        if fault.json_body:
            self._send_error(req, family, HttpError(fault.status, text, headers))
        else:
            self._send_bytes(fault.status, f"{fault.status} {text}\n".encode(), "text/plain; charset=utf-8",
                             headers)

    def _send_response(self, req: Request, resp: Response) -> None:
        if resp.stream is None:
            if resp.text is not None:
                self._send_bytes(resp.status, resp.text.encode("utf-8"),
                                 resp.content_type or "text/plain; charset=utf-8", resp.headers)
            else:
                self._send_json(resp.status, resp.json, resp.headers)
            return
        faults = self.server.emulator.faults.take_stream(req.path)
        plan = BodyPlan(resp.stream, faults, self._accepts_gzip(), throughput=self.server.emulator.throughput)
        self._status, self._gzip = resp.status, plan.gzip
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type or "text/plain; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        if plan.gzip:
            self.send_header("Content-Encoding", "gzip")
        for k, v in resp.headers.items():
            self.send_header(k, v)
        self.end_headers()
        try:
            plan.write(self.wfile, self._on_stream_end)
        except ConnectionCut:
            self._abort()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            self._sent = plan.bytes_sent

    def _on_stream_end(self, sent: int) -> None:
        self._sent = sent
        self._log_now()

    def _abort(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _accepts_gzip(self) -> bool:
        enc = self.headers.get("Accept-Encoding") or ""
        return any(part.split(";")[0].strip().lower() == "gzip" for part in enc.split(","))


_FAULT_TEXT = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
               504: "Gateway Timeout", 429: "Too Many Requests"}
