"""``connect()`` and ``install()``: DuckDB connections with the mp_* functions and the sql/ macros on them.

mpsql never patches DuckDB's classes: ``install`` defines TEMP macros and registers sources on the one
connection or cursor it is given, so other connections in the process stay untouched. DuckDB scopes TEMP
objects to a connection, so a cursor needs its own ``install(cursor)``.
"""

from __future__ import annotations

import atexit
import contextlib
import weakref
from collections.abc import Callable
from importlib import resources
from typing import Any

import duckdb

from mpsql.api.ratelimit import RateLimits
from mpsql.api.retry import RetryPolicy
from mpsql.config import Account, resolve_account
from mpsql.functions import install_functions
from mpsql.functions._context import Context, Progress

# Keyed by the connection itself, weakly: a closed-and-collected connection takes its state with it.
_contexts: weakref.WeakKeyDictionary[duckdb.DuckDBPyConnection, Context] = weakref.WeakKeyDictionary()
_open: weakref.WeakSet[duckdb.DuckDBPyConnection] = weakref.WeakSet()


def connect(database: str = ":memory:", *, account: str | Account | None = None, demo: bool = False,
            read_only: bool = False, config: dict[str, Any] | None = None, rate_limits: RateLimits | None = None,
            retry: RetryPolicy | None = None, on_progress: Callable[[Progress], None] | None = None,
            notice: Callable[[str], None] | None = None) -> duckdb.DuckDBPyConnection:
    """Open ``database`` with DuckDB and install the mp_* functions.

    ``account`` names an account from ``~/.mp/config.toml`` (or is an ``Account``); by default credentials are
    resolved from the environment, then ``MP_ACCOUNT``, then the config's default, when a function first needs
    them. ``demo=True`` serves a built-in synthetic project from a local emulator instead.
    """
    settings = {"autoinstall_known_extensions": False, **(config or {})}
    con = duckdb.connect(database, read_only=read_only, config=settings)
    try:
        install(con, account=account, demo=demo, rate_limits=rate_limits, retry=retry, on_progress=on_progress,
                notice=notice)
    except BaseException:
        con.close()
        raise
    _open.add(con)
    return con


def install(con: duckdb.DuckDBPyConnection, *, account: str | Account | None = None, demo: bool = False,
            rate_limits: RateLimits | None = None, retry: RetryPolicy | None = None,
            on_progress: Callable[[Progress], None] | None = None,
            notice: Callable[[str], None] | None = None) -> duckdb.DuckDBPyConnection:
    """Install the mp_* functions and SQL macros on an existing DuckDB connection or cursor; returns it."""
    if demo:
        from mpsql.demo import demo_account, demo_rate_limits

        account, rate_limits = demo_account(), rate_limits or demo_rate_limits()
    elif isinstance(account, str):
        account = resolve_account(account)
    ctx = Context(account=account, limits=rate_limits or RateLimits(), retry=retry or RetryPolicy(),
                  on_progress=on_progress, notice=notice)
    install_functions(con, ctx)
    _install_sql_macros(con)
    _contexts[con] = ctx
    return con


def interrupt(con: duckdb.DuckDBPyConnection) -> None:
    """Stop the statement running on ``con`` — DuckDB's work and the mp_* sources' HTTP transfers, retries and
    rate-budget waits. Safe from another thread or a signal handler; ``con.interrupt()`` alone lets a running
    source finish its download."""
    ctx = _contexts.get(con)
    if ctx is not None:
        ctx.interrupt()
    con.interrupt()


def context_of(con: duckdb.DuckDBPyConnection) -> Context | None:
    """The installation state of ``con`` (used by the CLI for progress and error unwrapping)."""
    return _contexts.get(con)


def _install_sql_macros(con: duckdb.DuckDBPyConnection) -> None:
    for entry in sorted(resources.files("mpsql.sql").iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".sql"):
            con.execute(entry.read_text(encoding="utf-8"))


@atexit.register
def _close_all() -> None:
    # A connection holding Python sources that is still open at exit makes nanobind print leak warnings.
    for con in list(_open):
        with contextlib.suppress(Exception):
            con.close()
