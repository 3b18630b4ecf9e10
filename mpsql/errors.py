"""The errors mpsql raises. ``str()`` of any of them is user-facing and never holds a secret.

Every one is a ``duckdb.Error``, so code that catches DuckDB's errors catches mpsql's too. An error raised
while DuckDB runs a statement (inside an mp_* source) reaches DuckDB's own connection as its
``InvalidInputException`` quoting the mpsql error's type and message (DuckDB 2.0 does not keep the exception's
type); the connection ``mpsql.connect()`` returns raises these types themselves (``mpsql.connection.Connection``).

::

    MpsqlError                 base (a duckdb.Error)
      ConfigError              accounts file or environment: missing, unreadable, too open, symlink
      ArgumentError            bad mp_* argument: .function, .argument, .allowed; raised before any HTTP
      MixpanelError            the API said no: .status, .endpoint, .body (redacted)
        AuthError              401 / 403
        PlanError              402
        QueryError             400: bad parameter or where expression, future to_date
        RateLimited            429 after the retry policy gave up: .retry_after
        ServerError            5xx after retries
      TransportError           the bytes did not arrive (connection refused, dropped, timed out)
        StreamTruncated        body cut mid-line, broken gzip, or a trailing "terminated early"
      InvalidResponse          a whole response that is not what the API documents (a line that is no event)
"""

from __future__ import annotations

import duckdb

__all__ = [
    "ArgumentError",
    "AuthError",
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
]


class MpsqlError(duckdb.Error):
    """Base of every error mpsql raises on purpose."""


class ConfigError(MpsqlError):
    """The accounts file or the environment cannot give usable credentials."""


class ArgumentError(MpsqlError):
    """An mp_* argument is invalid; raised before any HTTP request is made."""

    def __init__(self, function: str, argument: str, problem: str, allowed: str | None = None) -> None:
        self.function = function
        self.argument = argument
        self.problem = problem
        self.allowed = allowed
        text = f"{function}(): argument {argument}: {problem}"
        if allowed:
            text += f" (valid: {allowed})"
        super().__init__(text)


class MixpanelError(MpsqlError):
    """Mixpanel (or the emulator) answered with an error status."""

    def __init__(self, status: int, endpoint: str, message: str, body: str = "") -> None:
        self.status = status
        self.endpoint = endpoint
        self.message = message
        self.body = body
        super().__init__(f"Mixpanel {endpoint} returned HTTP {status}: {message}")


class AuthError(MixpanelError):
    """401 or 403: the credential is wrong, expired, in the wrong region, or lacks access."""


class PlanError(MixpanelError):
    """402: the project's plan does not include this API."""


class QueryError(MixpanelError):
    """400: Mixpanel rejected a parameter or a where expression."""


class RateLimited(MixpanelError):
    """429 persisted after every retry the policy allows."""

    def __init__(self, status: int, endpoint: str, message: str, body: str = "",
                 retry_after: float | None = None) -> None:
        super().__init__(status, endpoint, message, body)
        self.retry_after = retry_after


class ServerError(MixpanelError):
    """5xx persisted after every retry the policy allows."""


class Cancelled(MpsqlError):
    """The statement that wanted this was cancelled (Ctrl-C, ``mpsql.interrupt``, LIMIT reached, an error elsewhere)."""


class TransportError(MpsqlError):
    """The response did not arrive whole: refused, dropped or timed-out connection."""


class StreamTruncated(TransportError):
    """An export body ended mid-record, had broken gzip, or ended with 'terminated early'."""


class InvalidResponse(MpsqlError):
    """A response arrived whole but is not what the API documents (e.g. an export line that is not an event).

    Not retried: the same request would most likely get the same answer.
    """
