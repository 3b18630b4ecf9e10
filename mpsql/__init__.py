"""mpsql: Mixpanel analytics as native DuckDB SQL.

``mpsql.connect()`` returns a DuckDB connection with the ``mp_*`` table functions installed;
``mpsql.install(con)`` installs them on a connection or cursor you already have.
"""

from __future__ import annotations

from mpsql.errors import (
    ArgumentError,
    AuthError,
    Cancelled,
    ConfigError,
    InvalidResponse,
    MixpanelError,
    MpsqlError,
    PlanError,
    QueryError,
    RateLimited,
    ServerError,
    StreamTruncated,
    TransportError,
)
from mpsql.version import __version__

__all__ = [
    "ArgumentError",
    "AuthError",
    "Cancelled",
    "ConfigError",
    "InvalidResponse",
    "MixpanelError",
    "MpsqlError",
    "PlanError",
    "QueryError",
    "RateLimited",
    "ServerError",
    "StreamTruncated",
    "TransportError",
    "__version__",
    "connect",
    "install",
    "interrupt",
]


def __getattr__(name: str):  # lazy: `import mpsql` stays cheap for the CLI's start-up
    if name in ("connect", "install", "interrupt"):
        from mpsql import connection

        return getattr(connection, name)
    raise AttributeError(f"module 'mpsql' has no attribute {name!r}")
