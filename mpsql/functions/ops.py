"""Operations and introspection: ``mp_functions``, ``mp_accounts``, ``mp_rate_limits``, ``mp_requests``,
``mp_clear_cache``. None of them makes an HTTP request or shows a secret.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import duckdb
import pyarrow as pa

from mpsql.api.cache import ResponseCache
from mpsql.api.client import REQUEST_LOG
from mpsql.api.ratelimit import all_budgets
from mpsql.config import ConfigStore, account_from_env, env_has_credentials, resolve_account
from mpsql.errors import MpsqlError
from mpsql.functions._args import Args
from mpsql.functions._duckdb import sql_string
from mpsql.functions._rows import Call, rows_function
from mpsql.functions._spec import TableFunction

DESCRIPTION = ("Every mp_* function, and every SQL macro of sql/*.sql, with its signature, output columns, "
               "description and an example.")
# mp_functions() lists itself too: (name, signature, returns, description, example)
SELF_ROW = ("mp_functions", "mp_functions()",
            "name VARCHAR, signature VARCHAR, returns VARCHAR, description VARCHAR, example VARCHAR",
            DESCRIPTION, "SELECT name, description FROM mp_functions()")


def install_ops(con: duckdb.DuckDBPyConnection, functions: Sequence[TableFunction],
                macros: Sequence[tuple[str, str, str, str, str]] = ()) -> None:
    """Define ``mp_functions()`` listing ``functions``, the SQL ``macros`` (rows as mp_functions() shows them)
    and itself."""
    rows = [(fn.name, fn.signature, fn.returns, fn.description, fn.example) for fn in functions]
    rows.extend(macros)
    rows.append(SELF_ROW)
    values = ", ".join("(" + ", ".join(sql_string(v) for v in row) + ")" for row in sorted(rows))
    con.execute(
        "CREATE OR REPLACE TEMP MACRO mp_functions() AS TABLE "
        f"SELECT * FROM (VALUES {values}) AS t(name, signature, returns, description, example)"
    )
    con.execute(f"COMMENT ON MACRO TABLE mp_functions IS {sql_string(DESCRIPTION)}")


class NoArgs(Args):
    pass


# ---------------------------------------------------------------------------------------------- mp_accounts


def _accounts(call: Call[NoArgs]) -> Iterator[tuple[Any, ...]]:
    store = ConfigStore()
    default = store.default_name() if store.exists() else None
    current = call.ctx.account
    if current is None:  # the account the connection's next request would use: the default, or the environment's
        try:
            current = resolve_account()
        except MpsqlError:
            current = None
    listed = store.list_accounts() if store.exists() else []
    if env_has_credentials():  # the environment's credentials, which win over the file's default
        listed.insert(0, account_from_env())
    if current is not None and all((a.name, a.source) != (current.name, current.source) for a in listed):
        listed.insert(0, current)
    for a in listed:
        in_use = current is not None and a.name == current.name and a.source == current.source
        if current is None and a.source == "environment":  # without an account of its own, the connection
            in_use = True  # uses the environment's credentials
        yield (a.name, a.kind, a.username, a.project_id, a.region, a.api_url,
               a.name == default and a.source != "environment", in_use, a.source, a.workspace_id)


MP_ACCOUNTS = rows_function(
    name="mp_accounts",
    schema=pa.schema([pa.field("name", pa.string()), pa.field("kind", pa.string()), pa.field("username", pa.string()),
                      pa.field("project_id", pa.int64()), pa.field("region", pa.string()),
                      pa.field("api_url", pa.string()), pa.field("is_default", pa.bool_()),
                      pa.field("in_use", pa.bool_()), pa.field("source", pa.string()),
                      pa.field("workspace_id", pa.int64())]),
    model=NoArgs, positional=(), needs_account=False,
    description="Configured Mixpanel accounts (never their secrets), the environment's credentials as an 'env' "
                "row, and which one this connection uses.",
    example="SELECT name, project_id, region, is_default FROM mp_accounts()", produce=_accounts)


# ---------------------------------------------------------------------------------------------- mp_rate_limits


def _rate_limits(call: Call[NoArgs]) -> Iterator[tuple[Any, ...]]:
    ctx = call.ctx
    try:  # show the connection's own budgets even before its first request
        client = ctx.client("mp_rate_limits", None)
        for family in ("export", "query", "app"):
            client.budget(family)
    except MpsqlError:
        pass
    for (base, project, family), b in sorted(all_budgets().items()):
        lim = b.limits
        yield (family, base, project, lim.per_hour, lim.per_second, lim.concurrent, b.used, b.used_this_hour(),
               b.remaining_this_hour(), b.waits, round(b.waited_seconds, 3), b.last_retry_after)


MP_RATE_LIMITS = rows_function(
    name="mp_rate_limits",
    schema=pa.schema([pa.field("family", pa.string()), pa.field("base_url", pa.string()),
                      pa.field("project", pa.string()), pa.field("per_hour", pa.int64()),
                      pa.field("per_second", pa.int64()), pa.field("concurrent", pa.int64()),
                      pa.field("used", pa.int64()), pa.field("used_this_hour", pa.int64()),
                      pa.field("left_this_hour", pa.int64()),
                      pa.field("waits", pa.int64()), pa.field("waited_seconds", pa.float64()),
                      pa.field("last_retry_after", pa.float64())]),
    model=NoArgs, positional=(), needs_account=False,
    description="Request budget per API family and project: used by this process, used this hour by every mpsql "
                "process of the user (a shared ledger), left this hour, waits so far.",
    example="SELECT family, used_this_hour, left_this_hour, waits FROM mp_rate_limits()", produce=_rate_limits)


# ---------------------------------------------------------------------------------------------- mp_requests


def _requests(call: Call[NoArgs]) -> Iterator[tuple[Any, ...]]:
    for r in list(REQUEST_LOG):
        yield (dt.datetime.fromtimestamp(r.started, dt.UTC), r.statement, r.account, r.family, r.method, r.endpoint,
               r.params, r.status, r.bytes, r.rows, round(r.milliseconds, 3), r.retries, r.cache_hit, r.error)


MP_REQUESTS = rows_function(
    name="mp_requests",
    schema=pa.schema([pa.field("started", pa.timestamp("us", tz="UTC")), pa.field("statement", pa.int64()),
                      pa.field("account", pa.string()),
                      pa.field("family", pa.string()), pa.field("method", pa.string()),
                      pa.field("endpoint", pa.string()), pa.field("params", pa.json_()),
                      pa.field("status", pa.int32()), pa.field("bytes", pa.int64()), pa.field("rows", pa.int64()),
                      pa.field("milliseconds", pa.float64()), pa.field("retries", pa.int32()),
                      pa.field("cache_hit", pa.bool_()), pa.field("error", pa.string())]),
    model=NoArgs, positional=(), needs_account=False,
    description="This process's recent Mixpanel requests (newest last), numbered by the mp_* call that made them "
                "(statement): parameters without secrets, status, bytes, rows, time, retries, cache hits.",
    example="SELECT statement, count(*) AS requests, sum(bytes) FROM mp_requests() GROUP BY ALL ORDER BY statement",
    produce=_requests)


# ---------------------------------------------------------------------------------------------- mp_clear_cache


def _clear_cache(call: Call[NoArgs]) -> Iterator[tuple[Any, ...]]:
    yield (ResponseCache().clear(),)


MP_CLEAR_CACHE = rows_function(
    name="mp_clear_cache", schema=pa.schema([pa.field("removed", pa.int64())]),
    model=NoArgs, positional=(), needs_account=False,
    description="Empty the on-disk response cache (discovery and reports); returns how many entries it held.",
    example="SELECT * FROM mp_clear_cache()", produce=_clear_cache)

FUNCTIONS = (MP_ACCOUNTS, MP_RATE_LIMITS, MP_REQUESTS, MP_CLEAR_CACHE)
