"""``mp_query(endpoint, params :=, method :=)``: the raw JSON answer of any Query or App API endpoint, one row.

The escape hatch for what no ``mp_*`` function covers (a new endpoint, a parameter the functions do not expose,
a report's fields that the tidy tables leave out). It goes through the same client as everything else: auth,
region, ``project_id``, the rate budget, retries, the brief report cache and ``mp_requests()``.

``endpoint`` is a path relative to Mixpanel's API; its prefix chooses the API family:

- ``'segmentation'``, ``'/segmentation'``, ``'/api/query/segmentation'`` or the legacy ``'/api/2.0/segmentation'``
  -> the Query API (``https://mixpanel.com/api/query/segmentation`` in the US region);
- ``'/api/app/...'`` -> the App API, e.g. ``'/api/app/projects/12345/schemas'`` (GET only: App API POSTs write).

Full URLs, ``..`` (however it is percent-encoded), and query strings are refused (parameters go in
``params``, so they are encoded and redacted like every other request); so is the raw export, which is JSONL:
use ``mp_export``. ``params`` is a STRUCT, MAP or JSON object text; list and object values are sent JSON-encoded,
as Mixpanel expects.
``method := 'POST'`` sends them as a form body (``/engage``, ``/jql``, ``/cohorts/list``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any, Literal
from urllib.parse import unquote

import pyarrow as pa

from mpsql.api.cache import REPORT_TTL, cache_ttl
from mpsql.api.regions import Family
from mpsql.errors import ArgumentError
from mpsql.functions._args import ProjectArgs
from mpsql.functions._rows import Call, rows_function
from mpsql.functions.jql import JsonObject

NAME = "mp_query"
_PREFIXES: tuple[tuple[str, Family], ...] = (("/api/query/", "query"), ("/api/2.0/", "query"), ("/api/app/", "app"))
_PATH = re.compile(r"^[A-Za-z0-9_\-./$%~@:+]+$")
_UNRESERVED_ESCAPE = re.compile(r"%(2[dDeE]|5[fF]|7[eE]|3[0-9]|[46][1-9a-fA-F]|[57][0-9aA])")
EXAMPLE = "a path such as 'segmentation', '/api/query/retention' or '/api/app/projects/<id>/schemas'"


def resolve_endpoint(function: str, endpoint: str | None) -> tuple[Family, str]:
    """``(family, path under the family's base)`` for ``endpoint``, or an ``ArgumentError``."""
    if endpoint is None or not endpoint.strip():
        raise ArgumentError(function, "endpoint", "is required" if endpoint is None else "is empty", EXAMPLE)
    text = endpoint.strip()
    if "://" in text or text.startswith("//"):
        raise ArgumentError(function, "endpoint", f"{text!r} is a URL; the account chooses the host and region",
                            EXAMPLE)
    if "?" in text or "#" in text:
        raise ArgumentError(function, "endpoint", "has a query string", "the path alone, with parameters in "
                            "params := {'name': value}")
    if not _PATH.match(text) or _climbs(text):
        raise ArgumentError(function, "endpoint", f"{text!r} is not a plain relative path", EXAMPLE)
    text = _normalized(text)
    path = "/" + text.lstrip("/")
    family: Family = "query"
    for prefix, fam in _PREFIXES:
        if path.startswith(prefix):
            family, path = fam, "/" + path[len(prefix):]
            break
    if path.rstrip("/") in ("", "/"):
        raise ArgumentError(function, "endpoint", "names no endpoint", EXAMPLE)
    if family == "query" and path.rstrip("/") == "/export":
        raise ArgumentError(function, "endpoint", "the raw export answers JSONL, not JSON",
                            "mp_export(from_date, to_date)")
    return family, path


def _normalized(path: str) -> str:
    """``path`` with escaped unreserved characters (``%2e``, ``%61``...) decoded, as RFC 3986 says they are
    equivalent: the checks below then see the path a server sees. Other escapes (``%2F``, ``%20``) stay."""
    while True:
        decoded = _UNRESERVED_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), path)
        if decoded == path:
            return path
        path = decoded


def _climbs(path: str) -> bool:
    """Whether ``path`` holds a ``.`` or ``..`` segment (or a backslash) as typed, normalized, or decoded any
    number of times, so no encoding (``%2e%2e``, ``%252e``, ``..%2f``) lets it leave the API's prefix."""
    views, fully = {path, _normalized(path)}, path
    for _ in range(5):
        fully = unquote(fully)
        views.add(fully)
    return any("\\" in view or any(part in (".", "..") for part in view.split("/")) for view in views)


class QueryArgs(ProjectArgs):
    endpoint: str | None = None
    params: JsonObject = None
    method: Literal["GET", "POST", "get", "post"] | None = "GET"
    account: str | None = None

    def sent_in_url(self) -> bool:
        return (self.method or "GET").upper() != "POST"  # POST sends params as a form body

    def check(self, function: str, today: dt.date) -> None:
        family, _ = resolve_endpoint(function, self.endpoint)
        if family == "app" and (self.method or "GET").upper() != "GET":
            raise ArgumentError(function, "method", "App API requests other than GET change the project",
                                "method := 'GET'")


def _query(call: Call[QueryArgs]) -> Iterator[tuple[Any, ...]]:
    family, path = resolve_endpoint(call.function, call.args.endpoint)
    body = call.fetch(family, path, dict(call.args.params or {}), method=(call.args.method or "GET").upper(),
                      ttl=cache_ttl(REPORT_TTL))
    yield (body,)


FUNCTION = rows_function(
    name=NAME, schema=pa.schema([pa.field("response", pa.json_())]), model=QueryArgs, positional=("endpoint",),
    description="The raw JSON answer of any Query or App API endpoint (one row): the escape hatch.",
    example="SELECT response->'$.data.values' FROM mp_query('segmentation', params := {event: 'Purchase', "
            "from_date: current_date - 7, to_date: current_date - 1})",
    produce=_query)
