"""``connect()`` and ``install()``: DuckDB connections with the mp_* functions and the sql/ macros on them.

mpsql never patches DuckDB's classes: ``install`` defines TEMP macros and registers sources on the one
connection or cursor it is given, so other connections in the process stay untouched. DuckDB scopes TEMP
objects to a connection, so a cursor needs its own ``install(cursor)``.

``connect()`` returns a :class:`Connection`: DuckDB's connection behind a thin proxy whose only difference is
errors. DuckDB 2.0 re-raises an exception from inside an mp_* source as its own ``InvalidInputException`` quoting
the type (docs/duckdb-hook.md, "Errors from a source are wrapped"); the proxy, and the relations it returns,
raise mpsql's own error instead (a ``duckdb.Error`` too), with its message alone. ``install()`` leaves the
connection it is given as it is.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import weakref
from collections.abc import Callable
from typing import Any

import duckdb

from mpsql.api.ratelimit import RateLimits
from mpsql.api.retry import RetryPolicy
from mpsql.config import Account, Secret, resolve_account
from mpsql.errors import ConfigError, MpsqlError
from mpsql.functions import install_functions
from mpsql.functions._context import Context, Progress


class _Translating:
    """Calls through to a DuckDB object; an mp_* source's error comes out as mpsql's own exception."""

    __slots__ = ("__weakref__", "_ctx", "_inner")

    def __init__(self, inner: Any, ctx: Context | None) -> None:
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "_ctx", ctx)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if not callable(value) or isinstance(value, type):
            return value
        return _translated(value, self)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._inner, name, value)

    def _wrap(self, result: Any) -> Any:
        if result is self._inner:
            return self
        if isinstance(result, duckdb.DuckDBPyRelation):
            return Relation(result, self._ctx)
        return result

    def _error(self, exc: duckdb.Error) -> BaseException:
        """mpsql's error that ``exc`` wraps (the source recorded it on the context), else ``exc``."""
        cause = self._ctx.last_error if self._ctx is not None else None
        if isinstance(cause, MpsqlError) and not isinstance(exc, MpsqlError) and str(cause) in str(exc):
            return cause.with_traceback(None)
        return exc


def _translated(method: Callable[..., Any], owner: _Translating) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        args = tuple(_unwrapped(a) for a in args)
        kwargs = {k: _unwrapped(v) for k, v in kwargs.items()}
        try:
            return owner._wrap(_as_caller(sys._getframe(1), method, args, kwargs))
        except duckdb.Error as exc:
            error = owner._error(exc)
            if error is exc:
                raise
            raise error from None

    call.__name__ = getattr(method, "__name__", "call")
    call.__doc__ = getattr(method, "__doc__", None)
    return call


_CALL = compile("__mpsql_result = __mpsql_call[0](*__mpsql_call[1], **__mpsql_call[2])", "<mpsql>", "exec")


def _as_caller(frame: Any, method: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> Any:
    """``method(*args, **kwargs)`` run as if from ``frame``, with its relations unwrapped.

    DuckDB finds a name in the SQL (``SELECT * FROM rel``) among the variables of the first calling frame outside
    its own package, and reads a relation only if it is DuckDB's own; so the call runs in a namespace that mirrors
    the caller's, where each :class:`Relation` is DuckDB's relation itself.
    """
    scope = {k: _unwrapped(v) for k, v in frame.f_globals.items()}
    local = {k: _unwrapped(v) for k, v in frame.f_locals.items()}
    local.update(__mpsql_call=(method, args, kwargs))
    exec(_CALL, scope, local)
    return local["__mpsql_result"]


def _unwrapped(value: Any) -> Any:
    return value._inner if isinstance(value, _Translating) else value


class Connection(_Translating):
    """What ``mpsql.connect()`` returns: a DuckDB connection (every method and attribute of
    ``duckdb.DuckDBPyConnection``) whose statements raise mpsql's own errors. ``.duckdb_connection`` is DuckDB's
    connection itself, for an API that insists on the type."""

    @property
    def duckdb_connection(self) -> duckdb.DuckDBPyConnection:
        return self._inner

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self._inner.close()

    def __repr__(self) -> str:
        return f"<mpsql Connection {self._inner!r}>"


class Relation(_Translating):
    """A DuckDB relation from a :class:`Connection` (``con.sql(...)``), raising mpsql's errors when it runs."""

    @property
    def duckdb_relation(self) -> duckdb.DuckDBPyRelation:
        return self._inner

    def __str__(self) -> str:
        return _translated(self._inner.__str__, self)()

    def __repr__(self) -> str:
        return _translated(self._inner.__repr__, self)()

    def __len__(self) -> int:
        return _translated(self._inner.__len__, self)()

    def __getitem__(self, key: Any) -> Any:
        return _translated(self._inner.__getitem__, self)(key)

    def __contains__(self, item: Any) -> bool:
        return _translated(self._inner.__contains__, self)(item)

    def __arrow_c_stream__(self, requested_schema: object = None) -> object:
        return _translated(self._inner.__arrow_c_stream__, self)(requested_schema)

    def _repr_mimebundle_(self, *args: Any, **kwargs: Any) -> Any:
        return _translated(self._inner._repr_mimebundle_, self)(*args, **kwargs)


# Keyed by the connection itself, weakly: a closed-and-collected connection takes its state with it.
_contexts: weakref.WeakKeyDictionary[duckdb.DuckDBPyConnection, Context] = weakref.WeakKeyDictionary()
_open: weakref.WeakSet[duckdb.DuckDBPyConnection] = weakref.WeakSet()


def connect(database: str = ":memory:", *, account: str | Account | None = None, demo: bool = False,
            read_only: bool = False, config: dict[str, Any] | None = None, rate_limits: RateLimits | None = None,
            retry: RetryPolicy | None = None, on_progress: Callable[[Progress], None] | None = None,
            notice: Callable[[str], None] | None = None) -> Connection:
    """Open ``database`` with DuckDB and install the mp_* functions; returns it as a :class:`Connection`, which
    raises mpsql's own errors (``ConfigError``, ``AuthError`` ...) from inside statements.

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
    return Connection(con, _contexts[con])


def install(con: duckdb.DuckDBPyConnection, *, account: str | Account | None = None, demo: bool = False,
            rate_limits: RateLimits | None = None, retry: RetryPolicy | None = None,
            on_progress: Callable[[Progress], None] | None = None,
            notice: Callable[[str], None] | None = None) -> duckdb.DuckDBPyConnection:
    """Install the mp_* functions and SQL macros on an existing DuckDB connection or cursor; returns it."""
    if isinstance(con, Connection):
        install(con.duckdb_connection, account=account, demo=demo, rate_limits=rate_limits, retry=retry,
                on_progress=on_progress, notice=notice)
        object.__setattr__(con, "_ctx", _contexts[con.duckdb_connection])
        return con
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
    ctx = _contexts.get(_unwrapped(con))
    if ctx is not None:
        ctx.interrupt()
    con.interrupt()


def context_of(con: duckdb.DuckDBPyConnection) -> Context | None:
    """The installation state of ``con`` (used by the CLI for progress and error unwrapping)."""
    return _contexts.get(_unwrapped(con))


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
