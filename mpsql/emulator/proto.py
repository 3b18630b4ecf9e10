"""Request/Response/Route types shared by the server and the route modules (no HTTP wiring here)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

if TYPE_CHECKING:
    from mpsql.emulator.server import Emulator

__all__ = ["FAMILIES", "HttpError", "Request", "RequestLog", "Response", "Route", "query_routes", "resolve"]

FAMILIES = ("export", "query", "app", "control")


@dataclass
class Request:
    """One parsed HTTP request as a route handler sees it."""

    method: str
    path: str
    query: str  # raw query string, echoed in error bodies
    params: dict[str, str]  # query string (+ form body), first value per name
    headers: Mapping[str, str]
    body: bytes = b""
    project_id: int | None = None  # set by auth
    auth_kind: str | None = None  # "service_account" | "project_secret"
    path_params: dict[str, str] = field(default_factory=dict)  # ``{name}`` segments of a pattern route, decoded

    @property
    def echo(self) -> str:
        """Path plus query string, as Mixpanel echoes it in the ``request`` field of errors."""
        return f"{self.path}?{self.query}" if self.query else self.path


@dataclass
class Response:
    """A handler's answer: a small JSON/text body, or a JSONL ``stream`` of lines sent chunked."""

    status: int = 200
    json: Any = None
    text: str | None = None
    stream: Iterable[bytes] | None = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


class HttpError(Exception):
    """Raised by handlers; the server renders it in the route family's error shape."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


Handler = Callable[["Emulator", Request], Response]


@dataclass(frozen=True)
class Route:
    """A path's handler, its family (auth, rate-limit budget and error shape) and allowed methods.

    A route table key may hold ``{name}`` segments (``/api/app/projects/{project_id}/schemas``): such a key
    matches any one non-empty path segment there, handed to the handler in ``Request.path_params``.
    """

    handler: Handler
    family: str
    methods: tuple[str, ...] = ("GET",)

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"unknown route family {self.family!r}")


@dataclass(frozen=True)
class RequestLog:
    """One served request (control-plane requests are not logged; params never hold secrets)."""

    method: str
    path: str
    params: dict[str, str]
    status: int
    bytes_sent: int
    gzip: bool
    at: dt.datetime | None = None
    days: str | None = None  # export: the days the request covered, 'YYYY-MM-DD..YYYY-MM-DD'


def resolve(routes: Mapping[str, Route], path: str) -> tuple[Route | None, dict[str, str]]:
    """The route serving ``path`` and its path parameters: an exact key first, else the matching pattern
    key with the most literal segments (so ``.../annotations/tags`` beats ``.../annotations/{id}``)."""
    exact = routes.get(path)
    if exact is not None:
        return exact, {}
    parts = path.split("/")
    best: tuple[int, Route, dict[str, str]] | None = None
    for key, route in routes.items():
        if "{" not in key:
            continue
        pattern = key.split("/")
        if len(pattern) != len(parts):
            continue
        params: dict[str, str] = {}
        for want, got in zip(pattern, parts, strict=True):
            if want.startswith("{") and want.endswith("}"):
                if not got:
                    break
                params[want[1:-1]] = unquote(got)
            elif want != got:
                break
        else:
            literal = len(pattern) - len(params)
            if best is None or literal > best[0]:
                best = (literal, route, params)
    return (best[1], best[2]) if best else (None, {})


def query_routes(endpoint: str, handler: Handler,
                 methods: tuple[str, ...] = ("GET", "POST")) -> dict[str, Route]:
    """A Query API endpoint served under both ``/api/query/<ep>`` and the legacy ``/api/2.0/<ep>``."""
    route = Route(handler, "query", methods)
    ep = endpoint.strip("/")
    return {f"/api/query/{ep}": route, f"/api/2.0/{ep}": route}
