"""``mp_jql(script, params :=)``: a JQL script's result, one JSON row per element (``POST /jql``;
docs/mixpanel-api.md, "JQL").

JQL is in maintenance mode at Mixpanel, which recommends moving to Export, Engage and the Query API: here that is
``mp_export`` with SQL over its rows. Scripts run on Mixpanel's servers for at most 2 minutes and count against
the Query API's 60-per-hour budget. ``params`` (a STRUCT, MAP or JSON object text) is exposed to the script as
the global ``params``. The answer is a JSON array whose element shape depends on the script (a ``groupBy``
gives ``{"key": [...], "value": n}``); each element becomes one ``value JSON`` row, in Mixpanel's order.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Annotated, Any

import pyarrow as pa
from pydantic import BeforeValidator

from mpsql.api.cache import REPORT_TTL, cache_ttl
from mpsql.errors import ArgumentError
from mpsql.functions._args import ProjectArgs
from mpsql.functions._rows import Call, rows_function

NAME = "mp_jql"


def json_object(value: Any) -> Any:
    """A JSON object given as a STRUCT/MAP (arrives as a dict) or as JSON text."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError(f"{value[:60]!r} is not JSON") from None
    if value is not None and not isinstance(value, dict):
        raise ValueError(f"must be a JSON object (a STRUCT such as {{'from_date': '2024-01-01'}}), "
                         f"not a {type(value).__name__}")
    return value


JsonObject = Annotated[dict[str, Any] | None, BeforeValidator(json_object)]


class JqlArgs(ProjectArgs):
    script: str | None = None
    params: JsonObject = None
    account: str | None = None

    def sent_in_url(self) -> bool:
        return False  # JQL is posted: the script travels in the body

    def check(self, function: str, today: dt.date) -> None:
        if self.script is None or not self.script.strip():
            raise ArgumentError(function, "script", "is required" if self.script is None else "is empty",
                                "JavaScript defining main(), e.g. 'function main() { return Events(params)"
                                ".groupBy([\"name\"], mixpanel.reducer.count()) }'")
        if "main" not in self.script:
            raise ArgumentError(function, "script", "defines no main() function, which JQL runs",
                                "function main() { return ... }")


def _jql(call: Call[JqlArgs]) -> Iterator[tuple[Any, ...]]:
    form = {"script": call.args.script, "params": call.args.params}  # params: JSON-encoded by the client
    body = call.fetch("query", "/jql", form, method="POST", ttl=cache_ttl(REPORT_TTL))
    items = body if isinstance(body, list) else [body]
    return ((item,) for item in items)


FUNCTION = rows_function(
    name=NAME, schema=pa.schema([pa.field("value", pa.json_())]), model=JqlArgs, positional=("script",),
    description="Run a JQL script (maintenance mode at Mixpanel; prefer mp_export + SQL): one JSON row per "
                "result element.",
    example="SELECT value->>'$.key[0]' AS event, (value->>'$.value')::BIGINT AS n FROM mp_jql("
            "'function main() { return Events(params).groupBy([\"name\"], mixpanel.reducer.count()) }', "
            "params := {'from_date': current_date - 7, 'to_date': current_date - 1})",
    produce=_jql)
