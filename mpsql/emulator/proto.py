"""Request/Response/Route types shared by the server and the route modules (no HTTP wiring here)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mpsql.emulator.server import Emulator

__all__ = ["FAMILIES", "HttpError", "Request", "RequestLog", "Response", "Route", "query_routes"]

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
    """A path's handler, its family (auth, rate-limit budget and error shape) and allowed methods."""

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


def query_routes(endpoint: str, handler: Handler,
                 methods: tuple[str, ...] = ("GET", "POST")) -> dict[str, Route]:
    """A Query API endpoint served under both ``/api/query/<ep>`` and the legacy ``/api/2.0/<ep>``."""
    route = Route(handler, "query", methods)
    ep = endpoint.strip("/")
    return {f"/api/query/{ep}": route, f"/api/2.0/{ep}": route}
