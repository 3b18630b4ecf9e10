"""``connect()`` and ``install()``: DuckDB connections with the mp_* functions and the sql/ macros on them.

mpsql never patches DuckDB's classes: ``install`` defines TEMP macros and registers sources on the one
connection or cursor it is given, so other connections in the process stay untouched. DuckDB scopes TEMP
objects to a connection, so a cursor needs its own ``install(cursor)``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import weakref
from collections.abc import Callable
from typing import Any

import duckdb

from mpsql.api.ratelimit import RateLimits
from mpsql.api.retry import RetryPolicy
from mpsql.config import Account, Secret, resolve_account
from mpsql.errors import ConfigError
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

    ``account`` names an account from ``~/.mp/config.toml`` (checked now: an unknown name is a ``ConfigError``),
    or is an ``Account``, or a started ``mpsql.emulator.Emulator`` (its project). By default credentials are
    resolved from the environment, then ``MP_ACCOUNT`` (checked now too), then the config's default, when a
    function first needs them. ``demo=True`` serves a built-in synthetic project from a local emulator instead
    (with no ``account``).
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
        if account is not None:
            raise ConfigError("the demo project (--demo, demo=True) takes no account: "
                              "name an account or ask for the demo, not both")
        from mpsql.demo import demo_account, demo_rate_limits

        account, rate_limits = demo_account(), rate_limits or demo_rate_limits()
    else:
        account = _account(account)
    ctx = Context(account=account, limits=rate_limits or RateLimits(), retry=retry or RetryPolicy(),
                  on_progress=on_progress, notice=notice)
    install_functions(con, ctx)
    _install_sql_macros(con)
    _contexts[con] = ctx
    return con


def _account(account: object) -> Account | None:
    """The account a connection uses, checked now: a name must be in the config file (so must ``MP_ACCOUNT``'s
    when no explicit account is given); an ``Emulator`` stands for its project; None resolves at first use."""
    if account is None:
        if os.environ.get("MP_ACCOUNT", "").strip() and not os.environ.get("MP_SECRET", "").strip():
            resolve_account()  # MP_ACCOUNT naming no account fails here, not at the first statement
        return None
    if isinstance(account, Account):
        return account
    if isinstance(account, str):
        return resolve_account(account)
    if hasattr(account, "credentials") and hasattr(account, "url"):  # an mpsql.emulator.Emulator, started
        creds = account.credentials
        return Account(name="emulator", username=creds.username, secret=Secret(creds.secret),
                       project_id=creds.project_id, region="us", api_url=account.url, source="emulator",
                       timezone=account.project_time.name, legacy_time=account.project_time.legacy or None)
    hint = (" (an emulator's credentials lack its URL: pass the Emulator itself, account=emu)"
            if hasattr(account, "username") and hasattr(account, "project_id") else "")
    raise TypeError(f"account must be an account name, an mpsql.config.Account or an Emulator, "
                    f"not {type(account).__name__}{hint}")


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
    """Run the shipped SQL files, comment their macros, and list them in ``mp_functions()`` too."""
    from mpsql.functions import TABLE_FUNCTIONS, macros, ops

    for _, text in macros.sql_files():
        con.execute(text)
    macros.comment_macros(con)
    ops.install_ops(con, TABLE_FUNCTIONS, macros.macro_rows())


@atexit.register
def _close_all() -> None:
    # A connection holding Python sources that is still open at exit makes nanobind print leak warnings.
    for con in list(_open):
        with contextlib.suppress(Exception):
            con.close()
